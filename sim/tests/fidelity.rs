//! The simulator answers as the spec's fixtures say, where a fixture comes from a real capture or
//! the emulator: byte for byte for TCP replies, value for value for HTTP envelopes, and for
//! `/detail` every key of a real capture present with the same JSON type.

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use flashforge_proto::http::{Credentials, JobFormat, JobOptions, Upload, UploadSpec};
use flashforge_proto::Model;
use flashforge_sim::{
    render_detail, render_product, A3Shape, Faults, HttpSession, Job, PrinterSpec, SimPrinter,
    TcpSession,
};
use serde_json::{json, Value};

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data")
        .join(dir)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Sends `lines` on one connection (the first is normally the login) and returns the reply to
/// the last one.
fn tcp(p: &mut SimPrinter, lines: &[&str]) -> Vec<u8> {
    let now = Instant::now();
    let mut s = TcpSession::new(1, now);
    let mut last = Vec::new();
    for l in lines {
        s.handle_bytes(p, format!("{l}\n").as_bytes(), now);
        last = std::iter::from_fn(|| s.poll_output()).flatten().collect();
    }
    last
}

fn printer(model: Model, f: impl FnOnce(&mut PrinterSpec)) -> SimPrinter {
    let mut spec = PrinterSpec::new(model);
    f(&mut spec);
    SimPrinter::new(spec, Instant::now())
}

#[test]
fn emulator_style_tcp_replies_are_byte_exact() {
    let emu = |s: &mut PrinterSpec| s.emulator_login = true;
    let mut p = printer(Model::Adventurer5MPro, emu);
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~M602"]),
        fixture("tcp", "m602_emulator.txt")
    );
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~G28"]),
        fixture("tcp", "g28_emulator_ok.txt")
    );
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~M146 r255 g255 b255 F0"]),
        fixture("tcp", "m146_emulator_rgb_ok.txt")
    );
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~M114"]),
        fixture("tcp", "m114_emulator.txt")
    );
    // A second connection while the first holds control.
    let now = Instant::now();
    let mut other = TcpSession::new(2, now);
    other.handle_bytes(&mut p, b"~M601 S1\n", now);
    let denied: Vec<u8> = std::iter::from_fn(|| other.poll_output())
        .flatten()
        .collect();
    assert_eq!(denied, fixture("tcp", "control_failed_emulator.txt"));

    // Same state as the emulator capture: a cold second path reading 0.
    let mut ad5x = printer(Model::AD5X, emu);
    ad5x.nozzles[1].current = 0.0;
    assert_eq!(
        tcp(&mut ad5x, &["~M601 S1", "~M105"]),
        fixture("tcp", "m105_emulator_dual_tool.txt")
    );

    // Printing at 47 %, layer 113 of 240.
    let mut p = printer(Model::Adventurer5MPro, emu);
    p.status = flashforge_sim::Status::Printing;
    p.job = Some(Job {
        file: "cube.gcode".into(),
        elapsed: Duration::from_secs(470),
        total: Duration::from_secs(1000),
        layers: 240,
        leveling: false,
    });
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~M27"]),
        fixture("tcp", "m27_emulator_printing.txt")
    );
}

#[test]
fn adventurer3_shape_a_replies_match_captures_and_test_data() {
    // The real Adventurer 3C Pro capture, for the same identity, and the reference clients' test
    // data: the Shape A forms (the emulator's Shape B is `tests/emulator_a3.rs`).
    let mut p = printer(Model::Adventurer3, |s| {
        s.a3_shape = A3Shape::ShapeA;
        s.name = "CowaPrint".into();
        s.machine_type = Some("FlashForge Adventurer III Pro".into());
        s.firmware = "v2.1.2".into();
        s.serial = "SNCCCA95105901".into();
        s.mac = "88:A9:A7:92:DE:72".into();
    });
    let m115 = tcp(&mut p, &["~M601 S1", "~M115"]);
    let capture = fixture("tcp", "m115_a3c_pro_real_blank_lines.txt");
    assert_eq!(
        String::from_utf8_lossy(&m115).trim_end(),
        String::from_utf8_lossy(&capture).trim_end()
    );
    assert_eq!(tcp(&mut p, &["~M601 S1"]), fixture("tcp", "m601_ok.txt"));
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~M146 1"]),
        fixture("tcp", "a3_ack_m146_on.txt")
    );
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~M24"]),
        fixture("tcp", "a3_ack_m24.txt")
    );
    assert_eq!(
        tcp(&mut p, &["~M601 S1", "~G28"]),
        b"",
        "motion gets no reply on the A3"
    );
}

