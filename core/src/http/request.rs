//! Typed requests for every endpoint of http.md, encoded to exact HTTP/1.1 bytes.

use std::fmt;

use super::color::{Palette, Rgb};
use super::json::Obj;
use super::Secret;
use crate::error::UsageError;
use crate::model::{firmware_at_least, Model};

/// The printer's serial number and LAN-mode check code.
///
/// `Debug` and `Display` never show the check code; it is zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    serial: String,
    check_code: Secret,
}

fn check_token(what: &'static str, s: &str) -> Result<(), UsageError> {
    if s.is_empty() {
        return Err(UsageError::Empty { what });
    }
    if s.len() > 128 {
        return Err(UsageError::OutOfRange { what });
    }
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(UsageError::LineInjection { what });
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UsageError::OutOfRange { what });
    }
    Ok(())
}

impl Credentials {
    /// Checked credentials: both non-empty printable ASCII without spaces (they travel in HTTP
    /// headers for uploads), at most 128 bytes.
    pub fn new(
        serial: impl Into<String>,
        check_code: impl Into<String>,
    ) -> Result<Self, UsageError> {
        let serial = serial.into();
        let check_code = Secret::new(check_code.into());
        check_token("serial number", &serial)?;
        check_token("check code", check_code.expose())?;
        Ok(Self { serial, check_code })
    }

    /// The serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The check code, for code that must put it on the wire.
    pub fn expose_check_code(&self) -> &str {
        self.check_code.expose()
    }

    fn write_json(&self, o: &mut Obj<'_>) {
        o.str("serialNumber", &self.serial)
            .str("checkCode", self.check_code.expose());
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("serial", &self.serial)
            .field("check_code", &self.check_code)
            .finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (check code hidden)", self.serial)
    }
}

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

/// Longest material or printer name accepted (the firmware shows short labels).
pub const MAX_NAME_LEN: usize = 64;

fn check_text(what: &'static str, s: &str, allow_empty: bool) -> Result<(), UsageError> {
    if s.is_empty() && !allow_empty {
        return Err(UsageError::Empty { what });
    }
    if s.len() > MAX_NAME_LEN {
        return Err(UsageError::OutOfRange { what });
    }
    if s.chars().any(char::is_control) {
        return Err(UsageError::LineInjection { what });
    }
    Ok(())
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
        use Model::*;
        if model == Unknown {
            return true;
        }
        if !model.is_http() {
            return false;
        }
        match self {
            Self::Light(_)
            | Self::Job(_)
            | Self::PrinterSettings(_)
            | Self::Temperature(_)
            | Self::ClearPlatform
            | Self::Rename(_)
            | Self::AutoShutdown { .. }
            | Self::Calibration { .. }
            | Self::UserProfile { .. } => true,
            Self::Filtration(_) => matches!(model, Adventurer5MPro | Creator5Pro),
            Self::CameraStream(_) => matches!(model, Adventurer5MPro | Creator5 | Creator5Pro),
            Self::DeviceUnregister | Self::DeviceUpdateDetail => !model.is_creator5(),
            Self::NewLocalJob { .. } => matches!(model, Adventurer5M | Adventurer5MPro),
            Self::SlotConfig { .. } => matches!(model, AD5X | Creator5 | Creator5Pro),
            Self::DirectFeedConfig { .. }
            | Self::Slot { .. }
            | Self::DirectFeed(_)
            | Self::Move { .. }
            | Self::Extrude(_)
            | Self::Home
            | Self::ClearError(_) => model == AD5X,
        }
    }

    fn write_args(&self, o: &mut Obj<'_>, palette: Palette) -> Result<(), UsageError> {
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
                super::upload::check_file_name(file_name)?;
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

/// A material mapping: G-code tool → station slot (http.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialMapping {
    /// 0-based tool index, 0–3.
    pub tool_id: u8,
    /// 1-based slot, 1–4.
    pub slot_id: u8,
    /// Material name, non-empty.
    pub material_name: String,
    /// Colour declared in the G-code.
    pub tool_color: Rgb,
    /// Colour of the filament in the slot.
    pub slot_color: Rgb,
}

/// Check a list of mappings: at most 4, tool 0–3, slot 1–4, no duplicate tool or slot, names
/// non-empty.
pub fn check_mappings(m: &[MaterialMapping]) -> Result<(), UsageError> {
    if m.len() > 4 {
        return Err(UsageError::OutOfRange {
            what: "number of material mappings",
        });
    }
    for (i, a) in m.iter().enumerate() {
        if a.tool_id > 3 {
            return Err(UsageError::OutOfRange { what: "tool id" });
        }
        if !(1..=4).contains(&a.slot_id) {
            return Err(UsageError::OutOfRange { what: "slot id" });
        }
        check_text("material name", &a.material_name, false)?;
        for b in &m[..i] {
            if a.tool_id == b.tool_id {
                return Err(UsageError::Duplicate { what: "tool id" });
            }
            if a.slot_id == b.slot_id {
                return Err(UsageError::Duplicate { what: "slot id" });
            }
        }
    }
    Ok(())
}

