//! The HTTP session's wire handling, byte for byte: body framing (Content-Length, chunked
//! coding split anywhere, broken chunk sizes), the size limits, keep-alive and pipelining,
//! `100 Continue` and the multipart upload, on the sans-IO [`HttpSession`].

use std::time::Instant;

use flashforge_proto::Model;
use flashforge_sim::{Faults, HttpSession, PrinterSpec, SimPrinter, MAX_HEAD, MAX_JSON_BODY};

fn printer(model: Model) -> SimPrinter {
    SimPrinter::new(PrinterSpec::new(model), Instant::now())
}

/// Feeds `pieces` one `handle_bytes` call each; returns every output byte and whether the
/// session wants to close.
fn exchange(p: &mut SimPrinter, pieces: &[&[u8]]) -> (String, bool) {
    let mut s = HttpSession::new(Faults::default());
    let mut out = Vec::new();
    for piece in pieces {
        s.handle_bytes(p, piece, Instant::now());
        while let Some((b, _)) = s.poll_output() {
            out.extend_from_slice(&b);
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), s.wants_close())
}

fn auth(p: &SimPrinter) -> String {
    format!(
        r#"{{"serialNumber":"{}","checkCode":"{}"}}"#,
        p.spec.serial, p.spec.check_code
    )
}

/// A JSON answer with the firmware's `Content-Type` typo (the simulator's default).
fn ok_reply(body: &str, connection: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: appliation/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
        body.len()
    )
}

const SUCCESS: &str = r#"{"code":0,"message":"Success"}"#;

