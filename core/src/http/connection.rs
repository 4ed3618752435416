//! The connection cycle of one HTTP lane, after h11: when to open and close the socket, whether
//! a kept-alive connection may carry the next request, and the one retry of a read that met a
//! stale kept-alive connection. An adapter owns only the socket and the drive loop.

use std::collections::VecDeque;
use std::time::Instant;

use super::exchange::{ExchangeEvent, HttpExchange};
use super::request::{Credentials, Lane, Request, ResponseKind};
use super::upload::{Upload, UploadSpec};
use super::{parse_response, Body, HttpError};
use crate::config::HttpConfig;
use crate::error::UsageError;

/// What an [`HttpConnection`] asks of its driver, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HttpEvent {
    /// Open a TCP connection to the printer, then call [`HttpConnection::handle_connected`]. If
    /// it cannot be opened, the request fails with the driver's own error (drop the machine or
    /// start the next request on it; it has no socket).
    Connect,
    /// Close the socket, if one is open. Written bytes need no flush: the request is over.
    Close,
    /// Upload only: stream the file now with [`HttpConnection::upload_chunk`] (the printer
    /// answered `100 Continue`, stayed silent for [`HttpConfig::continue_timeout`], or the
    /// request did not ask for `Expect`).
    SendBody,
    /// The request's outcome: the typed body, or why there is none. The connection is idle
    /// again (kept alive, or closed by the [`HttpEvent::Close`] just before).
    Done(Result<Body, HttpError>),
}

/// One `T` per lane that keeps a connection: an adapter's connection (and its
/// [`HttpConnection`]) for [`Lane::Command`] and one for [`Lane::Read`], so a slow `/detail`
/// never delays a `pause`. Uploads open a connection each and have no slot here.
#[derive(Debug, Default)]
pub struct Lanes<T> {
    command: T,
    read: T,
}

impl<T> Lanes<T> {
    /// The slot whose connection carries `request`.
    pub fn for_request(&self, request: &Request) -> &T {
        match request.lane() {
            Lane::Read => &self.read,
            Lane::Command | Lane::Upload => &self.command,
        }
    }

    /// Every slot.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        [&self.command, &self.read].into_iter()
    }
}

/// The socket's state, one enum (the transitions are the `handle_*` methods).
#[derive(Debug)]
enum State {
    /// No socket.
    Closed,
    /// [`HttpEvent::Connect`] is out; waiting for [`HttpConnection::handle_connected`].
    Connecting,
    /// A kept-alive socket with no request on it.
    Idle,
    /// A request on the open socket; `reused` when the socket had carried one before.
    Active {
        exchange: Box<HttpExchange>,
        reused: bool,
    },
}

/// The request being run: kept whole until its outcome, so a read can be sent again.
enum Job {
    Request {
        lane: Lane,
        kind: ResponseKind,
        wire: Vec<u8>,
        retried: bool,
    },
    Upload(Option<Upload>),
}

