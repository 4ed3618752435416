//! Clients that misbehave against the server: a head that never ends, more connections than
//! allowed, an upload whose sender stops. Each is cut off at its bound and the server keeps
//! serving.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use flashforge_proto::Model;

fn limits(c: &mut flashforge_serve::Config) {
    c.interval = Duration::from_millis(300);
    c.limits.max_connections = 8;
    c.limits.head_timeout = Duration::from_millis(500);
    c.limits.stall = Duration::from_millis(700);
}

/// Reads until EOF or `limit`; whether the server closed the connection, and when.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(t0.elapsed()),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_never_ends_is_cut_off() {
    let f = start_with(&[Model::Adventurer5M], limits).await;
    let addr = f.addr;
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /api/v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .unwrap();
        let took = closed_within(&mut s, Duration::from_secs(20)).expect("closed by the server");
        assert!(took >= Duration::from_millis(400), "{took:?}");
        // And the server still answers.
        assert_eq!(request(addr, "GET", "/", None, None).status, 200);
    })
    .await
    .unwrap();
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_bound_are_closed_at_once() {
    let f = start_with(&[Model::Adventurer5M], |c| {
        limits(c);
        c.limits.head_timeout = Duration::from_secs(30);
    })
    .await;
    let addr = f.addr;
    tokio::task::spawn_blocking(move || {
        // Eight event streams hold all eight slots.
        let held: Vec<_> = (0..8)
            .map(|_| Events::open(addr, "/api/v1/events", Some(&bearer())))
            .collect();
        let mut extra = TcpStream::connect(addr).unwrap();
        let _ = extra.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let took = closed_within(&mut extra, Duration::from_secs(20)).expect("refused");
        assert!(took < Duration::from_secs(10), "{took:?}");
        // No stream was closed to make room: each still delivers events.
        let mut held = held;
        for e in &mut held {
            let deadline = Instant::now() + Duration::from_secs(20);
            assert!(e.next(deadline).is_some(), "a held stream ended");
        }
        drop(held);
        // Slots come back when the streams close.
        let t0 = Instant::now();
        loop {
            let ok =
                std::panic::catch_unwind(|| request(addr, "GET", "/", None, None).status == 200)
                    .unwrap_or(false);
            if ok {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "no slot came back");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    f.stop().await;
}

/// Connections that send nothing, or half a head, hold no slot against a client with a request:
/// the oldest idle one is closed to make room, as often as it takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_make_room_for_requests() {
    let f = start_with(&[Model::Adventurer5M], |c| {
        limits(c);
        c.limits.head_timeout = Duration::from_secs(60);
    })
    .await;
    let addr = f.addr;
    tokio::task::spawn_blocking(move || {
        // Three times the bound, half silent and half with half a head.
        let mut idle: Vec<TcpStream> = (0..24)
            .map(|i| {
                let mut s = TcpStream::connect(addr).unwrap();
                if i % 2 == 1 {
                    s.write_all(b"GET /api/v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                        .unwrap();
                }
                s
            })
            .collect();
        // Each new one closed the oldest idle one: the first 16 are gone, the last 8 stand.
        let mut closed = 0;
        for s in idle.iter_mut().take(16) {
            closed += usize::from(closed_within(s, Duration::from_secs(5)).is_some());
        }
        assert_eq!(
            closed, 16,
            "the oldest idle connections were not the ones closed"
        );
        let newest = idle.last_mut().unwrap();
        assert!(
            closed_within(newest, Duration::from_millis(300)).is_none(),
            "the newest connection was closed"
        );
        // And the token holder's requests are all answered.
        for _ in 0..10 {
            let r = request(addr, "GET", "/api/v1/printers", Some(&bearer()), None);
            assert_eq!(r.status, 200);
        }
    })
    .await
    .unwrap();
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_sender_stops_fails_and_frees_the_printer() {
    let f = start_with(&[Model::Adventurer5M], limits).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.server.farm().slots()[0].id.to_string();
    let h = &f.sims.printers()[0];
    let (status, took) = tokio::task::spawn_blocking({
        let id = id.clone();
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(
                s,
                "PUT /api/v1/printers/{id}/files/half.gcode HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: 100000\r\n\r\n",
                bearer()
            )
            .unwrap();
            s.write_all(&[b'G'; 1000]).unwrap();
            let t0 = Instant::now();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            let text = String::from_utf8_lossy(&buf).into_owned();
            (text, t0.elapsed())
        }
    })
    .await
    .unwrap();
    assert!(took < Duration::from_secs(20), "{took:?}");
    // The client's fault, said as such: 408 usage, not a printer timeout.
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(status.contains(r#""kind":"usage""#), "{status}");
    assert!(status.contains("stopped sending"), "{status}");
    let m = tokio::task::spawn_blocking(move || {
        request(addr, "GET", "/metrics", Some(&bearer()), None).text()
    })
    .await
    .unwrap();
    assert!(
        !m.lines()
            .any(|l| l.starts_with("flashforge_printer_errors_total") && !l.ends_with(" 0")),
        "a sender's stall counted as a printer error:\n{m}"
    );
    assert!(
        h.lock().file("half.gcode").is_none(),
        "a partial file is not stored"
    );
    // The printer's upload lane is free again: a whole upload succeeds.
    let t0 = Instant::now();
    loop {
        let r = tokio::task::spawn_blocking({
            let id = id.clone();
            move || {
                request(
                    addr,
                    "PUT",
                    &format!("/api/v1/printers/{id}/files/whole.gcode"),
                    Some(&bearer()),
                    Some(("application/octet-stream", b"G28\nG1 X5\n")),
                )
            }
        })
        .await
        .unwrap();
        if r.status == 201 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{} {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(h.lock().file("whole.gcode").is_some());
    f.stop().await;
}

fn put(addr: std::net::SocketAddr, id: &str, name: &str, body: &[u8]) -> Reply {
    request(
        addr,
        "PUT",
        &format!("/api/v1/printers/{id}/files/{name}"),
        Some(&bearer()),
        Some(("application/octet-stream", body)),
    )
}

/// A client that sends its whole upload and then closes its side (or goes away) while the
/// server still streams to the printer: the lane must be freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_lane_freed_after_client_disconnect() {
    let f = start(&[Model::Adventurer5M], Duration::from_millis(300), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.server.farm().slots()[0].id.to_string();
    let id2 = id.clone();
    tokio::task::spawn_blocking(move || {
        let body = vec![b'G'; 4 << 20];
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "PUT /api/v1/printers/{id2}/files/gone.gcode HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
            bearer(),
            body.len()
        )
        .unwrap();
        s.write_all(&body).unwrap();
        s.shutdown(Shutdown::Both).unwrap();
        drop(s);
    })
    .await
    .unwrap();
    // The body was whole: the printer gets the file even though its sender left.
    let t0 = Instant::now();
    while f.sims.printers()[0].lock().file("gone.gcode").is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the whole file never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t0 = Instant::now();
    let mut last = (0, String::new());
    while t0.elapsed() < Duration::from_secs(15) {
        let a = id.clone();
        let r = tokio::task::spawn_blocking(move || put(addr, &a, "after.gcode", b"G28\n"))
            .await
            .unwrap();
        if r.status == 201 {
            assert!(f.sims.printers()[0].lock().file("after.gcode").is_some());
            f.stop().await;
            return;
        }
        last = (r.status, r.text());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let snap = serde_json::to_string(&f.server.farm().slots()[0].snapshot()).unwrap();
    panic!(
        "upload lane never freed: last {last:?}; snapshot upload: {}",
        &snap[snap.find("\"upload\"").unwrap_or(0)..]
    );
}

/// Same, but the client goes away in the middle of the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_lane_freed_after_client_disconnect_mid_body() {
    let f = start(&[Model::Adventurer5M], Duration::from_millis(300), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.server.farm().slots()[0].id.to_string();
    let id2 = id.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "PUT /api/v1/printers/{id2}/files/gone.gcode HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: 10000000\r\n\r\n",
            bearer(),
        )
        .unwrap();
        s.write_all(&vec![b'G'; 1 << 20]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
    })
    .await
    .unwrap();
    let t0 = Instant::now();
    let mut last = (0, String::new());
    while t0.elapsed() < Duration::from_secs(15) {
        let a = id.clone();
        let r = tokio::task::spawn_blocking(move || put(addr, &a, "after.gcode", b"G28\n"))
            .await
            .unwrap();
        if r.status == 201 {
            assert!(f.sims.printers()[0].lock().file("after.gcode").is_some());
            f.stop().await;
            return;
        }
        last = (r.status, r.text());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("upload lane never freed: last {last:?}");
}

/// With open reads, event streams without the token take at most a quarter of the
/// connections: the rest stay for clients that hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_event_streams_cannot_take_every_slot() {
    let f = start_with(&[Model::Adventurer5M], |c| {
        limits(c);
        c.open_reads = true;
        c.limits.head_timeout = Duration::from_secs(30);
    })
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.server.farm().slots()[0].id.to_string();
    tokio::task::spawn_blocking(move || {
        // 8 connections: 2 anonymous streams.
        let anon: Vec<_> = (0..2)
            .map(|_| Events::open(addr, "/api/v1/events", None))
            .collect();
        let r = request(addr, "GET", "/api/v1/events", None, None);
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["kind"], "resource");
        let r = request(
            addr,
            "GET",
            &format!("/api/v1/printers/{id}/events"),
            None,
            None,
        );
        assert_eq!(r.status, 503);
        // With the token: a stream and an action still get through.
        let authed = Events::open(addr, "/api/v1/events", Some(&bearer()));
        let r = request(
            addr,
            "POST",
            &format!("/api/v1/printers/{id}/led"),
            Some(&bearer()),
            Some(("application/json", br#"{"on":false}"#)),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        // Closing an anonymous stream frees its slot.
        drop(anon);
        let t0 = Instant::now();
        loop {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut head = [0u8; 12];
            let ok = s.read_exact(&mut head).is_ok() && &head[9..12] == b"200";
            if ok {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the slot never came back"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(authed);
    })
    .await
    .unwrap();
    f.stop().await;
}

/// Sends `head` and `body` (then stops), reads the reply to its end: the reply, and whether the
/// server closed the connection after it.
fn send_and_stop(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (Reply, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let closed = s.read_to_end(&mut buf).is_ok();
    (parse_reply(&buf), closed)
}

fn assert_408(what: &str, r: &Reply, closed: bool) {
    assert_eq!(r.status, 408, "{what}: {}", r.text());
    let j = r.json();
    assert_eq!(j["kind"], "usage", "{what}: {j}");
    assert_eq!(j["exit"], 2, "{what}: {j}");
    assert!(
        j["error"]
            .as_str()
            .is_some_and(|e| e.contains("stopped sending its body")),
        "{what}: {j}"
    );
    assert!(closed, "{what}: the connection was not closed");
}

/// A JSON request whose body never completes (a Content-Length it does not fill, a chunked
/// body with no chunk, a body dripped slower than the deadline for all of it) gets a 408
/// after the stall bound, and its connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_that_never_ends_is_cut_off() {
    let f = start_with(&[Model::Adventurer5M], limits).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.server.farm().slots()[0].id.to_string();
    tokio::task::spawn_blocking(move || {
        let head = |framing: &str| {
            format!(
                "POST /api/v1/printers/{id}/led HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n",
                bearer()
            )
        };
        let (r, closed) = send_and_stop(addr, &head("Content-Length: 50"), br#"{"on":true}"#);
        assert_408("a short Content-Length body", &r, closed);
        let (r, closed) = send_and_stop(addr, &head("Transfer-Encoding: chunked"), b"");
        assert_408("a chunked body with no chunk", &r, closed);
        let (r, closed) = send_and_stop(
            addr,
            &head("Transfer-Encoding: chunked"),
            b"b\r\n{\"on\":true}\r\n",
        );
        assert_408("a chunked body with no last chunk", &r, closed);

        // Each byte within the stall bound, the whole far beyond it: the deadline is for
        // the whole body.
        let body = format!("{{\"on\":true{}}}", " ".repeat(48));
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(head(&format!("Content-Length: {}", body.len())).as_bytes())
            .unwrap();
        let mut reader = s.try_clone().unwrap();
        let drip = std::thread::spawn(move || {
            for b in body.bytes() {
                if s.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        reader
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = Vec::new();
        let closed = reader.read_to_end(&mut buf).is_ok();
        assert_408("a dripped body", &parse_reply(&buf), closed);
        drip.join().unwrap();

        // A whole body is served as before.
        let r = request(
            addr,
            "POST",
            &format!("/api/v1/printers/{id}/led"),
            Some(&bearer()),
            Some(("application/json", br#"{"on":false}"#)),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    })
    .await
    .unwrap();
    f.stop().await;
}

/// With open reads, a client without the token that announces a body on a GET and sends it
/// slowly is refused at once: it cannot hold a connection "in progress" (never evicted) and
/// lock the token holder out for the stall time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_with_a_body_is_refused_at_once() {
    let f = start_with(&[Model::Adventurer5M], |c| {
        limits(c);
        c.open_reads = true;
        c.limits.stall = Duration::from_secs(60);
    })
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    tokio::task::spawn_blocking(move || {
        // Three times the connection bound, each holding its connection open after the byte.
        let mut held = Vec::new();
        for _ in 0..24 {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(
                b"GET /api/v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
            )
            .unwrap();
            held.push(s);
        }
        // Each is answered (400) and closed at once, long before the 60 s stall bound (the
        // close may reach the client as a reset, the unread body still in the server's
        // buffer, so only the close is asserted here).
        for s in held.iter_mut() {
            let took = closed_within(s, Duration::from_secs(20)).expect("closed");
            assert!(took < Duration::from_secs(20), "{took:?}");
        }
        // What the refusal says, on a connection that sends the whole announced body.
        let r = request(
            addr,
            "GET",
            "/api/v1/printers",
            None,
            Some(("application/json", b"{}")),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("takes no body"), "{}", r.text());
        // The token holder is served while they are all still open on the client's side.
        for _ in 0..5 {
            let r = request(addr, "GET", "/api/v1/printers", Some(&bearer()), None);
            assert_eq!(r.status, 200);
        }
        drop(held);
    })
    .await
    .unwrap();
    f.stop().await;
}
