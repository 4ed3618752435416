//! Every fixture of `tests/data/tcp/manifest.json` (copied from `shared/fixtures/tcp`), run
//! through its parser whole and through the framer whole, byte by byte, at random split points
//! and with trailing bytes; and every fixture of the three manifests (tcp, http, discovery)
//! through the `decode` entry point of the tools, whose JSON must carry every field the fixtures
//! README lists for the parser.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use flashforge_proto::decode::{decode, decode_with_command, thumbnail_image, DecodeStatus};
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
            // Non-blank lines, split on LF, CRLF or a bare CR (tcp.md §3.2), counted here
            // independently of the core's line normaliser.
            let lines = whole
                .2
                .split(|&b| b == b'\n' || b == b'\r')
                .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
                .count() as u64;
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

/// The fields of the fixtures README's "Parser names and expected fields" table, optional ones
/// included: `decode` prints each of them for a capture that parses (`null` where the capture
/// has no value). `machine_info.x` names a field inside `machine_info`.
const README_FIELDS: &[(&str, &[&str])] = &[
    (
        "printer_info",
        &[
            "machine_type",
            "machine_name",
            "firmware",
            "serial_number",
            "build_volume",
            "dimensions",
            "tool_count",
            "mac_address",
            "a4_variant",
        ],
    ),
    ("temperatures", &["tools", "bed"]),
    (
        "endstop_status",
        &[
            "endstops",
            "machine_status",
            "machine_status_raw",
            "move_mode",
            "move_mode_raw",
            "status_flags",
            "led_on",
            "filament_status",
            "current_file",
            "is_printing",
            "is_complete",
            "is_paused",
            "is_ready",
        ],
    ),
    (
        "print_status",
        &[
            "sd_current",
            "sd_total",
            "layer_current",
            "layer_total",
            "percent",
            "sd_percent",
            "is_complete",
        ],
    ),
    ("position", &["x", "y", "z", "extra", "text"]),
    (
        "file_list",
        &[
            "paths",
            "names",
            "count",
            "payload_only",
            "payload_offset",
            "text_prefix",
            "complete",
            "entries_complete",
            "bytes_missing",
        ],
    ),
    (
        "thumbnail",
        &[
            "format",
            "image_offset",
            "image_length",
            "image_sha256",
            "width",
            "height",
            "tag",
            "declared_length",
        ],
    ),
    (
        "login",
        &["granted", "already_connected", "first_ok_ends_at_byte"],
    ),
    (
        "command_ack",
        &[
            "success",
            "denied",
            "error_text",
            "opened_path",
            "size",
            "reply_ends_at_byte",
            "trailing_stream_lines",
            "position",
        ],
    ),
    ("upload_boundary", &["accepted"]),
    ("raw_text", &["lines"]),
    (
        "detail",
        &[
            "envelope",
            "machine_info",
            "machine_info.firmware_short",
            "machine_info.lifetime_filament",
            "machine_info.completion_time_set",
            "machine_info.matl_slot_count",
            "machine_info.matl_current_slot",
            "machine_info.matl_slots",
            "machine_info.indep_material_name",
            "machine_info.build_volume",
            "machine_info.location",
            "machine_info.camera_stream_url",
            "machine_info.raw_has_matl_station",
            "machine_info.can_move_axes",
            "machine_info.can_extrude",
            "machine_info.tool_reading_present",
            "machine_info.parse_ok",
        ],
    ),
    ("product", &["envelope", "flags", "capabilities"]),
    ("gcode_list", &["envelope", "entries"]),
    (
        "gcode_thumb",
        &[
            "envelope",
            "image",
            "image.format",
            "image.image_offset",
            "image.image_length",
            "image.image_sha256",
            "image.width",
            "image.height",
            "image.tag",
            "image.declared_length",
        ],
    ),
    ("envelope", &["envelope", "detail_text"]),
    (
        "discovery",
        &[
            "protocol",
            "name",
            "serial_number",
            "command_port",
            "event_port",
            "vendor_id",
            "product_id",
            "product_type",
            "status_code",
            "status",
            "lan_mode",
            "model",
            "raw_u16_at_0x90",
            "name_raw_hex",
        ],
    ),
    ("probe", &["length", "ascii_prefix"]),
];

/// The fields an incomplete capture prints (fixtures README, `file_list`).
const INCOMPLETE_FIELDS: &[&str] = &["complete", "entries_complete", "bytes_missing"];