fn http_body(p: &mut SimPrinter, request: &[u8]) -> Value {
    let mut s = HttpSession::new(Faults::default());
    s.handle_bytes(p, request, Instant::now());
    let out: Vec<u8> = std::iter::from_fn(|| s.poll_output())
        .flat_map(|(b, _)| b)
        .collect();
    let text = String::from_utf8_lossy(&out);
    let body = text.rsplit("\r\n\r\n").next().unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn post(path: &str, body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture("http", name)).unwrap()
}

#[test]
fn emulator_envelopes_are_value_exact() {
    let mut p = printer(Model::Creator5Pro, |_| {});
    let good = json!({"serialNumber": p.spec.serial, "checkCode": p.spec.check_code});
    let bad = json!({"serialNumber": p.spec.serial, "checkCode": "nope"});
    assert_eq!(
        http_body(&mut p, &post("/detail", &bad)),
        json_fixture("unauthorized_emulator.json")
    );
    assert_eq!(
        http_body(&mut p, &post("/product", &good)),
        json_fixture("product_emulator_creator5_pro.json")
    );
    let light = json!({"serialNumber": p.spec.serial, "checkCode": p.spec.check_code,
                       "payload": {"cmd": "lightControl_cmd", "args": {"status": "open"}}});
    assert_eq!(
        http_body(&mut p, &post("/control", &light)),
        json_fixture("control_success.json")
    );
    let thumb = json!({"serialNumber": p.spec.serial, "checkCode": p.spec.check_code, "fileName": "nope.gcode"});
    assert_eq!(
        http_body(&mut p, &post("/gcodeThumb", &thumb)),
        json_fixture("gcodethumb_not_found_emulator.json")
    );
    assert_eq!(
        render_product(Model::Creator5Pro),
        json_fixture("product_emulator_creator5_pro.json")["product"]
    );

    // Upload with printNow while a job runs: the emulator's busy envelope.
    let mut p = printer(Model::Adventurer5MPro, |_| {});
    p.start_job("cube.gcode", false).unwrap();
    let creds = Credentials::new(p.spec.serial.clone(), p.spec.check_code.clone()).unwrap();
    let spec = UploadSpec {
        file_name: "b.gcode".into(),
        file_size: 3,
        print_now: true,
        format: JobFormat::Generic,
        options: JobOptions::default(),
        expect_continue: false,
        boundary_seed: 1,
    };
    let mut up = Upload::new(&spec, "x", &creds).unwrap();
    let mut req = Vec::new();
    up.write_head(&mut req);
    up.write_preamble(&mut req);
    up.check_chunk(b"G28").unwrap();
    req.extend_from_slice(b"G28");
    up.write_epilogue(&mut req).unwrap();
    assert_eq!(http_body(&mut p, &req), json_fixture("busy_emulator.json"));
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[test]
fn detail_has_every_key_of_real_captures_with_the_same_types() {
    for (file, model) in [
        ("detail_ad5x_real_1_1_3.json", Model::AD5X),
        ("detail_creator5_pro_live_1_9_2.json", Model::Creator5Pro),
        (
            "detail_creator5_pro_station_no_flag.json",
            Model::Creator5Pro,
        ),
        (
            "detail_emulator_5m_pro_printing.json",
            Model::Adventurer5MPro,
        ),
        ("detail_emulator_creator5_idle.json", Model::Creator5),
        ("detail_emulator_ad5x_idle.json", Model::AD5X),
    ] {
        let capture = json_fixture(file);
        let p = printer(model, |_| {});
        let ours = render_detail(&p);
        let emu_only = ["printEta", "formattedEta", "jobTotalPrintTimeSeconds"];
        let mut missing = Vec::new();
        for (k, v) in capture["detail"].as_object().unwrap() {
            if emu_only.contains(&k.as_str()) {
                continue;
            }
            // Creator 5 series replies never carry the station flag; the emulator adds AD5X-style
            // keys to every model, which real C5 captures do not have.
            let Some(got) = ours.get(k) else {
                missing.push(format!("{file}: {k}"));
                continue;
            };
            assert_eq!(kind(got), kind(v), "{file}: `{k}` is {got} here, {v} there");
            if let (Value::Object(a), Value::Object(b)) = (got, v) {
                for key in b.keys() {
                    assert!(a.contains_key(key), "{file}: `{k}.{key}` missing");
                }
            }
        }
        if model.is_creator5() {
            assert!(
                ours.get("hasMatlStation").is_none(),
                "the Creator 5 series never sends it"
            );
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
