//! `POST /control`: the typed [`Control`] commands of http.md §5 and their JSON payloads.

use super::color::Rgb;
use super::job::{check_file_name, check_text};
use super::json::Obj;
use crate::error::UsageError;
use crate::model::{Model, Palette};

/// `open` / `close` as the firmware spells on/off.
fn oc(on: bool) -> &'static str {
    if on {
        "open"
    } else {
        "close"
    }
}

/// Job control action of `jobCtl_cmd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// `pause`.
    Pause,
    /// `continue` (resume).
    Resume,
    /// `cancel`.
    Cancel,
}

impl JobAction {
    fn wire(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "continue",
            Self::Cancel => "cancel",
        }
    }
}

/// Which filtration fans run (`circulateCtl_cmd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filtration {
    /// Both fans off.
    Off,
    /// Internal circulation only.
    Internal,
    /// External exhaust only.
    External,
    /// Both.
    Both,
}

/// A partial `printerCtl_cmd`: only the fields that are `Some` are sent (http.md §5.2), so
/// changing the speed never resets the fans.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PrinterSettings {
    /// Z offset, mm (−5.0…+5.0).
    pub z_offset: Option<f64>,
    /// Speed override percent (firmware clamps 50–150 on the 5M, 50–500 on the AD5X).
    pub speed: Option<u16>,
    /// Chamber fan 0–255.
    pub chamber_fan: Option<u8>,
    /// Part cooling fan 0–255.
    pub cooling_fan: Option<u8>,
    /// Left part cooling fan 0–255 (AD5X).
    pub cooling_left_fan: Option<u8>,
}

/// One heater target in `temperatureCtl_cmd`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Heat {
    /// Leave unchanged (`-200`).
    #[default]
    Keep,
    /// Turn off (`-100` for scalars, `0` inside `nozzles`).
    Off,
    /// Target °C.
    Target(u16),
}

impl Heat {
    fn scalar(self) -> i64 {
        match self {
            Self::Keep => -200,
            Self::Off => -100,
            Self::Target(t) => i64::from(t),
        }
    }
    fn tool(self) -> i64 {
        match self {
            Self::Keep => -200,
            Self::Off => 0,
            Self::Target(t) => i64::from(t),
        }
    }
}

/// `temperatureCtl_cmd` targets. On a Creator 5, tools are driven only by `nozzles` (always four
/// entries); `right_nozzle`/`left_nozzle` are ignored there.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Temperatures {
    /// Bed.
    pub platform: Heat,
    /// Main nozzle (5M, AD5X).
    pub right_nozzle: Heat,
    /// Second path (AD5X per emu).
    pub left_nozzle: Heat,
    /// Chamber (Creator 5 Pro, max 80 °C).
    pub chamber: Heat,
    /// Per-tool targets T0..T3 (Creator 5 series); `Some` makes the `nozzles` array appear.
    pub nozzles: Option<[Heat; 4]>,
}

impl Temperatures {
    /// Targets for a Creator 5: the `nozzles` block is always present, all `Keep`.
    pub fn creator5() -> Self {
        Self {
            nozzles: Some([Heat::Keep; 4]),
            ..Self::default()
        }
    }

    /// Set tool `index` (0..4) of a Creator 5.
    pub fn tool(mut self, index: usize, heat: Heat) -> Result<Self, UsageError> {
        let tools = self.nozzles.get_or_insert([Heat::Keep; 4]);
        *tools
            .get_mut(index)
            .ok_or(UsageError::OutOfRange { what: "tool index" })? = heat;
        Ok(self)
    }
}

/// Material-station slot action (`ms_cmd`, `ipdMs_cmd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotAction {
    /// 0.
    Load,
    /// 1.
    Unload,
    /// 2.
    Cancel,
}

impl SlotAction {
    fn wire(self) -> i64 {
        match self {
            Self::Load => 0,
            Self::Unload => 1,
            Self::Cancel => 2,
        }
    }
}

