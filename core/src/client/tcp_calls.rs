//! [`TcpCalls`]: the TCP [`crate::Session`] as a client uses it, one call at a time, with
//! the [`TcpEvent`]s its driver acts on.

use std::time::Duration;

use crate::{Command, CommandError, Dialect, Reply};

use super::{ClientError, UploadProgress};

/// What a driver of [`TcpCalls`] does next, in order (the bytes to write are in the same queue
/// because a write must follow the `Connect` before it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpEvent {
    /// Open the TCP connection, then [`TcpCalls::handle_connected`] or
    /// [`TcpCalls::handle_connect_failed`].
    Connect,
    /// Close the socket.
    Disconnect,
    /// Write these bytes (on failure: [`TcpCalls::handle_eof`]).
    Write(Vec<u8>),
    /// The connection state changed (for the client's callback).
    State(crate::ConnectionState),
}

/// The file of a legacy upload: how much of it the session took.
#[derive(Debug, Clone, Copy)]
struct UploadBody {
    id: crate::CommandId,
    size: u64,
    sent: u64,
    /// The last chunk was taken and its connection is still up: report the progress.
    progressed: bool,
}

/// The TCP [`crate::Session`] as a client uses it: one call at a time waits for its own
/// outcome. Keeps the replies, the upload hand-shake and the connect failures, so that an
/// adapter's loop is only sockets and timers:
///
/// 1. `submit` (or `start_upload`); 2. drain [`poll_event`](Self::poll_event); 3. until
///    [`outcome`](Self::outcome) is `Some`, wait for bytes or
///    [`poll_timeout`](Self::poll_timeout), feed them, and go to 2.
///
/// A legacy upload streams between [`upload_accepted`](Self::upload_accepted) and its
/// outcome: while [`next_chunk_len`](Self::next_chunk_len) is `Some`, read that many bytes at
/// most, give them to [`upload_chunk`](Self::upload_chunk) (none when the file ended early),
/// drain, and report [`chunk_progress`](Self::chunk_progress).
#[derive(Debug)]
pub struct TcpCalls {
    session: crate::Session,
    replies: Vec<(crate::CommandId, Result<Reply, CommandError>)>,
    upload_ready: Option<crate::CommandId>,
    connect_error: Option<ClientError>,
    upload: Option<UploadBody>,
    /// A call's outcome decided here rather than by the session (an upload cut short).
    failed_call: Option<(crate::CommandId, ClientError)>,
    /// The call being waited for and when it gives up if it is still not written (the
    /// printer accepts connections but never completes a login, say).
    call_deadline: Option<(crate::CommandId, std::time::Instant)>,
    wait_limit: Duration,
}

