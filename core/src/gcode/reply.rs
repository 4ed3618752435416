//! Typed text replies (tcp.md §5): lenient on what the printer sends, exact on units.
//!
//! Every parser takes the whole reply as bytes (any line endings, echo lines, A3 prefixes) and
//! works on borrowed lines: parsing `~M105`, `~M27` and `~M114` allocates nothing.

use std::fmt;

use crate::error::{CommandError, ProtocolError};
use crate::gcode::command::Code;
use crate::gcode::lines::{lines, strip_prefix_ci};

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
        let mut t = Self::default();
        for line in lines(bytes) {
            if !line.contains(':') {
                continue;
            }
            for token in line.split_ascii_whitespace() {
                let Some((tag, value)) = token.split_once(':') else {
                    continue;
                };
                let index = match tag {
                    "T" | "T)" => Some(0),
                    _ => tag.strip_prefix('T').and_then(|n| n.parse::<u8>().ok()),
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

/// `cur[/target[/extra]]`, finite decimals (exponent form accepted).
fn parse_reading(value: &str) -> Option<TempReading> {
    let mut parts = value.split('/');
    let current = parse_finite(parts.next()?)?;
    let target = match parts.next() {
        Some(t) if !t.is_empty() => Some(parse_finite(t)?),
        _ => None,
    };
    Some(TempReading { current, target })
}

fn parse_finite(s: &str) -> Option<f64> {
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

/// The A4 variant derived from the `~M115` machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum A4Variant {
    /// Adventurer 4 Lite.
    Lite,
    /// Adventurer 4 Pro.
    Pro,
}

/// Build volume in whole millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BuildVolume {
    /// X mm.
    pub x: u32,
    /// Y mm.
    pub y: u32,
    /// Z mm.
    pub z: u32,
}

/// `~M115` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PrinterInfo {
    /// `Machine Type:` (required).
    pub machine_type: String,
    /// `Machine Name:` (user-editable).
    pub machine_name: Option<String>,
    /// `Firmware:` (required), e.g. `V3.2.0` or `v2.0.5 20220527`.
    pub firmware: String,
    /// `SN:` or `Serial Number:`.
    pub serial_number: Option<String>,
    /// Parsed dimensions line.
    pub build_volume: Option<BuildVolume>,
    /// The raw dimensions line (`X: 150 Y: 150 Z: 150`).
    pub dimensions: Option<String>,
    /// `Tool Count:` / `Tool count:`.
    pub tool_count: Option<u32>,
    /// `Mac Address:` as reported.
    pub mac_address: Option<String>,
    /// Lite or Pro when the type names an Adventurer 4.
    pub a4_variant: Option<A4Variant>,
}

impl PrinterInfo {
    /// Parse an `~M115` reply. Machine type and firmware are required; all else is optional.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut machine_type = None;
        let mut firmware = None;
        let mut info = Self {
            machine_type: String::new(),
            machine_name: None,
            firmware: String::new(),
            serial_number: None,
            build_volume: None,
            dimensions: None,
            tool_count: None,
            mac_address: None,
            a4_variant: None,
        };
        let value = |s: &str| Some(s.trim().to_owned()).filter(|v| !v.is_empty());
        for line in lines(bytes) {
            let line = &*line;
            if let Some(v) = line.strip_prefix("Machine Type:") {
                machine_type = machine_type.or_else(|| value(v));
            } else if let Some(v) = line.strip_prefix("Machine Name:") {
                info.machine_name = info.machine_name.or_else(|| value(v));
            } else if let Some(v) = line.strip_prefix("Firmware:") {
                firmware = firmware.or_else(|| value(v));
            } else if let Some(v) = line
                .strip_prefix("SN:")
                .or_else(|| line.strip_prefix("Serial Number:"))
            {
                info.serial_number = info.serial_number.or_else(|| value(v));
            } else if let Some(v) = line
                .strip_prefix("Tool Count:")
                .or_else(|| line.strip_prefix("Tool count:"))
            {
                info.tool_count = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("Mac Address:") {
                info.mac_address = value(v);
            } else if info.build_volume.is_none() {
                if let Some(bv) = parse_dimensions(line) {
                    info.build_volume = Some(bv);
                    info.dimensions = Some(line.to_owned());
                }
            }
        }
        info.machine_type = machine_type.ok_or(ProtocolError::MissingField("Machine Type"))?;
        info.firmware = firmware.ok_or(ProtocolError::MissingField("Firmware"))?;
        let upper = info.machine_type.to_ascii_uppercase();
        if upper.contains("ADVENTURER 4") || upper.contains("ADVENTURER4") {
            info.a4_variant = Some(if upper.contains("PRO") {
                A4Variant::Pro
            } else {
                A4Variant::Lite
            });
        }
        Ok(info)
    }
}

/// `X:\s*(\d+)\s+Y:\s*(\d+)\s+Z:\s*(\d+)` anywhere in the line.
fn parse_dimensions(line: &str) -> Option<BuildVolume> {
    let start = line.find("X:")?;
    let mut rest = &line[start..];
    let mut out = [0u32; 3];
    for (i, key) in ["X:", "Y:", "Z:"].iter().enumerate() {
        rest = rest.strip_prefix(key)?.trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        out[i] = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        if i < 2 {
            let trimmed = rest.trim_start();
            if trimmed.len() == rest.len() {
                return None;
            }
            rest = trimmed;
        }
    }
    Some(BuildVolume {
        x: out[0],
        y: out[1],
        z: out[2],
    })
}

/// `MachineStatus:` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineStatus {
    /// `BUILDING_FROM_SD` (or `PRINTING`): printing.
    BuildingFromSd,
    /// `BUILDING_COMPLETED`: finished, waiting to be cleared.
    BuildingCompleted,
    /// `PAUSED`.
    Paused,
    /// `READY` or `IDLE`.
    Ready,
    /// `BUSY`.
    Busy,
    /// Anything else, verbatim.
    Unknown(String),
}

