//! The printer side of the HTTP API (port 8898), sans-IO: request bytes in, response bytes out.
//!
//! Requests are parsed with `httparse`; bodies by Content-Length or chunked coding; uploads are
//! streamed through a multipart receiver into a [`FileSink`] (hash + bounded copy), so a
//! multi-GB upload costs no memory. Answers follow `protocol/http.md` per model.

use std::collections::VecDeque;
use std::time::Instant;

use flashforge_proto::http::{base64_decode, base64_encode};
use flashforge_proto::Model;
use memchr::memmem;
use serde_json::{json, Map, Value};

use crate::faults::{Faults, HttpFault};
use crate::printer::{FileSink, SimPrinter, StartError, Status};

/// Longest request head.
pub const MAX_HEAD: usize = 16 * 1024;
/// Longest JSON request body.
pub const MAX_JSON_BODY: usize = 1 << 20;

#[derive(Debug)]
enum BodyLen {
    Length(u64),
    Chunked(Dechunk),
}

#[derive(Debug, Default)]
enum Dechunk {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

#[derive(Debug)]
enum Target {
    Json(String, Vec<u8>),
    Upload(Box<UploadRx>),
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        len: BodyLen,
        target: Target,
        line: Vec<u8>,
    },
    Closed,
}

/// One HTTP connection's protocol state.
#[derive(Debug)]
pub struct HttpSession {
    buf: Vec<u8>,
    state: State,
    out: VecDeque<(Vec<u8>, Option<HttpFault>)>,
    close: bool,
    faults: Faults,
}

#[derive(Debug)]
struct UploadRx {
    marker: Vec<u8>,
    phase: Phase,
    head: Vec<u8>,
    tail: Vec<u8>,
    sink: Option<FileSink>,
    declared: Option<u64>,
    print_now: bool,
    leveling: bool,
    mappings_ok: bool,
    keep: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Headers,
    Data,
    Done,
    Broken,
}

fn header<'a>(req: &'a httparse::Request<'_, '_>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn envelope(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn success() -> Value {
    envelope(0, "Success")
}

fn flag(v: bool) -> &'static str {
    if v {
        "open"
    } else {
        "close"
    }
}

impl HttpSession {
    /// A new connection; `faults` are consulted for every response.
    pub fn new(faults: Faults) -> Self {
        Self {
            buf: Vec::new(),
            state: State::Head,
            out: VecDeque::new(),
            close: false,
            faults,
        }
    }

    /// Bytes to send, with the I/O-level fault (stall, close, drip) to apply to them.
    pub fn poll_output(&mut self) -> Option<(Vec<u8>, Option<HttpFault>)> {
        self.out.pop_front()
    }

    /// The connection should be closed once the output is flushed.
    pub fn wants_close(&self) -> bool {
        self.close && self.out.is_empty()
    }

    /// Bytes from the client.
    pub fn handle_bytes(&mut self, p: &mut SimPrinter, bytes: &[u8], now: Instant) {
        p.advance(now);
        let mut input = bytes;
        while !input.is_empty() && !self.close {
            match &mut self.state {
                State::Closed => return,
                State::Head => {
                    let before = self.buf.len();
                    self.buf.extend_from_slice(input);
                    let Some(end) = memmem::find(&self.buf, b"\r\n\r\n") else {
                        if self.buf.len() > MAX_HEAD {
                            self.respond_status(431, "Request Header Fields Too Large", true);
                        }
                        return;
                    };
                    let head_len = end + 4;
                    let used = head_len - before;
                    input = &input[used.min(input.len())..];
                    let head = std::mem::take(&mut self.buf);
                    self.on_head(p, &head[..head_len]);
                }
                State::Body { .. } => {
                    let used = self.feed_body(p, input);
                    input = &input[used..];
                }
            }
        }
    }

