//! The two binary replies (tcp.md §6): the `~M661` file list and the `~M662` thumbnail.
//!
//! Both are self-describing, so completion is decided at the last byte of the structure with
//! no settle window. The scanners keep a cursor, so bytes that trickle in cost O(n) overall.

use crate::error::{CapacityError, CommandError, Error, ProtocolError};
use crate::gcode::lines::{decode, split_line, strip_prefix_ci};
use crate::gcode::reply::reply_failure;
use crate::gcode::{Incomplete, Parsed};

/// `44 AA AA 44`: the file-list ("vector") tag.
// Public through `printer` (the simulator's encoders) only.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub))]
pub const LIST_TAG: [u8; 4] = [0x44, 0xAA, 0xAA, 0x44];
/// `3A 3A A3 A3`: a file-list entry ("string") tag.
// Public through `printer` (the simulator's encoders) only.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub))]
pub const ENTRY_TAG: [u8; 4] = [0x3A, 0x3A, 0xA3, 0xA3];
/// `A2 A2 2A 2A`: the thumbnail tag (the other byte order is accepted too).
// Public through `printer` (the simulator's encoders) only.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub))]
pub const THUMB_TAG: [u8; 4] = [0xA2, 0xA2, 0x2A, 0x2A];
const THUMB_TAG_SWAPPED: [u8; 4] = [0x2A, 0x2A, 0xA2, 0xA2];
/// The PNG signature.
// Public through `printer` (the simulator's encoders) only.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub))]
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];

#[cfg(feature = "printer")]
/// Appends the binary `~M661` payload (the printer side; what the parser reads): the list tag,
/// the count, then a tagged, length-prefixed entry per path (`/data/<name>`).
pub fn encode_file_list<'a>(paths: impl ExactSizeIterator<Item = &'a str>, out: &mut Vec<u8>) {
    out.extend_from_slice(&LIST_TAG);
    out.extend_from_slice(&(paths.len() as u32).to_be_bytes());
    for path in paths {
        out.extend_from_slice(&ENTRY_TAG);
        out.extend_from_slice(&(path.len() as u32).to_be_bytes());
        out.extend_from_slice(path.as_bytes());
    }
}

#[cfg(feature = "printer")]
/// Appends the binary part of a `~M662` reply (the printer side): tag, u32be length, image.
pub fn encode_thumbnail(image: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&THUMB_TAG);
    out.extend_from_slice(&(image.len() as u32).to_be_bytes());
    out.extend_from_slice(image);
}

/// Bounds applied while decoding binary replies (from [`crate::Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryLimits {
    /// Most file-list entries.
    pub max_entries: u32,
    /// Longest path.
    pub max_path_len: u32,
    /// Most bytes of the whole reply (also the largest image).
    pub max_bytes: usize,
}

impl Default for BinaryLimits {
    fn default() -> Self {
        let c = crate::Config::default();
        Self::from(&c)
    }
}

impl From<&crate::Config> for BinaryLimits {
    fn from(c: &crate::Config) -> Self {
        Self {
            max_entries: c.max_file_list_entries,
            max_path_len: c.max_path_len,
            max_bytes: c.max_binary_reply_bytes,
        }
    }
}

/// Result of scanning a binary payload so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scan {
    /// At least this many more bytes are needed.
    Need(usize),
    /// The structure ends at this payload offset.
    Done(usize),
    /// The bytes are not this structure.
    Invalid(Error),
}

/// Incremental position inside an M661 payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListCursor {
    pos: usize,
    remaining: Option<u32>,
    pub(crate) done: u32,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Advance over whole entries of an M661 payload that starts at `payload[0]`.
pub(crate) fn scan_list(payload: &[u8], limits: &BinaryLimits, cur: &mut ListCursor) -> Scan {
    if cur.remaining.is_none() {
        if payload.len() < 8 {
            return Scan::Need(8 - payload.len());
        }
        if payload[..4] != LIST_TAG {
            return Scan::Invalid(ProtocolError::BadListTag.into());
        }
        let count = be32(&payload[4..8]);
        if count > limits.max_entries {
            return Scan::Invalid(
                CapacityError {
                    what: "file list entries",
                    size: count as usize,
                    max: limits.max_entries as usize,
                }
                .into(),
            );
        }
        cur.remaining = Some(count);
        cur.pos = 8;
    }
    while cur.remaining != Some(0) {
        let rest = &payload[cur.pos..];
        if rest.len() < 8 {
            return Scan::Need(8 - rest.len());
        }
        if rest[..4] != ENTRY_TAG {
            return Scan::Invalid(ProtocolError::BadEntryTag { offset: cur.pos }.into());
        }
        let len = be32(&rest[4..8]);
        if len > limits.max_path_len {
            return Scan::Invalid(
                CapacityError {
                    what: "file list path",
                    size: len as usize,
                    max: limits.max_path_len as usize,
                }
                .into(),
            );
        }
        let need = 8 + len as usize;
        if rest.len() < need {
            return Scan::Need(need - rest.len());
        }
        cur.pos += need;
        cur.done += 1;
        cur.remaining = cur.remaining.map(|r| r - 1);
    }
    Scan::Done(cur.pos)
}

