//! One request/response on one connection, driven by the caller's clock. The connection cycle
//! around it (reuse, must-close, the retry) is [`super::HttpConnection`].

use std::collections::VecDeque;
use std::time::Instant;

use super::request::{Credentials, Lane, Request, ResponseKind};
use super::response::{Response, ResponseEvent, ResponseParser};
use super::upload::Upload;
use super::HttpError;
use crate::config::HttpConfig;
use crate::error::UsageError;

/// What an [`HttpExchange`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeEvent {
    /// Upload only: send the file now with [`HttpExchange::upload_chunk`] (the printer answered
    /// `100 Continue`, or it stayed silent for [`HttpConfig::continue_timeout`], or the request
    /// did not ask for `Expect`).
    SendBody,
    /// The final response (or why there is none). The exchange is over.
    Done(Result<Response, HttpError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `100 Continue` before the body.
    AwaitContinue,
    /// The caller streams file chunks.
    Body,
    /// Request fully written; waiting for the response.
    AwaitResponse,
    /// Finished.
    Done,
}

/// Drives one HTTP request and its response.
///
/// Inputs are `handle_bytes`, `handle_eof` and `handle_timeout` (each with `now`); outputs are
/// `poll_transmit`, `poll_event` and `poll_timeout`, as on [`crate::Session`].
///
/// ```
/// use std::time::Instant;
/// use flashforge_proto::http::{Credentials, ExchangeEvent, HttpExchange, Request};
/// use flashforge_proto::HttpConfig;
///
/// let t0 = Instant::now();
/// let creds = Credentials::new("SN0001", "12345678")?;
/// let mut ex = HttpExchange::new(&Request::Detail, "127.0.0.1:8898", &creds, &HttpConfig::default(), t0)?;
/// let request = ex.poll_transmit().unwrap();
/// assert!(request.starts_with(b"POST /detail HTTP/1.1\r\n"));
/// ex.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n", t0);
/// ex.handle_bytes(br#"{"code":0,"message":"Success"}"#, t0);
/// let Some(ExchangeEvent::Done(Ok(response))) = ex.poll_event() else { panic!() };
/// assert_eq!(response.status, 200);
/// # Ok::<(), flashforge_proto::UsageError>(())
/// ```
pub struct HttpExchange {
    lane: Lane,
    kind: ResponseKind,
    phase: Phase,
    out: Vec<u8>,
    parser: ResponseParser,
    upload: Option<Upload>,
    deadline: Instant,
    continue_deadline: Option<Instant>,
    events: VecDeque<ExchangeEvent>,
    config: HttpConfig,
    /// Bytes received after the final response (pipelined or stray), kept for the caller.
    leftover: Vec<u8>,
    body_complete: bool,
}

/// The bytes still to send hold the check code: `Debug` shows their length only.
impl std::fmt::Debug for HttpExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExchange")
            .field("lane", &self.lane)
            .field("kind", &self.kind)
            .field("phase", &self.phase)
            .field("out_len", &self.out.len())
            .field("parser", &self.parser)
            .field("upload", &self.upload)
            .field("deadline", &self.deadline)
            .field("events", &self.events)
            .field("leftover_len", &self.leftover.len())
            .finish_non_exhaustive()
    }
}

impl HttpExchange {
    /// Start a JSON (or `GET /getThum`) request. The whole request is ready in `poll_transmit`.
    pub fn new(
        request: &Request,
        host: &str,
        creds: &Credentials,
        config: &HttpConfig,
        now: Instant,
    ) -> Result<Self, UsageError> {
        let mut out = Vec::with_capacity(256);
        request.encode(host, creds, &mut out)?;
        Ok(Self::encoded(
            request.lane(),
            request.response_kind(),
            out,
            config,
            now,
        ))
    }

    /// A request already encoded (by [`Request::encode`]) as `wire`.
    pub(crate) fn encoded(
        lane: Lane,
        kind: ResponseKind,
        wire: Vec<u8>,
        config: &HttpConfig,
        now: Instant,
    ) -> Self {
        let timeout = match lane {
            Lane::Command => config.command_timeout,
            _ => config.read_timeout,
        };
        Self {
            lane,
            kind,
            phase: Phase::AwaitResponse,
            out: wire,
            parser: ResponseParser::new(config),
            upload: None,
            deadline: now + timeout,
            continue_deadline: None,
            events: VecDeque::new(),
            config: config.clone(),
            leftover: Vec::new(),
            body_complete: true,
        }
    }

    /// Start an upload. The head (and, without `Expect`, the preamble) is ready in
    /// `poll_transmit`; stream the file after [`ExchangeEvent::SendBody`].
    pub fn upload(upload: Upload, config: &HttpConfig, now: Instant) -> Self {
        let mut out = Vec::with_capacity(upload.head_len() + 256);
        upload.write_head(&mut out);
        let mut events = VecDeque::new();
        let (phase, continue_deadline) = if upload.expects_continue() {
            (Phase::AwaitContinue, Some(now + config.continue_timeout))
        } else {
            upload.write_preamble(&mut out);
            events.push_back(ExchangeEvent::SendBody);
            (Phase::Body, None)
        };
        Self {
            lane: Lane::Upload,
            kind: ResponseKind::Envelope,
            phase,
            out,
            parser: ResponseParser::new(config),
            upload: Some(upload),
            deadline: now + config.upload_stall_timeout,
            continue_deadline,
            events,
            config: config.clone(),
            leftover: Vec::new(),
            body_complete: false,
        }
    }

