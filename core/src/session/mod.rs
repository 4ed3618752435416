//! The TCP connection state machine: login, one command in flight, keep-alive, reconnect with
//! back-off and re-login, legacy upload. Events in, outputs out; time only as arguments.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::config::{Config, Dialect};
use crate::error::{CommandError, UsageError};
use crate::gcode::{parse_reply, BinaryLimits, Command, FrameStatus, Parsed, Reply, ReplyFramer};
use crate::timer::{Timer, TimerTable};

mod event;

pub use event::{CommandId, ConnectionState, Event, SessionError, Stats};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    User(CommandId),
    /// A read-only query sent again once after the connection dropped with it in flight; it is
    /// never retried a second time.
    Retry(CommandId),
    KeepAlive,
    Login,
    LoginRelease,
    Logout,
    UploadBegin(CommandId, u64),
    UploadEnd(CommandId),
}

#[derive(Debug)]
struct InFlight {
    origin: Origin,
    framer: ReplyFramer,
    /// The command, kept only for a first attempt of a read-only query (the one thing sent
    /// again after a dropped connection).
    retry: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Connecting,
    LoggingIn { attempt: u8 },
    LoginWait { attempt: u8 },
    Ready,
    Uploading { id: CommandId, remaining: u64 },
    Closing { logout_sent: bool },
    Reconnecting,
    Closed,
    Failed(SessionError),
}

