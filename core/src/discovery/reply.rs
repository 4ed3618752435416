//! One discovery datagram: the two reply layouts (discovery.md §3, §4), their strict parser
//! and, for simulators, their encoder.

use std::fmt;

use crate::model::DiscoveryLayout;
use crate::Model;

/// Length of a modern reply.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub, dead_code))]
pub const MODERN_LEN: usize = 276;
/// Length of a legacy reply.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub, dead_code))]
pub const LEGACY_LEN: usize = 140;
/// The longest datagram [`DiscoveryReply::parse`] looks at. No printer sends more than 276
/// bytes; anything beyond 1 KiB is not a discovery reply.
pub const MAX_REPLY_LEN: usize = 1024;
/// The vendor id of FlashForge printers (`0x2B71`).
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub, dead_code))]
pub const FLASHFORGE_VENDOR_ID: u16 = 0x2B71;
/// The product type of the whole modern family.
#[cfg_attr(not(feature = "printer"), allow(unreachable_pub, dead_code))]
pub const MODERN_PRODUCT_TYPE: u16 = 0x5A02;

/// Which layout a reply used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyFormat {
    /// 276 bytes: 5M, 5M Pro, AD5X, Creator 5, Creator 5 Pro.
    Modern,
    /// 140 bytes: Adventurer 3 and 4.
    Legacy,
}

impl ReplyFormat {
    /// `"modern"` or `"legacy"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Modern => "modern",
            Self::Legacy => "legacy",
        }
    }
}

/// The printer status of a reply (u16 at `0x8A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrinterStatus {
    /// 0.
    Ready,
    /// 1.
    Busy,
    /// 2.
    Error,
    /// Anything else (the raw code is in [`DiscoveryReply::status_code`]).
    Unknown,
}

impl PrinterStatus {
    /// Maps a raw status code.
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Self::Ready,
            1 => Self::Busy,
            2 => Self::Error,
            _ => Self::Unknown,
        }
    }

    /// `"Ready"`, `"Busy"`, `"Error"` or `"Unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Busy => "Busy",
            Self::Error => "Error",
            Self::Unknown => "Unknown",
        }
    }
}

/// Which text field of a reply was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    /// The printer name.
    Name,
    /// The serial number (modern layout).
    Serial,
}

impl fmt::Display for TextField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Name => "name",
            Self::Serial => "serial number",
        })
    }
}

/// Which port field of a reply was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortField {
    /// The TCP command port (`0x84`).
    Command,
    /// The HTTP API port of a modern reply (`0x8E`).
    Http,
}

impl fmt::Display for PortField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Command => "command (TCP) port",
            Self::Http => "HTTP port",
        })
    }
}

