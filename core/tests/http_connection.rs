//! `HttpConnection`, one lane's connection cycle, on a virtual clock: keep-alive reuse,
//! must-close (`Connection: close`, bytes after the response, an idle connection that speaks or
//! closes), the one retry of a read on a stale kept-alive connection (never a command), uploads
//! on a fresh connection, deadlines, and an abandoned request.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use flashforge_proto::driver::{HttpConnection, HttpEvent, Lanes};
use flashforge_proto::http::{
    Body, Control, Credentials, HttpError, JobFormat, JobOptions, Request, UploadSpec,
};
use flashforge_proto::{HttpConfig, Model};

const HOST: &str = "10.0.0.2:8898";
const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{\"code\":0,\"message\":\"Success\"}";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 30\r\n\r\n{\"code\":0,\"message\":\"Success\"}";

#[test]
fn kept_alive_connection_carries_the_next_request() {
    let (mut conn, t0) = lane();
    start(&mut conn, &Request::Product, t0);
    assert_eq!(events(&mut conn), [HttpEvent::Connect]);
    conn.handle_connected(t0);
    assert!(sent(&mut conn).starts_with(b"POST /product "));
    conn.handle_bytes(OK, t0);
    assert_done_ok(&events(&mut conn));
    assert!(conn.is_open() && !conn.is_busy());

    // The next request goes out at once on the same socket: no Connect, no Close.
    start(&mut conn, &Request::Product, t0 + secs(1));
    assert!(sent(&mut conn).starts_with(b"POST /product "));
    assert_eq!(events(&mut conn), []);
    conn.handle_bytes(OK, t0 + secs(1));
    assert_done_ok(&events(&mut conn));
}

#[test]
fn connection_close_makes_the_connection_must_close() {
    let (mut conn, t0) = answered(OK_CLOSE);
    assert!(!conn.is_open());
    start(&mut conn, &Request::Product, t0);
    assert_eq!(events(&mut conn), [HttpEvent::Connect]);
}

#[test]
fn body_delimited_by_the_close_is_must_close() {
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Product, t0);
    conn.handle_bytes(
        b"HTTP/1.1 200 OK\r\n\r\n{\"code\":0,\"message\":\"Success\"}",
        t0,
    );
    conn.handle_eof(t0);
    let ev = events(&mut conn);
    assert_eq!(ev[0], HttpEvent::Close);
    assert_done_ok(&ev);
}

#[test]
fn bytes_after_the_response_make_the_connection_must_close() {
    let mut wire = OK.to_vec();
    wire.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Product, t0);
    conn.handle_bytes(&wire, t0);
    let ev = events(&mut conn);
    assert_eq!(ev[0], HttpEvent::Close);
    assert_done_ok(&ev);
    assert!(!conn.is_open());
}

#[test]
fn bytes_on_an_idle_connection_make_it_must_close() {
    let (mut conn, t0) = answered(OK);
    conn.handle_bytes(b"HTTP/1.1 408 Request Timeout\r\n", t0);
    assert_eq!(events(&mut conn), [HttpEvent::Close]);
    start(&mut conn, &Request::Product, t0);
    assert_eq!(events(&mut conn), [HttpEvent::Connect]);
}

#[test]
fn idle_connection_closed_by_the_printer_is_replaced_without_a_retry() {
    let (mut conn, t0) = answered(OK);
    conn.handle_eof(t0);
    assert_eq!(events(&mut conn), [HttpEvent::Close]);
    start(&mut conn, &Request::Detail, t0);
    assert_eq!(events(&mut conn), [HttpEvent::Connect]);
}

/// The driver looks for a close on an idle kept-alive socket before a command only (a read is
/// sent again once instead); never on a new lane, a closed one, or with a request running.
#[test]
fn a_command_on_an_idle_kept_alive_connection_is_probed_first() {
    let command = Request::Control {
        command: Control::Light(true),
        model: Model::Adventurer5M,
    };
    let (fresh, _) = lane();
    assert!(!fresh.probe_before(&command), "no socket yet");
    let (mut conn, t0) = answered(OK);
    assert!(conn.probe_before(&command));
    assert!(
        !conn.probe_before(&Request::Detail),
        "a read is retried instead"
    );
    start(&mut conn, &Request::Detail, t0);
    assert!(!conn.probe_before(&command), "a request is running");
    let (mut closed, t0) = answered(OK);
    closed.handle_eof(t0);
    assert!(
        !closed.probe_before(&command),
        "closed: the next request connects anyway"
    );
}

