//! Incremental reply framing (tcp.md §3.4): decides, byte by byte, where the reply to the
//! command in flight ends. Never the "`ok` anywhere" substring test: completion is decided on
//! whole normalised lines, and binary replies end at the last byte of their structure.

use std::time::Duration;

use crate::config::Config;
use crate::error::{CapacityError, Error, ProtocolError};
use crate::gcode::binary::{scan_list, scan_thumb, BinaryLimits, ListCursor, Scan, ThumbCursor};
use crate::gcode::binary::{LIST_TAG, PNG_SIGNATURE};
use crate::gcode::command::{ReplyKind, ReplyProfile};
use crate::gcode::lines::{decode, normalise, split_line, strip_prefix_ci};
use crate::gcode::reply::{is_echo, is_pseudo_echo};

/// What [`ReplyFramer::push`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum FrameStatus {
    /// The reply is not complete yet.
    Partial,
    /// The reply is complete: [`ReplyFramer::reply`] holds it.
    Complete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Binary {
    List(ListCursor),
    /// The bytes after `ok` are not the tagged list: emulator text, completes on quiet.
    ListText,
    Thumb(ThumbCursor),
}

/// Frames the reply to one command.
///
/// Feed received bytes with [`push`](Self::push) until it says [`FrameStatus::Complete`], or
/// call [`finish`](Self::finish) when the quiet period passes. Lines that arrive before the
/// command's own `CMD Mxxx Received.` echo from a printer known to echo are stale (the tail of an
/// earlier reply, a wait-for-temperature stream) and are dropped and counted.
#[derive(Debug, Clone)]
pub struct ReplyFramer {
    profile: ReplyProfile,
    max_line: usize,
    max_text: usize,
    limits: BinaryLimits,
    expect_echo: bool,
    buf: Vec<u8>,
    scan: usize,
    seen_echo: bool,
    in_quote: bool,
    awaiting_ok: bool,
    a3_names_left: Option<u32>,
    binary: Option<(usize, Binary)>,
    end: Option<usize>,
    stale: usize,
    /// The last byte seen was a CR ending a line: a following LF belongs to that line.
    pending_cr: bool,
    /// The last line was dropped as stale (its LF, if split off, goes too).
    last_line_stale: bool,
    /// The reply ended at an `Error:` line: an `ok` line right after it belongs to it.
    absorb_ok: bool,
    /// A line of this reply's own content (not an echo, not a stale tail) was seen.
    content: bool,
    /// The last field of a Shape B reply (`Mac Address` of `~M115`, `PrintFileName` of
    /// `~M119`) arrived: the reply is whole, only a terminator may still follow.
    structure_done: bool,
    /// Which fields of a `~M115` / `~M119` have arrived (bits of [`field_bit`]).
    fields: u8,
    /// A stale `Control Success` / `Control Release` line was dropped: its `ok` goes too.
    stale_ok: bool,
    /// The bytes before this reply ended mid-line: the first bytes up to a line end are the
    /// rest of that stale line.
    skip_partial: bool,
}

impl ReplyFramer {
    /// A framer for a command with `profile`. `expect_echo`: the printer is known to start every
    /// reply with `CMD <code> Received.` (learned by the session).
    pub fn new(profile: ReplyProfile, config: &Config, expect_echo: bool) -> Self {
        Self {
            profile,
            max_line: config.max_line_len,
            max_text: config.max_reply_bytes,
            limits: BinaryLimits::from(config),
            expect_echo,
            buf: Vec::new(),
            scan: 0,
            seen_echo: false,
            in_quote: false,
            awaiting_ok: false,
            a3_names_left: None,
            binary: None,
            end: None,
            stale: 0,
            pending_cr: false,
            absorb_ok: false,
            last_line_stale: false,
            content: false,
            structure_done: false,
            fields: 0,
            stale_ok: false,
            skip_partial: false,
        }
    }

    /// The bytes received before this reply (the tail of the previous one) ended mid-line:
    /// drop the rest of that line when it arrives, so it is not read as this reply's start.
    pub fn skip_partial_line(&mut self) {
        self.skip_partial = true;
    }

