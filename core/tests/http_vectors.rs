//! Every fixture of `tests/data/http/manifest.json` (copied from `shared/fixtures/http`).
//!
//! Response fixtures are parsed as bare bodies and as whole HTTP responses (Content-Length,
//! chunked and read-until-close, split at every chunking we try) and must give the manifest's
//! values; request fixtures are rebuilt with our request builders and compared as JSON values or
//! header maps.

use std::collections::BTreeMap;

use flashforge_proto::http::{
    self, Control, Credentials, Heat, JobAction, JobFormat, JobOptions, MaterialMapping, Request,
    ResponseEvent, ResponseParser, Rgb, Temperatures, Upload, UploadSpec,
};
use flashforge_proto::printer::base64_decode;
use flashforge_proto::{HttpConfig, Model};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

mod common;
use common::{approx, hex};

struct Fixture {
    file: String,
    parser: String,
    outcome: String,
    expected: serde_json::Map<String, Value>,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    common::manifest("http")
        .into_iter()
        .map(|(f, bytes)| Fixture {
            file: f["file"].as_str().unwrap().to_owned(),
            parser: f["parser"].as_str().unwrap().to_owned(),
            outcome: f["outcome"].as_str().unwrap().to_owned(),
            expected: f["expected"].as_object().unwrap().clone(),
            bytes,
        })
        .collect()
}

/// Check a decoded response against the manifest.
fn check(f: &Fixture, bytes: &[u8]) -> Result<(), String> {
    let out = http::decode(&f.parser, bytes).ok_or("unknown parser")?;
    let want_ok = f.outcome == "ok";
    if out.ok != want_ok {
        return Err(format!(
            "outcome: expected {}, got {}",
            f.outcome, out.value
        ));
    }
    let got = &out.value;
    for (k, v) in &f.expected {
        match k.as_str() {
            "error" => {
                let msg = got["error"].as_str().ok_or(format!("no error in {got}"))?;
                if v.as_str() != Some(msg) {
                    return Err(format!("error: expected {v}, got {msg:?}"));
                }
            }
            "entries_if_lenient" => approx(v, &got["entries"], k)?,
            "image" if !v.is_null() => {
                approx(&strip(v, "image_sha256"), &got["image"], k)?;
                // Recompute the image hash from the decoded base64.
                let body: Value = serde_json::from_slice(bytes).unwrap();
                let img = base64_decode(body["imageData"].as_str().unwrap().as_bytes()).unwrap();
                if Value::String(hex(&Sha256::digest(&img))) != v["image_sha256"] {
                    return Err("image_sha256 differs".into());
                }
            }
            _ => {
                let g = got
                    .get(k)
                    .ok_or_else(|| format!("{k}: not produced ({got})"))?;
                approx(v, g, k)?;
            }
        }
    }
    Ok(())
}

fn strip(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
    v
}

