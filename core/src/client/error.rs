//! [`ClientError`]: why a high-level operation failed, and how the layers' errors (session,
//! HTTP envelope, HTTP exchange, TCP command) become it.

use std::io::ErrorKind;

use crate::http::{ApiError, HttpError};
use crate::{CommandError, Model, SessionError, UsageError};

/// Why a high-level operation failed. Every variant is something a person can act on; none
/// contains the check code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The model cannot do this (checked before anything is sent).
    #[error("{operation} is not supported by the {model}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The model.
        model: Model,
    },
    /// The call's arguments are invalid.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The printer rejected the serial number / check code.
    #[error("the printer rejected the serial number or check code")]
    Unauthorized,
    /// Another client holds the TCP control lock.
    #[error("another client holds control of the printer")]
    ControlHeld,
    /// The printer is busy (a job runs or the platform was not cleared).
    #[error("printer busy: {0}")]
    Busy(String),
    /// LAN-only mode is off on the printer (Creator 5 code −2).
    #[error("LAN mode is off on the printer (enable it in the printer's network settings)")]
    LanModeOff,
    /// Any other refusal, as the printer worded it.
    #[error("printer refused: code {}, {message:?}", code.map_or_else(|| "missing".to_owned(), |c| c.to_string()))]
    Refused {
        /// `code` of the envelope.
        code: Option<i64>,
        /// `message`.
        message: String,
    },
    /// A TCP command failed at the printer (`ok` missing, an error line).
    #[error("printer error: {0}")]
    Printer(String),
    /// No reply before the deadline.
    #[error("no reply from the printer before the deadline")]
    TimedOut,
    /// The reply started but its end never came (cut short by a pause longer than the
    /// deadline, or a connection that closed mid-reply): no partial data is returned.
    #[error("incomplete reply from the printer: {received} bytes arrived, its end did not")]
    Incomplete {
        /// Reply bytes that arrived.
        received: usize,
    },
    /// The printer closed the connection.
    #[error("the printer closed the connection")]
    Disconnected,
    /// The printer could not be reached.
    #[error("printer unreachable: {0}")]
    Unreachable(String),
    /// The printer sent bytes that break the protocol (or exceed a bound).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The TCP session gave up (reconnect attempts exhausted).
    #[error(transparent)]
    Session(SessionError),
    /// A reply of the wrong kind.
    #[error("unexpected reply: expected {0}")]
    UnexpectedReply(&'static str),
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// A socket operation failed (the adapter's `std::io::Error`, kept as kind and text).
    #[error("I/O error: {message}")]
    Io {
        /// The error kind.
        kind: ErrorKind,
        /// The operating system's message.
        message: String,
    },
}

impl ClientError {
    /// [`ClientError::Unsupported`].
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported { .. })
    }

    /// Whether the connection that produced the error must be dropped (the next call
    /// reconnects).
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Self::TimedOut
                | Self::Incomplete { .. }
                | Self::Disconnected
                | Self::Unreachable(_)
                | Self::Protocol(_)
                | Self::Io { .. }
        )
    }

    /// The [`std::io::ErrorKind`] adapters report in their `io::Error` conversion.
    pub fn io_kind(&self) -> ErrorKind {
        match self {
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::Usage(_) => ErrorKind::InvalidInput,
            Self::Unauthorized | Self::ControlHeld | Self::LanModeOff => {
                ErrorKind::PermissionDenied
            }
            Self::Busy(_) | Self::Refused { .. } | Self::Printer(_) => ErrorKind::Other,
            Self::TimedOut => ErrorKind::TimedOut,
            Self::Incomplete { .. } => ErrorKind::UnexpectedEof,
            Self::Disconnected => ErrorKind::ConnectionAborted,
            Self::Unreachable(_) => ErrorKind::ConnectionRefused,
            Self::Protocol(_) | Self::UnexpectedReply(_) => ErrorKind::InvalidData,
            Self::Session(SessionError::LoginDenied { .. }) => ErrorKind::PermissionDenied,
            Self::Session(_) => ErrorKind::NotConnected,
            Self::Closed => ErrorKind::NotConnected,
            Self::Io { kind, .. } => *kind,
        }
    }

    /// A socket error, as adapters report it.
    pub fn io(e: &std::io::Error) -> Self {
        match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => Self::TimedOut,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => Self::Disconnected,
            kind => Self::Io {
                kind,
                message: e.to_string(),
            },
        }
    }

    /// A failed connection attempt.
    pub fn unreachable(e: &std::io::Error) -> Self {
        Self::Unreachable(e.to_string())
    }
}