/// One lane's HTTP/1.1 connection, one request at a time, without I/O.
///
/// The cycle follows h11 (`Connection.start_next_cycle`): a kept-alive connection carries the
/// next request only after a complete exchange whose response allowed it (HTTP/1.1 without
/// `Connection: close`, a body framed by its length), with the whole request written and no
/// byte after the response. Anything else makes the connection must-close. A read
/// ([`Lane::Read`]: `/detail`, `/gcodeList`, ...) that finds its kept-alive connection closed
/// by the printer before any response byte is sent once more on a fresh connection; a command
/// never is (the printer may have acted on it). Uploads always get a fresh connection and close
/// it afterwards.
///
/// **FIFO**: a lane runs its requests one after another in the order they are started; an
/// adapter keeps one machine per lane behind the lane's lock, so a long upload or a slow
/// `/detail` never delays `pause` or `cancel` on the command lane. Starting a request while one
/// is unfinished abandons the old one (a cancelled caller) and closes its connection: its
/// response could still arrive.
///
/// Method families, as on [`crate::Session`]:
///
/// * **commands**: [`start`](Self::start), [`start_upload`](Self::start_upload),
///   [`upload_chunk`](Self::upload_chunk), [`finish_upload`](Self::finish_upload);
/// * **inputs**: [`handle_connected`](Self::handle_connected),
///   [`handle_bytes`](Self::handle_bytes), [`handle_eof`](Self::handle_eof),
///   [`handle_timeout`](Self::handle_timeout), each with `now` last;
/// * **outputs**: [`poll_transmit`](Self::poll_transmit) (write every buffer, in order), then
///   [`poll_event`](Self::poll_event), then wait for bytes until
///   [`poll_timeout`](Self::poll_timeout).
///
/// ```
/// use std::time::Instant;
/// use flashforge_proto::driver::{HttpConnection, HttpEvent};
/// use flashforge_proto::http::{Body, Credentials, Request};
/// use flashforge_proto::HttpConfig;
///
/// let t0 = Instant::now();
/// let creds = Credentials::new("SN0001", "12345678")?;
/// let mut conn = HttpConnection::new(&HttpConfig::default());
/// conn.start(&Request::Product, "127.0.0.1:8898", &creds, t0)?;
/// assert_eq!(conn.poll_event(), Some(HttpEvent::Connect));
/// conn.handle_connected(t0);
/// assert!(conn.poll_transmit().unwrap().starts_with(b"POST /product HTTP/1.1\r\n"));
/// conn.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n", t0);
/// conn.handle_bytes(br#"{"code":0,"message":"Success"}"#, t0);
/// assert!(matches!(conn.poll_event(), Some(HttpEvent::Done(Ok(Body::Product(_))))));
/// assert!(conn.is_open()); // kept alive for the next request
/// # Ok::<(), flashforge_proto::UsageError>(())
/// ```
#[derive(Debug)]
pub struct HttpConnection {
    config: HttpConfig,
    state: State,
    job: Option<Job>,
    events: VecDeque<HttpEvent>,
    last_now: Option<Instant>,
    /// The last request as encoded: a poller sends the same `/detail` every second, and its
    /// JSON body (serial and check code, escaped) need not be written again each time.
    encoded: Option<Encoded>,
}

/// A request with the host and credentials it was encoded for, and its bytes (zeroed when
/// dropped or replaced: they hold the check code).
struct Encoded {
    request: Request,
    host: String,
    creds: Credentials,
    wire: Vec<u8>,
}

/// The encoded requests hold the check code: `Debug` shows their length only.
impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Request {
                lane,
                kind,
                wire,
                retried,
            } => f
                .debug_struct("Request")
                .field("lane", lane)
                .field("kind", kind)
                .field("wire_len", &wire.len())
                .field("retried", retried)
                .finish(),
            Self::Upload(u) => f.debug_tuple("Upload").field(u).finish(),
        }
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("request", &self.request)
            .field("host", &self.host)
            .field("creds", &self.creds)
            .field("wire_len", &self.wire.len())
            .finish()
    }
}

impl Encoded {
    fn matches(&self, request: &Request, host: &str, creds: &Credentials) -> bool {
        self.request == *request && self.host == host && self.creds == *creds
    }
}

impl Drop for Encoded {
    fn drop(&mut self) {
        self.wire.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&self.wire);
    }
}

impl HttpConnection {
    /// A lane with no connection yet.
    pub fn new(config: &HttpConfig) -> Self {
        Self {
            config: config.clone(),
            state: State::Closed,
            job: None,
            events: VecDeque::new(),
            last_now: None,
            encoded: None,
        }
    }