fn wrap_content_length(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: cpp-httplib\r\nContent-Type: appliation/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn wrap_chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in body.chunks(piece.max(1)) {
        r.extend_from_slice(format!("{:X};ext=1\r\n", c.len()).as_bytes());
        r.extend_from_slice(c);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// Feed `wire` in pieces of `split` bytes; return the body of the single response.
fn read_response(wire: &[u8], split: usize, until_close: bool) -> Vec<u8> {
    let mut p: ResponseParser = ResponseParser::new(&HttpConfig::default());
    let mut body = None;
    for piece in wire.chunks(split) {
        let mut input = piece;
        while !input.is_empty() {
            let pr = p.feed(input).unwrap();
            input = &input[pr.consumed..];
            if let Some(ResponseEvent::Complete(r)) = pr.event {
                assert!(body.is_none(), "two responses");
                assert!(input.is_empty(), "bytes left after the response");
                body = Some(r.body);
            }
        }
    }
    if until_close {
        assert!(body.is_none());
        body = p.finish().unwrap().map(|r| r.body);
    }
    body.expect("a complete response")
}

#[test]
fn every_response_fixture_parses_as_the_manifest_says() {
    let mut failures = Vec::new();
    let mut n = 0;
    for f in fixtures().iter().filter(|f| f.parser != "request") {
        n += 1;
        if let Err(e) = check(f, &f.bytes) {
            failures.push(format!("{}: {e}", f.file));
        }
        // The same body inside a whole HTTP response gives the same view.
        let bare = http::decode(&f.parser, &f.bytes).unwrap().value;
        let whole = http::decode(&f.parser, &wrap_content_length(&f.bytes))
            .unwrap()
            .value;
        assert_eq!(bare, whole, "{}: whole response differs", f.file);
    }
    assert!(n >= 40, "only {n} response fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn response_framing_is_independent_of_chunking() {
    for f in fixtures().iter().filter(|f| f.parser != "request") {
        for split in [1, 2, 3, 7, 64, 4096] {
            let cl = read_response(&wrap_content_length(&f.bytes), split, false);
            assert_eq!(cl, f.bytes, "{} content-length split {split}", f.file);
            for piece in [1, 5, 100] {
                let ch = read_response(&wrap_chunked(&f.bytes, piece), split, false);
                assert_eq!(ch, f.bytes, "{} chunked {piece} split {split}", f.file);
            }
            let mut close = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
            close.extend_from_slice(&f.bytes);
            assert_eq!(read_response(&close, split, true), f.bytes, "{}", f.file);
        }
    }
}

fn creds() -> Credentials {
    Credentials::new("SNADVA5M00000", "12345678").unwrap()
}

fn mapping(tool: u8, slot: u8, name: &str, color: &str) -> MaterialMapping {
    let c: Rgb = color.parse().unwrap();
    MaterialMapping {
        tool_id: tool,
        slot_id: slot,
        material_name: name.into(),
        tool_color: c,
        slot_color: c,
    }
}

fn two_mappings() -> Vec<MaterialMapping> {
    vec![
        mapping(0, 1, "PLA", "#FFFFFF"),
        mapping(1, 2, "PETG", "#2750E0"),
    ]
}

enum Built {
    Body(Vec<u8>),
    Headers(BTreeMap<String, String>),
}

/// The request each request fixture describes, built with our builders.
fn build(file: &str) -> Built {
    let control = |command| Request::Control {
        command,
        model: Model::Adventurer5M,
    };
    let request = match file {
        "req_control_light_on.json" => control(Control::Light(true)),
        "req_control_job_pause.json" => control(Control::Job(JobAction::Pause)),
        "req_control_temperature_creator5_tool2.json" => Request::Control {
            command: Control::Temperature(
                Temperatures::creator5().tool(2, Heat::Target(230)).unwrap(),
            ),
            model: Model::Creator5,
        },
        "req_printgcode_ad5x_multicolor.json" => Request::PrintGcode {
            file_name: "dual.3mf".into(),
            format: JobFormat::Ad5x,
            options: JobOptions {
                leveling: true,
                mappings: two_mappings(),
                ..JobOptions::default()
            },
        },
        "req_upload_ad5x_headers.json" => {
            return Built::Headers(upload_headers(&UploadSpec {
                file_name: "dual.3mf".into(),
                file_size: 123_456,
                print_now: true,
                format: JobFormat::Ad5x,
                options: JobOptions {
                    leveling: false,
                    mappings: two_mappings(),
                    ..JobOptions::default()
                },
                expect_continue: true,
                boundary_seed: 1,
            }))
        }
        "req_upload_generic_new_firmware_headers.json" => {
            return Built::Headers(upload_headers(&UploadSpec {
                file_name: "cube.gcode".into(),
                file_size: 26,
                print_now: false,
                format: JobFormat::for_printer(Model::Adventurer5M, "3.1.3"),
                options: JobOptions {
                    leveling: true,
                    ..JobOptions::default()
                },
                expect_continue: true,
                boundary_seed: 1,
            }))
        }
        other => panic!("{other}: no request builder for this fixture"),
    };
    let mut body = Vec::new();
    request.write_body(&creds(), &mut body).unwrap();
    Built::Body(body)
}

/// The API headers of an upload head (transport headers left out, as in the fixtures).
fn upload_headers(spec: &UploadSpec) -> BTreeMap<String, String> {
    let up = Upload::new(spec, "192.168.1.50:8898", &creds()).unwrap();
    let mut head = Vec::new();
    up.write_head(&mut head);
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    assert!(req.parse(&head).unwrap().is_complete());
    assert_eq!(req.method, Some("POST"));
    assert_eq!(req.path, Some("/uploadGcode"));
    req.headers
        .iter()
        .filter(|h| !["Host", "Content-Type", "Content-Length", "Accept"].contains(&h.name))
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8(h.value.to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_request_fixture_is_what_our_builders_produce() {
    let mut n = 0;
    for f in fixtures().iter().filter(|f| f.parser == "request") {
        n += 1;
        let want: Value = serde_json::from_slice(&f.bytes).unwrap();
        match build(&f.file) {
            Built::Body(body) => {
                let got: Value = serde_json::from_slice(&body)
                    .unwrap_or_else(|e| panic!("{}: our body is not JSON: {e}", f.file));
                if f.expected.get("json_equal") == Some(&json!(true)) {
                    assert_eq!(got, want, "{}", f.file);
                }
                // Compact, as the ts client sends it.
                assert!(!body.contains(&b' '), "{}", f.file);
            }
            Built::Headers(got) => {
                let want_map: BTreeMap<String, String> = serde_json::from_value(want).unwrap();
                if f.expected.get("headers_equal") == Some(&json!(true)) {
                    assert_eq!(got, want_map, "{}", f.file);
                }
                if let Some(decoded) = f.expected.get("materialMappings_decoded") {
                    let raw = base64_decode(got["materialMappings"].as_bytes()).unwrap();
                    let v: Value = serde_json::from_slice(&raw).unwrap();
                    assert_eq!(&v, decoded, "{}", f.file);
                }
                for key in f
                    .expected
                    .get("must_not_contain")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    assert!(!got.contains_key(key.as_str().unwrap()), "{}", f.file);
                }
            }
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn creator5_upload_headers_omit_mappings_and_first_layer() {
    let got = upload_headers(&UploadSpec {
        file_name: "benchy.3mf".into(),
        file_size: 10,
        print_now: true,
        format: JobFormat::for_printer(Model::Creator5Pro, "1.9.2"),
        options: JobOptions::default(),
        expect_continue: true,
        boundary_seed: 3,
    });
    assert_eq!(got["useMatlStation"], "false");
    assert_eq!(got["gcodeToolCnt"], "1");
    assert_eq!(got["timeLapseVideo"], "false");
    assert!(!got.contains_key("materialMappings"));
    assert!(!got.contains_key("firstLayerInspection"));

    // 5M before 3.1.3: the basic set only.
    let old = upload_headers(&UploadSpec {
        file_name: "a.gcode".into(),
        file_size: 1,
        print_now: false,
        format: JobFormat::for_printer(Model::Adventurer5M, "3.1.2"),
        options: JobOptions::default(),
        expect_continue: true,
        boundary_seed: 3,
    });
    let keys: Vec<&str> = old.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Expect",
            "checkCode",
            "fileSize",
            "levelingBeforePrint",
            "printNow",
            "serialNumber"
        ]
    );
}

#[test]
fn print_bodies_per_format() {
    let body = |format, mappings| {
        let mut out = Vec::new();
        Request::PrintGcode {
            file_name: "a.3mf".into(),
            format,
            options: JobOptions {
                leveling: true,
                mappings,
                ..JobOptions::default()
            },
        }
        .write_body(&creds(), &mut out)
        .map(|()| serde_json::from_slice::<Value>(&out).unwrap())
    };
    let legacy = body(JobFormat::Legacy, vec![]).unwrap();
    assert_eq!(legacy.as_object().unwrap().len(), 4);
    let generic = body(JobFormat::Generic, vec![]).unwrap();
    assert_eq!(generic["materialMappings"], json!([]));
    assert_eq!(generic["gcodeToolCnt"], 0);
    let c5 = body(JobFormat::Creator5, vec![]).unwrap();
    assert!(c5.get("materialMappings").is_none());
    assert!(c5.get("useMatlStation").is_none());
    assert_eq!(c5["levelingBeforePrint"], true);
    assert_eq!(c5["timeLapseVideo"], false);
    let c5m = body(JobFormat::Creator5, two_mappings()).unwrap();
    assert_eq!(c5m["materialMappings"].as_array().unwrap().len(), 2);
    // Mappings on a format without them, and a broken mapping, are usage errors.
    assert!(body(JobFormat::Generic, two_mappings()).is_err());
    assert!(body(JobFormat::Ad5x, vec![mapping(0, 0, "PLA", "#FFFFFF")]).is_err());
}

/// The fuzz bodies hold their invariants on every fixture (whole responses, both framings).
#[test]
fn fuzz_bodies_accept_every_fixture() {
    for f in fixtures() {
        flashforge_proto::fuzz::detail(&f.bytes);
        flashforge_proto::fuzz::http_response(&wrap_content_length(&f.bytes));
        flashforge_proto::fuzz::http_response(&wrap_chunked(&f.bytes, 7));
    }
}
