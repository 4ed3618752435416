//! The port-8899 G-code protocol: typed commands, reply framing and typed replies.
//!
//! These codecs have no notion of time; [`crate::Session`] adds the clock-driven parts.

mod ack;
pub(crate) mod binary;
mod command;
mod framer;
pub(crate) mod lines;
mod machine;
mod reply;
#[cfg(test)]
mod reply_equivalence;

pub use ack::{CommandAck, Login, RawText, UploadBoundary};
pub use binary::{BinaryLimits, FileList, ImageFormat, Thumbnail};
pub use command::{
    bare_file_name, normalise_upload_name, Axes, Code, Command, Led, Millimetres, RawLine,
    ReplyKind, ReplyProfile,
};
pub use framer::{FrameStatus, ReplyFramer};
pub use machine::{
    A4Variant, BuildVolume, EndstopStatus, MachineStatus, MoveMode, PrinterInfo, StatusFlags,
};
pub use reply::{
    NumText, Position, PrintStatus, TempReading, Temperatures, ToolTemp, MAX_EXTRA_AXES, MAX_TOOLS,
};

use crate::error::CommandError;

/// Offset of the binary payload of a whole `~M661` (`thumbnail = false`) or `~M662` reply: the
/// length of its text prefix, when one is recognisable.
pub fn binary_payload_offset(bytes: &[u8], thumbnail: bool) -> Option<usize> {
    binary::binary_start(bytes, thumbnail)
}

/// A parse result: a complete value, or a note that the structure needs more bytes.
///
/// "Need more bytes" is never an error.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Parsed<T> {
    /// The value.
    Complete(T),
    /// The bytes end before the structure does.
    Incomplete(Incomplete),
}

impl<T> Parsed<T> {
    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Self::Complete(v) => Some(v),
            Self::Incomplete(_) => None,
        }
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        match self {
            Self::Complete(v) => Parsed::Complete(f(v)),
            Self::Incomplete(i) => Parsed::Incomplete(i),
        }
    }
}

/// How much of a self-describing structure is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incomplete {
    /// At least this many more bytes are needed.
    pub bytes_missing: usize,
    /// For a file list: entries received whole so far.
    pub entries_complete: Option<u32>,
}

/// A typed reply to one command.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// `~M601 S1`.
    Login(Login),
    /// An acknowledgement.
    Ack(CommandAck),
    /// `~M115`.
    PrinterInfo(PrinterInfo),
    /// `~M105`.
    Temperatures(Temperatures),
    /// `~M119`.
    EndstopStatus(EndstopStatus),
    /// `~M27`.
    PrintStatus(PrintStatus),
    /// `~M114`.
    Position(Position),
    /// `~M661`.
    FileList(FileList),
    /// `~M662`.
    Thumbnail(Thumbnail),
    /// `~M28` / `~M29`.
    UploadBoundary(UploadBoundary),
    /// Unparsed lines.
    RawText(RawText),
}

/// Parse a whole reply as `kind`.
///
/// `Error:` lines become [`CommandError::Printer`], `Control failed.` becomes
/// [`CommandError::Denied`] (login replies are judged by [`Login::parse`] instead), and data that
/// does not fit the kind is a [`crate::ProtocolError`] inside [`CommandError::Protocol`].
pub fn parse_reply(
    kind: ReplyKind,
    bytes: &[u8],
    limits: &BinaryLimits,
) -> Result<Parsed<Reply>, CommandError> {
    let done = |r: Reply| Ok(Parsed::Complete(r));
    match kind {
        ReplyKind::Login => return done(Reply::Login(Login::parse(bytes))),
        ReplyKind::FileList => {
            return FileList::parse(bytes, limits).map(|p| p.map(Reply::FileList))
        }
        ReplyKind::Thumbnail => {
            return Thumbnail::parse(bytes, limits.max_bytes).map(|p| p.map(Reply::Thumbnail))
        }
        ReplyKind::UploadBoundary => {
            return UploadBoundary::parse(bytes).map(|u| Parsed::Complete(Reply::UploadBoundary(u)))
        }
        _ => {}
    }
    if let Some(err) = reply::reply_failure(bytes) {
        return Err(err);
    }
    let reply = match kind {
        ReplyKind::Ack => Reply::Ack(CommandAck::parse(bytes)?),
        ReplyKind::PrinterInfo => Reply::PrinterInfo(PrinterInfo::parse(bytes)?),
        ReplyKind::Temperatures => Reply::Temperatures(Temperatures::parse(bytes)?),
        ReplyKind::EndstopStatus => Reply::EndstopStatus(EndstopStatus::parse(bytes)?),
        ReplyKind::PrintStatus => Reply::PrintStatus(PrintStatus::parse(bytes)?),
        ReplyKind::Position => Reply::Position(Position::parse(bytes)?),
        _ => Reply::RawText(RawText::parse(bytes)),
    };
    done(reply)
}

#[cfg(feature = "serde")]
mod ser;

/// Serialises a [`FileList`] with its derived `names` and `count`.
#[cfg(feature = "serde")]
struct FileListView<'a>(&'a FileList);

#[cfg(feature = "serde")]
impl serde::Serialize for FileList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FileListView(self).serialize(s)
    }
}