    fn on_head(&mut self, p: &mut SimPrinter, head: &[u8]) {
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut req = httparse::Request::new(&mut headers);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
            return self.respond_status(400, "Bad Request", true);
        }
        let method = req.method.unwrap_or("").to_owned();
        let path = req.path.unwrap_or("").to_owned();
        p.log(format!("{method} {path}"));
        if header(&req, "connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            self.close = true;
        }
        let chunked = header(&req, "transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        let length = header(&req, "content-length").and_then(|v| v.parse::<u64>().ok());
        let len = if chunked {
            BodyLen::Chunked(Dechunk::Size)
        } else {
            BodyLen::Length(length.unwrap_or(0))
        };
        if method == "GET" && path.starts_with("/getThum") {
            return self.get_thumb(p);
        }
        if method != "POST" {
            return self.not_found();
        }
        let target = if path == "/uploadGcode" {
            match self.upload_head(p, &req) {
                Ok(rx) => {
                    if header(&req, "expect")
                        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
                        && !self.faults.take_no_continue()
                    {
                        self.out
                            .push_back((b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), None));
                    }
                    Target::Upload(Box::new(rx))
                }
                Err(reply) => {
                    // Answer at once and close: the body is not read.
                    self.close = true;
                    return self.respond(p, reply);
                }
            }
        } else {
            if let BodyLen::Length(n) = len {
                if n > MAX_JSON_BODY as u64 {
                    return self.respond_status(413, "Payload Too Large", true);
                }
            }
            Target::Json(path, Vec::new())
        };
        self.state = State::Body {
            len,
            target,
            line: Vec::new(),
        };
        // A zero-length body completes at once.
        if let State::Body {
            len: BodyLen::Length(0),
            ..
        } = self.state
        {
            self.finish_body(p);
        }
    }

    /// Consumes body bytes; returns how many were used.
    fn feed_body(&mut self, p: &mut SimPrinter, input: &[u8]) -> usize {
        let State::Body { len, target, line } = &mut self.state else {
            return input.len();
        };
        let mut used = 0;
        let done;
        match len {
            BodyLen::Length(n) => {
                let take = (*n).min(input.len() as u64) as usize;
                Self::deliver(target, &input[..take]);
                *n -= take as u64;
                used = take;
                done = *n == 0;
            }
            BodyLen::Chunked(st) => {
                while used < input.len() && !matches!(st, Dechunk::Done) {
                    let rest = &input[used..];
                    match st {
                        Dechunk::Size | Dechunk::DataEnd | Dechunk::Trailer => {
                            let Some(i) = memchr::memchr(b'\n', rest) else {
                                line.extend_from_slice(rest);
                                used = input.len();
                                if line.len() > 1024 {
                                    *st = Dechunk::Done;
                                    self.close = true;
                                }
                                break;
                            };
                            line.extend_from_slice(&rest[..i]);
                            used += i + 1;
                            let text = String::from_utf8_lossy(line).trim().to_owned();
                            line.clear();
                            *st = match st {
                                Dechunk::Size => {
                                    let hex = text.split(';').next().unwrap_or("").trim();
                                    match u64::from_str_radix(hex, 16) {
                                        Ok(0) => Dechunk::Trailer,
                                        Ok(n) => Dechunk::Data(n),
                                        Err(_) => {
                                            self.close = true;
                                            Dechunk::Done
                                        }
                                    }
                                }
                                Dechunk::DataEnd => Dechunk::Size,
                                _ if text.is_empty() => Dechunk::Done,
                                _ => Dechunk::Trailer,
                            };
                        }
                        Dechunk::Data(n) => {
                            let take = (*n).min(rest.len() as u64) as usize;
                            Self::deliver(target, &rest[..take]);
                            *n -= take as u64;
                            used += take;
                            if *n == 0 {
                                *st = Dechunk::DataEnd;
                            }
                        }
                        Dechunk::Done => {}
                    }
                }
                done = matches!(st, Dechunk::Done);
            }
        }
        if let Target::Json(_, body) = target {
            if body.len() > MAX_JSON_BODY {
                self.respond_status(413, "Payload Too Large", true);
                return input.len();
            }
        }
        if done {
            self.finish_body(p);
        }
        used
    }

    fn deliver(target: &mut Target, data: &[u8]) {
        match target {
            Target::Json(_, body) => body.extend_from_slice(data),
            Target::Upload(rx) => rx.feed(data),
        }
    }

    fn finish_body(&mut self, p: &mut SimPrinter) {
        let state = std::mem::replace(&mut self.state, State::Head);
        let State::Body { target, .. } = state else {
            return;
        };
        let reply = match target {
            Target::Json(path, body) => self.route(p, &path, &body),
            Target::Upload(rx) => rx.finish(p),
        };
        self.respond(p, reply);
    }

    fn authorized(p: &SimPrinter, body: &Value) -> bool {
        body.get("serialNumber").and_then(Value::as_str) == Some(p.spec.serial.as_str())
            && body.get("checkCode").and_then(Value::as_str) == Some(p.spec.check_code.as_str())
    }

    fn route(&mut self, p: &mut SimPrinter, path: &str, body: &[u8]) -> Option<Value> {
        let known = matches!(
            path,
            "/detail"
                | "/product"
                | "/control"
                | "/gcodeList"
                | "/gcodeThumb"
                | "/printGcode"
                | "/checkCode"
                | "/notifyWanBind"
                | "/deleteGcode"
        );
        if !known {
            return None;
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return Some(envelope(2, "Invalid parameter"));
        };
        if path == "/notifyWanBind" {
            return Some(success());
        }
        if !Self::authorized(p, &body) {
            return Some(envelope(3, "Unauthorized"));
        }
        Some(match path {
            "/detail" => {
                let mut v = success();
                v["detail"] = render_detail(p);
                v
            }
            "/product" => {
                let mut v = success();
                v["product"] = render_product(p.spec.model);
                v
            }
            "/control" => control(p, &body),
            "/gcodeList" => gcode_list(p),
            "/gcodeThumb" => match body.get("fileName").and_then(Value::as_str) {
                None => envelope(2, "Invalid parameter"),
                Some(name) => match p.files.get(name) {
                    None => envelope(4, "Not found"),
                    Some(f) => {
                        let mut v = success();
                        v["imageData"] = Value::String(base64_encode(&f.thumbnail));
                        v
                    }
                },
            },
            "/printGcode" => print_gcode(p, &body),
            "/deleteGcode" if !p.spec.model.is_creator5() => {
                match body.get("fileName").and_then(Value::as_str) {
                    Some(name) if p.delete_file(name) => success(),
                    Some(_) => envelope(4, "Not found"),
                    None => envelope(2, "Invalid parameter"),
                }
            }
            "/deleteGcode" => return None,
            _ => success(), // /checkCode
        })
    }

    fn upload_head(
        &mut self,
        p: &mut SimPrinter,
        req: &httparse::Request<'_, '_>,
    ) -> Result<UploadRx, Option<Value>> {
        let ok_auth = header(req, "serialNumber") == Some(p.spec.serial.as_str())
            && header(req, "checkCode") == Some(p.spec.check_code.as_str());
        if !ok_auth {
            return Err(Some(envelope(3, "Unauthorized")));
        }
        let ct = header(req, "content-type").unwrap_or("");
        let Some(boundary) = ct
            .split(';')
            .map(str::trim)
            .find_map(|part| part.strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 200)
        else {
            return Err(Some(envelope(2, "Invalid parameter")));
        };
        let truthy = |name| header(req, name).is_some_and(|v| v == "true" || v == "1");
        let mut mappings_ok = true;
        if let Some(m) = header(req, "materialMappings") {
            mappings_ok = base64_decode(m.as_bytes())
                .ok()
                .and_then(|j| serde_json::from_slice::<Value>(&j).ok())
                .is_some_and(|v| check_mappings(&v).is_ok());
        }
        Ok(UploadRx {
            marker: format!("\r\n--{boundary}").into_bytes(),
            phase: Phase::Headers,
            head: Vec::new(),
            tail: Vec::new(),
            sink: None,
            declared: header(req, "fileSize").and_then(|v| v.parse().ok()),
            print_now: truthy("printNow"),
            leveling: truthy("levelingBeforePrint"),
            mappings_ok,
            keep: p.spec.keep_file_bytes,
        })
    }

    fn get_thumb(&mut self, p: &mut SimPrinter) {
        let thumb = p
            .job
            .as_ref()
            .filter(|_| p.busy())
            .and_then(|j| p.files.get(&j.file))
            .map(|f| f.thumbnail.clone());
        match thumb {
            Some(png) => {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                    png.len()
                )
                .into_bytes();
                r.extend_from_slice(&png);
                self.out.push_back((r, None));
            }
            None => self.respond(p, Some(envelope(4, "Not found"))),
        }
    }

    fn not_found(&mut self) {
        let body = "<!DOCTYPE html><title>404</title>Not Found";
        self.out.push_back((
            format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
            None,
        ));
        self.close = true;
        self.state = State::Closed;
    }

    fn respond_status(&mut self, code: u16, reason: &str, close: bool) {
        self.out.push_back((
            format!("HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .into_bytes(),
            None,
        ));
        self.close |= close;
        self.state = State::Closed;
    }

    fn respond(&mut self, p: &SimPrinter, reply: Option<Value>) {
        let Some(mut value) = reply else {
            return self.not_found();
        };
        let fault = self.faults.next_http();
        let mut status = (200, "OK");
        let mut body = match fault {
            Some(HttpFault::NonJson) => b"<html><body>Internal error</body></html>".to_vec(),
            Some(HttpFault::Refuse(code)) => {
                let message = if code == -2 { "" } else { "Refused" };
                serde_json::to_vec(&json!({"code": code, "message": message})).unwrap_or_default()
            }
            Some(HttpFault::WrongTypes) => {
                if let Some(d) = value.get_mut("detail").and_then(Value::as_object_mut) {
                    for (_, v) in d.iter_mut() {
                        *v = match v {
                            Value::Number(_) => json!("NaN"),
                            Value::String(_) => json!(12),
                            Value::Bool(_) => json!([]),
                            _ => json!(null),
                        };
                    }
                }
                value["code"] = json!("zero");
                serde_json::to_vec(&value).unwrap_or_default()
            }
            _ => serde_json::to_vec(&value).unwrap_or_default(),
        };
        if let Some(HttpFault::Status(code)) = fault {
            status = (code, "Internal Server Error");
        }
        let ct = if p.spec.content_type_typo {
            "appliation/json"
        } else {
            "application/json"
        };
        let declared = body.len();
        if fault == Some(HttpFault::TruncatedBody) {
            body.truncate(declared / 2);
            self.close = true;
        }
        let mut r = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {ct}\r\nContent-Length: {declared}\r\nConnection: {}\r\n\r\n",
            status.0,
            status.1,
            if self.close { "close" } else { "keep-alive" }
        )
        .into_bytes();
        r.extend_from_slice(&body);
        let io =
            fault.filter(|f| matches!(f, HttpFault::Stall | HttpFault::Close | HttpFault::Drip(_)));
        self.out.push_back((r, io));
    }
}

