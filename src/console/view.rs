//! Drawing: a pure function of [`State`] onto a ratatui frame (tested with `TestBackend`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, Wrap};

use super::model::{Live, Screen, State, WEIGHT_NAMES, preview, spark};

/// The key hints of each screen (the footer line); terse below 80 columns.
pub fn footer(state: &State, width: u16) -> &'static str {
    if width < 80 {
        return match state.screen {
            Screen::Table | Screen::Drill => "s/S b/B p/P up/dn Enter w ?help q",
            Screen::Weights => "up/dn +/- 0-9 r p/P Enter=apply Esc",
            Screen::Help => "any key: back  q quit",
        };
    }
    match state.screen {
        Screen::Table => {
            "s/S sym  b/B size  p/P profile  up/dn LP  Enter drill  w weights  ? help  q quit"
        }
        Screen::Drill => {
            "Esc back  up/dn LP  s/S sym  b/B size  p/P profile  w weights  ? help  q quit"
        }
        Screen::Weights => {
            if state.editor.as_ref().is_some_and(|e| e.input.is_some()) {
                "type a value  Enter set  Backspace  Esc cancel"
            } else {
                "up/dn weight  +/- step  0-9 type  r reset  p/P profile  Enter apply  Esc back"
            }
        }
        Screen::Help => "any key: back  q quit",
    }
}

fn header(state: &State) -> Line<'static> {
    let s = &state.snap;
    let live = match &s.live {
        Some(Live::Live(ms)) => format!("live {ms}ms"),
        Some(Live::Stale(ms)) => format!("STALE {:.0}s", *ms as f64 / 1e3),
        Some(Live::Restarted) => "restarted".into(),
        Some(Live::WriterGone) => "writer gone".into(),
        Some(Live::Stopped) => "stopped".into(),
        Some(Live::Retired) => "retired".into(),
        Some(Live::NoBoard(_)) | None => "no board".into(),
    };
    let up = s.uptime_s().map_or("-".to_string(), |u| {
        format!("{}:{:02}:{:02}", u / 3600, (u / 60) % 60, u % 60)
    });
    Line::from(vec![
        Span::styled("lpscore top ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "epoch {} pid {} up {up} {live} | {}",
            s.epoch, s.writer_pid, s.path
        )),
    ])
}

fn selection(state: &State) -> Line<'static> {
    let s = &state.snap;
    let prof = state
        .profile_view()
        .map_or("-".to_string(), |p| p.name.clone());
    let mut spans = vec![
        Span::raw("sym "),
        Span::styled(
            state.symbol_name().to_string(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" {}/{}  size ", state.symbol + 1, s.symbols.len())),
        Span::styled(
            state.bucket_name().to_string(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " {}/{}  profile ",
            state.bucket + 1,
            s.buckets.len()
        )),
        Span::styled(prof, Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" {}/{}", state.profile + 1, s.profiles.len())),
    ];
    if s.busy > 0 {
        spans.push(Span::raw(format!("  busy {}", s.busy)));
    }
    if s.skipped_symbols > 0 {
        spans.push(Span::raw(format!(
            "  ({} symbols not read)",
            s.skipped_symbols
        )));
    }
    Line::from(spans)
}

/// The footer of an embedded console: `q` leaves the console, not the host.
pub fn footer_embedded(state: &State, width: u16) -> &'static str {
    match state.screen {
        Screen::Table if width >= 90 => {
            "s/S sym  b/B size  p/P profile  up/dn LP  Enter drill  w weights  ? help  q leave console"
        }
        Screen::Table => "s/S b/B p/P up/dn Enter w ?help  q leave console",
        _ => footer(state, width),
    }
}