/// A jog axis for `moveCtrl_cmd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// X.
    X,
    /// Y.
    Y,
    /// Z (positive moves the bed down).
    Z,
}

/// Every `/control` command of http.md §5.1.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Control {
    /// `lightControl_cmd`.
    Light(bool),
    /// `circulateCtl_cmd`.
    Filtration(Filtration),
    /// `streamCtrl_cmd` camera stream on/off.
    CameraStream(bool),
    /// `jobCtl_cmd` with `jobID: ""`.
    Job(JobAction),
    /// `printerCtl_cmd`, only the fields that are set.
    PrinterSettings(PrinterSettings),
    /// `temperatureCtl_cmd`.
    Temperature(Temperatures),
    /// `stateCtrl_cmd setClearPlatform`: acknowledge a finished or cancelled job.
    ClearPlatform,
    /// `reName_cmd`.
    Rename(String),
    /// `delayClose_cmd`.
    AutoShutdown {
        /// On/off.
        enabled: bool,
        /// Delay, minutes.
        minutes: u32,
    },
    /// `calibration_cmd` (vocabulary undocumented; passed through).
    Calibration {
        /// `levelingDetection`.
        leveling_detection: String,
        /// `vibrationCompensation`.
        vibration_compensation: String,
    },
    /// `userProfile_cmd`.
    UserProfile {
        /// `name`.
        name: String,
        /// `avatar`.
        avatar: String,
    },
    /// `deviceUnregister_cmd` (cloud unbind).
    DeviceUnregister,
    /// `deviceUpdateDetail_cmd`.
    DeviceUpdateDetail,
    /// `newLocalJob_cmd` (5M).
    NewLocalJob {
        /// `jobId`.
        job_id: String,
        /// `fileName`.
        file_name: String,
        /// `thumbPath`.
        thumb_path: String,
        /// `printNow`.
        print_now: bool,
        /// `leveling`.
        leveling: bool,
        /// `flowCalibration`.
        flow_calibration: bool,
        /// `useMs`.
        use_ms: bool,
        /// `tCount`.
        tool_count: u8,
    },
    /// `msConfig_cmd`: slot 1–4 metadata. The colour is snapped to the model's palette.
    SlotConfig {
        /// Slot 1–4.
        slot: u8,
        /// Material (`PLA`, `PETG`, ...).
        material: String,
        /// Colour.
        color: Rgb,
    },
    /// `ipdMsConfig_cmd`: direct-feed path metadata (AD5X).
    DirectFeedConfig {
        /// Material.
        material: String,
        /// Colour.
        color: Rgb,
    },
    /// `ms_cmd` (AD5X): load/unload/cancel a slot (cancel may use slot 0).
    Slot {
        /// Slot 0–4.
        slot: u8,
        /// Action.
        action: SlotAction,
    },
    /// `ipdMs_cmd` (AD5X): the same for the direct path.
    DirectFeed(SlotAction),
    /// `moveCtrl_cmd` (AD5X): jog by `delta` mm.
    Move {
        /// Axis.
        axis: Axis,
        /// mm.
        delta: f64,
    },
    /// `extrudeCtrl_cmd` (AD5X): extrude (+) / retract (−) mm.
    Extrude(f64),
    /// `homingCtrl_cmd` (AD5X).
    Home,
    /// `errorCodeCtrl_cmd clearErrorCode` (AD5X): clears only the current error.
    ClearError(String),
}

