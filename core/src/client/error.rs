//! [`ClientError`]: why a high-level operation failed, and how the layers' errors (session,
//! HTTP envelope, HTTP exchange, TCP command) become it.
//!
//! The layers' typed errors are kept, not flattened into text: [`ClientError::Protocol`] holds a
//! [`ProtocolCause`] (an [`HttpError`], the TCP codec's [`crate::Error`], ...), a socket's
//! `std::io::Error` is kept as an [`IoCause`], and [`std::error::Error::source`] returns the
//! typed error underneath.

use std::error::Error as StdError;
use std::fmt;
use std::io::ErrorKind;
use std::sync::Arc;

use crate::http::{ApiError, HttpError};
use crate::{CommandError, Model, SessionError, UsageError};

/// Why a high-level operation failed. Every variant is something a person can act on; none
/// contains the check code.
///
/// [`source`](StdError::source) is the typed error underneath, where there is one: for
/// [`Protocol`](Self::Protocol) the innermost error of its [`ProtocolCause`] (the layers that
/// only forward another error, like [`crate::Error::Capacity`] or [`HttpError::Capacity`], are
/// skipped, so an oversized reply downcasts to [`crate::CapacityError`]); for
/// [`Io`](Self::Io) and [`Unreachable`](Self::Unreachable) the `std::io::Error`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientError {
    /// The model cannot do this (checked before anything is sent).
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The model.
        model: Model,
    },
    /// The call's arguments are invalid.
    Usage(UsageError),
    /// The printer rejected the serial number / check code.
    Unauthorized,
    /// Another client holds the TCP control lock.
    ControlHeld,
    /// The printer is busy (a job runs or the platform was not cleared).
    Busy(String),
    /// LAN-only mode is off on the printer (Creator 5 code −2).
    LanModeOff,
    /// Any other refusal, as the printer worded it.
    Refused {
        /// `code` of the envelope.
        code: Option<i64>,
        /// `message`.
        message: String,
    },
    /// A TCP command failed at the printer (`ok` missing, an error line).
    Printer(String),
    /// No reply before the deadline.
    TimedOut,
    /// The printer stopped reading: a write (an upload body, a `~M28` chunk, a command) made
    /// no progress for the stall timeout
    /// ([`ClientOptions::stall_timeout`](super::ClientOptions::stall_timeout)). The connection
    /// was dropped; the next call opens a new one.
    Stalled,
    /// The reply started but its end never came (cut short by a pause longer than the
    /// deadline, or a connection that closed mid-reply): no partial data is returned.
    Incomplete {
        /// Reply bytes that arrived.
        received: usize,
    },
    /// The printer closed the connection.
    Disconnected,
    /// The printer could not be reached: the failed connection attempt's error.
    Unreachable(IoCause),
    /// The printer sent bytes that break the protocol (or exceed a bound); the typed cause.
    Protocol(ProtocolCause),
    /// The TCP session gave up (reconnect attempts exhausted).
    Session(SessionError),
    /// A reply of the wrong kind.
    UnexpectedReply(&'static str),
    /// The client was closed.
    Closed,
    /// A socket operation failed: the adapter's `std::io::Error` (of a kind that is not a
    /// timeout or a closed connection, see [`ClientError::io`]).
    Io(IoCause),
    /// A resource of this machine ran out: open files (`EMFILE`, `ENFILE`), memory. Not the
    /// printer's fault and not a sign it is unreachable: raise the limit (`ulimit -n`) or poll
    /// fewer printers from one process. The `std::io::Error` is kept.
    ResourceExhausted(IoCause),
}

/// Does `e` say this machine ran out of something (descriptors, memory), rather than
/// anything about the peer? `EMFILE` (24) and `ENFILE` (23) have these numbers on Linux, the
/// BSDs and macOS.
fn is_local_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24)) || e.kind() == ErrorKind::OutOfMemory
}

