//! `POST /detail`: the printer's whole state, with units made explicit (http.md §3, models.md §3).

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;

use super::lenient::{FromWire, Lenient, LenientObj, NumSeq, ObjList, Pid, NUM_SEQ_HEAD};
use super::Secret;
use crate::model::Model;

/// The machine state of `/detail.status` (http.md §3.2), matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MachineState {
    /// `ready`: idle.
    Ready,
    /// `busy` or `downloading`.
    Busy,
    /// `calibrate_doing`.
    Calibrating,
    /// `error` (see `errorCode`).
    Error,
    /// `heating` before a print.
    Heating,
    /// `printing`.
    Printing,
    /// `pausing`.
    Pausing,
    /// `paused`, or the Creator 5 Pro's `pause`.
    Paused,
    /// `cancel`, or the emulator's `cancelled`.
    Cancelled,
    /// `completed`: stays until `stateCtrl_cmd setClearPlatform`.
    Completed,
    /// Absent or empty.
    #[default]
    Unknown,
    /// A value this crate does not know, kept as sent.
    Other(String),
}

impl MachineState {
    /// Map a raw `status` value.
    pub fn from_status(raw: &str) -> Self {
        let t = raw.trim();
        let is = |s: &str| t.eq_ignore_ascii_case(s);
        if t.is_empty() {
            Self::Unknown
        } else if is("ready") {
            Self::Ready
        } else if is("busy") || is("downloading") {
            Self::Busy
        } else if is("calibrate_doing") {
            Self::Calibrating
        } else if is("error") {
            Self::Error
        } else if is("heating") {
            Self::Heating
        } else if is("printing") {
            Self::Printing
        } else if is("pausing") {
            Self::Pausing
        } else if is("paused") || is("pause") {
            Self::Paused
        } else if is("cancel") || is("cancelled") || is("canceled") {
            Self::Cancelled
        } else if is("completed") {
            Self::Completed
        } else {
            Self::Other(t.to_owned())
        }
    }

    /// The name used in the fixture manifests (`Ready`, ..., `Unknown` for anything new).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Busy => "Busy",
            Self::Calibrating => "Calibrating",
            Self::Error => "Error",
            Self::Heating => "Heating",
            Self::Printing => "Printing",
            Self::Pausing => "Pausing",
            Self::Paused => "Paused",
            Self::Cancelled => "Cancelled",
            Self::Completed => "Completed",
            Self::Unknown | Self::Other(_) => "Unknown",
        }
    }

    /// A job is loaded (heating, printing, pausing or paused).
    pub fn is_active_job(&self) -> bool {
        matches!(
            self,
            Self::Heating | Self::Printing | Self::Pausing | Self::Paused
        )
    }
}

/// One heater: the reading and the target, each `None` when absent.
///
/// `current` is `None` when the sensor is not fitted (a reading ≤ −50 °C such as the `-108`
/// sentinel) or the key is missing; `target` is `None` when the heater is off (`0`, `-100`, a
/// sentinel) or unreported.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Temperature {
    /// Current reading, °C.
    pub current: Option<f64>,
    /// Target, °C; `None` = off.
    pub target: Option<f64>,
}

/// Readings at or below this are "no sensor" sentinels (py's rule; the firmware sends −108).
pub(crate) const SENTINEL_BELOW: f64 = -50.0;

fn reading(v: Option<f64>) -> Option<f64> {
    v.filter(|t| *t > SENTINEL_BELOW)
}

fn target(v: Option<f64>) -> Option<f64> {
    v.filter(|t| *t > 0.0)
}

impl Temperature {
    fn from_raw(current: Option<f64>, set: Option<f64>) -> Self {
        Self {
            current: reading(current),
            target: target(set),
        }
    }
}

/// Build volume from `measure` (`220X220X220`), mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildVolume {
    /// X, mm.
    pub x: f64,
    /// Y, mm.
    pub y: f64,
    /// Z, mm.
    pub z: f64,
}

impl BuildVolume {
    /// Parse `220X220X220` (any case, spaces allowed).
    pub fn parse(measure: &str) -> Option<Self> {
        let mut it = measure
            .split(['x', 'X', '*'])
            .map(|p| p.trim().trim_end_matches("mm").parse::<f64>().ok());
        let (x, y, z) = (it.next()??, it.next()??, it.next()??);
        (it.next().is_none() && x.is_finite() && y.is_finite() && z.is_finite()).then_some(Self {
            x,
            y,
            z,
        })
    }
}

