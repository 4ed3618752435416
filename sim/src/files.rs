//! Stored files and what the printer learns from them: the thumbnail embedded by the slicer
//! and the slicer's metadata (print time, filament per tool), as the firmware shows them in
//! `/gcodeList`, `/gcodeThumb`, `GET /getThum` and `~M662`.
//!
//! * G-code: the slicer's comment blocks, `; thumbnail begin WxH LEN` … base64 lines (`; …`) …
//!   `; thumbnail end` (PrusaSlicer, OrcaSlicer, FlashPrint's Orca-based exports), the typed
//!   `; thumbnail_PNG begin` form (JPG and QOI blocks are skipped: the printer shows PNG), and
//!   the bare forms: `; thumbnail begin` with no size (what the FlashForge emulator reads,
//!   `captures/emulator/README.md`) and the comment without a space (`;thumbnail begin`,
//!   `;iVBOR…`). Header and trailer comments carry the metadata.
//! * 3MF: a zip; the thumbnail is `Metadata/plate_1.png`, the metadata `Metadata/slice_info.config`
//!   (plate 1's `prediction`, `weight`, and its `<filament>` entries).
//!
//! Everything is bounded: only the first and last [`SCAN_WINDOW`] bytes of a file are looked at
//! (slicers write their config at both ends), a base64 block is at most [`MAX_THUMBNAIL_B64`]
//! characters, a zip member at most [`MAX_ZIP_MEMBER`] bytes inflated. A malformed block or
//! zip means "no thumbnail" / "no metadata", never a panic.
//!
//! When a file has no thumbnail the firmware answers with a default image
//! (`protocol/http.md` §7: the emulator's `/gcodeThumb` returns a 1×1 PNG; `protocol/tcp.md`
//! §6.2: the firmware falls back to a default image), so [`StoredFile::thumbnail_or_default`]
//! serves [`DEFAULT_THUMBNAIL`], the emulator's 1×1 PNG byte for byte.

use std::sync::Arc;

use flashforge_proto::printer::PNG_SIGNATURE;
use sha2::{Digest, Sha256};

use crate::png;
use crate::printer::SimPrinter;

/// How much of each end of a file is scanned for comments, thumbnails and a zip directory.
pub const SCAN_WINDOW: usize = 1 << 20;
/// Longest base64 text of one thumbnail block.
pub const MAX_THUMBNAIL_B64: usize = 1 << 20;
/// Largest zip member inflated (thumbnail, `slice_info.config`).
pub const MAX_ZIP_MEMBER: usize = 4 << 20;
/// Most filaments (tools) reported for one file.
const MAX_TOOLS: usize = 16;

/// The image the firmware serves for a file without an embedded thumbnail: the FlashForge
/// emulator's 1×1 RGBA PNG (`fixtures/http/gcodethumb_emulator_placeholder.json`).
pub const DEFAULT_THUMBNAIL: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x64, 0xF8, 0xCF, 0x50,
    0x0F, 0x00, 0x03, 0x86, 0x01, 0x80, 0x5A, 0x34, 0x7D, 0x6B, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// One stored file.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// The bytes, when not larger than [`PrinterSpec::keep_file_bytes`](crate::PrinterSpec).
    pub data: Option<Arc<[u8]>>,
    /// The PNG embedded in the file, if it has one.
    pub thumbnail: Option<Arc<[u8]>>,
    /// What the slicer wrote about the print.
    pub meta: FileMeta,
}

impl StoredFile {
    /// A file of `data`, its thumbnail and metadata read from it; the bytes are kept when not
    /// longer than `keep`.
    pub fn new(name: &str, data: &[u8], keep: u64) -> Self {
        let (thumbnail, meta) = inspect(name, &Window::whole(data));
        Self {
            size: data.len() as u64,
            sha256: Sha256::digest(data).into(),
            data: (data.len() as u64 <= keep).then(|| Arc::from(data)),
            thumbnail: thumbnail.map(Arc::from),
            meta,
        }
    }

    /// A file received elsewhere: its thumbnail and metadata are read from `data` when kept.
    pub fn from_parts(name: &str, size: u64, sha256: [u8; 32], data: Option<Arc<[u8]>>) -> Self {
        let (thumbnail, meta) = match &data {
            Some(d) => inspect(name, &Window::whole(d)),
            None => (None, FileMeta::default()),
        };
        Self {
            size,
            sha256,
            data,
            thumbnail: thumbnail.map(Arc::from),
            meta,
        }
    }

