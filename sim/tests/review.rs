//! Hostile inputs found in review: each test failed (hung, panicked) before its fix.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_sim::{PrinterSpec, SimPrinter, SimServer, StateChange, Status};

/// Runs `f` on its own thread; panics if it has not finished within a generous bound (a hang
/// shows as this failure instead of a stuck test run).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{what}: no result ({e})"))
}

/// `skip(Duration::MAX)` used to loop forever: past 2^53 s, `secs - 1.0 == secs`. 1e9 s
/// (the control API's limit) was a billion 1 s slices under the printer lock.
#[test]
fn skipping_huge_durations_ends_and_completes_the_job() {
    for d in [
        Duration::from_secs(1_000_000_000),
        Duration::from_secs_f64(1.0e15),
        Duration::MAX,
    ] {
        let status = within(&format!("skip {d:?}"), move || {
            let mut p = SimPrinter::new(PrinterSpec::new(Model::Adventurer5M), Instant::now());
            p.apply(StateChange::Printing {
                file: "cube.gcode".into(),
                progress: 0.1,
            })
            .unwrap();
            p.skip(d);
            p.skip(d);
            p.status
        });
        assert_eq!(status, Status::Completed, "after {d:?}");
    }
}

/// A skip that is just past the fine slices still heats first, then prints.
#[test]
fn a_long_skip_from_cold_heats_then_prints_to_the_end() {
    let mut p = SimPrinter::new(PrinterSpec::new(Model::Adventurer5M), Instant::now());
    p.apply(StateChange::Printing {
        file: "cube.gcode".into(),
        progress: 0.0,
    })
    .unwrap();
    p.skip(Duration::from_secs(30 * 24 * 3600));
    assert_eq!(p.status, Status::Completed);
}

fn control() -> (SimServer, SocketAddr) {
    let mut server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let addr = server
        .start_control("127.0.0.1:0".parse().unwrap())
        .unwrap();
    (server, addr)
}

fn get_printers(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /printers HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

/// A client dripping its head a byte per second used to hold its thread for as long as it
/// liked (each byte restarted the 10 s idle timeout); now the whole head has 10 s.
#[test]
fn a_dripping_control_client_is_dropped_and_others_are_served() {
    let (server, addr) = control();
    let drip = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(900)))
            .unwrap();
        let mut one = [0u8; 1];
        // 40 drips at most; the server must close well before (after ~10 s).
        for b in b"GET /printers HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if s.write_all(&[*b]).is_err() {
                return true;
            }
            // EOF or any answer: the server let go. A timeout: it still waits.
            if s.read(&mut one).is_ok() {
                return true;
            }
        }
        false
    });
    assert!(get_printers(addr).starts_with("HTTP/1.1 200"));
    assert!(
        drip.join().unwrap(),
        "the dripping client was never dropped"
    );
    server.shutdown();
}

/// Connections are bounded: past MAX_CONTROL_CONNECTIONS idle ones, a new one gets 503 at
/// once instead of one more thread; when they go, requests are served again.
#[test]
fn control_connections_are_bounded() {
    let (server, addr) = control();
    let idle: Vec<TcpStream> = (0..flashforge_sim::MAX_CONTROL_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let reply = within("503 past the bound", move || get_printers(addr));
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    drop(idle);
    let reply = within("served again", move || loop {
        let r = get_printers(addr);
        if r.starts_with("HTTP/1.1 200") {
            return r;
        }
        thread::yield_now();
    });
    assert!(reply.starts_with("HTTP/1.1 200"));
    server.shutdown();
}

/// A small deterministic PRNG (xorshift64*), so the property tests below repeat exactly.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// `seed` with a few random byte edits, insertions, deletions and splices.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..=self.below(8) {
            let at = self.below(v.len() + 1);
            match self.below(5) {
                0 if at < v.len() => v[at] = self.next() as u8,
                1 => v.insert(at, self.next() as u8),
                2 if at < v.len() => {
                    v.remove(at);
                }
                3 => {
                    let from = self.below(seed.len().max(1));
                    let len = self.below(16);
                    let piece: Vec<u8> = seed.iter().skip(from).take(len).copied().collect();
                    v.splice(at..at, piece);
                }
                _ => v.truncate(at),
            }
        }
        v
    }
}