#[test]
fn read_on_a_stale_kept_alive_connection_is_sent_once_more_on_a_fresh_one() {
    let (mut conn, t0) = answered(OK);
    start(&mut conn, &Request::Detail, t0);
    let first = sent(&mut conn);
    conn.handle_eof(t0);
    // No outcome yet: the socket is replaced and the same request sent again.
    assert_eq!(events(&mut conn), [HttpEvent::Close, HttpEvent::Connect]);
    assert!(conn.is_busy());
    conn.handle_connected(t0 + secs(1));
    assert_eq!(sent(&mut conn), first);
    conn.handle_bytes(
        &response(r#"{"code":0,"message":"Success","detail":{"pid":36}}"#),
        t0 + secs(1),
    );
    assert!(matches!(
        events(&mut conn)[..],
        [HttpEvent::Done(Ok(Body::Detail(_)))]
    ));
}

#[test]
fn stale_read_is_retried_only_once() {
    let (mut conn, t0) = answered(OK);
    start(&mut conn, &Request::Detail, t0);
    conn.handle_eof(t0);
    assert_eq!(events(&mut conn), [HttpEvent::Close, HttpEvent::Connect]);
    conn.handle_connected(t0);
    conn.handle_eof(t0);
    assert_eq!(
        events(&mut conn),
        [HttpEvent::Close, HttpEvent::Done(Err(HttpError::Closed))]
    );
    assert!(!conn.is_busy());
}

#[test]
fn command_on_a_stale_kept_alive_connection_is_never_retried() {
    let (mut conn, t0) = answered(OK);
    let pause = Request::Control {
        command: Control::Job(flashforge_proto::http::JobAction::Pause),
        model: Model::Adventurer5M,
    };
    start(&mut conn, &pause, t0);
    assert!(!sent(&mut conn).is_empty());
    conn.handle_eof(t0);
    // The printer may have paused: the command fails rather than going out twice.
    assert_eq!(
        events(&mut conn),
        [HttpEvent::Close, HttpEvent::Done(Err(HttpError::Closed))]
    );
}

#[test]
fn read_closed_on_a_fresh_connection_is_not_retried() {
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Detail, t0);
    conn.handle_eof(t0);
    assert_eq!(
        events(&mut conn),
        [HttpEvent::Close, HttpEvent::Done(Err(HttpError::Closed))]
    );
}

#[test]
fn read_cut_inside_the_response_is_not_retried() {
    let (mut conn, t0) = answered(OK);
    start(&mut conn, &Request::Detail, t0);
    conn.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{", t0);
    conn.handle_eof(t0);
    let ev = events(&mut conn);
    assert_eq!(ev[0], HttpEvent::Close);
    assert!(matches!(
        ev[1],
        HttpEvent::Done(Err(HttpError::Truncated(_)))
    ));
    assert_eq!(ev.len(), 2);
}

#[test]
fn deadlines_follow_the_virtual_clock() {
    let cfg = HttpConfig::default();
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Detail, t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + cfg.read_timeout));
    conn.handle_timeout(t0 + cfg.read_timeout - Duration::from_millis(1));
    assert_eq!(events(&mut conn), []);
    conn.handle_timeout(t0 + cfg.read_timeout);
    assert_eq!(
        events(&mut conn),
        [HttpEvent::Close, HttpEvent::Done(Err(HttpError::TimedOut))]
    );
    assert_eq!(conn.poll_timeout(), None);
    // Time going backwards is clamped, never a panic.
    conn.handle_timeout(t0);
}

#[test]
fn a_request_that_cannot_be_encoded_opens_no_connection() {
    let (mut conn, t0) = lane();
    let creds = Credentials::new("SN0001", "CHECK123").unwrap();
    assert!(conn
        .start(&Request::Detail, "bad\r\nhost", &creds, t0)
        .is_err());
    assert_eq!(events(&mut conn), []);
    assert!(!conn.is_open() && !conn.is_busy());
}

#[test]
fn an_error_status_fails_the_request_and_keeps_the_connection() {
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Detail, t0);
    conn.handle_bytes(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
        t0,
    );
    assert_eq!(
        events(&mut conn),
        [HttpEvent::Done(Err(HttpError::Status(500)))]
    );
    assert!(conn.is_open());
    start(&mut conn, &Request::Detail, t0);
    assert_eq!(events(&mut conn), []);
}

#[test]
fn an_upload_that_cannot_be_framed_opens_no_connection() {
    let (mut conn, t0) = lane();
    let spec = UploadSpec {
        file_name: "../part.gcode".into(),
        file_size: 1,
        print_now: false,
        format: JobFormat::Ad5x,
        options: JobOptions::default(),
        expect_continue: false,
        boundary_seed: 7,
    };
    let creds = Credentials::new("SN0001", "CHECK123").unwrap();
    assert!(conn.start_upload(&spec, HOST, &creds, t0).is_err());
    assert_eq!(events(&mut conn), []);
}