impl UploadRx {
    fn feed(&mut self, data: &[u8]) {
        match self.phase {
            Phase::Headers => {
                self.head.extend_from_slice(data);
                let Some(end) = memmem::find(&self.head, b"\r\n\r\n") else {
                    if self.head.len() > 8192 {
                        self.phase = Phase::Broken;
                    }
                    return;
                };
                let head = String::from_utf8_lossy(&self.head[..end]).into_owned();
                let rest = self.head.split_off(end + 4);
                let opening = &self.marker[2..];
                let name = head
                    .strip_prefix(std::str::from_utf8(opening).unwrap_or(""))
                    .and_then(|h| {
                        h.lines()
                            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
                            .and_then(|l| l.split("filename=\"").nth(1))
                            .and_then(|f| f.split('"').next())
                            .map(str::to_owned)
                    });
                match name.filter(|n| !n.is_empty() && !n.contains('/')) {
                    Some(n) => {
                        self.sink = Some(FileSink::new(&n, self.keep));
                        self.phase = Phase::Data;
                        self.head.clear();
                        self.feed(&rest);
                    }
                    None => self.phase = Phase::Broken,
                }
            }
            Phase::Data => {
                self.tail.extend_from_slice(data);
                let Some(sink) = self.sink.as_mut() else {
                    return;
                };
                if let Some(i) = memmem::find(&self.tail, &self.marker) {
                    sink.write(&self.tail[..i]);
                    self.tail.clear();
                    self.phase = Phase::Done;
                } else {
                    let keep = self.marker.len() - 1;
                    if self.tail.len() > keep {
                        let cut = self.tail.len() - keep;
                        sink.write(&self.tail[..cut]);
                        self.tail.drain(..cut);
                    }
                }
            }
            Phase::Done | Phase::Broken => {}
        }
    }

