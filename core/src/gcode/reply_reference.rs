//! The parsers as they were before the single-pass fast paths (test only): the reference the
//! property tests hold the fast parsers to, byte for byte of behaviour.

#![allow(dead_code)]

use super::*;
use crate::gcode::lines::lines;

pub(crate) struct Temperatures;
impl Temperatures {
    /// Parse an `~M105` reply.
    pub(crate) fn parse(bytes: &[u8]) -> Result<super::Temperatures, ProtocolError> {
        let mut t = super::Temperatures::default();
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
}

pub(crate) struct PrintStatus;
impl PrintStatus {
    /// Parse an `~M27` reply.
    pub(crate) fn parse(bytes: &[u8]) -> Result<super::PrintStatus, ProtocolError> {
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
        Ok(super::PrintStatus {
            sd_current,
            sd_total,
            layer_current: layer.map(|l| l.0),
            layer_total: layer.map(|l| l.1),
        })
    }
}

pub(crate) struct Position;
impl Position {
    /// Parse an `~M114` reply: the first line with `X:`, `Y:` and `Z:`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<super::Position, ProtocolError> {
        lines(bytes)
            .find_map(|l| Self::parse_line(&l))
            .ok_or(ProtocolError::NoCoordinateLine)
    }

    pub(crate) fn parse_line(line: &str) -> Option<super::Position> {
        if !line.contains("X:") {
            return None;
        }
        let mut axes: [Option<(f64, Option<NumText>)>; 3] = [None; 3];
        let mut p = super::Position {
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

/// `cur[/target[/extra]]`, finite decimals (exponent form accepted).
pub(crate) fn parse_reading(value: &str) -> Option<TempReading> {
    let mut parts = value.split('/');
    let current = parse_finite(parts.next()?)?;
    let target = match parts.next() {
        Some(t) if !t.is_empty() => Some(parse_finite(t)?),
        _ => None,
    };
    Some(TempReading { current, target })
}

pub(crate) fn parse_finite(s: &str) -> Option<f64> {
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

/// `a / b` with optional whitespace, both integers, nothing else but whitespace after.
pub(crate) fn parse_pair<T: std::str::FromStr>(s: &str) -> Option<(T, T)> {
    let (a, b) = s.split_once('/')?;
    let b = b.trim();
    let b = b.split_ascii_whitespace().next().unwrap_or(b);
    Some((a.trim().parse().ok()?, b.parse().ok()?))
}