/// The `std::io::Error` of [`ClientError::Io`] and [`ClientError::Unreachable`], shared so
/// the error stays `Clone`.
///
/// `std::io::Error` has no `PartialEq`; two causes are equal when their
/// [`kind`](std::io::Error::kind) and text are.
#[derive(Debug, Clone)]
pub struct IoCause(Arc<std::io::Error>);

impl IoCause {
    /// Keep `e`.
    pub fn new(e: std::io::Error) -> Self {
        Self(Arc::new(e))
    }

    /// The error itself (its raw OS error code, its inner error, ...).
    pub fn get(&self) -> &std::io::Error {
        &self.0
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind()
    }
}

impl From<std::io::Error> for IoCause {
    fn from(e: std::io::Error) -> Self {
        Self::new(e)
    }
}

impl PartialEq for IoCause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.kind() == other.kind() && self.0.to_string() == other.0.to_string())
    }
}

impl Eq for IoCause {}

impl fmt::Display for IoCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What broke the protocol, for [`ClientError::Protocol`]: the typed error of the layer that
/// found it. Its `Display` is that error's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolCause {
    /// The HTTP exchange failed (a malformed response, a non-2xx status, a bound of
    /// [`crate::HttpConfig`], a body that is not the endpoint's JSON, ...). Never
    /// [`HttpError::TimedOut`] or [`HttpError::Closed`]: those are [`ClientError::TimedOut`]
    /// and [`ClientError::Disconnected`].
    #[error(transparent)]
    Http(HttpError),
    /// The TCP codec failed on the printer's reply ([`crate::Error::Protocol`] for bytes that
    /// break the protocol, [`crate::Error::Capacity`] for a bound of [`crate::Config`]).
    #[error(transparent)]
    Tcp(crate::Error),
    /// An HTTP reply whose envelope says success but lacks the payload (the name of what is
    /// missing).
    #[error("reply without {0}")]
    MissingPayload(&'static str),
}

