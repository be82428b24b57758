//! Real messages as QuickFIX 1.15 (Debian libquickfix-dev) writes them: every message in
//! tests/fixtures/quickfix/*.messages (made by generate.sh from gen.cpp) frames, parses and
//! converts to its typed view. When g++ and the QuickFIX headers are installed, the test also
//! re-runs the generator and checks that it reproduces the committed files
//! (set LPSCORE_SKIP_QUICKFIX_GEN=1 to skip that step).

use lpscore::fix::*;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quickfix")
}

fn check_file(path: &Path) -> usize {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut parser = Parser::new(FramerConfig::default());
    let mut n = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let m = parser.parse(line).unwrap_or_else(|e| {
            panic!(
                "{e}: {}",
                String::from_utf8_lossy(line).replace('\x01', "|")
            )
        });
        let typed = m.typed().unwrap_or_else(|e| {
            panic!(
                "{e}: {}",
                String::from_utf8_lossy(line).replace('\x01', "|")
            )
        });
        assert!(
            !matches!(typed, Typed::Other(_)),
            "untyped {:?}",
            m.msg_type()
        );
        kinds.insert(String::from_utf8_lossy(m.msg_type()).into_owned());
        match typed {
            Typed::ExecutionReport(er) => {
                assert!(er.last_px.is_some() || er.exec_kind() != ExecType::Trade);
                if m.begin_string() == BeginString::Fix42 {
                    assert!(er.exec_trans_type.is_some());
                    assert_ne!(er.exec_kind(), ExecType::PartialFill);
                    assert_ne!(er.exec_kind(), ExecType::Fill);
                }
                if m.begin_string() == BeginString::Fixt11 {
                    assert_eq!(er.header.appl_ver_id, Some(&b"9"[..]));
                }
            }
            Typed::NewOrderSingle(nos) if m.begin_string() == BeginString::Fix44 => {
                assert_eq!(nos.get(7001), Some(&b"1.0835"[..]));
            }
            Typed::Logon(l) if m.begin_string() == BeginString::Fix44 => {
                assert_eq!(l.get(96), Some(&b"ab\x01cd\x01e"[..]));
            }
            Typed::MarketDataSnapshot(w) => {
                assert!(!w.entries.is_empty());
                for e in w.entries.iter() {
                    let e = e.unwrap();
                    assert!(e.px.is_some() && e.size.is_some() && e.timestamp().is_some());
                }
            }
            Typed::MarketDataIncremental(x) => {
                for e in x.entries.iter() {
                    assert!(e.unwrap().symbol.is_some());
                }
            }
            _ => {}
        }
        n += 1;
    }
    // The same file as one stream in log mode (newlines between messages), one chunk and 13-byte
    // chunks: every message framed, no error.
    for step in [data.len().max(1), 13] {
        let mut framer = Framer::new(FramerConfig {
            delimiter: Delimiter::Log,
            ..Default::default()
        });
        let mut framed = 0;
        for c in data.chunks(step) {
            let mut frames = framer.feed(c);
            while let Some(r) = frames.next_frame() {
                r.unwrap();
                framed += 1;
            }
        }
        assert_eq!(framer.finish(), None);
        assert_eq!(framed, n);
    }
    eprintln!("{}: {n} messages, types {kinds:?}", path.display());
    n
}

#[test]
fn parses_every_committed_quickfix_message() {
    let mut total = 0;
    for v in ["fix42", "fix44", "fixt11"] {
        total += check_file(&dir().join(format!("{v}.messages")));
    }
    assert!(total > 300, "{total}");
}

#[test]
fn regenerates_with_installed_quickfix() {
    let have = Path::new("/usr/include/quickfix/Message.h").exists()
        && std::process::Command::new("g++")
            .arg("--version")
            .output()
            .is_ok();
    if !have || std::env::var_os("LPSCORE_SKIP_QUICKFIX_GEN").is_some() {
        eprintln!("skipped: QuickFIX headers or g++ not installed (or LPSCORE_SKIP_QUICKFIX_GEN)");
        return;
    }
    let out = std::env::temp_dir().join(format!("lpscore-qf-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let status = std::process::Command::new("sh")
        .arg(dir().join("generate.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for v in ["fix42", "fix44", "fixt11"] {
        let f = out.join(format!("{v}.messages"));
        check_file(&f);
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(dir().join(format!("{v}.messages"))).unwrap(),
            "{v}: the generator no longer reproduces the committed fixture"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
