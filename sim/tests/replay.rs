//! The replay printer answers every captured request with the captured bytes: each model's
//! transcript, sent request by request in the order it was captured, comes back byte for byte
//! (and the emulator's ~500 ms gap inside the `M661`/`M662` replies is kept).

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_sim::replay::{Channel, Match, Phase, ReplayPrinter};
use flashforge_sim::MODELS;

/// Generous: the machine may be loaded.
const DEADLINE: Duration = Duration::from_secs(20);

/// Read exactly `n` bytes; returns them and when each read returned.
fn read_n(s: &mut TcpStream, n: usize) -> (Vec<u8>, Vec<(Instant, usize)>) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < n {
        assert!(t0.elapsed() < DEADLINE, "only {} of {n} bytes", out.len());
        match s.read(&mut buf[..(n - out.len()).min(4096)]) {
            Ok(0) => panic!("EOF after {} of {n} bytes", out.len()),
            Ok(k) => {
                out.extend_from_slice(&buf[..k]);
                arrivals.push((Instant::now(), k));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    }
    (out, arrivals)
}

fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("response until close");
    out
}

fn tcp_transcript(model: Model) {
    let replay = ReplayPrinter::start(model).unwrap();
    let caps: Vec<_> = replay
        .captures()
        .captures()
        .iter()
        .filter(|c| c.channel == Channel::Tcp && c.command.is_some())
        .cloned()
        .collect();
    let Some(addr) = replay.tcp() else {
        assert!(caps.is_empty(), "{model}");
        assert!(replay.captures().get("tcp_connect").is_some(), "{model}");
        return;
    };
    assert!(caps.len() >= 27, "{model}: {} TCP captures", caps.len());
    let mut s = TcpStream::connect(addr).unwrap();
    for c in &caps {
        if c.name.ends_with("_printing") {
            replay.set_phase(Phase::Printing);
        }
        replay.take_served();
        let sent = Instant::now();
        s.write_all(&c.request).unwrap();
        let (got, arrivals) = read_n(&mut s, c.response.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&c.response),
            "{model} {}",
            c.name
        );
        assert_eq!(got, c.response, "{model} {}", c.name);
        // The captured pause before a late chunk is kept (lower bound only: load can only
        // make it longer).
        if let Some(&(late, _)) = c
            .chunks
            .iter()
            .find(|(at, _)| *at > Duration::from_millis(400))
        {
            let prefix: usize = c
                .chunks
                .iter()
                .take_while(|(at, _)| *at < late)
                .map(|x| x.1)
                .sum();
            let mut seen = 0;
            let late_arrival = arrivals
                .iter()
                .find(|(_, k)| {
                    seen += k;
                    seen > prefix
                })
                .unwrap()
                .0;
            let gap = late_arrival - sent;
            assert!(
                gap >= late - Duration::from_millis(100),
                "{model} {}: late chunk after {gap:?}, captured {late:?}",
                c.name
            );
        }
        // A reply of no bytes (the A3's `G28`) is journaled without anything to wait for.
        let t0 = Instant::now();
        while replay.served().is_empty() && t0.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(5));
        }
        let served = replay.take_served();
        assert_eq!(served.len(), 1, "{model} {}: {served:?}", c.name);
        assert_eq!(
            served[0].capture.as_deref(),
            Some(c.name.as_str()),
            "{model}"
        );
        assert_eq!(served[0].matched, Match::Exact, "{model} {}", c.name);
    }
    replay.shutdown();
}

fn http_transcript(model: Model) {
    let replay = ReplayPrinter::start(model).unwrap();
    let caps: Vec<_> = replay
        .captures()
        .captures()
        .iter()
        .filter(|c| c.channel == Channel::Http)
        .cloned()
        .collect();
    assert!(caps.len() >= 7, "{model}");
    // In capture order, the emulator-only `/__health` route included.
    for c in &caps {
        if c.name.ends_with("_printing") {
            replay.set_phase(Phase::Printing);
        }
        replay.take_served();
        let mut s = TcpStream::connect(replay.http()).unwrap();
        s.write_all(&c.request).unwrap();
        let got = read_to_end(&mut s);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&c.response),
            "{model} {}",
            c.name
        );
        let served = replay.take_served();
        assert_eq!(served.len(), 1, "{model} {}: {served:?}", c.name);
        assert_eq!(
            served[0].capture.as_deref(),
            Some(c.name.as_str()),
            "{model}"
        );
        assert_eq!(served[0].matched, Match::Exact, "{model} {}", c.name);
    }
    let uploads = replay.uploads();
    let sent = replay.captures().get("http_POST_uploadGcode").unwrap();
    let body = sent.request_body().to_vec();
    let (name, file) = sent.uploaded_file().unwrap();
    assert_eq!((name.as_str(), file.len()), ("cap_test.gcode", 1152));
    assert!(!uploads.is_empty(), "{model}");
    let first = &uploads[0];
    assert_eq!(
        first.file_name.as_deref(),
        Some("cap_test.gcode"),
        "{model}"
    );
    assert_eq!(first.file.as_ref(), Some(&file), "{model}");
    assert_eq!(first.body_len as usize, body.len(), "{model}");
    assert!(first.headers.iter().all(|(k, _)| k != "checkCode"));
    replay.shutdown();
}

