//! The OpenAPI document against the router: the same operations as `ROUTES`, every `$ref`
//! resolves, and every documented operation answers a live server with a documented status
//! (and a body of the documented shape).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{bearer, request, Events, Reply};
use flashforge_proto::Model;
use flashforge_serve::ROUTES;
use flashforge_tokio::FailureKind;
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn doc_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/openapi.json")
}

fn doc() -> Value {
    let text = std::fs::read_to_string(doc_path()).expect("serve/assets/openapi.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("openapi.json is not JSON: {e}"))
}

/// Every (method, path) operation of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for m in item.keys().filter(|k| METHODS.contains(&k.as_str())) {
            ops.insert((m.clone(), path.clone()));
        }
    }
    ops
}

/// The value a local `$ref` points at.
fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    r.strip_prefix('#').and_then(|p| doc.pointer(p))
}

/// `v` with `$ref`s followed.
fn deref<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        v = resolve(doc, r).unwrap_or_else(|| panic!("unresolved $ref {r}"));
    }
    v
}

fn collect_refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push((
                        at.to_owned(),
                        x.as_str().expect("$ref is a string").to_owned(),
                    ));
                } else {
                    collect_refs(x, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_refs(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Whether `v` is of JSON Schema type `t`.
fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "string" => v.is_string(),
        _ => panic!("unknown schema type {t}"),
    }
}

/// A small JSON Schema check (the keywords the document uses). Objects are checked strictly:
/// a key the schema's `properties` does not name is an error, so the document describes
/// every field the server sends.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = deref(doc, schema);
    if let Some(alts) = schema.get("anyOf").and_then(Value::as_array) {
        let errs: Vec<String> = alts
            .iter()
            .filter_map(|s| validate(doc, s, v, at).err())
            .collect();
        if errs.len() == alts.len() {
            return Err(format!("{at}: matches no anyOf: {}", errs.join("; ")));
        }
    }
    if let Some(alts) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = alts
            .iter()
            .filter(|s| validate(doc, s, v, at).is_ok())
            .count();
        if ok != 1 {
            return Err(format!("{at}: matches {ok} of oneOf, not 1: {v}"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            return Err(format!("{at}: {v} is not the const {c}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} is not in the enum {e:?}"));
        }
    }
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => is_type(v, t),
            Value::Array(ts) => ts.iter().any(|t| is_type(v, t.as_str().unwrap())),
            _ => panic!("{at}: bad type {t}"),
        };
        if !ok {
            return Err(format!("{at}: {v} is not of type {t}"));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{at}: {n} < minimum {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{at}: {n} > maximum {max}"));
            }
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), schema.get("items")) {
        for (i, x) in a.iter().enumerate() {
            validate(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for k in req {
                let k = k.as_str().unwrap();
                if !o.contains_key(k) {
                    return Err(format!("{at}: required `{k}` missing in {v}"));
                }
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, x) in o {
                match props.get(k) {
                    Some(s) => validate(doc, s, x, &format!("{at}.{k}"))?,
                    None => return Err(format!("{at}: `{k}` is not documented")),
                }
            }
        }
    }
    Ok(())
}