/// Any bytes uploaded as a G-code or 3MF file are inspected without panicking.
#[test]
fn file_inspection_survives_mutated_uploads() {
    let gcode = b"; thumbnail begin 8x8 40\n; iVBORw0KGgoAAAANSUhEUgAAAAgAAAAI\n; thumbnail end\n\
        ; filament used [g] = 12.5\n; filament used [mm] = 4000\n;TIME:3600\nG1 X1\n"
        .to_vec();
    let mut zip =
        b"PK\x03\x04\x14\0\0\0\x08\0\0\0\0\0\0\0\0\0\x10\0\0\0\x20\0\0\0\x0a\0\0\0Metadata/x"
            .to_vec();
    zip.extend_from_slice(b"\x4b\x4c\x4a\x06\0PK\x01\x02\x14\0\x14\0\0\0\x08\0");
    zip.extend_from_slice(&[0u8; 30]);
    zip.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0\x30\0\0\0\0\0");
    let xml =
        b"<config><plate><metadata key=\"weight\" value=\"1e309\"/></plate></config>".to_vec();
    let seeds: [(&str, Vec<u8>); 3] = [("a.gcode", gcode), ("b.3mf", zip), ("c.3mf", xml)];
    let mut rng = Rng(0x5EED_F11E);
    for i in 0..20_000 {
        let (name, seed) = &seeds[i % seeds.len()];
        let data = rng.mutate(seed);
        let f = flashforge_sim::StoredFile::new(name, &data, 1 << 20);
        let _ = (
            f.meta.weight_g(),
            f.meta.length_mm(),
            f.thumbnail_or_default().len(),
        );
    }
}

/// Any text parses to a rule or an error, and a parsed rule prints as text that parses back
/// to the same rule.
#[test]
fn fault_rules_parse_any_text_and_round_trip() {
    let seeds = [
        "http-busy",
        "http-busy:once@/detail",
        "tcp-stall:3@~M105",
        "http-refuse-503:18446744073709551615",
        "http-stall-upload-99999999999999999999",
        "tcp-delay-4294967296-18446744073709551616",
        "http-early-success:0@ @",
    ];
    let mut rng = Rng(0xFA17);
    let mut parsed = 0;
    for i in 0..100_000 {
        let bytes = rng.mutate(seeds[i % seeds.len()].as_bytes());
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(rule) = text.parse::<flashforge_sim::FaultRule>() {
            let printed = rule.to_string();
            let again: flashforge_sim::FaultRule = printed
                .parse()
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
            assert_eq!(again.to_string(), printed, "from {text:?}");
            let json = rule.to_json();
            let back = flashforge_sim::FaultRule::from_json(&json)
                .unwrap_or_else(|e| panic!("{text:?} as JSON {json} fails: {e}"));
            assert_eq!(back.to_string(), printed, "JSON of {text:?}");
            parsed += 1;
        }
    }
    assert!(
        parsed > 1000,
        "only {parsed} texts parsed: the seeds are not rules"
    );
}

fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

/// `+2` was taken as 2 and of two differing lengths the first won silently; both are 400
/// now, while repeats that agree are accepted.
#[test]
fn odd_content_lengths_are_refused() {
    let (server, addr) = control();
    for head in [
        "Content-Length: +2\r\n",
        "Content-Length: 2\r\nContent-Length: 5\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: 99999999999999999999999\r\n",
        "Content-Length: 2x\r\n",
        "Content-Length: \r\n",
    ] {
        let req = format!("POST /reset HTTP/1.1\r\nHost: x\r\n{head}\r\n{{}}");
        let reply = raw(addr, req.as_bytes());
        assert!(reply.starts_with("HTTP/1.1 400"), "{head:?}: {reply}");
    }
    let ok = raw(
        addr,
        b"POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n{}",
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    server.shutdown();
}
