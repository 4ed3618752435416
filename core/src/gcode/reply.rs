//! Typed text replies (tcp.md §5): lenient on what the printer sends, exact on units.
//!
//! Every parser takes the whole reply as bytes (any line endings, echo lines, A3 prefixes) and
//! works on borrowed lines: parsing `~M105`, `~M27` and `~M114` allocates nothing.

use std::fmt;

use crate::error::{CommandError, ProtocolError};
use crate::gcode::command::Code;
use crate::gcode::lines::{find_bytes, lines, simple, strip_prefix_ci, SimpleLines};

/// Most tools an `~M105` reply can report; further `Tn` tokens are ignored.
pub const MAX_TOOLS: usize = 8;
/// Most extra axes kept from an `~M114` line.
pub const MAX_EXTRA_AXES: usize = 8;

/// A current/target temperature pair in °C.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TempReading {
    /// Measured °C (negative values are sensor faults and kept).
    pub current: f64,
    /// Target °C; `None` when the firmware reports only the current value.
    pub target: Option<f64>,
}

/// One extruder's temperature.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ToolTemp {
    /// Tool index (`T0` = main/right extruder; `T` and `T)` are tool 0).
    pub index: u8,
    /// Measured °C.
    pub current: f64,
    /// Target °C.
    pub target: Option<f64>,
}

/// `~M105` reply.
#[derive(Clone, Copy, PartialEq, Default)]
pub struct Temperatures {
    tools: [ToolTemp; MAX_TOOLS],
    tool_count: u8,
    /// Bed, when reported.
    pub bed: Option<TempReading>,
    /// Chamber (`C:` token), when reported.
    pub chamber: Option<TempReading>,
}

impl Temperatures {
    /// The extruders in the order the printer listed them (at least one).
    pub fn tools(&self) -> &[ToolTemp] {
        &self.tools[..usize::from(self.tool_count)]
    }

    /// Parse an `~M105` reply.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        match simple(bytes) {
            Some(text) => Self::from_lines(SimpleLines::new(text)),
            None => Self::from_lines(lines(bytes)),
        }
    }

    fn from_lines<L: AsRef<str>>(lines: impl Iterator<Item = L>) -> Result<Self, ProtocolError> {
        let mut t = Self::default();
        for line in lines {
            // A line without `:` has no `tag:value` token: no need to look for one first.
            for token in line.as_ref().split_ascii_whitespace() {
                let Some((tag, value)) = split_colon(token) else {
                    continue;
                };
                let index = match tag.as_bytes() {
                    b"T" | b"T)" => Some(0),
                    &[b'T', d @ b'0'..=b'9'] => Some(d - b'0'),
                    [b'T', ..] => tag.get(1..).and_then(|n| n.parse::<u8>().ok()),
                    _ => None,
                };
                let slot = match (tag, index) {
                    (_, Some(i)) => Slot::Tool(i),
                    ("B", _) => Slot::Bed,
                    ("C", _) => Slot::Chamber,
                    _ => continue,
                };
                let Some(reading) = parse_reading(value) else {
                    continue;
                };
                match slot {
                    Slot::Tool(i) => t.add_tool(i, reading),
                    Slot::Bed => {
                        t.bed.get_or_insert(reading);
                    }
                    Slot::Chamber => {
                        t.chamber.get_or_insert(reading);
                    }
                }
            }
        }
        if t.tool_count == 0 {
            return Err(ProtocolError::NoExtruderTemperature);
        }
        Ok(t)
    }

    fn add_tool(&mut self, index: u8, r: TempReading) {
        let n = usize::from(self.tool_count);
        if n == MAX_TOOLS || self.tools().iter().any(|t| t.index == index) {
            return;
        }
        self.tools[n] = ToolTemp {
            index,
            current: r.current,
            target: r.target,
        };
        self.tool_count += 1;
    }
}

impl fmt::Debug for Temperatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Temperatures")
            .field("tools", &self.tools())
            .field("bed", &self.bed)
            .field("chamber", &self.chamber)
            .finish()
    }
}

enum Slot {
    Tool(u8),
    Bed,
    Chamber,
}

/// `token.split_once(':')`, without a searcher.
fn split_colon(token: &str) -> Option<(&str, &str)> {
    let i = token.bytes().position(|b| b == b':')?;
    Some((token.get(..i)?, token.get(i + 1..)?))
}

/// `s` up to its first `/`, and what follows that `/`.
fn split_slash(s: &str) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == b'/') {
        Some(i) => (s.get(..i).unwrap_or(s), s.get(i + 1..)),
        None => (s, None),
    }
}