/// One slot of a material station (http.md §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slot {
    /// 1-based slot id (0 if the printer did not say).
    pub slot_id: u32,
    /// Filament loaded.
    pub has_filament: bool,
    /// Material name (`PLA`, may be `?`).
    pub material_name: String,
    /// Colour normalised to `#RRGGBB`, or empty.
    pub material_color: String,
}

/// The material station: the AD5X IFS or the Creator 5's four tool heads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MaterialStation {
    /// Number of slots (4).
    pub slot_count: u32,
    /// Active slot, 1-based; 0 = none.
    pub current_slot: u32,
    /// Slot being loaded or unloaded; 0 = none.
    pub current_load_slot: u32,
    /// Raw `stateAction` (docs: 0 idle, 1 load, 2 unload, 3 cancel; the ts notes swap the tables).
    pub state_action: i64,
    /// Raw `stateStep` (docs: 0 idle, 2–3 load, 4–5 unload, 6 complete).
    pub state_step: i64,
    /// The slots as reported.
    pub slots: Vec<Slot>,
}

/// The AD5X direct-feed path ("slot 0").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectFeed {
    /// Material name.
    pub material_name: String,
    /// Colour normalised to `#RRGGBB`, or empty.
    pub material_color: String,
    /// Raw `stateAction`.
    pub state_action: i64,
    /// Raw `stateStep`.
    pub state_step: i64,
}

/// Filament of the current job (right = main path, left = second path).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JobFilament {
    /// `estimatedRightLen`, mm.
    pub right_length_mm: f64,
    /// `estimatedLeftLen`, mm.
    pub left_length_mm: f64,
    /// `estimatedRightWeight`, g.
    pub right_weight_g: f64,
    /// `estimatedLeftWeight`, g.
    pub left_weight_g: f64,
}

/// Normalise a colour: `#RRGGBB` stays, `#RGB` expands, bare `RRGGBB` gains `#` (all upper
/// case); anything else is empty.
pub(crate) fn normalise_color(raw: &str) -> String {
    let t = raw.trim();
    let hex = t.strip_prefix('#').unwrap_or(t);
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return String::new();
    }
    match hex.len() {
        6 => {
            let mut s = String::with_capacity(7);
            s.push('#');
            s.extend(hex.chars().map(|c| c.to_ascii_uppercase()));
            s
        }
        3 if t.starts_with('#') => {
            let mut s = String::with_capacity(7);
            s.push('#');
            for c in hex.chars() {
                let c = c.to_ascii_uppercase();
                s.push(c);
                s.push(c);
            }
            s
        }
        _ => String::new(),
    }
}