/// Log lines shown under the table of an embedded console at this screen height.
fn log_lines(height: u16) -> u16 {
    match height {
        0..14 => 0,
        14..20 => 2,
        _ => 4,
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, state: &State) {
    let area = f.area();
    let banner = state.snap.live.as_ref().and_then(|l| l.banner());
    let embed = state.embed.as_ref();
    let log_h = match embed {
        Some(e) if !e.log.is_empty() => log_lines(area.height).min(e.log.len() as u16),
        _ => 0,
    };
    let [title, head, sel, body, log, foot] = Layout::vertical([
        Constraint::Length(u16::from(embed.is_some())),
        Constraint::Length(1),
        Constraint::Length(if banner.is_some() { 2 } else { 1 }),
        Constraint::Min(3),
        Constraint::Length(if log_h > 0 { log_h + 1 } else { 0 }),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(e) = embed {
        f.render_widget(
            Paragraph::new(e.title.clone()).style(
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
            title,
        );
        if log_h > 0 {
            let lines: Vec<Line> = e.log[e.log.len() - log_h as usize..]
                .iter()
                .map(|l| Line::raw(l.clone()))
                .collect();
            f.render_widget(
                Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(" log ")),
                log,
            );
        }
    }
    f.render_widget(Paragraph::new(header(state)), head);
    let mut sel_lines = Vec::new();
    if let Some(b) = banner {
        sel_lines.push(Line::styled(
            b,
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        ));
    }
    sel_lines.push(selection(state));
    f.render_widget(Paragraph::new(sel_lines), sel);
    match state.screen {
        Screen::Table => draw_table(f, state, body),
        Screen::Drill => draw_drill(f, state, body),
        Screen::Weights => draw_weights(f, state, body),
        Screen::Help => draw_help(f, body),
    }
    let keys = if embed.is_some() {
        footer_embedded(state, area.width)
    } else {
        footer(state, area.width)
    };
    f.render_widget(
        Paragraph::new(keys).style(Style::new().add_modifier(Modifier::REVERSED)),
        foot,
    );
}

fn draw_table(f: &mut Frame, state: &State, area: Rect) {
    let block = Block::default().borders(Borders::TOP).title(" ranked LPs ");
    let inner_w = area.width;
    let (cols, rows) = state.table(inner_w);
    if rows.is_empty() {
        f.render_widget(
            Paragraph::new("(no row with data for this symbol and size yet)").block(block),
            area,
        );
        return;
    }
    let header = Row::new(cols.iter().map(|c| Cell::from(c.title)))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let body: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .map(|(i, cells)| {
            let r = Row::new(cells);
            if i == state.row {
                r.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                r
            }
        })
        .collect();
    let widths: Vec<Constraint> = cols.iter().map(|c| Constraint::Length(c.width)).collect();
    f.render_widget(
        Table::new(body, widths)
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
    );
}

/// A drill-down series: its name, values and how a value is printed.
type Part<'a> = (&'a str, &'a Vec<f64>, fn(f64) -> String);

fn draw_drill(f: &mut Frame, state: &State, area: Rect) {
    let Some(e) = state.selected() else {
        f.render_widget(Paragraph::new("(no LP selected)"), area);
        return;
    };
    let series = state.series().unwrap_or_default();
    let span_s = series.t1.saturating_sub(series.t0) / 1_000_000_000;
    let title = format!(
        " {} on {} / {}: last {}m{:02}s, {} samples ",
        e.lp,
        state.symbol_name(),
        state.bucket_name(),
        span_s / 60,
        span_s % 60,
        series.score.len()
    );
    let block = Block::default().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let parts: [Part; 4] = [
        ("score", &series.score, |x| format!("{x:.1}")),
        ("fill rate", &series.fill, |x| format!("{:.1}%", x * 100.0)),
        ("ack p50 latency", &series.latency, |x| {
            format!("{:.1}us", x / 1e3)
        }),
        ("markout", &series.markout, |x| format!("{x:.2}bp")),
    ];
    let h = (inner.height / 4).max(2);
    let areas = Layout::vertical([Constraint::Length(h); 4]).split(inner);
    for ((name, v, fmt), a) in parts.iter().zip(areas.iter()) {
        let (data, lo, hi) = spark(v, w);
        let last = v.last().copied().map_or("-".to_string(), fmt);
        let label = if data.is_empty() {
            format!("{name}: no samples yet")
        } else {
            format!("{name}: {last}  (min {}, max {})", fmt(lo), fmt(hi))
        };
        let [l, s] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(*a);
        f.render_widget(Paragraph::new(label), l);
        f.render_widget(Sparkline::default().data(&data).max(100), s);
    }
}

fn draw_weights(f: &mut Frame, state: &State, area: Rect) {
    let Some(ed) = &state.editor else {
        f.render_widget(Paragraph::new("(no active profile)"), area);
        return;
    };
    let [main, msg] = Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Length(32), Constraint::Min(20)]).areas(main);
    let lines: Vec<Line> = WEIGHT_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let v = if i == ed.field {
                ed.input
                    .as_ref()
                    .map_or(format!("{:.3}", ed.weights[i]), |b| format!("{b}_"))
            } else {
                format!("{:.3}", ed.weights[i])
            };
            let changed = (ed.weights[i] - ed.original[i]).abs() > 1e-12;
            let text = format!("{n:<17} {v:>7}{}", if changed { " *" } else { "" });
            if i == ed.field {
                Line::styled(text, Style::new().add_modifier(Modifier::REVERSED))
            } else {
                Line::raw(text)
            }
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" weights: {} ", ed.profile)),
        ),
        left,
    );
    let slot = state
        .snap
        .profiles
        .iter()
        .find(|p| p.name == ed.profile)
        .map_or(0, |p| p.index);
    let rows = state.ranked();
    let pv = preview(
        &rows,
        &state.snap.profiles,
        slot,
        &ed.weights,
        &state.transforms,
    );
    let fmt_rank = |r: Option<usize>| r.map_or("-".to_string(), |r| r.to_string());
    let body: Vec<Row> = pv
        .rows
        .iter()
        .map(|r| {
            Row::new(vec![
                r.lp.chars().take(10).collect::<String>(),
                r.score_now.map_or("-".into(), |s| format!("{s:.1}")),
                fmt_rank(r.rank_now),
                r.score_new.map_or("n/a".into(), |s| format!("{s:.1}")),
                fmt_rank(r.rank_new),
            ])
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(3),
            Constraint::Length(6),
            Constraint::Length(3),
        ],
    )
    .header(
        Row::new(vec!["LP", "now", "#", "new", "#"])
            .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)),
    )
    .column_spacing(1)
    .block(Block::default().borders(Borders::ALL).title(format!(
        " preview {}/{} ",
        state.symbol_name(),
        state.bucket_name()
    )));
    f.render_widget(table, right);
    let mut text = Vec::new();
    if let Some(m) = &ed.message {
        text.push(Line::styled(
            m.clone(),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    } else if !state.can_apply {
        text.push(Line::raw("read-only: no control socket (preview only)"));
    }
    match pv.note {
        Some(n) => text.push(Line::raw(n)),
        None if !pv.rows.is_empty() => text.push(Line::raw(format!(
            "preview from the rows: published scores recomputed to within {:.3}",
            pv.max_residual
        ))),
        None => {}
    }
    f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), msg);
}

/// The help text.
pub const HELP: &str = "\
Table:   s / S  or  right / left   next / previous symbol (* = all symbols)
         b / B                     next / previous size bucket (all: every size)
         p / P  or  Tab / S-Tab    next / previous scoring profile
         up / down  (k / j)        select an LP;  Enter: its drill-down
         w                         weight editor of the selected profile
         q / Esc                   quit
Drill:   sparklines of score, fill rate, ack latency, markout (the console's own
         samples, 1/s, last 10 min); Esc back
Weights: up / down select a weight; + / - step 0.05; digits type a value (Enter
         sets it); r resets; Enter applies via the control socket (set_weights)
         and shows the ack; the preview re-ranks the current rows locally
Columns: # rank (P paused), score (selected profile), chg1m change since one
         minute ago, orders (sample size), fill%, ack50us, PI/impact/markout/
         ES in bps, rej%, eff_n decayed sample size; LP~ = no NBBO";

fn draw_help(f: &mut Frame, area: Rect) {
    f.render_widget(
        Paragraph::new(HELP).block(Block::default().borders(Borders::TOP).title(" help ")),
        area,
    );
}