/// `cur[/target[/extra]]`, finite decimals (exponent form accepted).
fn parse_reading(value: &str) -> Option<TempReading> {
    let (current, rest) = split_slash(value);
    let current = parse_finite(current)?;
    let target = match rest.map(|r| split_slash(r).0) {
        Some(t) if !t.is_empty() => Some(parse_finite(t)?),
        _ => None,
    };
    Some(TempReading { current, target })
}

fn parse_finite(s: &str) -> Option<f64> {
    // `fast_decimal` accepts no whitespace: when it takes `s`, trimming would have changed nothing.
    if let Some(v) = fast_decimal(s.as_bytes()) {
        return Some(v);
    }
    let s = s.trim();
    if let Some(v) = fast_decimal(s.as_bytes()) {
        return Some(v);
    }
    // Rust accepts "inf"/"nan": only plain decimals (with optional exponent) are numbers here.
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Exact fast path for `[-+]digits[.digits]` with at most 15 significant digits: the mantissa
/// and the power of ten are exact in f64, so one division is correctly rounded (Clinger).
fn fast_decimal(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
                if count > 15 {
                    return None;
                }
            }
            b'.' if frac.is_none() => frac = Some(0),
            _ => return None,
        }
    }
    if count == 0 {
        return None;
    }
    let v = mantissa as f64 / POW10[frac.unwrap_or(0)];
    Some(if neg { -v } else { v })
}

/// `~M27` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrintStatus {
    /// First number of `SD printing byte a/b` (bytes, or percent on A3/A4).
    pub sd_current: u64,
    /// Second number (total bytes, or 100 on A3/A4).
    pub sd_total: u64,
    /// `Layer: c/t` current layer, when the line is present.
    pub layer_current: Option<u32>,
    /// `Layer: c/t` total layers.
    pub layer_total: Option<u32>,
}

impl PrintStatus {
    /// Parse an `~M27` reply.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        match simple(bytes) {
            Some(text) => Self::from_lines(SimpleLines::new(text)),
            None => Self::from_lines(lines(bytes)),
        }
    }

    fn from_lines<L: AsRef<str>>(lines: impl Iterator<Item = L>) -> Result<Self, ProtocolError> {
        let mut sd = None;
        let mut layer = None;
        for line in lines {
            let line = line.as_ref();
            if let Some(v) = line.strip_prefix("SD printing byte") {
                if sd.is_none() {
                    let pair = fast_pair(v.as_bytes()).or_else(|| parse_pair::<u64>(v));
                    sd = Some(pair.ok_or(ProtocolError::MalformedSdProgress)?);
                }
            } else if let Some(v) = line.strip_prefix("Layer:") {
                if layer.is_none() {
                    let pair = fast_pair(v.as_bytes())
                        .and_then(|(a, b)| Some((u32::try_from(a).ok()?, u32::try_from(b).ok()?)))
                        .or_else(|| parse_pair::<u32>(v));
                    layer = Some(pair.ok_or(ProtocolError::MalformedLayerProgress)?);
                }
            }
        }
        let (sd_current, sd_total) = sd.ok_or(ProtocolError::MalformedSdProgress)?;
        Ok(Self {
            sd_current,
            sd_total,
            layer_current: layer.map(|l| l.0),
            layer_total: layer.map(|l| l.1),
        })
    }

    /// Progress 0–100: from the layers when present (unknown when the total is 0), else from
    /// the SD counters. Halves round up; values over 100 are clamped.
    pub fn percent(&self) -> Option<u8> {
        match (self.layer_current, self.layer_total) {
            (Some(c), Some(t)) => percent(u64::from(c), u64::from(t)),
            _ => self.sd_percent(),
        }
    }

    /// Progress 0–100 from the SD counters alone.
    pub fn sd_percent(&self) -> Option<u8> {
        percent(self.sd_current, self.sd_total)
    }

    /// The print has reached 100 %.
    pub fn is_complete(&self) -> bool {
        self.percent() == Some(100)
    }
}

fn percent(c: u64, t: u64) -> Option<u8> {
    if t == 0 {
        return None;
    }
    let p = (200 * u128::from(c) + u128::from(t)) / (2 * u128::from(t));
    Some(p.min(100) as u8)
}

/// `a / b` with optional whitespace, both integers, nothing else but whitespace after.
fn parse_pair<T: std::str::FromStr>(s: &str) -> Option<(T, T)> {
    let (a, b) = s.split_once('/')?;
    let b = b.trim();
    let b = b.split_ascii_whitespace().next().unwrap_or(b);
    Some((a.trim().parse().ok()?, b.parse().ok()?))
}

