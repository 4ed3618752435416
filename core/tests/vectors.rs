//! Every fixture of `tests/data/tcp/manifest.json` (copied from `shared/fixtures/tcp`), run
//! through its parser whole and through the framer whole, byte by byte, at random split points
//! and with trailing bytes.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use flashforge_proto::gcode::{self, BinaryLimits, FrameStatus, Parsed, ReplyFramer, ReplyKind};
use flashforge_proto::{Command, CommandError, Config};
use serde_json::Value;

mod common;
use common::{approx, hex};
use sha2::{Digest, Sha256};

struct Fixture {
    file: String,
    command: String,
    kind: ReplyKind,
    outcome: String,
    expected: serde_json::Map<String, Value>,
    entry: Value,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    common::manifest("tcp")
        .into_iter()
        .map(|(f, bytes)| {
            let file = f["file"].as_str().unwrap().to_owned();
            Fixture {
                kind: ReplyKind::from_parser_name(f["parser"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("{file}: unknown parser")),
                command: f["command"].as_str().unwrap().to_owned(),
                outcome: f["outcome"].as_str().unwrap().to_owned(),
                expected: f["expected"].as_object().unwrap().clone(),
                entry: f,
                file,
                bytes,
            }
        })
        .collect()
}

/// Keys that are not fields of the serialised reply.
const SPECIAL: &[&str] = &[
    "error",
    "success",
    "denied",
    "error_text",
    "accepted",
    "image_sha256",
    "spot_checks",
    "first_ok_ends_at_byte",
    "reply_ends_at_byte",
    "trailing_stream_lines",
    "complete",
    "entries_complete",
    "bytes_missing",
    "text_prefix",
];

/// Check a parse result against the fixture's expectations.
fn check(f: &Fixture, result: Result<Parsed<gcode::Reply>, CommandError>) -> Result<(), String> {
    let e = &f.expected;
    match (f.outcome.as_str(), result) {
        ("ok", Ok(Parsed::Complete(reply))) => {
            let got = serde_json::to_value(&reply).unwrap();
            for (k, v) in e {
                if SPECIAL.contains(&k.as_str()) {
                    continue;
                }
                let g = got
                    .get(k)
                    .ok_or_else(|| format!("{k}: not produced ({got})"))?;
                approx(v, g, k)?;
            }
            if let Some(v) = e.get("success").or(e.get("accepted")) {
                if v != &Value::Bool(true) {
                    return Err(format!("success/accepted expected {v}, parse succeeded"));
                }
            }
            if let (Some(sha), gcode::Reply::Thumbnail(t)) = (e.get("image_sha256"), &reply) {
                if Value::String(hex(&Sha256::digest(&t.image))) != *sha {
                    return Err("image_sha256 differs".into());
                }
            }
            if let (Some(Value::Object(spots)), gcode::Reply::FileList(l)) =
                (e.get("spot_checks"), &reply)
            {
                let names: Vec<_> = l.names().collect();
                for (i, name) in spots {
                    let i: i64 = i.parse().unwrap();
                    let idx = if i < 0 { names.len() as i64 + i } else { i } as usize;
                    if Value::String(names[idx].to_owned()) != *name {
                        return Err(format!("spot check {i}: got {}", names[idx]));
                    }
                }
            }
            Ok(())
        }
        ("error", Err(err)) => {
            if let Some(Value::String(text)) = e.get("error") {
                let shown = err.to_string().to_ascii_lowercase();
                if !shown.contains(&text.to_ascii_lowercase()) {
                    return Err(format!("error `{err}` does not say `{text}`"));
                }
            }
            if e.get("denied") == Some(&Value::Bool(true)) && err != CommandError::Denied {
                return Err(format!("expected Denied, got {err:?}"));
            }
            if let Some(Value::String(text)) = e.get("error_text") {
                if err != CommandError::Printer(text.clone()) {
                    return Err(format!("expected Printer({text}), got {err:?}"));
                }
            }
            Ok(())
        }
        ("incomplete", Ok(Parsed::Incomplete(inc))) => {
            if let Some(n) = e.get("bytes_missing").and_then(Value::as_u64) {
                if inc.bytes_missing as u64 != n {
                    return Err(format!("bytes_missing {} != {n}", inc.bytes_missing));
                }
            }
            if let Some(n) = e.get("entries_complete").and_then(Value::as_u64) {
                if inc.entries_complete != Some(n as u32) {
                    return Err(format!(
                        "entries_complete {:?} != {n}",
                        inc.entries_complete
                    ));
                }
            }
            Ok(())
        }
        (outcome, got) => Err(format!("outcome {outcome} expected, got {got:?}")),
    }
}

fn limits() -> BinaryLimits {
    BinaryLimits::default()
}

#[test]
fn every_fixture_parses_as_the_manifest_says() {
    let mut failures = Vec::new();
    let all = fixtures();
    assert!(all.len() >= 100, "manifest shrank: {}", all.len());
    for f in &all {
        let result = gcode::parse_reply(f.kind, &f.bytes, &limits());
        if let Err(msg) = check(f, result) {
            failures.push(format!("{}: {msg}", f.file));
        }
        if let Some(n) = f.entry.get("text_prefix_length").and_then(Value::as_u64) {
            let thumb = f.kind == ReplyKind::Thumbnail;
            let got = gcode::binary_payload_offset(&f.bytes, thumb);
            if got != Some(n as usize) {
                failures.push(format!("{}: text prefix {got:?} != {n}", f.file));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Frame `bytes` fed in `chunks`; finish at the end like a quiet period would.
type Framed = Result<(bool, Vec<u8>, Vec<u8>), String>;

fn frame(f: &Fixture, chunks: &[&[u8]]) -> Framed {
    let config = Config::default();
    let cmd = Command::decode(&f.command).unwrap_or_else(|| panic!("{}: command", f.file));
    let mut framer = ReplyFramer::new(cmd.profile(&config), &config, false);
    let mut complete = false;
    for c in chunks {
        match framer.push(c) {
            Ok(FrameStatus::Complete) => complete = true,
            Ok(FrameStatus::Partial) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if !complete {
        framer.finish();
    }
    Ok((
        complete,
        framer.reply().to_vec(),
        framer.leftover().to_vec(),
    ))
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[test]
fn framing_is_independent_of_chunking_and_keeps_every_reply_whole() {
    let mut failures = Vec::new();
    for f in fixtures() {
        let whole_result = frame(&f, &[&f.bytes]);
        let whole = match &whole_result {
            Ok(w) => w.clone(),
            Err(e) => {
                // A stream that cannot be framed must be an expected error.
                let want = f
                    .expected
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                if f.outcome != "error" || !e.contains(want) {
                    failures.push(format!("{}: framing error {e}", f.file));
                }
                (false, Vec::new(), Vec::new())
            }
        };
        if whole_result.is_ok() {
            // What the session would parse must still satisfy the manifest.
            let framed = gcode::parse_reply(f.kind, &whole.1, &limits());
            if let Err(msg) = check(&f, framed) {
                failures.push(format!("{} (framed): {msg}", f.file));
            }
        }
        let bytes: Vec<&[u8]> = f.bytes.chunks(1).collect();
        if frame(&f, &bytes) != whole_result {
            failures.push(format!("{}: byte-at-a-time framing differs", f.file));
        }
        let mut rng = Lcg(f.bytes.len() as u64);
        for _ in 0..20 {
            let mut cuts: Vec<usize> = (0..3).map(|_| rng.next(f.bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let (a, rest) = f.bytes.split_at(cuts[0]);
            let (b, rest) = rest.split_at(cuts[1] - cuts[0]);
            let (c, d) = rest.split_at(cuts[2] - cuts[1]);
            if frame(&f, &[a, b, c, d]) != whole_result {
                failures.push(format!("{}: split at {cuts:?} differs", f.file));
                break;
            }
        }
        if whole.0 {
            let mut trailing = f.bytes.clone();
            trailing.extend_from_slice(b"CMD M105 Received.\nT0:1/1\nok\n");
            let t = frame(&f, &[&trailing]).unwrap_or_default();
            if !t.0 || t.1 != whole.1 {
                failures.push(format!("{}: trailing bytes changed the reply", f.file));
            }
        }
        let e = &f.expected;
        for key in ["first_ok_ends_at_byte", "reply_ends_at_byte"] {
            if let Some(n) = e.get(key).and_then(Value::as_u64) {
                if whole.1.len() as u64 != n {
                    failures.push(format!("{}: {key} {} != {n}", f.file, whole.1.len()));
                }
            }
        }
        if let Some(n) = e.get("trailing_stream_lines").and_then(Value::as_u64) {
            let lines = gcode::lines::lines(&whole.2).count() as u64;
            if lines != n {
                failures.push(format!("{}: trailing lines {lines} != {n}", f.file));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn regression_ok_in_a_name_does_not_end_the_reply() {
    let reply = b"CMD M115 Received.\nMachine Type: Flashforge Adventurer 4\nMachine Name: Brooklyn\nFirmware: v2.0.5\nok\n";
    let config = Config::default();
    let mut framer = ReplyFramer::new(Command::MachineInfo.profile(&config), &config, true);
    let (head, tail) = reply.split_at(60);
    assert_eq!(framer.push(head).unwrap(), FrameStatus::Partial);
    assert_eq!(framer.push(tail).unwrap(), FrameStatus::Complete);
    let Parsed::Complete(gcode::Reply::PrinterInfo(info)) =
        gcode::parse_reply(ReplyKind::PrinterInfo, framer.reply(), &limits()).unwrap()
    else {
        panic!("printer info expected");
    };
    assert_eq!(info.machine_name.as_deref(), Some("Brooklyn"));
    assert_eq!(info.firmware, "v2.0.5");
}

/// Every crash the fuzzers found, replayed through the body that found it.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let body: fn(&[u8]) = match name.split('_').nth(1) {
            Some("gcode") => flashforge_proto::fuzz::gcode_lines,
            Some("file") => flashforge_proto::fuzz::file_list,
            Some("thumbnail") => flashforge_proto::fuzz::thumbnail,
            Some("session") => |d| flashforge_proto::fuzz::session(d, std::time::Instant::now()),
            Some("http") => flashforge_proto::fuzz::http_response,
            Some("detail") => flashforge_proto::fuzz::detail,
            Some("discovery") => {
                |d| flashforge_proto::fuzz::discovery(d, std::time::Instant::now())
            }
            _ => panic!("{name}: name it fuzz_<target>_<what>.bin"),
        };
        body(&data);
        n += 1;
    }
    assert!(n >= 2);
}
