//! What a [`Session`](super::Session) reports: its [`Event`]s, [`ConnectionState`], the
//! [`CommandId`] that pairs a reply with its command, why it gave up ([`SessionError`]) and
//! its [`Stats`].

use std::time::Instant;

use crate::error::CommandError;
use crate::gcode::{PrintStatus, Reply};

/// Identifies a submitted command in [`Event::Reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommandId(pub(super) u64);

impl CommandId {
    /// The raw sequence number (starts at 1 per session).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Why the session gave up for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Every login attempt was answered with `Control failed.`: another client holds control.
    #[error("login denied {attempts} times: another client holds control of the printer")]
    LoginDenied {
        /// Attempts made.
        attempts: u8,
    },
    /// The configured number of reconnect attempts failed.
    #[error("gave up after {attempts} reconnect attempts")]
    ReconnectsExhausted {
        /// Attempts made.
        attempts: u32,
    },
}

/// The connection state, reported through [`Event::State`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Waiting for the caller to open the TCP connection.
    Connecting,
    /// Sending `~M601 S1` (attempt counts from 0).
    LoggingIn {
        /// Attempt number.
        attempt: u8,
    },
    /// Logged in; commands flow.
    Ready,
    /// A legacy upload is streaming.
    Uploading,
    /// Connection lost; asking to reconnect at `at`.
    Reconnecting {
        /// Consecutive reconnect attempt (from 1).
        attempt: u32,
        /// When [`Event::Connect`] will be emitted.
        at: Instant,
    },
    /// Logging out.
    Closing,
    /// Closed by the caller.
    Closed,
    /// Gave up.
    Failed(SessionError),
}

/// What the session tells its driver. Drain with [`Session::poll_event`](crate::Session::poll_event).
// Events are moved out once; boxing the reply would cost an allocation per command.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Open a TCP connection to the printer now, then call [`Session::handle_connected`](crate::Session::handle_connected) or
    /// [`Session::handle_connect_failed`](crate::Session::handle_connect_failed).
    Connect,
    /// Close the socket (after writing every pending transmit).
    Disconnect,
    /// The connection state changed.
    State(ConnectionState),
    /// The outcome of a submitted command.
    Reply {
        /// From [`Session::submit`](crate::Session::submit) or [`Session::start_upload`](crate::Session::start_upload).
        id: CommandId,
        /// The typed reply or why there is none.
        result: Result<Reply, CommandError>,
        /// The reply bytes as framed (for logs and debugging).
        raw: Vec<u8>,
    },
    /// `~M28` was accepted: stream the file with [`Session::upload_chunk`](crate::Session::upload_chunk).
    UploadReady {
        /// The upload's id.
        id: CommandId,
    },
    /// A keep-alive `~M27` answered.
    KeepAlive(PrintStatus),
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Command lines written.
    pub commands_sent: u64,
    /// Bytes received outside any reply and dropped.
    pub stale_bytes: u64,
    /// Keep-alives sent.
    pub keepalives: u64,
    /// Replies that missed their deadline.
    pub timeouts: u64,
    /// Reconnects requested.
    pub reconnects: u64,
    /// Logins granted.
    pub logins: u64,
    /// Upload payload bytes accepted.
    pub upload_bytes: u64,
    /// Read-only queries sent again after the connection dropped with them in flight.
    pub queries_retried: u64,
}