#[test]
fn content_length_body_split_anywhere_and_pipelined() {
    let mut p = printer(Model::Adventurer5M);
    let body = auth(&p);
    let req = format!(
        "POST /checkCode HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let two = format!("{req}{req}");
    let bytes = two.as_bytes();
    for cut in [1, 10, req.len() - 3, req.len(), req.len() + 5] {
        let (out, close) = exchange(&mut p, &[&bytes[..cut], &bytes[cut..]]);
        assert_eq!(
            out,
            ok_reply(SUCCESS, "keep-alive").repeat(2),
            "cut at {cut}"
        );
        assert!(!close);
    }
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let mut p = printer(Model::AD5X);
    let body = auth(&p);
    let (a, b) = body.split_at(7);
    let req = format!(
        "POST /checkCode HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{a}\r\n{:X}\r\n{b}\r\n0\r\nX-Trailer: 1\r\n\r\n",
        a.len(),
        b.len()
    );
    let bytes = req.as_bytes();
    let whole = exchange(&mut p, &[bytes]);
    assert_eq!(whole, (ok_reply(SUCCESS, "keep-alive"), false));
    let pieces: Vec<&[u8]> = bytes.chunks(3).collect();
    assert_eq!(exchange(&mut p, &pieces), whole, "three bytes at a time");
}

#[test]
fn a_broken_chunk_size_answers_and_closes() {
    let mut p = printer(Model::AD5X);
    let req = b"POST /checkCode HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let (out, close) = exchange(&mut p, &[req]);
    let invalid = r#"{"code":2,"message":"Invalid parameter"}"#;
    assert_eq!(out, ok_reply(invalid, "close"));
    assert!(close);
    let long = [
        &b"POST /checkCode HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        &[b'1'; 1100][..],
    ]
    .concat();
    let (out, close) = exchange(&mut p, &[&long]);
    assert_eq!(
        out,
        ok_reply(invalid, "close"),
        "an endless chunk-size line"
    );
    assert!(close);
}

#[test]
fn limits_bad_requests_and_unknown_paths() {
    let mut p = printer(Model::Adventurer5M);
    let too_big = format!(
        "POST /detail HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_JSON_BODY + 1
    );
    assert_eq!(
        exchange(&mut p, &[too_big.as_bytes()]),
        (
            "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_owned(),
            true
        )
    );
    let chunked_big = format!(
        "POST /detail HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}",
        MAX_JSON_BODY + 1,
        " ".repeat(MAX_JSON_BODY + 1)
    );
    assert!(exchange(&mut p, &[chunked_big.as_bytes()])
        .0
        .starts_with("HTTP/1.1 413 Payload Too Large\r\n"));
    let head = vec![b'a'; MAX_HEAD + 1];
    assert_eq!(
        exchange(&mut p, &[&head]),
        (
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_owned(),
            true
        )
    );
    assert_eq!(
        exchange(&mut p, &[b"\x01\x02 nonsense\r\n\r\n"]),
        (
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
            true
        )
    );
    let html = "<!DOCTYPE html><title>404</title>Not Found";
    let not_found = format!(
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{html}",
        html.len()
    );
    assert_eq!(
        exchange(&mut p, &[b"GET /detail HTTP/1.1\r\n\r\n"]),
        (not_found.clone(), true)
    );
    let body = auth(&p);
    let req = format!(
        "POST /nowhere HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(exchange(&mut p, &[req.as_bytes()]), (not_found, true));
}

fn upload_request(p: &SimPrinter, name: &str, data: &[u8], extra: &str) -> (String, Vec<u8>) {
    let boundary = "----sim-test";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"gcodeFile\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "POST /uploadGcode HTTP/1.1\r\nserialNumber: {}\r\ncheckCode: {}\r\nfileSize: {}\r\n\
         printNow: false\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\n{extra}\r\n",
        p.spec.serial,
        p.spec.check_code,
        data.len(),
        body.len()
    );
    (head, body)
}

#[test]
fn upload_streams_the_file_part_with_and_without_continue() {
    let mut p = printer(Model::Adventurer5MPro);
    // A file that holds most of the boundary marker, to test the tail kept between pieces.
    let data = b"G28\r\n----sim-tesX\r\nG1 X1\n".repeat(50);
    let (head, body) = upload_request(&p, "a.gcode", &data, "Expect: 100-continue\r\n");
    let mut pieces: Vec<&[u8]> = vec![head.as_bytes()];
    pieces.extend(body.chunks(7));
    let (out, close) = exchange(&mut p, &pieces);
    assert_eq!(
        out,
        format!(
            "HTTP/1.1 100 Continue\r\n\r\n{}",
            ok_reply(SUCCESS, "keep-alive")
        )
    );
    assert!(!close);
    assert_eq!(p.files["a.gcode"].data.as_deref(), Some(&data[..]));

    let (head, body) = upload_request(&p, "b.gcode", b"G28\n", "");
    let (out, _) = exchange(&mut p, &[&[head.as_bytes(), &body].concat()]);
    assert_eq!(out, ok_reply(SUCCESS, "keep-alive"));
    assert_eq!(p.files["b.gcode"].size, 4);

    // Wrong credentials: answered at once, before the body, and closed.
    let (head, _) = upload_request(&p, "c.gcode", b"G28\n", "");
    let head = head.replace(&p.spec.check_code, "00000000");
    let (out, close) = exchange(&mut p, &[head.as_bytes()]);
    assert_eq!(
        out,
        ok_reply(r#"{"code":3,"message":"Unauthorized"}"#, "close")
    );
    assert!(close);
}

#[test]
fn upload_of_a_broken_form_or_wrong_size_is_refused() {
    let mut p = printer(Model::Adventurer5M);
    let (head, body) = upload_request(&p, "a/b.gcode", b"G28\n", "");
    let (out, _) = exchange(&mut p, &[&[head.as_bytes(), &body].concat()]);
    assert_eq!(
        out,
        ok_reply(r#"{"code":2,"message":"Invalid parameter"}"#, "keep-alive"),
        "a file name with a slash"
    );
    let (head, body) = upload_request(&p, "x.gcode", b"G28\n", "");
    let head = head.replace("fileSize: 4", "fileSize: 5");
    let (out, _) = exchange(&mut p, &[&[head.as_bytes(), &body].concat()]);
    assert_eq!(
        out,
        ok_reply(r#"{"code":1,"message":"Error"}"#, "keep-alive")
    );
    assert!(!p.files.contains_key("x.gcode"));
}

#[test]
fn connection_close_reads_the_body_then_answers_and_closes() {
    let mut p = printer(Model::Adventurer5M);
    let body = auth(&p);
    let req = format!(
        "POST /checkCode HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let bytes = req.as_bytes();
    let (out, close) = exchange(&mut p, &[bytes]);
    assert_eq!((out, close), (ok_reply(SUCCESS, "close"), true));
    let (out, close) = exchange(&mut p, &[&bytes[..20], &bytes[20..]]);
    assert_eq!(
        (out, close),
        (ok_reply(SUCCESS, "close"), true),
        "in two pieces"
    );

    let (head, form) = upload_request(&p, "c.gcode", b"G28\n", "Connection: close\r\n");
    let (out, close) = exchange(&mut p, &[&[head.as_bytes(), &form].concat()]);
    assert_eq!(
        (out, close),
        (ok_reply(SUCCESS, "close"), true),
        "an upload"
    );
    assert_eq!(p.files["c.gcode"].size, 4);

    // A second pipelined request after `Connection: close` is not read.
    let (out, _) = exchange(&mut p, &[format!("{req}{req}").as_bytes()]);
    assert_eq!(out, ok_reply(SUCCESS, "close"));
}

/// `Connection: close` with the head and the body in separate reads (curl, Python's urllib):
/// the session must not want to close before the body is read and the answer queued.
#[test]
fn connection_close_is_not_wanted_before_the_answer_is_queued() {
    let mut p = printer(Model::Adventurer5M);
    let body = auth(&p);
    let head = format!(
        "POST /detail HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut s = HttpSession::new(Faults::default());
    s.handle_bytes(&mut p, head.as_bytes(), Instant::now());
    assert!(s.poll_output().is_none());
    assert!(!s.wants_close(), "closing before the body is read");
    let (a, b) = body.split_at(5);
    s.handle_bytes(&mut p, a.as_bytes(), Instant::now());
    assert!(!s.wants_close() && s.poll_output().is_none());
    s.handle_bytes(&mut p, b.as_bytes(), Instant::now());
    let (out, _) = s.poll_output().expect("the answer");
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(out.contains(r#""detail":{"#), "{out}");
    assert!(s.wants_close(), "closes once the answer is flushed");
}

/// The same over a socket: each request with `Connection: close`, its head and body sent
/// apart, gets its whole answer and then EOF; HEAD gets the firmware's 404 and EOF.
#[test]
fn connection_close_over_a_socket() {
    use std::io::{Read, Write};
    let server = flashforge_sim::SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let h = server.printer();
    let addr = h.http.unwrap();
    let body = format!(
        r#"{{"serialNumber":"{}","checkCode":"{}"}}"#,
        h.serial(),
        h.check_code()
    );
    let read_all = |c: &mut std::net::TcpStream| {
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).expect("EOF after the answer");
        String::from_utf8_lossy(&out).into_owned()
    };
    for split in [false, true] {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_nodelay(true).unwrap();
        let head = format!(
            "POST /detail HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if split {
            c.write_all(head.as_bytes()).unwrap();
            c.flush().unwrap();
            // Let the head arrive on its own (the order matters, not the time).
            std::thread::yield_now();
            c.write_all(body.as_bytes()).unwrap();
        } else {
            c.write_all(format!("{head}{body}").as_bytes()).unwrap();
        }
        let out = read_all(&mut c);
        assert!(
            out.starts_with("HTTP/1.1 200 OK\r\n"),
            "split {split}: {out:?}"
        );
        let at = out.find("\r\n\r\n").unwrap() + 4;
        let v: serde_json::Value = serde_json::from_str(&out[at..]).expect("whole JSON body");
        assert_eq!(v["code"], 0);
        assert_eq!(v["detail"]["status"], "ready");
    }
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(b"HEAD /detail HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_all(&mut c).starts_with("HTTP/1.1 404 Not Found\r\n"));
    server.shutdown();
}

/// The printer frames a body only by a Content-Length it can trust: digits, and repeats that
/// agree (RFC 9110 §8.6). `+5` and two differing lengths are a 400 and a close, never a guess
/// at where the body ends (the control API reads lengths with the same function).
#[test]
fn odd_content_lengths_are_a_bad_request() {
    let mut p = printer(Model::Adventurer5M);
    let body = auth(&p);
    let n = body.len();
    for lengths in [
        vec![format!("+{n}")],
        vec![format!("{n}"), format!("{}", n + 1)],
        vec!["-1".to_owned()],
        vec![format!("{n}x")],
        vec![String::new()],
        vec!["99999999999999999999999".to_owned()],
    ] {
        let heads: String = lengths
            .iter()
            .map(|l| format!("Content-Length: {l}\r\n"))
            .collect();
        let req = format!("POST /detail HTTP/1.1\r\nHost: x\r\n{heads}\r\n{body}");
        let (out, closed) = exchange(&mut p, &[req.as_bytes()]);
        assert!(out.starts_with("HTTP/1.1 400"), "{lengths:?}: {out}");
        assert!(closed, "{lengths:?}: the connection closes");
    }
    // Repeats that agree are one length.
    let req = format!(
        "POST /detail HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\nContent-Length: {n}\r\n\r\n{body}"
    );
    let (out, _) = exchange(&mut p, &[req.as_bytes()]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}