    /// Whether a socket is open (or being opened) for this lane.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed)
    }

    /// Whether a request is unfinished.
    pub fn is_busy(&self) -> bool {
        self.job.is_some()
    }

    /// Whether the driver should look for the printer's close on the kept-alive socket (a
    /// read that does not wait: EOF, a reset or stray bytes are [`handle_eof`](Self::handle_eof))
    /// before starting `request`: a command about to go on an idle kept-alive connection. A
    /// read needs no look (it is sent again once on a stale connection); a command is never
    /// sent twice, it may have been acted on, so a close the printer made while the connection
    /// sat idle must be seen before it is written.
    pub fn probe_before(&self, request: &Request) -> bool {
        matches!(self.state, State::Idle) && !self.is_busy() && request.lane() == Lane::Command
    }

    /// Start a JSON (or `GET /getThum`) request: on the kept-alive connection if there is
    /// one, otherwise after [`HttpEvent::Connect`]. A request that cannot be encoded is refused
    /// before any connection is opened.
    pub fn start(
        &mut self,
        request: &Request,
        host: &str,
        creds: &Credentials,
        now: Instant,
    ) -> Result<(), UsageError> {
        let now = self.clamp(now);
        let wire = match &self.encoded {
            Some(e) if e.matches(request, host, creds) => e.wire.clone(),
            _ => {
                let mut wire = Vec::with_capacity(256);
                request.encode(host, creds, &mut wire)?;
                // Only small requests are kept (a status poll's is about 250 bytes).
                self.encoded = (wire.len() <= 1024).then(|| Encoded {
                    request: request.clone(),
                    host: host.to_owned(),
                    creds: creds.clone(),
                    wire: wire.clone(),
                });
                wire
            }
        };
        self.abandon();
        self.job = Some(Job::Request {
            lane: request.lane(),
            kind: request.response_kind(),
            wire,
            retried: false,
        });
        match self.state {
            State::Idle => self.begin(true, now),
            _ => self.connect(),
        }
        Ok(())
    }

    /// Start the multipart upload of `spec`, always on a fresh connection (a kept-alive one is
    /// closed first). A spec that cannot be framed is refused before any connection is opened.
    pub fn start_upload(
        &mut self,
        spec: &UploadSpec,
        host: &str,
        creds: &Credentials,
        now: Instant,
    ) -> Result<(), UsageError> {
        self.clamp(now);
        let upload = Upload::new(spec, host, creds)?;
        self.abandon();
        if matches!(self.state, State::Idle) {
            self.close();
        }
        self.job = Some(Job::Upload(Some(upload)));
        self.connect();
        Ok(())
    }

    /// The socket asked for by [`HttpEvent::Connect`] is open.
    pub fn handle_connected(&mut self, now: Instant) {
        let now = self.clamp(now);
        if matches!(self.state, State::Connecting) && self.job.is_some() {
            self.begin(false, now);
        }
    }

    /// Bytes from the socket.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        let now = self.clamp(now);
        match &mut self.state {
            State::Active { exchange, .. } => {
                exchange.handle_bytes(bytes, now);
                self.drain_exchange();
            }
            // Bytes nobody asked for: the connection can no longer be trusted.
            State::Idle if !bytes.is_empty() => self.close(),
            _ => {}
        }
    }

    /// The printer closed the socket.
    pub fn handle_eof(&mut self, now: Instant) {
        let now = self.clamp(now);
        match &mut self.state {
            State::Active { exchange, .. } => {
                exchange.handle_eof(now);
                self.drain_exchange();
            }
            State::Idle => self.close(),
            _ => {}
        }
    }

    /// Time passed (early calls do nothing): the `Expect` wait or a deadline ends.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        if let State::Active { exchange, .. } = &mut self.state {
            exchange.handle_timeout(now);
            self.drain_exchange();
        }
    }

    /// Account for the next file chunk; on `Ok` write `chunk` itself to the socket (see
    /// [`HttpExchange::upload_chunk`]).
    pub fn upload_chunk(&mut self, chunk: &[u8], now: Instant) -> Result<(), UsageError> {
        let now = self.clamp(now);
        self.exchange_mut()?.upload_chunk(chunk, now)
    }

    /// End the body after the last chunk (or report an underrun); see
    /// [`HttpExchange::finish_upload`]. After an early final answer it does nothing.
    pub fn finish_upload(&mut self, now: Instant) -> Result<(), UsageError> {
        let now = self.clamp(now);
        match &mut self.state {
            State::Active { exchange, .. } => exchange.finish_upload(now),
            _ => Ok(()),
        }
    }

    /// Upload only: how many bytes (at most `max`) the next chunk may hold, or `None` when the
    /// body is complete or no longer wanted (the printer already answered).
    pub fn next_chunk_len(&self, max: usize) -> Option<usize> {
        let State::Active { exchange, .. } = &self.state else {
            return None;
        };
        let left = exchange.body_remaining().filter(|&n| n > 0)?;
        Some(usize::try_from(left).unwrap_or(usize::MAX).min(max))
    }

    /// Upload progress: file bytes accepted so far and the total.
    pub fn upload_progress(&self) -> Option<(u64, u64)> {
        match &self.state {
            State::Active { exchange, .. } => exchange.upload_progress(),
            _ => None,
        }
    }

    /// Bytes to write to the socket, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match &mut self.state {
            State::Active { exchange, .. } => exchange.poll_transmit(),
            _ => None,
        }
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<HttpEvent> {
        self.events.pop_front()
    }

    /// When to call [`HttpConnection::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Active { exchange, .. } => exchange.poll_timeout(),
            _ => None,
        }
    }

    fn clamp(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| last.max(now));
        self.last_now = Some(now);
        now
    }

    fn exchange_mut(&mut self) -> Result<&mut HttpExchange, UsageError> {
        match &mut self.state {
            State::Active { exchange, .. } => Ok(exchange),
            _ => Err(UsageError::Upload("no upload running")),
        }
    }

    /// A request left unfinished (its caller gave up): forget it and its events; its socket
    /// may still get its response, so it is closed.
    fn abandon(&mut self) {
        self.events.retain(|e| *e == HttpEvent::Close);
        if self.job.take().is_some() && !matches!(self.state, State::Idle) {
            self.close();
        }
    }

    fn close(&mut self) {
        if !matches!(self.state, State::Closed) {
            self.events.push_back(HttpEvent::Close);
        }
        self.state = State::Closed;
    }

    fn connect(&mut self) {
        if matches!(self.state, State::Connecting) {
            return;
        }
        self.close();
        self.state = State::Connecting;
        self.events.push_back(HttpEvent::Connect);
    }

    /// Put the job on the open socket.
    fn begin(&mut self, reused: bool, now: Instant) {
        let exchange = match &mut self.job {
            Some(Job::Request {
                lane, kind, wire, ..
            }) => HttpExchange::encoded(*lane, *kind, wire.clone(), &self.config, now),
            Some(Job::Upload(upload)) => match upload.take() {
                Some(u) => HttpExchange::upload(u, &self.config, now),
                None => return,
            },
            None => return,
        };
        self.state = State::Active {
            exchange: Box::new(exchange),
            reused,
        };
        self.drain_exchange();
    }

    /// Take the exchange's events into ours (its `Done` ends the cycle).
    fn drain_exchange(&mut self) {
        let State::Active { exchange, reused } = &mut self.state else {
            return;
        };
        let reused = *reused;
        // An upload's answer counts only after the whole body (see `early_success`).
        let early = match (&self.job, exchange.request_complete()) {
            (Some(Job::Upload(_)), false) => exchange.upload_progress(),
            _ => None,
        };
        let mut outcome = None;
        while let Some(ev) = exchange.poll_event() {
            match ev {
                ExchangeEvent::SendBody => self.events.push_back(HttpEvent::SendBody),
                ExchangeEvent::Done(r) => {
                    let keep = match (&r, &self.job) {
                        (Ok(resp), Some(Job::Request { .. })) => exchange.connection_reusable(resp),
                        _ => false,
                    };
                    outcome = Some((r, keep));
                    break;
                }
            }
        }
        let Some((result, keep)) = outcome else {
            return;
        };
        if keep {
            self.state = State::Idle;
        } else {
            self.close();
        }
        if let Some(Job::Request { lane, retried, .. }) = &mut self.job {
            // The printer closed a kept-alive connection before answering: a read (never a
            // command, which may have been acted on) goes once more on a fresh one.
            let stale = reused && matches!(result, Err(HttpError::Closed));
            if stale && *lane == Lane::Read && !*retried {
                *retried = true;
                self.connect();
                return;
            }
        }
        let kind = match self.job.take() {
            Some(Job::Request { kind, .. }) => kind,
            _ => ResponseKind::Envelope,
        };
        let body = result.and_then(|resp| parse_response(kind, &resp));
        let body = match early {
            Some(progress) => early_success(body, progress),
            None => body,
        };
        self.events.push_back(HttpEvent::Done(body));
    }
}

/// An upload's final answer that arrived before the whole body was sent: a refusal (bad
/// credentials, busy, a non-2xx status) is the outcome, but a success cannot be one — the
/// printer does not have the file — so it is [`HttpError::EarlySuccess`].
fn early_success(
    body: Result<Body, HttpError>,
    (sent, total): (u64, u64),
) -> Result<Body, HttpError> {
    match &body {
        Ok(Body::Envelope(r)) if r.envelope.check().is_err() => body,
        Ok(_) => Err(HttpError::EarlySuccess { sent, total }),
        Err(_) => body,
    }
}
