//! What the printer is and how it stands (tcp.md §5.2, §5.3): `~M115` ([`PrinterInfo`]) and
//! `~M119` ([`EndstopStatus`] with [`MachineStatus`], [`MoveMode`] and [`StatusFlags`]).

use crate::error::ProtocolError;
use crate::gcode::lines::{contains_ci, find_bytes, lines, simple, SimpleLines};

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
        match simple(bytes) {
            Some(text) => Self::from_lines(SimpleLines::new(text)),
            None => Self::from_lines(lines(bytes)),
        }
    }

    fn from_lines<L: AsRef<str>>(lines: impl Iterator<Item = L>) -> Result<Self, ProtocolError> {
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
        for line in lines {
            let line = line.as_ref();
            match InfoField::of(line) {
                InfoField::Type(v) => machine_type = machine_type.or_else(|| value(v)),
                InfoField::Name(v) => info.machine_name = info.machine_name.or_else(|| value(v)),
                InfoField::Firmware(v) => firmware = firmware.or_else(|| value(v)),
                InfoField::Serial(v) => {
                    info.serial_number = info.serial_number.or_else(|| value(v));
                }
                InfoField::ToolCount(v) => info.tool_count = v.trim().parse().ok(),
                InfoField::Mac(v) => info.mac_address = value(v),
                InfoField::Other if info.build_volume.is_none() => {
                    if let Some(bv) = parse_dimensions(line) {
                        info.build_volume = Some(bv);
                        info.dimensions = Some(line.to_owned());
                    }
                }
                InfoField::Other => {}
            }
        }
        info.machine_type = machine_type.ok_or(ProtocolError::MissingField("Machine Type"))?;
        info.firmware = firmware.ok_or(ProtocolError::MissingField("Firmware"))?;
        let t = &info.machine_type;
        if contains_ci(t, "ADVENTURER 4") || contains_ci(t, "ADVENTURER4") {
            info.a4_variant = Some(if contains_ci(t, "PRO") {
                A4Variant::Pro
            } else {
                A4Variant::Lite
            });
        }
        Ok(info)
    }
}

