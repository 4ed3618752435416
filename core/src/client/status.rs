//! The snapshots the client returns, the same shape for every model: [`Status`], [`Temps`],
//! [`Info`], built from `/detail` or from the TCP replies, and their JSON form.

use std::time::Duration;

use crate::gcode::{EndstopStatus, MachineStatus, PrintStatus, PrinterInfo};
use crate::http::{MachineInfo, MachineState, MaterialStation, Temperature};
use crate::Model;

/// Temperatures of every heater the printer reports.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Temps {
    /// Tools in order (T0, T1, ...).
    pub tools: Vec<Temperature>,
    /// The bed.
    pub bed: Option<Temperature>,
    /// The chamber, when it has a sensor.
    pub chamber: Option<Temperature>,
}

/// One status snapshot, the same shape for every model.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Status {
    /// The model.
    pub model: Model,
    /// Machine state.
    pub state: MachineState,
    /// The state as the printer reported it.
    pub state_raw: String,
    /// Job progress 0.0–1.0, when a job reports one.
    pub progress: Option<f64>,
    /// Temperatures.
    pub temperatures: Temps,
    /// Part-cooling fan speed in percent (`/detail.coolingFanSpeed`, 0–100), the unit
    /// [`Op::Fan`](super::Op::Fan) takes. `None` over TCP, which reports no fan speed.
    pub cooling_fan_percent: Option<i64>,
    /// Chamber fan speed in percent (`/detail.chamberFanSpeed`, 0–100).
    pub chamber_fan_percent: Option<i64>,
    /// Speed override percent.
    pub speed_percent: Option<f64>,
    /// Time printed.
    pub elapsed: Option<Duration>,
    /// Estimated time left, only while a job runs or is paused (never for a cancelled or
    /// finished one).
    pub remaining: Option<Duration>,
    /// Current layer.
    pub layer: Option<u32>,
    /// Total layers.
    pub total_layers: Option<u32>,
    /// The file being printed.
    pub file: Option<String>,
    /// LED on.
    pub lights_on: Option<bool>,
    /// Door open (Creator 5 Pro).
    pub door_open: Option<bool>,
    /// Error code, when not empty.
    pub error_code: Option<String>,
    /// Material station.
    pub material_station: Option<MaterialStation>,
}

/// A job action whose effect depends on the printer's state (see [`Status::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobCheck {
    /// Start a stored file: no job may be running or paused.
    Start,
    /// Pause: a job must be running.
    Pause,
    /// Resume: a job must be paused.
    Resume,
    /// Cancel: there must be a job (not idle, completed or cancelled).
    Cancel,
}

impl Status {
    /// Whether `action` can have an effect in this state; [`super::ClientError::Busy`] when it
    /// cannot. The Adventurer 3 acknowledges a start while it prints, or a pause with no job,
    /// and does nothing: a client that trusted the acknowledgement would report a success that
    /// did not happen. A state this crate does not know lets every action through.
    pub fn check(&self, action: JobCheck) -> Result<(), super::ClientError> {
        use MachineState as S;
        let state = &self.state;
        // Only states that rule the action out: over TCP (`~M119`) a job heating up, and one
        // paused while heating, may both read `BUSY`, so `Busy` lets a pause and a resume
        // through (the emulator of the Adventurer 3 and 4 reports `BUSY` right after `~M23`).
        let idle = matches!(state, S::Ready | S::Completed | S::Cancelled | S::Error);
        let why = match action {
            JobCheck::Start => matches!(
                state,
                S::Printing | S::Paused | S::Pausing | S::Heating | S::Busy | S::Calibrating
            )
            .then_some("a job is running or paused"),
            JobCheck::Pause => (idle || matches!(state, S::Paused)).then_some("no job is printing"),
            JobCheck::Resume => {
                (idle || matches!(state, S::Printing)).then_some("no job is paused")
            }
            // An error may hold a job that a cancel ends.
            JobCheck::Cancel => matches!(state, S::Ready | S::Completed | S::Cancelled)
                .then_some("no job to cancel"),
        };
        match why {
            Some(why) => Err(super::ClientError::Busy(format!(
                "{why} (the printer is {})",
                state.name()
            ))),
            None => Ok(()),
        }
    }

    /// The snapshot of a `/detail` reply.
    pub fn from_detail(d: &MachineInfo) -> Self {
        Self::detail_with(
            d,
            DetailOwned {
                status: d.status.clone(),
                file: d.print_file_name.clone(),
                error_code: d.error_code.clone(),
                material_station: d.material_station.clone(),
                tools: d.tools.clone(),
            },
        )
    }

