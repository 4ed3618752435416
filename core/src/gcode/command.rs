//! Typed commands for port 8899 and their exact encoding (tcp.md §2 and §4).

use std::fmt;
use std::io::Write as _;
use std::time::Duration;

use crate::config::{Config, Dialect};
use crate::error::UsageError;

/// One axis position or feed rate, validated as finite when encoded.
pub type Millimetres = f64;

/// LED commands (`~M146`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Led {
    /// `~M146 r<R> g<G> b<B> F0` (Adventurer 4, 5M family, AD5X).
    Rgb {
        /// Red 0–255.
        r: u8,
        /// Green 0–255.
        g: u8,
        /// Blue 0–255.
        b: u8,
    },
    /// `~M146 1` / `~M146 0`: the Adventurer 3 accessory LED.
    Accessory(bool),
}

impl Led {
    /// White (`r255 g255 b255`), the "light on" of the reference clients.
    pub const ON: Self = Self::Rgb {
        r: 255,
        g: 255,
        b: 255,
    };
    /// Black (`r0 g0 b0`), the "light off" of the reference clients.
    pub const OFF: Self = Self::Rgb { r: 0, g: 0, b: 0 };
}

/// Axis values for `G1` (move) and `G92` (set position). Absent axes are not sent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Axes {
    /// X in mm.
    pub x: Option<Millimetres>,
    /// Y in mm.
    pub y: Option<Millimetres>,
    /// Z in mm.
    pub z: Option<Millimetres>,
    /// Extruder in mm of filament.
    pub e: Option<Millimetres>,
}

/// A command line checked to be a single `G`/`M` code line (`~` added when missing).
#[derive(Clone, PartialEq, Eq)]
pub struct RawLine(String);

impl RawLine {
    /// Check `line`: it must be `[~](G|M)<digits>[ <params>]`, without CR, LF or NUL.
    pub fn new(line: impl Into<String>) -> Result<Self, UsageError> {
        let mut line: String = line.into();
        check_text("raw line", &line)?;
        let trimmed = line.trim();
        let body = trimmed.strip_prefix('~').unwrap_or(trimmed);
        let mut chars = body.chars();
        let letter = chars.next().map(|c| c.to_ascii_uppercase());
        let digit = chars.next();
        if !matches!(letter, Some('G' | 'M')) || !digit.is_some_and(|d| d.is_ascii_digit()) {
            return Err(UsageError::NotACode);
        }
        line = format!("~{body}");
        Ok(Self(line))
    }