/// The compact JSON array of mappings, as ts sends it.
pub fn mappings_json(m: &[MaterialMapping]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + m.len() * 120);
    out.push(b'[');
    for (i, a) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut o = Obj::new(&mut out);
        o.int("toolId", i64::from(a.tool_id))
            .int("slotId", i64::from(a.slot_id))
            .str("materialName", &a.material_name)
            .str("toolMaterialColor", &a.tool_color.to_string())
            .str("slotMaterialColor", &a.slot_color.to_string());
        o.end();
    }
    out.push(b']');
    out
}

/// Which body/header set a printer's `/printGcode` and `/uploadGcode` take (http.md §8, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFormat {
    /// 5M before firmware 3.1.3: file name and leveling only.
    Legacy,
    /// 5M ≥ 3.1.3 (and the generic call): adds flow calibration, `useMatlStation:false`,
    /// `gcodeToolCnt:0`, empty mappings.
    Generic,
    /// AD5X: adds first-layer inspection and time-lapse; mappings for multi-colour.
    Ad5x,
    /// Creator 5 series: time-lapse, mappings only for multi-tool prints.
    Creator5,
}

impl JobFormat {
    /// The format for a model and firmware: AD5X and Creator 5 by model, the 5M by comparing
    /// `firmwareVersion` with 3.1.3 (a Creator 5's `1.9.2` would compare as old, hence the
    /// model first).
    pub fn for_printer(model: Model, firmware: &str) -> Self {
        match model {
            Model::AD5X => Self::Ad5x,
            Model::Creator5 | Model::Creator5Pro => Self::Creator5,
            _ if firmware_at_least(firmware, (3, 1, 3)) => Self::Generic,
            _ => Self::Legacy,
        }
    }

    /// Whether the body can carry material mappings (AD5X, Creator 5).
    pub fn carries_mappings(self) -> bool {
        matches!(self, Self::Ad5x | Self::Creator5)
    }
}

/// Options of a print start (`/printGcode`) or an upload (`/uploadGcode`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobOptions {
    /// Level the bed first (`levelingBeforePrint`).
    pub leveling: bool,
    /// `flowCalibration`.
    pub flow_calibration: bool,
    /// `timeLapseVideo` (AD5X, Creator 5).
    pub time_lapse: bool,
    /// `firstLayerInspection` (AD5X).
    pub first_layer_inspection: bool,
    /// Material mappings (AD5X multi-colour, Creator 5 multi-tool); empty = single material.
    pub mappings: Vec<MaterialMapping>,
}

impl JobOptions {
    pub(crate) fn check(&self, format: JobFormat) -> Result<(), UsageError> {
        check_mappings(&self.mappings)?;
        if !self.mappings.is_empty() && !format.carries_mappings() {
            // The high-level client reports this as `ClientError::Unsupported` before any
            // request is built; here it is a request the format cannot express.
            return Err(UsageError::OutOfRange {
                what: "material mapping count for this job format",
            });
        }
        Ok(())
    }
}

/// One HTTP request to the printer (every endpoint of http.md §2 except the upload, which
/// streams: see [`super::Upload`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// `POST /detail`.
    Detail,
    /// `POST /product`.
    Product,
    /// `POST /control` with the model's palette for colours.
    Control {
        /// The command.
        command: Control,
        /// The printer's model (palette for colours; `Unknown` = AD5X palette).
        model: Model,
    },
    /// `POST /gcodeList`.
    GcodeList,
    /// `POST /gcodeThumb`.
    GcodeThumb {
        /// File name as in the list.
        file_name: String,
    },
    /// `POST /printGcode`.
    PrintGcode {
        /// File name as stored.
        file_name: String,
        /// Body variant.
        format: JobFormat,
        /// Options.
        options: JobOptions,
    },
    /// `POST /checkCode`: validate the credentials.
    CheckCode,
    /// `POST /notifyWanBind`: body `{"serialNumber"}` only.
    NotifyWanBind,
    /// `GET /getThum`: thumbnail of the current job (no credentials).
    GetThum,
    /// `POST /deleteGcode` (emulator only).
    DeleteGcode {
        /// File name.
        file_name: String,
    },
}