impl Control {
    /// The `cmd` string.
    pub fn cmd(&self) -> &'static str {
        match self {
            Self::Light(_) => "lightControl_cmd",
            Self::Filtration(_) => "circulateCtl_cmd",
            Self::CameraStream(_) => "streamCtrl_cmd",
            Self::Job(_) => "jobCtl_cmd",
            Self::PrinterSettings(_) => "printerCtl_cmd",
            Self::Temperature(_) => "temperatureCtl_cmd",
            Self::ClearPlatform => "stateCtrl_cmd",
            Self::Rename(_) => "reName_cmd",
            Self::AutoShutdown { .. } => "delayClose_cmd",
            Self::Calibration { .. } => "calibration_cmd",
            Self::UserProfile { .. } => "userProfile_cmd",
            Self::DeviceUnregister => "deviceUnregister_cmd",
            Self::DeviceUpdateDetail => "deviceUpdateDetail_cmd",
            Self::NewLocalJob { .. } => "newLocalJob_cmd",
            Self::SlotConfig { .. } => "msConfig_cmd",
            Self::DirectFeedConfig { .. } => "ipdMsConfig_cmd",
            Self::Slot { .. } => "ms_cmd",
            Self::DirectFeed(_) => "ipdMs_cmd",
            Self::Move { .. } => "moveCtrl_cmd",
            Self::Extrude(_) => "extrudeCtrl_cmd",
            Self::Home => "homingCtrl_cmd",
            Self::ClearError(_) => "errorCodeCtrl_cmd",
        }
    }

    /// Whether the firmware of `model` implements this command (http.md §5.1: the Creator 5
    /// accepts exactly twelve; motion and slot loading are AD5X-only; `Unknown` allows all).
    ///
    /// The printer acknowledges unknown commands with success, so this check is the only
    /// protection against a silently ignored command.
    pub fn supported_by(&self, model: Model) -> bool {
        model.allows_control(self.cmd())
    }

    pub(super) fn write_args(&self, o: &mut Obj<'_>, palette: Palette) -> Result<(), UsageError> {
        match self {
            Self::Light(on) => {
                o.str("status", oc(*on));
            }
            Self::Filtration(f) => {
                let (i, e) = match f {
                    Filtration::Off => (false, false),
                    Filtration::Internal => (true, false),
                    Filtration::External => (false, true),
                    Filtration::Both => (true, true),
                };
                o.str("internal", oc(i)).str("external", oc(e));
            }
            Self::CameraStream(on) => {
                o.str("action", oc(*on));
            }
            Self::Job(a) => {
                o.str("jobID", "").str("action", a.wire());
            }
            Self::PrinterSettings(s) => {
                if s.z_offset.is_none()
                    && s.speed.is_none()
                    && s.chamber_fan.is_none()
                    && s.cooling_fan.is_none()
                    && s.cooling_left_fan.is_none()
                {
                    return Err(UsageError::Empty {
                        what: "printer settings",
                    });
                }
                if let Some(z) = s.z_offset {
                    if !(-5.0..=5.0).contains(&z) {
                        return Err(if z.is_finite() {
                            UsageError::OutOfRange { what: "z offset" }
                        } else {
                            UsageError::NotFinite { what: "z offset" }
                        });
                    }
                    o.num("zAxisCompensation", z)?;
                }
                if let Some(v) = s.speed {
                    if !(1..=500).contains(&v) {
                        return Err(UsageError::OutOfRange { what: "speed" });
                    }
                    o.int("speed", i64::from(v));
                }
                if let Some(v) = s.chamber_fan {
                    o.int("chamberFan", i64::from(v));
                }
                if let Some(v) = s.cooling_fan {
                    o.int("coolingFan", i64::from(v));
                }
                if let Some(v) = s.cooling_left_fan {
                    o.int("coolingLeftFan", i64::from(v));
                }
            }
            Self::Temperature(t) => {
                for (h, max, what) in [
                    (t.platform, 130, "bed temperature"),
                    (t.right_nozzle, 350, "nozzle temperature"),
                    (t.left_nozzle, 350, "nozzle temperature"),
                    (t.chamber, 80, "chamber temperature"),
                ] {
                    if matches!(h, Heat::Target(v) if v > max) {
                        return Err(UsageError::OutOfRange { what });
                    }
                }
                o.int("rightNozzle", t.right_nozzle.scalar())
                    .int("leftNozzle", t.left_nozzle.scalar())
                    .int("platform", t.platform.scalar())
                    .int("chamber", t.chamber.scalar());
                if let Some(n) = t.nozzles {
                    let mut arr = Vec::with_capacity(24);
                    arr.push(b'[');
                    for (i, h) in n.iter().enumerate() {
                        if matches!(h, Heat::Target(v) if *v > 350) {
                            return Err(UsageError::OutOfRange {
                                what: "tool temperature",
                            });
                        }
                        if i > 0 {
                            arr.push(b',');
                        }
                        arr.extend_from_slice(h.tool().to_string().as_bytes());
                    }
                    arr.push(b']');
                    o.raw("nozzles", &arr);
                }
            }
            Self::ClearPlatform => {
                o.str("action", "setClearPlatform");
            }
            Self::Rename(name) => {
                check_text("printer name", name, false)?;
                o.str("name", name);
            }
            Self::AutoShutdown { enabled, minutes } => {
                o.str("automaticShutdown", oc(*enabled))
                    .int("shutdownAfterTime", i64::from(*minutes));
            }
            Self::Calibration {
                leveling_detection,
                vibration_compensation,
            } => {
                check_text("calibration value", leveling_detection, true)?;
                check_text("calibration value", vibration_compensation, true)?;
                o.str("levelingDetection", leveling_detection)
                    .str("vibrationCompensation", vibration_compensation);
            }
            Self::UserProfile { name, avatar } => {
                check_text("user name", name, true)?;
                if avatar.chars().any(char::is_control) {
                    return Err(UsageError::LineInjection { what: "avatar" });
                }
                o.str("name", name).str("avatar", avatar);
            }
            Self::DeviceUnregister | Self::DeviceUpdateDetail | Self::Home => {}
            Self::NewLocalJob {
                job_id,
                file_name,
                thumb_path,
                print_now,
                leveling,
                flow_calibration,
                use_ms,
                tool_count,
            } => {
                check_file_name(file_name)?;
                check_text("job id", job_id, true)?;
                if thumb_path.chars().any(char::is_control) {
                    return Err(UsageError::LineInjection { what: "thumb path" });
                }
                o.str("jobId", job_id)
                    .str("fileName", file_name)
                    .str("thumbPath", thumb_path)
                    .bool("printNow", *print_now)
                    .bool("leveling", *leveling)
                    .bool("flowCalibration", *flow_calibration)
                    .bool("useMs", *use_ms)
                    .int("tCount", i64::from(*tool_count));
            }
            Self::SlotConfig {
                slot,
                material,
                color,
            } => {
                if !(1..=4).contains(slot) {
                    return Err(UsageError::OutOfRange { what: "slot" });
                }
                check_text("material", material, false)?;
                o.int("slot", i64::from(*slot))
                    .str("mt", material)
                    .str("rgb", &palette.snap(*color).2.to_string());
            }
            Self::DirectFeedConfig { material, color } => {
                check_text("material", material, false)?;
                o.str("mt", material)
                    .str("rgb", &palette.snap(*color).2.to_string());
            }
            Self::Slot { slot, action } => {
                let ok = if *action == SlotAction::Cancel {
                    *slot <= 4
                } else {
                    (1..=4).contains(slot)
                };
                if !ok {
                    return Err(UsageError::OutOfRange { what: "slot" });
                }
                o.int("slot", i64::from(*slot)).int("action", action.wire());
            }
            Self::DirectFeed(action) => {
                o.int("action", action.wire());
            }
            Self::Move { axis, delta } => {
                if delta.is_finite() && delta.abs() > 300.0 {
                    return Err(UsageError::OutOfRange { what: "move delta" });
                }
                let a = match axis {
                    Axis::X => "x",
                    Axis::Y => "y",
                    Axis::Z => "z",
                };
                o.str("axis", a).num("delta", *delta)?;
            }
            Self::Extrude(delta) => {
                if delta.is_finite() && delta.abs() > 500.0 {
                    return Err(UsageError::OutOfRange {
                        what: "extrude length",
                    });
                }
                o.str("axis", "e").num("delta", *delta)?;
            }
            Self::ClearError(code) => {
                check_text("error code", code, false)?;
                o.str("action", "clearErrorCode").str("errorCode", code);
            }
        }
        Ok(())
    }
}