/// `parse_pair` for its commonest input, ` digits / digits` (spaces only, then the end or a
/// space): `None` for anything else, which `parse_pair` then judges.
fn fast_pair(b: &[u8]) -> Option<(u64, u64)> {
    let (a, rest) = fast_uint(skip_spaces(b))?;
    let rest = skip_spaces(rest).strip_prefix(b"/")?;
    let (z, rest) = fast_uint(skip_spaces(rest))?;
    matches!(rest.first(), None | Some(b' ')).then_some((a, z))
}

fn skip_spaces(mut b: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = b {
        b = rest;
    }
    b
}

/// Leading ASCII digits (1 to 19 of them, which cannot overflow) as a `u64`, and the rest.
fn fast_uint(mut b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v: u64 = 0;
    let mut n = 0;
    while let [c @ b'0'..=b'9', rest @ ..] = b {
        v = v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        b = rest;
        n += 1;
    }
    (1..=19).contains(&n).then_some((v, b))
}

/// The exact decimal text of a coordinate, stored inline (up to 23 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NumText {
    buf: [u8; 23],
    len: u8,
}

impl NumText {
    fn new(s: &str) -> Option<Self> {
        if s.len() > 23 {
            return None;
        }
        let mut buf = [0; 23];
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Some(Self {
            buf,
            len: s.len() as u8,
        })
    }

    /// The digits as sent.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for NumText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// `~M114` reply: positions in mm.
#[derive(Clone, Copy, PartialEq)]
pub struct Position {
    /// X mm.
    pub x: f64,
    /// Y mm.
    pub y: f64,
    /// Z mm.
    pub z: f64,
    extra: [(u8, f64); MAX_EXTRA_AXES],
    extra_len: u8,
    text: [Option<NumText>; 3],
}

impl Position {
    /// Further axes on the line (`A`, `B`, `E`, …), first occurrence of each letter.
    pub fn extra(&self) -> impl Iterator<Item = (char, f64)> + '_ {
        self.extra[..usize::from(self.extra_len)]
            .iter()
            .map(|&(l, v)| (char::from(l), v))
    }

    /// The exact digits of x, y and z as the printer sent them.
    pub fn text(&self) -> Option<[&str; 3]> {
        match &self.text {
            [Some(x), Some(y), Some(z)] => Some([x.as_str(), y.as_str(), z.as_str()]),
            _ => None,
        }
    }

    /// Parse an `~M114` reply: the first line with `X:`, `Y:` and `Z:`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        match simple(bytes) {
            Some(text) => SimpleLines::new(text).find_map(Self::parse_line),
            None => lines(bytes).find_map(|l| Self::parse_line(&l)),
        }
        .ok_or(ProtocolError::NoCoordinateLine)
    }

    pub(super) fn parse_line(line: &str) -> Option<Self> {
        find_bytes(line.as_bytes(), b"X:")?;
        let mut axes: [Option<(f64, Option<NumText>)>; 3] = [None; 3];
        let mut p = Self {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            extra: [(0, 0.0); MAX_EXTRA_AXES],
            extra_len: 0,
            text: [None; 3],
        };
        let mut tokens = line.split_ascii_whitespace().peekable();
        while let Some(tok) = tokens.next() {
            let Some((tag, mut value)) = split_colon(tok) else {
                continue;
            };
            let &[letter] = tag.as_bytes() else { continue };
            if !letter.is_ascii_alphabetic() {
                continue;
            }
            if value.is_empty() {
                value = match tokens.peek() {
                    Some(next) if parse_finite(next).is_some() => tokens.next().unwrap_or(""),
                    _ => continue,
                };
            }
            let Some(v) = parse_finite(value) else {
                continue;
            };
            let letter = letter.to_ascii_uppercase();
            match letter {
                b'X' | b'Y' | b'Z' => {
                    let slot = &mut axes[usize::from(letter - b'X')];
                    if slot.is_none() {
                        *slot = Some((v, NumText::new(value)));
                    }
                }
                _ => {
                    let n = usize::from(p.extra_len);
                    if n < MAX_EXTRA_AXES && !p.extra[..n].iter().any(|e| e.0 == letter) {
                        p.extra[n] = (letter, v);
                        p.extra_len += 1;
                    }
                }
            }
        }
        let [Some(x), Some(y), Some(z)] = axes else {
            return None;
        };
        (p.x, p.y, p.z) = (x.0, y.0, z.0);
        p.text = [x.1, y.1, z.1];
        Some(p)
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Position")
            .field("x", &self.x)
            .field("y", &self.y)
            .field("z", &self.z)
            .field("extra", &self.extra().collect::<Vec<_>>())
            .finish()
    }
}

