//! What each path does: authorisation, the job and control commands, the upload's options,
//! answered as `protocol/http.md` says each model does.

use flashforge_proto::printer::{base64_decode, base64_encode};
use flashforge_proto::Model;
use serde_json::{json, Value};

use super::multipart::Multipart;
use super::render::{envelope, gcode_list, render_detail, render_product, success};
use super::wire::Head;
use crate::printer::{SimPrinter, StartError, Status};

/// The credentials in a JSON body are the printer's.
fn authorized(p: &SimPrinter, body: &Value) -> bool {
    body.get("serialNumber").and_then(Value::as_str) == Some(p.spec.serial.as_str())
        && body.get("checkCode").and_then(Value::as_str) == Some(p.spec.check_code.as_str())
}

/// The answer to a POST of a JSON body to `path`; `None` for the firmware's 404.
pub(super) fn route(p: &mut SimPrinter, path: &str, body: &[u8]) -> Option<Value> {
    let known = matches!(
        path,
        "/detail"
            | "/product"
            | "/control"
            | "/gcodeList"
            | "/gcodeThumb"
            | "/printGcode"
            | "/checkCode"
            | "/notifyWanBind"
            | "/deleteGcode"
    );
    if !known {
        return None;
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Some(envelope(2, "Invalid parameter"));
    };
    if path == "/notifyWanBind" {
        return Some(success());
    }
    if !authorized(p, &body) {
        return Some(envelope(3, "Unauthorized"));
    }
    Some(match path {
        "/detail" => {
            let mut v = success();
            v["detail"] = render_detail(p);
            v
        }
        "/product" => {
            let mut v = success();
            v["product"] = render_product(p.spec.model);
            v
        }
        "/control" => control(p, &body),
        "/gcodeList" => gcode_list(p),
        "/gcodeThumb" => match body.get("fileName").and_then(Value::as_str) {
            None => envelope(2, "Invalid parameter"),
            Some(name) => match p.files.get(name) {
                None => envelope(4, "Not found"),
                Some(f) => {
                    let mut v = success();
                    v["imageData"] = Value::String(base64_encode(f.thumbnail_or_default()));
                    v
                }
            },
        },
        "/printGcode" => print_gcode(p, &body),
        "/deleteGcode" if !p.spec.model.is_creator5() => {
            match body.get("fileName").and_then(Value::as_str) {
                Some(name) if p.delete_file(name) => success(),
                Some(_) => envelope(4, "Not found"),
                None => envelope(2, "Invalid parameter"),
            }
        }
        "/deleteGcode" => return None,
        _ => success(), // /checkCode
    })
}

/// An `/uploadGcode` being received: the form's file part and the job options in the
/// request's headers.
#[derive(Debug)]
pub(super) struct Upload {
    rx: Multipart,
    declared: Option<u64>,
    print_now: bool,
    leveling: bool,
    mappings_ok: bool,
    /// `(toolId, slotId)` of the upload's `materialMappings` (AD5X).
    slots: Vec<(u64, u64)>,
}

impl Upload {
    /// Checks the headers of an `/uploadGcode`; `Err` is the answer to send at once (the body
    /// is not read).
    pub(super) fn accept(p: &SimPrinter, head: &Head<'_, '_>) -> Result<Self, Value> {
        let ok_auth = head.header("serialNumber") == Some(p.spec.serial.as_str())
            && head.header("checkCode") == Some(p.spec.check_code.as_str());
        if !ok_auth {
            return Err(envelope(3, "Unauthorized"));
        }
        let Some(boundary) = Multipart::boundary(head.header("content-type").unwrap_or("")) else {
            return Err(envelope(2, "Invalid parameter"));
        };
        let truthy = |name| head.header(name).is_some_and(|v| v == "true" || v == "1");
        let mut mappings_ok = true;
        let mut slots = Vec::new();
        if let Some(m) = head.header("materialMappings") {
            let v = base64_decode(m.as_bytes())
                .ok()
                .and_then(|j| serde_json::from_slice::<Value>(&j).ok());
            mappings_ok = v.as_ref().is_some_and(|v| check_mappings(v).is_ok());
            if let (true, Some(Value::Array(list))) = (mappings_ok, v) {
                slots = list
                    .iter()
                    .filter_map(|m| Some((m["toolId"].as_u64()?, m["slotId"].as_u64()?)))
                    .collect();
            }
        }
        Ok(Self {
            rx: Multipart::new(&boundary, p.spec.keep_file_bytes),
            declared: head.header("fileSize").and_then(|v| v.parse().ok()),
            print_now: truthy("printNow"),
            leveling: truthy("levelingBeforePrint"),
            mappings_ok,
            slots,
        })
    }

    /// Body bytes.
    pub(super) fn feed(&mut self, data: &[u8]) {
        self.rx.feed(data);
    }