/// Which thumbnail layout was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ThumbCursor {
    /// Nothing recognised yet; PNG search resumes at this offset.
    #[default]
    Unknown,
    /// Searching for a PNG signature from this offset.
    Searching(usize),
    /// A PNG starting at `start`; the next chunk begins at `next`.
    Png { start: usize, next: usize },
}

/// Advance over an M662 payload: a tag + length + image, or a bare PNG walked to `IEND`.
pub(crate) fn scan_thumb(payload: &[u8], max: usize, cur: &mut ThumbCursor) -> Scan {
    if *cur == ThumbCursor::Unknown {
        let head = &payload[..payload.len().min(4)];
        let tag_prefix = THUMB_TAG.starts_with(head) || THUMB_TAG_SWAPPED.starts_with(head);
        if tag_prefix && payload.len() < 8 {
            return Scan::Need(8 - payload.len());
        }
        if payload.len() >= 8 && (payload[..4] == THUMB_TAG || payload[..4] == THUMB_TAG_SWAPPED) {
            let len = be32(&payload[4..8]) as usize;
            if len > max {
                return Scan::Invalid(
                    CapacityError {
                        what: "thumbnail",
                        size: len,
                        max,
                    }
                    .into(),
                );
            }
            return if payload.len() >= 8 + len {
                Scan::Done(8 + len)
            } else {
                Scan::Need(8 + len - payload.len())
            };
        }
        *cur = ThumbCursor::Searching(0);
    }
    if let ThumbCursor::Searching(from) = *cur {
        match memchr::memmem::find(&payload[from..], &PNG_SIGNATURE) {
            Some(i) => {
                let start = from + i;
                *cur = ThumbCursor::Png {
                    start,
                    next: start + 8,
                };
            }
            None => {
                *cur = ThumbCursor::Searching(payload.len().saturating_sub(7));
                return Scan::Need(1);
            }
        }
    }
    if let ThumbCursor::Png { start, mut next } = *cur {
        loop {
            let rest = &payload[next..];
            if rest.len() < 8 {
                *cur = ThumbCursor::Png { start, next };
                return Scan::Need(8 - rest.len());
            }
            let len = be32(&rest[..4]) as usize;
            if len > max {
                return Scan::Invalid(
                    CapacityError {
                        what: "thumbnail chunk",
                        size: len,
                        max,
                    }
                    .into(),
                );
            }
            let total = 12 + len;
            if rest.len() < total {
                *cur = ThumbCursor::Png { start, next };
                return Scan::Need(total - rest.len());
            }
            let is_end = &rest[4..8] == b"IEND";
            next += total;
            if is_end {
                *cur = ThumbCursor::Png { start, next };
                return Scan::Done(next);
            }
        }
    }
    Scan::Need(1)
}

/// Where the binary part of a reply starts, if the text part is recognisable.
///
/// M661: at a line that starts with the list tag, or after the `ok` line. M662: after the `ok`
/// line or the A3 `ack header length:` line, or right after an `ok` glued to binary bytes.
pub(crate) fn binary_start(bytes: &[u8], thumbnail: bool) -> Option<usize> {
    let mut offset = 0;
    let mut rest = bytes;
    while !rest.is_empty() {
        if !thumbnail && rest.starts_with(&LIST_TAG) {
            return Some(offset);
        }
        if thumbnail && rest.starts_with(b"ok") {
            if let Some(&b) = rest.get(2) {
                if !matches!(b, b'\r' | b'\n' | b' ') {
                    return Some(offset + 2);
                }
            }
        }
        let (line, after) = split_line(rest);
        let text = decode(line);
        let text = text.trim();
        let next = offset + (rest.len() - after.len());
        if text == "ok" || (thumbnail && strip_prefix_ci(text, "ack header length").is_some()) {
            return Some(next);
        }
        offset = next;
        rest = after;
    }
    None
}

