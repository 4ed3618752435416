//! The control API: JSON over HTTP/1.1 on its own port, to drive a running simulator from
//! outside (another process, a shell script with `curl`). One request per connection (every
//! response says `Connection: close`); see `CONTROL.md` for the endpoints.
//!
//! ```
//! use flashforge_proto::Model;
//! use flashforge_sim::{PrinterSpec, SimServer};
//! use std::io::{Read, Write};
//!
//! let mut server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
//! let addr = server.start_control("127.0.0.1:0".parse().unwrap()).unwrap();
//! let mut s = std::net::TcpStream::connect(addr).unwrap();
//! s.write_all(b"GET /printers HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
//! let mut reply = String::new();
//! s.read_to_string(&mut reply).unwrap();
//! assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
//! server.shutdown();
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::drive::{status_name, HeaterId, StateChange};
use crate::faults::FaultRule;
use crate::server::{spawn, SimHandle, SimServer};

/// Longest request head.
pub const MAX_CONTROL_HEAD: usize = 16 * 1024;
/// Longest body of a file upload (`PUT /printers/{id}/files/{name}`).
pub const MAX_CONTROL_FILE: usize = 64 * 1024 * 1024;
/// Longest body of any other request.
pub const MAX_CONTROL_BODY: usize = 1024 * 1024;
/// A connection that sends nothing for this long is dropped; also the write timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a blocked read looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// Connections served at once (one thread each); more are answered 503 and closed.
pub const MAX_CONTROL_CONNECTIONS: usize = 64;

/// Reads some bytes, waking every [`POLL`] to look at the shutdown flag; `Ok(0)` when the
/// peer closed, the server stops, nothing came for [`IO_TIMEOUT`], or `deadline` passed.
fn read_some(
    s: &mut TcpStream,
    buf: &mut [u8],
    stop: &AtomicBool,
    deadline: Instant,
) -> io::Result<usize> {
    let end = deadline.min(Instant::now() + IO_TIMEOUT);
    loop {
        if stop.load(Ordering::SeqCst) || Instant::now() >= end {
            return Ok(0);
        }
        match s.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            r => return r,
        }
    }
}