    fn finish(self, p: &mut SimPrinter) -> Option<Value> {
        let (Phase::Done, Some(sink)) = (self.phase, self.sink) else {
            return Some(envelope(2, "Invalid parameter"));
        };
        if self.declared.is_some_and(|d| d != sink.size()) {
            return Some(envelope(1, "Error"));
        }
        if !self.mappings_ok {
            return Some(envelope(
                if p.spec.model.is_creator5() { -1 } else { 2 },
                "Invalid parameter",
            ));
        }
        let name = sink.name().to_owned();
        sink.finish(p);
        if self.print_now {
            if let Err(e) = p.start_job(&name, self.leveling) {
                return Some(start_error(p, e));
            }
        }
        Some(success())
    }
}

fn start_error(p: &SimPrinter, e: StartError) -> Value {
    match e {
        StartError::NotFound => envelope(4, "Not found"),
        StartError::Busy if p.spec.model.is_creator5() => envelope(2, "Printer is busy"),
        StartError::Busy => envelope(5, "Printer is busy"),
        StartError::NotCleared => envelope(5, "Clear to ready before starting a new job"),
    }
}

/// Validates `materialMappings` (http.md §8): at most 4, toolId 0–3, slotId 1–4, no
/// duplicates, a material name.
pub fn check_mappings(v: &Value) -> Result<usize, &'static str> {
    let list = v.as_array().ok_or("not an array")?;
    if list.len() > 4 {
        return Err("more than 4 mappings");
    }
    let (mut tools, mut slots) = (Vec::new(), Vec::new());
    for m in list {
        let tool = m.get("toolId").and_then(Value::as_u64).ok_or("toolId")?;
        let slot = m.get("slotId").and_then(Value::as_u64).ok_or("slotId")?;
        let name = m.get("materialName").and_then(Value::as_str).unwrap_or("");
        if tool > 3 || !(1..=4).contains(&slot) || name.is_empty() {
            return Err("out of range");
        }
        if tools.contains(&tool) || slots.contains(&slot) {
            return Err("duplicate");
        }
        tools.push(tool);
        slots.push(slot);
    }
    Ok(list.len())
}