    /// The image the printer serves for this file: the embedded PNG, else the firmware's
    /// default image ([`DEFAULT_THUMBNAIL`]).
    pub fn thumbnail_or_default(&self) -> &[u8] {
        self.thumbnail.as_deref().unwrap_or(DEFAULT_THUMBNAIL)
    }
}

/// What a slicer wrote about a print: the `/gcodeList` detail and the job's estimates.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FileMeta {
    /// Estimated print time, seconds.
    pub print_seconds: Option<u32>,
    /// The filaments the print uses, by tool.
    pub tools: Vec<ToolMeta>,
    /// Total filament, grams.
    pub total_weight_g: Option<f64>,
    /// Total filament, millimetres.
    pub total_length_mm: Option<f64>,
}

impl FileMeta {
    /// Nothing known.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The total weight, or the sum of the tools' weights.
    pub fn weight_g(&self) -> Option<f64> {
        self.total_weight_g.or_else(|| {
            let w: Vec<f64> = self.tools.iter().filter_map(|t| t.weight_g).collect();
            (!w.is_empty()).then(|| w.iter().sum())
        })
    }

    /// The total length, or the sum of the tools' lengths.
    pub fn length_mm(&self) -> Option<f64> {
        self.total_length_mm.or_else(|| {
            let l: Vec<f64> = self.tools.iter().filter_map(|t| t.length_mm).collect();
            (!l.is_empty()).then(|| l.iter().sum())
        })
    }
}

/// One filament of a print.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ToolMeta {
    /// Tool (extruder / filament) index, 0-based.
    pub tool_id: u8,
    /// Material (`PLA`, `PETG`, ...; `""` when not known).
    pub material: String,
    /// Colour, `#RRGGBB` (`""` when not known).
    pub color: String,
    /// Filament, grams.
    pub weight_g: Option<f64>,
    /// Filament, millimetres.
    pub length_mm: Option<f64>,
    /// Material-station slot assigned by the upload's `materialMappings` (1–4; 0 none).
    pub slot_id: u8,
}

/// The parts of a file that are at hand: all of it, or its first and last bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window<'a> {
    head: &'a [u8],
    tail: &'a [u8],
    size: u64,
    /// Zip members caught while the file streamed by (name, stored bytes): the thumbnail and
    /// slice info of a 3MF whose middle is not kept.
    caught: &'a [(String, Vec<u8>)],
}

impl<'a> Window<'a> {
    /// The whole file.
    pub(crate) fn whole(data: &'a [u8]) -> Self {
        Self {
            head: data,
            tail: &[],
            size: data.len() as u64,
            caught: &[],
        }
    }

    /// `len` bytes at `offset`, when they are inside the head or the tail.
    fn get(&self, offset: u64, len: usize) -> Option<&'a [u8]> {
        let end = offset.checked_add(len as u64)?;
        if end <= self.head.len() as u64 {
            return self.head.get(offset as usize..end as usize);
        }
        let tail_start = self.size.checked_sub(self.tail.len() as u64)?;
        if offset >= tail_start && end <= self.size {
            let o = (offset - tail_start) as usize;
            return self.tail.get(o..o + len);
        }
        None
    }

    /// The last bytes of the file (up to `n`).
    fn last(&self, n: usize) -> &'a [u8] {
        let src = if self.tail.is_empty() {
            self.head
        } else {
            self.tail
        };
        &src[src.len().saturating_sub(n)..]
    }

    /// The regions to scan for comments: the first and last [`SCAN_WINDOW`] bytes (one region
    /// when they meet). A region that starts inside a line skips to the next line.
    fn text_regions(&self) -> Vec<&'a [u8]> {
        if self.tail.is_empty() {
            let d = self.head;
            if d.len() <= 2 * SCAN_WINDOW {
                return vec![d];
            }
            return vec![&d[..SCAN_WINDOW], skip_partial(&d[d.len() - SCAN_WINDOW..])];
        }
        let head = &self.head[..self.head.len().min(SCAN_WINDOW)];
        let tail = &self.tail[self.tail.len().saturating_sub(SCAN_WINDOW)..];
        vec![head, skip_partial(tail)]
    }
}

fn skip_partial(region: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', region) {
        Some(i) => &region[i + 1..],
        None => &[],
    }
}

