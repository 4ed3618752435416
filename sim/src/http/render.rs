//! The JSON the printer answers with: the envelope, `/detail`, `/product`, `/gcodeList`, and
//! the body bytes as an HTTP fault shapes them (http.md §3–§5).

use flashforge_proto::Model;
use serde_json::{json, Map, Value};

use crate::faults::HttpFault;
use crate::files::FileMeta;
use crate::printer::{SimPrinter, Status, STANDARD_CAMERA_PORT};

/// The `{code, message}` envelope every JSON answer has.
pub(super) fn envelope(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

/// Code 0, `Success`.
pub(super) fn success() -> Value {
    envelope(0, "Success")
}

fn flag(v: bool) -> &'static str {
    if v {
        "open"
    } else {
        "close"
    }
}

fn status_text(p: &SimPrinter) -> &'static str {
    match p.status {
        Status::Ready => "ready",
        Status::Busy => "busy",
        Status::Heating => "heating",
        Status::Printing => "printing",
        Status::Paused if p.spec.model == Model::Creator5Pro => "pause",
        Status::Paused => "paused",
        Status::Cancelled => "cancel",
        Status::Completed => "completed",
        Status::Error => "error",
    }
}

/// The `/detail` object for the printer's model and state (http.md §3.1).
pub fn render_detail(p: &SimPrinter) -> Value {
    let model = p.spec.model;
    let c5 = model.is_creator5();
    let ad5x = model == Model::AD5X;
    let mut d = Map::new();
    let mut put = |k: &str, v: Value| {
        d.insert(k.to_owned(), v);
    };
    let job = p.job.as_ref();
    let active = p.busy() || matches!(p.status, Status::Completed);
    let progress = job.filter(|_| active).map_or(0.0, |j| j.progress());
    let round1 = |v: f64| (v * 10.0).round() / 10.0;
    put("status", json!(status_text(p)));
    put("name", json!(p.spec.name));
    if c5 {
        put("model", json!(model.name()));
    }
    put("pid", json!(p.spec.product_id()));
    put("firmwareVersion", json!(p.spec.firmware));
    put("ipAddr", json!(p.spec.ip));
    put("macAddr", json!(p.spec.mac));
    put("location", json!("Group A"));
    put(
        "measure",
        json!(if c5 { "256X256X256" } else { "220X220X220" }),
    );
    put("nozzleCnt", json!(if c5 { 4 } else { 1 }));
    put("nozzleModel", json!("0.4mm"));
    put("nozzleStyle", json!(u8::from(!c5 && !ad5x)));
    if c5 {
        let temps: Vec<f64> = p.nozzles.iter().map(|h| round1(h.current)).collect();
        let targets: Vec<f64> = p.nozzles.iter().map(|h| h.target).collect();
        put("nozzleTemps", json!(temps));
        put("nozzleTargetTemps", json!(targets));
        // Legacy alias of tool 0 (one real C5 Pro capture has it, another omits it).
        put("rightTemp", json!(round1(p.nozzles[0].current)));
        put("rightTargetTemp", json!(p.nozzles[0].target));
    } else {
        put("rightTemp", json!(round1(p.nozzles[0].current)));
        put("rightTargetTemp", json!(p.nozzles[0].target));
        let left = p.nozzles.get(1);
        put("leftTemp", json!(left.map_or(0.0, |h| round1(h.current))));
        put("leftTargetTemp", json!(left.map_or(0.0, |h| h.target)));
        put("hasLeftFilament", json!(false));
    }
    put("hasRightFilament", json!(!p.filament_runout));
    put("platTemp", json!(round1(p.bed.current)));
    put("platTargetTemp", json!(p.bed.target));
    match &p.chamber {
        Some(c) => {
            put("chamberTemp", json!(round1(c.current)));
            put("chamberTargetTemp", json!(c.target));
        }
        None => {
            put("chamberTemp", json!(-108));
            put("chamberTargetTemp", json!(-108));
        }
    }
    put("printProgress", json!(progress));
    let printing = matches!(p.status, Status::Printing | Status::Paused);
    put(
        "printLayer",
        json!(job
            .filter(|_| printing || p.status == Status::Completed)
            .map_or(0, |j| j.layer())),
    );
    put(
        "targetPrintLayer",
        json!(job.filter(|_| active).map_or(0, |j| j.layers)),
    );
    put(
        "printDuration",
        json!(job.filter(|_| active).map_or(0, |j| j.elapsed.as_secs())),
    );
    put(
        "estimatedTime",
        json!(job
            .filter(|_| active)
            .map_or(0.0, |j| j.remaining().as_secs() as f64)),
    );
    put(
        "printFileName",
        json!(job.filter(|_| active).map_or("", |j| j.file.as_str())),
    );
    put(
        "printFileThumbUrl",
        json!(if p.busy() {
            format!("http://{}:8898/getThum", p.spec.ip)
        } else {
            String::new()
        }),
    );
    put(
        "currentPrintSpeed",
        json!(if printing { p.speed_adjust } else { 0 }),
    );
    put("printSpeedAdjust", json!(p.speed_adjust));
    put("fillAmount", json!(15));
    put("zAxisCompensation", json!(p.z_offset));
    // The job's filament as its slicer estimated it (the simulator's defaults for a file
    // without metadata).
    let meta = job
        .filter(|_| active)
        .and_then(|j| p.files.get(&j.file))
        .map(|f| &f.meta);
    let len = meta.and_then(|m| m.length_mm()).unwrap_or(5230.0);
    let weight = meta.and_then(|m| m.weight_g()).unwrap_or(15.6);
    let material = meta
        .and_then(|m| m.tools.first())
        .map_or("PLA", |t| t.material.as_str());
    put(
        "estimatedRightLen",
        json!(if active {
            (len * 100.0).round() / 100.0
        } else {
            0.0
        }),
    );
    put("estimatedLeftLen", json!(0.0));
    put(
        "estimatedRightWeight",
        json!(if active {
            (weight * 100.0).round() / 100.0
        } else {
            0.0
        }),
    );
    put("estimatedLeftWeight", json!(0.0));
    put(
        "rightFilamentType",
        json!(if material.is_empty() { "PLA" } else { material }),
    );
    put("leftFilamentType", json!(""));
    put(
        "coolingFanSpeed",
        json!(u32::from(p.cooling_fan) * 100 / 255),
    );
    // Meaningful on the AD5X; the emulator reports it (as 0) on every model.
    put(
        "coolingFanLeftSpeed",
        json!(u32::from(p.cooling_left_fan) * 100 / 255),
    );
    if ad5x {
        put("clearFanStatus", json!("open"));
    }
    put(
        "chamberFanSpeed",
        json!(u32::from(p.chamber_fan) * 100 / 255),
    );
    put("externalFanStatus", json!(flag(p.external_fan)));
    put("internalFanStatus", json!(flag(p.internal_fan)));
    put("lightStatus", json!(flag(p.led)));
    put("doorStatus", json!(flag(p.door_open)));
    put("autoShutdown", json!(flag(p.auto_shutdown)));
    put("autoShutdownTime", json!(p.auto_shutdown_minutes));
    put("errorCode", json!(p.error_code));
    put(
        "tvoc",
        json!(if model == Model::Adventurer5MPro {
            2
        } else {
            0
        }),
    );
    let has_camera = crate::printer::has_camera(model);
    put(
        "cameraStreamUrl",
        json!(if has_camera && p.camera_on {
            let port = p.spec.net.camera_port.unwrap_or(STANDARD_CAMERA_PORT);
            format!("http://{}:{port}/?action=stream", p.spec.ip)
        } else {
            String::new()
        }),
    );
    if ad5x || c5 {
        put("camera", json!(1));
    }
    if c5 {
        put("lidar", json!(1));
    }
    if ad5x {
        put("moveCtrl", json!(1));
        put("extrudeCtrl", json!(1));
        put(
            "coordinate",
            json!([p.position[0], p.position[1], p.position[2]]),
        );
    }
    put("cumulativeFilament", json!(round1(p.cumulative_filament)));
    put(
        "cumulativePrintTime",
        json!((p.cumulative_print_seconds / 60.0) as u64),
    );
    put("remainingDiskSpace", json!(6543.21));
    put("flashRegisterCode", json!(""));
    put("polarRegisterCode", json!(""));
    if ad5x {
        put("hasMatlStation", json!(true));
    }
    if let Some(st) = &p.station {
        let slots: Vec<Value> = st
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"slotId": i + 1, "hasFilament": s.has_filament,
                       "materialName": s.material, "materialColor": s.color})
            })
            .collect();
        put(
            "matlStationInfo",
            json!({"slotCnt": 4, "currentSlot": st.current_slot,
                   "currentLoadSlot": st.current_load_slot, "stateAction": st.state_action,
                   "stateStep": st.state_step, "slotInfos": slots}),
        );
        if ad5x {
            put(
                "indepMatlInfo",
                json!({"materialName": st.indep.material, "materialColor": st.indep.color,
                       "stateAction": 0, "stateStep": 0}),
            );
        }
    }
    Value::Object(d)
}