    /// The line with its leading `~`, without the newline.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RawLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Every command of tcp.md §4, typed.
///
/// Encode with [`Command::encode`]; the session does this for you.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// `~M601 S1`: take control (login).
    Login,
    /// `~M602`: release control (logout).
    Logout,
    /// `~M115`: machine information.
    MachineInfo,
    /// `~M105`: temperatures.
    Temperatures,
    /// `~M119`: endstops, machine and move state, LED, current file.
    EndstopStatus,
    /// `~M27`: print progress (also the keep-alive).
    PrintStatus,
    /// `~M114`: current position.
    Position,
    /// `~M663`: position including the extruder (Adventurer 3).
    PositionWithExtruder,
    /// `~M661`: list stored files (binary reply).
    ListFiles,
    /// `~M662 <path>`: thumbnail of a stored file (binary reply).
    Thumbnail {
        /// `/data/<name>` on 5M/AD5X/A4, the bare name on the A3 ([`Command::thumbnail`]).
        path: String,
    },
    /// `~M23 <path>`: select (A3) or select and start (others) a stored file.
    SelectFile {
        /// `0:/user/<name>` (modern) or `/data/<name>` (A3) ([`Command::select_file`]).
        path: String,
    },
    /// `~M24`: resume (modern) or start the selected file (A3).
    Resume,
    /// `~M25`: pause.
    Pause,
    /// `~M26`: stop the print.
    Stop,
    /// `~M104 S<t> [T<n>]`: nozzle target in °C (0 = off).
    SetNozzleTemp {
        /// Target in °C, 0–600.
        celsius: f64,
        /// Tool index for multi-nozzle printers; `None` = the active tool.
        tool: Option<u8>,
    },
    /// `~M140 S<t>`: bed target in °C (0 = off).
    SetBedTemp {
        /// Target in °C, 0–200.
        celsius: f64,
    },
    /// `~M109 S<t>`: set nozzle target and wait (acknowledged at the first `ok`).
    WaitNozzleTemp {
        /// Target in °C.
        celsius: f64,
    },
    /// `~M190 S<t>`: set bed target and wait (acknowledged at the first `ok`).
    WaitBedTemp {
        /// Target in °C.
        celsius: f64,
    },
    /// `~M106 [S<n>]`: part-cooling fan on (A3: on/off only, no speed).
    FanOn {
        /// PWM 0–255, `None` = full.
        speed: Option<u8>,
    },
    /// `~M107`: part-cooling fan off.
    FanOff,
    /// `~M146 …`: LED.
    Led(Led),
    /// `~M144`: A3 internal LED on.
    InternalLedOn,
    /// `~M145`: A3 internal LED off.
    InternalLedOff,
    /// `~G28`: home all axes.
    Home,
    /// `~G1 X.. Y.. Z.. E.. F..`: move or extrude.
    Move {
        /// Target axes (at least one).
        axes: Axes,
        /// Feed rate in mm/min.
        feed: Option<f64>,
    },
    /// `~G90`: absolute positioning.
    AbsolutePositioning,
    /// `~G91`: relative positioning.
    RelativePositioning,
    /// `~G92 …`: set the current position (e.g. `~G92 E0`).
    SetPosition(Axes),
    /// `~M17`: enable steppers.
    EnableSteppers,
    /// `~M18`: disable steppers.
    DisableSteppers,
    /// `~M108`: cancel a heat wait.
    CancelHeatWait,
    /// `~M112`: emergency stop.
    EmergencyStop,
    /// `~M650`: A3 hardware id.
    HardwareId,
    /// `~M610 <name>`: rename the printer.
    Rename {
        /// New machine name.
        name: String,
    },
    /// `~M405`: filament runout sensor on (5M Pro).
    RunoutSensorOn,
    /// `~M406`: filament runout sensor off (5M Pro).
    RunoutSensorOff,
    /// `~M28 <size> 0:/user/<name>`: begin a raw upload (use [`crate::Session::start_upload`]).
    UploadBegin {
        /// Exact file size in bytes.
        size: u64,
        /// Remote file name (already normalised, see [`normalise_upload_name`]).
        name: String,
    },
    /// `~M29`: finish a raw upload.
    UploadEnd,
    /// Any other checked G/M line.
    Raw(RawLine),
}

/// How a reply is parsed and when it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplyKind {
    /// `~M601`: [`crate::gcode::Login`].
    Login,
    /// Acknowledgement only: [`crate::gcode::CommandAck`].
    Ack,
    /// `~M115`: [`crate::gcode::PrinterInfo`].
    PrinterInfo,
    /// `~M105`: [`crate::gcode::Temperatures`].
    Temperatures,
    /// `~M119`: [`crate::gcode::EndstopStatus`].
    EndstopStatus,
    /// `~M27`: [`crate::gcode::PrintStatus`].
    PrintStatus,
    /// `~M114`, `~M663`: [`crate::gcode::Position`].
    Position,
    /// `~M661`: [`crate::gcode::FileList`].
    FileList,
    /// `~M662`: [`crate::gcode::Thumbnail`].
    Thumbnail,
    /// `~M28`, `~M29`: [`crate::gcode::UploadBoundary`].
    UploadBoundary,
    /// Unparsed lines: [`crate::gcode::RawText`].
    RawText,
}