/// The thumbnail and metadata of a file named `name`.
pub(crate) fn inspect(name: &str, w: &Window<'_>) -> (Option<Vec<u8>>, FileMeta) {
    let zip = w.get(0, 4) == Some(b"PK\x03\x04".as_slice())
        || name.to_ascii_lowercase().ends_with(".3mf");
    if zip {
        return inspect_3mf(w);
    }
    let mut scan = GcodeScan::default();
    for region in w.text_regions() {
        scan.region(region);
    }
    scan.finish()
}

// --- G-code -------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Block {
    png: bool,
    area: u64,
    declared: Option<usize>,
    b64: Vec<u8>,
    broken: bool,
}

#[derive(Debug, Default)]
struct GcodeScan {
    block: Option<Block>,
    /// The best thumbnail so far and its pixel area.
    best: Option<(u64, Vec<u8>)>,
    time: Option<(u8, u32)>,
    weights: Vec<f64>,
    lengths: Vec<f64>,
    materials: Vec<String>,
    colors: Vec<String>,
    total_weight: Option<f64>,
    total_length: Option<f64>,
}

impl GcodeScan {
    fn region(&mut self, region: &[u8]) {
        for line in region.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.line(line);
        }
        // A block the region ends inside of has no end: no thumbnail from it.
        self.block = None;
    }

    fn line(&mut self, line: &[u8]) {
        let Some(body) = line.strip_prefix(b";") else {
            if let Some(b) = self.block.as_mut() {
                b.broken = true;
            }
            return;
        };
        let body = body.trim_ascii();
        if let Some(kind) = thumbnail_marker(body, b"begin") {
            self.begin(kind.0, kind.1);
            return;
        }
        if thumbnail_marker(body, b"end").is_some() {
            if let Some(b) = self.block.take() {
                self.end(b);
            }
            return;
        }
        if let Some(b) = self.block.as_mut() {
            if body.iter().all(|&c| is_b64(c) || c == b'=') {
                b.b64.extend_from_slice(body);
                b.broken |= b.b64.len() > MAX_THUMBNAIL_B64;
            } else {
                b.broken = true;
            }
            return;
        }
        if let Ok(text) = std::str::from_utf8(body) {
            self.comment(text);
        }
    }

    fn begin(&mut self, png: bool, rest: &[u8]) {
        let mut b = Block {
            png,
            ..Block::default()
        };
        let rest = std::str::from_utf8(rest).unwrap_or("\u{0}");
        let mut words = rest.split_ascii_whitespace();
        match (words.next(), words.next(), words.next()) {
            (None, ..) => {}
            (Some(dims), len, None) => {
                let wh = dims
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse::<u64>().ok()?, h.parse::<u64>().ok()?)));
                match (wh, len.map(str::parse::<usize>)) {
                    (Some((w, h)), None) => b.area = w.saturating_mul(h),
                    (Some((w, h)), Some(Ok(n))) => {
                        b.area = w.saturating_mul(h);
                        b.declared = Some(n);
                    }
                    _ => b.broken = true,
                }
            }
            _ => b.broken = true,
        }
        self.block = Some(b);
    }

    fn end(&mut self, b: Block) {
        if b.broken || !b.png || b.declared.is_some_and(|n| n != b.b64.len()) {
            return;
        }
        let Some(img) = decode_b64_strict(&b.b64) else {
            return;
        };
        if !img.starts_with(&PNG_SIGNATURE) {
            return;
        }
        // The largest image: what the printer's screen shows of a file that has several
        // (PrusaSlicer writes a small one for its own previews first).
        if self.best.as_ref().map_or(true, |(area, _)| b.area > *area) {
            self.best = Some((b.area, img));
        }
    }

    fn comment(&mut self, text: &str) {
        // OrcaSlicer's header: `; model printing time: 1h 2m; total estimated time: 1h 5m`.
        let lower = text.to_ascii_lowercase();
        if let Some(i) = lower.find("total estimated time:") {
            if let Some(s) = parse_duration(&text[i + "total estimated time:".len()..]) {
                self.time(1, s);
            }
            return;
        }
        let Some(i) = text.find(['=', ':']) else {
            return;
        };
        let key = lower[..i].trim();
        let value = text[i + 1..].trim();
        let key = key.replace('_', " ");
        match key.as_str() {
            "estimated printing time (normal mode)" => self.time_from(0, value),
            "estimated printing time"
            | "estimated time"
            | "estimated print time"
            | "print time"
            | "printing time"
            | "estimated build time"
            | "build time" => self.time_from(2, value),
            "time" => self.time_from(3, value),
            "filament used [g]" => self.weights = numbers(value),
            "filament used [mm]" => self.lengths = numbers(value),
            "filament used [m]" => {
                self.lengths = numbers(value).into_iter().map(|m| m * 1000.0).collect();
            }
            "filament used" if value.ends_with('m') && !value.ends_with("mm") => {
                // Cura: `;Filament used: 1.23456m`.
                self.lengths = numbers(value.trim_end_matches('m'))
                    .into_iter()
                    .map(|m| m * 1000.0)
                    .collect();
            }
            "total filament weight [g]" | "total filament weight" | "filament weight" => {
                self.total_weight = numbers(value).first().copied();
            }
            "total filament length [mm]" | "filament length" => {
                self.total_length = numbers(value).first().copied();
            }
            "filament type" | "material" | "material name" => {
                self.materials = list(value, |s| s.to_owned());
            }
            "filament colour" | "filament color" => self.colors = list(value, normalize_color),
            "extruder colour" if self.colors.is_empty() => {
                self.colors = list(value, normalize_color);
            }
            _ => {}
        }
    }

    fn time_from(&mut self, rank: u8, value: &str) {
        if let Some(s) = parse_duration(value) {
            self.time(rank, s);
        }
    }

    /// Keeps the estimate of the best rank (lowest), the first of a rank.
    fn time(&mut self, rank: u8, secs: u32) {
        if self.time.map_or(true, |(r, _)| rank < r) {
            self.time = Some((rank, secs));
        }
    }

    fn finish(self) -> (Option<Vec<u8>>, FileMeta) {
        let n = self
            .weights
            .len()
            .max(self.lengths.len())
            .max(self.materials.len())
            .max(self.colors.len())
            .min(MAX_TOOLS);
        let usage = !self.weights.is_empty() || !self.lengths.is_empty();
        let tools = (0..n)
            .filter_map(|i| {
                let weight_g = self.weights.get(i).copied();
                let length_mm = self.lengths.get(i).copied();
                // Slicers list every configured filament; a print uses those with usage.
                let used = weight_g.unwrap_or(0.0) > 0.0 || length_mm.unwrap_or(0.0) > 0.0;
                (used || !usage).then(|| ToolMeta {
                    tool_id: i as u8,
                    material: self.materials.get(i).cloned().unwrap_or_default(),
                    color: self.colors.get(i).cloned().unwrap_or_default(),
                    weight_g,
                    length_mm,
                    slot_id: 0,
                })
            })
            .collect();
        let meta = FileMeta {
            print_seconds: self.time.map(|(_, s)| s),
            tools,
            total_weight_g: self.total_weight,
            total_length_mm: self.total_length,
        };
        (self.best.map(|(_, img)| img), meta)
    }
}