#[test]
fn the_document_is_openapi_3_1_with_exactly_the_routes() {
    let doc = doc();
    let version = doc["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3.1"), "openapi is {version}, not 3.1");
    assert_eq!(doc["info"]["title"], "flashforge serve");
    assert_eq!(doc["info"]["version"], "1");

    let documented = operations(&doc);
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        routed.len(),
        ROUTES.len(),
        "ROUTES lists an operation twice"
    );
    let missing_in_doc: Vec<_> = routed.difference(&documented).collect();
    let missing_in_routes: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing_in_doc.is_empty() && missing_in_routes.is_empty(),
        "in ROUTES but not in openapi.json paths: {missing_in_doc:?}; \
         in openapi.json paths but not in ROUTES: {missing_in_routes:?}"
    );

    // The bearer scheme, applied to every operation.
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    for (m, p) in &documented {
        let op = &doc["paths"][p][m];
        assert!(
            op.get("security").is_none(),
            "{m} {p} overrides the global security"
        );
        let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        assert!(
            codes.iter().any(|c| c.starts_with('2')),
            "{m} {p}: no success response"
        );
        assert!(
            codes.iter().any(|c| *c == "401"),
            "{m} {p}: 401 not documented"
        );
        assert!(
            codes.iter().any(|c| *c == "405"),
            "{m} {p}: 405 not documented"
        );
        // Path parameters: every `{x}` is a required path parameter.
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|a| a.iter().map(|x| deref(&doc, x)).collect())
            .unwrap_or_default();
        for seg in p.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            assert!(
                params
                    .iter()
                    .any(|x| x["name"] == name && x["in"] == "path" && x["required"] == true),
                "{m} {p}: no required path parameter `{name}`"
            );
        }
        // JSON request bodies are closed, as the server's `deny_unknown_fields`.
        if let Some(c) = op["requestBody"]["content"].as_object() {
            if let Some(j) = c.get("application/json") {
                let s = deref(&doc, &j["schema"]);
                assert_eq!(
                    s["additionalProperties"], false,
                    "{m} {p}: the JSON body is not closed"
                );
            }
        }
    }

    // The upload: an octet-stream body, a required Content-Length, `print`/`level` flags.
    let up = &doc["paths"]["/api/v1/printers/{id}/files/{name}"]["put"];
    assert!(up["requestBody"]["content"]
        .get("application/octet-stream")
        .is_some());
    let params: Vec<&Value> = up["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| deref(&doc, x))
        .collect();
    let has = |name: &str, place: &str| {
        params
            .iter()
            .find(|x| x["name"] == name && x["in"] == place)
            .copied()
    };
    assert_eq!(
        has("Content-Length", "header").expect("Content-Length")["required"],
        true
    );
    for q in ["print", "level"] {
        assert_eq!(
            has(q, "query").unwrap_or_else(|| panic!("query {q}"))["schema"]["type"],
            "boolean"
        );
    }
    for code in ["411", "413"] {
        assert!(up["responses"].get(code).is_some(), "upload: no {code}");
    }

    // The error kinds: FailureKind::ALL and the API's own.
    // A 504 is any timeout with the printer, not only a missing answer.
    let gw = doc["components"]["responses"]["GatewayTimeout"]["description"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        gw.contains("timeout") && gw.contains("did not answer") && gw.contains("did not finish"),
        "504: {gw}"
    );
    // Every error carries its exit code.
    let required = &doc["components"]["schemas"]["Error"]["required"];
    assert!(
        required.as_array().unwrap().contains(&Value::from("exit")),
        "Error: exit is not required"
    );
    let kinds: BTreeSet<&str> = doc["components"]["schemas"]["ErrorKind"]["enum"]
        .as_array()
        .expect("ErrorKind enum")
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let mut want: BTreeSet<&str> = FailureKind::ALL.iter().map(|k| k.name()).collect();
    want.extend(["not_found", "unauthorized", "too_large"]);
    assert_eq!(kinds, want, "ErrorKind enum");
}

#[test]
fn every_ref_resolves_to_a_component() {
    let doc = doc();
    let mut refs = Vec::new();
    collect_refs(&doc, "#", &mut refs);
    assert!(!refs.is_empty());
    for (at, r) in &refs {
        assert!(
            r.starts_with("#/components/"),
            "{at}: $ref {r} is not to components"
        );
        assert!(
            resolve(&doc, r).is_some(),
            "{at}: $ref {r} resolves to nothing"
        );
    }
    for name in [
        "Snapshot",
        "Status",
        "Temperatures",
        "Info",
        "Error",
        "UploadState",
        "FilesReply",
        "Done",
    ] {
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "no components.schemas.{name}"
        );
    }
}

/// The statuses the document lists for an operation.
fn documented_statuses(doc: &Value, method: &str, path: &str) -> BTreeSet<u16> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| {
            k.parse()
                .unwrap_or_else(|_| panic!("{method} {path}: response {k}"))
        })
        .collect()
}