/// The `/product` flags (http.md §4, with the Creator 5 quirks).
pub fn render_product(model: Model) -> Value {
    let (light, fans, chamber) = match model {
        Model::Adventurer5MPro => (1, 1, 0),
        Model::Creator5 | Model::Creator5Pro => (1, 0, 1),
        _ => (1, 0, 0),
    };
    json!({"chamberTempCtrlState": chamber, "externalFanCtrlState": fans,
           "internalFanCtrlState": fans, "lightCtrlState": light,
           "nozzleTempCtrlState": 1, "platformTempCtrlState": 1})
}

/// The `/gcodeList` answer: the recent files, with per-file detail on the AD5X (http.md §6).
/// A file without slicer metadata reports what the emulator's AD5X does for one: no tools,
/// `printingTime` 0 ("0 when unknown", models.md), weight 0, no material station.
pub(super) fn gcode_list(p: &SimPrinter) -> Value {
    let mut v = success();
    let names: Vec<&String> = p.recent.iter().collect();
    v["gcodeList"] = json!(names);
    if p.spec.model == Model::AD5X {
        let detail: Vec<Value> = p
            .recent
            .iter()
            .filter_map(|n| p.files.get(n).map(|f| (n, f)))
            .map(|(n, f)| gcode_detail(n, &f.meta))
            .collect();
        v["gcodeListDetail"] = json!(detail);
    }
    v
}