/// A parsed `/detail` object: every documented key, typed, with units made explicit.
///
/// Missing keys take the defaults of models.md §3; a value of the wrong JSON type is treated as
/// missing and its key is listed in [`MachineInfo::field_problems`]; nothing fails the whole
/// object. `Debug` hides the cloud registration codes.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct MachineInfo {
    /// User-editable printer name.
    pub name: String,
    /// Detected model: pid, then `model`, then name heuristics.
    pub model: Model,
    /// Display model: `detail.model`, else the pid's name, else `name`.
    pub model_name: String,
    /// `pid` as sent (a hex string is decoded).
    pub pid: Option<i64>,
    /// `firmwareVersion` (`3.2.7`, `1.1.7-1.0.2`).
    pub firmware_version: String,
    /// `ipAddr`.
    pub ip_address: String,
    /// `macAddr`.
    pub mac_address: String,
    /// `location` group label.
    pub location: String,
    /// The mapped state.
    pub state: MachineState,
    /// `status` as sent.
    pub status: String,
    /// `errorCode` (`""` or `E0109`).
    pub error_code: String,
    /// `measure` as sent (`220X220X220`).
    pub build_volume_raw: String,
    /// `measure` parsed.
    pub build_volume: Option<BuildVolume>,
    /// `nozzleCnt` (defaults to the number of tools).
    pub nozzle_count: u32,
    /// `nozzleModel` (`0.4mm`).
    pub nozzle_size: String,
    /// `nozzleStyle` (undocumented).
    pub nozzle_style: Option<i64>,
    /// Main (right) nozzle: `rightTemp` / `rightTargetTemp`.
    pub extruder: Temperature,
    /// Second (left) path: `leftTemp` / `leftTargetTemp`.
    pub left_extruder: Temperature,
    /// Bed: `platTemp` / `platTargetTemp`.
    pub bed: Temperature,
    /// Chamber, `None` when not reported or a sentinel.
    pub chamber: Option<Temperature>,
    /// Per-tool temperatures: `nozzleTemps[i]`/`nozzleTargetTemps[i]`, else one entry = extruder.
    pub tools: Vec<Temperature>,
    /// Whether `nozzleTemps` was a non-empty array (Creator 5 series).
    pub nozzle_temps_reported: bool,
    /// Job progress as a fraction 0.0–1.0 (as sent; may be out of range on odd firmware).
    pub progress: f64,
    /// `printLayer`.
    pub layer: u32,
    /// `targetPrintLayer`.
    pub total_layers: u32,
    /// `printDuration` (seconds on the wire).
    pub elapsed: Duration,
    /// `estimatedTime` (seconds on the wire); counts down only while printing.
    pub remaining: Duration,
    /// `printFileName` (`""` when idle).
    pub print_file_name: String,
    /// `printFileThumbUrl`.
    pub print_file_thumb_url: String,
    /// `currentPrintSpeed` (unit not established).
    pub current_print_speed: i64,
    /// `printSpeedAdjust`, percent.
    pub speed_adjust: f64,
    /// `fillAmount`.
    pub fill_amount: f64,
    /// `zAxisCompensation`, mm.
    pub z_offset: f64,
    /// Filament of the current job.
    pub job_filament: JobFilament,
    /// `rightFilamentType`.
    pub filament_type: String,
    /// `leftFilamentType`.
    pub left_filament_type: String,
    /// `hasRightFilament` (AD5X).
    pub has_right_filament: Option<bool>,
    /// `hasLeftFilament` (AD5X).
    pub has_left_filament: Option<bool>,
    /// `coolingFanSpeed`.
    pub cooling_fan_speed: i64,
    /// `coolingFanLeftSpeed` (AD5X).
    pub cooling_fan_left_speed: Option<i64>,
    /// `chamberFanSpeed`.
    pub chamber_fan_speed: i64,
    /// `externalFanStatus == "open"`.
    pub external_fan_on: bool,
    /// `internalFanStatus == "open"`.
    pub internal_fan_on: bool,
    /// `clearFanStatus == "open"` (AD5X).
    pub clear_fan_on: Option<bool>,
    /// `lightStatus == "open"`.
    pub lights_on: bool,
    /// `doorStatus == "open"` (a real sensor only on the Creator 5 Pro).
    pub door_open: bool,
    /// `autoShutdown == "open"`.
    pub auto_shutdown: bool,
    /// `autoShutdownTime` (minutes on the wire).
    pub auto_shutdown_time: Duration,
    /// `tvoc` air quality.
    pub tvoc: f64,
    /// `cameraStreamUrl` (`""` if none).
    pub camera_stream_url: String,
    /// `camera` flag (1 = present).
    pub camera: Option<i64>,
    /// `lidar` flag (1 = present).
    pub lidar: Option<i64>,
    /// `moveCtrl` (AD5X: 1 = jog supported).
    pub move_ctrl: Option<i64>,
    /// `extrudeCtrl` (AD5X: 1 = extrude supported).
    pub extrude_ctrl: Option<i64>,
    /// `coordinate` XYZ (AD5X).
    pub coordinate: Option<[f64; 3]>,
    /// `cumulativeFilament`, metres.
    pub lifetime_filament_m: f64,
    /// `cumulativePrintTime` (minutes on the wire).
    pub lifetime_print_time: Duration,
    /// `remainingDiskSpace` (unit not established).
    pub remaining_disk_space: f64,
    /// `flashRegisterCode` (hidden from `Debug`).
    pub flash_register_code: Secret,
    /// `polarRegisterCode` (hidden from `Debug`).
    pub polar_register_code: Secret,
    /// `hasMatlStation` untouched (`true`/`1`), `None` when absent.
    pub raw_has_matl_station: Option<bool>,
    /// `matlStationInfo`.
    pub material_station: Option<MaterialStation>,
    /// `indepMatlInfo` (AD5X direct path).
    pub direct_feed: Option<DirectFeed>,
    /// Keys whose values had a JSON type that cannot mean what the spec says (treated as absent).
    pub field_problems: Vec<&'static str>,
}