/// `~M661` reply: every stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileList {
    /// Paths as sent (`/data/…`).
    pub paths: Vec<String>,
    /// Offset of the `44 AA AA 44` payload in the reply, when the binary form was used.
    pub payload_offset: Option<usize>,
}

impl FileList {
    /// File names with the `/data/` prefix removed.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.paths
            .iter()
            .map(|p| p.strip_prefix("/data/").unwrap_or(p))
    }

    /// Parse a whole `~M661` reply: the binary form, the A3 `info_list.size` form, or the
    /// emulator's `::`-separated text.
    pub fn parse(bytes: &[u8], limits: &BinaryLimits) -> Result<Parsed<Self>, CommandError> {
        if let Some(start) =
            binary_start(bytes, false).filter(|&s| bytes[s..].starts_with(&LIST_TAG))
        {
            let payload = &bytes[start..];
            let mut cur = ListCursor::default();
            return match scan_list(payload, limits, &mut cur) {
                Scan::Need(n) => Ok(Parsed::Incomplete(Incomplete {
                    bytes_missing: n,
                    entries_complete: Some(cur.done),
                })),
                Scan::Invalid(e) => Err(e.into()),
                Scan::Done(_) => {
                    let mut paths = Vec::with_capacity(cur.done as usize);
                    let mut pos = 8;
                    for _ in 0..cur.done {
                        let len = be32(&payload[pos + 4..pos + 8]) as usize;
                        let raw = &payload[pos + 8..pos + 8 + len];
                        paths.push(decode(raw).into_owned());
                        pos += 8 + len;
                    }
                    Ok(Parsed::Complete(Self {
                        paths,
                        payload_offset: Some(start),
                    }))
                }
            };
        }
        if let Some(err) = reply_failure(bytes) {
            return Err(err);
        }
        let mut paths = Vec::new();
        let mut a3_expected: Option<usize> = None;
        for line in crate::gcode::lines::lines(bytes) {
            if line.starts_with("CMD M661 Error") {
                return Ok(Parsed::Complete(Self {
                    paths,
                    payload_offset: None,
                }));
            }
            if let Some(n) = line.strip_prefix("info_list.size:") {
                a3_expected = Some(n.trim().parse().unwrap_or(0));
                continue;
            }
            if line == "ok" {
                continue;
            }
            if line.starts_with("CMD ") {
                continue;
            }
            if let Some(n) = a3_expected {
                if paths.len() < n && paths.len() < limits.max_entries as usize {
                    paths.push(format!("/data/{line}"));
                }
                continue;
            }
            for seg in line.split("::") {
                let seg = seg.trim();
                if seg.starts_with("/data/") && paths.len() < limits.max_entries as usize {
                    paths.push(seg.to_owned());
                }
            }
        }
        Ok(Parsed::Complete(Self {
            paths,
            payload_offset: None,
        }))
    }
}

/// Image format of a thumbnail, from its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum ImageFormat {
    /// `89 50 4E 47 …`.
    Png,
    /// `BM`.
    Bmp,
    /// Anything else (returned as is).
    Unknown,
}

