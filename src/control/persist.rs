//! Writes profile changes back to the configuration file with `toml_edit`: comments, order and
//! formatting of everything else are kept; the file is replaced atomically (temporary file in the
//! same directory, fsync, rename, fsync of the directory), keeping its permissions.
use std::io::Write;
use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::score::{N_WEIGHTS, WEIGHT_NAMES};

/// A change to persist.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// New weights of profile `name`.
    Set {
        /// Profile.
        name: &'a str,
        /// Weight slots.
        weights: &'a [f64; N_WEIGHTS],
    },
    /// A new profile.
    Add {
        /// Profile.
        name: &'a str,
        /// Weight slots.
        weights: &'a [f64; N_WEIGHTS],
    },
    /// A removed profile.
    Remove {
        /// Profile.
        name: &'a str,
    },
}

/// Applies `change` to the configuration text. `all` is every active profile *after* the change,
/// in slot order: written out in full when the file has no `engine.profiles` yet (it used the
/// built-in profiles, which an explicit list replaces).
pub fn apply(
    text: &str,
    change: Change<'_>,
    all: &[(String, [f64; N_WEIGHTS])],
) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("the configuration no longer parses: {e}"))?;
    let root = doc.as_table_mut();
    if !root.contains_key("engine") {
        // Implicit: only the `[[engine.profiles]]` headers are written, no empty `[engine]`.
        let mut t = Table::new();
        t.set_implicit(true);
        root.insert("engine", Item::Table(t));
    }
    let engine = root
        .get_mut("engine")
        .and_then(Item::as_table_like_mut)
        .ok_or("`engine` is not a table")?;
    let Some(profiles) = engine.get_mut("profiles") else {
        let mut aot = ArrayOfTables::new();
        for (n, w) in all {
            aot.push(new_table(n, w));
        }
        engine.insert("profiles", Item::ArrayOfTables(aot));
        return Ok(doc.to_string());
    };
    match profiles {
        Item::ArrayOfTables(aot) => {
            let pos = |name: &str| {
                aot.iter()
                    .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
            };
            match change {
                Change::Set { name, weights } => {
                    let i = pos(name).ok_or_else(|| not_found(name))?;
                    let t = aot.get_mut(i).ok_or_else(|| not_found(name))?;
                    for (k, key) in WEIGHT_NAMES.iter().enumerate() {
                        // An absent weight is 0: only a non-zero one is added.
                        if set_weight(t.get_mut(key).and_then(Item::as_value_mut), weights[k])
                            .is_none()
                            && weights[k] != 0.0
                        {
                            t.insert(key, toml_edit::value(weights[k]));
                        }
                    }
                }
                Change::Add { name, weights } => aot.push(new_table(name, weights)),
                Change::Remove { name } => aot.remove(pos(name).ok_or_else(|| not_found(name))?),
            }
        }
        Item::Value(Value::Array(arr)) => {
            let pos = |arr: &toml_edit::Array, name: &str| {
                arr.iter().position(|v| {
                    v.as_inline_table()
                        .and_then(|t| t.get("name"))
                        .and_then(Value::as_str)
                        == Some(name)
                })
            };
            match change {
                Change::Set { name, weights } => {
                    let i = pos(arr, name).ok_or_else(|| not_found(name))?;
                    let t = arr
                        .get_mut(i)
                        .and_then(Value::as_inline_table_mut)
                        .ok_or_else(|| not_found(name))?;
                    for (k, key) in WEIGHT_NAMES.iter().enumerate() {
                        if set_weight(t.get_mut(key), weights[k]).is_none() && weights[k] != 0.0 {
                            t.insert(*key, Value::from(weights[k]));
                        }
                    }
                }
                Change::Add { name, weights } => {
                    let mut t = InlineTable::new();
                    t.insert("name", Value::from(name));
                    for (k, key) in WEIGHT_NAMES.iter().enumerate() {
                        if weights[k] != 0.0 {
                            t.insert(*key, Value::from(weights[k]));
                        }
                    }
                    arr.push(t);
                }
                Change::Remove { name } => {
                    let i = pos(arr, name).ok_or_else(|| not_found(name))?;
                    arr.remove(i);
                }
            }
        }
        _ => return Err("`engine.profiles` is not an array of tables".into()),
    }
    Ok(doc.to_string())
}

fn not_found(name: &str) -> String {
    format!("profile {name:?} is not in the configuration file (edited since the start?)")
}

/// Replaces a weight value keeping the comments around it; `None` when the key is absent.
fn set_weight(v: Option<&mut Value>, w: f64) -> Option<()> {
    let v = v?;
    let decor = v.decor().clone();
    *v = Value::from(w);
    *v.decor_mut() = decor;
    Some(())
}