    /// The body is complete: store the file (and start it with `printNow`).
    pub(super) fn finish(self, p: &mut SimPrinter) -> Value {
        let Some(sink) = self.rx.finish() else {
            return envelope(2, "Invalid parameter");
        };
        if self.declared.is_some_and(|d| d != sink.size()) {
            return envelope(1, "Error");
        }
        if !self.mappings_ok {
            return envelope(
                if p.spec.model.is_creator5() { -1 } else { 2 },
                "Invalid parameter",
            );
        }
        let name = sink.name().to_owned();
        sink.finish(p);
        // The material station slot each tool was mapped to (`gcodeListDetail[].slotId`).
        if let Some(f) = p.files.get_mut(&name) {
            for t in f.meta.tools.iter_mut() {
                if let Some(&(_, slot)) = self
                    .slots
                    .iter()
                    .find(|(tool, _)| *tool == u64::from(t.tool_id))
                {
                    t.slot_id = slot as u8;
                }
            }
        }
        if self.print_now {
            if let Err(e) = p.start_job(&name, self.leveling) {
                return start_error(p, e);
            }
        }
        success()
    }
}

/// `GET /getThum`: the running job's thumbnail (the firmware's default image for a file
/// without one), if a job runs.
pub(super) fn job_thumbnail(p: &SimPrinter) -> Option<&[u8]> {
    p.job
        .as_ref()
        .filter(|_| p.busy())
        .and_then(|j| p.files.get(&j.file))
        .map(|f| f.thumbnail_or_default())
}

fn start_error(p: &SimPrinter, e: StartError) -> Value {
    match e {
        StartError::NotFound => envelope(4, "Not found"),
        StartError::Busy if p.spec.model.is_creator5() => envelope(2, "Printer is busy"),
        StartError::Busy => envelope(5, "Printer is busy"),
        StartError::NotCleared => envelope(5, "Clear to ready before starting a new job"),
    }
}

/// Validates `materialMappings` (http.md §8): at most 4, toolId 0–3, slotId 1–4, no
/// duplicates, a material name.
pub fn check_mappings(v: &Value) -> Result<usize, &'static str> {
    let list = v.as_array().ok_or("not an array")?;
    if list.len() > 4 {
        return Err("more than 4 mappings");
    }
    let (mut tools, mut slots) = (Vec::new(), Vec::new());
    for m in list {
        let tool = m.get("toolId").and_then(Value::as_u64).ok_or("toolId")?;
        let slot = m.get("slotId").and_then(Value::as_u64).ok_or("slotId")?;
        let name = m.get("materialName").and_then(Value::as_str).unwrap_or("");
        if tool > 3 || !(1..=4).contains(&slot) || name.is_empty() {
            return Err("out of range");
        }
        if tools.contains(&tool) || slots.contains(&slot) {
            return Err("duplicate");
        }
        tools.push(tool);
        slots.push(slot);
    }
    Ok(list.len())
}

fn print_gcode(p: &mut SimPrinter, body: &Value) -> Value {
    let c5 = p.spec.model.is_creator5();
    let Some(name) = body.get("fileName").and_then(Value::as_str) else {
        return if c5 {
            envelope(-1, "Parameter is error.")
        } else {
            envelope(2, "Invalid parameter")
        };
    };
    let leveling = body.get("levelingBeforePrint").and_then(Value::as_bool);
    if c5 && leveling.is_none() {
        return envelope(-1, "Parameter is error.");
    }
    if let Some(m) = body.get("materialMappings") {
        if check_mappings(m).is_err() {
            return if c5 {
                envelope(-1, "Parameter is error.")
            } else {
                envelope(2, "Invalid parameter")
            };
        }
    }
    match p.start_job(name, leveling.unwrap_or(false)) {
        Ok(()) => success(),
        Err(e) => start_error(p, e),
    }
}

