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
        // What a client does with a listed name next: strip its directory, ask for its
        // thumbnail, upload to it (any name a printer lists, whatever its characters).
        for p in &l.paths {
            let bare = gcode::bare_file_name(p);
            assert!(p.ends_with(bare));
            let mut out = Vec::new();
            for d in [Dialect::Modern, Dialect::Adventurer3] {
                let _ = Command::thumbnail(p, d).encode(&mut out);
            }
            let _ = gcode::normalise_upload_name(p);
        }
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

/// HTTP responses: fed whole and in chunks, the parser yields the same events (or fails on
/// both), always makes progress, and never holds a body beyond the bound.
pub fn http_response(data: &[u8]) {
    use crate::http::{ResponseEvent, ResponseParser};
    let cfg = crate::HttpConfig {
        max_head_bytes: 1024,
        max_body_bytes: 4096,
        ..Default::default()
    };
    let run = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut p: ResponseParser<8> = ResponseParser::new(&cfg);
        let mut events = Vec::new();
        for piece in pieces {
            let mut input = piece;
            while !input.is_empty() {
                let pr = p.feed(input).ok()?;
                assert!(pr.consumed <= input.len());
                assert!(pr.consumed > 0 || pr.event.is_some(), "no progress");
                if let Some(ResponseEvent::Complete(r)) = &pr.event {
                    assert!(r.body.len() <= cfg.max_body_bytes);
                }
                events.extend(pr.event);
                input = &input[pr.consumed..];
            }
        }
        let end = p.finish().ok();
        Some((events, end))
    };
    let whole = run(&mut std::iter::once(data));
    let chunked = run(&mut chunks(data));
    assert_eq!(whole, chunked, "chunking changed the outcome");
    if let Some((events, _)) = whole {
        for e in events {
            if let ResponseEvent::Complete(r) = e {
                for kind in [
                    crate::http::ResponseKind::Detail,
                    crate::http::ResponseKind::GcodeList,
                    crate::http::ResponseKind::Image,
                ] {
                    let _ = crate::http::parse_response(kind, &r);
                }
            }
        }
    }
}

/// `/detail` bodies: never a panic; and any well-formed JSON whose `detail` is an object parses
/// with a payload, whatever the values (the leniency promise).
pub fn detail(data: &[u8]) {
    let parsed = crate::http::parse_detail(data);
    if let Ok(serde_json::Value::Object(top)) = serde_json::from_slice::<serde_json::Value>(data) {
        if top.get("detail").is_some_and(serde_json::Value::is_object) {
            // Re-serialised, so duplicate keys (which serde_json's Value silently merges) are gone.
            let canonical = serde_json::to_vec(&top).unwrap_or_default();
            let r = crate::http::parse_detail(&canonical);
            assert!(
                r.as_ref().is_ok_and(|r| r.payload.is_some()),
                "valid JSON with a detail object was rejected: {r:?}"
            );
        }
    }
    if let Ok(r) = parsed {
        if let Some(info) = r.payload {
            assert!(info.progress_percent() <= 100);
            let _ = info.model.capabilities().with_detail(&info);
        }
    }
}

/// Discovery: a parsed reply re-encodes to a datagram that parses to the same record; the
/// input split into datagrams (first byte of each piece = length) drives the state machine
/// without panics and within its printer bound.
pub fn discovery(data: &[u8], t0: Instant) {
    use crate::discovery::{
        unicast_destinations, Discovery, DiscoveryConfig, DiscoveryReply, ReplyFormat,
    };
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::Duration;
    if let Ok(r) = DiscoveryReply::parse(data) {
        let again = DiscoveryReply::parse(&r.encode()).expect("re-encoded reply parses");
        assert_eq!(again.status_code, r.status_code);
        // A lossy name grows (U+FFFD is 3 bytes) and may be cut when re-encoded.
        if !r.name_lossy {
            assert_eq!(again.name, r.name);
            assert_eq!(again.model, r.model);
            if r.format == ReplyFormat::Modern {
                assert_eq!(again, r);
            }
        }
    }
    let cfg = DiscoveryConfig {
        max_printers: 4,
        ..Default::default()
    };
    // Sources 127.0.0.0–7 are all probed; a length byte with bit 6 set sends from a port that
    // was not (dropped as unsolicited).
    let destinations = (0..8)
        .flat_map(|i| unicast_destinations(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)), &[48899]))
        .collect();
    let mut d = Discovery::new(cfg, destinations, t0);
    while d.poll_transmit().is_some() {}
    let mut rest = data;
    let mut i = 0u64;
    while let Some((&n, tail)) = rest.split_first() {
        // Lengths up to 255 × 2 reach both layouts.
        let len = (usize::from(n) * 2).min(tail.len());
        let (dgram, after) = tail.split_at(len);
        let port = if n & 0x40 != 0 { 5353 } else { 48899 };
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n % 8)), port);
        let _ = d.handle_datagram(from, dgram, t0 + Duration::from_millis(i));
        while d.poll_event().is_some() {}
        rest = after;
        i += 1;
    }
    assert!(d.printers().len() <= 4);
    let mut now = t0;
    for _ in 0..16 {
        let Some(t) = d.poll_timeout() else { break };
        assert!(t >= now);
        now = t;
        d.handle_timeout(now);
        while d.poll_transmit().is_some() {}
    }
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
            http_response(seed);
            detail(seed);
            discovery(seed, Instant::now());
        }
        http_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
        detail(br#"{"code":0,"message":"Success","detail":{"status":"printing"}}"#);
    }
}
