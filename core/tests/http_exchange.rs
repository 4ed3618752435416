//! `HttpExchange` transcripts (JSON request, upload with and without `100 Continue`, early
//! final response, deadlines, closes) and property tests of the HTTP codecs: chunking
//! independence, upload round trips through a multipart parser, arbitrary bytes.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use flashforge_proto::http::{
    self, Body, Credentials, ExchangeEvent, HttpError, HttpExchange, JobFormat, JobOptions,
    MachineState, Request, ResponseEvent, ResponseParser, Upload, UploadSpec,
};
use flashforge_proto::{HttpConfig, UsageError};
use proptest::prelude::*;

fn creds() -> Credentials {
    Credentials::new("SN0001", "CHECK123").unwrap()
}

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{\"code\":0,\"message\":\"Success\"}";

fn spec(size: u64, expect: bool) -> UploadSpec {
    UploadSpec {
        file_name: "part.gcode".into(),
        file_size: size,
        print_now: true,
        format: JobFormat::Ad5x,
        options: JobOptions::default(),
        expect_continue: expect,
        boundary_seed: 0xDEAD_BEEF,
    }
}

fn done(ex: &mut HttpExchange) -> Result<http::Response, HttpError> {
    loop {
        match ex.poll_event() {
            Some(ExchangeEvent::Done(r)) => return r,
            Some(ExchangeEvent::SendBody) => continue,
            None => panic!("exchange not done"),
        }
    }
}

#[test]
fn detail_round_trip_and_typed_body() {
    let t0 = Instant::now();
    let cfg = HttpConfig::default();
    let mut ex = HttpExchange::new(&Request::Detail, "10.0.0.2:8898", &creds(), &cfg, t0).unwrap();
    assert_eq!(ex.poll_timeout(), Some(t0 + cfg.read_timeout));
    let req = ex.poll_transmit().unwrap();
    assert!(req.starts_with(b"POST /detail HTTP/1.1\r\nHost: 10.0.0.2:8898\r\n"));
    assert!(ex.poll_transmit().is_none());
    let body = br#"{"code":0,"message":"Success","detail":{"pid":36,"status":"printing","printProgress":0.29,"estimatedTime":3600}}"#;
    let wire = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: appliation/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    for b in wire.as_bytes().iter().chain(body.iter()) {
        ex.handle_bytes(std::slice::from_ref(b), t0);
    }
    let r = done(&mut ex).unwrap();
    assert!(ex.connection_reusable(&r));
    let Body::Detail(d) = http::parse_response(ex.response_kind(), &r).unwrap() else {
        panic!()
    };
    let info = d.into_result().unwrap();
    assert_eq!(info.state, MachineState::Printing);
    assert_eq!(info.progress_percent(), 29);
    assert_eq!(info.progress_percent_truncated(), 28);
    assert_eq!(info.completion_in(), Some(Duration::from_secs(3600)));
    assert!(ex.poll_timeout().is_none());
}

#[test]
fn command_deadline_and_close() {
    let t0 = Instant::now();
    let cfg = HttpConfig::default();
    let pause = Request::Control {
        command: http::Control::Job(http::JobAction::Pause),
        model: flashforge_proto::Model::Adventurer5MPro,
    };
    let mut ex = HttpExchange::new(&pause, "h:8898", &creds(), &cfg, t0).unwrap();
    let _ = ex.poll_transmit();
    ex.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-", t0);
    ex.handle_timeout(t0 + Duration::from_secs(4));
    assert!(ex.poll_event().is_none());
    ex.handle_timeout(t0 + cfg.command_timeout);
    assert_eq!(done(&mut ex), Err(HttpError::TimedOut));

    let mut ex = HttpExchange::new(&pause, "h:8898", &creds(), &cfg, t0).unwrap();
    ex.handle_eof(t0);
    assert_eq!(done(&mut ex), Err(HttpError::Closed));

    let mut ex = HttpExchange::new(&pause, "h:8898", &creds(), &cfg, t0).unwrap();
    ex.handle_bytes(
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"code\"",
        t0,
    );
    ex.handle_eof(t0);
    assert_eq!(done(&mut ex), Err(HttpError::Truncated("body")));

    // Non-200 and non-JSON bodies are typed errors, never panics.
    let r = ResponseParser::<32>::new(&cfg)
        .feed(b"HTTP/1.1 500 Internal\r\nContent-Length: 2\r\n\r\nno")
        .unwrap();
    let Some(ResponseEvent::Complete(resp)) = r.event else {
        panic!()
    };
    assert_eq!(
        http::parse_response(http::ResponseKind::Envelope, &resp),
        Err(HttpError::Status(500))
    );
    assert!(matches!(
        http::parse_body(http::ResponseKind::Detail, b"<html>"),
        Err(HttpError::Json(_))
    ));
}

#[test]
fn upload_waits_for_continue_then_streams() {
    let t0 = Instant::now();
    let cfg = HttpConfig::default();
    let file = b"G28\nG1 X10\nM104 S200\n".to_vec();
    let up = Upload::new(&spec(file.len() as u64, true), "h:8898", &creds()).unwrap();
    let mut ex = HttpExchange::upload(up, &cfg, t0);
    let head = ex.poll_transmit().unwrap();
    assert!(head.ends_with(b"\r\n\r\n"));
    assert!(std::str::from_utf8(&head)
        .unwrap()
        .contains("Expect: 100-continue\r\n"));
    // No body before the interim response.
    assert!(ex.poll_event().is_none());
    assert_eq!(
        ex.upload_chunk(&file, t0),
        Err(UsageError::Upload("upload body not expected now"))
    );
    assert_eq!(ex.poll_timeout(), Some(t0 + cfg.continue_timeout));
    ex.handle_bytes(b"HTTP/1.1 100 Continue\r\n\r\n", t0);
    assert_eq!(ex.poll_event(), Some(ExchangeEvent::SendBody));
    let preamble = ex.poll_transmit().unwrap();
    assert!(preamble.starts_with(b"--"));
    ex.upload_chunk(&file[..5], t0).unwrap();
    ex.upload_chunk(&file[5..], t0).unwrap();
    assert_eq!(
        ex.upload_progress(),
        Some((file.len() as u64, file.len() as u64))
    );
    let epilogue = ex.poll_transmit().unwrap();
    assert!(epilogue.ends_with(b"--\r\n"));
    ex.handle_bytes(OK, t0);
    let r = done(&mut ex).unwrap();
    assert!(ex.connection_reusable(&r));
}

#[test]
fn upload_sends_body_when_printer_stays_silent_and_stops_on_early_answer() {
    let t0 = Instant::now();
    let cfg = HttpConfig::default();
    let up = Upload::new(&spec(4, true), "h:8898", &creds()).unwrap();
    let mut ex = HttpExchange::upload(up, &cfg, t0);
    let _ = ex.poll_transmit();
    ex.handle_timeout(t0 + cfg.continue_timeout);
    assert_eq!(ex.poll_event(), Some(ExchangeEvent::SendBody));
    assert!(ex.poll_transmit().unwrap().starts_with(b"--"));
    ex.upload_chunk(b"ab", t0).unwrap();
    // The printer rejects the upload before the body is complete (wrong check code).
    ex.handle_bytes(
        b"HTTP/1.1 200 OK\r\nContent-Length: 35\r\n\r\n{\"code\":3,\"message\":\"Unauthorized\"}",
        t0,
    );
    let r = done(&mut ex).unwrap();
    let Body::Envelope(env) = http::parse_response(ex.response_kind(), &r).unwrap() else {
        panic!()
    };
    assert!(env.into_result().unwrap_err().is_unauthorized());
    // Half a body was sent: the connection must be closed, not reused.
    assert!(!ex.connection_reusable(&r));
    assert!(ex.upload_chunk(b"cd", t0).is_err());

    // A stalled caller fails the upload at the stall deadline.
    let up = Upload::new(&spec(4, false), "h:8898", &creds()).unwrap();
    let mut ex = HttpExchange::upload(up, &cfg, t0);
    assert_eq!(ex.poll_event(), Some(ExchangeEvent::SendBody));
    let _ = ex.poll_transmit();
    ex.handle_timeout(t0 + cfg.upload_stall_timeout);
    assert_eq!(done(&mut ex), Err(HttpError::TimedOut));
}

/// Parse a multipart body the way a server does: returns (file name, file bytes).
fn multipart(body: &[u8], boundary: &str) -> (String, Vec<u8>) {
    let open = format!("--{boundary}\r\n");
    assert!(body.starts_with(open.as_bytes()));
    let rest = &body[open.len()..];
    let end_of_headers = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let headers = std::str::from_utf8(&rest[..end_of_headers]).unwrap();
    let name = headers
        .split("filename=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(headers.contains("name=\"gcodeFile\""));
    let data = &rest[end_of_headers + 4..];
    let close = format!("\r\n--{boundary}");
    let pos = data
        .windows(close.len())
        .position(|w| w == close.as_bytes())
        .unwrap();
    assert_eq!(&data[pos + close.len()..], b"--\r\n");
    (name, data[..pos].to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// An upload framed by the core and parsed back yields exactly the original bytes, for any
    /// file and any chunking, and Content-Length is exact.
    #[test]
    fn upload_round_trip(
        file in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(1usize..700, 0..12),
        seed in any::<u64>(),
    ) {
        let t0 = Instant::now();
        let mut s = spec(file.len() as u64, false);
        s.boundary_seed = seed;
        let up = Upload::new(&s, "h:8898", &creds()).unwrap();
        let boundary = up.boundary().to_owned();
        let mut ex = HttpExchange::upload(up, &HttpConfig::default(), t0);
        let mut wire = Vec::new();
        wire.extend(ex.poll_transmit().unwrap());
        let mut rest = &file[..];
        for c in cuts {
            if rest.is_empty() { break; }
            let n = c.min(rest.len());
            ex.upload_chunk(&rest[..n], t0).unwrap();
            wire.extend_from_slice(&rest[..n]);
            wire.extend(ex.poll_transmit().unwrap_or_default());
            rest = &rest[n..];
        }
        if rest.is_empty() {
            ex.finish_upload(t0).unwrap();
        } else {
            ex.upload_chunk(rest, t0).unwrap();
            wire.extend_from_slice(rest);
        }
        wire.extend(ex.poll_transmit().unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head_len) = req.parse(&wire).unwrap() else { panic!() };
        let cl: usize = req.headers.iter().find(|h| h.name == "Content-Length")
            .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap()).unwrap();
        prop_assert_eq!(cl, wire.len() - head_len);
        let (name, data) = multipart(&wire[head_len..], &boundary);
        prop_assert_eq!(name, "part.gcode");
        prop_assert_eq!(data, file);
    }

    /// Any chunking of a chunked response (splits inside size lines, extensions, CRLFs) gives
    /// the same body as Content-Length framing.
    #[test]
    fn chunked_any_split(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        pieces in proptest::collection::vec(1usize..300, 1..10),
        splits in proptest::collection::vec(1usize..50, 1..40),
    ) {
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
        let mut rest = &body[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = pieces[i % pieces.len()].min(rest.len());
            wire.extend_from_slice(format!("{n:x}; name=\"v\"\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        wire.extend_from_slice(b"0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
        let mut p: ResponseParser = ResponseParser::new(&HttpConfig::default());
        let mut events = Vec::new();
        let mut at = 0;
        let mut k = 0;
        while at < wire.len() {
            let end = (at + splits[k % splits.len()]).min(wire.len());
            k += 1;
            let mut input = &wire[at..end];
            while !input.is_empty() {
                let pr = p.feed(input).unwrap();
                input = &input[pr.consumed..];
                events.extend(pr.event);
            }
            at = end;
        }
        prop_assert_eq!(events.len(), 2);
        let ResponseEvent::Complete(r) = &events[0] else { panic!() };
        prop_assert_eq!(&r.body, &body);
        let ResponseEvent::Complete(r) = &events[1] else { panic!() };
        prop_assert_eq!(r.status, 204);
    }

    /// Arbitrary bytes never panic, never buffer beyond the bounds, and always consume input
    /// or report an event.
    #[test]
    fn arbitrary_bytes_are_bounded(
        prefix in prop_oneof![Just(b"HTTP/1.1 200 OK\r\n".to_vec()), Just(Vec::new()),
                              Just(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec())],
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        split in 1usize..64,
    ) {
        let mut cfg = HttpConfig::default();
        cfg.max_head_bytes = 512;
        cfg.max_body_bytes = 1024;
        let mut p: ResponseParser<8> = ResponseParser::new(&cfg);
        let mut wire = prefix;
        wire.extend_from_slice(&data);
        'outer: for piece in wire.chunks(split) {
            let mut input = piece;
            while !input.is_empty() {
                match p.feed(input) {
                    Ok(pr) => {
                        prop_assert!(pr.consumed > 0 || pr.event.is_some());
                        if let Some(ResponseEvent::Complete(r)) = &pr.event {
                            prop_assert!(r.body.len() <= 1024);
                        }
                        input = &input[pr.consumed..];
                    }
                    Err(_) => break 'outer,
                }
            }
        }
        let _ = p.finish();
        // The JSON models take any bytes too.
        for kind in [http::ResponseKind::Detail, http::ResponseKind::Product,
                     http::ResponseKind::GcodeList, http::ResponseKind::GcodeThumb,
                     http::ResponseKind::Envelope, http::ResponseKind::Image] {
            let _ = http::parse_body(kind, &data);
        }
    }
}
