//! [`TcpCalls`]: the TCP [`crate::Session`] as a client uses it, one call at a time, with
//! the [`TcpAction`]s its driver performs.

use std::time::Duration;

use crate::{Command, CommandError, Dialect, Reply};

use super::ClientError;

/// What a driver of [`TcpCalls`] does next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpAction {
    /// Open the TCP connection, then [`TcpCalls::handle_connected`] or
    /// [`TcpCalls::handle_connect_failed`].
    Connect,
    /// Close the socket.
    Disconnect,
    /// Write these bytes (on failure: [`TcpCalls::handle_eof`]).
    Write(Vec<u8>),
}

/// The TCP [`crate::Session`] as a client uses it: one call at a time waits for its own
/// outcome. Keeps the replies, the upload hand-shake and the connect failures, so that an
/// adapter's loop is only sockets and timers:
///
/// 1. `submit` (or `start_upload`); 2. drain [`poll_action`](Self::poll_action) and
///    [`poll_state`](Self::poll_state); 3. until [`outcome`](Self::outcome) is `Some`, wait for
///    bytes or [`poll_timeout`](Self::poll_timeout), feed them, and go to 2.
#[derive(Debug)]
pub struct TcpCalls {
    session: crate::Session,
    replies: Vec<(crate::CommandId, Result<Reply, CommandError>)>,
    upload_ready: Option<crate::CommandId>,
    connect_error: Option<ClientError>,
    states: std::collections::VecDeque<crate::ConnectionState>,
    /// The call being waited for and when it gives up if it is still not written (the
    /// printer accepts connections but never completes a login, say).
    call_deadline: Option<(crate::CommandId, std::time::Instant)>,
    wait_limit: Duration,
}

impl TcpCalls {
    /// A session that will ask to connect.
    pub fn new(config: crate::Config, now: std::time::Instant) -> Self {
        // Long enough for a connect, a login and a back-off or two; a call still queued after
        // this fails with `TimedOut` instead of waiting for a printer that never lets it in.
        let wait_limit = config.reply_timeout.saturating_mul(3);
        Self {
            session: crate::Session::new(config, now),
            replies: Vec::new(),
            upload_ready: None,
            connect_error: None,
            states: std::collections::VecDeque::new(),
            call_deadline: None,
            wait_limit,
        }
    }

    /// The session.
    pub fn session(&self) -> &crate::Session {
        &self.session
    }

    /// Switch the dialect (after `~M115` named the model).
    pub fn set_dialect(&mut self, dialect: Dialect) {
        self.session.set_dialect(dialect);
    }

