//! What people and scripts see: tables and summaries, or one JSON object per line.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use flashforge_proto::http::{GcodeFile, MaterialStation, Temperature};
use flashforge_tokio::{Capabilities, DiscoveredPrinter, Info, Status, Temps};
use serde_json::{json, Value};

use crate::exit::{Failure, Result, EXIT_INCOMPLETE, EXIT_OTHER, EXIT_USAGE};
use crate::term::clean;

/// `-v` → debug, `-vv` → trace, `-q` → errors only; otherwise warnings. Logs go to stderr.
pub(crate) fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// One line of human output to stdout, through [`clean`]: whatever printer text it carries
/// (names, file names, firmware, error texts) shows its control characters and escape
/// sequences as `\x1b`, `\u{9b}`, ... instead of obeying them. A closed pipe (`| head`) ends
/// quietly.
pub(crate) fn emit(s: &str) {
    raw_line(&clean(s));
}

/// One line to stdout as it is (JSON, whose text serde has escaped).
fn raw_line(s: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

/// One JSON object per line, exact: the printer's strings round-trip byte for byte.
fn json_line(v: &Value) {
    raw_line(&v.to_string());
}

pub(crate) fn done(what: &str, json: bool) {
    if json {
        json_line(&json!({"ok": true, "done": what}));
    } else {
        emit(what);
    }
}

pub(crate) fn line(text: &str, key: &str, json: bool) {
    if json {
        json_line(&json!({ key: text }));
    } else {
        emit(text);
    }
}

fn temp(t: &Temperature) -> String {
    match (t.current, t.target) {
        (Some(c), Some(tg)) => format!("{c:.1}/{tg:.0} °C"),
        (Some(c), None) => format!("{c:.1} °C"),
        (None, Some(tg)) => format!("–/{tg:.0} °C"),
        (None, None) => "–".to_owned(),
    }
}

fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn temps_line(t: &Temps) -> String {
    let mut parts: Vec<String> = t
        .tools
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if t.tools.len() == 1 {
                format!("nozzle {}", temp(x))
            } else {
                format!("T{i} {}", temp(x))
            }
        })
        .collect();
    if let Some(b) = &t.bed {
        parts.push(format!("bed {}", temp(b)));
    }
    if let Some(c) = &t.chamber {
        parts.push(format!("chamber {}", temp(c)));
    }
    parts.join("  ")
}

fn status_lines(label: &str, s: &Status) -> Vec<String> {
    let mut head = if label == s.model.name() {
        format!("{label}  {}", s.state.name())
    } else {
        format!("{label}  ({})  {}", s.model, s.state.name())
    };
    if let Some(p) = s.progress {
        head += &format!("  {}", bar(p, 20));
    }
    if let (Some(l), Some(t)) = (s.layer, s.total_layers) {
        head += &format!("  layer {l}/{t}");
    }
    if let Some(r) = s.remaining {
        head += &format!("  ETA {}", duration(r));
    }
    let mut out = vec![head, format!("  {}", temps_line(&s.temperatures))];
    if let Some(f) = &s.file {
        out.push(format!("  file: {f}"));
    }
    if let Some(e) = &s.error_code {
        out.push(format!("  error code: {e}"));
    }
    out
}

fn bar(fraction: f64, width: usize) -> String {
    let f = fraction.clamp(0.0, 1.0);
    let full = (f * width as f64).round() as usize;
    format!(
        "[{}{}] {:>5.1} %",
        "#".repeat(full),
        "-".repeat(width - full),
        f * 100.0
    )
}

pub(crate) fn status(label: &str, s: &Status, json: bool) {
    if json {
        let mut v = serde_json::to_value(s).unwrap_or_default();
        v["printer"] = json!(label);
        json_line(&v);
    } else {
        for l in status_lines(label, s) {
            emit(&l);
        }
    }
}

pub(crate) fn watch_frame(
    frame: &[(String, std::result::Result<Status, String>)],
    json: bool,
    tty: bool,
) {
    if json {
        for (label, r) in frame {
            match r {
                Ok(s) => status(label, s, true),
                Err(e) => json_line(&json!({"printer": label, "error": e})),
            }
        }
        return;
    }
    if tty {
        // Clear the screen and redraw in place.
        print!("\x1b[H\x1b[2J");
    }
    for (label, r) in frame {
        match r {
            Ok(s) => {
                for l in status_lines(label, s) {
                    emit(&l);
                }
            }
            Err(e) => emit(&format!("{label}  error: {e}")),
        }
    }
    if !tty {
        emit("");
    }
}

pub(crate) fn info(i: &Info, caps: &Capabilities, json: bool) {
    if json {
        let mut v = serde_json::to_value(i).unwrap_or_default();
        v["capabilities"] = serde_json::to_value(caps).unwrap_or_default();
        json_line(&v);
        return;
    }
    emit(&format!("{}  ({})", i.name, i.model));
    emit(&format!("  firmware     {}", i.firmware));
    if let Some(s) = &i.serial {
        emit(&format!("  serial       {s}"));
    }
    if let Some(m) = &i.mac {
        emit(&format!("  MAC          {m}"));
    }
    if let Some((x, y, z)) = i.build_volume {
        emit(&format!("  build volume {x} × {y} × {z} mm"));
    }
    if let Some(t) = i.tool_count {
        emit(&format!("  tools        {t}"));
    }
    let flags = serde_json::to_value(caps).unwrap_or_default();
    if let Some(obj) = flags.as_object() {
        let on: Vec<&str> = obj
            .iter()
            .filter(|(_, v)| v.as_bool() == Some(true))
            .map(|(k, _)| k.as_str())
            .collect();
        emit(&format!("  can          {}", on.join(", ")));
    }
}

