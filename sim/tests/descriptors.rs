//! A served connection costs the simulator one descriptor and no polling: a farm of 10,000
//! printers with a client connection each must fit a 20,000-descriptor limit, and 10,000 idle
//! connection threads must not wake twenty times a second. (Its own test binary: it counts the
//! process's descriptors.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_sim::{PrinterSpec, SimServer};

/// The tests of this file count the process's descriptors: one at a time (`cargo test` runs
/// tests of a binary in parallel threads).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The connection thread's wake-ups, from its `/proc` entry (voluntary context switches).
fn conn_thread_switches() -> Option<u64> {
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = t.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == "sim-http-conn" {
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            return status
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        }
    }
    None
}

fn product(s: &mut TcpStream, h: &flashforge_sim::SimHandle) {
    let body = format!(
        "{{\"serialNumber\":\"{}\",\"checkCode\":\"{}\"}}",
        h.serial(),
        h.check_code()
    );
    write!(
        s,
        "POST /product HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
}

#[test]
fn a_connection_costs_one_descriptor_and_sleeps_until_traffic() {
    let _serial = serial();
    let base = open_fds();
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let h = server.printer().clone();
    let before = open_fds();
    let mut c = TcpStream::connect(h.http.unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    product(&mut c, &h);
    // The client's socket and the server's: nothing duplicated.
    assert_eq!(open_fds(), before + 2, "descriptors per served connection");

    // Idle for a second: the serving thread stays asleep (it used to wake every 50 ms).
    let s0 = conn_thread_switches().expect("the connection's thread");
    std::thread::sleep(Duration::from_secs(1));
    let s1 = conn_thread_switches().expect("the connection's thread");
    assert!(
        s1 - s0 <= 2,
        "an idle connection thread woke {} times in 1 s",
        s1 - s0
    );
    product(&mut c, &h);

    // Shutdown ends the blocked read at once, not at a poll or read timeout.
    let t = Instant::now();
    server.shutdown();
    // Bounded generously for a loaded machine; the EOF below is what shows the socket was shut.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).unwrap(), 0, "the connection was closed");
    drop(c);
    assert_eq!(open_fds(), base, "every descriptor of the server is closed");
}

#[test]
fn connections_past_the_cap_are_closed_and_a_freed_slot_serves_again() {
    let _serial = serial();
    let mut config = flashforge_sim::ServerConfig::default();
    config.max_connections = 4;
    let server = SimServer::start(vec![PrinterSpec::new(Model::Adventurer5M)], &config).unwrap();
    let h = server.printer().clone();
    let open = || {
        let c = TcpStream::connect(h.http.unwrap()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    };
    let mut served: Vec<TcpStream> = (0..4).map(|_| open()).collect();
    for c in &mut served {
        product(c, &h);
    }
    // The fifth is closed without an answer.
    let mut fifth = open();
    let _ = fifth.write_all(b"POST /product HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    let mut buf = [0u8; 64];
    assert!(
        matches!(fifth.read(&mut buf), Ok(0) | Err(_)),
        "past the cap: closed"
    );
    // A freed slot is served again (the thread's end is not instant: retry for a while).
    drop(served.pop());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = open();
        let body = format!(
            "{{\"serialNumber\":\"{}\",\"checkCode\":\"{}\"}}",
            h.serial(),
            h.check_code()
        );
        let req = format!(
            "POST /product HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = c.write_all(req.as_bytes());
        if matches!(c.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 200")) {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never served");
        std::thread::sleep(Duration::from_millis(20));
    }
}