impl ReplyKind {
    /// The parser name used by the fixture manifests (`printer_info`, `temperatures`, ...).
    pub fn parser_name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Ack => "command_ack",
            Self::PrinterInfo => "printer_info",
            Self::Temperatures => "temperatures",
            Self::EndstopStatus => "endstop_status",
            Self::PrintStatus => "print_status",
            Self::Position => "position",
            Self::FileList => "file_list",
            Self::Thumbnail => "thumbnail",
            Self::UploadBoundary => "upload_boundary",
            Self::RawText => "raw_text",
        }
    }

    /// The inverse of [`ReplyKind::parser_name`].
    pub fn from_parser_name(name: &str) -> Option<Self> {
        Some(match name {
            "login" => Self::Login,
            "command_ack" => Self::Ack,
            "printer_info" => Self::PrinterInfo,
            "temperatures" => Self::Temperatures,
            "endstop_status" => Self::EndstopStatus,
            "print_status" => Self::PrintStatus,
            "position" => Self::Position,
            "file_list" => Self::FileList,
            "thumbnail" => Self::Thumbnail,
            "upload_boundary" => Self::UploadBoundary,
            "raw_text" => Self::RawText,
            _ => return None,
        })
    }
}

/// Per-command completion profile (tcp.md §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyProfile {
    /// How the reply is parsed.
    pub kind: ReplyKind,
    /// The code without the tilde (`M115`), used to recognise the echo line.
    pub code: Code,
    /// Overall deadline.
    pub timeout: Duration,
    /// The quiet-period fallback: a reply whose end the framer cannot recognise completes
    /// after this long without a byte ([`crate::gcode::ReplyFramer::quiet_period`] says when
    /// it applies). `None` in [`Dialect::Modern`] for text replies, which end at `ok`.
    pub quiet: Option<Duration>,
    /// No reply at all is expected (A3 motion commands): complete right after the write.
    pub no_reply: bool,
    /// The dialect the profile was made for.
    pub dialect: Dialect,
}

/// A command code such as `M115`: a letter and up to five digits, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    letter: u8,
    number: u32,
}

impl Code {
    /// `M<n>`.
    pub const fn m(number: u32) -> Self {
        Self {
            letter: b'M',
            number,
        }
    }

    /// `G<n>`.
    pub const fn g(number: u32) -> Self {
        Self {
            letter: b'G',
            number,
        }
    }