pub(crate) fn temps(t: &Temps, json: bool) {
    if json {
        json_line(&serde_json::to_value(t).unwrap_or_default());
    } else {
        emit(&temps_line(t));
    }
}

pub(crate) fn files(full: Option<&[String]>, recent: Option<&[GcodeFile]>, json: bool) {
    if json {
        json_line(&json!({
            "files": full,
            "recent": recent.map(|r| serde_json::to_value(r).unwrap_or_default()),
        }));
        return;
    }
    if let Some(r) = recent {
        emit("Recent files:");
        for f in r {
            let mut l = format!("  {:<40} {:>8}", f.name, duration(f.printing_time));
            if let Some(w) = f.total_filament_weight {
                l += &format!("  {w:.1} g");
            }
            if let Some(t) = f.tool_count {
                l += &format!("  {t} tool(s)");
            }
            emit(&l);
        }
    }
    if let Some(f) = full {
        emit(&format!("Stored files ({}):", f.len()));
        for name in f {
            emit(&format!("  {name}"));
        }
    }
}

pub(crate) fn slots(m: &MaterialStation, json: bool) {
    if json {
        let slots: Vec<Value> = m
            .slots
            .iter()
            .map(|s| json!({"slot": s.slot_id, "has_filament": s.has_filament, "material": s.material_name, "color": s.material_color}))
            .collect();
        json_line(&json!({"current_slot": m.current_slot, "slots": slots}));
        return;
    }
    for s in &m.slots {
        emit(&format!(
            "slot {}  {:<8} {:<8} {}",
            s.slot_id,
            if s.has_filament { "loaded" } else { "empty" },
            s.material_name,
            s.material_color
        ));
    }
}

/// The printers discovery found; `truncated` when more answered than were kept
/// (`--max-printers`).
pub(crate) fn discovered(found: &[DiscoveredPrinter], truncated: bool, json: bool) {
    if truncated && !json {
        eprintln!(
            "note: stopped at {} printers (--max-printers); more answered and are not listed",
            found.len()
        );
    }
    if json {
        for p in found {
            json_line(&json!({
                "name": p.reply.name,
                "model": p.reply.model,
                "ip": p.ip.to_string(),
                "command_port": p.reply.command_port,
                "http_port": p.reply.event_port,
                "serial": p.reply.serial_number,
                "status": format!("{:?}", p.reply.status),
                "address": flashforge_tokio::Endpoint::from(p).to_string(),
                "truncated": truncated,
            }));
        }
        return;
    }
    if found.is_empty() {
        emit("no printers found");
        return;
    }
    emit(&format!(
        "{:<24} {:<18} {:<26} {}",
        "NAME", "MODEL", "ADDRESS", "SERIAL"
    ));
    for p in found {
        emit(&format!(
            "{:<24} {:<18} {:<26} {}",
            p.reply.name,
            p.reply.model.name(),
            flashforge_tokio::Endpoint::from(p).to_string(),
            p.reply.serial_number.as_deref().unwrap_or("–")
        ));
    }
}

pub(crate) fn progress_bar(total: u64, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes}  {binary_bytes_per_sec}  ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// `flashforge decode`: the core's decoder, plus the image hash of thumbnails.
pub(crate) fn decode(parser: Option<&str>, command: Option<&str>, file: &Path) -> Result {
    use flashforge_proto::decode::{
        decode_with_command, parser_for_command, thumbnail_image, DecodeStatus,
    };
    // The decode example exits with the same codes.
    const _: () = assert!(DecodeStatus::Incomplete.exit_code() == EXIT_INCOMPLETE);
    const _: () = assert!(DecodeStatus::Error.exit_code() == EXIT_OTHER);
    let parser = parser
        .map(str::to_owned)
        .or_else(|| command.and_then(parser_for_command).map(str::to_owned))
        .ok_or_else(|| {
            Failure::new(
                EXIT_USAGE,
                format!(
                    "give --parser NAME or --command LINE; parsers: {}",
                    flashforge_proto::decode::PARSERS.join(" ")
                ),
            )
        })?;
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", file.display())))?;
    let out = decode_with_command(&parser, command, &bytes).ok_or_else(|| {
        Failure::new(
            EXIT_USAGE,
            format!(
                "unknown parser `{parser}`; parsers: {}",
                flashforge_proto::decode::PARSERS.join(" ")
            ),
        )
    })?;
    let mut v = out.value;
    if let (Some(img), Some(obj)) = (thumbnail_image(&parser, &bytes), v.as_object_mut()) {
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(&img)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        match obj.get_mut("image").and_then(|i| i.as_object_mut()) {
            Some(image) => drop(image.insert("image_sha256".into(), json!(sha))),
            None => drop(obj.insert("image_sha256".into(), json!(sha))),
        }
    }
    json_line(&v);
    match out.status {
        DecodeStatus::Ok => Ok(()),
        DecodeStatus::Error => Err(Failure::new(
            EXIT_OTHER,
            "the capture did not parse (see the JSON)",
        )),
        DecodeStatus::Incomplete => Err(Failure::new(
            EXIT_INCOMPLETE,
            "the capture is incomplete: the reply was cut short before its end",
        )),
    }
}