    /// How long a silence must last before the reply is taken as complete, given what has
    /// arrived so far; `None` while the end of the reply is recognisable from its structure
    /// (then only the deadline ends a reply cut short, as an incomplete reply).
    ///
    /// A quiet period applies only where the structure is unknown: Shape B acknowledgements
    /// and raw replies without `ok` (in a dialect that tolerates them), a Shape B `~M115` /
    /// `~M119` whose last field arrived and that might still send `ok`, and binary payloads
    /// without tag or PNG structure. A Modern text reply ends at `ok`, whatever the pauses.
    pub fn quiet_period(&self) -> Option<Duration> {
        let quiet = self.profile.quiet?;
        if self.end.is_some() || self.buf.is_empty() {
            return None;
        }
        match &self.binary {
            Some((start, Binary::ListText)) => {
                // No structure at all (the emulator's `/data/a.gcode::/data/b.3mf`): at least
                // never end inside a name, which always ends in a printable extension.
                let text = self.buf[*start..].trim_ascii_end().to_ascii_lowercase();
                let whole = [&b".gcode"[..], b".gx", b".g", b".3mf"]
                    .iter()
                    .any(|ext| text.ends_with(ext));
                return whole.then_some(quiet);
            }
            Some((start, Binary::Thumb(ThumbCursor::Searching(_)))) => {
                let payload = &self.buf[*start..];
                // Nothing yet, or maybe the first bytes of a PNG signature: wait for more.
                let maybe_png =
                    (1..PNG_SIGNATURE.len()).any(|n| payload.ends_with(&PNG_SIGNATURE[..n]));
                return (!payload.is_empty() && !maybe_png).then_some(quiet);
            }
            Some(_) => return None,
            None => {}
        }
        if self.in_quote {
            // An A3 `ack: "…` whose closing quote has not come yet.
            return None;
        }
        let partial = &self.buf[self.scan..];
        let only_ok_left = self.structure_done && b"ok\r".starts_with(partial);
        if !(partial.is_empty() || only_ok_left) {
            // A line is still arriving: ending here would cut a field. (Only the `ok` of a
            // reply whose last field arrived can be cut without changing its data.)
            return None;
        }
        match self.profile.kind {
            ReplyKind::Ack | ReplyKind::RawText => Some(quiet),
            // `CMD M29 Received.` alone is not the whole answer: an `ok` or an error
            // marker (`File Is Not Available`) follows.
            ReplyKind::UploadBoundary => self.content.then_some(quiet),
            ReplyKind::PrinterInfo | ReplyKind::EndstopStatus => {
                self.structure_done.then_some(quiet)
            }
            ReplyKind::Login
            | ReplyKind::Temperatures
            | ReplyKind::PrintStatus
            | ReplyKind::Position
            | ReplyKind::FileList
            | ReplyKind::Thumbnail => None,
        }
    }

    /// Whether the reply, as received, is complete when its deadline passes: only an `~M661`
    /// whose `ok` arrived and after which no payload came (tcp.md §6.1: an empty list).
    ///
    /// A Shape B `~M115` / `~M119` still missing one of its fields at the deadline is not
    /// accepted with what it has: that could be a reply cut short, and partial fields
    /// reported as a success are worse than a typed [`crate::CommandError::Incomplete`].
    pub fn completes_at_deadline(&self) -> bool {
        self.end.is_none()
            && matches!(&self.binary, Some((start, Binary::List(_))) if *start == self.buf.len())
    }

    /// The profile this framer was built with.
    pub fn profile(&self) -> &ReplyProfile {
        &self.profile
    }