#[test]
fn upload_gets_a_fresh_connection_and_closes_it() {
    let (mut conn, t0) = answered(OK);
    let file = b"G28\nG1 X10\n";
    start_upload(&mut conn, file.len() as u64, t0);
    let ev = events(&mut conn);
    assert_eq!(ev, [HttpEvent::Close, HttpEvent::Connect]);
    conn.handle_connected(t0);
    assert_eq!(events(&mut conn), [HttpEvent::SendBody]);
    assert!(sent(&mut conn).starts_with(b"POST /uploadGcode "));
    assert_eq!(conn.next_chunk_len(4), Some(4));
    conn.upload_chunk(&file[..4], t0).unwrap();
    assert_eq!(conn.next_chunk_len(64), Some(file.len() - 4));
    conn.upload_chunk(&file[4..], t0).unwrap();
    assert_eq!(conn.next_chunk_len(64), None);
    assert_eq!(conn.upload_progress(), Some((11, 11)));
    conn.finish_upload(t0).unwrap();
    assert!(sent(&mut conn).ends_with(b"--\r\n"));
    conn.handle_bytes(OK, t0);
    let ev = events(&mut conn);
    assert_eq!(ev[0], HttpEvent::Close);
    assert_done_ok(&ev);
}

#[test]
fn early_final_answer_ends_the_upload_body() {
    let (mut conn, t0) = lane();
    start_upload(&mut conn, 1 << 20, t0);
    conn.handle_connected(t0);
    let _ = (events(&mut conn), sent(&mut conn));
    conn.upload_chunk(&[b'G'; 1024], t0).unwrap();
    conn.handle_bytes(&response(r#"{"code":1,"message":"busy"}"#), t0);
    assert_eq!(conn.next_chunk_len(4096), None);
    conn.finish_upload(t0).unwrap();
    let ev = events(&mut conn);
    assert_eq!(ev[0], HttpEvent::Close);
    assert!(matches!(ev[1], HttpEvent::Done(Ok(Body::Envelope(_)))));
}

#[test]
fn a_success_before_the_whole_body_is_a_protocol_error() {
    // Mid-body: the printer cannot have the file it confirms (issue 14 point 3).
    let (mut conn, t0) = lane();
    start_upload(&mut conn, 1 << 20, t0);
    conn.handle_connected(t0);
    let _ = (events(&mut conn), sent(&mut conn));
    conn.upload_chunk(&[b'G'; 1024], t0).unwrap();
    conn.handle_bytes(OK, t0);
    assert_eq!(conn.next_chunk_len(4096), None);
    conn.finish_upload(t0).unwrap();
    let ev = events(&mut conn);
    assert_eq!(ev[0], HttpEvent::Close);
    assert_eq!(
        ev[1],
        HttpEvent::Done(Err(HttpError::EarlySuccess {
            sent: 1024,
            total: 1 << 20
        }))
    );
    assert!(!conn.is_busy());

    // Before any body byte.
    let (mut conn, t0) = lane();
    start_upload(&mut conn, 10, t0);
    conn.handle_connected(t0);
    let _ = (events(&mut conn), sent(&mut conn));
    conn.handle_bytes(OK, t0);
    let ev = events(&mut conn);
    assert_eq!(
        ev.last(),
        Some(&HttpEvent::Done(Err(HttpError::EarlySuccess {
            sent: 0,
            total: 10
        })))
    );

    // The same answer after the whole body is the success.
    let (mut conn, t0) = lane();
    start_upload(&mut conn, 10, t0);
    conn.handle_connected(t0);
    let _ = (events(&mut conn), sent(&mut conn));
    conn.upload_chunk(&[b'G'; 10], t0).unwrap();
    conn.finish_upload(t0).unwrap();
    assert!(sent(&mut conn).ends_with(b"--\r\n"));
    conn.handle_bytes(OK, t0);
    assert_done_ok(&events(&mut conn));
}

#[test]
fn starting_over_an_unfinished_request_closes_its_connection() {
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Detail, t0);
    // The caller went away; its response may still arrive on this socket.
    start(&mut conn, &Request::Product, t0);
    assert_eq!(events(&mut conn), [HttpEvent::Close, HttpEvent::Connect]);
    conn.handle_connected(t0);
    assert!(sent(&mut conn).starts_with(b"POST /product "));
}

#[test]
fn reads_and_commands_have_a_connection_each() {
    let lanes: Lanes<std::cell::Cell<u32>> = Lanes::default();
    let pause = Request::Control {
        command: Control::Job(flashforge_proto::http::JobAction::Pause),
        model: Model::Adventurer5M,
    };
    for req in [
        &Request::Detail,
        &Request::GcodeList,
        &pause,
        &Request::Product,
    ] {
        let slot = lanes.for_request(req);
        slot.set(slot.get() + 1);
    }
    let counts: Vec<u32> = lanes.iter().map(|c| c.get()).collect();
    // [commands, reads]: a slow `/detail` never sits in front of a `pause`.
    assert_eq!(counts, [2, 2]);
    assert!(std::ptr::eq(
        lanes.for_request(&Request::Detail),
        lanes.for_request(&Request::GcodeList)
    ));
    assert!(!std::ptr::eq(
        lanes.for_request(&Request::Detail),
        lanes.for_request(&pause)
    ));
}

// ---- helpers ----

fn response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn lane() -> (HttpConnection, Instant) {
    (HttpConnection::new(&HttpConfig::default()), Instant::now())
}

fn start(conn: &mut HttpConnection, req: &Request, now: Instant) {
    let creds = Credentials::new("SN0001", "CHECK123").unwrap();
    conn.start(req, HOST, &creds, now).unwrap();
}

/// `req` started on a fresh connection, its bytes written.
fn connected(conn: &mut HttpConnection, req: &Request, now: Instant) {
    start(conn, req, now);
    assert_eq!(events(conn), [HttpEvent::Connect]);
    conn.handle_connected(now);
    assert!(!sent(conn).is_empty());
}

/// A lane whose first request was answered with `response`.
fn answered(response: &[u8]) -> (HttpConnection, Instant) {
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Product, t0);
    conn.handle_bytes(response, t0);
    assert_done_ok(&events(&mut conn));
    (conn, t0)
}