/// `thumbnail begin` / `thumbnail_PNG begin` / `thumbnail_JPG end` ...: whether the block is
/// PNG, and the text after the marker.
fn thumbnail_marker<'b>(body: &'b [u8], word: &[u8]) -> Option<(bool, &'b [u8])> {
    let rest = body.strip_prefix(b"thumbnail")?;
    let (png, rest) = if let Some(r) = rest.strip_prefix(b"_") {
        let kind_end = r.iter().position(|&c| c == b' ')?;
        (r[..kind_end].eq_ignore_ascii_case(b"PNG"), &r[kind_end..])
    } else {
        (true, rest)
    };
    let rest = rest.strip_prefix(b" ")?.trim_ascii_start();
    let rest = rest.strip_prefix(word)?;
    if !(rest.is_empty() || rest[0] == b' ') {
        return None;
    }
    Some((png, rest.trim_ascii()))
}

fn is_b64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

/// Standard base64, padded, nothing else: a length that is a multiple of 4, `=` only at the
/// end (at most two), zero trailing bits.
pub(crate) fn decode_b64_strict(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 4 != 0 {
        return None;
    }
    let pad = text.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = &text[..text.len() - pad];
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (acc == 0).then_some(out)
}

/// `1h 2m 3s`, `1d 2h 3m 4s`, `2 hours 5 minutes`, `01:02:03`, or plain seconds (`3723`,
/// `3723.5`).
fn parse_duration(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(s) = t.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| s.round().min(f64::from(u32::MAX)) as u32);
    }
    if t.contains(':') {
        let parts: Vec<&str> = t.split(':').map(str::trim).collect();
        if parts.len() > 3 {
            return None;
        }
        let mut secs = 0u64;
        for p in parts {
            secs = secs.checked_mul(60)?.checked_add(p.parse::<u64>().ok()?)?;
        }
        return u32::try_from(secs).ok();
    }
    let mut secs = 0f64;
    let mut any = false;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = rest[..unit_end].to_ascii_lowercase();
        rest = &rest[unit_end..];
        let scale = match unit.as_str() {
            "d" | "day" | "days" => 86_400.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            _ => return None,
        };
        secs += n * scale;
        any = true;
    }
    (any && secs <= f64::from(u32::MAX)).then(|| secs.round() as u32)
}

