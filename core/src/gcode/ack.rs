//! Replies that only acknowledge (tcp.md §5.5–§5.7): the login ([`Login`]), a command's `ok`
//! ([`CommandAck`]), the legacy upload's boundaries ([`UploadBoundary`]) and raw text
//! ([`RawText`]).

use crate::error::{CommandError, ProtocolError};
use crate::gcode::lines::{contains_ci, lines, strip_prefix_ci};
use crate::gcode::reply::{is_echo, is_pseudo_echo, Position};

/// `~M601 S1` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Login {
    /// This connection holds control now.
    pub granted: bool,
    /// The printer said `Error: have been connected` (A3): already logged in, treated as granted.
    pub already_connected: bool,
}

impl Login {
    /// Parse a login reply (tcp.md §5.0).
    pub fn parse(bytes: &[u8]) -> Self {
        let (mut success, mut ok, mut failed, mut already) = (false, false, false, false);
        for line in lines(bytes) {
            success |= contains_ci(&line, "control success");
            failed |= contains_ci(&line, "control failed");
            already |= contains_ci(&line, "have been connected");
            ok |= line == "ok" || strip_prefix_ci(&line, "ok ").is_some() && !is_pseudo_echo(&line);
        }
        Self {
            granted: success || (ok && !failed) || already,
            already_connected: already,
        }
    }
}

/// An acknowledgement-only reply (tcp.md §5.6).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandAck {
    /// A3 `~M23`: `File opened: <path>`.
    pub opened_path: Option<String>,
    /// A3 `~M23`: `Size: <bytes>`.
    pub size: Option<u64>,
    /// A position, when the acknowledgement carried one (`~M663`).
    pub position: Option<Position>,
}

impl CommandAck {
    /// Parse an acknowledgement: success needs a terminating `ok`, an `ack:` line, an echo
    /// line, `File opened` or `Emergency Stop`; error and denial lines were checked before.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut ack = Self {
            opened_path: None,
            size: None,
            position: None,
        };
        let mut positive = false;
        let mut physical = bytes;
        while !physical.is_empty() {
            let (line, rest) = crate::gcode::lines::split_line(physical);
            physical = rest;
            if strip_prefix_ci(&crate::gcode::lines::decode(line), "ack:").is_some() {
                positive = true;
            }
        }
        for line in lines(bytes) {
            positive |= line == "ok"
                || strip_prefix_ci(&line, "ok ").is_some()
                || is_echo(&line).is_some()
                || contains_ci(&line, "emergency stop")
                || is_pseudo_echo(&line);
            if let Some(rest) = line.strip_prefix("File opened:") {
                positive = true;
                let rest = rest.trim();
                let (path, size) = match rest.rfind("Size:") {
                    Some(i) => (rest[..i].trim(), rest[i + 5..].trim().parse().ok()),
                    None => (rest, None),
                };
                ack.opened_path = Some(path.to_owned());
                ack.size = size;
            }
            if ack.position.is_none() {
                ack.position = Position::parse_line(&line);
            }
        }
        if !positive {
            return Err(ProtocolError::Unexpected(
                "no acknowledgement in reply".into(),
            ));
        }
        Ok(ack)
    }
}

/// `~M28` / `~M29` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UploadBoundary {
    /// Always true for a parsed reply; rejections are errors.
    pub accepted: bool,
}

impl UploadBoundary {
    /// Markers that reject an upload (case-insensitive).
    const REJECT: [&'static str; 5] = [
        "error:",
        "control failed.",
        "file is not available",
        "cannot create file",
        "not enough space",
    ];

    /// Parse an upload boundary reply (tcp.md §7 step 3).
    pub fn parse(bytes: &[u8]) -> Result<Self, CommandError> {
        let mut positive = false;
        for line in lines(bytes) {
            let lower = line.to_ascii_lowercase();
            if Self::REJECT.iter().any(|m| lower.contains(m)) {
                let text = lower
                    .strip_prefix("error:")
                    .map_or(&*line, |_| line[6..].trim());
                return Err(CommandError::Printer(text.to_owned()));
            }
            positive |= line == "ok"
                || lower.starts_with("ok")
                || line.contains("Received.")
                || line.contains("M28")
                || line.contains("M29");
        }
        if !positive {
            return Err(ProtocolError::Unexpected("no upload acknowledgement".into()).into());
        }
        Ok(Self { accepted: true })
    }
}

/// Any reply as normalised lines.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RawText {
    /// The normalised lines, `ok` terminators included.
    pub lines: Vec<String>,
}

impl RawText {
    /// Normalise a reply into lines.
    pub fn parse(bytes: &[u8]) -> Self {
        Self {
            lines: lines(bytes).map(|l| l.into_owned()).collect(),
        }
    }
}