/// The keyed `~M115` lines. No two prefixes can match one line, so dispatching on the first
/// byte answers what the chain of `strip_prefix` calls did, with one or two comparisons.
enum InfoField<'a> {
    Type(&'a str),
    Name(&'a str),
    Firmware(&'a str),
    Serial(&'a str),
    ToolCount(&'a str),
    Mac(&'a str),
    Other,
}

impl<'a> InfoField<'a> {
    fn of(line: &'a str) -> Self {
        let p = |prefix: &str| line.strip_prefix(prefix);
        let field = match line.as_bytes().first() {
            Some(b'M') => p("Machine Type:")
                .map(Self::Type)
                .or_else(|| p("Machine Name:").map(Self::Name))
                .or_else(|| p("Mac Address:").map(Self::Mac)),
            Some(b'F') => p("Firmware:").map(Self::Firmware),
            Some(b'S') => p("SN:").or_else(|| p("Serial Number:")).map(Self::Serial),
            Some(b'T') => p("Tool Count:")
                .or_else(|| p("Tool count:"))
                .map(Self::ToolCount),
            _ => None,
        };
        field.unwrap_or(Self::Other)
    }
}

/// `X:\s*(\d+)\s+Y:\s*(\d+)\s+Z:\s*(\d+)` anywhere in the line.
fn parse_dimensions(line: &str) -> Option<BuildVolume> {
    let start = find_bytes(line.as_bytes(), b"X:")?;
    let mut rest = line.get(start..)?;
    let mut out = [0u32; 3];
    for (i, key) in ["X:", "Y:", "Z:"].iter().enumerate() {
        rest = rest.strip_prefix(key)?.trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        out[i] = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
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
        let has = |needle: &str| contains_ci(raw, needle);
        if has("BUILDING_FROM_SD") || has("PRINTING") {
            Self::BuildingFromSd
        } else if has("BUILDING_COMPLETED") {
            Self::BuildingCompleted
        } else if has("PAUSED") {
            Self::Paused
        } else if has("READY") || has("IDLE") {
            Self::Ready
        } else if has("BUSY") {
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
        let has = |needle: &str| contains_ci(raw, needle);
        if raw == "0" || raw == "0.0" {
            return Self::Ready;
        }
        if has("MOVING") {
            Self::Moving
        } else if has("PAUSED") {
            Self::Paused
        } else if has("READY") {
            Self::Ready
        } else if has("WAIT_ON_TOOL") {
            Self::WaitOnTool
        } else if has("HOMING") {
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
    /// Axis key (`X-max`, `Z-min`, …) → opaque value, in the order reported. The keys are
    /// interned (an ASCII letter, `-max` or `-min`): parsing them allocates nothing.
    pub endstops: Vec<(&'static str, u32)>,
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
        match simple(bytes) {
            Some(text) => Self::from_lines(SimpleLines::new(text)),
            None => Self::from_lines(lines(bytes)),
        }
    }

    fn from_lines<L: AsRef<str>>(lines: impl Iterator<Item = L>) -> Result<Self, ProtocolError> {
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
        for line in lines {
            let line = line.as_ref();
            // Every prefix below starts with one of these bytes: other lines go straight to the
            // `Endstop` test, as they did after failing each comparison.
            let keyed = matches!(
                line.as_bytes().first(),
                Some(b'M' | b'S' | b'L' | b'F' | b'C' | b'P')
            );
            if !keyed {
                if find_bytes(line.as_bytes(), b"Endstop").is_some() {
                    saw_endstop = true;
                    parse_endstops(line, &mut s.endstops);
                }
            } else if let Some(v) = line.strip_prefix("MachineStatus:") {
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
            } else if find_bytes(line.as_bytes(), b"Endstop").is_some() {
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
fn parse_endstops(line: &str, out: &mut Vec<(&'static str, u32)>) {
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
                let k = endstop_key(key[0], key[3] == b'i');
                if !out.iter().any(|(e, _)| *e == k) {
                    out.push((k, v));
                }
            }
            i += 6;
        } else {
            i += 1;
        }
    }
}

/// Every endstop key, `A-max`, `A-min`, …, `z-min`, five bytes each.
const ENDSTOP_KEYS: &str = "A-maxA-minB-maxB-minC-maxC-minD-maxD-minE-maxE-minF-maxF-minG-maxG-minH-maxH-minI-maxI-minJ-maxJ-minK-maxK-minL-maxL-minM-maxM-minN-maxN-minO-maxO-minP-maxP-minQ-maxQ-minR-maxR-minS-maxS-minT-maxT-minU-maxU-minV-maxV-minW-maxW-minX-maxX-minY-maxY-minZ-maxZ-mina-maxa-minb-maxb-minc-maxc-mind-maxd-mine-maxe-minf-maxf-ming-maxg-minh-maxh-mini-maxi-minj-maxj-mink-maxk-minl-maxl-minm-maxm-minn-maxn-mino-maxo-minp-maxp-minq-maxq-minr-maxr-mins-maxs-mint-maxt-minu-maxu-minv-maxv-minw-maxw-minx-maxx-miny-maxy-minz-maxz-min";

/// The interned key `<letter>-max` or `<letter>-min` (`letter` is an ASCII letter).
fn endstop_key(letter: u8, min: bool) -> &'static str {
    let index = match letter {
        b'A'..=b'Z' => letter - b'A',
        _ => letter - b'a' + 26,
    };
    let at = (usize::from(index) * 2 + usize::from(min)) * 5;
    &ENDSTOP_KEYS[at..at + 5]
}

#[cfg(test)]
#[path = "machine_reference.rs"]
pub(super) mod reference;