fn status_text(p: &SimPrinter) -> &'static str {
    match p.status {
        Status::Ready => "ready",
        Status::Busy => "busy",
        Status::Heating => "heating",
        Status::Printing => "printing",
        Status::Paused if p.spec.model == Model::Creator5Pro => "pause",
        Status::Paused => "paused",
        Status::Cancelled => "cancel",
        Status::Completed => "completed",
        Status::Error => "error",
    }
}

/// The `/detail` object for the printer's model and state (http.md §3.1).
pub fn render_detail(p: &SimPrinter) -> Value {
    let model = p.spec.model;
    let c5 = model.is_creator5();
    let ad5x = model == Model::AD5X;
    let mut d = Map::new();
    let mut put = |k: &str, v: Value| {
        d.insert(k.to_owned(), v);
    };
    let job = p.job.as_ref();
    let active = p.busy() || matches!(p.status, Status::Completed);
    let progress = job.filter(|_| active).map_or(0.0, |j| j.progress());
    let round1 = |v: f64| (v * 10.0).round() / 10.0;
    put("status", json!(status_text(p)));
    put("name", json!(p.spec.name));
    if c5 {
        put("model", json!(model.name()));
    }
    put("pid", json!(p.spec.product_id()));
    put("firmwareVersion", json!(p.spec.firmware));
    put("ipAddr", json!(p.spec.ip));
    put("macAddr", json!(p.spec.mac));
    put("location", json!("Group A"));
    put(
        "measure",
        json!(if c5 { "256X256X256" } else { "220X220X220" }),
    );
    put("nozzleCnt", json!(if c5 { 4 } else { 1 }));
    put("nozzleModel", json!("0.4mm"));
    put("nozzleStyle", json!(u8::from(!c5 && !ad5x)));
    if c5 {
        let temps: Vec<f64> = p.nozzles.iter().map(|h| round1(h.current)).collect();
        let targets: Vec<f64> = p.nozzles.iter().map(|h| h.target).collect();
        put("nozzleTemps", json!(temps));
        put("nozzleTargetTemps", json!(targets));
        // Legacy alias of tool 0 (one real C5 Pro capture has it, another omits it).
        put("rightTemp", json!(round1(p.nozzles[0].current)));
        put("rightTargetTemp", json!(p.nozzles[0].target));
    } else {
        put("rightTemp", json!(round1(p.nozzles[0].current)));
        put("rightTargetTemp", json!(p.nozzles[0].target));
        let left = p.nozzles.get(1);
        put("leftTemp", json!(left.map_or(0.0, |h| round1(h.current))));
        put("leftTargetTemp", json!(left.map_or(0.0, |h| h.target)));
        put("hasLeftFilament", json!(false));
    }
    put("hasRightFilament", json!(true));
    put("platTemp", json!(round1(p.bed.current)));
    put("platTargetTemp", json!(p.bed.target));
    match &p.chamber {
        Some(c) => {
            put("chamberTemp", json!(round1(c.current)));
            put("chamberTargetTemp", json!(c.target));
        }
        None => {
            put("chamberTemp", json!(-108));
            put("chamberTargetTemp", json!(-108));
        }
    }
    put("printProgress", json!(progress));
    let printing = matches!(p.status, Status::Printing | Status::Paused);
    put(
        "printLayer",
        json!(job
            .filter(|_| printing || p.status == Status::Completed)
            .map_or(0, |j| j.layer())),
    );
    put(
        "targetPrintLayer",
        json!(job.filter(|_| active).map_or(0, |j| j.layers)),
    );
    put(
        "printDuration",
        json!(job.filter(|_| active).map_or(0, |j| j.elapsed.as_secs())),
    );
    put(
        "estimatedTime",
        json!(job
            .filter(|_| active)
            .map_or(0.0, |j| j.remaining().as_secs() as f64)),
    );
    put(
        "printFileName",
        json!(job.filter(|_| active).map_or("", |j| j.file.as_str())),
    );
    put(
        "printFileThumbUrl",
        json!(if p.busy() {
            format!("http://{}:8898/getThum", p.spec.ip)
        } else {
            String::new()
        }),
    );
    put(
        "currentPrintSpeed",
        json!(if printing { p.speed_adjust } else { 0 }),
    );
    put("printSpeedAdjust", json!(p.speed_adjust));
    put("fillAmount", json!(15));
    put("zAxisCompensation", json!(p.z_offset));
    put(
        "estimatedRightLen",
        json!(if active { 5230.0 } else { 0.0 }),
    );
    put("estimatedLeftLen", json!(0.0));
    put(
        "estimatedRightWeight",
        json!(if active { 15.6 } else { 0.0 }),
    );
    put("estimatedLeftWeight", json!(0.0));
    put("rightFilamentType", json!("PLA"));
    put("leftFilamentType", json!(""));
    put(
        "coolingFanSpeed",
        json!(u32::from(p.cooling_fan) * 100 / 255),
    );
    // Meaningful on the AD5X; the emulator reports it (as 0) on every model.
    put(
        "coolingFanLeftSpeed",
        json!(u32::from(p.cooling_left_fan) * 100 / 255),
    );
    if ad5x {
        put("clearFanStatus", json!("open"));
    }
    put(
        "chamberFanSpeed",
        json!(u32::from(p.chamber_fan) * 100 / 255),
    );
    put("externalFanStatus", json!(flag(p.external_fan)));
    put("internalFanStatus", json!(flag(p.internal_fan)));
    put("lightStatus", json!(flag(p.led)));
    put("doorStatus", json!(flag(p.door_open)));
    put("autoShutdown", json!(flag(p.auto_shutdown)));
    put("autoShutdownTime", json!(p.auto_shutdown_minutes));
    put("errorCode", json!(p.error_code));
    put(
        "tvoc",
        json!(if model == Model::Adventurer5MPro {
            2
        } else {
            0
        }),
    );
    let has_camera = !matches!(model, Model::Adventurer5M);
    put(
        "cameraStreamUrl",
        json!(if has_camera && p.camera_on {
            format!("http://{}:8080/?action=stream", p.spec.ip)
        } else {
            String::new()
        }),
    );
    if ad5x || c5 {
        put("camera", json!(1));
    }
    if c5 {
        put("lidar", json!(1));
    }
    if ad5x {
        put("moveCtrl", json!(1));
        put("extrudeCtrl", json!(1));
        put(
            "coordinate",
            json!([p.position[0], p.position[1], p.position[2]]),
        );
    }
    put("cumulativeFilament", json!(round1(p.cumulative_filament)));
    put(
        "cumulativePrintTime",
        json!((p.cumulative_print_seconds / 60.0) as u64),
    );
    put("remainingDiskSpace", json!(6543.21));
    put("flashRegisterCode", json!(""));
    put("polarRegisterCode", json!(""));
    if ad5x {
        put("hasMatlStation", json!(true));
    }
    if let Some(st) = &p.station {
        let slots: Vec<Value> = st
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"slotId": i + 1, "hasFilament": s.has_filament,
                       "materialName": s.material, "materialColor": s.color})
            })
            .collect();
        put(
            "matlStationInfo",
            json!({"slotCnt": 4, "currentSlot": st.current_slot,
                   "currentLoadSlot": st.current_load_slot, "stateAction": st.state_action,
                   "stateStep": st.state_step, "slotInfos": slots}),
        );
        if ad5x {
            put(
                "indepMatlInfo",
                json!({"materialName": st.indep.material, "materialColor": st.indep.color,
                       "stateAction": 0, "stateStep": 0}),
            );
        }
    }
    Value::Object(d)
}