    /// The request's lane.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// How to parse the response body ([`super::parse_body`]).
    pub fn response_kind(&self) -> ResponseKind {
        self.kind
    }

    /// Whether the exchange is over.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether the connection can carry another request: the final response allowed it, the
    /// whole request was sent and no stray bytes followed.
    pub fn connection_reusable(&self, response: &Response) -> bool {
        response.keep_alive && self.body_complete && self.leftover.is_empty()
    }

    /// Whether the whole request (for an upload: every file byte and the closing boundary) was
    /// handed to the caller to write.
    pub fn request_complete(&self) -> bool {
        self.body_complete
    }

    /// Bytes that arrived after the final response.
    pub fn leftover(&self) -> &[u8] {
        &self.leftover
    }

    /// Upload progress: file bytes accepted so far and the total.
    pub fn upload_progress(&self) -> Option<(u64, u64)> {
        self.upload
            .as_ref()
            .map(|u| (u.sent(), u.sent() + u.remaining()))
    }

    /// Upload only: file bytes still to give with [`HttpExchange::upload_chunk`], while the
    /// body is being sent (`None` before `SendBody` and once the exchange is past the body).
    pub fn body_remaining(&self) -> Option<u64> {
        match (&self.upload, self.phase) {
            (Some(u), Phase::Body) => Some(u.remaining()),
            _ => None,
        }
    }

    /// Bytes to write to the socket, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ExchangeEvent> {
        self.events.pop_front()
    }

    /// The next deadline to call [`HttpExchange::handle_timeout`] at.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done => None,
            Phase::AwaitContinue => Some(
                self.continue_deadline
                    .map_or(self.deadline, |c| c.min(self.deadline)),
            ),
            _ => Some(self.deadline),
        }
    }

    fn finish(&mut self, result: Result<Response, HttpError>) {
        if self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.out.clear();
            self.events.push_back(ExchangeEvent::Done(result));
        }
    }

    fn start_body(&mut self, now: Instant) {
        if self.phase == Phase::AwaitContinue {
            if let Some(u) = &self.upload {
                u.write_preamble(&mut self.out);
            }
            self.phase = Phase::Body;
            self.continue_deadline = None;
            self.deadline = now + self.config.upload_stall_timeout;
            self.events.push_back(ExchangeEvent::SendBody);
        }
    }

    /// Bytes from the socket.
    pub fn handle_bytes(&mut self, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() {
            if self.phase == Phase::Done {
                if self.leftover.len() + bytes.len() <= self.config.max_head_bytes {
                    self.leftover.extend_from_slice(bytes);
                }
                return;
            }
            match self.parser.feed(bytes) {
                Err(e) => return self.finish(Err(e)),
                Ok(p) => {
                    bytes = &bytes[p.consumed..];
                    match p.event {
                        Some(ResponseEvent::Interim(100)) => self.start_body(now),
                        Some(ResponseEvent::Interim(_)) => {}
                        Some(ResponseEvent::Complete(r)) => {
                            // A final answer before the body was sent (an auth error, say):
                            // the request is over and the connection must not be reused.
                            self.finish(Ok(r));
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// The peer closed the connection.
    pub fn handle_eof(&mut self, _now: Instant) {
        if self.phase == Phase::Done {
            return;
        }
        let r = match self.parser.finish() {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(HttpError::Closed),
            Err(e) => Err(e),
        };
        self.finish(r);
    }

    /// Time passed: the `Expect` wait ends (send the body anyway) or the deadline fails the
    /// exchange with [`HttpError::TimedOut`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::AwaitContinue {
            if let Some(c) = self.continue_deadline {
                if now >= c {
                    self.start_body(now);
                    return;
                }
            }
        }
        if self.phase != Phase::Done && now >= self.deadline {
            self.finish(Err(HttpError::TimedOut));
        }
    }

    /// Account for the next file chunk; on `Ok` write `chunk` itself to the socket (the core
    /// does not copy it). Drain `poll_transmit` first ([`UsageError::WouldBlock`] otherwise).
    /// After the last byte the closing boundary appears in `poll_transmit`.
    pub fn upload_chunk(&mut self, chunk: &[u8], now: Instant) -> Result<(), UsageError> {
        if self.phase != Phase::Body {
            return Err(UsageError::Upload("upload body not expected now"));
        }
        if !self.out.is_empty() {
            return Err(UsageError::WouldBlock);
        }
        let up = self
            .upload
            .as_mut()
            .ok_or(UsageError::Upload("not an upload"))?;
        up.check_chunk(chunk)?;
        self.deadline = now + self.config.upload_stall_timeout;
        if up.remaining() == 0 {
            up.write_epilogue(&mut self.out)?;
            self.body_complete = true;
            self.phase = Phase::AwaitResponse;
            self.deadline = now + self.config.upload_response_timeout;
        }
        Ok(())
    }

    /// Finish an upload of an empty file, or check that every byte was given.
    pub fn finish_upload(&mut self, now: Instant) -> Result<(), UsageError> {
        if self.phase == Phase::Body {
            if let Some(up) = &mut self.upload {
                up.write_epilogue(&mut self.out)?;
                self.body_complete = true;
                self.phase = Phase::AwaitResponse;
                self.deadline = now + self.config.upload_response_timeout;
            }
        }
        Ok(())
    }
}
