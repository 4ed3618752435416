//! The printer side of the HTTP API (port 8898), sans-IO: request bytes in, response bytes out.
//!
//! * `wire`: the request head (`httparse`), the body's framing (Content-Length or chunked
//!   coding) and the bytes of each response;
//! * `multipart`: the upload's form, streamed into a [`FileSink`](crate::FileSink) (hash +
//!   bounded copy), so a multi-GB upload costs no memory;
//! * `routes`: what each path does, per model, as `protocol/http.md` says;
//! * `render`: the JSON bodies (`/detail`, `/product`, ...) and how the faults shape them.
//!
//! [`HttpSession`] here ties them together for one connection.

mod multipart;
mod render;
mod routes;
mod wire;

use std::collections::VecDeque;
use std::time::Instant;

use memchr::memmem;
use serde_json::Value;

use crate::faults::{Faults, HttpFault};
use crate::printer::SimPrinter;

pub use render::{render_detail, render_product};
pub use routes::check_mappings;
pub(crate) use wire::content_length;
pub use wire::{MAX_HEAD, MAX_JSON_BODY};

use render::envelope;
use routes::Upload;
use wire::{Body, Head};

/// Where a request's body goes.
#[derive(Debug)]
enum Target {
    /// A JSON body for the path.
    Json(String, Vec<u8>),
    /// `/uploadGcode`'s form.
    Upload(Box<Upload>),
}

#[derive(Debug)]
enum State {
    Head,
    Body { body: Body, target: Target },
    Closed,
}

/// One HTTP connection's protocol state.
#[derive(Debug)]
pub struct HttpSession {
    buf: Vec<u8>,
    state: State,
    out: VecDeque<(Vec<u8>, Option<HttpFault>)>,
    /// Close once the output is flushed; no more input is read.
    close: bool,
    /// The request asked for `Connection: close`: read its body, answer, then close.
    close_after_reply: bool,
    faults: Faults,
    /// The path of the request being answered (what scoped fault rules match).
    path: String,
}

impl HttpSession {
    /// A new connection; `faults` are consulted for every response.
    pub fn new(faults: Faults) -> Self {
        Self {
            buf: Vec::new(),
            state: State::Head,
            out: VecDeque::new(),
            close: false,
            close_after_reply: false,
            faults,
            path: String::new(),
        }
    }

    /// Bytes to send, with the I/O-level fault (stall, close, drip) to apply to them.
    pub fn poll_output(&mut self) -> Option<(Vec<u8>, Option<HttpFault>)> {
        self.out.pop_front()
    }

    /// Whether an upload's body is being read.
    pub fn uploading(&self) -> bool {
        matches!(
            self.state,
            State::Body {
                target: Target::Upload(_),
                ..
            }
        )
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
        let Some(req) = Head::parse(head, &mut headers) else {
            return self.respond_status(400, "Bad Request", true);
        };
        p.log(format!("{} {}", req.method, req.path));
        req.path.clone_into(&mut self.path);
        self.close_after_reply = req.wants_close();
        let Some(body) = req.body() else {
            return self.respond_status(400, "Bad Request", true);
        };
        if req.method == "GET" && req.path.starts_with("/getThum") {
            return self.get_thumb(p);
        }
        if req.method != "POST" {
            return self.not_found();
        }
        let target = if req.path == "/uploadGcode" {
            match Upload::accept(p, &req) {
                Ok(_) if self.faults.take_early_success() => {
                    // A printer that claims the file before it has a byte of it.
                    self.close = true;
                    return self.respond(p, Some(envelope(0, "Success")));
                }
                Ok(up) => {
                    if req.expects_continue() && !self.faults.take_no_continue() {
                        self.out.push_back((wire::CONTINUE.to_vec(), None));
                    }
                    Target::Upload(Box::new(up))
                }
                Err(reply) => {
                    // Answer at once and close: the body is not read.
                    self.close = true;
                    return self.respond(p, Some(reply));
                }
            }
        } else {
            if body.length().is_some_and(|n| n > MAX_JSON_BODY as u64) {
                return self.respond_status(413, "Payload Too Large", true);
            }
            Target::Json(req.path.to_owned(), Vec::new())
        };
        // A zero-length body completes at once.
        let empty = body.length() == Some(0);
        self.state = State::Body { body, target };
        if empty {
            self.finish_body(p);
        }
    }

    /// Consumes body bytes; returns how many were used.
    fn feed_body(&mut self, p: &mut SimPrinter, input: &[u8]) -> usize {
        let State::Body { body, target } = &mut self.state else {
            return input.len();
        };
        let fed = body.feed(input, |data| match target {
            Target::Json(_, body) => body.extend_from_slice(data),
            Target::Upload(up) => up.feed(data),
        });
        self.close |= fed.close;
        if let Target::Json(_, body) = target {
            if body.len() > MAX_JSON_BODY {
                self.respond_status(413, "Payload Too Large", true);
                return input.len();
            }
        }
        if fed.done {
            self.finish_body(p);
        }
        fed.used
    }

    fn finish_body(&mut self, p: &mut SimPrinter) {
        let state = std::mem::replace(&mut self.state, State::Head);
        let State::Body { target, .. } = state else {
            return;
        };
        let reply = match target {
            Target::Json(path, body) => routes::route(p, &path, &body),
            Target::Upload(up) => Some(up.finish(p)),
        };
        self.respond(p, reply);
    }

    fn get_thumb(&mut self, p: &mut SimPrinter) {
        match routes::job_thumbnail(p) {
            Some(png) => {
                self.out.push_back((wire::png(png), None));
                self.close |= self.close_after_reply;
            }
            None => self.respond(p, Some(envelope(4, "Not found"))),
        }
    }

    fn not_found(&mut self) {
        self.out.push_back((wire::not_found(), None));
        self.close = true;
        self.state = State::Closed;
    }

    fn respond_status(&mut self, code: u16, reason: &str, close: bool) {
        self.out.push_back((wire::empty(code, reason), None));
        self.close |= close;
        self.state = State::Closed;
    }

    fn respond(&mut self, p: &SimPrinter, reply: Option<Value>) {
        let Some(value) = reply else {
            return self.not_found();
        };
        self.close |= self.close_after_reply;
        let fault = self.faults.next_http_for(&self.path);
        let mut body = render::body(value, fault);
        let status = match fault {
            Some(HttpFault::Status(code)) => (code, "Internal Server Error"),
            _ => (200, "OK"),
        };
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
        let r = wire::json(status, ct, declared, &body, self.close);
        let io = fault.filter(|f| {
            matches!(
                f,
                HttpFault::Stall | HttpFault::Close | HttpFault::CloseAfter | HttpFault::Drip(_)
            )
        });
        self.out.push_back((r, io));
    }
}