    /// [`Status::from_detail`] of a reply the caller is done with: its strings, tools and
    /// material station move into the snapshot instead of being copied (the client's status
    /// poll).
    pub(super) fn from_detail_owned(mut d: MachineInfo) -> Self {
        let owned = DetailOwned {
            status: std::mem::take(&mut d.status),
            file: std::mem::take(&mut d.print_file_name),
            error_code: std::mem::take(&mut d.error_code),
            material_station: d.material_station.take(),
            tools: std::mem::take(&mut d.tools),
        };
        Self::detail_with(&d, owned)
    }

    fn detail_with(d: &MachineInfo, owned: DetailOwned) -> Self {
        let active = d.state.is_active_job()
            || matches!(d.state, MachineState::Completed | MachineState::Cancelled);
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        Self {
            model: d.model,
            state: d.state.clone(),
            state_raw: owned.status,
            progress: active.then_some(d.progress),
            temperatures: temps_with_tools(d, owned.tools),
            cooling_fan_percent: Some(d.cooling_fan_speed),
            chamber_fan_percent: Some(d.chamber_fan_speed),
            speed_percent: Some(d.speed_adjust),
            elapsed: active.then_some(d.elapsed),
            // `estimatedTime` of a cancelled or completed job is stale, not a time left.
            remaining: d.state.is_active_job().then_some(d.remaining),
            layer: active.then_some(d.layer),
            total_layers: active.then_some(d.total_layers),
            file: nonempty(owned.file),
            lights_on: Some(d.lights_on),
            door_open: d.has_door_sensor().then_some(d.door_open),
            error_code: nonempty(owned.error_code).filter(|c| c != "0"),
            material_station: owned.material_station,
        }
    }

    /// The snapshot of the TCP replies `~M119`, `~M105`, `~M27`.
    pub fn from_tcp(
        model: Model,
        endstop: &EndstopStatus,
        temps: &crate::gcode::Temperatures,
        print: &PrintStatus,
    ) -> Self {
        let raw = endstop.machine_status_raw.clone();
        Self::tcp_with(
            model,
            endstop,
            raw,
            endstop.current_file.clone(),
            temps,
            print,
        )
    }

    /// [`Status::from_tcp`] of an `~M119` reply the caller is done with: the raw state and
    /// the file name move into the snapshot instead of being copied (the client's status poll).
    pub(super) fn from_tcp_owned(
        model: Model,
        mut endstop: EndstopStatus,
        temps: &crate::gcode::Temperatures,
        print: &PrintStatus,
    ) -> Self {
        let raw = endstop.machine_status_raw.take();
        let file = endstop.current_file.take();
        Self::tcp_with(model, &endstop, raw, file, temps, print)
    }

    fn tcp_with(
        model: Model,
        endstop: &EndstopStatus,
        machine_status_raw: Option<String>,
        current_file: Option<String>,
        temps: &crate::gcode::Temperatures,
        print: &PrintStatus,
    ) -> Self {
        let state = match &endstop.machine_status {
            Some(MachineStatus::BuildingFromSd) => {
                if endstop.move_mode == Some(crate::gcode::MoveMode::Paused) {
                    MachineState::Paused
                } else {
                    MachineState::Printing
                }
            }
            Some(MachineStatus::BuildingCompleted) => MachineState::Completed,
            Some(MachineStatus::Paused) => MachineState::Paused,
            Some(MachineStatus::Ready) => MachineState::Ready,
            Some(MachineStatus::Busy) => MachineState::Busy,
            Some(MachineStatus::Unknown(s)) => MachineState::Other(s.clone()),
            None => MachineState::Unknown,
        };
        let active = state.is_active_job() || state == MachineState::Completed;
        let progress = (active && print.sd_total > 0)
            .then(|| (print.sd_current as f64 / print.sd_total as f64).clamp(0.0, 1.0));
        Self {
            model,
            state,
            state_raw: machine_status_raw.unwrap_or_default(),
            progress,
            temperatures: temps_of_tcp(temps),
            layer: active.then_some(print.layer_current).flatten(),
            total_layers: active.then_some(print.layer_total).flatten(),
            file: current_file.filter(|f| !f.is_empty()),
            lights_on: Some(endstop.led_on),
            ..Self::default()
        }
    }
}

/// What [`Status::detail_with`] takes from the reply, copied or moved.
struct DetailOwned {
    status: String,
    file: String,
    error_code: String,
    material_station: Option<MaterialStation>,
    tools: Vec<Temperature>,
}

pub(super) fn temps_of_detail(d: &MachineInfo) -> Temps {
    temps_with_tools(d, d.tools.clone())
}