impl MachineInfo {
    /// Adventurer 5M Pro (not the Creator 5 Pro).
    pub fn is_pro(&self) -> bool {
        self.model == Model::Adventurer5MPro
    }
    /// AD5X.
    pub fn is_ad5x(&self) -> bool {
        self.model == Model::AD5X
    }
    /// Creator 5 or Creator 5 Pro.
    pub fn is_creator5(&self) -> bool {
        self.model.is_creator5()
    }
    /// Creator 5 Pro.
    pub fn is_creator5_pro(&self) -> bool {
        self.model == Model::Creator5Pro
    }
    /// No TCP channel (Creator 5 series).
    pub fn http_only(&self) -> bool {
        self.is_creator5()
    }
    /// A material station: `hasMatlStation` true/1, `slotCnt > 0` or any slot.
    pub fn has_matl_station(&self) -> bool {
        self.raw_has_matl_station == Some(true)
            || self
                .material_station
                .as_ref()
                .is_some_and(|s| s.slot_count > 0 || !s.slots.is_empty())
    }
    /// `camera == 1` or a non-empty stream URL.
    pub fn has_camera(&self) -> bool {
        self.camera == Some(1) || !self.camera_stream_url.is_empty()
    }
    /// `lidar == 1`.
    pub fn has_lidar(&self) -> bool {
        self.lidar == Some(1)
    }
    /// A real door sensor (Creator 5 Pro).
    pub fn has_door_sensor(&self) -> bool {
        self.is_creator5_pro()
    }
    /// A chamber reading that is not a sentinel.
    pub fn has_chamber_sensor(&self) -> bool {
        self.chamber.is_some()
    }
    /// `moveCtrl == 1`.
    pub fn can_move_axes(&self) -> bool {
        self.move_ctrl == Some(1)
    }
    /// `extrudeCtrl == 1`.
    pub fn can_extrude(&self) -> bool {
        self.extrude_ctrl == Some(1)
    }
    /// Firmware before the first `-` (`1.1.7-1.0.2` → `1.1.7`).
    pub fn firmware_short(&self) -> &str {
        self.firmware_version.split('-').next().unwrap_or_default()
    }
    /// Progress in percent, rounded to nearest and clamped to 0..=100 (`0.29` → 29).
    pub fn progress_percent(&self) -> u8 {
        (self.progress * 100.0).round().clamp(0.0, 100.0) as u8
    }
    /// Progress as the references report it: `int(p × 100)` clamped (`0.29` → 28).
    pub fn progress_percent_truncated(&self) -> u8 {
        (self.progress * 100.0).floor().clamp(0.0, 100.0) as u8
    }
    /// Time to completion, only while printing (`estimatedTime` is frozen otherwise).
    pub fn completion_in(&self) -> Option<Duration> {
        (self.state == MachineState::Printing).then_some(self.remaining)
    }
    /// Filament used so far, metres: `estimatedRightLen / 1000 × progress`.
    pub fn filament_used_m(&self) -> f64 {
        self.job_filament.right_length_mm / 1000.0 * self.progress
    }
    /// Filament used so far, grams: `estimatedRightWeight × progress`.
    pub fn filament_used_g(&self) -> f64 {
        self.job_filament.right_weight_g * self.progress
    }
}