impl SimServer {
    /// Serves the control API on `addr` (port 0: any free port); returns the bound address.
    /// Its threads stop with the server.
    pub fn start_control(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        self.control = Some(local);
        let printers: Arc<[SimHandle]> = self.printers().to_vec().into();
        let stop = self.stop_flag();
        let threads = self.threads();
        let th = threads.clone();
        let open = Arc::new(AtomicUsize::new(0));
        spawn(&threads, "sim-control".to_owned(), 64 * 1024, move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else {
                    // EMFILE and the like: do not spin on an error that repeats at once.
                    std::thread::sleep(POLL);
                    continue;
                };
                if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONTROL_CONNECTIONS {
                    open.fetch_sub(1, Ordering::SeqCst);
                    let _ = stream.set_write_timeout(Some(POLL));
                    let _ = write_reply(&mut stream, err(503, "too many control connections"));
                    continue;
                }
                let (p, st, o) = (printers.clone(), stop.clone(), open.clone());
                let spawned = spawn(&th, "sim-control-conn".to_owned(), 256 * 1024, move || {
                    // Counted down even if serving panics.
                    struct Slot(Arc<AtomicUsize>);
                    impl Drop for Slot {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _slot = Slot(o);
                    let _ = serve(stream, &p, &st);
                });
                if spawned.is_err() {
                    open.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })?;
        self.add_wake(local);
        Ok(local)
    }
}

/// A response: status and JSON body.
struct Reply(u16, Value);

fn ok(v: Value) -> Reply {
    Reply(200, v)
}

fn err(code: u16, why: impl Into<String>) -> Reply {
    Reply(code, json!({ "error": why.into() }))
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn write_reply(s: &mut TcpStream, Reply(code, body): Reply) -> io::Result<()> {
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(&body)?;
    s.flush()
}

/// Answers an error without reading the rest of the request, then lets the peer's unread
/// bytes drain briefly so the close does not reset the connection before the reply arrives.
fn refuse(mut s: TcpStream, reply: Reply) -> io::Result<()> {
    write_reply(&mut s, reply)?;
    let _ = s.shutdown(Shutdown::Write);
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let end = Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 16 * 1024];
    while Instant::now() < end {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(())
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn serve(mut s: TcpStream, printers: &[SimHandle], stop: &AtomicBool) -> io::Result<()> {
    s.set_read_timeout(Some(POLL))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = s.set_nodelay(true);
    if stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    // The head.
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    // The whole head within IO_TIMEOUT, however slowly it drips in.
    let head_deadline = Instant::now() + IO_TIMEOUT;
    let head_len = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_CONTROL_HEAD {
            return refuse(s, err(431, "request head over 16 KiB"));
        }
        let n = read_some(&mut s, &mut chunk, stop, head_deadline)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_len > MAX_CONTROL_HEAD {
        return refuse(s, err(431, "request head over 16 KiB"));
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(&buf[..head_len]) else {
        return refuse(s, err(400, "malformed request head"));
    };
    let method = req.method.unwrap_or("").to_owned();
    let path = req.path.unwrap_or("").to_owned();
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
    };
    if header("transfer-encoding").is_some() {
        return refuse(
            s,
            err(411, "send a Content-Length (chunked bodies are not read)"),
        );
    }
    // The printer session's strict reading: digits only, repeats must agree.
    let length = match crate::http::content_length(req.headers) {
        Ok(n) => usize::try_from(n.unwrap_or(0)).unwrap_or(usize::MAX),
        Err(()) => return refuse(s, err(400, "bad Content-Length")),
    };
    let is_file = method == "PUT" && path.contains("/files/");
    let limit = if is_file {
        MAX_CONTROL_FILE
    } else {
        MAX_CONTROL_BODY
    };
    if length > limit {
        return refuse(
            s,
            err(
                413,
                format!("body of {length} bytes over the {limit}-byte limit"),
            ),
        );
    }
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    // The body (all of it, before answering, whatever `Connection` says).
    // The body at no less than 64 KiB/s on average (plus IO_TIMEOUT), not a byte now and then.
    let body_deadline = Instant::now() + IO_TIMEOUT + Duration::from_secs((length / 65536) as u64);
    let mut body = buf[head_len..].to_vec();
    body.truncate(length);
    body.reserve(length - body.len());
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        let n = read_some(&mut s, &mut chunk[..want], stop, body_deadline)?;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let reply = route(printers, &Request { method, path, body });
    write_reply(&mut s, reply)?;
    let _ = s.shutdown(Shutdown::Write);
    Ok(())
}

/// `%XX` decoding; `None` for a bad escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn find<'a>(printers: &'a [SimHandle], id: &str) -> Option<&'a SimHandle> {
    if let Ok(i) = id.parse::<usize>() {
        if let Some(h) = printers.get(i) {
            return Some(h);
        }
    }
    printers.iter().find(|h| h.serial() == id)
}

fn json_body(req: &Request) -> Result<Value, Reply> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(err(400, "the body must be a JSON object")),
        Err(e) => Err(err(400, format!("bad JSON: {e}"))),
    }
}

fn summary(i: usize, h: &SimHandle) -> Value {
    let p = h.lock();
    json!({
        "index": i,
        "model": p.spec.model.name(),
        "name": p.spec.name,
        "serial": p.spec.serial,
        "status": status_name(p.status),
        "addresses": h.addresses_json(),
    })
}

fn route(printers: &[SimHandle], req: &Request) -> Reply {
    let path = req.path.split('?').next().unwrap_or_default();
    let mut segs = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        match percent_decode(raw) {
            Some(s) => segs.push(s),
            None => return err(400, format!("bad percent-encoding in `{raw}`")),
        }
    }
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let wrong = |allowed: &str| {
        err(
            405,
            format!("method {m} not allowed here (allowed: {allowed})"),
        )
    };
    match segs.as_slice() {
        ["printers"] => match m {
            "GET" => ok(Value::Array(
                printers
                    .iter()
                    .enumerate()
                    .map(|(i, h)| summary(i, h))
                    .collect(),
            )),
            _ => wrong("GET"),
        },
        ["time"] => match m {
            "POST" => time(printers, req),
            _ => wrong("POST"),
        },
        ["reset"] => match m {
            "POST" => {
                printers.iter().for_each(SimHandle::reset);
                ok(json!({"reset": printers.len()}))
            }
            _ => wrong("POST"),
        },
        ["printers", id, rest @ ..] => {
            let Some(h) = find(printers, id) else {
                return err(404, format!("no printer `{id}` (an index or a serial)"));
            };
            printer_route(h, m, rest, req)
        }
        _ => err(404, format!("no endpoint {path}")),
    }
}