    /// Parse the code at the start of `s` (`~` optional, `M`/`G` case-insensitive).
    pub fn parse_prefix(s: &str) -> Option<Self> {
        let s = s.strip_prefix('~').unwrap_or(s).as_bytes();
        let letter = s.first()?.to_ascii_uppercase();
        if letter != b'M' && letter != b'G' {
            return None;
        }
        let digits = s[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        let mut number = 0u32;
        for &d in &s[1..=digits] {
            number = number * 10 + u32::from(d - b'0');
        }
        Some(Self { letter, number })
    }

    /// Whether `s` is exactly this code (no parameters).
    pub fn is(self, s: &str) -> bool {
        Self::parse_prefix(s).is_some_and(|c| c == self)
            && s.trim_start_matches('~')
                .bytes()
                .skip(1)
                .all(|b| b.is_ascii_digit())
    }

    /// The letter, `M` or `G`.
    pub fn letter(self) -> char {
        char::from(self.letter)
    }

    /// The number.
    pub fn number(self) -> u32 {
        self.number
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", char::from(self.letter), self.number)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Command {
    /// `~M662` for `name` in the dialect's preferred form: `/data/<name>` (modern) or bare (A3).
    pub fn thumbnail(name: &str, dialect: Dialect) -> Self {
        Self::Thumbnail {
            path: file_path(name, dialect, "/data/"),
        }
    }

    /// `~M23` for `name`: `0:/user/<name>` (modern, starts the print) or `/data/<name>` (A3,
    /// selects it; follow with [`Command::Resume`]).
    pub fn select_file(name: &str, dialect: Dialect) -> Self {
        let path = match dialect {
            Dialect::Modern | Dialect::Unknown => file_path(name, dialect, "0:/user/"),
            Dialect::Adventurer3 => format!("/data/{}", bare_file_name(name)),
        };
        Self::SelectFile { path }
    }

    /// `~M28` for an upload of `size` bytes named `name` (normalised as tcp.md §7 says).
    pub fn upload_begin(name: &str, size: u64) -> Result<Self, UsageError> {
        Ok(Self::UploadBegin {
            size,
            name: normalise_upload_name(name)?,
        })
    }

    /// The code this command sends.
    pub fn code(&self) -> Code {
        match self {
            Self::Login => Code::m(601),
            Self::Logout => Code::m(602),
            Self::MachineInfo => Code::m(115),
            Self::Temperatures => Code::m(105),
            Self::EndstopStatus => Code::m(119),
            Self::PrintStatus => Code::m(27),
            Self::Position => Code::m(114),
            Self::PositionWithExtruder => Code::m(663),
            Self::ListFiles => Code::m(661),
            Self::Thumbnail { .. } => Code::m(662),
            Self::SelectFile { .. } => Code::m(23),
            Self::Resume => Code::m(24),
            Self::Pause => Code::m(25),
            Self::Stop => Code::m(26),
            Self::SetNozzleTemp { .. } => Code::m(104),
            Self::SetBedTemp { .. } => Code::m(140),
            Self::WaitNozzleTemp { .. } => Code::m(109),
            Self::WaitBedTemp { .. } => Code::m(190),
            Self::FanOn { .. } => Code::m(106),
            Self::FanOff => Code::m(107),
            Self::Led(_) => Code::m(146),
            Self::InternalLedOn => Code::m(144),
            Self::InternalLedOff => Code::m(145),
            Self::Home => Code::g(28),
            Self::Move { .. } => Code::g(1),
            Self::AbsolutePositioning => Code::g(90),
            Self::RelativePositioning => Code::g(91),
            Self::SetPosition(_) => Code::g(92),
            Self::EnableSteppers => Code::m(17),
            Self::DisableSteppers => Code::m(18),
            Self::CancelHeatWait => Code::m(108),
            Self::EmergencyStop => Code::m(112),
            Self::HardwareId => Code::m(650),
            Self::Rename { .. } => Code::m(610),
            Self::RunoutSensorOn => Code::m(405),
            Self::RunoutSensorOff => Code::m(406),
            Self::UploadBegin { .. } => Code::m(28),
            Self::UploadEnd => Code::m(29),
            Self::Raw(line) => Code::parse_prefix(line.as_str()).unwrap_or(Code::m(0)),
        }
    }

    /// Whether this command only reads (identity, temperatures, status, position, the file
    /// list, a thumbnail): asking it twice changes nothing on the printer. Raw lines are not
    /// known to be queries.
    pub fn is_query(&self) -> bool {
        matches!(
            self,
            Self::MachineInfo
                | Self::Temperatures
                | Self::EndstopStatus
                | Self::PrintStatus
                | Self::Position
                | Self::PositionWithExtruder
                | Self::ListFiles
                | Self::Thumbnail { .. }
                | Self::HardwareId
        )
    }

    /// How the reply to this command is parsed.
    pub fn reply_kind(&self) -> ReplyKind {
        match self {
            Self::Login => ReplyKind::Login,
            Self::MachineInfo => ReplyKind::PrinterInfo,
            Self::Temperatures => ReplyKind::Temperatures,
            Self::EndstopStatus => ReplyKind::EndstopStatus,
            Self::PrintStatus => ReplyKind::PrintStatus,
            Self::Position | Self::PositionWithExtruder => ReplyKind::Position,
            Self::ListFiles => ReplyKind::FileList,
            Self::Thumbnail { .. } => ReplyKind::Thumbnail,
            Self::UploadBegin { .. } | Self::UploadEnd => ReplyKind::UploadBoundary,
            Self::HardwareId | Self::Raw(_) => ReplyKind::RawText,
            _ => ReplyKind::Ack,
        }
    }

    /// The completion profile of this command under `config` (tcp.md §3.4 rules 5, 6, 8).
    pub fn profile(&self, config: &Config) -> ReplyProfile {
        let code = self.code();
        let timeout = match self {
            Self::Home => config.home_timeout,
            Self::UploadEnd => config.upload_response_timeout,
            Self::ListFiles | Self::Thumbnail { .. } | Self::UploadBegin { .. } => {
                config.long_reply_timeout
            }
            _ => config.reply_timeout,
        };
        let binary = matches!(self, Self::ListFiles | Self::Thumbnail { .. });
        // The quiet period is a fallback the framer applies only where it cannot recognise
        // the end of a reply (see `ReplyFramer::quiet_period`): never to a Modern text reply.
        let quiet = if binary {
            Some(config.binary_quiet_fallback)
        } else if config.dialect.tolerates_shape_b() {
            Some(config.quiet_fallback)
        } else {
            None
        };
        let no_reply = config.dialect == Dialect::Adventurer3
            && matches!(
                self,
                Self::Move { .. }
                    | Self::Home
                    | Self::AbsolutePositioning
                    | Self::RelativePositioning
                    | Self::SetPosition(_)
            );
        ReplyProfile {
            kind: self.reply_kind(),
            code,
            timeout,
            quiet,
            no_reply,
            dialect: config.dialect,
        }
    }

    /// Append the exact command line (with its `\n`) to `out`.
    ///
    /// Parameters that would inject a line (CR, LF, NUL), empty names and non-finite or
    /// out-of-range numbers are a [`UsageError`]; `out` is left unchanged then.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), UsageError> {
        let start = out.len();
        let result = self.encode_inner(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_inner(&self, out: &mut Vec<u8>) -> Result<(), UsageError> {
        let code = self.code();
        match self {
            Self::Raw(line) => out.extend_from_slice(line.as_str().as_bytes()),
            _ => {
                let _ = write!(out, "~{code}");
            }
        }
        match self {
            Self::Login => out.extend_from_slice(b" S1"),
            Self::Thumbnail { path } | Self::SelectFile { path } => {
                check_param("file path", path)?;
                out.push(b' ');
                out.extend_from_slice(path.as_bytes());
            }
            Self::Rename { name } => {
                check_param("printer name", name)?;
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
            }
            Self::SetNozzleTemp { celsius, tool } => {
                push_num(out, " S", *celsius, "nozzle temperature", 0.0..=600.0)?;
                if let Some(t) = tool {
                    let _ = write!(out, " T{t}");
                }
            }
            Self::SetBedTemp { celsius } => {
                push_num(out, " S", *celsius, "bed temperature", 0.0..=200.0)?
            }
            Self::WaitNozzleTemp { celsius } => {
                push_num(out, " S", *celsius, "nozzle temperature", 0.0..=600.0)?
            }
            Self::WaitBedTemp { celsius } => {
                push_num(out, " S", *celsius, "bed temperature", 0.0..=200.0)?
            }
            Self::FanOn { speed: Some(s) } => {
                let _ = write!(out, " S{s}");
            }
            Self::Led(Led::Rgb { r, g, b }) => {
                let _ = write!(out, " r{r} g{g} b{b} F0");
            }
            Self::Led(Led::Accessory(on)) => {
                out.extend_from_slice(if *on { b" 1" } else { b" 0" });
            }
            Self::Move { axes, feed } => {
                if axes.x.is_none() && axes.y.is_none() && axes.z.is_none() && axes.e.is_none() {
                    return Err(UsageError::NoAxis);
                }
                push_axes(out, axes)?;
                if let Some(f) = feed {
                    if *f <= 0.0 {
                        return Err(UsageError::OutOfRange { what: "feed rate" });
                    }
                    push_num(out, " F", *f, "feed rate", 0.0..=1.0e6)?;
                }
            }
            Self::SetPosition(axes) => push_axes(out, axes)?,
            Self::UploadBegin { size, name } => {
                check_param("upload name", name)?;
                let _ = write!(out, " {size} 0:/user/{name}");
            }
            _ => {}
        }
        out.push(b'\n');
        Ok(())
    }

    /// Parse one command line as a printer would (the inverse of [`Command::encode`]).
    ///
    /// The simulator and the in-memory mock printer use this; unknown codes become
    /// [`Command::Raw`]. Returns `None` for lines that are not a G/M command.
    pub fn decode(line: &str) -> Option<Self> {
        let line = line.trim_end_matches(['\r', '\n']);
        let code = Code::parse_prefix(line)?;
        let body = line.strip_prefix('~').unwrap_or(line);
        let rest = body[1 + digits_len(&body[1..])..].trim_start_matches(' ');
        let params = || rest.split(' ').filter(|p| !p.is_empty());
        let num = |letter: char| -> Option<f64> {
            params()
                .find_map(|p| p.strip_prefix(letter))
                .and_then(|v| v.parse().ok())
        };
        let axes = || Axes {
            x: num('X'),
            y: num('Y'),
            z: num('Z'),
            e: num('E'),
        };
        let raw = || RawLine::new(line).ok().map(Self::Raw);
        let cmd = match (code.letter, code.number) {
            (b'M', 601) => Self::Login,
            (b'M', 602) => Self::Logout,
            (b'M', 115) => Self::MachineInfo,
            (b'M', 105) => Self::Temperatures,
            (b'M', 119) => Self::EndstopStatus,
            (b'M', 27) => Self::PrintStatus,
            (b'M', 114) => Self::Position,
            (b'M', 663) => Self::PositionWithExtruder,
            (b'M', 661) => Self::ListFiles,
            (b'M', 662) => Self::Thumbnail {
                path: rest.to_owned(),
            },
            (b'M', 23) => Self::SelectFile {
                path: rest.to_owned(),
            },
            (b'M', 24) => Self::Resume,
            (b'M', 25) => Self::Pause,
            (b'M', 26) => Self::Stop,
            (b'M', 104) => Self::SetNozzleTemp {
                celsius: num('S')?,
                tool: params()
                    .find_map(|p| p.strip_prefix('T'))
                    .and_then(|t| t.parse().ok()),
            },
            (b'M', 140) => Self::SetBedTemp { celsius: num('S')? },
            (b'M', 109) => Self::WaitNozzleTemp { celsius: num('S')? },
            (b'M', 190) => Self::WaitBedTemp { celsius: num('S')? },
            (b'M', 106) => Self::FanOn {
                speed: params()
                    .find_map(|p| p.strip_prefix('S'))
                    .and_then(|s| s.parse().ok()),
            },
            (b'M', 107) => Self::FanOff,
            (b'M', 146) => {
                let channel = |c: char| params().find_map(|p| p.strip_prefix(c)?.parse().ok());
                match (channel('r'), channel('g'), channel('b')) {
                    (Some(r), Some(g), Some(b)) => Self::Led(Led::Rgb { r, g, b }),
                    _ => Self::Led(Led::Accessory(rest.trim() != "0")),
                }
            }
            (b'M', 144) => Self::InternalLedOn,
            (b'M', 145) => Self::InternalLedOff,
            (b'G', 28) => Self::Home,
            (b'G', 1) => Self::Move {
                axes: axes(),
                feed: num('F'),
            },
            (b'G', 90) => Self::AbsolutePositioning,
            (b'G', 91) => Self::RelativePositioning,
            (b'G', 92) => Self::SetPosition(axes()),
            (b'M', 17) => Self::EnableSteppers,
            (b'M', 18) => Self::DisableSteppers,
            (b'M', 108) => Self::CancelHeatWait,
            (b'M', 112) => Self::EmergencyStop,
            (b'M', 650) => Self::HardwareId,
            (b'M', 610) => Self::Rename {
                name: rest.to_owned(),
            },
            (b'M', 405) => Self::RunoutSensorOn,
            (b'M', 406) => Self::RunoutSensorOff,
            (b'M', 28) => {
                let (size, path) = rest.split_once(' ')?;
                let name = path.strip_prefix("0:/user/").unwrap_or(path);
                Self::UploadBegin {
                    size: size.parse().ok()?,
                    name: name.to_owned(),
                }
            }
            (b'M', 29) => Self::UploadEnd,
            _ => return raw(),
        };
        Some(cmd)
    }
}

/// Normalise a remote upload name as tcp.md §7 step 1 says: `\` → `/`, strip a leading
/// `0:/user/` or `/data/` (any case), keep the last path component. Empty or line-breaking
/// names are refused.
pub fn normalise_upload_name(name: &str) -> Result<String, UsageError> {
    check_text("upload name", name)?;
    let name = name.replace('\\', "/");
    let name = bare_file_name(&name);
    if name.trim().is_empty() {
        return Err(UsageError::Empty {
            what: "upload name",
        });
    }
    // The Adventurer 3 trims the names it lists: a spaced name could not be printed by the
    // name it shows.
    if name.trim() != name {
        return Err(UsageError::FileNameSpaces);
    }
    Ok(name.to_owned())
}

/// A remote file name without its directory: strips `0:/user/` or `/data/` (any case) and keeps
/// the last path component (`0:/user/a.gcode`, `/data/a.gcode` and `a.gcode` → `a.gcode`).
pub fn bare_file_name(name: &str) -> &str {
    let mut n = name;
    for prefix in ["0:/user/", "/data/"] {
        // `get`: the name's byte at the prefix's length need not start a character.
        if n.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        {
            n = &n[prefix.len()..];
        }
    }
    n.rsplit('/').next().unwrap_or(n)
}

fn file_path(name: &str, dialect: Dialect, prefix: &str) -> String {
    let bare = bare_file_name(name);
    match dialect {
        Dialect::Adventurer3 => bare.to_owned(),
        Dialect::Modern | Dialect::Unknown => format!("{prefix}{bare}"),
    }
}

fn digits_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

fn check_text(what: &'static str, s: &str) -> Result<(), UsageError> {
    if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(UsageError::LineInjection { what });
    }
    Ok(())
}

fn check_param(what: &'static str, s: &str) -> Result<(), UsageError> {
    check_text(what, s)?;
    if s.trim().is_empty() {
        return Err(UsageError::Empty { what });
    }
    Ok(())
}

fn push_axes(out: &mut Vec<u8>, axes: &Axes) -> Result<(), UsageError> {
    const LIMIT: std::ops::RangeInclusive<f64> = -100_000.0..=100_000.0;
    for (prefix, value, what) in [
        (" X", axes.x, "X"),
        (" Y", axes.y, "Y"),
        (" Z", axes.z, "Z"),
        (" E", axes.e, "E"),
    ] {
        if let Some(v) = value {
            push_num(out, prefix, v, what, LIMIT)?;
        }
    }
    Ok(())
}

/// Write `prefix` then `v` in the shortest decimal form that reads back as `v`, never with an
/// exponent (`0.00001`, not `1e-5`), and `-0` as `0`.
fn push_num(
    out: &mut Vec<u8>,
    prefix: &str,
    v: f64,
    what: &'static str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<(), UsageError> {
    if !v.is_finite() {
        return Err(UsageError::NotFinite { what });
    }
    if !range.contains(&v) {
        return Err(UsageError::OutOfRange { what });
    }
    out.extend_from_slice(prefix.as_bytes());
    let v = if v == 0.0 { 0.0 } else { v };
    // `Display` for f64 is the shortest round-trip form and never uses an exponent.
    let _ = write!(out, "{v}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(c: &Command) -> String {
        let mut v = Vec::new();
        c.encode(&mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn exact_bytes_of_common_commands() {
        assert_eq!(enc(&Command::Login), "~M601 S1\n");
        assert_eq!(enc(&Command::Logout), "~M602\n");
        assert_eq!(enc(&Command::Led(Led::ON)), "~M146 r255 g255 b255 F0\n");
        assert_eq!(enc(&Command::Led(Led::Accessory(true))), "~M146 1\n");
        assert_eq!(
            enc(&Command::SetNozzleTemp {
                celsius: 210.0,
                tool: Some(1)
            }),
            "~M104 S210 T1\n"
        );
        assert_eq!(
            enc(&Command::upload_begin("C:\\x\\0:/user/cube.gcode", 26).unwrap()),
            "~M28 26 0:/user/cube.gcode\n"
        );
        assert_eq!(
            enc(&Command::select_file("My File(1).gcode", Dialect::Modern)),
            "~M23 0:/user/My File(1).gcode\n"
        );
        assert_eq!(
            enc(&Command::select_file(
                "0:/user/t.gcode",
                Dialect::Adventurer3
            )),
            "~M23 /data/t.gcode\n"
        );
        assert_eq!(
            enc(&Command::thumbnail("cube.gcode", Dialect::Modern)),
            "~M662 /data/cube.gcode\n"
        );
    }

    #[test]
    fn numbers_are_shortest_decimal_without_exponent() {
        let c = Command::Move {
            axes: Axes {
                x: Some(10.0),
                y: Some(20.5),
                z: Some(0.00001),
                e: Some(-0.0),
            },
            feed: Some(3000.0),
        };
        assert_eq!(enc(&c), "~G1 X10 Y20.5 Z0.00001 E0 F3000\n");
    }

    #[test]
    fn injection_and_bad_numbers_are_usage_errors_and_send_nothing() {
        let mut out = b"keep".to_vec();
        let bad = Command::SelectFile {
            path: "a\n~M112".into(),
        };
        assert_eq!(
            bad.encode(&mut out),
            Err(UsageError::LineInjection { what: "file path" })
        );
        assert_eq!(out, b"keep");
        let nan = Command::SetBedTemp { celsius: f64::NAN };
        assert!(matches!(
            nan.encode(&mut out),
            Err(UsageError::NotFinite { .. })
        ));
        assert_eq!(
            Command::Move {
                axes: Axes::default(),
                feed: None
            }
            .encode(&mut out),
            Err(UsageError::NoAxis)
        );
        assert_eq!(RawLine::new("hello"), Err(UsageError::NotACode));
        assert!(RawLine::new("M105\r").is_err());
        assert_eq!(RawLine::new("M900 X1").unwrap().as_str(), "~M900 X1");
        assert!(normalise_upload_name("/data/").is_err());
        assert_eq!(out, b"keep");
    }

    /// A name whose character straddles the length of a prefix (`0:/user/` is 8 bytes,
    /// `/data/` 6) used to panic: printers list such names and people upload them.
    #[test]
    fn file_names_with_multibyte_characters_anywhere() {
        assert_eq!(bare_file_name("é漢字.gcode"), "é漢字.gcode");
        assert_eq!(bare_file_name("/DATA/é漢字.gcode"), "é漢字.gcode");
        assert_eq!(bare_file_name("0:/user/\u{200b}.gcode"), "\u{200b}.gcode");
        assert_eq!(bare_file_name("ab/漢字"), "漢字");
        for base in ["é漢字.gcode", "/data/é", "0:/user/🙂", "0:/usé/x", "/dat字"] {
            for pad in 0..8 {
                let name = format!("{}{base}", "a".repeat(pad));
                let bare = bare_file_name(&name);
                assert!(name.ends_with(bare), "{name:?} → {bare:?}");
                let upload = normalise_upload_name(&name).unwrap();
                assert!(name.ends_with(&upload), "{name:?} → {upload:?}");
            }
        }
    }

    #[test]
    fn decode_inverts_encode() {
        for c in [
            Command::Login,
            Command::SetNozzleTemp {
                celsius: 200.5,
                tool: None,
            },
            Command::Led(Led::OFF),
            Command::Rename {
                name: "My Printer".into(),
            },
            Command::UploadBegin {
                size: 5,
                name: "a b.gcode".into(),
            },
            Command::Raw(RawLine::new("M900 S1").unwrap()),
        ] {
            assert_eq!(Command::decode(&enc(&c)), Some(c));
        }
    }
}