/// The `/product` flags (http.md §4, with the Creator 5 quirks).
pub fn render_product(model: Model) -> Value {
    let (light, fans, chamber) = match model {
        Model::Adventurer5MPro => (1, 1, 0),
        Model::Creator5 | Model::Creator5Pro => (1, 0, 1),
        _ => (1, 0, 0),
    };
    json!({"chamberTempCtrlState": chamber, "externalFanCtrlState": fans,
           "internalFanCtrlState": fans, "lightCtrlState": light,
           "nozzleTempCtrlState": 1, "platformTempCtrlState": 1})
}

fn gcode_list(p: &SimPrinter) -> Value {
    let mut v = success();
    let names: Vec<&String> = p.recent.iter().collect();
    v["gcodeList"] = json!(names);
    if p.spec.model == Model::AD5X {
        let detail: Vec<Value> = p
            .recent
            .iter()
            .filter_map(|n| p.files.get(n).map(|f| (n, f)))
            .map(|(n, f)| {
                json!({"gcodeFileName": n, "printingTime": f.print_seconds, "gcodeToolCnt": 1,
                       "gcodeToolDatas": [{"toolId": 0, "materialName": "PLA",
                           "materialColor": "#FFFFFF", "filamentWeight": 15.6, "slotId": 1}],
                       "totalFilamentWeight": 15.6, "useMatlStation": true})
            })
            .collect();
        v["gcodeListDetail"] = json!(detail);
    }
    v
}