impl ProtocolCause {
    /// The innermost typed error: past the variants of [`HttpError`] and [`crate::Error`] that
    /// only forward another error (`#[error(transparent)]`), which a downcast would not see
    /// through.
    fn innermost(&self) -> &(dyn StdError + 'static) {
        match self {
            Self::Http(HttpError::Capacity(e)) => e,
            Self::Http(HttpError::Base64(e)) => e,
            Self::Http(e) => e,
            Self::Tcp(crate::Error::Protocol(e)) => e,
            Self::Tcp(crate::Error::Usage(e)) => e,
            Self::Tcp(crate::Error::Capacity(e)) => e,
            Self::MissingPayload(_) => self,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported { operation, model } => {
                write!(f, "{operation} is not supported by the {model}")
            }
            Self::Usage(e) => fmt::Display::fmt(e, f),
            Self::Unauthorized => {
                f.write_str("the printer rejected the serial number or check code")
            }
            Self::ControlHeld => f.write_str("another client holds control of the printer"),
            Self::Busy(m) => write!(f, "printer busy: {m}"),
            Self::LanModeOff => f.write_str(
                "LAN mode is off on the printer (enable it in the printer's network settings)",
            ),
            Self::Refused {
                code: Some(code),
                message,
            } => write!(f, "printer refused: code {code}, {message:?}"),
            Self::Refused {
                code: None,
                message,
            } => write!(f, "printer refused: code missing, {message:?}"),
            Self::Printer(m) => write!(f, "printer error: {m}"),
            Self::TimedOut => f.write_str("no reply from the printer before the deadline"),
            Self::Stalled => f.write_str(
                "the printer stopped reading what was sent (no progress for the stall timeout)",
            ),
            Self::Incomplete { received } => write!(
                f,
                "incomplete reply from the printer: {received} bytes arrived, its end did not"
            ),
            Self::Disconnected => f.write_str("the printer closed the connection"),
            Self::Unreachable(e) => write!(f, "printer unreachable: {e}"),
            Self::ResourceExhausted(e) => write!(f, "local resource exhausted: {e}"),
            Self::Protocol(cause) => write!(f, "protocol error: {cause}"),
            Self::Session(e) => fmt::Display::fmt(e, f),
            Self::UnexpectedReply(what) => write!(f, "unexpected reply: expected {what}"),
            Self::Closed => f.write_str("client closed"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Protocol(cause) => Some(cause.innermost()),
            Self::Unreachable(e) | Self::Io(e) | Self::ResourceExhausted(e) => Some(e.get()),
            // Shown as the inner error itself (as `#[error(transparent)]` would): its source.
            Self::Usage(e) => e.source(),
            Self::Session(e) => e.source(),
            Self::Unsupported { .. }
            | Self::Unauthorized
            | Self::ControlHeld
            | Self::Busy(_)
            | Self::LanModeOff
            | Self::Refused { .. }
            | Self::Printer(_)
            | Self::TimedOut
            | Self::Stalled
            | Self::Incomplete { .. }
            | Self::Disconnected
            | Self::UnexpectedReply(_)
            | Self::Closed => None,
        }
    }
}

impl From<UsageError> for ClientError {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

/// What kind of failure a [`ClientError`] is, for a person or a program that acts on it: the
/// CLI's exit code and the `kind` of its `--json` errors, the farm server's API errors. One
/// table for every front end, so the kinds never drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// Anything without a kind of its own (a printer's refusal, a closed client).
    Other,
    /// The call's arguments are invalid.
    Usage,
    /// The printer could not be reached.
    Unreachable,
    /// Wrong serial number or check code.
    Credentials,
    /// LAN-only mode is off on the printer.
    LanModeOff,
    /// A job runs, or the last one was not cleared.
    Busy,
    /// The model does not support the operation.
    Unsupported,
    /// Another client holds the TCP control lock.
    ControlHeld,
    /// No answer before the deadline, or the printer stopped reading.
    Timeout,
    /// The printer broke the protocol.
    Protocol,
    /// The reply was cut short before its end.
    Incomplete,
    /// A resource of this machine ran out (descriptors, memory).
    Resource,
}

impl FailureKind {
    /// Every kind, in the order of their exit codes.
    pub const ALL: [Self; 12] = [
        Self::Other,
        Self::Usage,
        Self::Unreachable,
        Self::Credentials,
        Self::LanModeOff,
        Self::Busy,
        Self::Unsupported,
        Self::ControlHeld,
        Self::Timeout,
        Self::Protocol,
        Self::Incomplete,
        Self::Resource,
    ];