impl TcpCalls {
    /// A session that will ask to connect.
    pub fn new(config: crate::Config, now: std::time::Instant) -> Self {
        // By default long enough for a connect, a login and a back-off or two; a call still
        // queued after this fails with `TimedOut` instead of waiting for a printer that never
        // lets it in. A caller with one deadline for everything sets `call_wait_limit`.
        let wait_limit = config
            .call_wait_limit
            .unwrap_or_else(|| config.reply_timeout.saturating_mul(3));
        Self {
            session: crate::Session::new(config, now),
            replies: Vec::new(),
            upload_ready: None,
            connect_error: None,
            upload: None,
            failed_call: None,
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
        // One call at a time: anything left over belongs to a call whose caller went away.
        self.forget_calls();
        // One deadline for the whole call, queueing, login and reply together: the wait
        // limit, or for a command with a longer deadline than a reply's (homing, the file
        // list) that deadline, so a long command is never cut short by it.
        let config = self.session.config();
        let own = command.profile(config).timeout;
        let limit = if own > config.reply_timeout {
            self.wait_limit.max(own)
        } else {
            self.wait_limit
        };
        let id = self.session.submit(command, now)?;
        self.call_deadline = Some((id, now + limit));
        Ok(id)
    }

    /// Begin a legacy upload.
    pub fn start_upload(
        &mut self,
        name: &str,
        size: u64,
        now: std::time::Instant,
    ) -> Result<crate::CommandId, ClientError> {
        self.forget_calls();
        let id = self.session.start_upload(name, size, now)?;
        self.call_deadline = Some((id, now + self.wait_limit));
        self.upload = Some(UploadBody {
            id,
            size,
            sent: 0,
            progressed: false,
        });
        Ok(id)
    }

    fn forget_calls(&mut self) {
        // A call whose caller went away before its outcome (a dropped future): its command is
        // withdrawn if it is still queued, so that abandoned calls never pile up in the
        // session's bounded queue (which then refused every later call with `QueueFull`, with
        // nothing left to drain it). One already written keeps its place; its reply is dropped.
        if let Some((abandoned, _)) = self.call_deadline.take() {
            self.session.cancel(abandoned);
        }
        self.connect_error = None;
        self.replies.clear();
        self.upload_ready = None;
        self.upload = None;
        self.failed_call = None;
    }

    /// The next file bytes of the upload; drain [`poll_event`](Self::poll_event) after each.
    /// No bytes while some are still due means the file ended early: the session closes (the
    /// printer cannot be left waiting for them) and the upload fails with
    /// [`crate::UsageError::UploadUnderrun`].
    pub fn upload_chunk(
        &mut self,
        data: &[u8],
        now: std::time::Instant,
    ) -> Result<(), ClientError> {
        if let Some(up) = self.upload.as_mut() {
            up.progressed = false;
            if data.is_empty() && up.sent < up.size {
                let missing = up.size - up.sent;
                self.failed_call =
                    Some((up.id, crate::UsageError::UploadUnderrun { missing }.into()));
                self.upload = None;
                self.session.close(now);
                return Ok(());
            }
        }
        self.session.upload_chunk(data, now)?;
        if let Some(up) = self.upload.as_mut() {
            up.sent += data.len() as u64;
            up.progressed = !data.is_empty();
        }
        Ok(())
    }

    /// How many bytes (at most `max`) the upload's next chunk may hold, or `None` when the file
    /// is complete or can no longer be sent (the connection was lost).
    #[must_use]
    pub fn next_chunk_len(&self, max: usize) -> Option<usize> {
        let up = self.upload.filter(|u| u.sent < u.size)?;
        if self.session.state() != crate::ConnectionState::Uploading {
            return None;
        }
        Some(
            usize::try_from(up.size - up.sent)
                .unwrap_or(usize::MAX)
                .min(max),
        )
    }

    /// The upload's progress after a chunk that was taken and written (`None` after a chunk
    /// whose connection was lost).
    #[must_use]
    pub fn chunk_progress(&self) -> Option<UploadProgress> {
        self.upload
            .filter(|u| u.progressed)
            .map(|u| UploadProgress {
                sent: u.sent,
                total: u.size,
            })
    }

    /// Log out and close.
    pub fn close(&mut self, now: std::time::Instant) {
        self.session.close(now);
    }

    /// The next thing to do with the socket, or news for the callback.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<TcpEvent> {
        if let Some(tx) = self.session.poll_transmit() {
            return Some(TcpEvent::Write(tx));
        }
        while let Some(ev) = self.session.poll_event() {
            match ev {
                crate::Event::Connect => return Some(TcpEvent::Connect),
                crate::Event::Disconnect => return Some(TcpEvent::Disconnect),
                crate::Event::State(s) => return Some(TcpEvent::State(s)),
                crate::Event::Reply { id, result, .. } => self.replies.push((id, result)),
                crate::Event::UploadReady { id } => self.upload_ready = Some(id),
                _ => {}
            }
            if let Some(tx) = self.session.poll_transmit() {
                return Some(TcpEvent::Write(tx));
            }
        }
        None
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

    /// The connection asked for by [`TcpEvent::Connect`] is open.
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
        if let Some(up) = self.upload.as_mut() {
            up.progressed = false;
        }
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
    /// A call has one deadline: the wait limit from its submission (for a command with a
    /// longer deadline than a reply's, such as homing, that deadline where it is longer). A call still queued (never written) then is withdrawn
    /// and fails with [`ClientError::TimedOut`] ([`ClientError::ControlHeld`] when the
    /// printer denied the login and the session is trying again); a call in flight then fails
    /// with [`ClientError::TimedOut`] too, whatever remains of its reply deadline.
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
        if self.failed_call.as_ref().is_some_and(|(c, _)| *c == id) {
            self.replies.retain(|(r, _)| *r != id);
            return self.failed_call.take().map(|(_, e)| Err(e));
        }
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
        if expired && !self.session.cancel(id) {
            // Sent late in its window and still unanswered at the call's deadline: the call
            // ends here; the reply, should it still come, is dropped with the next call.
            return Some(Err(ClientError::TimedOut));
        }
        if expired {
            // Logging in again after a denial (a timed-out login reconnects and starts over
            // at attempt 0): the printer answered, and another client holds its control.
            let denied = matches!(
                self.session.state(),
                crate::ConnectionState::LoggingIn { attempt } if attempt > 0
            );
            return Some(Err(if denied {
                ClientError::ControlHeld
            } else {
                ClientError::TimedOut
            }));
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