    /// Whether any reply bytes (not stale ones) have been received.
    pub fn has_data(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Whether the command's own echo line was seen.
    pub fn saw_echo(&self) -> bool {
        self.seen_echo
    }

    /// Stale bytes dropped before the reply started.
    pub fn stale_bytes(&self) -> usize {
        self.stale
    }

    /// Bytes currently buffered (bounded by the config).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The complete reply (after [`FrameStatus::Complete`] or [`finish`](Self::finish)).
    pub fn reply(&self) -> &[u8] {
        &self.buf[..self.end.unwrap_or(self.buf.len())]
    }

    /// Bytes received after the end of the reply (stale for the next command).
    pub fn leftover(&self) -> &[u8] {
        self.end.map_or(&[][..], |e| &self.buf[e..])
    }

    /// Whether the reply is complete.
    pub fn is_complete(&self) -> bool {
        self.end.is_some()
    }

    /// Take the reply bytes out, leaving the framer empty.
    pub fn take_reply(&mut self) -> Vec<u8> {
        let end = self.end.unwrap_or(self.buf.len());
        self.buf.truncate(end);
        std::mem::take(&mut self.buf)
    }

    /// End the reply at whatever has arrived (quiet period or EOF).
    pub fn finish(&mut self) {
        if self.end.is_none() {
            self.end = Some(self.buf.len());
        }
    }

    /// Feed received bytes. After completion, further bytes are only counted as leftover
    /// (up to the text bound). An error means the stream cannot be framed any more.
    pub fn push(&mut self, bytes: &[u8]) -> Result<FrameStatus, Error> {
        if let Some(end) = self.end {
            if self.pending_cr && !bytes.is_empty() {
                self.pending_cr = false;
                if bytes[0] == b'\n' && end == self.buf.len() {
                    self.end = Some(end + 1);
                }
            }
            let end = self.end.unwrap_or(end);
            let room = (end + self.max_text).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
            self.absorb_trailing_ok();
            return Ok(FrameStatus::Complete);
        }
        let max = match self.profile.kind {
            ReplyKind::FileList | ReplyKind::Thumbnail => self.limits.max_bytes,
            _ => self.max_text,
        };
        if self.buf.len() + bytes.len() > max {
            return Err(CapacityError {
                what: "reply",
                size: self.buf.len() + bytes.len(),
                max,
            }
            .into());
        }
        self.buf.extend_from_slice(bytes);
        self.process()
    }

    fn complete(&mut self, end: usize) -> Result<FrameStatus, Error> {
        self.pending_cr =
            self.binary.is_none() && end == self.buf.len() && self.buf.last() == Some(&b'\r');
        self.end = Some(end);
        self.absorb_trailing_ok();
        Ok(FrameStatus::Complete)
    }

    /// After an `Error:` line, take a directly following `ok` line into the reply, however the
    /// bytes were split (the emulator sends `Error: …\nok\n`, the A3 firmware no `ok`).
    fn absorb_trailing_ok(&mut self) {
        if !self.absorb_ok || self.pending_cr {
            return;
        }
        let Some(end) = self.end else { return };
        let rest = &self.buf[end..];
        for form in [&b"ok\r\n"[..], b"ok\n", b"ok\r"] {
            if rest.starts_with(form) {
                self.absorb_ok = false;
                self.end = Some(end + form.len());
                // `ok\r` at the very end may still be followed by its LF.
                self.pending_cr = form == b"ok\r" && rest.len() == form.len();
                return;
            }
        }
        let waiting = rest.len() < 4 && (b"ok\r\n".starts_with(rest) || b"ok\n".starts_with(rest));
        if !waiting {
            self.absorb_ok = false;
        }
    }

    /// Drop everything up to `upto` as stale.
    fn drop_stale(&mut self, upto: usize) {
        self.last_line_stale = true;
        self.buf.drain(..upto);
        self.stale += upto;
        self.scan = 0;
    }

    fn process(&mut self) -> Result<FrameStatus, Error> {
        if self.skip_partial {
            match memchr::memchr2(b'\n', b'\r', &self.buf) {
                Some(i) => {
                    self.skip_partial = false;
                    let crlf = self.buf[i] == b'\r' && self.buf.get(i + 1) == Some(&b'\n');
                    self.drop_stale(i + 1 + usize::from(crlf));
                    self.last_line_stale = false;
                }
                None => {
                    let n = self.buf.len();
                    self.drop_stale(n);
                    return Ok(FrameStatus::Partial);
                }
            }
        }
        loop {
            if let Some((start, _)) = self.binary {
                return self.process_binary(start);
            }
            let rest = &self.buf[self.scan..];
            if rest.is_empty() {
                return Ok(FrameStatus::Partial);
            }
            if self.pending_cr && rest[0] == b'\n' {
                // The LF of a CRLF that arrived in two reads belongs to the previous line.
                self.pending_cr = false;
                if self.last_line_stale {
                    self.drop_stale(self.scan + 1);
                } else {
                    self.scan += 1;
                }
                continue;
            }
            match self.profile.kind {
                ReplyKind::FileList if self.a3_names_left.is_none() => {
                    let n = rest.len().min(4);
                    if rest[..n] == LIST_TAG[..n] {
                        if n < 4 {
                            return Ok(FrameStatus::Partial);
                        }
                        self.binary = Some((self.scan, Binary::List(ListCursor::default())));
                        continue;
                    }
                }
                ReplyKind::Thumbnail if rest.starts_with(b"ok") => match rest.get(2) {
                    None => return Ok(FrameStatus::Partial),
                    Some(b'\r' | b'\n' | b' ') => {}
                    Some(_) => {
                        self.binary = Some((self.scan + 2, Binary::Thumb(ThumbCursor::default())));
                        continue;
                    }
                },
                _ => {}
            }
            let (line, after) = split_line(rest);
            if line.len() > self.max_line {
                return Err(CapacityError {
                    what: "line",
                    size: line.len(),
                    max: self.max_line,
                }
                .into());
            }
            if line.len() == rest.len() {
                // No terminator yet.
                return Ok(FrameStatus::Partial);
            }
            let line_start = self.scan;
            let next = self.scan + (rest.len() - after.len());
            self.scan = next;
            self.last_line_stale = false;
            self.pending_cr = next == self.buf.len() && self.buf[next - 1] == b'\r';
            if let Some(status) = self.on_line(line_start, next)? {
                return Ok(status);
            }
        }
    }

    /// Classify one physical line `buf[start..next]` (terminator included).
    fn on_line(&mut self, start: usize, next: usize) -> Result<Option<FrameStatus>, Error> {
        let (line, _) = split_line(&self.buf[start..next]);
        let raw = decode(line);
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let was_quote = self.in_quote;
        let (text, open) = normalise(raw, self.in_quote);
        self.in_quote = open;
        let is_ack = strip_prefix_ci(raw, "ack:").is_some();
        let lower_err = strip_prefix_ci(text, "error:").is_some();
        let denied = strip_prefix_ci(text, "control failed").is_some();
        let own = self.profile.code;

        if let Some(code) = is_echo(text) {
            if code == own {
                if self.expect_echo && start > 0 && !self.seen_echo {
                    self.drop_stale(start);
                    self.scan = next - start;
                    self.last_line_stale = false;
                }
                self.seen_echo = true;
                return Ok(None);
            }
            if !self.seen_echo {
                // The echo of another command: everything so far belongs to an older reply.
                self.drop_stale(next);
                return Ok(None);
            }
        }
        if is_pseudo_echo(text) {
            self.seen_echo = true;
            return Ok(None);
        }
        if self.awaiting_ok {
            return if text == "ok" {
                self.complete(next).map(Some)
            } else {
                Ok(None)
            };
        }
        if self.expect_echo && !self.seen_echo && !lower_err && !denied {
            self.drop_stale(next);
            return Ok(None);
        }
        if !self.seen_echo && !self.content && self.profile.kind != ReplyKind::Login {
            // The tail of an earlier exchange that arrived late (the emulator's second login
            // block, a Shape B reply's stray `ok`): nothing of this reply has come yet, and a
            // reply that must carry data cannot end before it.
            if text.starts_with("Control Success") || text.starts_with("Control Release") {
                self.stale_ok = true;
                self.drop_stale(next);
                return Ok(None);
            }
            // No reply starts with a bare `ok` (every shape opens with an echo, `ack:`,
            // `echo:`, data or an error), so one here is the tail of the exchange before.
            if text == "ok" {
                self.stale_ok = false;
                self.drop_stale(next);
                return Ok(None);
            }
        }
        self.stale_ok = false;
        if lower_err {
            self.absorb_ok = true;
            return self.complete(next).map(Some);
        }
        if denied {
            self.awaiting_ok = true;
            return Ok(None);
        }
        if self.profile.kind == ReplyKind::FileList {
            if let Some(left) = self.a3_names_left {
                if text == "ok" || text.starts_with("CMD ") {
                    return Ok(None);
                }
                self.a3_names_left = Some(left - 1);
                return if left == 1 {
                    self.complete(next).map(Some)
                } else {
                    Ok(None)
                };
            }
            if let Some(n) = text.strip_prefix("info_list.size:") {
                let n: u32 = n.trim().parse().unwrap_or(0);
                if n > self.limits.max_entries {
                    return Err(CapacityError {
                        what: "file list entries",
                        size: n as usize,
                        max: self.limits.max_entries as usize,
                    }
                    .into());
                }
                if n == 0 {
                    return self.complete(next).map(Some);
                }
                self.a3_names_left = Some(n);
                return Ok(None);
            }
            if text.starts_with("CMD M661 Error") {
                return self.complete(next).map(Some);
            }
        }
        if self.profile.kind == ReplyKind::Thumbnail
            && strip_prefix_ci(text, "ack header length").is_some()
        {
            self.binary = Some((next, Binary::Thumb(ThumbCursor::default())));
            return Ok(None);
        }
        if !open && (was_quote || is_ack) {
            return self.complete(next).map(Some);
        }
        if text == "ok" {
            return match self.profile.kind {
                ReplyKind::FileList => {
                    self.binary = Some((next, Binary::List(ListCursor::default())));
                    Ok(None)
                }
                ReplyKind::Thumbnail => {
                    self.binary = Some((next, Binary::Thumb(ThumbCursor::default())));
                    Ok(None)
                }
                _ => self.complete(next).map(Some),
            };
        }
        if text.starts_with("ok ") {
            return self.complete(next).map(Some);
        }
        self.content = true;
        if self.profile.kind == ReplyKind::UploadBoundary && is_upload_refusal(text) {
            // tcp.md §7: the A3 reports a refused upload without `Error:` and without `ok`.
            self.absorb_ok = true;
            return self.complete(next).map(Some);
        }
        self.fields |= field_bit(self.profile.kind, text);
        let whole = match self.profile.kind {
            ReplyKind::PrinterInfo => M115_FIELDS,
            // The A3's un-echoed form also carries `FilamentStatus`.
            ReplyKind::EndstopStatus if self.seen_echo => M119_FIELDS,
            ReplyKind::EndstopStatus => M119_FIELDS | F_FILAMENT,
            _ => u8::MAX,
        };
        if self.profile.dialect.tolerates_shape_b() && self.fields & whole == whole {
            self.structure_done = true;
            if !self.seen_echo {
                // Shape B (tcp.md §3.1 reply-B1): no echo, no terminator; the reply is whole
                // at its last field. An `ok` already buffered behind it belongs to it.
                self.absorb_ok = true;
                return self.complete(next).map(Some);
            }
        }
        Ok(None)
    }

    fn process_binary(&mut self, mut start: usize) -> Result<FrameStatus, Error> {
        if self.pending_cr && start < self.buf.len() {
            // `ok\r` then `\n`: the LF ends the text line, the payload starts after it.
            self.pending_cr = false;
            if self.buf[start] == b'\n' {
                start += 1;
                if let Some(b) = self.binary.as_mut() {
                    b.0 = start;
                }
            }
        }
        let Some((_, state)) = self.binary.as_mut() else {
            return Ok(FrameStatus::Partial);
        };
        let payload = &self.buf[start..];
        let scan = match state {
            Binary::List(cur) => scan_list(payload, &self.limits, cur),
            Binary::ListText => return Ok(FrameStatus::Partial),
            Binary::Thumb(cur) => scan_thumb(payload, self.limits.max_bytes, cur),
        };
        match scan {
            Scan::Need(_) => Ok(FrameStatus::Partial),
            Scan::Done(end) => self.complete(start + end),
            Scan::Invalid(Error::Protocol(ProtocolError::BadListTag)) => {
                self.binary = Some((start, Binary::ListText));
                Ok(FrameStatus::Partial)
            }
            Scan::Invalid(e) => Err(e),
        }
    }
}

/// The refusals of `~M28` / `~M29` that carry no `Error:` prefix (tcp.md §7 step 3).
fn is_upload_refusal(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "file is not available",
        "cannot create file",
        "not enough space",
    ]
    .iter()
    .any(|m| lower.contains(m))
}