    /// Closed or failed for good: the client starts a new one.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.session.state(),
            crate::ConnectionState::Closed | crate::ConnectionState::Failed(_)
        )
    }

    /// Whether the next call needs a new session: this one is finished, or a legacy upload
    /// was abandoned half-way (its caller was cancelled), which leaves the printer waiting for
    /// file bytes that will never come.
    pub fn needs_replacing(&self) -> bool {
        self.is_finished() || self.session.state() == crate::ConnectionState::Uploading
    }

    /// Queue a command.
    pub fn submit(
        &mut self,
        command: Command,
        now: std::time::Instant,
    ) -> Result<crate::CommandId, ClientError> {
        self.connect_error = None;
        // One call at a time: anything left over belongs to a call whose caller went away.
        self.replies.clear();
        self.upload_ready = None;
        let id = self.session.submit(command, now)?;
        self.call_deadline = Some((id, now + self.wait_limit));
        Ok(id)
    }

    /// Begin a legacy upload.
    pub fn start_upload(
        &mut self,
        name: &str,
        size: u64,
        now: std::time::Instant,
    ) -> Result<crate::CommandId, ClientError> {
        self.connect_error = None;
        self.replies.clear();
        self.upload_ready = None;
        let id = self.session.start_upload(name, size, now)?;
        self.call_deadline = Some((id, now + self.wait_limit));
        Ok(id)
    }

    /// The next file bytes of the upload (drain [`poll_action`](Self::poll_action) after each).
    pub fn upload_chunk(
        &mut self,
        data: &[u8],
        now: std::time::Instant,
    ) -> Result<(), ClientError> {
        Ok(self.session.upload_chunk(data, now)?)
    }

    /// Log out and close.
    pub fn close(&mut self, now: std::time::Instant) {
        self.session.close(now);
    }

    /// The next thing to do with the socket.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<TcpAction> {
        if let Some(tx) = self.session.poll_transmit() {
            return Some(TcpAction::Write(tx));
        }
        while let Some(ev) = self.session.poll_event() {
            match ev {
                crate::Event::Connect => return Some(TcpAction::Connect),
                crate::Event::Disconnect => return Some(TcpAction::Disconnect),
                // Bounded: a caller that never drains states loses the oldest.
                crate::Event::State(s) => {
                    if self.states.len() == 64 {
                        self.states.pop_front();
                    }
                    self.states.push_back(s);
                }
                crate::Event::Reply { id, result, .. } => self.replies.push((id, result)),
                crate::Event::UploadReady { id } => self.upload_ready = Some(id),
                _ => {}
            }
            if let Some(tx) = self.session.poll_transmit() {
                return Some(TcpAction::Write(tx));
            }
        }
        None
    }

    /// The next connection-state change, for the client's callback.
    #[must_use]
    pub fn poll_state(&mut self) -> Option<crate::ConnectionState> {
        self.states.pop_front()
    }

    /// The deadline to wait for (the session's, or the waiting call's limit).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<std::time::Instant> {
        let call = self.call_deadline.map(|(_, t)| t);
        match (self.session.poll_timeout(), call) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The connection asked for by [`TcpAction::Connect`] is open.
    pub fn handle_connected(&mut self, now: std::time::Instant) {
        self.session.handle_connected(now);
    }

    /// It could not be opened: the waiting call fails with `error` instead of waiting for
    /// the back-off.
    pub fn handle_connect_failed(&mut self, error: ClientError, now: std::time::Instant) {
        self.connect_error = Some(error);
        self.session.handle_connect_failed(now);
    }

    /// Bytes arrived.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: std::time::Instant) {
        self.session.handle_bytes(bytes, now);
    }

    /// The peer closed (or a read or write failed).
    pub fn handle_eof(&mut self, now: std::time::Instant) {
        self.session.handle_eof(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: std::time::Instant) {
        self.session.handle_timeout(now);
    }

    /// The outcome of call `id`, once there is one. A connect failure withdraws the call
    /// (so it is not sent after a later reconnect) and reports the printer unreachable; a
    /// session that gave up reports why (`ControlHeld` for a denied login).
    ///
    /// A call that is still queued (never written) at its wait limit is withdrawn and fails
    /// with [`ClientError::TimedOut`]; a call in flight ends by the session's reply deadline.
    pub fn outcome(
        &mut self,
        id: crate::CommandId,
        now: std::time::Instant,
    ) -> Option<Result<Reply, ClientError>> {
        let r = self.outcome_inner(id, now);
        if r.is_some() && self.call_deadline.is_some_and(|(c, _)| c == id) {
            self.call_deadline = None;
        }
        r
    }

    fn outcome_inner(
        &mut self,
        id: crate::CommandId,
        now: std::time::Instant,
    ) -> Option<Result<Reply, ClientError>> {
        if let crate::ConnectionState::Failed(e) = self.session.state() {
            self.replies.retain(|(r, _)| *r != id);
            return Some(Err(e.into()));
        }
        if let Some(i) = self.replies.iter().position(|(r, _)| *r == id) {
            return Some(match self.replies.swap_remove(i).1 {
                // The Adventurer 3 "opens" a file that does not exist with size 0 (tcp.md
                // §5.6): that is the printer's "not found", not a selected file.
                Ok(Reply::Ack(a)) if a.size == Some(0) && a.opened_path.is_some() => {
                    Err(ClientError::Printer(format!(
                        "File not found: {}",
                        a.opened_path.unwrap_or_default()
                    )))
                }
                other => other.map_err(ClientError::from),
            });
        }
        if self.connect_error.is_some() && self.session.cancel(id) {
            return self.connect_error.take().map(Err);
        }
        let expired = self.call_deadline.is_some_and(|(c, t)| c == id && now >= t);
        if expired && self.session.cancel(id) {
            return Some(Err(ClientError::TimedOut));
        }
        None
    }

    /// Whether upload `id` may stream (`Some(Ok)`), was refused (`Some(Err)`), or is pending.
    pub fn upload_accepted(
        &mut self,
        id: crate::CommandId,
        now: std::time::Instant,
    ) -> Option<Result<(), ClientError>> {
        if self.upload_ready == Some(id) {
            self.upload_ready = None;
            // Streaming has its own pace; the wait limit was for getting in.
            self.call_deadline = None;
            return Some(Ok(()));
        }
        match self.outcome(id, now)? {
            Ok(_) => Some(Err(ClientError::UnexpectedReply("upload acceptance"))),
            Err(e) => Some(Err(e)),
        }
    }
}