const FILE: &str = "openapi-check.gcode";

fn body_for(path: &str) -> Option<(&'static str, &'static [u8])> {
    let json = "application/json";
    Some(match path.rsplit('/').next().unwrap() {
        "print" => (json, br#"{"file":"openapi-check.gcode"}"#.as_slice()),
        "led" => (json, br#"{"on":true}"#.as_slice()),
        "temperature" => (json, br#"{"heater":"bed","celsius":50}"#.as_slice()),
        "fan" => (json, br#"{"percent":40}"#.as_slice()),
        _ if path.ends_with("/files/{name}") => (
            "application/octet-stream",
            b"; openapi check\nG28\nG1 X10 Y10\n".as_slice(),
        ),
        _ => return None,
    })
}

/// The reply's status and body against the document's entry for this operation.
fn check_reply(doc: &Value, method: &str, path: &str, url: &str, r: &Reply) {
    let what = format!("{} {url} ({method} {path})", method.to_uppercase());
    assert_ne!(r.status, 405, "{what}: 405, the route is not there");
    let statuses = documented_statuses(doc, method, path);
    if r.status == 404 {
        let j = r.json();
        assert_eq!(j["kind"], "not_found", "{what}: 404 {j}");
        assert_ne!(
            j["error"], "no such route",
            "{what}: 404, the route is not there"
        );
    }
    assert!(
        statuses.contains(&r.status),
        "{what}: status {} is not documented ({statuses:?}): {}",
        r.status,
        r.text()
    );
    let resp = deref(
        doc,
        &doc["paths"][path][method]["responses"][r.status.to_string()],
    );
    let content = resp["content"].as_object();
    let Some(content) = content else { return };
    let ct = r.header("content-type").unwrap_or("");
    let media = ct.split(';').next().unwrap().trim();
    let entry = content.get(media).unwrap_or_else(|| {
        panic!(
            "{what}: content type {ct} not documented for {} ({:?})",
            r.status,
            content.keys().collect::<Vec<_>>()
        )
    });
    if media == "application/json" && path != "/api/v1/openapi.json" {
        if let Err(e) = validate(doc, &entry["schema"], &r.json(), "body") {
            panic!(
                "{what}: {} does not match the document: {e}\n{}",
                r.status,
                r.text()
            );
        }
        if r.status >= 400 {
            check_exit(&what, &r.json());
        }
    }
}

/// The rule of every error body: `exit` is there, the CLI's code for the kind (the API's own
/// kinds: not_found 1, unauthorized 4, too_large 2).
fn check_exit(what: &str, j: &Value) {
    let kind = j["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no kind: {j}"));
    let want = match kind {
        "not_found" => 1,
        "unauthorized" => 4,
        "too_large" => 2,
        k => FailureKind::ALL
            .iter()
            .find(|f| f.name() == k)
            .unwrap_or_else(|| panic!("{what}: unknown kind {k}"))
            .exit_code(),
    };
    assert_eq!(
        j["exit"],
        Value::from(want),
        "{what}: a {kind} error carries exit {want}: {j}"
    );
}

fn order(routes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    // The upload first, so the thumbnail and the print find the file.
    let mut v = routes.to_vec();
    v.sort_by_key(|(m, _)| *m != "put");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_a_live_server_as_documented() {
    let t0 = Instant::now();
    let f = common::start(
        &[Model::Adventurer5MPro, Model::Adventurer3],
        Duration::from_millis(200),
        false,
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let ids: Vec<String> = f.ids();
    assert_eq!(ids.len(), 2);
    let pro = f
        .server
        .farm()
        .slots()
        .iter()
        .find(|s| s.snapshot().model == Some(Model::Adventurer5MPro))
        .map(|s| s.id.to_string())
        .expect("the 5M Pro's slot");
    let first_id = pro.clone();
    let doc = std::sync::Arc::new(doc());
    let bytes = std::fs::read(doc_path()).unwrap();

    let mut seen = BTreeSet::new();
    for id in ids {
        let doc = doc.clone();
        let got = tokio::task::spawn_blocking(move || {
            let mut seen = Vec::new();
            for (method, path) in order(ROUTES) {
                let url = path.replace("{id}", &id).replace("{name}", FILE);
                if path.ends_with("/events") {
                    let mut ev = Events::open(addr, &url, Some(&bearer()));
                    let ok = &doc["paths"][path][method]["responses"]["200"]["content"];
                    assert!(
                        ok.get("text/event-stream").is_some(),
                        "{path}: 200 is not SSE"
                    );
                    let first = ev
                        .next(Instant::now() + Duration::from_secs(10))
                        .unwrap_or_else(|| panic!("{url}: no first event"));
                    assert_eq!(first.event, "snapshot", "{url}: {first:?}");
                    let data: Value = serde_json::from_str(&first.data).unwrap();
                    if let Err(e) = validate(
                        &doc,
                        &doc["components"]["schemas"]["EventData"],
                        &data,
                        "data",
                    ) {
                        panic!("{url}: the snapshot event does not match: {e}");
                    }
                    seen.push((id.clone(), method, path, 200));
                    continue;
                }
                let r = request(
                    addr,
                    &method.to_uppercase(),
                    &url,
                    Some(&bearer()),
                    body_for(path),
                );
                check_reply(&doc, method, path, &url, &r);
                seen.push((id.clone(), method, path, r.status));
            }
            seen
        })
        .await
        .expect("requests with the token");
        seen.extend(got);
    }
    for (id, m, p, s) in &seen {
        eprintln!("{s} {m} {p} ({id})");
    }
    // The good printer answered its reads and the upload with success.
    for (m, p) in [
        ("put", "/api/v1/printers/{id}/files/{name}"),
        ("get", "/api/v1/printers/{id}/status"),
        ("get", "/api/v1/printers/{id}/info"),
        ("get", "/api/v1/printers/{id}/files"),
        ("get", "/api/v1/printers/{id}/files/{name}/thumbnail"),
        ("post", "/api/v1/printers/{id}/print"),
        ("post", "/api/v1/printers/{id}/led"),
    ] {
        let first = seen
            .iter()
            .find(|(id, sm, sp, _)| *id == pro && *sm == m && *sp == p)
            .unwrap();
        assert!(
            (200..300).contains(&first.3),
            "{m} {p} on the 5M Pro: {}",
            first.3
        );
    }

    // An unknown printer id: the 404 every `{id}` operation documents.
    let d = doc.clone();
    tokio::task::spawn_blocking(move || {
        for (method, path) in ROUTES.iter().copied().filter(|(_, p)| p.contains("{id}")) {
            let url = path
                .replace("{id}", "no-such-printer")
                .replace("{name}", FILE);
            let r = request(
                addr,
                &method.to_uppercase(),
                &url,
                Some(&bearer()),
                body_for(path),
            );
            assert_eq!(r.status, 404, "{method} {url}: {}", r.text());
            check_reply(&d, method, path, &url, &r);
        }
    })
    .await
    .expect("requests for an unknown printer");

    // Without the token: 401 everywhere, reads included (no open reads).
    let d = doc.clone();
    tokio::task::spawn_blocking(move || {
        let id = first_id;
        for (method, path) in ROUTES.iter().copied() {
            let url = path.replace("{id}", &id).replace("{name}", FILE);
            let r = request(addr, &method.to_uppercase(), &url, None, body_for(path));
            assert_eq!(
                r.status,
                401,
                "{method} {url} without the token: {}",
                r.text()
            );
            assert!(r.header("www-authenticate").is_some(), "{method} {url}");
            check_reply(&d, method, path, &url, &r);
            assert_eq!(r.json()["kind"], "unauthorized");
        }
    })
    .await
    .expect("requests without the token");

    // The served document is the file, byte for byte.
    let r = tokio::task::spawn_blocking(move || {
        request(addr, "GET", "/api/v1/openapi.json", Some(&bearer()), None)
    })
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    assert!(
        r.body == bytes,
        "the served document differs from serve/assets/openapi.json"
    );
    f.stop().await;
    eprintln!("live check took {:?}", t0.elapsed());
}

/// What an extractor refuses (a path segment that is not UTF-8, a body without its JSON
/// content type, JSON of the wrong shape, a bad query) is a documented status with an Error
/// body, kind usage and exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_answer_documented_error_json() {
    let f = common::start(&[Model::Adventurer5MPro], Duration::from_millis(200), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.ids()[0].clone();
    let doc = doc();
    tokio::task::spawn_blocking(move || {
        let usage = |what: &str, r: &Reply, status: u16| {
            assert_eq!(r.status, status, "{what}: {}", r.text());
            let j = r.json();
            assert_eq!(j["kind"], "usage", "{what}: {j}");
            assert_eq!(j["exit"], 2, "{what}: {j}");
        };
        // A printer id that is not UTF-8, on every `{id}` operation.
        for (method, path) in ROUTES.iter().copied().filter(|(_, p)| p.contains("{id}")) {
            let url = path.replace("{id}", "%ff").replace("{name}", FILE);
            let r = request(
                addr,
                &method.to_uppercase(),
                &url,
                Some(&bearer()),
                body_for(path),
            );
            usage(&url, &r, 400);
            check_reply(&doc, method, path, &url, &r);
        }
        let json_ops: Vec<&str> = ROUTES
            .iter()
            .filter(|(_, p)| body_for(p).is_some_and(|(ct, _)| ct == "application/json"))
            .map(|(_, p)| *p)
            .collect();
        assert_eq!(json_ops.len(), 4, "{json_ops:?}");
        for path in json_ops {
            let url = path.replace("{id}", &id);
            let (_, body) = body_for(path).unwrap();
            // No JSON content type: 415.
            let r = request(
                addr,
                "POST",
                &url,
                Some(&bearer()),
                Some(("text/plain", body)),
            );
            usage(&format!("{url} as text/plain"), &r, 415);
            check_reply(&doc, "post", path, &url, &r);
            // JSON, but not of the body's shape: 400.
            let r = request(
                addr,
                "POST",
                &url,
                Some(&bearer()),
                Some(("application/json", br#"{"no_such_field":[1]}"#)),
            );
            usage(&format!("{url} of the wrong shape"), &r, 400);
            check_reply(&doc, "post", path, &url, &r);
        }
        // A query the upload does not take.
        let path = "/api/v1/printers/{id}/files/{name}";
        let url = format!(
            "{}?print=maybe",
            path.replace("{id}", &id).replace("{name}", FILE)
        );
        let r = request(addr, "PUT", &url, Some(&bearer()), body_for(path));
        usage(&url, &r, 400);
        check_reply(&doc, "put", path, &url, &r);
    })
    .await
    .expect("refused requests");
    f.stop().await;
}

/// A method a path does not take: 405 with `Allow` (the path's methods) and the Error JSON,
/// as documented, on every path (and the dashboard's pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_documented_405_with_allow() {
    let f = common::start(&[Model::Adventurer5MPro], Duration::from_millis(200), false).await;
    let addr = f.addr;
    let id = f.ids()[0].clone();
    let doc = doc();
    tokio::task::spawn_blocking(move || {
        let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
        for path in paths {
            let takes: BTreeSet<String> = ROUTES
                .iter()
                .filter(|(_, p)| *p == path)
                .map(|(m, _)| m.to_uppercase())
                .collect();
            let url = path.replace("{id}", &id).replace("{name}", FILE);
            for wrong in [
                "DELETE",
                "PATCH",
                if takes.contains("GET") { "POST" } else { "GET" },
            ] {
                let r = request(addr, wrong, &url, Some(&bearer()), None);
                let what = format!("{wrong} {url}");
                assert_eq!(r.status, 405, "{what}: {}", r.text());
                let allow: BTreeSet<String> = r
                    .header("allow")
                    .unwrap_or_else(|| panic!("{what}: no Allow"))
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .filter(|m| m != "HEAD")
                    .collect();
                assert_eq!(allow, takes, "{what}: Allow");
                let j = r.json();
                assert_eq!(j["kind"], "usage", "{what}: {j}");
                assert_eq!(j["exit"], 2, "{what}: {j}");
                // Every operation of the path documents it, with this body.
                for m in &takes {
                    let m = m.to_lowercase();
                    let resp = deref(&doc, &doc["paths"][path][&m]["responses"]["405"]);
                    assert!(resp.is_object(), "{m} {path}: no 405");
                    assert!(
                        resp["headers"].get("Allow").is_some(),
                        "{m} {path}: 405 without Allow"
                    );
                    let schema = &resp["content"]["application/json"]["schema"];
                    if let Err(e) = validate(&doc, schema, &j, "body") {
                        panic!("{what}: {e}");
                    }
                }
            }
        }
        for page in ["/", "/assets/app.js"] {
            let r = request(addr, "POST", page, None, None);
            assert_eq!(r.status, 405, "POST {page}: {}", r.text());
            assert!(
                r.header("allow").is_some_and(|a| a.contains("GET")),
                "POST {page}"
            );
            assert_eq!(r.json()["kind"], "usage", "POST {page}");
        }
    })
    .await
    .expect("wrong methods");
    f.stop().await;
}

/// The errors the live check does not meet: a second upload while one runs (409 busy), a file
/// the printer does not have (404), a body too large (413), a wrong token (401); each is
/// documented and carries its kind's exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_missing_and_refused_errors_carry_their_exit_codes() {
    let f = common::start_with(&[Model::Adventurer5MPro], |c| {
        c.interval = Duration::from_millis(200);
        c.limits.stall = Duration::from_secs(60);
    })
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.ids()[0].clone();
    let doc = doc();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let up = "/api/v1/printers/{id}/files/{name}";
        // An upload that holds the printer's upload lane: half its body, then nothing.
        let hold = || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(
                s,
                "PUT /api/v1/printers/{id}/files/held.gcode HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: 100000\r\n\r\n",
                bearer()
            )
            .unwrap();
            s.write_all(&[b'G'; 1000]).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        };
        let mut held = hold();
        let t0 = Instant::now();
        let busy = loop {
            let url = up.replace("{id}", &id).replace("{name}", "second.gcode");
            let r = request(addr, "PUT", &url, Some(&bearer()), body_for(up));
            if r.status == 409 {
                check_reply(&doc, "put", up, &url, &r);
                break r;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "no 409 while an upload runs: {} {}",
                r.status,
                r.text()
            );
            // This one came first and took the lane: the held one was answered; again.
            let mut b = [0u8; 64];
            if !matches!(std::io::Read::read(&mut held, &mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                held = hold();
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(busy.json()["kind"], "busy");
        assert_eq!(busy.json()["exit"], 6);
        drop(held);

        // A file the printer does not have.
        let thumb = "/api/v1/printers/{id}/files/{name}/thumbnail";
        let url = thumb.replace("{id}", &id).replace("{name}", "missing.gcode");
        let r = request(addr, "GET", &url, Some(&bearer()), None);
        assert_eq!(r.status, 404, "{}", r.text());
        check_reply(&doc, "get", thumb, &url, &r);

        // Too large, and a wrong token.
        let led = "/api/v1/printers/{id}/led";
        let url = led.replace("{id}", &id);
        let big = vec![b' '; 64 * 1024];
        let r = request(addr, "POST", &url, Some(&bearer()), Some(("application/json", &big)));
        assert_eq!(r.status, 413, "{}", r.text());
        check_reply(&doc, "post", led, &url, &r);
        let r = request(addr, "POST", &url, Some("Bearer wrong-token-0123456789"), body_for(led));
        assert_eq!(r.status, 401, "{}", r.text());
        check_reply(&doc, "post", led, &url, &r);
    })
    .await
    .expect("errors");
    f.stop().await;
}