/// The port-8899 session.
///
/// # Driving it
/// After every `handle_*` call or command, drain [`poll_transmit`](Self::poll_transmit) until
/// `None` (write the bytes in order), then [`poll_event`](Self::poll_event) until `None`, then
/// read [`poll_timeout`](Self::poll_timeout) and wait for bytes or that deadline, whichever
/// comes first. Early or repeated [`handle_timeout`](Self::handle_timeout) calls are harmless;
/// time that goes backwards is clamped.
///
/// ```
/// use std::time::{Duration, Instant};
/// use flashforge_proto::{Command, Config, Event, Session};
///
/// let t0 = Instant::now();
/// let mut s = Session::new(Config::default(), t0);
/// assert_eq!(s.poll_event(), Some(Event::Connect)); // open the socket, then:
/// s.handle_connected(t0);
/// assert_eq!(s.poll_transmit().as_deref(), Some(&b"~M601 S1\n"[..]));
/// s.handle_bytes(b"CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n", t0);
/// let id = s.submit(Command::Temperatures, t0).unwrap();
/// assert_eq!(s.poll_transmit().as_deref(), Some(&b"~M105\n"[..]));
/// s.handle_bytes(b"CMD M105 Received.\r\nT0:210/210 B:60/60\r\nok\r\n", t0);
/// while let Some(e) = s.poll_event() {
///     if let Event::Reply { id: got, result, .. } = e {
///         assert_eq!(got, id);
///         assert!(result.is_ok());
///     }
/// }
/// // Idle: the next deadline is the keep-alive, 5 s later.
/// assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(5)));
/// ```
pub struct Session {
    config: Config,
    limits: BinaryLimits,
    phase: Phase,
    queue: VecDeque<(Origin, Command)>,
    in_flight: Option<InFlight>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    timers: TimerTable,
    last_now: Instant,
    last_activity: Instant,
    next_id: u64,
    keepalive_errors: u32,
    reconnects: u32,
    expect_echo: bool,
    /// The last bytes received outside a reply ended mid-line.
    mid_line: bool,
    stats: Stats,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.phase)
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight.as_ref().map(|i| i.origin))
            .field("next_timeout", &self.timers.next())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session; its first event is [`Event::Connect`].
    pub fn new(config: Config, now: Instant) -> Self {
        let mut s = Self {
            limits: BinaryLimits::from(&config),
            config,
            phase: Phase::Connecting,
            queue: VecDeque::new(),
            in_flight: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: TimerTable::default(),
            last_now: now,
            last_activity: now,
            next_id: 0,
            keepalive_errors: 0,
            reconnects: 0,
            expect_echo: false,
            mid_line: false,
            stats: Stats::default(),
        };
        s.events.push_back(Event::Connect);
        s.events
            .push_back(Event::State(ConnectionState::Connecting));
        s
    }

    // ---- getters -------------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Switch the TCP dialect, for a client that learns the model from `~M115` after login
    /// (commands submitted from now on use it).
    pub fn set_dialect(&mut self, dialect: Dialect) {
        self.config.dialect = dialect;
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        match &self.phase {
            Phase::Connecting => ConnectionState::Connecting,
            Phase::LoggingIn { attempt } | Phase::LoginWait { attempt } => {
                ConnectionState::LoggingIn { attempt: *attempt }
            }
            Phase::Ready => ConnectionState::Ready,
            Phase::Uploading { .. } => ConnectionState::Uploading,
            Phase::Closing { .. } => ConnectionState::Closing,
            Phase::Reconnecting => ConnectionState::Reconnecting {
                attempt: self.reconnects,
                at: self.timers.get(Timer::Reconnect).unwrap_or(self.last_now),
            },
            Phase::Closed => ConnectionState::Closed,
            Phase::Failed(e) => ConnectionState::Failed(e.clone()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Commands waiting behind the one in flight.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The earliest deadline and which timer it is (for debugging).
    pub fn next_timer(&self) -> Option<(Instant, Timer)> {
        self.timers.next()
    }

    // ---- outputs -------------------------------------------------------------------------

    /// The next bytes to write to the socket.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; never earlier than the last
    /// `now` given.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(t, _)| t.max(self.last_now))
    }

    // ---- inputs --------------------------------------------------------------------------

    /// The TCP connection requested by [`Event::Connect`] is open: log in.
    pub fn handle_connected(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.phase != Phase::Connecting {
            return;
        }
        self.last_activity = now;
        self.start_login(0, now);
    }

    /// The TCP connection could not be opened: retry after back-off.
    pub fn handle_connect_failed(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.phase == Phase::Connecting {
            self.schedule_reconnect(now);
        }
    }

    /// Bytes arrived from the printer.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        let now = self.clamp(now);
        let Some(fl) = self.in_flight.as_mut() else {
            self.stats.stale_bytes += bytes.len() as u64;
            if let Some(&last) = bytes.last() {
                self.mid_line = !matches!(last, b'\n' | b'\r');
            }
            return;
        };
        match fl.framer.push(bytes) {
            Ok(FrameStatus::Complete) => self.complete_in_flight(now),
            Ok(FrameStatus::Partial) => match fl.framer.quiet_period() {
                Some(q) => self.timers.set(Timer::Quiet, now + q),
                None => self.timers.stop(Timer::Quiet),
            },
            Err(e) => self.fail_connection(CommandError::Protocol(e), now),
        }
        self.pump(now);
    }

    /// The printer closed the connection. A read-only query in flight ([`Command::is_query`])
    /// is sent again once after the next login; any other command in flight fails with
    /// [`CommandError::Disconnected`] (or `Incomplete` when part of its reply came).
    pub fn handle_eof(&mut self, now: Instant) {
        let now = self.clamp(now);
        match self.phase {
            Phase::Connecting | Phase::Reconnecting | Phase::Closed | Phase::Failed(_) => {}
            _ => {
                // No more bytes can come: a reply that would have ended on a quiet period
                // (its end is not recognisable) ends here; any other is cut short.
                let mut error = CommandError::Disconnected;
                if let Some(fl) = self.in_flight.as_mut() {
                    if fl.framer.quiet_period().is_some() {
                        fl.framer.finish();
                        self.complete_in_flight(now);
                    } else if fl.framer.buffered() > 0 {
                        // Part of the reply came, its end did not.
                        error = CommandError::Incomplete {
                            received: fl.framer.buffered(),
                        };
                    }
                }
                self.drop_connection(error, true, now);
            }
        }
        self.pump(now);
    }

    /// Time passed. Calls before a deadline do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.timers.is_due(Timer::ReplyDeadline, now) {
            self.timers.stop(Timer::ReplyDeadline);
            match self.in_flight.as_mut() {
                // A reply waiting out its quiet period (a deadline shorter than the quiet
                // fallback) is as complete as it would be when the quiet ends.
                Some(fl)
                    if fl.framer.completes_at_deadline() || fl.framer.quiet_period().is_some() =>
                {
                    fl.framer.finish();
                    self.complete_in_flight(now);
                }
                fl => {
                    let received = fl.map_or(0, |f| f.framer.buffered());
                    self.stats.timeouts += 1;
                    let error = if received > 0 {
                        CommandError::Incomplete { received }
                    } else {
                        CommandError::TimedOut
                    };
                    self.fail_connection(error, now);
                }
            }
        }
        if self.timers.is_due(Timer::Quiet, now) {
            self.timers.stop(Timer::Quiet);
            if let Some(fl) = self.in_flight.as_mut() {
                fl.framer.finish();
                self.complete_in_flight(now);
            }
        }
        if self.timers.is_due(Timer::LoginRetry, now) {
            self.timers.stop(Timer::LoginRetry);
            if let Phase::LoginWait { attempt } = self.phase {
                self.start_login(attempt, now);
            }
        }
        if self.timers.is_due(Timer::Reconnect, now) {
            self.timers.stop(Timer::Reconnect);
            if self.phase == Phase::Reconnecting {
                self.phase = Phase::Connecting;
                self.events.push_back(Event::Connect);
                self.state_event();
            }
        }
        if self.timers.is_due(Timer::KeepAlive, now) {
            self.timers.stop(Timer::KeepAlive);
            if self.phase == Phase::Ready && self.in_flight.is_none() && self.queue.is_empty() {
                self.stats.keepalives += 1;
                self.send(Origin::KeepAlive, Command::PrintStatus, now);
            }
        }
        self.pump(now);
    }

    // ---- commands ------------------------------------------------------------------------

    /// Queue a command. It is sent once the session is logged in and earlier commands have
    /// their replies; the outcome arrives as [`Event::Reply`] with the returned id.
    ///
    /// Fails without sending anything when the command cannot be encoded, the queue is full
    /// ([`UsageError::QueueFull`]: backpressure), the session is closed, or the command is one
    /// the session manages itself (login, logout, upload boundaries).
    pub fn submit(&mut self, command: Command, now: Instant) -> Result<CommandId, UsageError> {
        let now = self.clamp(now);
        if matches!(
            command,
            Command::Login | Command::Logout | Command::UploadBegin { .. } | Command::UploadEnd
        ) {
            return Err(UsageError::Managed);
        }
        let id = self.enqueue(command, Origin::User)?;
        self.pump(now);
        Ok(id)
    }

    /// Begin a legacy upload (`~M28 size 0:/user/name`). When the printer accepts,
    /// [`Event::UploadReady`] asks for the file bytes through [`upload_chunk`](Self::upload_chunk);
    /// after exactly `size` bytes the session sends `~M29` and reports [`Event::Reply`].
    pub fn start_upload(
        &mut self,
        name: &str,
        size: u64,
        now: Instant,
    ) -> Result<CommandId, UsageError> {
        let now = self.clamp(now);
        let busy = matches!(self.phase, Phase::Uploading { .. })
            || self
                .queue
                .iter()
                .any(|(o, _)| matches!(o, Origin::UploadBegin(..)))
            || self
                .in_flight
                .as_ref()
                .is_some_and(|f| matches!(f.origin, Origin::UploadBegin(..)));
        if busy {
            return Err(UsageError::Upload("an upload is already running"));
        }
        let command = Command::upload_begin(name, size)?;
        let id = self.enqueue(command, |id| Origin::UploadBegin(id, size))?;
        self.pump(now);
        Ok(id)
    }

    /// Give the next file bytes of a running upload. Drain [`poll_transmit`](Self::poll_transmit)
    /// after every call: a second chunk before the first was taken is
    /// [`UsageError::WouldBlock`], so the core never holds more than one chunk.
    pub fn upload_chunk(&mut self, data: &[u8], now: Instant) -> Result<(), UsageError> {
        let now = self.clamp(now);
        let Phase::Uploading { id, remaining } = self.phase else {
            return Err(UsageError::Upload("no upload is running"));
        };
        let len = data.len() as u64;
        if len > remaining {
            return Err(UsageError::UploadOverrun {
                excess: len - remaining,
            });
        }
        if !self.transmits.is_empty() {
            return Err(UsageError::WouldBlock);
        }
        if !data.is_empty() {
            self.transmits.push_back(data.to_vec());
        }
        self.stats.upload_bytes += len;
        let remaining = remaining - len;
        self.phase = Phase::Uploading { id, remaining };
        if remaining == 0 {
            self.send(Origin::UploadEnd(id), Command::UploadEnd, now);
        }
        Ok(())
    }

    /// Withdraw a command that is still queued (not yet written), for a caller that gave up
    /// waiting (the printer was unreachable). Returns whether it was withdrawn; a command in
    /// flight cannot be withdrawn and still gets its [`Event::Reply`].
    pub fn cancel(&mut self, id: CommandId) -> bool {
        let before = self.queue.len();
        self.queue
            .retain(|(o, _)| {
                !matches!(o, Origin::User(i) | Origin::Retry(i) | Origin::UploadBegin(i, _) if *i == id)
            });
        self.queue.len() != before
    }

    /// Log out (`~M602`) and close. Queued commands are cancelled; the command in flight, if
    /// any, finishes first. Ends with [`Event::Disconnect`] and `State(Closed)`.
    pub fn close(&mut self, now: Instant) {
        let now = self.clamp(now);
        self.cancel_queue();
        match self.phase {
            Phase::Ready | Phase::LoggingIn { .. } | Phase::LoginWait { .. } => {
                self.timers.stop(Timer::KeepAlive);
                self.timers.stop(Timer::LoginRetry);
                self.phase = Phase::Closing { logout_sent: false };
                self.state_event();
            }
            Phase::Uploading { id, .. } => {
                self.reply(id, Err(CommandError::Cancelled), Vec::new());
                self.events.push_back(Event::Disconnect);
                self.enter_closed();
            }
            Phase::Connecting | Phase::Reconnecting => self.enter_closed(),
            Phase::Closing { .. } | Phase::Closed | Phase::Failed(_) => {}
        }
        self.pump(now);
    }

    // ---- internals -----------------------------------------------------------------------

    fn clamp(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn state_event(&mut self) {
        let s = self.state();
        self.events.push_back(Event::State(s));
    }

    fn enqueue(
        &mut self,
        command: Command,
        origin: impl FnOnce(CommandId) -> Origin,
    ) -> Result<CommandId, UsageError> {
        if matches!(
            self.phase,
            Phase::Closed | Phase::Failed(_) | Phase::Closing { .. }
        ) {
            return Err(UsageError::Closed);
        }
        command.encode(&mut Vec::new())?;
        if self.queue.len() >= self.config.max_pending_commands {
            return Err(UsageError::QueueFull {
                max: self.config.max_pending_commands,
            });
        }
        self.next_id += 1;
        let id = CommandId(self.next_id);
        self.queue.push_back((origin(id), command));
        Ok(id)
    }

    fn start_login(&mut self, attempt: u8, now: Instant) {
        self.phase = Phase::LoggingIn { attempt };
        self.state_event();
        self.send(Origin::Login, Command::Login, now);
    }

    /// Write one command and start framing its reply.
    fn send(&mut self, origin: Origin, command: Command, now: Instant) {
        let mut line = Vec::with_capacity(32);
        if let Err(e) = command.encode(&mut line) {
            // Commands are validated when queued; internal ones always encode.
            if let Origin::User(id)
            | Origin::Retry(id)
            | Origin::UploadBegin(id, _)
            | Origin::UploadEnd(id) = origin
            {
                self.reply(id, Err(CommandError::Protocol(e.into())), Vec::new());
            }
            return;
        }
        self.transmits.push_back(line);
        self.stats.commands_sent += 1;
        self.timers.stop(Timer::KeepAlive);
        let profile = command.profile(&self.config);
        let echo = self.expect_echo && self.config.dialect == Dialect::Modern;
        let mut framer = ReplyFramer::new(profile, &self.config, echo);
        if std::mem::take(&mut self.mid_line) {
            framer.skip_partial_line();
        }
        let retry = (matches!(origin, Origin::User(_)) && command.is_query()).then_some(command);
        self.in_flight = Some(InFlight {
            origin,
            framer,
            retry,
        });
        if profile.no_reply {
            if let Some(fl) = self.in_flight.as_mut() {
                fl.framer.finish();
            }
            self.complete_in_flight(now);
            return;
        }
        self.timers.set(Timer::ReplyDeadline, now + profile.timeout);
    }

    fn complete_in_flight(&mut self, now: Instant) {
        let Some(mut fl) = self.in_flight.take() else {
            return;
        };
        self.timers.stop(Timer::ReplyDeadline);
        self.timers.stop(Timer::Quiet);
        self.last_activity = now;
        self.stats.stale_bytes += (fl.framer.stale_bytes() + fl.framer.leftover().len()) as u64;
        if let Some(&last) = fl.framer.leftover().last() {
            self.mid_line = !matches!(last, b'\n' | b'\r');
        }
        if fl.framer.saw_echo() && self.config.dialect == Dialect::Modern {
            self.expect_echo = true;
        }
        let kind = fl.framer.profile().kind;
        let no_reply = fl.framer.profile().no_reply;
        let raw = fl.framer.take_reply();
        let result = if no_reply {
            Ok(Reply::Ack(crate::gcode::CommandAck {
                opened_path: None,
                size: None,
                position: None,
            }))
        } else {
            match parse_reply(kind, &raw, &self.limits) {
                Ok(Parsed::Complete(r)) => Ok(r),
                Ok(Parsed::Incomplete(_)) => Err(CommandError::Incomplete {
                    received: raw.len(),
                }),
                Err(e) => Err(e),
            }
        };
        match fl.origin {
            Origin::User(id) | Origin::Retry(id) => {
                let denied = result == Err(CommandError::Denied);
                self.reply(id, result, raw);
                if denied && self.phase == Phase::Ready {
                    // The printer no longer considers us in control: log in again.
                    self.start_login(0, now);
                }
            }
            Origin::KeepAlive => match result {
                Ok(Reply::PrintStatus(status)) => {
                    self.keepalive_errors = self.keepalive_errors.saturating_sub(1);
                    self.events.push_back(Event::KeepAlive(status));
                }
                Err(CommandError::Denied) => self.start_login(0, now),
                _ => self.keepalive_errors += 1,
            },
            Origin::Login => {
                let Phase::LoggingIn { attempt } = self.phase else {
                    return;
                };
                let granted = matches!(result, Ok(Reply::Login(l)) if l.granted);
                if granted {
                    self.reconnects = 0;
                    self.stats.logins += 1;
                    self.phase = Phase::Ready;
                    self.state_event();
                } else if attempt + 1 >= self.config.login_attempts {
                    self.events.push_back(Event::Disconnect);
                    self.fail(SessionError::LoginDenied {
                        attempts: attempt + 1,
                    });
                } else {
                    self.phase = Phase::LoginWait {
                        attempt: attempt + 1,
                    };
                    self.send(Origin::LoginRelease, Command::Logout, now);
                }
            }
            Origin::LoginRelease => {
                if let Phase::LoginWait { attempt } = self.phase {
                    let wait = self.config.login_backoff_step * u32::from(attempt);
                    self.timers.set(Timer::LoginRetry, now + wait);
                }
            }
            Origin::Logout => {
                self.events.push_back(Event::Disconnect);
                self.enter_closed();
            }
            Origin::UploadBegin(id, size) => match result {
                Ok(_) if self.phase == Phase::Ready => {
                    self.phase = Phase::Uploading {
                        id,
                        remaining: size,
                    };
                    self.state_event();
                    self.events.push_back(Event::UploadReady { id });
                    if size == 0 {
                        self.send(Origin::UploadEnd(id), Command::UploadEnd, now);
                    }
                }
                other => self.reply(id, other.and(Err(CommandError::Cancelled)), raw),
            },
            Origin::UploadEnd(id) => {
                if let Phase::Uploading { .. } = self.phase {
                    self.phase = Phase::Ready;
                    self.state_event();
                }
                self.reply(id, result, raw);
            }
        }
    }

    fn reply(&mut self, id: CommandId, result: Result<Reply, CommandError>, raw: Vec<u8>) {
        self.events.push_back(Event::Reply { id, result, raw });
    }

    /// Timeout, EOF or a framing error: fail what was in flight, drop the socket, reconnect.
    fn fail_connection(&mut self, error: CommandError, now: Instant) {
        self.drop_connection(error, false, now);
    }

    /// [`Self::fail_connection`]; `closed_by_peer` when the printer closed the connection, the
    /// one failure after which a read-only query in flight is asked again.
    fn drop_connection(&mut self, error: CommandError, closed_by_peer: bool, now: Instant) {
        let in_flight = self.in_flight.take();
        self.timers.stop_all();
        self.mid_line = false;
        if let Some(fl) = in_flight {
            // A read-only query cut off by a dropped connection is asked again, once, on the
            // next connection after its login (tcp.md: queries change nothing, so asking
            // twice is safe); a command that changes the printer is never sent again.
            let dropped = closed_by_peer
                && matches!(
                    error,
                    CommandError::Disconnected | CommandError::Incomplete { .. }
                );
            let closing = matches!(self.phase, Phase::Closing { .. });
            match (fl.origin, fl.retry) {
                // Only where the queue has room: its bound holds for retries too.
                (Origin::User(id), Some(command))
                    if dropped
                        && !closing
                        && self.queue.len() < self.config.max_pending_commands =>
                {
                    self.stats.queries_retried += 1;
                    self.queue.push_front((Origin::Retry(id), command));
                }
                (Origin::User(id) | Origin::Retry(id), _)
                | (Origin::UploadBegin(id, _) | Origin::UploadEnd(id), _) => {
                    self.reply(id, Err(error.clone()), fl.framer.reply().to_vec());
                }
                (Origin::KeepAlive, _) => self.keepalive_errors += 1,
                (Origin::Login | Origin::LoginRelease | Origin::Logout, _) => {}
            }
        }
        if let Phase::Uploading { id, .. } = self.phase {
            if !matches!(error, CommandError::Cancelled) {
                self.reply(id, Err(CommandError::Disconnected), Vec::new());
            }
        }
        self.transmits.clear();
        self.events.push_back(Event::Disconnect);
        if matches!(self.phase, Phase::Closing { .. }) {
            self.enter_closed();
            return;
        }
        self.schedule_reconnect(now);
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        self.reconnects += 1;
        self.stats.reconnects += 1;
        if let Some(max) = self.config.max_reconnect_attempts {
            if self.reconnects > max {
                self.fail(SessionError::ReconnectsExhausted { attempts: max });
                return;
            }
        }
        let shift = (self.reconnects - 1).min(16);
        let delay = self
            .config
            .reconnect_backoff
            .saturating_mul(1 << shift)
            .min(self.config.reconnect_backoff_max);
        self.phase = Phase::Reconnecting;
        self.timers.set(Timer::Reconnect, now + delay);
        self.state_event();
    }

    fn cancel_queue(&mut self) {
        while let Some((origin, _)) = self.queue.pop_front() {
            match origin {
                Origin::User(id) | Origin::UploadBegin(id, _) => {
                    self.reply(id, Err(CommandError::Cancelled), Vec::new());
                }
                // Its first attempt was lost with the connection, and no new one comes.
                Origin::Retry(id) => self.reply(id, Err(CommandError::Disconnected), Vec::new()),
                _ => {}
            }
        }
    }

    fn enter_closed(&mut self) {
        self.timers.stop_all();
        self.in_flight = None;
        self.cancel_queue();
        self.phase = Phase::Closed;
        self.state_event();
    }

    fn fail(&mut self, error: SessionError) {
        self.timers.stop_all();
        self.in_flight = None;
        self.cancel_queue();
        self.phase = Phase::Failed(error);
        self.state_event();
    }

    /// Send the next command if nothing is in flight, or arm the keep-alive when idle.
    fn pump(&mut self, now: Instant) {
        if self.in_flight.is_some() {
            return;
        }
        match self.phase {
            Phase::Ready => {
                if let Some((origin, command)) = self.queue.pop_front() {
                    self.send(origin, command, now);
                } else if self.config.keepalive {
                    let at = self.last_activity + self.keepalive_interval();
                    self.timers.set(Timer::KeepAlive, at);
                }
            }
            Phase::Closing { logout_sent: false } => {
                self.phase = Phase::Closing { logout_sent: true };
                self.send(Origin::Logout, Command::Logout, now);
            }
            _ => {}
        }
        // A command completed synchronously (no-reply profile) may have freed the slot.
        if self.in_flight.is_none() && self.phase == Phase::Ready && !self.queue.is_empty() {
            self.pump(now);
        }
    }

    /// The current keep-alive interval: the configured one plus one step per recent failure.
    pub fn keepalive_interval(&self) -> Duration {
        self.config.keepalive_interval + self.config.keepalive_error_step * self.keepalive_errors
    }
}