impl From<ClientError> for std::io::Error {
    fn from(e: ClientError) -> Self {
        Self::new(e.io_kind(), e)
    }
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::LoginDenied { .. } => Self::ControlHeld,
            other => Self::Session(other),
        }
    }
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Printer { code: Some(3), .. } => Self::Unauthorized,
            ApiError::Printer { code: Some(-2), .. } => Self::LanModeOff,
            // 5 is "busy" in the emulator's table; the Creator 5 answers busy with code 2
            // ("Printer is busy"), which other firmware uses for "invalid parameter", so the
            // message decides there.
            ApiError::Printer {
                code: Some(5),
                message,
            } => Self::Busy(message),
            ApiError::Printer { code, message }
                if message.to_ascii_lowercase().contains("busy") =>
            {
                let _ = code;
                Self::Busy(message)
            }
            ApiError::Printer { code, message } => Self::Refused { code, message },
            ApiError::MissingPayload(what) => Self::Protocol(format!("reply without {what}")),
        }
    }
}

impl From<HttpError> for ClientError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::TimedOut => Self::TimedOut,
            HttpError::Closed => Self::Disconnected,
            other => Self::Protocol(other.to_string()),
        }
    }
}

impl From<CommandError> for ClientError {
    fn from(e: CommandError) -> Self {
        match e {
            // tcp.md §5.6: `Error: Printer is busy`, `Error: Clear to ready before starting a
            // new job` are the TCP form of the HTTP "busy" refusal.
            CommandError::Printer(m)
                if m.to_ascii_lowercase().contains("busy")
                    || m.to_ascii_lowercase().contains("clear to ready") =>
            {
                Self::Busy(m)
            }
            CommandError::Printer(m) => Self::Printer(m),
            CommandError::Denied => Self::ControlHeld,
            CommandError::TimedOut => Self::TimedOut,
            CommandError::Incomplete { received } => Self::Incomplete { received },
            CommandError::Disconnected => Self::Disconnected,
            CommandError::Cancelled => Self::Closed,
            // The `~M662` parser names the printer's `Error: File not found` (or `... not
            // exists`) reply; it is the printer refusing, as the same reply to `~M23` is, not
            // a broken protocol (and the connection stays good).
            CommandError::Protocol(crate::Error::Protocol(crate::ProtocolError::FileNotFound)) => {
                Self::Printer("File not found".to_owned())
            }
            CommandError::Protocol(p) => Self::Protocol(p.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcode::Thumbnail;

    #[test]
    fn refusals_map_to_actionable_errors() {
        let e = |code, message: &str| {
            ClientError::from(ApiError::Printer {
                code: Some(code),
                message: message.into(),
            })
        };
        assert_eq!(e(3, "Unauthorized"), ClientError::Unauthorized);
        assert_eq!(e(-2, ""), ClientError::LanModeOff);
        assert!(matches!(e(5, "Busy"), ClientError::Busy(_)));
        assert!(matches!(
            e(1, "Error"),
            ClientError::Refused { code: Some(1), .. }
        ));
        assert_eq!(
            ClientError::Unauthorized.io_kind(),
            ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn a_missing_thumbnail_is_a_printer_error_like_a_missing_print_file() {
        let reply = b"CMD M662 Received.\nError: File not exists\n";
        let e = Thumbnail::parse(reply, 1 << 20).unwrap_err();
        let thumb = ClientError::from(e);
        let print = ClientError::from(CommandError::Printer("File not found".into()));
        assert_eq!(thumb, print);
        assert!(matches!(thumb, ClientError::Printer(_)), "{thumb:?}");
        assert!(!thumb.is_connection_error());
        assert_eq!(thumb.io_kind(), print.io_kind());
    }
}