/// `CMD <code> Received.` → the code.
pub(crate) fn is_echo(line: &str) -> Option<Code> {
    let rest = line.strip_prefix("CMD ")?;
    let echoed = rest.strip_suffix(" Received.")?;
    // The code, with or without its tilde; a firmware that echoes the parameters too
    // (`CMD ~M140 S0 Received.`) still names the command by its first word.
    let code = echoed.split(' ').next().unwrap_or(echoed);
    Code::parse_prefix(code).filter(|c| c.is(code))
}

/// `ok M115`-style pseudo-echo (reference test data) or a raw `~M119` echo.
pub(crate) fn is_pseudo_echo(line: &str) -> bool {
    match line.strip_prefix("ok ") {
        Some(rest) => Code::parse_prefix(rest.trim()).is_some_and(|c| c.is(rest.trim())),
        None => line.starts_with('~') && Code::parse_prefix(line).is_some_and(|c| c.is(line)),
    }
}

/// The first `Error:` or `Control failed.` line of a reply, as a command error.
pub(crate) fn reply_failure(bytes: &[u8]) -> Option<CommandError> {
    for line in lines(bytes) {
        if let Some(text) = strip_prefix_ci(&line, "error:") {
            return Some(CommandError::Printer(text.trim().to_owned()));
        }
        if strip_prefix_ci(&line, "control failed").is_some() {
            return Some(CommandError::Denied);
        }
    }
    None
}

#[cfg(test)]
#[path = "reply_reference.rs"]
pub(super) mod reference;

#[cfg(test)]
mod tests {
    use super::super::{ack::*, machine::*};
    use super::*;

    #[test]
    fn temperatures_keep_fractions_exponents_and_missing_targets() {
        let t = Temperatures::parse(b"ok T0:210.8/2.1e+02 T1:25 B:60/60/0.0 C:30/0 @:127 B@:0\n")
            .unwrap();
        assert_eq!(t.tools().len(), 2);
        assert_eq!(t.tools()[0].current, 210.8);
        assert_eq!(t.tools()[0].target, Some(210.0));
        assert_eq!(t.tools()[1].target, None);
        assert_eq!(
            t.bed,
            Some(TempReading {
                current: 60.0,
                target: Some(60.0)
            })
        );
        assert_eq!(t.chamber.unwrap().current, 30.0);
        assert_eq!(
            Temperatures::parse(b"T0:nan/inf B:1/1"),
            Err(ProtocolError::NoExtruderTemperature)
        );
    }

    #[test]
    fn fast_decimal_is_exact_and_falls_back() {
        for s in [
            "0",
            "210.5",
            "-5.00",
            "10.12345",
            "0.1",
            "123456789012345",
            "+7.25",
        ] {
            assert_eq!(
                fast_decimal(s.as_bytes()),
                Some(s.parse::<f64>().unwrap()),
                "{s}"
            );
        }
        for s in ["", ".", "-", "1e5", "1.2.3", "1234567890123456", "nan"] {
            assert_eq!(fast_decimal(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_finite("2.1e+02"), Some(210.0));
        assert_eq!(parse_finite("inf"), None);
    }

    #[test]
    fn endstop_status_line_is_required() {
        assert_eq!(
            EndstopStatus::parse(b"MachineStatus: READY\n"),
            Err(ProtocolError::NoEndstopLine)
        );
    }

    #[test]
    fn print_percent_rounds_halves_up_and_clamps() {
        assert_eq!(percent(1, 8), Some(13)); // 12.5 → 13
        assert_eq!(percent(300, 250), Some(100));
        assert_eq!(percent(5, 0), None);
        assert_eq!(percent(u64::MAX, u64::MAX), Some(100));
    }

    #[test]
    fn ok_in_data_is_not_a_terminator_or_success_marker() {
        assert!(!Login::parse(b"Machine Name: Brooklyn\n").granted);
        assert!(CommandAck::parse(b"FilamentStatus: okay\n").is_err());
    }

    #[test]
    fn position_takes_first_occurrence_and_separate_value_tokens() {
        let p = Position::parse(b"X: 1.5 Y: -2 Z:3e1 E:4 Count: X:9 E:8\n").unwrap();
        assert_eq!((p.x, p.y, p.z), (1.5, -2.0, 30.0));
        assert_eq!(p.extra().collect::<Vec<_>>(), [('E', 4.0)]);
    }
}