#[cfg(feature = "serde")]
/// `HH:MM` as the references format it (3600 s → `01:00`).
pub(crate) fn format_hhmm(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

#[cfg(feature = "serde")]
/// `{h}h:{m}m` without padding (1200 min → `20h:0m`).
pub(crate) fn format_total_run_time(d: Duration) -> String {
    let m = d.as_secs() / 60;
    format!("{}h:{}m", m / 60, m % 60)
}

// ------------------------------------------------------------------------------------------
// Wire structs

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct DetailWire<'a> {
    #[serde(borrow)]
    status: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    name: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    model: Lenient<Cow<'a, str>>,
    pid: Lenient<Pid>,
    #[serde(borrow)]
    firmware_version: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    ip_addr: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    mac_addr: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    location: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    measure: Lenient<Cow<'a, str>>,
    nozzle_cnt: Lenient<i64>,
    #[serde(borrow)]
    nozzle_model: Lenient<Cow<'a, str>>,
    nozzle_style: Lenient<i64>,
    right_temp: Lenient<f64>,
    right_target_temp: Lenient<f64>,
    left_temp: Lenient<f64>,
    left_target_temp: Lenient<f64>,
    nozzle_temps: NumSeq,
    nozzle_target_temps: NumSeq,
    plat_temp: Lenient<f64>,
    plat_target_temp: Lenient<f64>,
    chamber_temp: Lenient<f64>,
    chamber_target_temp: Lenient<f64>,
    print_progress: Lenient<f64>,
    print_layer: Lenient<i64>,
    target_print_layer: Lenient<i64>,
    print_duration: Lenient<f64>,
    estimated_time: Lenient<f64>,
    #[serde(borrow)]
    print_file_name: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    print_file_thumb_url: Lenient<Cow<'a, str>>,
    current_print_speed: Lenient<i64>,
    print_speed_adjust: Lenient<f64>,
    fill_amount: Lenient<f64>,
    z_axis_compensation: Lenient<f64>,
    estimated_right_len: Lenient<f64>,
    estimated_left_len: Lenient<f64>,
    estimated_right_weight: Lenient<f64>,
    estimated_left_weight: Lenient<f64>,
    #[serde(borrow)]
    right_filament_type: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    left_filament_type: Lenient<Cow<'a, str>>,
    has_right_filament: Lenient<bool>,
    has_left_filament: Lenient<bool>,
    cooling_fan_speed: Lenient<i64>,
    cooling_fan_left_speed: Lenient<i64>,
    chamber_fan_speed: Lenient<i64>,
    #[serde(borrow)]
    external_fan_status: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    internal_fan_status: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    clear_fan_status: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    light_status: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    door_status: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    auto_shutdown: Lenient<Cow<'a, str>>,
    auto_shutdown_time: Lenient<f64>,
    #[serde(borrow)]
    error_code: Lenient<Cow<'a, str>>,
    tvoc: Lenient<f64>,
    #[serde(borrow)]
    camera_stream_url: Lenient<Cow<'a, str>>,
    camera: Lenient<i64>,
    lidar: Lenient<i64>,
    move_ctrl: Lenient<i64>,
    extrude_ctrl: Lenient<i64>,
    coordinate: NumSeq,
    cumulative_filament: Lenient<f64>,
    cumulative_print_time: Lenient<f64>,
    remaining_disk_space: Lenient<f64>,
    #[serde(borrow)]
    flash_register_code: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    polar_register_code: Lenient<Cow<'a, str>>,
    has_matl_station: Lenient<bool>,
    matl_station_info: LenientObj<StationWire>,
    #[serde(borrow)]
    indep_matl_info: LenientObj<IndepWire<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct StationWire {
    slot_cnt: Lenient<i64>,
    current_slot: Lenient<i64>,
    current_load_slot: Lenient<i64>,
    state_action: Lenient<i64>,
    state_step: Lenient<i64>,
    slot_infos: ObjList<Slot>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SlotWire<'a> {
    slot_id: Lenient<i64>,
    has_filament: Lenient<bool>,
    #[serde(borrow)]
    material_name: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    material_color: Lenient<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct IndepWire<'a> {
    #[serde(borrow)]
    material_name: Lenient<Cow<'a, str>>,
    #[serde(borrow)]
    material_color: Lenient<Cow<'a, str>>,
    state_action: Lenient<i64>,
    state_step: Lenient<i64>,
}

impl<'de> FromWire<'de> for Slot {
    type Wire = SlotWire<'de>;
    fn from_wire(w: SlotWire<'de>) -> Self {
        Self {
            slot_id: count(w.slot_id.get()),
            has_filament: w.has_filament.get().unwrap_or(false),
            material_name: owned(w.material_name),
            material_color: color(w.material_color),
        }
    }
}

/// The text of a string field (empty when absent or unusable).
fn owned(v: Lenient<Cow<'_, str>>) -> String {
    v.get().map(Cow::into_owned).unwrap_or_default()
}

/// A colour field, normalised (empty when absent or unusable).
fn color(v: Lenient<Cow<'_, str>>) -> String {
    v.as_ref().map(|c| normalise_color(c)).unwrap_or_default()
}

fn count(v: Option<i64>) -> u32 {
    v.map_or(0, |v| v.clamp(0, i64::from(u32::MAX)) as u32)
}

fn seconds(v: Option<f64>) -> Duration {
    v.filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::ZERO, |s| Duration::from_secs_f64(s.min(1e12)))
}

