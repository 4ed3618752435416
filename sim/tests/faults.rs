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

/// Writes up to `len` bytes of `G` until the peer stops taking them for `window`; returns the
/// bytes written.
fn write_until_blocked(s: &mut TcpStream, len: usize, window: Duration) -> usize {
    s.set_write_timeout(Some(window)).unwrap();
    let chunk = vec![b'G'; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        match s.write(&chunk[..chunk.len().min(len - sent)]) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    sent
}

/// Writes until the simulator holds its reads and the writes block (a slow simulator thread
/// on a loaded machine only makes this take longer); returns the bytes written.
fn write_until_held(h: &SimHandle, s: &mut TcpStream, len: usize) -> usize {
    let end = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    loop {
        sent += write_until_blocked(s, len - sent, Duration::from_millis(500));
        if h.faults.holding() || sent == len || Instant::now() > end {
            assert!(h.faults.holding(), "the simulator holds its reads");
            return sent;
        }
    }
}

/// `StallUpload(n)` stops reading a legacy upload after `n` file bytes (the socket stays
/// open, so the sender's writes block once the buffers are full) and reads on after
/// `Faults::clear`: the file then completes.
#[test]
fn a_stalled_legacy_upload_holds_its_reads_until_cleared() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer4)).unwrap();
    let h = server.printer();
    let mut s = logged_in(&server);
    let size = 32usize << 20;
    h.faults.push_tcp(TcpFault::StallUpload(1 << 20));
    s.write_all(format!("~M28 {size} 0:/user/raw.gcode\n").as_bytes())
        .unwrap();
    let (reply, _) = read_for(&mut s, Duration::from_millis(300));
    assert!(String::from_utf8_lossy(&reply).contains("ok"), "{reply:?}");
    let sent = write_until_held(h, &mut s, size);
    assert!(sent >= 1 << 20 && sent < size, "blocked after {sent} bytes");
    h.faults.clear();
    let rest = write_until_blocked(&mut s, size - sent, Duration::from_secs(20));
    assert_eq!(sent + rest, size, "reads on after clear");
    s.set_write_timeout(None).unwrap();
    s.write_all(b"~M29\n").unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while !h.lock().files.contains_key("raw.gcode") && Instant::now() < end {
        let _ = read_for(&mut s, Duration::from_millis(50));
    }
    assert_eq!(h.lock().files["raw.gcode"].size, size as u64);
}

/// `StallUpload(n)` on HTTP stops reading the multipart body; `EarlySuccess` answers the
/// upload head with `{"code":0}` before any body byte.
#[test]
fn http_upload_stall_and_early_success_on_the_wire() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let h = server.printer();
    let head = |len: usize| {
        format!(
            "POST /uploadGcode HTTP/1.1\r\nHost: x\r\nserialNumber: {}\r\ncheckCode: {}\r\n\
             fileSize: {len}\r\nprintNow: false\r\nlevelingBeforePrint: false\r\n\
             Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n\
             --B\r\nContent-Disposition: form-data; name=\"gcodeFile\"; filename=\"w.gcode\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            h.serial(),
            h.check_code(),
            len + 200
        )
    };

    h.faults.push_http(HttpFault::EarlySuccess);
    let mut s = TcpStream::connect(h.http.unwrap()).unwrap();
    s.write_all(head(1000).as_bytes()).unwrap();
    let (reply, closed) = read_for(&mut s, Duration::from_secs(2));
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("\"code\":0"),
        "{text}"
    );
    assert!(closed, "closed after the early answer");

    let size = 32usize << 20;
    h.faults.push_http(HttpFault::StallUpload(1 << 20));
    let mut s = TcpStream::connect(h.http.unwrap()).unwrap();
    s.write_all(head(size).as_bytes()).unwrap();
    let sent = write_until_held(h, &mut s, size);
    assert!(sent >= 1 << 20 && sent < size, "blocked after {sent} bytes");
    h.faults.clear();
}