/// `1.2, 3.4` / `1.2;3.4` / `1.2 g`.
fn numbers(text: &str) -> Vec<f64> {
    text.split([',', ';'])
        .take(MAX_TOOLS)
        .filter_map(|s| {
            let s = s.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic());
            s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
        })
        .collect()
}

fn list(text: &str, f: impl Fn(&str) -> String) -> Vec<String> {
    text.split(';')
        .take(MAX_TOOLS)
        .map(|s| f(s.trim()))
        .collect()
}

/// `#RRGGBB` (upper case) from `#RGB`, `#RRGGBB`, `#RRGGBBAA` or bare hex; else `""`.
pub(crate) fn normalize_color(c: &str) -> String {
    let hex = c.trim().trim_start_matches('#');
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return String::new();
    }
    match hex.len() {
        3 => hex
            .chars()
            .fold(String::from("#"), |mut s, ch| {
                s.push(ch);
                s.push(ch);
                s
            })
            .to_ascii_uppercase(),
        6 | 8 => format!("#{}", &hex[..6]).to_ascii_uppercase(),
        _ => String::new(),
    }
}

// --- 3MF ----------------------------------------------------------------------------------

fn inspect_3mf(w: &Window<'_>) -> (Option<Vec<u8>>, FileMeta) {
    let Some(dir) = ZipDir::find(w) else {
        return (None, FileMeta::default());
    };
    let thumb = dir
        .read(w, "Metadata/plate_1.png")
        .filter(|img| img.starts_with(&PNG_SIGNATURE));
    let meta = dir
        .read(w, "Metadata/slice_info.config")
        .and_then(|x| String::from_utf8(x).ok())
        .map(|x| slice_info(&x))
        .unwrap_or_default();
    (thumb, meta)
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A zip's central directory (no Zip64, no encryption: what slicers write for a 3MF).
struct ZipDir<'a> {
    cd: &'a [u8],
    entries: u16,
}

impl<'a> ZipDir<'a> {
    fn find(w: &Window<'a>) -> Option<Self> {
        // The end record is the last 22 bytes plus a comment of at most 64 KiB.
        let end = w.last(22 + 0xFFFF);
        let at = (0..=end.len().checked_sub(22)?)
            .rev()
            .find(|&i| end[i..].starts_with(b"PK\x05\x06"))?;
        let eocd = &end[at..];
        let entries = u16le(eocd, 10)?;
        let cd_size = u32le(eocd, 12)?;
        let cd_offset = u32le(eocd, 16)?;
        if cd_offset == u32::MAX || cd_size as usize > SCAN_WINDOW {
            return None;
        }
        let cd = w.get(u64::from(cd_offset), cd_size as usize)?;
        Some(Self { cd, entries })
    }