/// One `gcodeListDetail` entry.
fn gcode_detail(name: &str, m: &FileMeta) -> Value {
    let tools: Vec<Value> = m
        .tools
        .iter()
        .map(|t| {
            json!({"toolId": t.tool_id, "slotId": t.slot_id, "materialName": t.material,
                   "materialColor": t.color, "filamentWeight": round2(t.weight_g.unwrap_or(0.0))})
        })
        .collect();
    json!({"gcodeFileName": name, "gcodeToolCnt": tools.len(), "gcodeToolDatas": tools,
           "printingTime": m.print_seconds.unwrap_or(0),
           "totalFilamentWeight": round2(m.weight_g().unwrap_or(0.0)),
           "useMatlStation": m.tools.iter().any(|t| t.slot_id > 0) || m.tools.len() > 1})
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The bytes of a JSON answer, as the next HTTP fault (if any) shapes them.
pub(super) fn body(mut value: Value, fault: Option<HttpFault>) -> Vec<u8> {
    match fault {
        Some(HttpFault::NonJson) => b"<html><body>Internal error</body></html>".to_vec(),
        Some(HttpFault::Refuse(code)) => {
            let message = if code == -2 { "" } else { "Refused" };
            serde_json::to_vec(&json!({"code": code, "message": message})).unwrap_or_default()
        }
        Some(HttpFault::WrongTypes) => {
            if let Some(d) = value.get_mut("detail").and_then(Value::as_object_mut) {
                for (_, v) in d.iter_mut() {
                    *v = match v {
                        Value::Number(_) => json!("NaN"),
                        Value::String(_) => json!(12),
                        Value::Bool(_) => json!([]),
                        _ => json!(null),
                    };
                }
            }
            value["code"] = json!("zero");
            serde_json::to_vec(&value).unwrap_or_default()
        }
        _ => serde_json::to_vec(&value).unwrap_or_default(),
    }
}
