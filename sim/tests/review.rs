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