/// `decode` as the tools run it: the core's JSON plus the image hash they add.
fn decoded(parser: &str, command: Option<&str>, bytes: &[u8]) -> (Value, DecodeStatus) {
    let out = decode_with_command(parser, command, bytes)
        .unwrap_or_else(|| panic!("decode does not know parser {parser}"));
    let mut v = out.value;
    if let Some(img) = thumbnail_image(parser, bytes) {
        let sha = Value::String(hex(&Sha256::digest(&img)));
        match v.get_mut("image").filter(|i| i.is_object()) {
            Some(image) => image["image_sha256"] = sha,
            None => v["image_sha256"] = sha,
        }
    }
    (v, out.status)
}

/// The manifest comparison of a decoded capture: every expected field present and equal
/// (numbers to 1e-9 relative), `error` as a case-insensitive substring, `spot_checks` as
/// `{index: bare name}`, `entries_if_lenient` against the lenient parser's `entries`.
fn expect_decoded(e: &serde_json::Map<String, Value>, got: &Value) -> Result<(), String> {
    for (k, v) in e {
        match k.as_str() {
            "error" if v.is_string() => {
                let want = v.as_str().unwrap().to_ascii_lowercase();
                let have = got["error"].as_str().unwrap_or("");
                if !have.to_ascii_lowercase().contains(&want) {
                    return Err(format!("error `{have}` does not say `{want}`"));
                }
            }
            "spot_checks" => {
                let names = got["names"].as_array().ok_or("no names")?;
                for (i, name) in v.as_object().unwrap() {
                    let i: i64 = i.parse().unwrap();
                    let idx = if i < 0 { names.len() as i64 + i } else { i } as usize;
                    if names.get(idx) != Some(name) {
                        return Err(format!("spot check {i}: got {:?}", names.get(idx)));
                    }
                }
            }
            "entries_if_lenient" => approx(v, &got["entries"], "entries")?,
            _ => {
                let g = got.get(k).ok_or_else(|| format!("{k}: not printed"))?;
                approx(v, g, k)?;
            }
        }
    }
    Ok(())
}

/// The README fields for `parser` missing from `got`.
fn missing_readme_fields(parser: &str, got: &Value) -> Vec<String> {
    let (_, fields) = README_FIELDS
        .iter()
        .find(|(p, _)| *p == parser)
        .unwrap_or_else(|| panic!("{parser}: not in the README table"));
    fields
        .iter()
        .filter(|f| {
            let mut v = got;
            for part in f.split('.') {
                match v.get(part) {
                    // A null parent (`image: null`) has no fields to print.
                    Some(Value::Null) if !f.ends_with(part) => return false,
                    Some(x) => v = x,
                    None => return true,
                }
            }
            false
        })
        .map(|f| (*f).to_owned())
        .collect()
}