/// `~M662` reply: a stored file's preview image.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The image bytes.
    pub image: Vec<u8>,
    /// Format from the signature.
    pub format: ImageFormat,
    /// Offset of the image in the reply.
    pub image_offset: usize,
    /// PNG width from `IHDR`.
    pub width: Option<u32>,
    /// PNG height from `IHDR`.
    pub height: Option<u32>,
    /// The 4-byte tag, when the tagged layout was used.
    pub tag: Option<[u8; 4]>,
    /// The length the tag announced.
    pub declared_length: Option<u32>,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnail")
            .field("format", &self.format)
            .field("image_len", &self.image.len())
            .field("image_offset", &self.image_offset)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl Thumbnail {
    /// Wrap image bytes that arrived without any framing (HTTP `/gcodeThumb`, `GET /getThum`):
    /// the format comes from the signature and PNG dimensions from `IHDR`.
    pub fn from_image(image: Vec<u8>) -> Self {
        let format = if image.starts_with(&PNG_SIGNATURE) {
            ImageFormat::Png
        } else if image.starts_with(b"BM") {
            ImageFormat::Bmp
        } else {
            ImageFormat::Unknown
        };
        let (width, height) =
            if format == ImageFormat::Png && image.len() >= 24 && &image[12..16] == b"IHDR" {
                (Some(be32(&image[16..20])), Some(be32(&image[20..24])))
            } else if format == ImageFormat::Bmp && image.len() >= 26 {
                let le = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]).unsigned_abs();
                (Some(le(&image[18..22])), Some(le(&image[22..26])))
            } else {
                (None, None)
            };
        Self {
            image,
            format,
            image_offset: 0,
            width,
            height,
            tag: None,
            declared_length: None,
        }
    }

    /// Parse a whole `~M662` reply. A tagged image shorter than announced is
    /// [`Parsed::Incomplete`]; an untagged PNG is taken up to `IEND` or the end of the data.
    pub fn parse(bytes: &[u8], max: usize) -> Result<Parsed<Self>, CommandError> {
        let start = binary_start(bytes, true);
        let text = &bytes[..start.unwrap_or(bytes.len())];
        match reply_failure(text) {
            Some(CommandError::Printer(t)) => {
                let lower = t.to_ascii_lowercase();
                if lower.contains("not exist") || lower.contains("not found") {
                    return Err(ProtocolError::FileNotFound.into());
                }
                return Err(CommandError::Printer(t));
            }
            Some(e) => return Err(e),
            None => {}
        }
        let start = start.unwrap_or(0);
        let payload = &bytes[start..];
        let mut cur = ThumbCursor::default();
        let scan = scan_thumb(payload, max, &mut cur);
        let (offset, image, tag, declared) = match (scan, cur) {
            (Scan::Invalid(e), _) => return Err(e.into()),
            (Scan::Done(end), ThumbCursor::Unknown) => {
                let declared = be32(&payload[4..8]);
                let mut tag = [0; 4];
                tag.copy_from_slice(&payload[..4]);
                (start + 8, &payload[8..end], Some(tag), Some(declared))
            }
            (Scan::Need(n), ThumbCursor::Unknown) => {
                return Ok(Parsed::Incomplete(Incomplete {
                    bytes_missing: n,
                    entries_complete: None,
                }))
            }
            (Scan::Done(end), ThumbCursor::Png { start: s, .. }) => {
                (start + s, &payload[s..end], None, None)
            }
            (Scan::Need(_), ThumbCursor::Png { start: s, .. }) => {
                (start + s, &payload[s..], None, None)
            }
            _ => return Err(ProtocolError::NoImageFound.into()),
        };
        let format = if image.starts_with(&PNG_SIGNATURE) {
            ImageFormat::Png
        } else if image.starts_with(b"BM") {
            ImageFormat::Bmp
        } else {
            ImageFormat::Unknown
        };
        let (width, height) =
            if format == ImageFormat::Png && image.len() >= 24 && &image[12..16] == b"IHDR" {
                (Some(be32(&image[16..20])), Some(be32(&image[20..24])))
            } else {
                (None, None)
            };
        Ok(Parsed::Complete(Self {
            image: image.to_vec(),
            format,
            image_offset: offset,
            width,
            height,
            tag,
            declared_length: declared,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Vec<u8> {
        let mut v = ENTRY_TAG.to_vec();
        v.extend_from_slice(&(path.len() as u32).to_be_bytes());
        v.extend_from_slice(path.as_bytes());
        v
    }

    #[test]
    fn list_needs_exactly_the_announced_bytes() {
        let mut p = LIST_TAG.to_vec();
        p.extend_from_slice(&2u32.to_be_bytes());
        p.extend(entry("/data/a::b.gcode"));
        p.extend(entry("/data/é.3mf"));
        let limits = BinaryLimits::default();
        for cut in 0..p.len() {
            let mut cur = ListCursor::default();
            assert!(matches!(scan_list(&p[..cut], &limits, &mut cur), Scan::Need(n) if n > 0));
        }
        let mut cur = ListCursor::default();
        assert_eq!(scan_list(&p, &limits, &mut cur), Scan::Done(p.len()));
        let Parsed::Complete(list) = FileList::parse(&p, &limits).unwrap() else {
            panic!("complete list expected")
        };
        assert_eq!(list.names().collect::<Vec<_>>(), ["a::b.gcode", "é.3mf"]);
    }

    #[test]
    fn list_bounds_are_enforced_before_allocation() {
        let mut p = LIST_TAG.to_vec();
        p.extend_from_slice(&u32::MAX.to_be_bytes());
        let err = FileList::parse(&p, &BinaryLimits::default()).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn bare_png_completes_at_iend() {
        let mut png = PNG_SIGNATURE.to_vec();
        png.extend_from_slice(&[0, 0, 0, 0]);
        png.extend_from_slice(b"IEND");
        png.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
        let mut cur = ThumbCursor::default();
        assert_eq!(scan_thumb(&png, 1 << 20, &mut cur), Scan::Done(png.len()));
    }
}