fn udp_transcript(model: Model) {
    let replay = ReplayPrinter::start(model).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut n = 0;
    for c in replay.captures().captures() {
        if c.channel != Channel::Udp || !c.dest.as_deref().unwrap().starts_with("127.0.0.1:") {
            continue;
        }
        sock.send_to(&c.request, replay.udp()).unwrap();
        let mut buf = [0u8; 2048];
        let (k, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(from, replay.udp());
        assert_eq!(&buf[..k], &c.response[..], "{model} {}", c.name);
        n += 1;
    }
    assert!(n >= 2, "{model}: {n} unicast probes");
}

#[test]
fn every_tcp_capture_replays_byte_exact() {
    std::thread::scope(|s| {
        for m in MODELS {
            s.spawn(move || tcp_transcript(m));
        }
    });
}

#[test]
fn every_http_capture_replays_byte_exact() {
    for m in MODELS {
        http_transcript(m);
    }
}

#[test]
fn every_unicast_discovery_capture_replays_byte_exact() {
    for m in MODELS {
        udp_transcript(m);
    }
}

#[test]
fn state_the_captures_need() {
    let replay = ReplayPrinter::start(Model::Adventurer5M).unwrap();
    let mut s = TcpStream::connect(replay.tcp().unwrap()).unwrap();
    let mut ask = |line: &str, n: usize| {
        s.write_all(line.as_bytes()).unwrap();
        String::from_utf8(read_n(&mut s, n).0).unwrap()
    };
    // Before login every command is refused; without `~` it is the same command.
    assert_eq!(ask("M119\n", 19), "Control failed.\nok\n");
    ask("M601 S1\n", 47);
    // Unknown commands: the M999 shape with the code as sent (no arguments).
    let unknown = "CMD ~M140 Received.\nok\n";
    assert_eq!(ask("~M140 S0\n", unknown.len()), unknown);
    // `/data/` and `0:/user/` arguments as the emulator strips them; an unknown file is the
    // captured "missing" answer.
    let missing = "Error: File not found\nok\n";
    assert_eq!(ask("~M662 /data/nope.gcode\n", missing.len()), missing);
    assert_eq!(ask("~M662 /data/other.gcode\n", missing.len()), missing);
    let served = replay.served();
    let how: Vec<_> = served
        .iter()
        .map(|s| (s.capture.as_deref(), s.matched))
        .collect();
    assert_eq!(
        how,
        [
            (Some("tcp_M115_before_login"), Match::Fallback),
            (Some("tcp_M601_S1"), Match::Exact),
            (Some("tcp_M999_unknown"), Match::Synthesized),
            (Some("tcp_M662_missing"), Match::Normalized),
            (Some("tcp_M662_missing"), Match::Fallback),
        ]
    );
    // A fresh connection has to log in again.
    let mut t = TcpStream::connect(replay.tcp().unwrap()).unwrap();
    t.write_all(b"~M115\n").unwrap();
    assert_eq!(read_n(&mut t, 19).0, b"Control failed.\nok\n");
}

#[test]
fn http_without_a_capture_is_a_404() {
    let replay = ReplayPrinter::start(Model::Adventurer3).unwrap();
    let mut s = TcpStream::connect(replay.http()).unwrap();
    s.write_all(b"POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let got = String::from_utf8(read_to_end(&mut s)).unwrap();
    assert!(got.starts_with("HTTP/1.1 404 Not Found\r\n"), "{got}");
    assert!(got.ends_with("No HTTP endpoint: POST /nothing (legacy TCP-only model)"));
    assert_eq!(replay.served()[0].matched, Match::Synthesized);
}

#[test]
fn creator_5_has_no_tcp_listener() {
    for m in [Model::Creator5, Model::Creator5Pro] {
        let replay = ReplayPrinter::start(m).unwrap();
        assert_eq!(replay.tcp(), None);
        assert_eq!(
            replay.credentials(),
            Some((
                format!("SN-{}", if m == Model::Creator5 { "c5" } else { "c5pro" }),
                format!("CC-{}", if m == Model::Creator5 { "c5" } else { "c5pro" }),
            ))
        );
    }
}