fn is_open(v: Lenient<Cow<'_, str>>) -> bool {
    v.as_ref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("open"))
}

impl DetailWire<'_> {
    pub(crate) fn into_info(self) -> MachineInfo {
        let mut problems: Vec<&'static str> = Vec::new();
        macro_rules! take {
            ($field:ident, $key:literal) => {{
                if self.$field.is_invalid() {
                    problems.push($key);
                }
                self.$field.get()
            }};
        }
        macro_rules! seq {
            ($field:ident, $key:literal) => {{
                if self.$field.state.is_invalid() {
                    problems.push($key);
                }
                self.$field.state.as_ref().map(|()| &self.$field)
            }};
        }
        macro_rules! text {
            ($field:ident, $key:literal) => {
                take!($field, $key).map(Cow::into_owned).unwrap_or_default()
            };
        }

        let name = text!(name, "name");
        let model_raw = text!(model, "model");
        let pid = take!(pid, "pid").map(|p| p.0);
        let raw_has_matl_station = take!(has_matl_station, "hasMatlStation");

        let material_station = match self.matl_station_info {
            LenientObj::Value(s) => Some(MaterialStation {
                slot_count: count(s.slot_cnt.get()),
                current_slot: count(s.current_slot.get()),
                current_load_slot: count(s.current_load_slot.get()),
                state_action: s.state_action.get().unwrap_or(0),
                state_step: s.state_step.get().unwrap_or(0),
                slots: s.slot_infos.0,
            }),
            LenientObj::Invalid | LenientObj::Text(_) => {
                problems.push("matlStationInfo");
                None
            }
            _ => None,
        };
        let direct_feed = match self.indep_matl_info {
            LenientObj::Value(w) => Some(DirectFeed {
                material_name: owned(w.material_name),
                material_color: color(w.material_color),
                state_action: w.state_action.get().unwrap_or(0),
                state_step: w.state_step.get().unwrap_or(0),
            }),
            LenientObj::Invalid | LenientObj::Text(_) => {
                problems.push("indepMatlInfo");
                None
            }
            _ => None,
        };
        let station_reported = raw_has_matl_station == Some(true)
            || material_station
                .as_ref()
                .is_some_and(|s| s.slot_count > 0 || !s.slots.is_empty());

        // Identity: pid, then model, then name heuristics.
        let mut model = pid.map_or(Model::Unknown, Model::from_pid);
        if !model.is_http() {
            model = Model::from_model_name(&model_raw);
        }
        if !model.is_http() {
            model = Model::from_name_heuristic(&name, station_reported);
        }
        let model_name = if !model_raw.is_empty() {
            model_raw
        } else if let Some(m) = pid.map(Model::from_pid).filter(|m| m.is_http()) {
            m.name().to_owned()
        } else {
            name.clone()
        };

        let extruder = Temperature::from_raw(
            take!(right_temp, "rightTemp"),
            take!(right_target_temp, "rightTargetTemp"),
        );
        let nozzle_temps = seq!(nozzle_temps, "nozzleTemps");
        let nozzle_targets = seq!(nozzle_target_temps, "nozzleTargetTemps");
        let nozzle_temps_reported = nozzle_temps.is_some_and(|t| t.len > 0);
        let tools: Vec<Temperature> = if let Some(temps) = nozzle_temps.filter(|t| t.len > 0) {
            (0..temps.len.min(NUM_SEQ_HEAD))
                .map(|i| {
                    let t = nozzle_targets.and_then(|t| t.get(i));
                    Temperature::from_raw(temps.get(i), t)
                })
                .collect()
        } else {
            vec![extruder]
        };
        let chamber_current = reading(take!(chamber_temp, "chamberTemp"));
        let chamber_target = take!(chamber_target_temp, "chamberTargetTemp");
        let chamber = chamber_current.map(|c| Temperature {
            current: Some(c),
            target: target(chamber_target),
        });
        let coordinate = seq!(coordinate, "coordinate").and_then(NumSeq::first_three);
        let measure = text!(measure, "measure");
        let nozzle_count =
            take!(nozzle_cnt, "nozzleCnt").map_or(tools.len() as u32, |n| count(Some(n)));
        let status = text!(status, "status");

        MachineInfo {
            name,
            state: MachineState::from_status(&status),
            status,
            model,
            model_name,
            pid,
            firmware_version: text!(firmware_version, "firmwareVersion"),
            ip_address: text!(ip_addr, "ipAddr"),
            mac_address: text!(mac_addr, "macAddr"),
            location: text!(location, "location"),
            error_code: text!(error_code, "errorCode"),
            build_volume: BuildVolume::parse(&measure),
            build_volume_raw: measure,
            nozzle_count,
            nozzle_size: text!(nozzle_model, "nozzleModel"),
            nozzle_style: take!(nozzle_style, "nozzleStyle"),
            extruder,
            left_extruder: Temperature::from_raw(
                take!(left_temp, "leftTemp"),
                take!(left_target_temp, "leftTargetTemp"),
            ),
            bed: Temperature::from_raw(
                take!(plat_temp, "platTemp"),
                take!(plat_target_temp, "platTargetTemp"),
            ),
            chamber,
            tools,
            nozzle_temps_reported,
            progress: take!(print_progress, "printProgress").unwrap_or(0.0),
            layer: count(take!(print_layer, "printLayer")),
            total_layers: count(take!(target_print_layer, "targetPrintLayer")),
            elapsed: seconds(take!(print_duration, "printDuration")),
            remaining: seconds(take!(estimated_time, "estimatedTime")),
            print_file_name: text!(print_file_name, "printFileName"),
            print_file_thumb_url: text!(print_file_thumb_url, "printFileThumbUrl"),
            current_print_speed: take!(current_print_speed, "currentPrintSpeed").unwrap_or(0),
            speed_adjust: take!(print_speed_adjust, "printSpeedAdjust").unwrap_or(0.0),
            fill_amount: take!(fill_amount, "fillAmount").unwrap_or(0.0),
            z_offset: take!(z_axis_compensation, "zAxisCompensation").unwrap_or(0.0),
            job_filament: JobFilament {
                right_length_mm: take!(estimated_right_len, "estimatedRightLen").unwrap_or(0.0),
                left_length_mm: take!(estimated_left_len, "estimatedLeftLen").unwrap_or(0.0),
                right_weight_g: take!(estimated_right_weight, "estimatedRightWeight")
                    .unwrap_or(0.0),
                left_weight_g: take!(estimated_left_weight, "estimatedLeftWeight").unwrap_or(0.0),
            },
            filament_type: text!(right_filament_type, "rightFilamentType"),
            left_filament_type: text!(left_filament_type, "leftFilamentType"),
            has_right_filament: take!(has_right_filament, "hasRightFilament"),
            has_left_filament: take!(has_left_filament, "hasLeftFilament"),
            cooling_fan_speed: take!(cooling_fan_speed, "coolingFanSpeed").unwrap_or(0),
            cooling_fan_left_speed: take!(cooling_fan_left_speed, "coolingFanLeftSpeed"),
            chamber_fan_speed: take!(chamber_fan_speed, "chamberFanSpeed").unwrap_or(0),
            clear_fan_on: self
                .clear_fan_status
                .is_present()
                .then(|| is_open(self.clear_fan_status)),
            external_fan_on: is_open(self.external_fan_status),
            internal_fan_on: is_open(self.internal_fan_status),
            lights_on: is_open(self.light_status),
            door_open: is_open(self.door_status),
            auto_shutdown: is_open(self.auto_shutdown),
            auto_shutdown_time: seconds(
                take!(auto_shutdown_time, "autoShutdownTime").map(|m| m * 60.0),
            ),
            tvoc: take!(tvoc, "tvoc").unwrap_or(0.0),
            camera_stream_url: text!(camera_stream_url, "cameraStreamUrl"),
            camera: take!(camera, "camera"),
            lidar: take!(lidar, "lidar"),
            move_ctrl: take!(move_ctrl, "moveCtrl"),
            extrude_ctrl: take!(extrude_ctrl, "extrudeCtrl"),
            coordinate,
            lifetime_filament_m: take!(cumulative_filament, "cumulativeFilament").unwrap_or(0.0),
            lifetime_print_time: seconds(
                take!(cumulative_print_time, "cumulativePrintTime").map(|m| m * 60.0),
            ),
            remaining_disk_space: take!(remaining_disk_space, "remainingDiskSpace").unwrap_or(0.0),
            flash_register_code: Secret(text!(flash_register_code, "flashRegisterCode")),
            polar_register_code: Secret(text!(polar_register_code, "polarRegisterCode")),
            raw_has_matl_station,
            material_station,
            direct_feed,
            field_problems: problems,
        }
    }
}
