//! One request/response on one connection, driven by the caller's clock, and the FIFO rule that
//! keeps commands in order without letting reads or uploads delay them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
#[derive(Debug)]
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
        let timeout = match request.lane() {
            Lane::Command => config.command_timeout,
            _ => config.read_timeout,
        };
        Ok(Self {
            lane: request.lane(),
            kind: request.response_kind(),
            phase: Phase::AwaitResponse,
            out,
            parser: ResponseParser::new(config),
            upload: None,
            deadline: now + timeout,
            continue_deadline: None,
            events: VecDeque::new(),
            config: config.clone(),
            leftover: Vec::new(),
            body_complete: true,
        })
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

    /// Bytes to write to the socket, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ExchangeEvent> {
        self.events.pop_front()
    }

    /// The next deadline to call [`HttpExchange::handle_timeout`] at.
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

/// A request ticket in a [`Scheduler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(u64);

/// The FIFO rule for HTTP requests (protocol/README.md "Serialising requests"): each [`Lane`]
/// runs one request at a time in submission order, and the lanes are independent, so a long
/// upload or a slow `/detail` never delays a pause or cancel.
///
/// The scheduler holds whatever the caller queues (`T`, e.g. a request plus a reply channel).
#[derive(Debug)]
pub struct Scheduler<T> {
    lanes: [LaneQueue<T>; 3],
    next: u64,
    max_pending: usize,
}

#[derive(Debug)]
struct LaneQueue<T> {
    pending: VecDeque<(Ticket, T)>,
    in_flight: Option<Ticket>,
}

impl<T> Default for LaneQueue<T> {
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
            in_flight: None,
        }
    }
}

fn lane_index(l: Lane) -> usize {
    match l {
        Lane::Command => 0,
        Lane::Read => 1,
        Lane::Upload => 2,
    }
}

impl<T> Scheduler<T> {
    /// A scheduler with at most `max_pending` queued items per lane.
    pub fn new(max_pending: usize) -> Self {
        Self {
            lanes: Default::default(),
            next: 0,
            max_pending,
        }
    }

    /// Queue an item; [`UsageError::QueueFull`] when the lane is full.
    pub fn submit(&mut self, lane: Lane, item: T) -> Result<Ticket, UsageError> {
        let q = &mut self.lanes[lane_index(lane)];
        if q.pending.len() >= self.max_pending {
            return Err(UsageError::QueueFull {
                max: self.max_pending,
            });
        }
        self.next += 1;
        let t = Ticket(self.next);
        q.pending.push_back((t, item));
        Ok(t)
    }

    /// The next item of `lane` to start, if the lane is idle.
    pub fn next_ready(&mut self, lane: Lane) -> Option<(Ticket, T)> {
        let q = &mut self.lanes[lane_index(lane)];
        if q.in_flight.is_some() {
            return None;
        }
        let (t, item) = q.pending.pop_front()?;
        q.in_flight = Some(t);
        Some((t, item))
    }

    /// The in-flight item of its lane finished; the next one may start.
    pub fn complete(&mut self, ticket: Ticket) {
        for q in &mut self.lanes {
            if q.in_flight == Some(ticket) {
                q.in_flight = None;
            }
        }
    }

    /// Items waiting (not in flight) in `lane`.
    pub fn pending(&self, lane: Lane) -> usize {
        self.lanes[lane_index(lane)].pending.len()
    }

    /// Whether `lane` has a request in flight.
    pub fn busy(&self, lane: Lane) -> bool {
        self.lanes[lane_index(lane)].in_flight.is_some()
    }
}

/// A default per-request timeout for a lane, for adapters that do not use [`HttpExchange`].
pub fn lane_timeout(config: &HttpConfig, lane: Lane) -> Duration {
    match lane {
        Lane::Command => config.command_timeout,
        Lane::Read => config.read_timeout,
        Lane::Upload => config.upload_stall_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_independent_and_fifo() {
        let mut s = Scheduler::new(4);
        let up = s.submit(Lane::Upload, "upload").unwrap();
        let p = s.submit(Lane::Command, "pause").unwrap();
        let c = s.submit(Lane::Command, "cancel").unwrap();
        assert_eq!(s.next_ready(Lane::Upload), Some((up, "upload")));
        // The upload is in flight; the pause starts at once anyway.
        assert_eq!(s.next_ready(Lane::Command), Some((p, "pause")));
        // The cancel waits for the pause (FIFO).
        assert_eq!(s.next_ready(Lane::Command), None);
        s.complete(p);
        assert_eq!(s.next_ready(Lane::Command), Some((c, "cancel")));
        for _ in 0..4 {
            s.submit(Lane::Read, "detail").unwrap();
        }
        assert!(s.submit(Lane::Read, "detail").is_err());
    }
}