fn events(conn: &mut HttpConnection) -> Vec<HttpEvent> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn sent(conn: &mut HttpConnection) -> Vec<u8> {
    std::iter::from_fn(|| conn.poll_transmit())
        .flatten()
        .collect()
}

fn assert_done_ok(events: &[HttpEvent]) {
    assert!(
        matches!(events.last(), Some(HttpEvent::Done(Ok(_)))),
        "{events:?}"
    );
}

fn start_upload(conn: &mut HttpConnection, size: u64, now: Instant) {
    let spec = UploadSpec {
        file_name: "part.gcode".into(),
        file_size: size,
        print_now: false,
        format: JobFormat::Ad5x,
        options: JobOptions::default(),
        expect_continue: false,
        boundary_seed: 7,
    };
    let creds = Credentials::new("SN0001", "CHECK123").unwrap();
    conn.start_upload(&spec, HOST, &creds, now).unwrap();
}

#[test]
fn a_repeated_request_reuses_its_encoding_and_new_credentials_re_encode() {
    let (mut conn, t0) = lane();
    connected(&mut conn, &Request::Detail, t0);
    conn.handle_bytes(&response(r#"{"code":0,"message":"Success"}"#), t0);
    let _ = events(&mut conn);
    start(&mut conn, &Request::Detail, t0);
    let again = sent(&mut conn);
    // The same bytes as a freshly encoded request.
    let mut fresh = Vec::new();
    let creds = Credentials::new("SN0001", "CHECK123").unwrap();
    Request::Detail.encode(HOST, &creds, &mut fresh).unwrap();
    assert_eq!(again, fresh);
    conn.handle_bytes(&response(r#"{"code":0,"message":"Success"}"#), t0);
    let _ = events(&mut conn);
    // Other credentials: encoded anew.
    let other = Credentials::new("SN0002", "OTHER456").unwrap();
    conn.start(&Request::Detail, HOST, &other, t0).unwrap();
    let body = String::from_utf8(sent(&mut conn)).unwrap();
    assert!(
        body.contains("SN0002") && body.contains("OTHER456"),
        "{body}"
    );
}

#[test]
fn debug_of_a_connection_never_shows_the_check_code() {
    let (mut conn, t0) = lane();
    start(&mut conn, &Request::Detail, t0);
    conn.handle_connected(t0);
    // Before and after the bytes are taken: the job, the exchange and the cache hold them.
    let code_bytes = format!("{:?}", b"CHECK123".to_vec());
    let inner = code_bytes.trim_matches(|c| c == '[' || c == ']');
    for dump in [format!("{conn:?}"), {
        let _ = sent(&mut conn);
        format!("{conn:?}")
    }] {
        assert!(!dump.contains("CHECK123"), "{dump}");
        assert!(!dump.contains(inner), "the check code as bytes: {dump}");
    }
}
