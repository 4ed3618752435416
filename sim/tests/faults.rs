//! Every fault switch misbehaves as documented on the wire, and a client (the blocking
//! adapter) recovers from them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flashforge_blocking::{
    Builder, ConnectionEvent, Credentials, Endpoint, Printer, UploadOptions,
};
use flashforge_proto::{ConnectionState, Model};
use flashforge_sim::{HttpFault, PrinterSpec, SimHandle, SimServer, TcpFault};

fn endpoint(h: &SimHandle) -> Endpoint {
    Endpoint::new(h.udp.ip()).with_ports(
        h.tcp.map_or(8899, |a| a.port()),
        h.http.map_or(8898, |a| a.port()),
    )
}

fn logged_in(server: &SimServer) -> TcpStream {
    let mut s = TcpStream::connect(server.printer().tcp.unwrap()).unwrap();
    s.write_all(b"~M601 S1\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("ok"));
    s
}

/// Reads for `window` (or until EOF); returns the bytes and whether the peer closed.
fn read_for(s: &mut TcpStream, window: Duration) -> (Vec<u8>, bool) {
    let end = Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < end {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

#[test]
fn tcp_faults_on_the_wire() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let f = &server.printer().faults;
    let mut s = logged_in(&server);
    s.write_all(b"~M115\n").unwrap();
    let (normal, _) = read_for(&mut s, Duration::from_millis(600));
    assert!(normal.ends_with(b"ok\n"));

    f.push_tcp(TcpFault::Drip(Duration::from_millis(1)));
    s.write_all(b"~M115\n").unwrap();
    let (dripped, _) = read_for(&mut s, Duration::from_millis(1500));
    assert_eq!(dripped, normal, "a dripped reply is the same reply");

    f.push_tcp(TcpFault::Unsolicited);
    s.write_all(b"~M115\n").unwrap();
    let (r, _) = read_for(&mut s, Duration::from_millis(600));
    assert!(r.starts_with(b"echo: unsolicited line\n") && r.ends_with(&normal));

    f.push_tcp(TcpFault::ExtraOk);
    s.write_all(b"~M115\n").unwrap();
    assert_eq!(
        read_for(&mut s, Duration::from_millis(600)).0,
        [&normal[..], b"ok\n"].concat()
    );

    f.push_tcp(TcpFault::Garbage);
    s.write_all(b"~M115\n").unwrap();
    let (r, _) = read_for(&mut s, Duration::from_millis(600));
    assert_eq!(r.len(), 256);
    assert_ne!(r, normal);

    f.push_tcp(TcpFault::Oversize);
    s.write_all(b"~M115\n").unwrap();
    let (r, _) = read_for(&mut s, Duration::from_millis(500));
    assert_eq!(r.len(), 1 << 20);
    assert!(!r.contains(&b'\n'));

    f.push_tcp(TcpFault::Stall);
    s.write_all(b"~M115\n").unwrap();
    assert_eq!(
        read_for(&mut s, Duration::from_millis(300)),
        (Vec::new(), false)
    );

    f.push_tcp(TcpFault::CloseMidReply);
    s.write_all(b"~M115\n").unwrap();
    let (r, closed) = read_for(&mut s, Duration::from_millis(500));
    assert!(closed);
    assert_eq!(r, normal[..normal.len() / 2]);
}

#[test]
fn the_client_recovers_from_a_dropped_connection_and_logs_in_again() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&logins);
    let p = Builder::default()
        .on_connection_event(move |e| {
            if matches!(e, ConnectionEvent::Tcp(ConnectionState::Ready)) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .connect_legacy(endpoint(server.printer()))
        .unwrap();
    assert_eq!(logins.load(Ordering::SeqCst), 1);
    server.printer().faults.push_tcp(TcpFault::CloseMidReply);
    // The query whose connection dropped mid-reply is asked again once after reconnect and
    // re-login (the dropped session still holds the lock until `~M602`, sent by the core's
    // login retry, or the idle timeout).
    let info = p.info().unwrap();
    assert_eq!(info.model, Model::Adventurer5M);
    assert!(logins.load(Ordering::SeqCst) >= 2, "logged in again");
    p.close();
    assert_eq!(server.printer().lock().controller(), None);
}

#[test]
fn the_printer_drops_idle_sessions_and_their_lock() {
    let mut spec = PrinterSpec::new(Model::Adventurer4);
    spec.idle_drop = Duration::from_millis(300);
    let server = SimServer::single(spec).unwrap();
    let mut s = logged_in(&server);
    let (_, closed) = read_for(&mut s, Duration::from_millis(1000));
    assert!(closed, "silent connection closed by the printer");
    let mut other = logged_in(&server); // the lock expired with it
    other.write_all(b"~M602\n").unwrap();
}

#[test]
fn http_faults_become_errors_and_the_next_request_works() {
    let server = SimServer::single(PrinterSpec::new(Model::AD5X)).unwrap();
    let h = server.printer();
    let c = Credentials::new(h.serial(), h.check_code()).unwrap();
    let p = Printer::connect(endpoint(h), c).unwrap();

    for fault in [
        HttpFault::Status(500),
        HttpFault::TruncatedBody,
        HttpFault::NonJson,
        HttpFault::WrongTypes,
    ] {
        h.faults.push_http(fault);
        let r = p.status();
        assert!(r.is_err(), "{fault:?}: {r:?}");
        let ok = p.status();
        assert!(ok.is_ok(), "after {fault:?}: {ok:?}");
    }

    // No `100 Continue`: the client sends the body after its continue timeout anyway.
    h.faults.push_http(HttpFault::NoContinue);
    let mut opts = UploadOptions::default();
    opts.expect_continue = true;
    let t = Instant::now();
    p.upload("quiet.gcode", 4, &b"G28\n"[..], opts, |_| {})
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "the body waited for the continue timeout"
    );
    assert_eq!(h.lock().files["quiet.gcode"].size, 4);
    p.close();
}