    /// The bytes of member `name`, checked against its CRC-32; `None` when missing, out of
    /// reach (a large file whose middle is not kept), too large or corrupt.
    fn read(&self, w: &Window<'_>, name: &str) -> Option<Vec<u8>> {
        let mut at = 0usize;
        for _ in 0..self.entries {
            let e = self.cd.get(at..)?;
            if !e.starts_with(b"PK\x01\x02") {
                return None;
            }
            let flags = u16le(e, 8)?;
            let method = u16le(e, 10)?;
            let crc = u32le(e, 16)?;
            let csize = u32le(e, 20)? as usize;
            let usize_ = u32le(e, 24)? as usize;
            let nlen = usize::from(u16le(e, 28)?);
            let xlen = usize::from(u16le(e, 30)?);
            let clen = usize::from(u16le(e, 32)?);
            let local = u32le(e, 42)?;
            let ename = e.get(46..46 + nlen)?;
            at += 46 + nlen + xlen + clen;
            if ename != name.as_bytes() {
                continue;
            }
            if flags & 1 != 0 || usize_ > MAX_ZIP_MEMBER || csize > MAX_ZIP_MEMBER {
                return None;
            }
            let kept = || {
                let lh = w.get(u64::from(local), 30)?;
                if !lh.starts_with(b"PK\x03\x04") {
                    return None;
                }
                let data_at =
                    u64::from(local) + 30 + u64::from(u16le(lh, 26)?) + u64::from(u16le(lh, 28)?);
                w.get(data_at, csize)
            };
            let caught = || {
                w.caught
                    .iter()
                    .find(|(n, d)| n == name && d.len() == csize)
                    .map(|(_, d)| d.as_slice())
            };
            let raw = kept().or_else(caught)?;
            let out = match method {
                0 if csize == usize_ => raw.to_vec(),
                8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, usize_).ok()?,
                _ => return None,
            };
            return (out.len() == usize_ && png::crc32(&[&out]) == crc).then_some(out);
        }
        None
    }
}

/// Plate 1 of an OrcaSlicer / Bambu `slice_info.config`: `prediction` (s), `weight` (g), and
/// `<filament id type color used_m used_g>` (ids 1-based).
fn slice_info(xml: &str) -> FileMeta {
    let mut meta = FileMeta::default();
    let Some(start) = xml.find("<plate") else {
        return meta;
    };
    let plate = &xml[start..];
    let plate = &plate[..plate.find("</plate>").unwrap_or(plate.len())];
    for tag in plate.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let (name, attrs) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let attr = |k: &str| xml_attr(attrs, k);
        match name {
            "metadata" => match (attr("key").as_deref(), attr("value")) {
                (Some("prediction"), Some(v)) => meta.print_seconds = parse_duration(&v),
                (Some("weight"), Some(v)) => meta.total_weight_g = v.trim().parse().ok(),
                _ => {}
            },
            "filament" if meta.tools.len() < MAX_TOOLS => {
                let id = attr("id")
                    .and_then(|v| v.trim().parse::<u8>().ok())
                    .filter(|&i| i >= 1);
                let Some(id) = id else { continue };
                let num = |k: &str| attr(k).and_then(|v| v.trim().parse::<f64>().ok());
                meta.tools.push(ToolMeta {
                    tool_id: id - 1,
                    material: attr("type").unwrap_or_default(),
                    color: attr("color").map_or_else(String::new, |c| normalize_color(&c)),
                    weight_g: num("used_g"),
                    length_mm: num("used_m").map(|m| m * 1000.0),
                    slot_id: 0,
                });
            }
            _ => {}
        }
    }
    meta.tools.sort_by_key(|t| t.tool_id);
    meta.tools.dedup_by_key(|t| t.tool_id);
    meta
}

/// The value of attribute `key="…"` (or `'…'`), entities decoded.
fn xml_attr(attrs: &str, key: &str) -> Option<String> {
    let mut rest = attrs;
    loop {
        let i = rest.find('=')?;
        let name = rest[..i].trim();
        let after = rest[i + 1..].trim_start();
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let body = &after[1..];
        let end = body.find(quote)?;
        if name == key {
            return Some(
                body[..end]
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            );
        }
        rest = &body[end + 1..];
    }
}

// --- Receiving a file in pieces -----------------------------------------------------------

/// Receives a file in pieces: hashes everything, keeps the bytes up to a bound, and keeps the
/// first and last [`SCAN_WINDOW`] bytes of a larger file so its thumbnail and metadata are
/// still read, and a 3MF's thumbnail and slice info wherever they are in it (memory stays
/// under 3 × [`SCAN_WINDOW`] + 2 × [`MAX_ZIP_MEMBER`] whatever the size).
#[derive(Debug)]
pub struct FileSink {
    name: String,
    hasher: Sha256,
    size: u64,
    data: Option<Vec<u8>>,
    head: Vec<u8>,
    tail: Vec<u8>,
    keep: u64,
    zip: ZipStream,
}

/// The 3MF members whose bytes are kept while a file streams by.
const CAUGHT: [&str; 2] = ["Metadata/plate_1.png", "Metadata/slice_info.config"];