    /// The kind's name in JSON errors (`unreachable`, `credentials`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Other => "other",
            Self::Usage => "usage",
            Self::Unreachable => "unreachable",
            Self::Credentials => "credentials",
            Self::LanModeOff => "lan_mode_off",
            Self::Busy => "busy",
            Self::Unsupported => "unsupported",
            Self::ControlHeld => "control_held",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::Incomplete => "incomplete",
            Self::Resource => "resource",
        }
    }

    /// The `flashforge` CLI's exit code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Other => 1,
            Self::Usage => 2,
            Self::Unreachable => 3,
            Self::Credentials => 4,
            Self::LanModeOff => 5,
            Self::Busy => 6,
            Self::Unsupported => 7,
            Self::ControlHeld => 8,
            Self::Timeout => 9,
            Self::Protocol => 10,
            Self::Incomplete => 12,
            Self::Resource => 13,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ClientError {
    /// What kind of failure this is ([`FailureKind`]): the CLI's exit code, an API error's
    /// `kind`.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            Self::Unreachable(_) => FailureKind::Unreachable,
            Self::Unauthorized => FailureKind::Credentials,
            Self::LanModeOff => FailureKind::LanModeOff,
            Self::Busy(_) => FailureKind::Busy,
            Self::Unsupported { .. } => FailureKind::Unsupported,
            Self::ControlHeld => FailureKind::ControlHeld,
            Self::TimedOut | Self::Disconnected | Self::Stalled => FailureKind::Timeout,
            Self::Incomplete { .. } => FailureKind::Incomplete,
            Self::Protocol(_) | Self::UnexpectedReply(_) => FailureKind::Protocol,
            Self::Usage(_) => FailureKind::Usage,
            Self::ResourceExhausted(_) => FailureKind::Resource,
            Self::Printer(_)
            | Self::Refused { .. }
            | Self::Session(_)
            | Self::Closed
            | Self::Io(_) => FailureKind::Other,
        }
    }

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
                | Self::Stalled
                | Self::Incomplete { .. }
                | Self::Disconnected
                | Self::Unreachable(_)
                | Self::Protocol(_)
                | Self::Io(_)
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
            Self::TimedOut | Self::Stalled => ErrorKind::TimedOut,
            Self::Incomplete { .. } => ErrorKind::UnexpectedEof,
            Self::Disconnected => ErrorKind::ConnectionAborted,
            Self::Unreachable(_) => ErrorKind::ConnectionRefused,
            Self::Protocol(_) | Self::UnexpectedReply(_) => ErrorKind::InvalidData,
            Self::Session(SessionError::LoginDenied { .. }) => ErrorKind::PermissionDenied,
            Self::Session(_) => ErrorKind::NotConnected,
            Self::Closed => ErrorKind::NotConnected,
            Self::Io(e) | Self::ResourceExhausted(e) => e.kind(),
        }
    }

    /// A socket error, as adapters report it: a timeout is [`TimedOut`](Self::TimedOut), a
    /// reset or closed connection [`Disconnected`](Self::Disconnected), anything else
    /// [`Io`](Self::Io) with `e` kept.
    pub fn io(e: std::io::Error) -> Self {
        if is_local_exhaustion(&e) {
            return Self::ResourceExhausted(IoCause::new(e));
        }
        match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => Self::TimedOut,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => Self::Disconnected,
            _ => Self::Io(IoCause::new(e)),
        }
    }

    /// A failed connection attempt, `e` kept: [`Unreachable`](Self::Unreachable), unless the
    /// attempt failed for want of a local resource (no descriptor left:
    /// [`ResourceExhausted`](Self::ResourceExhausted)).
    pub fn unreachable(e: std::io::Error) -> Self {
        if is_local_exhaustion(&e) {
            return Self::ResourceExhausted(IoCause::new(e));
        }
        Self::Unreachable(IoCause::new(e))
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
            ApiError::MissingPayload(what) => Self::Protocol(ProtocolCause::MissingPayload(what)),
        }
    }
}

