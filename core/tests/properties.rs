//! Property tests (STYLE.md 4.7): chunking invariance, encode/decode identity, bounds on
//! arbitrary bytes, monotonic deadlines, keep-alive cadence and determinism.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use flashforge_proto::gcode::{self, BinaryLimits, FrameStatus, ReplyFramer, ReplyKind};
use flashforge_proto::mock::Printer;
use flashforge_proto::{Command, Config, Dialect, Event, Session};
use proptest::prelude::*;

const KINDS: [ReplyKind; 11] = [
    ReplyKind::Login,
    ReplyKind::Ack,
    ReplyKind::PrinterInfo,
    ReplyKind::Temperatures,
    ReplyKind::EndstopStatus,
    ReplyKind::PrintStatus,
    ReplyKind::Position,
    ReplyKind::FileList,
    ReplyKind::Thumbnail,
    ReplyKind::UploadBoundary,
    ReplyKind::RawText,
];

fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tcp");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let cmd = f["command"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(dir.join(f["file"].as_str().unwrap())).unwrap();
            (cmd, bytes)
        })
        .collect()
}

fn frame(config: &Config, cmd: &Command, chunks: &[&[u8]]) -> Result<(bool, Vec<u8>), String> {
    let mut f = ReplyFramer::new(cmd.profile(config), config, false);
    let mut done = false;
    for c in chunks {
        done = f.push(c).map_err(|e| e.to_string())? == FrameStatus::Complete;
        let max = config.max_binary_reply_bytes.max(config.max_reply_bytes) * 2;
        assert!(f.buffered() <= max);
    }
    f.finish();
    Ok((done, f.reply().to_vec()))
}

fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts {
        out.push(&bytes[prev..c]);
        prev = c;
    }
    out.push(&bytes[prev..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any name, from a person or from a printer's file list: the bare name is a suffix of it
    /// and normalising never panics (a character across a prefix's length once did).
    #[test]
    fn file_names_never_panic(name in "\\PC{0,24}", prefix in prop::sample::select(vec!["", "/data/", "0:/user/", "/DATA/", "0:/"])) {
        let name = format!("{prefix}{name}");
        let bare = gcode::bare_file_name(&name);
        prop_assert!(name.ends_with(bare));
        prop_assert!(!bare.contains('/'));
        if let Ok(n) = gcode::normalise_upload_name(&name) {
            prop_assert!(!n.contains('/') && !n.trim().is_empty());
        }
    }

    #[test]
    fn any_chunking_of_any_fixture_frames_the_same(
        index in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let files = fixture_files();
        let (cmd, bytes) = &files[index.index(files.len())];
        let cmd = Command::decode(cmd).unwrap();
        let config = Config::default();
        let whole = frame(&config, &cmd, &[bytes]);
        prop_assert_eq!(frame(&config, &cmd, &split(bytes, &cuts)), whole);
    }

    #[test]
    fn encode_then_decode_is_the_identity(cmd in flashforge_proto::proptest::command()) {
        let mut line = Vec::new();
        cmd.encode(&mut line).unwrap();
        prop_assert_eq!(line.last(), Some(&b'\n'));
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n' || b == b'\r').count(), 1);
        let text = std::str::from_utf8(&line).unwrap();
        // Numeric parameters (`S210`, `X-5.25`, `F3000`) never use an exponent; names may.
        let numeric = !matches!(
            cmd,
            Command::Rename { .. }
                | Command::Thumbnail { .. }
                | Command::SelectFile { .. }
                | Command::UploadBegin { .. }
                | Command::Raw(_)
        );
        if numeric {
            for param in text.trim_end().split(' ').skip(1) {
                prop_assert!(!param[1..].contains(['e', 'E']), "exponent in {}", text);
            }
        }
        prop_assert_eq!(Command::decode(text), Some(cmd));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_within_bounds(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        kind in 0usize..KINDS.len(),
    ) {
        let mut config = Config::default();
        config.max_line_len = 256;
        config.max_reply_bytes = 1024;
        config.max_binary_reply_bytes = 2048;
        config.max_file_list_entries = 16;
        config.max_path_len = 64;
        let limits = BinaryLimits::from(&config);
        let _ = gcode::parse_reply(KINDS[kind], &data, &limits);
        for cmd in [Command::MachineInfo, Command::ListFiles, Command::thumbnail("a", Dialect::Modern), Command::Temperatures] {
            let mut f = ReplyFramer::new(cmd.profile(&config), &config, kind % 2 == 0);
            for c in split(&data, &cuts) {
                match f.push(c) {
                    Ok(_) => prop_assert!(f.buffered() <= 2048 + 1024),
                    Err(_) => break,
                }
            }
            f.finish();
            prop_assert!(f.reply().len() <= data.len());
            let _ = gcode::parse_reply(cmd.reply_kind(), f.reply(), &limits);
        }
    }

    #[test]
    fn poll_timeout_never_goes_backwards_and_runs_are_deterministic(
        script in prop::collection::vec((0u8..7, any::<u16>(), prop::collection::vec(any::<u8>(), 0..40)), 0..60),
    ) {
        let t0 = Instant::now();
        let run = || {
            let mut s = Session::new(Config::default(), t0);
            let mut now = t0;
            let mut log = Vec::new();
            for (op, n, bytes) in &script {
                match op {
                    0 => s.handle_connected(now),
                    1 => s.handle_bytes(bytes, now),
                    2 => { now += Duration::from_millis(u64::from(*n)); s.handle_timeout(now) }
                    3 => { let _ = s.submit(Command::Temperatures, now); }
                    4 => s.handle_eof(now),
                    5 => s.handle_bytes(b"CMD M601 Received.\r\nok\r\n", now),
                    _ => if let Some(t) = s.poll_timeout() { now = now.max(t); s.handle_timeout(now) },
                }
                if let Some(t) = s.poll_timeout() {
                    assert!(t >= now, "deadline {t:?} before now {now:?}");
                }
                while let Some(tx) = s.poll_transmit() { log.push(format!("tx {tx:?}")); }
                while let Some(e) = s.poll_event() {
                    log.push(format!("ev {e:?}").replace(&format!("{t0:?}"), "t0"));
                }
                log.push(format!("to {:?}", s.poll_timeout().map(|t| t - t0)));
            }
            log
        };
        prop_assert_eq!(run(), run());
    }

    #[test]
    fn keepalive_fires_exactly_once_per_idle_interval(idle_ms in 0u64..60_000) {
        let t0 = Instant::now();
        let mut s = Session::new(Config::default(), t0);
        let mut p = Printer::new(Dialect::Modern);
        let mut now = t0;
        let end = t0 + Duration::from_millis(idle_ms);
        let mut keepalives = 0u64;
        loop {
            loop {
                let mut progress = false;
                while let Some(tx) = s.poll_transmit() {
                    progress = true;
                    keepalives += u64::from(tx == b"~M27\n");
                    p.handle_bytes(&tx);
                }
                while let Some(e) = s.poll_event() {
                    progress = true;
                    if e == Event::Connect { s.handle_connected(now); }
                }
                while let Some(b) = p.poll_output() { progress = true; s.handle_bytes(&b, now); }
                if !progress { break; }
            }
            match s.poll_timeout() {
                Some(t) if t <= end => { now = t; s.handle_timeout(now); }
                _ => break,
            }
        }
        prop_assert_eq!(keepalives, idle_ms / 5000);
    }
}