/// Follows a zip's local headers as its bytes stream by and keeps the members named in
/// [`CAUGHT`] (bounded), so a 3MF too large to keep still has its thumbnail and slice info.
/// It stops at the first thing that is not a local header (the central directory, or not a
/// zip) and at a member whose size is only in a trailing data descriptor.
#[derive(Debug, Default)]
struct ZipStream {
    header: Vec<u8>,
    skip: u64,
    catch: u64,
    members: Vec<(String, Vec<u8>)>,
    done: bool,
}

impl ZipStream {
    fn feed(&mut self, mut b: &[u8]) {
        while !b.is_empty() && !self.done {
            if self.skip > 0 {
                let n = self.skip.min(b.len() as u64) as usize;
                self.skip -= n as u64;
                b = &b[n..];
                continue;
            }
            if self.catch > 0 {
                let n = self.catch.min(b.len() as u64) as usize;
                if let Some((_, d)) = self.members.last_mut() {
                    d.extend_from_slice(&b[..n]);
                }
                self.catch -= n as u64;
                b = &b[n..];
                continue;
            }
            let full = |h: &[u8]| match (u16le(h, 26), u16le(h, 28)) {
                (Some(n), Some(x)) if h.len() >= 30 => 30 + usize::from(n) + usize::from(x),
                _ => 30,
            };
            let n = (full(&self.header) - self.header.len()).min(b.len());
            self.header.extend_from_slice(&b[..n]);
            b = &b[n..];
            if self.header.len() >= 4 && !self.header.starts_with(b"PK\x03\x04") {
                self.done = true;
                break;
            }
            // The fixed part first, then the name and extra field it gives the lengths of.
            if self.header.len() < full(&self.header) {
                continue;
            }
            let flags = u16le(&self.header, 6).unwrap_or(8);
            let csize = u64::from(u32le(&self.header, 18).unwrap_or(0));
            if flags & 8 != 0 {
                self.done = true;
                break;
            }
            let nlen = usize::from(u16le(&self.header, 26).unwrap_or(0));
            let name = String::from_utf8_lossy(&self.header[30..30 + nlen]).into_owned();
            self.header.clear();
            let wanted = CAUGHT.contains(&name.as_str())
                && csize <= MAX_ZIP_MEMBER as u64
                && self.members.len() < CAUGHT.len();
            if wanted {
                self.members
                    .push((name, Vec::with_capacity(csize as usize)));
                self.catch = csize;
            } else {
                self.skip = csize;
            }
        }
    }
}

impl FileSink {
    /// A sink for `name`, keeping bytes up to `keep`.
    pub fn new(name: &str, keep: u64) -> Self {
        Self {
            name: name.to_owned(),
            hasher: Sha256::new(),
            size: 0,
            data: Some(Vec::new()),
            head: Vec::new(),
            tail: Vec::new(),
            keep,
            zip: ZipStream::default(),
        }
    }

    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.zip.feed(bytes);
        self.size += bytes.len() as u64;
        if let Some(d) = self.data.as_mut() {
            if self.size <= self.keep {
                d.extend_from_slice(bytes);
                return;
            }
            // Too large to keep: from here on only the two ends.
            let d = self.data.take().unwrap_or_default();
            self.head = d[..d.len().min(SCAN_WINDOW)].to_vec();
            self.tail = d[d.len().saturating_sub(SCAN_WINDOW)..].to_vec();
        }
        let room = SCAN_WINDOW - self.head.len();
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        if bytes.len() >= SCAN_WINDOW {
            self.tail.clear();
            self.tail
                .extend_from_slice(&bytes[bytes.len() - SCAN_WINDOW..]);
        } else {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > 2 * SCAN_WINDOW {
                let cut = self.tail.len() - SCAN_WINDOW;
                self.tail.drain(..cut);
            }
        }
    }

    /// Bytes received.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stored file: hash, size, kept bytes, thumbnail and metadata.
    pub fn into_file(self) -> (String, StoredFile) {
        let sha256: [u8; 32] = self.hasher.finalize().into();
        let (thumbnail, meta, data) = match self.data {
            Some(d) => {
                let (t, m) = inspect(&self.name, &Window::whole(&d));
                (t, m, Some(Arc::from(d)))
            }
            None => {
                let tail = &self.tail[self.tail.len().saturating_sub(SCAN_WINDOW)..];
                let w = Window {
                    head: &self.head,
                    tail,
                    size: self.size,
                    caught: &self.zip.members,
                };
                let (t, m) = inspect(&self.name, &w);
                (t, m, None)
            }
        };
        let file = StoredFile {
            size: self.size,
            sha256,
            data,
            thumbnail: thumbnail.map(Arc::from),
            meta,
        };
        (self.name, file)
    }

    /// Stores the file on `printer`.
    pub fn finish(self, printer: &mut SimPrinter) {
        let (name, file) = self.into_file();
        printer.put_file(&name, file);
    }
}

