//! JSON views of the HTTP models with the field names of the fixtures README (feature `serde`):
//! what `decode` prints and what the manifest tests compare.

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::detail::{format_hhmm, format_total_run_time};
use super::{
    body_of_capture, parse_detail, parse_envelope, parse_gcode_list, parse_gcode_thumb,
    parse_product, ApiReply, Envelope, GcodeFile, MachineInfo, ProductFlags, Temperature,
};
use crate::model::MODELS;

/// The result of [`decode`]: the JSON view and whether the reply means success.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOutcome {
    /// The fixture-vocabulary view (`{"error": …}` when the body could not be parsed).
    pub value: Value,
    /// Success envelope with its payload.
    pub ok: bool,
}

/// Parse `bytes` (a bare JSON body or a whole HTTP response) with the parser named as in the
/// fixtures README (`detail`, `product`, `gcode_list`, `gcode_thumb`, `envelope`). `None` for an
/// unknown parser name.
pub fn decode(parser: &str, bytes: &[u8]) -> Option<DecodeOutcome> {
    let body = match body_of_capture(bytes, &crate::HttpConfig::default()) {
        Ok(b) => b,
        Err(e) => return Some(error(e)),
    };
    Some(match parser {
        "detail" => match parse_detail(&body) {
            Ok(r) => outcome(&r, |i| json!({ "machine_info": i })),
            Err(e) => error(e),
        },
        "product" => match parse_product(&body) {
            Ok(r) => outcome(&r, product_view),
            Err(e) => error(e),
        },
        "gcode_list" => match parse_gcode_list(&body) {
            Ok(r) => {
                let mut o = outcome(&r, |files| json!({ "entries": files }));
                if r.payload.is_none() {
                    o.value["entries"] = json!([]);
                }
                o
            }
            Err(e) => error(e),
        },
        "gcode_thumb" => match parse_gcode_thumb(&body) {
            Ok(r) => {
                let mut o = outcome(&r, |t| json!({ "image": t }));
                if r.payload.is_none() {
                    o.value["image"] = Value::Null;
                }
                o
            }
            Err(e) => error(e),
        },
        "envelope" => match parse_envelope(&body) {
            Ok(r) => outcome(&r, |()| json!({})),
            Err(e) => error(e),
        },
        _ => return None,
    })
}

fn error(e: impl std::fmt::Display) -> DecodeOutcome {
    DecodeOutcome {
        value: json!({ "error": e.to_string() }),
        ok: false,
    }
}

fn outcome<T>(r: &ApiReply<T>, view: impl FnOnce(&T) -> Value) -> DecodeOutcome {
    let mut obj = Map::new();
    obj.insert("envelope".into(), envelope_view(&r.envelope));
    if let Some(t) = &r.envelope.detail_text {
        obj.insert("detail_text".into(), json!(t));
    }
    if let Some(p) = &r.payload {
        if let Value::Object(m) = view(p) {
            obj.extend(m);
        }
    }
    let ok = r.is_ok();
    if let Err(e) = r.envelope.check() {
        obj.insert("error".into(), json!(e.to_string()));
    } else if r.payload.is_none() {
        obj.insert(
            "error".into(),
            json!(super::ApiError::MissingPayload(r.what()).to_string()),
        );
    }
    DecodeOutcome {
        value: Value::Object(obj),
        ok,
    }
}

fn envelope_view(e: &Envelope) -> Value {
    json!({ "code": e.code, "message": e.message, "success": e.is_success() })
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        envelope_view(self).serialize(s)
    }
}

fn temp(t: &Temperature) -> Value {
    json!({ "current": t.current.unwrap_or(0.0), "set": t.target.unwrap_or(0.0) })
}

impl Serialize for Temperature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        temp(self).serialize(s)
    }
}

fn product_view(f: &ProductFlags) -> Value {
    let mut v = json!({
        "flags": {
            "lightCtrlState": f.light,
            "internalFanCtrlState": f.internal_fan,
            "externalFanCtrlState": f.external_fan,
            "chamberTempCtrlState": f.chamber_temp,
            "nozzleTempCtrlState": f.nozzle_temp,
            "platformTempCtrlState": f.platform_temp,
        },
        "capabilities": f.capabilities(),
    });
    for spec in MODELS.iter().filter(|s| s.capabilities.http) {
        v[format!("capabilities_by_model_{}", spec.key)] = json!(f.capabilities_for(spec.model));
    }
    v
}

impl Serialize for ProductFlags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        product_view(self).serialize(s)
    }
}

impl Serialize for GcodeFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!({
            "gcode_file_name": self.name,
            "printing_time": self.printing_time.as_secs(),
            "gcode_tool_cnt": self.tool_count,
            "use_matl_station": self.use_matl_station,
            "total_filament_weight": self.total_filament_weight,
            "tools": self.tools.iter().map(|t| json!({
                "tool_id": t.tool_id,
                "slot_id": t.slot_id,
                "material_name": t.material_name,
                "material_color": t.material_color,
                "filament_weight": t.filament_weight,
            })).collect::<Vec<_>>(),
        })
        .serialize(s)
    }
}