fn printer_route(h: &SimHandle, m: &str, rest: &[&str], req: &Request) -> Reply {
    let wrong = |allowed: &str| {
        err(
            405,
            format!("method {m} not allowed here (allowed: {allowed})"),
        )
    };
    match rest {
        [] => match m {
            "GET" => ok(h.state_json()),
            _ => wrong("GET"),
        },
        ["journal"] => match m {
            "GET" => ok(json!(h.journal())),
            _ => wrong("GET"),
        },
        ["state"] => match m {
            "POST" => set_state(h, req),
            _ => wrong("POST"),
        },
        ["time"] => match m {
            "POST" => time(std::slice::from_ref(h), req),
            _ => wrong("POST"),
        },
        ["reset"] => match m {
            "POST" => {
                h.reset();
                ok(json!({"reset": 1}))
            }
            _ => wrong("POST"),
        },
        ["files"] => match m {
            "GET" => ok(h.state_json()["files"].clone()),
            _ => wrong("GET"),
        },
        ["files", name] => {
            if name.is_empty() || name.contains(['/', '\0']) || *name == "." || *name == ".." {
                return err(400, "a file name must not be empty or hold `/` or NUL");
            }
            match m {
                "PUT" => {
                    h.add_file(name, &req.body);
                    ok(json!({"name": name, "size": req.body.len()}))
                }
                "DELETE" => {
                    if h.remove_file(name) {
                        ok(json!({"deleted": name}))
                    } else {
                        err(404, format!("no file `{name}`"))
                    }
                }
                _ => wrong("PUT, DELETE"),
            }
        }
        ["faults"] => match m {
            "GET" => ok(rules(h)),
            "POST" => {
                let body = match json_body(req) {
                    Ok(v) => v,
                    Err(r) => return r,
                };
                match FaultRule::from_json(&body) {
                    Ok(rule) => {
                        let text = rule.to_string();
                        ok(json!({"id": h.inject(rule), "rule": text}))
                    }
                    Err(e) => err(400, e.to_string()),
                }
            }
            "DELETE" => {
                h.clear_faults();
                ok(json!({"cleared": true}))
            }
            _ => wrong("GET, POST, DELETE"),
        },
        ["faults", n] => match m {
            "DELETE" => match n.parse::<u64>() {
                Ok(id) if h.faults.remove(id) => ok(json!({"removed": id})),
                Ok(id) => err(404, format!("no fault rule {id}")),
                Err(_) => err(400, format!("bad rule id `{n}`")),
            },
            _ => wrong("DELETE"),
        },
        _ => err(404, format!("no endpoint {}", req.path)),
    }
}

fn rules(h: &SimHandle) -> Value {
    Value::Array(h.faults.rules().iter().map(|r| r.to_json()).collect())
}

fn number(v: &Value, what: &str) -> Result<f64, Reply> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| err(400, format!("`{what}` must be a number")))
}

fn boolean(v: &Value, what: &str) -> Result<bool, Reply> {
    v.as_bool()
        .ok_or_else(|| err(400, format!("`{what}` must be true or false")))
}

fn time(printers: &[SimHandle], req: &Request) -> Reply {
    let body = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let run = || -> Result<Value, Reply> {
        let advance = body
            .get("advance")
            .map(|v| number(v, "advance"))
            .transpose()?;
        let speed = body.get("speed").map(|v| number(v, "speed")).transpose()?;
        if advance.is_none() && speed.is_none() {
            return Err(err(
                400,
                "give `advance` (simulated seconds) and/or `speed`",
            ));
        }
        if advance.is_some_and(|a| !(0.0..=1.0e9).contains(&a)) {
            return Err(err(400, "`advance` must be within 0..=1e9 seconds"));
        }
        if speed.is_some_and(|s| !(0.0..=1.0e6).contains(&s)) {
            return Err(err(400, "`speed` must be within 0..=1e6"));
        }
        for h in printers {
            if let Some(s) = speed {
                h.set_speed(s);
            }
            if let Some(a) = advance {
                h.advance(Duration::from_secs_f64(a));
            }
        }
        Ok(json!({"printers": printers.len(), "advance": advance, "speed": speed}))
    };
    run().map_or_else(|r| r, ok)
}

fn heater_values(v: &Value, what: &str) -> Result<(Option<f64>, Option<f64>), Reply> {
    let Value::Object(o) = v else {
        return Err(err(
            400,
            format!("`{what}` must be {{\"current\":..,\"target\":..}}"),
        ));
    };
    for k in o.keys() {
        if k != "current" && k != "target" {
            return Err(err(400, format!("unknown key `{k}` in `{what}`")));
        }
    }
    let get = |k: &str| {
        o.get(k)
            .map(|x| number(x, &format!("{what}.{k}")))
            .transpose()
    };
    let (c, t) = (get("current")?, get("target")?);
    for x in [c, t].into_iter().flatten() {
        if !(-300.0..=1000.0).contains(&x) {
            return Err(err(400, format!("`{what}` temperature {x} out of range")));
        }
    }
    Ok((c, t))
}

