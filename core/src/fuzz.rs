//! Fuzz target bodies (hidden feature `__fuzz`). They live here so `cargo test` compiles them
//! on stable; `fuzz/fuzz_targets/*.rs` are one-line wrappers. Each body checks invariants, not
//! just "no panic".

use std::time::{Duration, Instant};

use crate::gcode::{self, BinaryLimits, Command, FrameStatus, ReplyFramer};
use crate::{Config, Dialect, Event, Session};

fn small_config() -> Config {
    Config {
        max_line_len: 512,
        max_reply_bytes: 4096,
        max_binary_reply_bytes: 16 * 1024,
        max_file_list_entries: 64,
        max_path_len: 256,
        ..Config::default()
    }
}

const COMMANDS: [fn() -> Command; 8] = [
    || Command::MachineInfo,
    || Command::Temperatures,
    || Command::EndstopStatus,
    || Command::PrintStatus,
    || Command::Position,
    || Command::Login,
    || Command::UploadEnd,
    || Command::Resume,
];

/// Split `data` into chunks at the lengths its own bytes announce.
fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = (usize::from(rest[0]) % 64 + 1).min(rest.len());
        let (c, r) = rest.split_at(n);
        rest = r;
        Some(c)
    })
}

/// Frame with `command`: fed whole and in chunks, the outcome is the same, the reply is a
/// prefix of the input and buffers respect the bounds.
fn frame_invariants(command: &Command, data: &[u8], echo: bool) {
    let config = small_config();
    let run = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut f = ReplyFramer::new(command.profile(&config), &config, echo);
        for p in pieces {
            match f.push(p) {
                Ok(FrameStatus::Complete) => {}
                Ok(FrameStatus::Partial) => {}
                Err(_) => return None,
            }
            assert!(f.buffered() <= config.max_binary_reply_bytes + config.max_reply_bytes);
        }
        f.finish();
        Some((f.reply().to_vec(), f.stale_bytes()))
    };
    let whole = run(&mut std::iter::once(data));
    let chunked = run(&mut chunks(data));
    assert_eq!(
        whole.is_some(),
        chunked.is_some(),
        "error depends on chunking"
    );
    if let (Some((w, ws)), Some((c, cs))) = (&whole, &chunked) {
        assert!(w.len() + ws <= data.len());
        assert_eq!((w, ws), (c, cs), "framing depends on chunking");
        let _ = gcode::parse_reply(command.reply_kind(), w, &BinaryLimits::from(&config));
    }
}

/// `gcode_lines`: the text framer and every text parser.
pub fn gcode_lines(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let command = COMMANDS[usize::from(sel) % COMMANDS.len()]();
    frame_invariants(&command, rest, sel & 0x80 != 0);
    for line in gcode::lines::lines(rest) {
        assert!(!line.contains('\n') && !line.contains('\r'));
    }
}

/// `file_list`: the M661 framer and decoder.
pub fn file_list(data: &[u8]) {
    frame_invariants(&Command::ListFiles, data, false);
    let limits = BinaryLimits::from(&small_config());
    if let Ok(gcode::Parsed::Complete(gcode::Reply::FileList(l))) =
        gcode::parse_reply(gcode::ReplyKind::FileList, data, &limits)
    {
        assert!(l.paths.len() <= limits.max_entries as usize);
    }
}

/// `thumbnail`: the M662 framer and decoder.
pub fn thumbnail(data: &[u8]) {
    frame_invariants(&Command::thumbnail("a.gcode", Dialect::Modern), data, false);
    if let Ok(gcode::Parsed::Complete(gcode::Reply::Thumbnail(t))) =
        gcode::parse_reply(gcode::ReplyKind::Thumbnail, data, &BinaryLimits::default())
    {
        assert!(t.image_offset + t.image.len() <= data.len());
    }
}

/// `session`: a script of {bytes, time step, command, EOF, connect} steps. Deadlines never go
/// backwards, every submitted command gets exactly one reply, and nothing grows unbounded.
/// `t0` is the script's start time (the core never reads the clock).
pub fn session(data: &[u8], t0: Instant) {
    let config = small_config();
    let max_pending = config.max_pending_commands;
    let mut s = Session::new(config, t0);
    let mut now = t0;
    let mut submitted = 0u64;
    let mut replies = 0u64;
    let mut rest = data;
    while let Some((&op, r)) = rest.split_first() {
        rest = r;
        let n = usize::from(rest.first().copied().unwrap_or(0));
        match op % 8 {
            0 => s.handle_connected(now),
            1 | 2 => {
                let take = n.min(rest.len());
                s.handle_bytes(&rest[..take], now);
                rest = &rest[take..];
            }
            3 => {
                now += Duration::from_millis(n as u64 * 40);
                s.handle_timeout(now);
            }
            4 => {
                let cmd = COMMANDS[n % COMMANDS.len()]();
                if s.submit(cmd, now).is_ok() {
                    submitted += 1;
                }
            }
            5 => s.handle_eof(now),
            6 => s.handle_bytes(b"CMD M601 Received.\r\nok\r\n", now),
            _ => {
                if let Some(t) = s.poll_timeout() {
                    now = now.max(t);
                    s.handle_timeout(now);
                }
            }
        }
        if let Some(t) = s.poll_timeout() {
            assert!(t >= now);
        }
        assert!(s.queued() <= max_pending);
        let mut transmits = 0;
        while s.poll_transmit().is_some() {
            transmits += 1;
        }
        assert!(transmits <= 4);
        while let Some(e) = s.poll_event() {
            if let Event::Reply { .. } = e {
                replies += 1;
            }
        }
        assert!(replies <= submitted);
    }
    s.close(now);
    while let Some(e) = s.poll_event() {
        if let Event::Reply { .. } = e {
            replies += 1;
        }
    }
    // Closing answers everything still queued; only the one in flight may still be pending.
    assert!(
        submitted - replies <= 1,
        "{submitted} submitted, {replies} replies"
    );
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests may read the clock
mod tests {
    use super::*;

    #[test]
    fn bodies_accept_seed_inputs() {
        for seed in [
            &b""[..],
            b"\x01CMD M105 Received.\r\nT0:1/2 B:3/4\r\nok\r\n",
            b"\x81\r\n\r\r\nok\n",
            b"CMD M661 Received.\r\nok\r\n\x44\xaa\xaa\x44\x00\x00\x00\x00",
            b"\x00\x04\x06\x01\x05\x03\xff\x07\x04\x02",
        ] {
            gcode_lines(seed);
            file_list(seed);
            thumbnail(seed);
            session(seed, Instant::now());
        }
    }
}