fn control(p: &mut SimPrinter, body: &Value) -> Value {
    let payload = body.get("payload").cloned().unwrap_or(Value::Null);
    let cmd = payload.get("cmd").and_then(Value::as_str).unwrap_or("");
    let args = payload.get("args").cloned().unwrap_or(json!({}));
    let s = |k: &str| args.get(k).and_then(Value::as_str);
    let n = |k: &str| args.get(k).and_then(Value::as_f64);
    let model = p.spec.model;
    let open = |v: Option<&str>| v == Some("open");
    match cmd {
        "lightControl_cmd" => p.led = open(s("status")),
        "circulateCtl_cmd" if model == Model::Adventurer5MPro => {
            p.internal_fan = open(s("internal"));
            p.external_fan = open(s("external"));
        }
        "streamCtrl_cmd" => p.camera_on = open(s("action")),
        "jobCtl_cmd" => {
            let ok = match s("action") {
                Some("pause") => p.pause(),
                Some("continue") => p.resume(),
                Some("cancel") => p.cancel(),
                _ => return envelope(2, "Invalid parameter"),
            };
            if !ok {
                return envelope(1, "Error");
            }
        }
        "printerCtl_cmd" => {
            let keep = |v: Option<f64>| v.filter(|v| *v > -199.0);
            if let Some(z) = keep(n("zAxisCompensation")).filter(|z| z.abs() <= 5.0) {
                p.z_offset = z;
            }
            if let Some(sp) = keep(n("speed")) {
                let max = if model == Model::AD5X { 500.0 } else { 150.0 };
                p.speed_adjust = sp.clamp(50.0, max) as u32;
            }
            let fan = |v: f64| v.clamp(0.0, 255.0) as u8;
            if let Some(v) = keep(n("chamberFan")) {
                p.chamber_fan = fan(v);
            }
            if let Some(v) = keep(n("coolingFan")) {
                p.cooling_fan = fan(v);
            }
            if let Some(v) = keep(n("coolingLeftFan")) {
                p.cooling_left_fan = fan(v);
            }
        }
        "temperatureCtl_cmd" => {
            let scalar = |v: Option<f64>, max: f64| match v {
                Some(v) if v <= -199.0 => None,
                Some(v) if v <= -99.0 => Some(0.0),
                Some(v) => Some(v.clamp(0.0, max)),
                None => None,
            };
            if let Some(t) = scalar(n("platform"), 130.0) {
                p.bed.target = t;
            }
            if let (Some(t), Some(c)) = (scalar(n("chamber"), 80.0), p.chamber.as_mut()) {
                c.target = t;
            }
            if model.is_creator5() {
                if let Some(list) = args.get("nozzles").and_then(Value::as_array) {
                    if list.len() == 4 {
                        for (h, v) in p.nozzles.iter_mut().zip(list) {
                            match v.as_f64() {
                                Some(v) if v <= -199.0 || (v < 0.0 && v > -199.0) => {}
                                Some(v) => h.target = v.clamp(0.0, 350.0),
                                None => {}
                            }
                        }
                    }
                }
            } else {
                if let Some(t) = scalar(n("rightNozzle"), 350.0) {
                    p.nozzles[0].target = t;
                }
                if let (Some(t), Some(h)) = (scalar(n("leftNozzle"), 350.0), p.nozzles.get_mut(1)) {
                    h.target = t;
                }
            }
        }
        "stateCtrl_cmd" if s("action") == Some("setClearPlatform") => p.clear_platform(),
        "reName_cmd" => {
            if let Some(name) = s("name") {
                p.spec.name = name.to_owned();
            }
        }
        "delayClose_cmd" => {
            p.auto_shutdown = open(s("automaticShutdown"));
            if let Some(m) = n("shutdownAfterTime") {
                p.auto_shutdown_minutes = m as u32;
            }
        }
        "msConfig_cmd" | "ipdMsConfig_cmd" => {
            let slot = n("slot").map_or(0, |v| v as usize);
            let (mt, rgb) = (
                s("mt").unwrap_or("").to_owned(),
                s("rgb").unwrap_or("").to_owned(),
            );
            if let Some(st) = p.station.as_mut() {
                if cmd == "ipdMsConfig_cmd" && model == Model::AD5X {
                    st.indep.material = mt;
                    st.indep.color = rgb;
                } else if (1..=4).contains(&slot) {
                    let sl = &mut st.slots[slot - 1];
                    sl.material = mt;
                    sl.color = rgb;
                    sl.has_filament = true;
                }
            }
        }
        "ms_cmd" if model == Model::AD5X => {
            let slot = n("slot").map_or(0, |v| v as u8);
            if let Some(st) = p.station.as_mut() {
                match n("action").map(|a| a as u8) {
                    Some(0) if (1..=4).contains(&slot) => {
                        st.current_slot = slot;
                        st.state_action = 1;
                        st.state_step = 6;
                    }
                    Some(1) => {
                        st.current_slot = 0;
                        st.state_action = 2;
                        st.state_step = 6;
                    }
                    Some(2) => {
                        st.state_action = 0;
                        st.state_step = 0;
                    }
                    _ => return envelope(2, "Invalid parameter"),
                }
            }
        }
        "moveCtrl_cmd" | "extrudeCtrl_cmd" if model == Model::AD5X => {
            if p.busy() {
                return envelope(5, "Printer is busy");
            }
            let axis = match (cmd, s("axis")) {
                ("extrudeCtrl_cmd", _) => 3,
                (_, Some("x")) => 0,
                (_, Some("y")) => 1,
                (_, Some("z")) => 2,
                _ => return envelope(2, "Invalid parameter"),
            };
            p.position[axis] += n("delta").unwrap_or(0.0);
        }
        "homingCtrl_cmd" if model == Model::AD5X => p.position = [0.0; 4],
        "errorCodeCtrl_cmd" if s("errorCode") == Some(p.error_code.as_str()) => {
            p.error_code.clear();
            if p.status == Status::Error {
                p.status = Status::Ready;
            }
        }
        // Unknown or unsupported commands are acknowledged, as the firmware does.
        _ => {}
    }
    success()
}