fn new_table(name: &str, w: &[f64; N_WEIGHTS]) -> Table {
    let mut t = Table::new();
    t.insert("name", toml_edit::value(name));
    for (k, key) in WEIGHT_NAMES.iter().enumerate() {
        if w[k] != 0.0 {
            t.insert(key, toml_edit::value(w[k]));
        }
    }
    t
}

/// Reads `path`, applies `change`, checks the result still parses as a configuration, and
/// replaces the file atomically.
pub fn persist(
    path: &Path,
    change: Change<'_>,
    all: &[(String, [f64; N_WEIGHTS])],
) -> Result<(), String> {
    let ctx = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| ctx("cannot read", e))?;
    let out = apply(&text, change, all)?;
    // The edited text must still be a configuration (never leave a file `run` would refuse).
    crate::runtime::RuntimeConfig::from_toml(&out)
        .map_err(|e| format!("the edited configuration would not validate: {e}"))?;
    write_atomic(path, out.as_bytes())
}

/// Writes `bytes` to a temporary file next to `path`, syncs it, renames it over `path` and syncs
/// the directory: a reader sees the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.lpscore-tmp-{}", std::process::id()));
    let ctx = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    let res = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| ctx("cannot create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| ctx("cannot write", &tmp, e))?;
        if let Ok(m) = std::fs::metadata(path) {
            f.set_permissions(m.permissions())
                .map_err(|e| ctx("cannot set permissions of", &tmp, e))?;
        }
        f.sync_all().map_err(|e| ctx("cannot sync", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ctx("cannot replace", path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: [f64; 8] = [0.25, 0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0];

    #[test]
    fn set_keeps_comments_and_other_keys() {
        let text = "# top\n[engine]\nmax_lps = 8 # lps\n\n[[engine.profiles]]\nname = \"A\"\nlatency = 1.0   # fast\nfill_rate = 0\n\n[[engine.profiles]] # second\nname = \"B\"\nmarkout = 1.0\n";
        let out = apply(
            text,
            Change::Set {
                name: "A",
                weights: &W,
            },
            &[],
        )
        .unwrap();
        assert!(
            out.starts_with("# top\n[engine]\nmax_lps = 8 # lps\n"),
            "{out}"
        );
        assert!(out.contains("latency = 0.25   # fast"), "{out}");
        assert!(out.contains("fill_rate = 0.5"), "{out}");
        assert!(
            out.contains("[[engine.profiles]] # second\nname = \"B\"\nmarkout = 1.0"),
            "{out}"
        );
        let out = apply(&out, Change::Remove { name: "B" }, &[]).unwrap();
        assert!(!out.contains("\"B\""), "{out}");
        let out = apply(
            &out,
            Change::Add {
                name: "C",
                weights: &W,
            },
            &[],
        )
        .unwrap();
        assert!(out.contains("name = \"C\""), "{out}");
        assert!(apply(&out, Change::Remove { name: "Z" }, &[]).is_err());
    }

    #[test]
    fn no_profiles_writes_them_all_and_inline_arrays_work() {
        let all = vec![("HF".to_string(), W), ("Blk".to_string(), [1.0; 8])];
        let out = apply(
            "[engine]\nmax_lps = 8\n",
            Change::Set {
                name: "HF",
                weights: &W,
            },
            &all,
        )
        .unwrap();
        let e: crate::engine::EngineConfig = toml::from_str::<toml::Table>(&out).unwrap()["engine"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(e.profiles.len(), 2);
        assert_eq!(e.profiles[0].weights.fill_rate, 0.5);
        let text = "[engine]\nprofiles = [ { name = \"A\", latency = 1.0 }, { name = \"B\", markout = 1 } ] # two\n";
        let out = apply(
            text,
            Change::Set {
                name: "B",
                weights: &W,
            },
            &[],
        )
        .unwrap();
        assert!(out.contains("# two"), "{out}");
        let e: crate::engine::EngineConfig = toml::from_str::<toml::Table>(&out).unwrap()["engine"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(e.profiles[1].weights.latency, 0.25);
        assert_eq!(e.profiles[1].weights.markout, 0.0);
        // No [engine] table yet: no empty header, zero weights left out.
        let out = apply(
            "a = 1\n",
            Change::Add {
                name: "HF",
                weights: &W,
            },
            &all,
        )
        .unwrap();
        assert_eq!(
            out,
            "a = 1\n\n[[engine.profiles]]\nname = \"HF\"\nlatency = 0.25\nfill_rate = 0.5\n\
             market_impact = 0.25\n\n[[engine.profiles]]\nname = \"Blk\"\nlatency = 1.0\n\
             fill_rate = 1.0\nprice_improvement = 1.0\nmarket_impact = 1.0\nreject_rate = 1.0\n\
             effective_spread = 1.0\nmarkout = 1.0\n"
        );
    }
}