/// The machine-info view: stored fields plus the derived values the references report
/// (`print_eta`, `formatted_total_run_time`, `lifetime_filament`, `est_length`, ...).
impl Serialize for MachineInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let station = self.material_station.as_ref();
        let mut m = Map::new();
        if let Value::Object(part) = json!({
            "name": self.name,
            "model": self.model_name,
            "model_id": self.model.ident(),
            "pid": self.pid,
            "is_pro": self.is_pro(),
            "is_ad5x": self.is_ad5x(),
            "is_creator5": self.is_creator5(),
            "is_creator5_pro": self.is_creator5_pro(),
            "http_only": self.http_only(),
            "machine_state": self.state.name(),
            "status": self.status,
            "error_code": self.error_code,
            "firmware_version": self.firmware_version,
            "firmware_short": self.firmware_short(),
            "ip_address": self.ip_address,
            "mac_address": self.mac_address,
            "location": self.location,
            "build_volume": self.build_volume_raw,
            "nozzle_count": self.nozzle_count,
            "nozzle_size": self.nozzle_size,
            "extruder": temp(&self.extruder),
            "left_extruder": temp(&self.left_extruder),
            "print_bed": temp(&self.bed),
            "chamber": self.chamber.as_ref().map(temp),
            "tool_temps": self.tools.iter().map(temp).collect::<Vec<_>>(),
        }) {
            m.extend(part);
        }
        if let Value::Object(part) = json!({
            "tool_reading_present": self.tools.iter().map(|t| t.current.is_some()).collect::<Vec<_>>(),
            "print_progress": self.progress,
            "print_progress_int": self.progress_percent_truncated(),
            "current_print_layer": self.layer,
            "total_print_layers": self.total_layers,
            "print_duration": self.elapsed.as_secs(),
            "estimated_time": self.remaining.as_secs(),
            "print_eta": format_hhmm(self.remaining),
            "formatted_run_time": format_hhmm(self.elapsed),
            "completion_time_set": self.completion_in().is_some(),
            "cumulative_print_time": self.lifetime_print_time.as_secs() / 60,
            "formatted_total_run_time": format_total_run_time(self.lifetime_print_time),
            "cumulative_filament": self.lifetime_filament_m,
            "lifetime_filament": format!("{:.2}m", self.lifetime_filament_m),
            "est_length": self.filament_used_m(),
            "est_weight": self.filament_used_g(),
            "filament_type": self.filament_type,
            "print_file_name": self.print_file_name,
            "print_file_thumb_url": self.print_file_thumb_url,
            "current_print_speed": self.current_print_speed,
            "print_speed_adjust": self.speed_adjust,
            "fill_amount": self.fill_amount,
            "z_axis_compensation": self.z_offset,
            "cooling_fan_speed": self.cooling_fan_speed,
            "cooling_fan_left_speed": self.cooling_fan_left_speed,
        }) {
            m.extend(part);
        }
        if let Value::Object(part) = json!({
            "chamber_fan_speed": self.chamber_fan_speed,
            "lights_on": self.lights_on,
            "door_open": self.door_open,
            "auto_shutdown": self.auto_shutdown,
            "auto_shutdown_time": self.auto_shutdown_time.as_secs() / 60,
            "external_fan_on": self.external_fan_on,
            "internal_fan_on": self.internal_fan_on,
            "tvoc": self.tvoc,
            "free_disk_space": format!("{:.2}", self.remaining_disk_space),
            "camera_stream_url": self.camera_stream_url,
            "has_camera": self.has_camera(),
            "has_lidar": self.has_lidar(),
            "has_door_sensor": self.has_door_sensor(),
            "has_chamber_sensor": self.has_chamber_sensor(),
            "can_move_axes": self.can_move_axes(),
            "can_extrude": self.can_extrude(),
            "coordinate": self.coordinate,
            "has_matl_station": self.has_matl_station(),
            "raw_has_matl_station": self.raw_has_matl_station,
            "matl_slot_count": station.map_or(0, |s| s.slot_count),
            "matl_current_slot": station.map_or(0, |s| s.current_slot),
            "matl_slots": station.map_or_else(Vec::new, |s| s.slots.iter().map(|sl| json!({
                "slot_id": sl.slot_id,
                "has_filament": sl.has_filament,
                "material_name": sl.material_name,
                "material_color": sl.material_color,
            })).collect()),
            "indep_material_name": self.direct_feed.as_ref().map(|d| d.material_name.clone()),
            "field_problems": self.field_problems,
            "parse_ok": true,
        }) {
            m.extend(part);
        }
        let v = Value::Object(m);
        v.serialize(s)
    }
}