// The fields of a `~M115` (tcp.md §5.1) and a `~M119` (§5.3), as bits. A Shape B reply has no
// terminator: it is whole once every field it carries has arrived, in whatever order (§5.3:
// "order is not significant").
const F_TYPE: u8 = 1;
const F_NAME: u8 = 2;
const F_FIRMWARE: u8 = 4;
const F_SERIAL: u8 = 8;
const F_DIMS: u8 = 16;
const F_TOOLS: u8 = 32;
const F_MAC: u8 = 64;
const M115_FIELDS: u8 = F_TYPE | F_NAME | F_FIRMWARE | F_SERIAL | F_DIMS | F_TOOLS | F_MAC;
const F_ENDSTOP: u8 = 1;
const F_MACHINE: u8 = 2;
const F_MOVE: u8 = 4;
const F_LED: u8 = 8;
const F_FILE: u8 = 16;
const F_FILAMENT: u8 = 32;
const M119_FIELDS: u8 = F_ENDSTOP | F_MACHINE | F_MOVE | F_LED | F_FILE;

/// The field a normalised line of a `~M115` / `~M119` carries, as a bit (0: none).
fn field_bit(kind: ReplyKind, text: &str) -> u8 {
    let starts = |p: &str| text.starts_with(p);
    match kind {
        ReplyKind::PrinterInfo if starts("Machine Type:") => F_TYPE,
        ReplyKind::PrinterInfo if starts("Machine Name:") => F_NAME,
        ReplyKind::PrinterInfo if starts("Firmware:") => F_FIRMWARE,
        ReplyKind::PrinterInfo if starts("SN:") || starts("Serial Number:") => F_SERIAL,
        ReplyKind::PrinterInfo if starts("Tool Count:") || starts("Tool count:") => F_TOOLS,
        ReplyKind::PrinterInfo if starts("Mac Address") => F_MAC,
        ReplyKind::PrinterInfo if text.contains("X:") && text.contains("Z:") => F_DIMS,
        ReplyKind::EndstopStatus if text.contains("Endstop") => F_ENDSTOP,
        ReplyKind::EndstopStatus if starts("MachineStatus:") => F_MACHINE,
        ReplyKind::EndstopStatus if starts("MoveMode:") => F_MOVE,
        ReplyKind::EndstopStatus if starts("LEDStatus:") || starts("LED:") => F_LED,
        ReplyKind::EndstopStatus if starts("PrintFileName:") || starts("CurrentFile:") => F_FILE,
        ReplyKind::EndstopStatus if starts("FilamentStatus:") => F_FILAMENT,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcode::Command;

    fn framer(cmd: &Command, echo: bool) -> ReplyFramer {
        let c = Config::default();
        ReplyFramer::new(cmd.profile(&c), &c, echo)
    }

    #[test]
    fn ok_inside_data_does_not_end_a_reply() {
        let mut f = framer(&Command::MachineInfo, false);
        let s = f
            .push(b"CMD M115 Received.\nMachine Name: Brooklyn ok\nFilamentStatus: ok\n")
            .unwrap();
        assert_eq!(s, FrameStatus::Partial);
        assert_eq!(f.push(b"ok\n").unwrap(), FrameStatus::Complete);
    }

    #[test]
    fn stale_tail_before_own_echo_is_dropped() {
        let mut f = framer(&Command::MachineInfo, true);
        let tail = b"Control Success V2.1.\nok\n";
        assert_eq!(f.push(tail).unwrap(), FrameStatus::Partial);
        assert_eq!(
            f.push(b"CMD M115 Received.\nMachine Type: X\nok\n")
                .unwrap(),
            FrameStatus::Complete
        );
        assert_eq!(f.stale_bytes(), tail.len());
        assert!(f.reply().starts_with(b"CMD M115"));
    }

    #[test]
    fn error_consumes_a_buffered_ok() {
        let mut f = framer(&Command::Resume, false);
        assert_eq!(
            f.push(b"Error: Printer is busy\nok\nXYZ").unwrap(),
            FrameStatus::Complete
        );
        assert_eq!(f.leftover(), b"XYZ");
    }

    #[test]
    fn quoted_ack_waits_for_the_closing_quote() {
        let mut f = framer(&Command::PrintStatus, false);
        assert_eq!(
            f.push(b"ack: \"SD printing byte 45/100\r\n").unwrap(),
            FrameStatus::Partial
        );
        assert_eq!(f.push(b"\"\n").unwrap(), FrameStatus::Complete);
    }

    fn framer_in(cmd: &Command, dialect: crate::config::Dialect, echo: bool) -> ReplyFramer {
        let c = Config {
            dialect,
            ..Config::default()
        };
        ReplyFramer::new(cmd.profile(&c), &c, echo)
    }

    #[test]
    fn an_echo_with_parameters_is_the_echo() {
        let cmd = Command::SetBedTemp { celsius: 0.0 };
        let mut f = framer(&cmd, true);
        assert_eq!(
            f.push(b"CMD ~M140 S0 Received.\nok\n").unwrap(),
            FrameStatus::Complete
        );
        assert!(f.saw_echo());
    }

    #[test]
    fn shape_b_m115_ends_at_mac_address_and_shape_a_waits_for_ok() {
        use crate::config::Dialect;
        let body = b"Machine Type: FlashForge Adventurer III
Machine Name: A
Firmware: v1.4.0
Serial Number: S
X: 150 Y: 150 Z: 150
Tool Count: 1
Mac Address:00:11:22:33:44:55
";
        for dialect in [Dialect::Adventurer3, Dialect::Unknown] {
            let mut f = framer_in(&Command::MachineInfo, dialect, false);
            let mut b = b"echo: ".to_vec();
            b.extend_from_slice(body);
            assert_eq!(f.push(&b).unwrap(), FrameStatus::Complete, "{dialect:?}");
            // Shape A (echoed): the `ok` still ends it; a quiet period only once whole.
            let mut f = framer_in(&Command::MachineInfo, dialect, false);
            assert_eq!(
                f.push(b"CMD M115 Received.\nMachine Type: X\n").unwrap(),
                FrameStatus::Partial
            );
            assert_eq!(f.quiet_period(), None, "not whole yet");
            assert_eq!(
                f.push(
                    b"Machine Name: A
Firmware: 1
SN: S
X:1 Y:1 Z:1
Tool count: 1
Mac Address: 1
"
                )
                .unwrap(),
                FrameStatus::Partial
            );
            assert!(f.quiet_period().is_some());
            assert_eq!(f.push(b"ok\n").unwrap(), FrameStatus::Complete);
        }
        // Modern: no quiet period for a text reply, whatever arrived.
        let mut f = framer_in(&Command::MachineInfo, Dialect::Modern, false);
        let mut b = b"echo: ".to_vec();
        b.extend_from_slice(body);
        assert_eq!(f.push(&b).unwrap(), FrameStatus::Partial);
        assert_eq!(f.quiet_period(), None);
    }

    #[test]
    fn quiet_never_ends_a_reply_mid_line_and_an_upload_refusal_ends_it() {
        use crate::config::Dialect;
        let mut f = framer_in(&Command::Stop, Dialect::Adventurer3, false);
        assert_eq!(f.push(b"CMD M26 Rec").unwrap(), FrameStatus::Partial);
        assert_eq!(f.quiet_period(), None);
        assert_eq!(f.push(b"eived.\n").unwrap(), FrameStatus::Partial);
        assert_eq!(f.quiet_period(), Some(Config::default().quiet_fallback));
        let mut f = framer_in(&Command::UploadEnd, Dialect::Adventurer3, false);
        assert_eq!(
            f.push(b"CMD M29 Received.\n").unwrap(),
            FrameStatus::Partial
        );
        assert_eq!(f.quiet_period(), None, "the echo alone is not the answer");
        assert_eq!(
            f.push(b"File Is Not Available\n").unwrap(),
            FrameStatus::Complete
        );
    }

    #[test]
    fn shape_b_m119_is_whole_when_every_field_came_in_any_order() {
        use crate::config::Dialect;
        let mut f = framer_in(&Command::EndstopStatus, Dialect::Adventurer3, false);
        let head = b"echo: Endstop: X-max: 1 Y-max: 1 Z-min: 1\nMachineStatus: IDLE\nPrintFileName: a.gcode\n";
        assert_eq!(
            f.push(head).unwrap(),
            FrameStatus::Partial,
            "LED and filament still to come"
        );
        assert_eq!(f.quiet_period(), None);
        assert_eq!(
            f.push(b"MoveMode: 0.0\nFilamentStatus: ok\n").unwrap(),
            FrameStatus::Partial
        );
        assert_eq!(f.push(b"LEDStatus: on\n").unwrap(), FrameStatus::Complete);
        assert!(f.reply().ends_with(b"LEDStatus: on\n"));
    }

    #[test]
    fn overlong_line_is_a_capacity_error() {
        let mut f = framer(&Command::Temperatures, false);
        let err = f.push(&vec![b'x'; 5000]).unwrap_err();
        assert!(matches!(
            err,
            Error::Capacity(CapacityError { what: "line", .. })
        ));
    }
}