#[test]
fn decode_prints_every_readme_field_and_every_manifest_value_of_all_three_manifests() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in ["tcp", "http", "discovery"] {
        for (f, bytes) in common::manifest(dir) {
            let parser = f["parser"].as_str().unwrap();
            if parser == "request" {
                // Bytes we send, not replies: http_vectors builds and compares those.
                continue;
            }
            let file = format!("{dir}/{}", f["file"].as_str().unwrap());
            let outcome = f["outcome"].as_str().unwrap();
            let (got, status) = decoded(parser, None, &bytes);
            let want = match outcome {
                "ok" => DecodeStatus::Ok,
                "error" => DecodeStatus::Error,
                "incomplete" => DecodeStatus::Incomplete,
                o => panic!("{file}: outcome {o}"),
            };
            if status != want {
                failures.push(format!(
                    "{file}: {status:?}, manifest says {outcome}: {got}"
                ));
                continue;
            }
            if status == DecodeStatus::Error && !got["error"].is_string() {
                failures.push(format!("{file}: an error without its `error` text: {got}"));
            }
            if let Err(msg) = expect_decoded(f["expected"].as_object().unwrap(), &got) {
                failures.push(format!("{file}: {msg}\n  got {got}"));
            }
            if status == DecodeStatus::Ok {
                let missing = missing_readme_fields(parser, &got);
                if !missing.is_empty() {
                    failures.push(format!("{file}: README fields not printed: {missing:?}"));
                }
            }
            if let Some(cmd) = f.get("command").and_then(Value::as_str) {
                // The echo in the capture names the same command as the manifest.
                if decoded(parser, Some(cmd), &bytes) != (got.clone(), status) {
                    failures.push(format!("{file}: decoding with --command {cmd} differs"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 150, "only {checked} fixtures decoded");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn decode_frames_login_and_ack_replies_like_the_session() {
    let fields = |parser: &str, cmd: Option<&str>, bytes: &[u8]| {
        let (v, status) = decoded(parser, cmd, bytes);
        let end = if parser == "login" {
            &v["first_ok_ends_at_byte"]
        } else {
            &v["reply_ends_at_byte"]
        };
        (
            status,
            end.as_u64(),
            v["trailing_stream_lines"].as_u64(),
            v["reply_complete"].clone(),
        )
    };
    let ok = DecodeStatus::Ok;
    // The whole capture is the reply.
    let login =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tcp/m601_ok.txt"))
            .unwrap();
    assert_eq!(
        fields("login", None, &login),
        (ok, Some(22), Some(0), Value::Bool(true))
    );
    // The emulator's `~M602` reply ends at the first `ok`; `Control Release.` / `ok` follow.
    let logout = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tcp/m602_emulator.txt"),
    )
    .unwrap();
    assert_eq!(
        fields("command_ack", Some("~M602"), &logout),
        (ok, Some(22), Some(2), Value::Bool(true))
    );
    // A temperature report streamed after the acknowledgement is not part of it.
    let ack = b"CMD M24 Received.\r\nok\r\nCMD M105 Received.\r\nT0:20/0 B:20/0\r\nok\r\n";
    assert_eq!(
        fields("command_ack", None, ack),
        (ok, Some(23), Some(3), Value::Bool(true))
    );
    assert_eq!(
        fields("command_ack", Some("~M24"), ack),
        fields("command_ack", None, ack)
    );
    // An A3 acknowledgement without `ok`: the framer sees no end, the capture's end is it.
    let no_ok = b"CMD M26 Received.\n";
    assert_eq!(
        fields("command_ack", None, no_ok),
        (ok, Some(18), Some(0), Value::Bool(false))
    );
    // A refusal is framed too, and says so in the fixture vocabulary.
    let (v, status) = decoded("command_ack", None, b"Control failed.\nok\n");
    assert_eq!(status, DecodeStatus::Error);
    assert_eq!(
        (&v["denied"], &v["success"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    assert_eq!(v["reply_ends_at_byte"], 19);
}

#[test]
fn decode_of_a_capture_cut_short_is_incomplete() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tcp");
    // A file list cut 5 bytes into its last (third) entry's name.
    let list = std::fs::read(dir.join("m661_constructed_wire_three.bin")).unwrap();
    let (v, status) = decoded("file_list", None, &list[..list.len() - 5]);
    assert_eq!(status, DecodeStatus::Incomplete, "{v}");
    for f in INCOMPLETE_FIELDS {
        assert!(v.get(f).is_some(), "{f} not printed: {v}");
    }
    assert_eq!(v["complete"], false);
    assert_eq!(v["bytes_missing"], 5);
    assert_eq!(v["entries_complete"], 2);
    assert_eq!(v["payload_offset"], 24);
    assert_eq!(v["text_prefix"], "CMD M661 Received.\r\nok\r\n");
    // The whole list is complete, every entry of it.
    let (v, status) = decoded("file_list", None, &list);
    assert_eq!(status, DecodeStatus::Ok);
    assert_eq!(
        (&v["complete"], &v["entries_complete"], &v["bytes_missing"]),
        (&Value::Bool(true), &Value::from(3), &Value::from(0))
    );
    // A tagged thumbnail cut 5 bytes before the end its header declares.
    let thumb = std::fs::read(dir.join("m662_modern_tag_a2a2.bin")).unwrap();
    let (v, status) = decoded("thumbnail", None, &thumb[..thumb.len() - 5]);
    assert_eq!(status, DecodeStatus::Incomplete, "{v}");
    assert_eq!(v["bytes_missing"], 5);
    // The tools' exit code for it, in flashforge's table.
    assert_eq!(DecodeStatus::Incomplete.exit_code(), 12);
    assert_eq!(
        decode("file_list", &list[..30]).map(|d| d.status),
        Some(DecodeStatus::Incomplete)
    );
}
