//! The parsers as they were before the single-pass fast paths (test only): the reference the
//! property tests hold the fast parsers to, byte for byte of behaviour.

#![allow(dead_code)]

use super::*;
use crate::gcode::lines::lines;

pub(crate) struct PrinterInfo;
impl PrinterInfo {
    /// Parse an `~M115` reply. Machine type and firmware are required; all else is optional.
    pub(crate) fn parse(bytes: &[u8]) -> Result<super::PrinterInfo, ProtocolError> {
        let mut machine_type = None;
        let mut firmware = None;
        let mut info = super::PrinterInfo {
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

pub(crate) struct EndstopStatus;
impl EndstopStatus {
    /// Parse an `~M119` reply; the `Endstop` line is required.
    pub(crate) fn parse(bytes: &[u8]) -> Result<super::EndstopStatus, ProtocolError> {
        let mut s = super::EndstopStatus {
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