/// Why a datagram is not a discovery reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Shorter than the 140-byte legacy layout.
    #[error("datagram too short for a discovery reply: {len} bytes (at least 140)")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// Longer than any printer sends.
    #[error("datagram too long for a discovery reply: {len} bytes (at most {max})")]
    TooLong {
        /// Datagram length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The name field is empty.
    #[error("discovery reply has an empty name")]
    EmptyName,
    /// A control byte inside a text field.
    #[error("discovery reply {field} has control byte {byte:#04x} at offset {offset:#x}")]
    ControlByte {
        /// Which field.
        field: TextField,
        /// Offset in the datagram.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A non-NUL byte after the terminating NUL of a text field.
    #[error("discovery reply {field} is not NUL-padded (byte {byte:#04x} at offset {offset:#x})")]
    NotPadded {
        /// Which field.
        field: TextField,
        /// Offset in the datagram.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A port field is 0: no printer listens there, so the reply cannot be used to connect.
    #[error("discovery reply {field} is 0")]
    ZeroPort {
        /// Which port.
        field: PortField,
    },
    /// A serial number that is not printable ASCII.
    #[error("discovery reply serial number has non-ASCII byte {byte:#04x} at offset {offset:#x}")]
    NonAsciiSerial {
        /// Offset in the datagram.
        offset: usize,
        /// The byte.
        byte: u8,
    },
}

/// One parsed discovery reply (discovery.md §4, §5, §8).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryReply {
    /// The layout.
    pub format: ReplyFormat,
    /// The printer name, padding stripped. Invalid UTF-8 is replaced by U+FFFD
    /// (see [`DiscoveryReply::name_lossy`]).
    pub name: String,
    /// True when the name held invalid UTF-8 that was replaced.
    pub name_lossy: bool,
    /// The TCP command port (8899).
    pub command_port: u16,
    /// The HTTP API port (modern only; 8898).
    pub event_port: Option<u16>,
    /// The serial number (modern; also tried at `0x92` in 141–275-byte historical replies).
    pub serial_number: Option<String>,
    /// Vendor id.
    pub vendor_id: u16,
    /// Product id (the authoritative model id on modern printers).
    pub product_id: u16,
    /// Product type (modern only; `0x5A02`).
    pub product_type: Option<u16>,
    /// Raw status code at `0x8A`.
    pub status_code: u16,
    /// Status from the code.
    pub status: PrinterStatus,
    /// LAN-mode flag byte at `0x90` (modern only; 0 cloud, 1 LAN-only).
    pub lan_mode: Option<u8>,
    /// The u16 at `0x90` (modern only), where the emulator writes the status: kept so a
    /// caller can diagnose the offset disagreement of discovery.md §4.
    pub raw_u16_at_0x90: Option<u16>,
    /// The model inferred as discovery.md §6 says.
    pub model: Model,
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

/// The text before the first NUL of `field` (at datagram offset `base`), checked: no control
/// bytes, NUL padding after the end.
fn text(field: &[u8], base: usize, which: TextField) -> Result<&[u8], DiscoveryError> {
    let end = memchr::memchr(0, field).unwrap_or(field.len());
    if let Some(i) = field[end..].iter().position(|&b| b != 0) {
        return Err(DiscoveryError::NotPadded {
            field: which,
            offset: base + end + i,
            byte: field[end + i],
        });
    }
    let text = &field[..end];
    if let Some(i) = text.iter().position(|&b| b < 0x20 || b == 0x7F) {
        return Err(DiscoveryError::ControlByte {
            field: which,
            offset: base + i,
            byte: text[i],
        });
    }
    Ok(text)
}

fn name(field: &[u8]) -> Result<(String, bool), DiscoveryError> {
    let raw = text(field, 0, TextField::Name)?;
    let name = String::from_utf8_lossy(raw);
    let lossy = matches!(name, std::borrow::Cow::Owned(_));
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(DiscoveryError::EmptyName);
    }
    Ok((name, lossy))
}

fn serial(field: &[u8], base: usize) -> Result<Option<String>, DiscoveryError> {
    let raw = text(field, base, TextField::Serial)?;
    if let Some(i) = raw.iter().position(|b| !b.is_ascii()) {
        return Err(DiscoveryError::NonAsciiSerial {
            offset: base + i,
            byte: raw[i],
        });
    }
    let s = String::from_utf8_lossy(raw).trim().to_owned();
    Ok((!s.is_empty()).then_some(s))
}

/// Model of a modern reply (discovery.md §6): the product id from the model table, else the
/// name (the 5M family's names, or the modern product type).
fn modern_model(product_id: u16, product_type: u16, name: &str) -> Model {
    let by_id = Model::from_discovery_id(DiscoveryLayout::Modern, product_id);
    if by_id != Model::Unknown {
        return by_id;
    }
    let upper = name.to_uppercase();
    if product_type == MODERN_PRODUCT_TYPE {
        return if upper == "AD5X" {
            Model::AD5X
        } else if upper.contains("PRO") {
            Model::Adventurer5MPro
        } else {
            Model::Adventurer5M
        };
    }
    if upper == "AD5X" {
        Model::AD5X
    } else if upper.contains("ADVENTURER 5M") || upper.contains("AD5M") {
        if upper.contains("PRO") {
            Model::Adventurer5MPro
        } else {
            Model::Adventurer5M
        }
    } else {
        Model::Unknown
    }
}

/// Model of a legacy reply (discovery.md §6: name first, then product id, both from the
/// model table).
fn legacy_model(product_id: u16, name: &str) -> Model {
    match Model::from_legacy_name(name) {
        Model::Unknown => Model::from_discovery_id(DiscoveryLayout::Legacy, product_id),
        m => m,
    }
}

impl DiscoveryReply {
    /// Parses one datagram by byte offset. A datagram that is not a well-formed reply (too
    /// short or long, a name or serial that is not NUL-padded printable text) is a typed error;
    /// unknown vendor or product ids parse, with model [`Model::Unknown`].
    pub fn parse(data: &[u8]) -> Result<Self, DiscoveryError> {
        let len = data.len();
        if len > MAX_REPLY_LEN {
            return Err(DiscoveryError::TooLong {
                len,
                max: MAX_REPLY_LEN,
            });
        }
        if len < LEGACY_LEN {
            return Err(DiscoveryError::TooShort { len });
        }
        if len >= MODERN_LEN {
            let d = &data[..MODERN_LEN];
            let (name, name_lossy) = name(&d[..0x84])?;
            let serial_number = serial(&d[0x92..0x112], 0x92)?;
            let product_id = be16(d, 0x88);
            let product_type = be16(d, 0x8C);
            let status_code = be16(d, 0x8A);
            Ok(Self {
                format: ReplyFormat::Modern,
                model: modern_model(product_id, product_type, &name),
                name,
                name_lossy,
                command_port: be16(d, 0x84),
                event_port: Some(be16(d, 0x8E)),
                serial_number,
                vendor_id: be16(d, 0x86),
                product_id,
                product_type: Some(product_type),
                status_code,
                status: PrinterStatus::from_code(status_code),
                lan_mode: Some(d[0x90]),
                raw_u16_at_0x90: Some(be16(d, 0x90)),
            })
        } else {
            let d = data;
            let (name, name_lossy) = name(&d[..0x80])?;
            let product_id = be16(d, 0x88);
            let status_code = be16(d, 0x8A);
            // Historical 196-byte-style replies carry a serial at 0x92; it is optional, so a
            // malformed one is dropped rather than rejecting the reply.
            let serial_number = d.get(0x92..).and_then(|f| serial(f, 0x92).ok()).flatten();
            Ok(Self {
                format: ReplyFormat::Legacy,
                model: legacy_model(product_id, &name),
                name,
                name_lossy,
                command_port: be16(d, 0x84),
                event_port: None,
                serial_number,
                vendor_id: be16(d, 0x86),
                product_id,
                product_type: None,
                status_code,
                status: PrinterStatus::from_code(status_code),
                lan_mode: None,
                raw_u16_at_0x90: None,
            })
        }
    }

    /// Checks that the reply can be used to connect: its command port (and a modern reply's
    /// HTTP port) is not 0. [`DiscoveryReply::parse`] keeps such replies so decoders show every
    /// field (the historical 200-byte replies of discovery.md §3 have no port); the
    /// [`Discovery`](super::Discovery) state machine rejects them with this error.
    pub fn check_ports(&self) -> Result<(), DiscoveryError> {
        if self.command_port == 0 {
            return Err(DiscoveryError::ZeroPort {
                field: PortField::Command,
            });
        }
        if self.event_port == Some(0) {
            return Err(DiscoveryError::ZeroPort {
                field: PortField::Http,
            });
        }
        Ok(())
    }

    #[cfg(feature = "printer")]
    /// A modern reply with FlashForge defaults (vendor `0x2B71`, type `0x5A02`, ports 8899/8898,
    /// status ready, LAN mode 0) — the printer side of the codec, for simulators and tests.
    pub fn modern(name: &str, serial: &str, product_id: u16) -> Self {
        Self {
            format: ReplyFormat::Modern,
            model: modern_model(product_id, MODERN_PRODUCT_TYPE, name),
            name: name.to_owned(),
            name_lossy: false,
            command_port: 8899,
            event_port: Some(8898),
            serial_number: Some(serial.to_owned()),
            vendor_id: FLASHFORGE_VENDOR_ID,
            product_id,
            product_type: Some(MODERN_PRODUCT_TYPE),
            status_code: 0,
            status: PrinterStatus::Ready,
            lan_mode: Some(0),
            raw_u16_at_0x90: Some(0),
        }
    }

    #[cfg(feature = "printer")]
    /// A legacy reply with FlashForge defaults (vendor `0x2B71`, port 8899, status ready).
    pub fn legacy(name: &str, product_id: u16) -> Self {
        Self {
            format: ReplyFormat::Legacy,
            model: legacy_model(product_id, name),
            name: name.to_owned(),
            name_lossy: false,
            command_port: 8899,
            event_port: None,
            serial_number: None,
            vendor_id: FLASHFORGE_VENDOR_ID,
            product_id,
            product_type: None,
            status_code: 0,
            status: PrinterStatus::Ready,
            lan_mode: None,
            raw_u16_at_0x90: None,
        }
    }

    /// Sets the status code (builder style).
    pub fn with_status(mut self, code: u16) -> Self {
        self.status_code = code;
        self.status = PrinterStatus::from_code(code);
        self
    }

    #[cfg(feature = "printer")]
    /// Sets the LAN-mode flag at `0x90` (builder style; modern replies only): `true` = LAN-only,
    /// as a printer whose HTTP API takes the check code reports.
    pub fn with_lan_mode(mut self, lan_only: bool) -> Self {
        if self.format == ReplyFormat::Modern {
            let flag = u8::from(lan_only);
            self.lan_mode = Some(flag);
            // 0x90 is the flag, 0x91 reserved (0): the raw big-endian u16 a parser reads back.
            self.raw_u16_at_0x90 = Some(u16::from(flag) << 8);
        }
        self
    }

    /// Sets the command and HTTP ports (builder style; the HTTP port only on modern replies).
    pub fn with_ports(mut self, command_port: u16, event_port: u16) -> Self {
        self.command_port = command_port;
        if self.format == ReplyFormat::Modern {
            self.event_port = Some(event_port);
        }
        self
    }

    #[cfg(feature = "printer")]
    /// Encodes the reply in its layout (the client layout of discovery.md §4: status at `0x8A`,
    /// LAN flag at `0x90`). Names and serials longer than their field are cut at a UTF-8
    /// character boundary.
    pub fn encode(&self) -> Vec<u8> {
        fn put_text(out: &mut [u8], s: &str) {
            let mut n = s.len().min(out.len());
            while !s.is_char_boundary(n) {
                n -= 1;
            }
            out[..n].copy_from_slice(&s.as_bytes()[..n]);
        }
        fn put16(out: &mut [u8], at: usize, v: u16) {
            out[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
        match self.format {
            ReplyFormat::Modern => {
                let mut d = vec![0u8; MODERN_LEN];
                put_text(&mut d[..0x84], &self.name);
                put16(&mut d, 0x84, self.command_port);
                put16(&mut d, 0x86, self.vendor_id);
                put16(&mut d, 0x88, self.product_id);
                put16(&mut d, 0x8A, self.status_code);
                put16(
                    &mut d,
                    0x8C,
                    self.product_type.unwrap_or(MODERN_PRODUCT_TYPE),
                );
                put16(&mut d, 0x8E, self.event_port.unwrap_or(8898));
                if let Some(raw) = self.raw_u16_at_0x90 {
                    put16(&mut d, 0x90, raw);
                }
                d[0x90] = self.lan_mode.unwrap_or(0);
                put_text(
                    &mut d[0x92..0x112],
                    self.serial_number.as_deref().unwrap_or(""),
                );
                d
            }
            ReplyFormat::Legacy => {
                let mut d = vec![0u8; LEGACY_LEN];
                put_text(&mut d[..0x80], &self.name);
                put16(&mut d, 0x84, self.command_port);
                put16(&mut d, 0x86, self.vendor_id);
                put16(&mut d, 0x88, self.product_id);
                put16(&mut d, 0x8A, self.status_code);
                d
            }
        }
    }
}

/// Serialises with the field names of the fixtures README (`protocol`, `status` as text,
/// `model` as its identifier).
#[cfg(feature = "serde")]
impl serde::Serialize for DiscoveryReply {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("protocol", self.format.as_str())?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("name_lossy", &self.name_lossy)?;
        m.serialize_entry("serial_number", &self.serial_number)?;
        m.serialize_entry("command_port", &self.command_port)?;
        m.serialize_entry("event_port", &self.event_port)?;
        m.serialize_entry("vendor_id", &self.vendor_id)?;
        m.serialize_entry("product_id", &self.product_id)?;
        m.serialize_entry("product_type", &self.product_type)?;
        m.serialize_entry("status_code", &self.status_code)?;
        m.serialize_entry("status", self.status.as_str())?;
        m.serialize_entry("lan_mode", &self.lan_mode)?;
        m.serialize_entry("raw_u16_at_0x90", &self.raw_u16_at_0x90)?;
        m.serialize_entry("model", self.model.ident())?;
        m.end()
    }
}
