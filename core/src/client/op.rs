//! What a caller asks for, [`Op`], and what it gets back, [`Output`].

use std::fmt;

use crate::gcode::Thumbnail;
use crate::http::{Axis, GcodeFile, JobOptions};

use super::{ClientError, Info, Status, Temps};

/// A heater.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heater {
    /// Nozzle / tool `n` (0 = the only or right nozzle).
    Tool(u8),
    /// The bed.
    Bed,
    /// The chamber (Creator 5 Pro).
    Chamber,
}

impl Heater {
    /// A heater by the name a person types: `nozzle` (`extruder`, `tool0`, `t0`), `tool1`
    /// (`t1`, `left`), `tool2`, `tool3`, `bed` (`platform`) or `chamber`, in any case.
    /// `None` for any other name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "nozzle" | "extruder" | "tool0" | "t0" => Self::Tool(0),
            "tool1" | "t1" | "left" => Self::Tool(1),
            "tool2" | "t2" => Self::Tool(2),
            "tool3" | "t3" => Self::Tool(3),
            "bed" | "platform" => Self::Bed,
            "chamber" => Self::Chamber,
            _ => return None,
        })
    }
}

impl fmt::Display for Heater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tool(n) => write!(f, "tool {n}"),
            Self::Bed => f.write_str("bed"),
            Self::Chamber => f.write_str("chamber"),
        }
    }
}

/// One operation of the high-level client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// One [`Status`] snapshot.
    Status,
    /// [`Info`]: identity and firmware.
    Info,
    /// Temperatures only ([`Temps`]).
    Temperatures,
    /// Set a heater target in °C; `None` turns it off. Above the model's bound for the heater
    /// ([`crate::model::Limits`]) is a usage error, nothing sent.
    SetTemperature(Heater, Option<u16>),
    /// Turn every heater off.
    TemperaturesOff,
    /// LED on/off.
    Led(bool),
    /// Filtration fans on (both) / off.
    Filtration(bool),
    /// Camera stream on/off.
    Camera(bool),
    /// The MJPEG stream URL.
    CameraUrl,
    /// Home all axes.
    Home,
    /// Jog one axis by `mm`, relative: finite and at most the build volume along the axis
    /// either way ([`crate::model::Limits::build_volume`]), else a usage error.
    Jog(Axis, f64),
    /// Part-cooling fan speed in percent, 0–100 (`0` = off; more is a usage error).
    Fan(u8),
    /// Print speed override in percent, within the model's firmware clamp
    /// ([`crate::model::Limits::speed`]: 50–150 on the 5M, 50–500 on the AD5X), else a usage
    /// error.
    Speed(u16),
    /// Pause the job.
    Pause,
    /// Resume the job.
    Resume,
    /// Cancel the job.
    Cancel,
    /// Acknowledge a finished or cancelled job so the printer is ready again.
    ClearPlatform,
    /// Print a file stored on the printer.
    StartFile {
        /// Name as listed.
        name: String,
        /// Leveling, material mappings, ...
        options: JobOptions,
    },
    /// The full file list (TCP `~M661`).
    Files,
    /// The recent files with metadata (HTTP `/gcodeList`).
    RecentFiles,
    /// A stored file's thumbnail.
    Thumbnail(String),
    /// One raw G-code line over TCP.
    Gcode(String),
    /// Configure a material-station slot (1–4).
    ConfigureSlot {
        /// Slot 1–4.
        slot: u8,
        /// Material name (`PLA`, ...).
        material: String,
        /// Colour.
        color: crate::http::Rgb,
    },
}

impl Op {
    /// The range checks of this operation on `model` ([`crate::model::Limits`]: temperatures
    /// per heater, speed, jog distance, fan percent), without a connection: a caller that
    /// knows the model (or passes [`Model::Unknown`](crate::Model::Unknown), whose bounds are
    /// the widest of any model) can refuse a value before it connects. Planning runs the same
    /// checks; whether the model can do the operation at all is left to planning.
    pub fn check_ranges(&self, model: crate::Model) -> Result<(), crate::UsageError> {
        super::ops::check_ranges(self, model)
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Info => "info",
            Self::Temperatures => "temperatures",
            Self::SetTemperature(..) => "set temperature",
            Self::TemperaturesOff => "temperatures off",
            Self::Led(_) => "LED control",
            Self::Filtration(_) => "filtration",
            Self::Camera(_) => "camera control",
            Self::CameraUrl => "camera stream",
            Self::Home => "homing",
            Self::Jog(..) => "jogging",
            Self::Fan(_) => "fan control",
            Self::Speed(_) => "speed override",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::ClearPlatform => "clear platform",
            Self::StartFile { .. } => "start print",
            Self::Files => "full file list",
            Self::RecentFiles => "recent file list",
            Self::Thumbnail(_) => "thumbnail",
            Self::Gcode(_) => "raw G-code",
            Self::ConfigureSlot { .. } => "material slot",
        }
    }
}

/// The outcome of an [`Op`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Done, nothing to report.
    Done,
    /// [`Op::Status`].
    Status(Box<Status>),
    /// [`Op::Info`].
    Info(Box<Info>),
    /// [`Op::Temperatures`].
    Temperatures(Temps),
    /// [`Op::CameraUrl`].
    Url(String),
    /// [`Op::Files`].
    Files(Vec<String>),
    /// [`Op::RecentFiles`].
    RecentFiles(Vec<GcodeFile>),
    /// [`Op::Thumbnail`].
    Thumbnail(Thumbnail),
    /// [`Op::Gcode`]: the reply lines.
    Lines(Vec<String>),
}

macro_rules! output_getter {
    ($(#[$m:meta])* $name:ident, $variant:ident, $ty:ty, $conv:expr) => {
        $(#[$m])*
        pub fn $name(self) -> Result<$ty, ClientError> {
            match self {
                Self::$variant(v) => Ok($conv(v)),
                _ => Err(ClientError::UnexpectedReply(stringify!($variant))),
            }
        }
    };
}

impl Output {
    /// `Ok(())` for [`Output::Done`].
    pub fn done(self) -> Result<(), ClientError> {
        match self {
            Self::Done => Ok(()),
            _ => Err(ClientError::UnexpectedReply("Done")),
        }
    }
    output_getter!(
        /// The status.
        status, Status, Status, |b: Box<Status>| *b
    );
    output_getter!(
        /// The info.
        info, Info, Info, |b: Box<Info>| *b
    );
    output_getter!(
        /// The temperatures.
        temperatures, Temperatures, Temps, |t| t
    );
    output_getter!(
        /// The URL.
        url, Url, String, |u| u
    );
    output_getter!(
        /// The file names.
        files, Files, Vec<String>, |f| f
    );
    output_getter!(
        /// The recent files.
        recent_files, RecentFiles, Vec<GcodeFile>, |f| f
    );
    output_getter!(
        /// The thumbnail.
        thumbnail, Thumbnail, Thumbnail, |t| t
    );
    output_getter!(
        /// The reply lines.
        lines, Lines, Vec<String>, |l| l
    );
}