/// Parses a `POST /printers/{id}/state` body into changes, then applies them in order.
/// What a `POST /printers/{id}/state` body asks for.
struct StatePlan {
    changes: Vec<StateChange>,
    heaters: Vec<(HeaterId, Option<f64>, Option<f64>)>,
    /// `Some(None)`: back to the spec's job length.
    job_seconds: Option<Option<f64>>,
}

fn parse_state(body: &Value) -> Result<StatePlan, Reply> {
    {
        let mut changes = Vec::new();
        let mut heaters = Vec::new();
        let mut job_seconds = None;
        let Value::Object(o) = body else {
            return Err(err(400, "the body must be a JSON object"));
        };
        let str_of = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        for k in o.keys() {
            if !matches!(
                k.as_str(),
                "status"
                    | "code"
                    | "file"
                    | "progress"
                    | "layer"
                    | "door_open"
                    | "filament_runout"
                    | "temperatures"
                    | "job_seconds"
            ) {
                return Err(err(400, format!("unknown key `{k}`")));
            }
        }
        if let Some(s) = o.get("status") {
            let s = s
                .as_str()
                .ok_or_else(|| err(400, "`status` must be a string"))?;
            changes.push(match s {
                "printing" => StateChange::Printing {
                    file: str_of("file").unwrap_or_else(|| "cube.gcode".to_owned()),
                    progress: o.get("progress").map(|v| number(v, "progress")).transpose()?.unwrap_or(0.0),
                },
                "paused" => StateChange::Paused,
                "completed" => StateChange::Completed,
                "cancelled" => StateChange::Cancelled,
                "error" => StateChange::Error {
                    code: str_of("code").ok_or_else(|| err(400, "status `error` needs a `code` string"))?,
                },
                "ready" => StateChange::Ready,
                other => {
                    return Err(err(
                        400,
                        format!("unknown status `{other}` (printing, paused, completed, cancelled, error, ready)"),
                    ))
                }
            });
        }
        let printing = matches!(changes.first(), Some(StateChange::Printing { .. }));
        if let Some(v) = o.get("progress").filter(|_| !printing) {
            changes.push(StateChange::Progress(number(v, "progress")?));
        }
        if let Some(v) = o.get("layer") {
            let n = v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| err(400, "`layer` must be a positive integer"))?;
            changes.push(StateChange::Layer(n));
        }
        if let Some(v) = o.get("door_open") {
            changes.push(StateChange::DoorOpen(boolean(v, "door_open")?));
        }
        if let Some(v) = o.get("filament_runout") {
            changes.push(StateChange::FilamentRunout(boolean(v, "filament_runout")?));
        }
        if let Some(v) = o.get("job_seconds") {
            job_seconds = Some(if v.is_null() {
                None
            } else {
                let s = number(v, "job_seconds")?;
                if !(0.0..=1.0e9).contains(&s) {
                    return Err(err(400, "`job_seconds` must be within 0..=1e9"));
                }
                Some(s)
            });
        }
        if let Some(t) = o.get("temperatures") {
            let Value::Object(t) = t else {
                return Err(err(400, "`temperatures` must be an object"));
            };
            for (k, v) in t {
                let id = match k.as_str() {
                    "bed" => HeaterId::Bed,
                    "chamber" => HeaterId::Chamber,
                    "nozzle" => HeaterId::Nozzle(0),
                    n => match n
                        .strip_prefix("nozzle")
                        .and_then(|i| i.parse::<usize>().ok())
                    {
                        Some(i) => HeaterId::Nozzle(i),
                        None => {
                            return Err(err(
                                400,
                                format!("unknown heater `{n}` (bed, chamber, nozzle, nozzle0..)"),
                            ))
                        }
                    },
                };
                let (c, tg) = heater_values(v, k)?;
                heaters.push((id, c, tg));
            }
        }
        if changes.is_empty() && heaters.is_empty() && job_seconds.is_none() {
            return Err(err(400, "nothing to change"));
        }
        Ok(StatePlan {
            changes,
            heaters,
            job_seconds,
        })
    }
}

fn set_state(h: &SimHandle, req: &Request) -> Reply {
    let body = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let StatePlan {
        changes,
        heaters,
        job_seconds,
    } = match parse_state(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    {
        let mut p = h.lock();
        p.advance(Instant::now());
        if let Some(s) = job_seconds {
            p.set_job_duration(s.map(Duration::from_secs_f64));
        }
        for c in changes {
            if let Err(e) = p.apply(c) {
                return err(400, e.to_string());
            }
        }
        for (id, c, t) in heaters {
            if !p.set_temperature(id, c, t) {
                return err(400, format!("this model has no heater {id:?}"));
            }
        }
    }
    ok(h.state_json())
}