// --- The built-in demo files --------------------------------------------------------------

/// A zip of stored (uncompressed) members.
pub(crate) fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in members {
        let crc = png::crc32(&[data]);
        let offset = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u32.to_le_bytes()); // time, date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        cd.extend_from_slice(b"PK\x01\x02");
        cd.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut cd);
        cd.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        cd.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        cd.extend_from_slice(&offset.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// `cube.gcode`: an OrcaSlicer-style header with a 48×48 PNG thumbnail and a 10-minute, one
/// tool PLA estimate.
/// The two files every printer starts with, inspected once per process.
pub(crate) fn demo_files() -> &'static [(&'static str, StoredFile)] {
    static FILES: std::sync::OnceLock<[(&str, StoredFile); 2]> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let file = |name, data: Vec<u8>| (name, StoredFile::new(name, &data, u64::MAX));
        [
            file("cube.gcode", demo_gcode()),
            file("Benchy 0.2mm (PLA).3mf", demo_3mf()),
        ]
    })
}

/// A slicer's thumbnail block for a `width`×`height` PNG, as OrcaSlicer and PrusaSlicer write
/// it (`; thumbnail begin WxH LEN`, base64 in lines of 78, `; thumbnail end`): what the
/// simulator serves for an upload that carries it. For test and demo files.
pub fn thumbnail_block(png: &[u8], width: u32, height: u32) -> String {
    let b64 = flashforge_proto::printer::base64_encode(png);
    let mut g = format!(
        "; THUMBNAIL_BLOCK_START\n; thumbnail begin {width}x{height} {}\n",
        b64.len()
    );
    for chunk in b64.as_bytes().chunks(78) {
        g.push_str("; ");
        g.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        g.push('\n');
    }
    g.push_str("; thumbnail end\n; THUMBNAIL_BLOCK_END\n\n");
    g
}

pub(crate) fn demo_gcode() -> Vec<u8> {
    let mut g = String::from("; HEADER_BLOCK_START\n; generated by OrcaSlicer 2.2.0\n");
    g.push_str("; total layer number: 50\n; HEADER_BLOCK_END\n\n");
    g.push_str(&thumbnail_block(
        &png::solid(48, 48, [0x2E, 0x86, 0xDE]),
        48,
        48,
    ));
    g.push_str("G28\nG1 X10 Y10 Z0.3 F3000\n");
    g.push_str("; filament used [mm] = 1251.37\n; filament used [g] = 3.73\n");
    g.push_str("; estimated printing time (normal mode) = 10m 0s\n");
    g.push_str("; CONFIG_BLOCK_START\n; filament_colour = #FFFFFF\n; filament_type = PLA\n");
    g.push_str("; CONFIG_BLOCK_END\n");
    g.into_bytes()
}

/// `Benchy 0.2mm (PLA).3mf`: a 3MF with a plate thumbnail and slice info (two PLA colours).
pub(crate) fn demo_3mf() -> Vec<u8> {
    let thumb = png::solid(64, 64, [0xF7, 0x22, 0x24]);
    let info = r##"<?xml version="1.0" encoding="UTF-8"?>
<config>
  <header>
    <header_item key="X-BBL-Client-Type" value="slicer"/>
    <header_item key="X-BBL-Client-Version" value="02.02.00.85"/>
  </header>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="printer_model_id" value=""/>
    <metadata key="prediction" value="2832"/>
    <metadata key="weight" value="14.21"/>
    <filament id="1" tray_info_idx="GFL99" type="PLA" color="#F72224" used_m="3.98" used_g="11.87" />
    <filament id="2" tray_info_idx="GFL99" type="PLA" color="#FFFFFF" used_m="0.78" used_g="2.34" />
  </plate>
</config>
"##;
    stored_zip(&[
        ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types/>"),
        ("Metadata/plate_1.png", &thumb),
        ("Metadata/slice_info.config", info.as_bytes()),
        ("3D/3dmodel.model", b"<?xml version=\"1.0\"?><model/>"),
    ])
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