/// [`temps_of_detail`] of a reply the caller is done with (its tool list moves).
pub(super) fn temps_of_detail_owned(mut d: MachineInfo) -> Temps {
    let tools = std::mem::take(&mut d.tools);
    temps_with_tools(&d, tools)
}

/// The temperatures of `d` whose tool list is `tools` (`d.tools`, copied or moved).
fn temps_with_tools(d: &MachineInfo, tools: Vec<Temperature>) -> Temps {
    let tools = if !tools.is_empty() {
        tools
    } else if d.model == Model::AD5X || d.left_extruder.current.is_none() {
        vec![d.extruder]
    } else {
        vec![d.extruder, d.left_extruder]
    };
    Temps {
        tools,
        bed: Some(d.bed),
        chamber: d.chamber,
    }
}

pub(super) fn temps_of_tcp(t: &crate::gcode::Temperatures) -> Temps {
    // A target of 0 means the heater is off, as `None` does for `/detail`.
    let r = |current: f64, target: Option<f64>| Temperature {
        current: Some(current),
        target: target.filter(|t| *t > 0.0),
    };
    Temps {
        tools: t.tools().iter().map(|x| r(x.current, x.target)).collect(),
        bed: t.bed.map(|b| r(b.current, b.target)),
        chamber: t.chamber.map(|c| r(c.current, c.target)),
    }
}

/// Identity and firmware.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Info {
    /// The model.
    pub model: Model,
    /// The printer's name.
    pub name: String,
    /// Firmware version.
    pub firmware: String,
    /// Serial number: from `~M115`, or for HTTP printers (whose `/detail` has none) the one
    /// the printer accepted with the check code.
    pub serial: Option<String>,
    /// MAC address, when reported.
    pub mac: Option<String>,
    /// IP address as the printer reports it.
    pub ip: Option<String>,
    /// Build volume in mm (x, y, z).
    pub build_volume: Option<(f64, f64, f64)>,
    /// Number of tools. From `/detail`, the tools its temperatures list ([`Temps::tools`]),
    /// so the two always agree: the AD5X has one nozzle (the real printer reports
    /// `nozzleCnt: 1`; the emulator's second, "left" path is not a tool); the raw `nozzleCnt`
    /// stays in [`MachineInfo::nozzle_count`].
    pub tool_count: Option<u32>,
    /// Everything `/detail` reported (HTTP printers).
    pub detail: Option<Box<MachineInfo>>,
}

impl Info {
    pub(super) fn from_detail(d: MachineInfo) -> Self {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            model: d.model,
            name: d.name.clone(),
            firmware: d.firmware_version.clone(),
            serial: None,
            mac: nonempty(&d.mac_address),
            ip: nonempty(&d.ip_address),
            build_volume: d.build_volume.map(|b| (b.x, b.y, b.z)),
            tool_count: u32::try_from(temps_of_detail(&d).tools.len()).ok(),
            detail: Some(Box::new(d)),
        }
    }

    /// Fill in the serial number the client connected with when the reply carried none
    /// (`/detail` never does; the printer checked it against the check code).
    pub fn with_known_serial(mut self, serial: Option<&str>) -> Self {
        if self.serial.is_none() {
            self.serial = serial.filter(|s| !s.is_empty()).map(str::to_owned);
        }
        self
    }

    pub(super) fn from_printer_info(p: PrinterInfo) -> Self {
        Self {
            model: Model::from_machine_type(&p.machine_type),
            name: p.machine_name.unwrap_or_default(),
            firmware: p.firmware,
            serial: p.serial_number,
            mac: p.mac_address,
            ip: None,
            build_volume: p
                .build_volume
                .map(|b| (f64::from(b.x), f64::from(b.y), f64::from(b.z))),
            tool_count: p.tool_count,
            detail: None,
        }
    }
}

#[cfg(feature = "serde")]
mod json {
    use serde::{Serialize, Serializer};
    use serde_json::{json, Value};

    use super::{Info, Status};

    fn secs(d: Option<std::time::Duration>) -> Value {
        d.map_or(Value::Null, |d| json!(d.as_secs()))
    }