/// The HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// Which FIFO a request runs in (protocol/README.md "Serialising requests").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Commands (`/control`, `/product`, `/printGcode`, `/checkCode`, ...): strictly FIFO,
    /// one at a time.
    Command,
    /// Reads (`/detail`, `/gcodeList`, `/gcodeThumb`, `/getThum`): outside the command queue.
    Read,
    /// Uploads: their own connection, never in front of a command.
    Upload,
}

/// How to parse the response body of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `/detail`.
    Detail,
    /// `/product`.
    Product,
    /// `/gcodeList`.
    GcodeList,
    /// `/gcodeThumb`.
    GcodeThumb,
    /// Envelope only.
    Envelope,
    /// A raw image (`/getThum`): BMP or PNG, or a JSON envelope on error.
    Image,
}

impl Request {
    /// The endpoint path.
    pub fn path(&self) -> &'static str {
        match self {
            Self::Detail => "/detail",
            Self::Product => "/product",
            Self::Control { .. } => "/control",
            Self::GcodeList => "/gcodeList",
            Self::GcodeThumb { .. } => "/gcodeThumb",
            Self::PrintGcode { .. } => "/printGcode",
            Self::CheckCode => "/checkCode",
            Self::NotifyWanBind => "/notifyWanBind",
            Self::GetThum => "/getThum",
            Self::DeleteGcode { .. } => "/deleteGcode",
        }
    }

    /// GET for `/getThum`, POST for everything else.
    pub fn method(&self) -> Method {
        if matches!(self, Self::GetThum) {
            Method::Get
        } else {
            Method::Post
        }
    }

    /// Which FIFO the request belongs to.
    pub fn lane(&self) -> Lane {
        match self {
            Self::Detail | Self::GcodeList | Self::GcodeThumb { .. } | Self::GetThum => Lane::Read,
            _ => Lane::Command,
        }
    }

    /// How to parse the reply.
    pub fn response_kind(&self) -> ResponseKind {
        match self {
            Self::Detail => ResponseKind::Detail,
            Self::Product => ResponseKind::Product,
            Self::GcodeList => ResponseKind::GcodeList,
            Self::GcodeThumb { .. } => ResponseKind::GcodeThumb,
            Self::GetThum => ResponseKind::Image,
            _ => ResponseKind::Envelope,
        }
    }

    /// Append the JSON body (empty for GET).
    pub fn write_body(&self, creds: &Credentials, out: &mut Vec<u8>) -> Result<(), UsageError> {
        let start = out.len();
        let r = self.write_body_inner(creds, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn write_body_inner(&self, creds: &Credentials, out: &mut Vec<u8>) -> Result<(), UsageError> {
        if matches!(self, Self::GetThum) {
            return Ok(());
        }
        let mut o = Obj::new(out);
        match self {
            Self::NotifyWanBind => {
                o.str("serialNumber", creds.serial());
            }
            _ => creds.write_json(&mut o),
        }
        match self {
            Self::Control { command, model } => {
                let palette = Palette::for_model(*model);
                o.obj("payload", |p| {
                    p.str("cmd", command.cmd());
                    p.obj("args", |a| command.write_args(a, palette))?;
                    Ok::<_, UsageError>(())
                })?;
            }
            Self::GcodeThumb { file_name } | Self::DeleteGcode { file_name } => {
                super::upload::check_file_name(file_name)?;
                o.str("fileName", file_name);
            }
            Self::PrintGcode {
                file_name,
                format,
                options,
            } => {
                super::upload::check_file_name(file_name)?;
                options.check(*format)?;
                o.str("fileName", file_name)
                    .bool("levelingBeforePrint", options.leveling);
                let n = options.mappings.len() as i64;
                match format {
                    JobFormat::Legacy => {}
                    JobFormat::Generic => {
                        o.bool("flowCalibration", options.flow_calibration)
                            .bool("useMatlStation", false)
                            .int("gcodeToolCnt", 0)
                            .raw("materialMappings", b"[]");
                    }
                    JobFormat::Ad5x => {
                        o.bool("firstLayerInspection", options.first_layer_inspection)
                            .bool("flowCalibration", options.flow_calibration)
                            .bool("timeLapseVideo", options.time_lapse)
                            .bool("useMatlStation", n > 0)
                            .int("gcodeToolCnt", n)
                            .raw("materialMappings", &mappings_json(&options.mappings));
                    }
                    JobFormat::Creator5 => {
                        o.bool("flowCalibration", options.flow_calibration)
                            .bool("timeLapseVideo", options.time_lapse);
                        if n > 0 {
                            o.raw("materialMappings", &mappings_json(&options.mappings));
                        }
                    }
                }
            }
            _ => {}
        }
        o.end();
        Ok(())
    }

    /// Append the whole request (head and body) for `host` (`ip:port`). On error `out` is
    /// unchanged.
    pub fn encode(
        &self,
        host: &str,
        creds: &Credentials,
        out: &mut Vec<u8>,
    ) -> Result<(), UsageError> {
        check_host(host)?;
        let mut body = Vec::with_capacity(256);
        self.write_body(creds, &mut body)?;
        let method = match self.method() {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        out.reserve(160 + body.len());
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path().as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(host.as_bytes());
        if self.method() == Method::Post {
            out.extend_from_slice(
                b"\r\nContent-Type: application/json\r\nAccept: */*\r\nContent-Length: ",
            );
            out.extend_from_slice(body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(&body);
        } else {
            out.extend_from_slice(b"\r\nAccept: */*\r\n\r\n");
        }
        Ok(())
    }
}

/// A `Host` value: `name-or-ip[:port]`, visible ASCII only.
pub(crate) fn check_host(host: &str) -> Result<(), UsageError> {
    if host.is_empty() {
        return Err(UsageError::Empty { what: "host" });
    }
    if host.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(UsageError::LineInjection { what: "host" });
    }
    if host.len() > 255 || !host.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UsageError::OutOfRange { what: "host" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("SNADVA5M00000", "12345678").unwrap()
    }

    #[test]
    fn detail_bytes_exact() {
        let mut out = Vec::new();
        Request::Detail
            .encode("192.168.1.120:8898", &creds(), &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /detail HTTP/1.1\r\nHost: 192.168.1.120:8898\r\nContent-Type: application/json\r\nAccept: */*\r\nContent-Length: 55\r\n\r\n{\"serialNumber\":\"SNADVA5M00000\",\"checkCode\":\"12345678\"}"
        );
    }

    #[test]
    fn credentials_hidden() {
        let c = creds();
        assert!(!format!("{c:?}").contains("12345678"));
        assert!(!format!("{c}").contains("12345678"));
        assert!(Credentials::new("SN\r\nX", "1").is_err());
        assert!(Credentials::new("SN", "").is_err());
    }

    #[test]
    fn partial_settings_send_only_set_fields() {
        let mut out = Vec::new();
        let r = Request::Control {
            command: Control::PrinterSettings(PrinterSettings {
                speed: Some(120),
                ..Default::default()
            }),
            model: Model::Adventurer5M,
        };
        r.write_body(&creds(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["payload"]["args"], serde_json::json!({"speed": 120}));
        let empty = Request::Control {
            command: Control::PrinterSettings(PrinterSettings::default()),
            model: Model::Adventurer5M,
        };
        let mut out = b"keep".to_vec();
        assert!(empty.write_body(&creds(), &mut out).is_err());
        assert_eq!(out, b"keep");
    }

    #[test]
    fn slot_colour_snapped_to_palette() {
        let mut out = Vec::new();
        Request::Control {
            command: Control::SlotConfig {
                slot: 2,
                material: "PLA".into(),
                color: Rgb([255, 0, 0]),
            },
            model: Model::Creator5,
        }
        .write_body(&creds(), &mut out)
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["payload"]["args"],
            serde_json::json!({"slot": 2, "mt": "PLA", "rgb": "#F82D29"})
        );
    }

    #[test]
    fn model_gating() {
        assert!(Control::Home.supported_by(Model::AD5X));
        assert!(!Control::Home.supported_by(Model::Creator5));
        assert!(Control::Job(JobAction::Pause).supported_by(Model::Creator5Pro));
        assert!(!Control::Slot {
            slot: 1,
            action: SlotAction::Load
        }
        .supported_by(Model::Creator5));
    }

    #[test]
    fn mapping_rules() {
        let m = |t, s| MaterialMapping {
            tool_id: t,
            slot_id: s,
            material_name: "PLA".into(),
            tool_color: Rgb::WHITE,
            slot_color: Rgb::WHITE,
        };
        assert!(check_mappings(&[m(0, 1), m(1, 2)]).is_ok());
        assert!(check_mappings(&[m(0, 0)]).is_err());
        assert!(check_mappings(&[m(4, 1)]).is_err());
        assert!(check_mappings(&[m(0, 1), m(0, 2)]).is_err());
        assert!(check_mappings(&[m(0, 1), m(1, 1)]).is_err());
        assert!(check_mappings(&[m(0, 1), m(1, 2), m(2, 3), m(3, 4), m(3, 4)]).is_err());
    }
}
