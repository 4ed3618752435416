//! Errors, split by fault: the peer ([`ProtocolError`]), the caller ([`UsageError`]) and a bound
//! being hit ([`CapacityError`]).
//!
//! "Need more bytes" is never an error: parsers return [`crate::Parsed::Incomplete`] and the session
//! simply waits.

use thiserror::Error as ThisError;

/// Any error the core can report.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// The printer sent bytes that do not follow the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The caller asked for something the core cannot do.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Input exceeded a configured bound ([`crate::Config`]).
    #[error(transparent)]
    Capacity(#[from] CapacityError),
}

/// The printer's bytes broke the protocol or could not be parsed into the expected reply.
///
/// The `Display` texts are stable and used by the fixture tests (`missing Machine Type`, ...).
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A required `Key:` line is absent (`Machine Type`, `Firmware`).
    #[error("missing {0}")]
    MissingField(&'static str),
    /// An `~M105` reply without any extruder token.
    #[error("no extruder temperature")]
    NoExtruderTemperature,
    /// An `~M119` reply without the `Endstop` line.
    #[error("no Endstop line")]
    NoEndstopLine,
    /// `SD printing byte a/b` is absent or not two integers.
    #[error("malformed SD progress")]
    MalformedSdProgress,
    /// `Layer:` is present but not `c/t`.
    #[error("malformed layer progress")]
    MalformedLayerProgress,
    /// An `~M114` reply without an `X:`/`Y:`/`Z:` line.
    #[error("no coordinate line")]
    NoCoordinateLine,
    /// The M661 payload does not start with `44 AA AA 44`.
    #[error("bad list tag")]
    BadListTag,
    /// An M661 entry does not start with `3A 3A A3 A3`.
    #[error("bad entry tag at payload offset {offset}")]
    BadEntryTag {
        /// Offset of the entry in the binary payload.
        offset: usize,
    },
    /// The printer reported that the requested file does not exist (M662).
    #[error("file not found")]
    FileNotFound,
    /// An M662 reply with neither a thumbnail tag nor an image signature.
    #[error("no image found")]
    NoImageFound,
    /// The reply contained no recognisable data for this command.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
}

/// The caller misused the API. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum UsageError {
    /// A parameter contains CR, LF or NUL and would inject a second command line.
    #[error("{what} contains a line break or NUL and would inject a command")]
    LineInjection {
        /// Which parameter.
        what: &'static str,
    },
    /// A parameter is empty where a value is required.
    #[error("{what} is empty")]
    Empty {
        /// Which parameter.
        what: &'static str,
    },
    /// A number is NaN or infinite.
    #[error("{what} is not a finite number")]
    NotFinite {
        /// Which parameter.
        what: &'static str,
    },
    /// A number is outside the range the printer accepts.
    #[error("{what} is out of range")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
    },
    /// A number outside the range this model accepts, with the range: what a person needs
    /// to correct it (`fan speed must be between 0 and 100 %`).
    #[error("{what} must be between {min} and {max}{unit}")]
    NotInRange {
        /// Which parameter.
        what: &'static str,
        /// The lowest value accepted.
        min: i64,
        /// The highest value accepted.
        max: i64,
        /// The unit, with its leading space (`" °C"`, `" %"`, `" mm"`), or empty.
        unit: &'static str,
    },
    /// A raw line does not start with a G or M code.
    #[error("raw line must be a G/M code such as `~M105` or `G28`")]
    NotACode,
    /// A move command names no axis.
    #[error("a move needs at least one axis")]
    NoAxis,
    /// The bounded command queue is full; retry once a reply has arrived.
    #[error("command queue full ({max} pending)")]
    QueueFull {
        /// The configured bound.
        max: usize,
    },
    /// Login, logout and upload boundaries are sent by the session itself.
    #[error("login, logout and upload boundaries are managed by the session")]
    Managed,
    /// The session is closed or failed and takes no more commands.
    #[error("session is closed")]
    Closed,
    /// An upload is already running, or upload bytes were given with none running.
    #[error("{0}")]
    Upload(&'static str),
    /// Upload data exceeds the size announced in `~M28`.
    #[error("upload data exceeds the announced size by {excess} bytes")]
    UploadOverrun {
        /// Bytes beyond the announced size.
        excess: u64,
    },
    /// Upload data ended before the announced size.
    #[error("upload data is {missing} bytes short of the announced size")]
    UploadUnderrun {
        /// Bytes still expected.
        missing: u64,
    },
    /// The file contains the multipart delimiter and would be cut short by the printer.
    #[error("file contains the multipart boundary; retry with another boundary seed")]
    BoundaryInBody,
    /// Only regular files are uploaded by path: this one is a directory, a FIFO, a device or
    /// a socket (refused before anything is sent; a FIFO is never opened).
    #[error("{path} is a {kind}, not a regular file: only regular files can be uploaded")]
    NotRegularFile {
        /// The path as given.
        path: String,
        /// `directory`, `FIFO`, `device`, `socket` or `special file`.
        kind: &'static str,
    },
    /// A file name with a quote, backslash, path separator or control character.
    #[error("file name must be a base name without quotes, backslashes or control characters")]
    BadFileName,
    /// A name for a new file that begins or ends with white space: some printers trim it when
    /// they list their files, so the file could not be printed by the name they show.
    #[error("file name must not begin or end with white space")]
    FileNameSpaces,
    /// Two entries use the same value where each must be unique.
    #[error("duplicate {what}")]
    Duplicate {
        /// Which value.
        what: &'static str,
    },
    /// The caller must drain `poll_transmit` before giving more upload data.
    #[error("previous upload chunk not yet drained with poll_transmit")]
    WouldBlock,
}

/// A configured bound was exceeded; the oversized input was dropped.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[error("{what} of {size} bytes exceeds the limit of {max}")]
pub struct CapacityError {
    /// What overflowed (`"line"`, `"reply"`, `"file list entry"`, ...).
    pub what: &'static str,
    /// The size seen (at least `max + 1`).
    pub size: usize,
    /// The configured maximum.
    pub max: usize,
}

/// Why a submitted command did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
#[non_exhaustive]
pub enum CommandError {
    /// The printer answered `Error: <text>` (or an equivalent failure marker).
    #[error("printer error: {0}")]
    Printer(String),
    /// The printer answered `Control failed.`: this connection does not hold control.
    #[error("control denied: another client holds the printer")]
    Denied,
    /// No reply before the command's deadline.
    #[error("no reply before the deadline")]
    TimedOut,
    /// The reply started but was cut short: its end (an `ok` line, its last field, the length
    /// of its binary payload) had not arrived by the deadline. Never reported as a success
    /// with partial fields.
    #[error("incomplete reply: {received} bytes arrived, its end did not")]
    Incomplete {
        /// Reply bytes that arrived (stale bytes of earlier exchanges not counted).
        received: usize,
    },
    /// The connection closed before the reply was complete.
    #[error("connection closed mid-reply")]
    Disconnected,
    /// The reply could not be parsed or broke a bound.
    #[error(transparent)]
    Protocol(#[from] Error),
    /// The session was closed or failed before the command was sent.
    #[error("session closed before the command was sent")]
    Cancelled,
}

impl From<ProtocolError> for CommandError {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(Error::Protocol(e))
    }
}

impl From<CapacityError> for CommandError {
    fn from(e: CapacityError) -> Self {
        Self::Protocol(Error::Capacity(e))
    }
}