    impl Serialize for Status {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let station = self.material_station.as_ref().map(|m| {
                json!({
                    "slot_count": m.slot_count,
                    "current_slot": m.current_slot,
                    "slots": m.slots.iter().map(|x| json!({
                        "slot": x.slot_id,
                        "has_filament": x.has_filament,
                        "material": x.material_name,
                        "color": x.material_color,
                    })).collect::<Vec<_>>(),
                })
            });
            json!({
                "model": self.model,
                "state": self.state.name(),
                "state_raw": self.state_raw,
                "progress": self.progress,
                "temperatures": self.temperatures,
                "cooling_fan_percent": self.cooling_fan_percent,
                "chamber_fan_percent": self.chamber_fan_percent,
                "speed_percent": self.speed_percent,
                "elapsed_s": secs(self.elapsed),
                "remaining_s": secs(self.remaining),
                "layer": self.layer,
                "total_layers": self.total_layers,
                "file": self.file,
                "lights_on": self.lights_on,
                "door_open": self.door_open,
                "error_code": self.error_code,
                "material_station": station,
            })
            .serialize(s)
        }
    }

    impl Serialize for Info {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            json!({
                "model": self.model,
                "name": self.name,
                "firmware": self.firmware,
                "serial": self.serial,
                "mac": self.mac,
                "ip": self.ip,
                "build_volume": self.build_volume,
                "tool_count": self.tool_count,
            })
            .serialize(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_fans_in_percent() {
        let d = detail(r#"{"status":"ready","pid":35,"coolingFanSpeed":50,"chamberFanSpeed":20}"#);
        let st = Status::from_detail(&d);
        assert_eq!(st.cooling_fan_percent, Some(50));
        assert_eq!(st.chamber_fan_percent, Some(20));
        let j = serde_json::to_value(&st).unwrap();
        assert_eq!(j["cooling_fan_percent"], 50);
        assert_eq!(j["chamber_fan_percent"], 20);
        assert!(j.get("cooling_fan").is_none(), "{j}");
        assert!(j.get("chamber_fan").is_none(), "{j}");
    }

    #[test]
    fn no_eta_unless_a_job_runs_or_is_paused() {
        let eta = |status: &str| {
            let d = detail(&format!(
                r#"{{"status":"{status}","pid":35,"estimatedTime":600,"printDuration":60,"printFileName":"a.gx"}}"#
            ));
            Status::from_detail(&d).remaining
        };
        assert_eq!(eta("printing"), Some(Duration::from_secs(600)));
        assert_eq!(eta("paused"), Some(Duration::from_secs(600)));
        assert_eq!(eta("cancel"), None);
        assert_eq!(eta("completed"), None);
        assert_eq!(eta("ready"), None);
    }

    #[test]
    fn ad5x_tool_count_agrees_with_its_temperatures() {
        // The emulator's AD5X: nozzleCnt 2 with a "left" path reading.
        let emu = detail(
            r#"{"status":"ready","pid":38,"nozzleCnt":2,"rightTemp":25,"rightTargetTemp":0,"leftTemp":10,"leftTargetTemp":220,"platTemp":25}"#,
        );
        // The real AD5X: nozzleCnt 1, leftTemp 0.
        let real = detail(
            r#"{"status":"ready","pid":38,"nozzleCnt":1,"rightTemp":25,"leftTemp":0,"platTemp":25}"#,
        );
        for d in [emu, real] {
            let temps = temps_of_detail(&d).tools.len();
            assert_eq!(temps, 1);
            let info = Info::from_detail(d);
            assert_eq!(info.tool_count, Some(1));
        }
        let c5 = detail(
            r#"{"status":"ready","pid":40,"nozzleCnt":4,"nozzleTemps":[25,25,25,25],"nozzleTargetTemps":[0,0,0,0]}"#,
        );
        assert_eq!(temps_of_detail(&c5).tools.len(), 4);
        assert_eq!(Info::from_detail(c5).tool_count, Some(4));
    }

    #[test]
    fn http_info_has_the_serial_the_printer_accepted() {
        let d = detail(r#"{"status":"ready","pid":35,"name":"Shop"}"#);
        let info = Info::from_detail(d).with_known_serial(Some("SNADVA5M00000"));
        assert_eq!(info.serial.as_deref(), Some("SNADVA5M00000"));
        let j = serde_json::to_value(&info).unwrap();
        assert_eq!(j["serial"], "SNADVA5M00000");
        // A serial the printer reported itself wins.
        let mut m115 = info.clone();
        m115.serial = Some("FROM-M115".into());
        let kept = m115.with_known_serial(Some("other"));
        assert_eq!(kept.serial.as_deref(), Some("FROM-M115"));
        assert_eq!(
            Info::from_detail(detail(r#"{"pid":35}"#))
                .with_known_serial(None)
                .serial,
            None
        );
    }

    fn detail(json: &str) -> MachineInfo {
        let body = format!(r#"{{"code":0,"message":"Success","detail":{json}}}"#);
        crate::http::parse_detail(body.as_bytes())
            .unwrap()
            .into_result()
            .unwrap()
    }
}