impl MachineStatus {
    fn parse(raw: &str) -> Self {
        let up = raw.to_ascii_uppercase();
        if up.contains("BUILDING_FROM_SD") || up.contains("PRINTING") {
            Self::BuildingFromSd
        } else if up.contains("BUILDING_COMPLETED") {
            Self::BuildingCompleted
        } else if up.contains("PAUSED") {
            Self::Paused
        } else if up.contains("READY") || up.contains("IDLE") {
            Self::Ready
        } else if up.contains("BUSY") {
            Self::Busy
        } else {
            Self::Unknown(raw.to_owned())
        }
    }

    /// The fixture name (`BuildingFromSd`, …, `Unknown`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::BuildingFromSd => "BuildingFromSd",
            Self::BuildingCompleted => "BuildingCompleted",
            Self::Paused => "Paused",
            Self::Ready => "Ready",
            Self::Busy => "Busy",
            Self::Unknown(_) => "Unknown",
        }
    }
}

/// `MoveMode:` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveMode {
    /// `MOVING`.
    Moving,
    /// `PAUSED`.
    Paused,
    /// `READY`, `0` or `0.0`.
    Ready,
    /// `WAIT_ON_TOOL`.
    WaitOnTool,
    /// `HOMING`.
    Homing,
    /// Anything else, verbatim (A3 numeric modes such as `1.0`).
    Unknown(String),
}

impl MoveMode {
    fn parse(raw: &str) -> Self {
        let up = raw.to_ascii_uppercase();
        match up.as_str() {
            "0" | "0.0" => return Self::Ready,
            _ => {}
        }
        if up.contains("MOVING") {
            Self::Moving
        } else if up.contains("PAUSED") {
            Self::Paused
        } else if up.contains("READY") {
            Self::Ready
        } else if up.contains("WAIT_ON_TOOL") {
            Self::WaitOnTool
        } else if up.contains("HOMING") {
            Self::Homing
        } else {
            Self::Unknown(raw.to_owned())
        }
    }

    /// The fixture name (`Moving`, …, `Unknown`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Moving => "Moving",
            Self::Paused => "Paused",
            Self::Ready => "Ready",
            Self::WaitOnTool => "WaitOnTool",
            Self::Homing => "Homing",
            Self::Unknown(_) => "Unknown",
        }
    }
}

/// The undocumented `Status S:… L:… J:… F:…` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[allow(non_snake_case)]
pub struct StatusFlags {
    /// `S:`.
    pub S: Option<u32>,
    /// `L:`.
    pub L: Option<u32>,
    /// `J:`.
    pub J: Option<u32>,
    /// `F:`.
    pub F: Option<u32>,
}

/// `~M119` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndstopStatus {
    /// Axis key (`X-max`, `Z-min`, …) → opaque value, in the order reported.
    pub endstops: Vec<(String, u32)>,
    /// Parsed `MachineStatus:`.
    pub machine_status: Option<MachineStatus>,
    /// Verbatim `MachineStatus:` value.
    pub machine_status_raw: Option<String>,
    /// Parsed `MoveMode:`.
    pub move_mode: Option<MoveMode>,
    /// Verbatim `MoveMode:` value.
    pub move_mode_raw: Option<String>,
    /// `Status` flags, when that line is present.
    pub status_flags: Option<StatusFlags>,
    /// `LED: 1` or `LEDStatus: on`.
    pub led_on: bool,
    /// A3 `FilamentStatus:` (`ok` = filament present).
    pub filament_status: Option<String>,
    /// `CurrentFile:` / `PrintFileName:`; empty → `None`.
    pub current_file: Option<String>,
}