fn print_gcode(p: &mut SimPrinter, body: &Value) -> Value {
    let c5 = p.spec.model.is_creator5();
    let Some(name) = body.get("fileName").and_then(Value::as_str) else {
        return if c5 {
            envelope(-1, "Parameter is error.")
        } else {
            envelope(2, "Invalid parameter")
        };
    };
    let leveling = body.get("levelingBeforePrint").and_then(Value::as_bool);
    if c5 && leveling.is_none() {
        return envelope(-1, "Parameter is error.");
    }
    if let Some(m) = body.get("materialMappings") {
        if check_mappings(m).is_err() {
            return if c5 {
                envelope(-1, "Parameter is error.")
            } else {
                envelope(2, "Invalid parameter")
            };
        }
    }
    match p.start_job(name, leveling.unwrap_or(false)) {
        Ok(()) => success(),
        Err(e) => start_error(p, e),
    }
}

fn control(p: &mut SimPrinter, body: &Value) -> Value {
    let payload = body.get("payload").cloned().unwrap_or(Value::Null);
    let cmd = payload.get("cmd").and_then(Value::as_str).unwrap_or("");
    let args = payload.get("args").cloned().unwrap_or(json!({}));
    let s = |k: &str| args.get(k).and_then(Value::as_str);
    let n = |k: &str| args.get(k).and_then(Value::as_f64);
    let model = p.spec.model;
    let open = |v: Option<&str>| v == Some("open");
    match cmd {
        "lightControl_cmd" => p.led = open(s("status")),
        "circulateCtl_cmd" if model == Model::Adventurer5MPro => {
            p.internal_fan = open(s("internal"));
            p.external_fan = open(s("external"));
        }
        "streamCtrl_cmd" => p.camera_on = open(s("action")),
        "jobCtl_cmd" => {
            let ok = match s("action") {
                Some("pause") => p.pause(),
                Some("continue") => p.resume(),
                Some("cancel") => p.cancel(),
                _ => return envelope(2, "Invalid parameter"),
            };
            if !ok {
                return envelope(1, "Error");
            }
        }
        "printerCtl_cmd" => {
            let keep = |v: Option<f64>| v.filter(|v| *v > -199.0);
            if let Some(z) = keep(n("zAxisCompensation")).filter(|z| z.abs() <= 5.0) {
                p.z_offset = z;
            }
            if let Some(sp) = keep(n("speed")) {
                let max = if model == Model::AD5X { 500.0 } else { 150.0 };
                p.speed_adjust = sp.clamp(50.0, max) as u32;
            }
            let fan = |v: f64| v.clamp(0.0, 255.0) as u8;
            if let Some(v) = keep(n("chamberFan")) {
                p.chamber_fan = fan(v);
            }
            if let Some(v) = keep(n("coolingFan")) {
                p.cooling_fan = fan(v);
            }
            if let Some(v) = keep(n("coolingLeftFan")) {
                p.cooling_left_fan = fan(v);
            }
        }
        "temperatureCtl_cmd" => {
            let scalar = |v: Option<f64>, max: f64| match v {
                Some(v) if v <= -199.0 => None,
                Some(v) if v <= -99.0 => Some(0.0),
                Some(v) => Some(v.clamp(0.0, max)),
                None => None,
            };
            if let Some(t) = scalar(n("platform"), 130.0) {
                p.bed.target = t;
            }
            if let (Some(t), Some(c)) = (scalar(n("chamber"), 80.0), p.chamber.as_mut()) {
                c.target = t;
            }
            if model.is_creator5() {
                if let Some(list) = args.get("nozzles").and_then(Value::as_array) {
                    if list.len() == 4 {
                        for (h, v) in p.nozzles.iter_mut().zip(list) {
                            match v.as_f64() {
                                Some(v) if v <= -199.0 || (v < 0.0 && v > -199.0) => {}
                                Some(v) => h.target = v.clamp(0.0, 350.0),
                                None => {}
                            }
                        }
                    }
                }
            } else {
                if let Some(t) = scalar(n("rightNozzle"), 350.0) {
                    p.nozzles[0].target = t;
                }
                if let (Some(t), Some(h)) = (scalar(n("leftNozzle"), 350.0), p.nozzles.get_mut(1)) {
                    h.target = t;
                }
            }
        }
        "stateCtrl_cmd" if s("action") == Some("setClearPlatform") => p.clear_platform(),
        "reName_cmd" => {
            if let Some(name) = s("name") {
                p.spec.name = name.to_owned();
            }
        }
        "delayClose_cmd" => {
            p.auto_shutdown = open(s("automaticShutdown"));
            if let Some(m) = n("shutdownAfterTime") {
                p.auto_shutdown_minutes = m as u32;
            }
        }
        "msConfig_cmd" | "ipdMsConfig_cmd" => {
            let slot = n("slot").map_or(0, |v| v as usize);
            let (mt, rgb) = (
                s("mt").unwrap_or("").to_owned(),
                s("rgb").unwrap_or("").to_owned(),
            );
            if let Some(st) = p.station.as_mut() {
                if cmd == "ipdMsConfig_cmd" && model == Model::AD5X {
                    st.indep.material = mt;
                    st.indep.color = rgb;
                } else if (1..=4).contains(&slot) {
                    let sl = &mut st.slots[slot - 1];
                    sl.material = mt;
                    sl.color = rgb;
                    sl.has_filament = true;
                }
            }
        }
        "ms_cmd" if model == Model::AD5X => {
            let slot = n("slot").map_or(0, |v| v as u8);
            if let Some(st) = p.station.as_mut() {
                match n("action").map(|a| a as u8) {
                    Some(0) if (1..=4).contains(&slot) => {
                        st.current_slot = slot;
                        st.state_action = 1;
                        st.state_step = 6;
                    }
                    Some(1) => {
                        st.current_slot = 0;
                        st.state_action = 2;
                        st.state_step = 6;
                    }
                    Some(2) => {
                        st.state_action = 0;
                        st.state_step = 0;
                    }
                    _ => return envelope(2, "Invalid parameter"),
                }
            }
        }
        "moveCtrl_cmd" | "extrudeCtrl_cmd" if model == Model::AD5X => {
            if p.busy() {
                return envelope(5, "Printer is busy");
            }
            let axis = match (cmd, s("axis")) {
                ("extrudeCtrl_cmd", _) => 3,
                (_, Some("x")) => 0,
                (_, Some("y")) => 1,
                (_, Some("z")) => 2,
                _ => return envelope(2, "Invalid parameter"),
            };
            p.position[axis] += n("delta").unwrap_or(0.0);
        }
        "homingCtrl_cmd" if model == Model::AD5X => p.position = [0.0; 4],
        "errorCodeCtrl_cmd" if s("errorCode") == Some(p.error_code.as_str()) => {
            p.error_code.clear();
            if p.status == Status::Error {
                p.status = Status::Ready;
            }
        }
        // Unknown or unsupported commands are acknowledged, as the firmware does.
        _ => {}
    }
    success()
}