impl From<HttpError> for ClientError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::TimedOut => Self::TimedOut,
            HttpError::Closed => Self::Disconnected,
            // 401 Unauthorized and 403 Forbidden refuse the credentials, as the envelope's
            // code 3 does: the caller's fix is the serial number or check code, not the
            // protocol.
            HttpError::Status(401 | 403) => Self::Unauthorized,
            other => Self::Protocol(ProtocolCause::Http(other)),
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
            CommandError::Protocol(p) => Self::Protocol(ProtocolCause::Tcp(p)),
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

    /// Every link of `e`'s `source()` chain, `e` first.
    fn chain(e: &ClientError) -> Vec<&(dyn StdError + 'static)> {
        std::iter::successors(Some(e as &(dyn StdError + 'static)), |e| (*e).source()).collect()
    }

    #[test]
    fn an_oversized_tcp_reply_reaches_the_caller_as_a_typed_capacity_error() {
        #[allow(clippy::disallowed_methods)] // tests may read the clock
        let now = std::time::Instant::now();
        let mut calls = crate::driver::TcpCalls::new(crate::Config::default(), now);
        let id = calls.submit(crate::Command::Temperatures, now).unwrap();
        // Connect, log in, then answer the command with more than a reply may hold.
        let mut outcome = None;
        for _ in 0..100 {
            while let Some(event) = calls.poll_event() {
                match event {
                    crate::driver::TcpEvent::Connect => calls.handle_connected(now),
                    crate::driver::TcpEvent::Write(line) if line.starts_with(b"~M601") => calls
                        .handle_bytes(
                            b"CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n",
                            now,
                        ),
                    crate::driver::TcpEvent::Write(line) if line.starts_with(b"~M105") => {
                        calls.handle_bytes(&[b'A'; 5000], now);
                    }
                    _ => {}
                }
            }
            outcome = calls.outcome(id, now);
            if outcome.is_some() {
                break;
            }
        }
        let e = outcome.expect("an outcome").unwrap_err();

        // Matchable by shape ...
        let ClientError::Protocol(ProtocolCause::Tcp(crate::Error::Capacity(cap))) = &e else {
            panic!("want Protocol(Tcp(Capacity)), got {e:?}");
        };
        assert!(cap.size > cap.max, "{cap:?}");
        assert!(e.is_connection_error());
        assert_eq!(e.io_kind(), ErrorKind::InvalidData);
        // ... and through the `source()` chain, as generic error handling sees it.
        let found = chain(&e)
            .into_iter()
            .find_map(|e| e.downcast_ref::<crate::CapacityError>());
        assert_eq!(found, Some(cap));
        // The text is what it was before the cause was kept typed.
        assert_eq!(e.to_string(), format!("protocol error: {cap}"));
        // Through the adapters' `io::Error` conversion too.
        let io = std::io::Error::from(e.clone());
        let inner = io.get_ref().and_then(|i| i.downcast_ref::<ClientError>());
        assert_eq!(inner, Some(&e));
    }

    #[test]
    fn http_and_payload_causes_are_typed() {
        let cap = crate::CapacityError {
            what: "response body",
            size: 10,
            max: 9,
        };
        let e = ClientError::from(HttpError::Capacity(cap.clone()));
        assert_eq!(
            e,
            ClientError::Protocol(ProtocolCause::Http(HttpError::Capacity(cap.clone())))
        );
        assert_eq!(
            e.source()
                .and_then(|s| s.downcast_ref::<crate::CapacityError>()),
            Some(&cap)
        );
        let e = ClientError::from(HttpError::Status(404));
        assert_eq!(
            e.source().and_then(|s| s.downcast_ref::<HttpError>()),
            Some(&HttpError::Status(404))
        );
        assert_eq!(e.to_string(), "protocol error: HTTP status 404");
        // A refused login is the credentials' fault, whichever way the printer says it.
        for status in [401, 403] {
            assert_eq!(
                ClientError::from(HttpError::Status(status)),
                ClientError::Unauthorized,
                "{status}"
            );
        }
        assert!(matches!(
            ClientError::from(HttpError::Status(500)),
            ClientError::Protocol(ProtocolCause::Http(HttpError::Status(500)))
        ));
        // Timeouts and closes are not protocol errors.
        assert_eq!(
            ClientError::from(HttpError::TimedOut),
            ClientError::TimedOut
        );
        assert_eq!(
            ClientError::from(HttpError::Closed),
            ClientError::Disconnected
        );

        let e = ClientError::from(ApiError::MissingPayload("product"));
        assert_eq!(
            e,
            ClientError::Protocol(ProtocolCause::MissingPayload("product"))
        );
        assert_eq!(e.to_string(), "protocol error: reply without product");
        assert_eq!(
            e.source().and_then(|s| s.downcast_ref::<ProtocolCause>()),
            Some(&ProtocolCause::MissingPayload("product"))
        );
    }

    /// The texts the CLI prints (and its tests check), as they were when the variants were
    /// `thiserror` attributes.
    #[test]
    fn display_texts_are_unchanged() {
        let cases: Vec<(ClientError, String)> = vec![
            (
                ClientError::Unsupported {
                    operation: "filtration",
                    model: Model::Adventurer5M,
                },
                format!("filtration is not supported by the {}", Model::Adventurer5M),
            ),
            (
                ClientError::Usage(UsageError::NoAxis),
                "a move needs at least one axis".into(),
            ),
            (
                ClientError::Unauthorized,
                "the printer rejected the serial number or check code".into(),
            ),
            (
                ClientError::ControlHeld,
                "another client holds control of the printer".into(),
            ),
            (
                ClientError::Busy("Printer is busy".into()),
                "printer busy: Printer is busy".into(),
            ),
            (
                ClientError::LanModeOff,
                "LAN mode is off on the printer (enable it in the printer's network settings)"
                    .into(),
            ),
            (
                ClientError::Refused {
                    code: Some(1),
                    message: "Error".into(),
                },
                "printer refused: code 1, \"Error\"".into(),
            ),
            (
                ClientError::Refused {
                    code: None,
                    message: String::new(),
                },
                "printer refused: code missing, \"\"".into(),
            ),
            (
                ClientError::Printer("File not found".into()),
                "printer error: File not found".into(),
            ),
            (
                ClientError::TimedOut,
                "no reply from the printer before the deadline".into(),
            ),
            (
                ClientError::Incomplete { received: 37 },
                "incomplete reply from the printer: 37 bytes arrived, its end did not".into(),
            ),
            (
                ClientError::Disconnected,
                "the printer closed the connection".into(),
            ),
            (
                ClientError::unreachable(std::io::Error::from(ErrorKind::ConnectionRefused)),
                "printer unreachable: connection refused".into(),
            ),
            (
                ClientError::from(CommandError::Protocol(crate::Error::Protocol(
                    crate::ProtocolError::NoEndstopLine,
                ))),
                "protocol error: no Endstop line".into(),
            ),
            (
                ClientError::from(HttpError::Malformed("invalid token".into())),
                "protocol error: malformed HTTP response: invalid token".into(),
            ),
            (
                ClientError::Session(SessionError::ReconnectsExhausted { attempts: 3 }),
                "gave up after 3 reconnect attempts".into(),
            ),
            (
                ClientError::UnexpectedReply("upload acceptance"),
                "unexpected reply: expected upload acceptance".into(),
            ),
            (ClientError::Closed, "client closed".into()),
            (
                ClientError::io(std::io::Error::new(ErrorKind::AddrInUse, "address in use")),
                "I/O error: address in use".into(),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want, "{e:?}");
        }
    }

    #[test]
    fn a_socket_error_keeps_its_io_error() {
        let e = ClientError::io(std::io::Error::new(ErrorKind::AddrInUse, "address in use"));
        assert_eq!(e.io_kind(), ErrorKind::AddrInUse);
        assert!(e.is_connection_error());
        let io = e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io::Error as source");
        assert_eq!(io.kind(), ErrorKind::AddrInUse);
        // Equal by kind and text, so tests can compare errors that were built twice.
        assert_eq!(
            e,
            ClientError::io(std::io::Error::new(ErrorKind::AddrInUse, "address in use"))
        );
        assert_ne!(e, ClientError::io(std::io::Error::other("address in use")));
        assert_eq!(e.clone(), e);

        // A failed connect: the cause's kind is reachable; the CLI's exit code still comes
        // from `io_kind`.
        // Out of descriptors is this machine's limit, never the printer being unreachable.
        for raw in [23, 24] {
            for e in [
                ClientError::unreachable(std::io::Error::from_raw_os_error(raw)),
                ClientError::io(std::io::Error::from_raw_os_error(raw)),
            ] {
                let ClientError::ResourceExhausted(cause) = &e else {
                    panic!("{raw}: {e:?}");
                };
                assert_eq!(cause.get().raw_os_error(), Some(raw));
                assert!(
                    e.to_string().starts_with("local resource exhausted: "),
                    "{e}"
                );
                assert!(e.source().is_some());
            }
        }
        let e = ClientError::unreachable(std::io::Error::from(ErrorKind::HostUnreachable));
        let ClientError::Unreachable(cause) = &e else {
            panic!("{e:?}");
        };
        assert_eq!(cause.kind(), ErrorKind::HostUnreachable);
        assert_eq!(
            e.source()
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind),
            Some(ErrorKind::HostUnreachable)
        );
        assert_eq!(e.io_kind(), ErrorKind::ConnectionRefused);

        // Timeouts and closed connections keep their own variants.
        let e = |kind| ClientError::io(std::io::Error::from(kind));
        assert_eq!(e(ErrorKind::WouldBlock), ClientError::TimedOut);
        assert_eq!(e(ErrorKind::ConnectionReset), ClientError::Disconnected);
    }
}