impl EndstopStatus {
    /// Parse an `~M119` reply; the `Endstop` line is required.
    pub fn parse(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let mut s = Self {
            endstops: Vec::new(),
            machine_status: None,
            machine_status_raw: None,
            move_mode: None,
            move_mode_raw: None,
            status_flags: None,
            led_on: false,
            filament_status: None,
            current_file: None,
        };
        let mut saw_endstop = false;
        let owned = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        for line in lines(bytes) {
            let line = &*line;
            if let Some(v) = line.strip_prefix("MachineStatus:") {
                s.machine_status_raw = owned(v);
                s.machine_status = Some(MachineStatus::parse(v.trim()));
            } else if let Some(v) = line.strip_prefix("MoveMode:") {
                s.move_mode_raw = owned(v);
                s.move_mode = Some(MoveMode::parse(v.trim()));
            } else if let Some(v) = line
                .strip_prefix("Status:")
                .or_else(|| line.strip_prefix("Status "))
            {
                s.status_flags = Some(StatusFlags {
                    S: letter_value(v, 'S'),
                    L: letter_value(v, 'L'),
                    J: letter_value(v, 'J'),
                    F: letter_value(v, 'F'),
                });
            } else if let Some(v) = line.strip_prefix("LEDStatus:") {
                s.led_on = v.trim().eq_ignore_ascii_case("on");
            } else if let Some(v) = line.strip_prefix("LED:") {
                s.led_on = v.trim() == "1";
            } else if let Some(v) = line.strip_prefix("FilamentStatus:") {
                s.filament_status = owned(v);
            } else if let Some(v) = line
                .strip_prefix("CurrentFile:")
                .or_else(|| line.strip_prefix("PrintFileName:"))
            {
                s.current_file = owned(v);
            } else if line.contains("Endstop") {
                saw_endstop = true;
                parse_endstops(line, &mut s.endstops);
            }
        }
        if !saw_endstop {
            return Err(ProtocolError::NoEndstopLine);
        }
        Ok(s)
    }

    /// Printing from storage.
    pub fn is_printing(&self) -> bool {
        self.machine_status == Some(MachineStatus::BuildingFromSd)
    }

    /// Finished, waiting to be cleared.
    pub fn is_complete(&self) -> bool {
        self.machine_status == Some(MachineStatus::BuildingCompleted)
    }

    /// Machine or motion paused.
    pub fn is_paused(&self) -> bool {
        self.machine_status == Some(MachineStatus::Paused)
            || self.move_mode == Some(MoveMode::Paused)
    }

    /// Machine and motion ready.
    pub fn is_ready(&self) -> bool {
        self.machine_status == Some(MachineStatus::Ready) && self.move_mode == Some(MoveMode::Ready)
    }
}

/// `<letter>:\s*(\d+)` within `s`.
fn letter_value(s: &str, letter: char) -> Option<u32> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary && bytes[i] == letter as u8 && bytes[i + 1] == b':' {
            let rest = s[i + 2..].trim_start();
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            return rest[..digits].parse().ok();
        }
        i += 1;
    }
    None
}

/// Every `<A>-max:` / `<A>-min:` value in an `Endstop` line.
fn parse_endstops(line: &str, out: &mut Vec<(String, u32)>) {
    let b = line.as_bytes();
    let mut i = 0;
    while i + 5 < b.len() {
        let key = &b[i..i + 5];
        let is_key = key[0].is_ascii_alphabetic()
            && key[1] == b'-'
            && (&key[2..5] == b"max" || &key[2..5] == b"min")
            && b[i + 5] == b':';
        if is_key {
            let rest = line[i + 6..].trim_start();
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(v) = rest[..digits].parse() {
                let k = &line[i..i + 5];
                if !out.iter().any(|(e, _)| e == k) {
                    out.push((k.to_owned(), v));
                }
            }
            i += 6;
        } else {
            i += 1;
        }
    }
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
        let mut sd = None;
        let mut layer = None;
        for line in lines(bytes) {
            let line = &*line;
            if let Some(v) = line.strip_prefix("SD printing byte") {
                if sd.is_none() {
                    sd = Some(parse_pair::<u64>(v).ok_or(ProtocolError::MalformedSdProgress)?);
                }
            } else if let Some(v) = line.strip_prefix("Layer:") {
                if layer.is_none() {
                    layer =
                        Some(parse_pair::<u32>(v).ok_or(ProtocolError::MalformedLayerProgress)?);
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
        lines(bytes)
            .find_map(|l| Self::parse_line(&l))
            .ok_or(ProtocolError::NoCoordinateLine)
    }

    fn parse_line(line: &str) -> Option<Self> {
        if !line.contains("X:") {
            return None;
        }
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
            let Some((tag, mut value)) = tok.split_once(':') else {
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
            let lower = line.to_ascii_lowercase();
            success |= lower.contains("control success");
            failed |= lower.contains("control failed");
            already |= lower.contains("have been connected");
            ok |= line == "ok" || lower.starts_with("ok ") && !is_pseudo_echo(&line);
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
            let lower = line.to_ascii_lowercase();
            positive |= line == "ok"
                || lower.starts_with("ok ")
                || is_echo(&line).is_some()
                || lower.contains("emergency stop")
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
        if line.to_ascii_lowercase().starts_with("control failed") {
            return Some(CommandError::Denied);
        }
    }
    None
}

#[cfg(test)]
mod tests {
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
