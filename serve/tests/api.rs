//! The server's API against simulated printers: the token on every route, check codes in no
//! response, actions reaching the printer, events, streamed uploads, metrics, and printers that
//! stall or vanish without stalling the others.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use flashforge_proto::Model;
use flashforge_serve::ROUTES;
use flashforge_sim::StateChange;

/// A path of ROUTES with its parameters filled in.
fn fill(path: &str, id: &str) -> String {
    path.replace("{id}", id).replace("{name}", "cube.gcode")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn body_for(path: &str) -> Option<(&'static str, &'static [u8])> {
    let json = "application/json";
    Some(match path.rsplit('/').next().unwrap() {
        "print" => (json, br#"{"file":"cube.gcode"}"#.as_slice()),
        "led" => (json, br#"{"on":true}"#.as_slice()),
        "temperature" => (json, br#"{"heater":"bed","celsius":50}"#.as_slice()),
        "fan" => (json, br#"{"percent":40}"#.as_slice()),
        _ if path.contains("/files/") => ("application/octet-stream", b"G28\nG1 X10\n".as_slice()),
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_the_token_and_a_wrong_one_is_refused() {
    let f = start(&[Model::Adventurer5M], Duration::from_millis(300), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.server.farm().slots()[0].id.to_string();
    blocking(move || {
        for (method, path) in ROUTES {
            let p = fill(path, &id);
            let m = method.to_ascii_uppercase();
            for auth in [
                None,
                Some("Bearer wrong-token-0123456789"),
                Some("Basic dXNlcjpwdw=="),
            ] {
                let r = request(addr, &m, &p, auth, body_for(path));
                assert_eq!(r.status, 401, "{m} {p} with {auth:?}: {}", r.text());
                assert_eq!(r.json()["kind"], "unauthorized", "{m} {p}");
                assert!(r
                    .header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Bearer")));
            }
            // The token in the wrong place (a query string) does not count.
            let q = format!("{p}?access_token={TOKEN}");
            assert_eq!(
                request(addr, &m, &q, None, body_for(path)).status,
                401,
                "{m} {q}"
            );
        }
        // The page itself and its scripts carry no data: open.
        for p in ["/", "/assets/app.js", "/assets/style.css"] {
            let r = request(addr, "GET", p, None, None);
            assert_eq!(r.status, 200, "{p}");
            assert!(r.header("content-security-policy").is_some(), "{p}");
            assert!(
                r.header("access-control-allow-origin").is_none(),
                "CORS is off: {p}"
            );
        }
    })
    .await;
    f.stop().await;
}

/// The `Bearer` scheme in any case, with spaces or tabs before the token; anything else
/// stays refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let f = start(&[Model::Adventurer5M], Duration::from_millis(300), false).await;
    let addr = f.addr;
    blocking(move || {
        for ok in [
            format!("BEARER {TOKEN}"),
            format!("bearer {TOKEN}"),
            format!("BeArEr {TOKEN}"),
            format!("Bearer  \t {TOKEN}"),
        ] {
            let r = request(addr, "GET", "/api/v1/printers", Some(&ok), None);
            assert_eq!(r.status, 200, "{ok:?}: {}", r.text());
        }
        for bad in [
            format!("Basic {TOKEN}"),
            "Bearer".to_owned(),
            "Bearer  ".to_owned(),
            format!("Bearer{TOKEN}"),
            format!("Bearer {TOKEN}x"),
            format!("Bearer {TOKEN} junk"),
            format!("Bearer {TOKEN},{TOKEN}"),
        ] {
            let r = request(addr, "GET", "/api/v1/printers", Some(&bad), None);
            assert_eq!(r.status, 401, "{bad:?}: {}", r.text());
            assert_eq!(r.json()["kind"], "unauthorized", "{bad:?}");
        }
    })
    .await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_reads_open_only_reads() {
    let f = start(&[Model::Adventurer5M], Duration::from_millis(300), true).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.server.farm().slots()[0].id.to_string();
    blocking(move || {
        let r = request(addr, "GET", "/api/v1/printers", None, None);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["printers"][0]["online"], true);
        assert_eq!(request(addr, "GET", "/metrics", None, None).status, 200);
        for (method, path) in ROUTES.iter().filter(|(m, _)| *m != "get") {
            let p = fill(path, &id);
            let m = method.to_ascii_uppercase();
            let r = request(addr, &m, &p, None, body_for(path));
            assert_eq!(r.status, 401, "{m} {p} is an action: {}", r.text());
        }
    })
    .await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_header_is_refused_on_loopback() {
    let f = start(&[Model::Adventurer5M], Duration::from_millis(300), true).await;
    let addr = f.addr;
    blocking(move || {
        for host in ["evil.example", "evil.example:8870", "192.168.1.9:8870", "127.0.0.1.nip.io"] {
            let r = raw(addr, &format!("GET /api/v1/printers HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n", bearer()));
            assert_eq!(r.status, 421, "{host}: {}", r.text());
            assert!(!r.text().contains("\"printers\""), "{host}");
        }
        let r = raw(addr, "GET /api/v1/printers HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 421, "{}", r.text());
        let r = raw(addr, "GET /api/v1/printers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 200);
        // An absolute-form target: its authority is the host (RFC 9112 §3.2.2), whatever
        // the Host header says; a Host that disagrees with it is refused too.
        for (target, host) in [
            ("http://evil.example/api/v1/printers", "127.0.0.1"),
            ("http://evil.example:8870/api/v1/printers", "127.0.0.1:8870"),
            ("http://127.0.0.1.nip.io/api/v1/printers", "127.0.0.1"),
            ("http://127.0.0.1/api/v1/printers", "evil.example"),
            ("http://localhost/api/v1/printers", "127.0.0.1"),
            ("http://user@127.0.0.1/api/v1/printers", "127.0.0.1"),
        ] {
            let r = raw(addr, &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n", bearer()));
            assert_eq!(r.status, 421, "{target} with Host {host}: {}", r.text());
            assert_eq!(r.json()["kind"], "usage", "{target}");
            assert!(!r.text().contains("\"printers\""), "{target}");
        }
        let r = raw(addr, &format!("GET http://evil.example/api/v1/printers HTTP/1.1\r\nAuthorization: {}\r\nConnection: close\r\n\r\n", bearer()));
        assert_eq!(r.status, 421, "absolute form, no Host: {}", r.text());
        // A loopback authority that agrees with Host is served.
        let target = format!("http://{addr}/api/v1/printers");
        let r = raw(addr, &format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"));
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        let r = raw(addr, "GET http://localhost/api/v1/printers HTTP/1.1\r\nHost: LOCALHOST\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 200, "{}", r.text());
    })
    .await;
    f.stop().await;
}

fn raw(addr: SocketAddr, req: &str) -> Reply {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse_reply(&buf)
}

/// Every route, every event, the page and the metrics: no check code anywhere, even when a
/// printer puts it in its error text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_codes_appear_in_no_response() {
    let models = [
        Model::Adventurer5MPro,
        Model::AD5X,
        Model::Creator5Pro,
        Model::Adventurer4,
    ];
    let f = start(&models, Duration::from_millis(200), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let codes: Vec<String> = f.sims.printers().iter().map(|h| h.check_code()).collect();
    for h in f.sims.printers() {
        h.add_file("cube.gcode", b"; thumbnail\nG28\n");
    }
    let addr = f.addr;
    let ids: Vec<String> = f.ids();
    // Every event while the requests run (status, job, upload, offline, ...).
    let watcher = tokio::task::spawn_blocking(move || {
        let mut ev = Events::open(addr, "/api/v1/events", Some(&bearer()));
        let mut seen = Vec::new();
        let end = Instant::now() + Duration::from_secs(4);
        while let Some(e) = ev.next(end) {
            seen.push(e.data);
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bodies = blocking(move || {
        let mut all = Vec::new();
        for id in &ids {
            for (method, path) in ROUTES {
                if path.ends_with("events") {
                    continue;
                }
                let r = request(
                    addr,
                    &method.to_ascii_uppercase(),
                    &fill(path, id),
                    Some(&bearer()),
                    body_for(path),
                );
                all.push((format!("{method} {path} {id}"), r.body));
            }
        }
        for p in [
            "/",
            "/assets/app.js",
            "/assets/style.css",
            "/api/v1/nope",
            "/api/v1/printers/nope",
        ] {
            all.push((
                p.to_owned(),
                request(addr, "GET", p, Some(&bearer()), None).body,
            ));
        }
        all
    })
    .await;
    assert!(bodies.len() > ROUTES.len() * 3);
    let seen = watcher.await.unwrap();
    assert!(seen.len() > 2, "events while acting: {}", seen.len());
    for code in &codes {
        for (what, body) in &bodies {
            assert!(
                !String::from_utf8_lossy(body).contains(code.as_str()),
                "check code in {what}"
            );
        }
        for e in &seen {
            assert!(!e.contains(code.as_str()), "check code in an event");
        }
    }
    let metrics =
        blocking(move || request(addr, "GET", "/metrics", Some(&bearer()), None).text()).await;
    for code in &codes {
        assert!(!metrics.contains(code.as_str()), "check code in /metrics");
        assert!(
            !format!("{:?}", f.server.farm().slots()).contains(code.as_str()),
            "in Debug"
        );
    }
    f.stop().await;
}

/// A job started on a printer reaches the event stream as `job started` and a `status` event
/// within one poll interval (plus a margin for a loaded machine); pause through the API pauses
/// the printer and comes back as `job paused`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_transitions_and_actions_flow_through_events() {
    let interval = Duration::from_millis(400);
    let f = start(
        &[Model::Adventurer5MPro, Model::Adventurer3],
        interval,
        false,
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    for (i, h) in f.sims.printers().iter().enumerate() {
        let id = f.server.farm().slots()[i].id.to_string();
        let mut ev = blocking({
            let p = format!("/api/v1/printers/{id}/events");
            move || Events::open(addr, &p, Some(&bearer()))
        })
        .await;
        let first = blocking(move || {
            let e = ev.next(Instant::now() + Duration::from_secs(10));
            (e, ev)
        })
        .await;
        let (snap, mut ev) = first;
        let snap = snap.expect("snapshot event");
        assert_eq!(snap.event, "snapshot");
        let v: serde_json::Value = serde_json::from_str(&snap.data).unwrap();
        assert_eq!(
            v["printers"].as_array().unwrap().len(),
            1,
            "only this printer"
        );
        let t0 = Instant::now();
        h.set_state(StateChange::Printing {
            file: "part.gcode".into(),
            progress: 0.25,
        })
        .unwrap();
        let (job, ev2) = blocking(move || {
            let e = ev.until(Instant::now() + Duration::from_secs(20), |e| {
                e.event == "job"
            });
            (e, ev)
        })
        .await;
        let took = t0.elapsed();
        let job = job.expect("job event");
        let v: serde_json::Value = serde_json::from_str(&job.data).unwrap();
        assert_eq!(v["transition"], "started", "{v}");
        assert_eq!(v["printer"], id.as_str());
        assert!(job.id.is_some(), "events carry ids");
        // One interval plus a wide margin for a loaded machine.
        assert!(took < interval + Duration::from_secs(5), "{took:?}");
        let mut ev = ev2;
        let r = blocking({
            let p = format!("/api/v1/printers/{id}/pause");
            move || request(addr, "POST", &p, Some(&bearer()), None)
        })
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["ok"], true);
        let (paused, back) = blocking(move || {
            let e = ev.until(Instant::now() + Duration::from_secs(20), |e| {
                e.event == "job" && e.data.contains("\"paused\"")
            });
            (e, ev)
        })
        .await;
        assert!(paused.is_some(), "paused event");
        drop(back);
        let status = h.state_json()["status"].clone();
        assert!(status == "paused" || status == "pausing", "{status}");
        let st = f.server.farm().slots()[i].snapshot();
        assert_eq!(st.status.unwrap().state.name(), "Paused");
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_reach_the_printer_and_errors_carry_cli_kinds() {
    let f = start(
        &[Model::Adventurer5MPro, Model::Adventurer3],
        Duration::from_millis(300),
        false,
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let ids: Vec<String> = f.ids();
    let (a5, a3) = (ids[0].clone(), ids[1].clone());
    let h5 = &f.sims.printers()[0];
    h5.add_file("cube.gcode", b"G28\n");
    let replies = blocking(move || {
        let post = |p: String, b: Option<&[u8]>| {
            request(
                addr,
                "POST",
                &p,
                Some(&bearer()),
                b.map(|b| ("application/json", b)),
            )
        };
        vec![
            (
                "led off",
                post(
                    format!("/api/v1/printers/{a5}/led"),
                    Some(br#"{"on":false}"#),
                ),
            ),
            (
                "bed 55",
                post(
                    format!("/api/v1/printers/{a5}/temperature"),
                    Some(br#"{"heater":"bed","celsius":55}"#),
                ),
            ),
            (
                "fan 101",
                post(
                    format!("/api/v1/printers/{a5}/fan"),
                    Some(br#"{"percent":101}"#),
                ),
            ),
            (
                "heater x",
                post(
                    format!("/api/v1/printers/{a5}/temperature"),
                    Some(br#"{"heater":"x","celsius":5}"#),
                ),
            ),
            (
                "extra field",
                post(
                    format!("/api/v1/printers/{a5}/led"),
                    Some(br#"{"on":true,"x":1}"#),
                ),
            ),
            (
                "not json",
                post(format!("/api/v1/printers/{a5}/led"), Some(b"{")),
            ),
            (
                "bad name",
                post(
                    format!("/api/v1/printers/{a5}/print"),
                    Some(br#"{"file":"a/b.gcode"}"#),
                ),
            ),
            (
                "print",
                post(
                    format!("/api/v1/printers/{a5}/print"),
                    Some(br#"{"file":"cube.gcode"}"#),
                ),
            ),
            (
                "print again",
                post(
                    format!("/api/v1/printers/{a5}/print"),
                    Some(br#"{"file":"cube.gcode"}"#),
                ),
            ),
            ("unknown", post("/api/v1/printers/nope/pause".into(), None)),
            (
                "a3 fan",
                post(
                    format!("/api/v1/printers/{a3}/temperature"),
                    Some(br#"{"heater":"chamber","celsius":40}"#),
                ),
            ),
            (
                "huge",
                post(
                    format!("/api/v1/printers/{a5}/led"),
                    Some(&vec![b' '; 64 * 1024]),
                ),
            ),
        ]
    })
    .await;
    let r: BTreeMap<_, _> = replies.into_iter().collect();
    assert_eq!(r["led off"].status, 200, "{}", r["led off"].text());
    assert_eq!(h5.state_json()["led"], false);
    assert_eq!(r["bed 55"].status, 200);
    let journal = h5.state_json()["journal"].to_string();
    assert!(journal.contains("~M140 S55"), "{journal}");
    for (k, status, kind) in [
        ("fan 101", 400, "usage"),
        ("heater x", 400, "usage"),
        ("extra field", 400, "usage"),
        ("not json", 400, "usage"),
        ("bad name", 400, "usage"),
        ("print again", 409, "busy"),
        ("unknown", 404, "not_found"),
        ("huge", 413, "too_large"),
    ] {
        assert_eq!(r[k].status, status, "{k}: {}", r[k].text());
        assert_eq!(r[k].json()["kind"], kind, "{k}: {}", r[k].text());
    }
    assert_eq!(
        r["fan 101"].json()["exit"],
        2,
        "usage is exit 2 as in the CLI"
    );
    assert_eq!(r["print again"].json()["exit"], 6);
    assert_eq!(r["print"].status, 200, "{}", r["print"].text());
    assert!(
        ["heating", "printing"].contains(&h5.state_json()["status"].as_str().unwrap()),
        "{}",
        h5.state_json()
    );
    // The Adventurer 3 has no chamber heater: refused before anything is sent.
    assert_eq!(r["a3 fan"].status, 422, "{}", r["a3 fan"].text());
    assert_eq!(r["a3 fan"].json()["kind"], "unsupported");
    // Neither the caller's usage errors nor what a model cannot do count as the printer's.
    let text =
        blocking(move || request(addr, "GET", "/metrics", Some(&bearer()), None).text()).await;
    let errors: Vec<Sample> = parse_metrics(&text)
        .into_iter()
        .filter(|s| s.name == "flashforge_printer_errors_total")
        .collect();
    for s in &errors {
        let kind = s.labels["kind"].as_str();
        assert!(kind != "usage" && kind != "unsupported", "{s:?}");
    }
    f.stop().await;
}

/// Every JSON body is an object: an array, a bare value or null is refused (serde alone would
/// take `[true]` for `{"on":true}`), and the printer is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_must_be_objects() {
    let f = start(&[Model::Adventurer5MPro], Duration::from_millis(300), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.ids()[0].clone();
    let h = &f.sims.printers()[0];
    let before = h.state_json()["led"].clone();
    let want = !before.as_bool().unwrap_or(false);
    let replies = blocking(move || {
        let mut out = Vec::new();
        for (route, body) in [
            ("led", format!("[{want}]")),
            ("led", want.to_string()),
            ("led", "null".to_owned()),
            ("led", "[]".to_owned()),
            ("fan", "[40]".to_owned()),
            ("temperature", r#"["bed",50]"#.to_owned()),
            ("print", r#"["cube.gcode"]"#.to_owned()),
            ("print", r#""cube.gcode""#.to_owned()),
        ] {
            let r = request(
                addr,
                "POST",
                &format!("/api/v1/printers/{id}/{route}"),
                Some(&bearer()),
                Some(("application/json", body.as_bytes())),
            );
            out.push((route, body, r));
        }
        out
    })
    .await;
    for (route, body, r) in replies {
        assert_eq!(r.status, 400, "{route} {body}: {}", r.text());
        let j = r.json();
        assert_eq!(j["kind"], "usage", "{route} {body}: {j}");
        assert_eq!(j["exit"], 2, "{route} {body}: {j}");
    }
    assert_eq!(
        h.state_json()["led"],
        before,
        "a refused body reached the printer"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_stream_to_the_printer_with_progress_and_limits() {
    let f = start_with(&[Model::Adventurer5MPro, Model::Adventurer4], |c| {
        c.interval = Duration::from_millis(300);
        c.max_upload = 8 << 20;
    })
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    for (i, h) in f.sims.printers().iter().enumerate() {
        let id = f.server.farm().slots()[i].id.to_string();
        let mut ev = blocking(move || Events::open(addr, "/api/v1/events", Some(&bearer()))).await;
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| b"G1 X1 Y2\n"[(i % 9) as usize])
            .collect();
        let expected = data.clone();
        let r = blocking({
            let p = format!("/api/v1/printers/{id}/files/big%20part.gcode");
            move || {
                request(
                    addr,
                    "PUT",
                    &p,
                    Some(&bearer()),
                    Some(("application/octet-stream", &data)),
                )
            }
        })
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["bytes"], 3_000_000);
        let stored = h
            .lock()
            .file("big part.gcode")
            .cloned()
            .expect("file on the printer");
        assert_eq!(stored.size, 3_000_000);
        if let Some(d) = &stored.data {
            assert_eq!(&d[..], &expected[..], "the bytes arrive unchanged");
        }
        let (done, _) = blocking(move || {
            let e = ev.until(Instant::now() + Duration::from_secs(20), |e| {
                e.event == "upload" && e.data.contains("\"done\":true")
            });
            (e, ev)
        })
        .await;
        let v: serde_json::Value =
            serde_json::from_str(&done.expect("upload done event").data).unwrap();
        assert_eq!(v["upload"]["sent"], 3_000_000);
        assert!(v["upload"]["error"].is_null());
        // Limits: too large, no length (chunked), a bad name.
        let replies = blocking({
            let id = id.clone();
            move || {
                let big = request_with(
                    addr,
                    "PUT",
                    &format!("/api/v1/printers/{id}/files/x.gcode"),
                    &[("Authorization", Some(&bearer())), ("Content-Length", Some("9000000"))],
                    None,
                );
                let chunked = raw(
                    addr,
                    &format!("PUT /api/v1/printers/{id}/files/x.gcode HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nG28\r\n0\r\n\r\n", bearer()),
                );
                let name = request(addr, "PUT", &format!("/api/v1/printers/{id}/files/a%2Fb.gcode"), Some(&bearer()), Some(("application/octet-stream", b"G28\n")));
                (big, chunked, name)
            }
        })
        .await;
        assert_eq!(replies.0.status, 413, "{}", replies.0.text());
        assert_eq!(replies.1.status, 411, "{}", replies.1.text());
        assert_eq!(replies.2.status, 400, "{}", replies.2.text());
        assert!(h.lock().file("x.gcode").is_none());
    }
    let m = blocking(move || request(addr, "GET", "/metrics", Some(&bearer()), None).text()).await;
    let parsed = parse_metrics(&m);
    let uploads: f64 = parsed
        .iter()
        .filter(|s| {
            s.name == "flashforge_uploads_total"
                && s.labels.get("result").map(String::as_str) == Some("ok")
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(uploads, 2.0);
    let bytes: f64 = parsed
        .iter()
        .filter(|s| s.name == "flashforge_upload_bytes_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(bytes, 6_000_000.0);
    f.stop().await;
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the text exposition format: every line is a comment (`# TYPE`,
/// `# HELP`, `# UNIT`, `# EOF`) or `name{label="value",...} number`; every sample's family
/// has a `# TYPE`.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut types = BTreeMap::new();
    let mut out = Vec::new();
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            let mut parts = c.splitn(3, ' ');
            let kw = parts.next().unwrap();
            assert!(["TYPE", "HELP", "UNIT", "EOF"].contains(&kw), "{line}");
            if kw == "TYPE" {
                let name = parts.next().unwrap().to_owned();
                let t = parts.next().unwrap().to_owned();
                assert!(
                    ["gauge", "counter", "histogram", "unknown"].contains(&t.as_str()),
                    "{line}"
                );
                types.insert(name, t);
            }
            continue;
        }
        assert!(!line.is_empty(), "no blank lines");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let mut labels = BTreeMap::new();
                for kv in split_labels(body) {
                    let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{line}"));
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("{line}"));
                    labels.insert(k.to_owned(), v.to_owned());
                }
                (n.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "{line}"
        );
        let family = types
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("no # TYPE for {name}"));
        let _ = family;
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

fn split_labels(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut esc) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if esc => esc = false,
            '\\' => esc = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scrape_parses_with_every_family() {
    let f = start(
        &[
            Model::Adventurer5MPro,
            Model::Creator5Pro,
            Model::Adventurer3,
        ],
        Duration::from_millis(200),
        false,
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    f.sims.printers()[0]
        .set_state(StateChange::Printing {
            file: "m.gcode".into(),
            progress: 0.5,
        })
        .unwrap();
    let addr = f.addr;
    let id0 = f.server.farm().slots()[0].id.to_string();
    // Wait for a poll that sees the job.
    let t0 = Instant::now();
    while f.server.farm().slots()[0]
        .snapshot()
        .status
        .and_then(|s| s.progress)
        .is_none()
    {
        assert!(t0.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = blocking(move || request(addr, "GET", "/metrics", Some(&bearer()), None)).await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let s = parse_metrics(&r.text());
    let get = |name: &str, printer: &str| {
        s.iter()
            .find(|x| {
                x.name == name && x.labels.get("printer").map(String::as_str) == Some(printer)
            })
            .map(|x| x.value)
    };
    for slot in f.server.farm().slots() {
        assert_eq!(
            get("flashforge_printer_online", &slot.id),
            Some(1.0),
            "{}",
            slot.id
        );
        assert!(get("flashforge_printer_polls_total", &slot.id).unwrap() >= 1.0);
    }
    let progress = get("flashforge_printer_progress_ratio", &id0).expect("progress");
    assert!((0.45..=1.0).contains(&progress), "{progress}");
    let nozzle = s
        .iter()
        .find(|x| {
            x.name == "flashforge_printer_temperature_celsius"
                && x.labels["printer"] == id0
                && x.labels["heater"] == "tool0"
        })
        .expect("nozzle temperature");
    assert!(
        nozzle.value > 100.0,
        "printing: heaters at temperature ({})",
        nozzle.value
    );
    assert!(s.iter().any(
        |x| x.name == "flashforge_printer_target_temperature_celsius"
            && x.labels["heater"] == "bed"
    ));
    let state: Vec<_> = s
        .iter()
        .filter(|x| x.name == "flashforge_printer_state" && x.labels["printer"] == id0)
        .collect();
    assert_eq!(state.len(), 1, "one state series per printer: {state:?}");
    assert_eq!(state[0].labels["state"], "printing");
    assert!(s
        .iter()
        .any(|x| x.name == "flashforge_poll_duration_seconds_bucket"
            && x.labels.get("le").map(String::as_str) == Some("+Inf")
            && x.value >= 1.0));
    assert!(s
        .iter()
        .any(|x| x.name == "flashforge_poll_duration_seconds_count"));
    for p in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        let v = s
            .iter()
            .find(|x| x.name == p)
            .unwrap_or_else(|| panic!("{p}"))
            .value;
        assert!(v > 0.0, "{p} = {v}");
    }
    f.stop().await;
}

/// A printer that accepts and never answers, and an address where nothing listens: both
/// show offline with their error kinds while the others keep being polled every interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_missing_printers_do_not_stall_the_others() {
    let stall = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stall_addr = stall.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let accepted = std::thread::spawn(move || {
        let mut held = Vec::new();
        stall.set_nonblocking(true).unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60)
            && held.len() < 64
            && done_rx.try_recv().is_err()
        {
            match stall.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        held.len()
    });
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let f = start_with(&[Model::Adventurer5M, Model::Adventurer3], |c| {
        c.interval = Duration::from_millis(200);
        c.client = flashforge_tokio::ClientOptions::default()
            .reply_timeout(Duration::from_millis(800))
            .connect_timeout(Duration::from_millis(800))
            .call_wait_limit(Duration::from_millis(800));
        let creds = flashforge_tokio::Credentials::new("SNSTALL", "sEcReT42x").unwrap();
        let ep =
            |a: SocketAddr| flashforge_tokio::Endpoint::new(a.ip()).with_ports(a.port(), a.port());
        c.printers.push(flashforge_serve::PrinterEntry::new(
            "stalled",
            ep(stall_addr),
            Some(creds.clone()),
        ));
        c.printers.push(flashforge_serve::PrinterEntry::new(
            "gone",
            ep(gone),
            Some(creds),
        ));
    })
    .await;
    let farm = f.server.farm().clone();
    let t0 = Instant::now();
    loop {
        let snaps: Vec<_> = farm.slots().iter().map(|s| s.snapshot()).collect();
        let offline_ok = snaps[2].error.as_ref().is_some_and(|e| e.kind == "timeout")
            && snaps[3]
                .error
                .as_ref()
                .is_some_and(|e| e.kind == "unreachable");
        if snaps[0].online && snaps[1].online && offline_ok {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{snaps:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The good printers keep their 200 ms rhythm while the bad ones time out (800 ms).
    // While the stalled printer fails two more attempts (each waits out its 800 ms
    // deadline), the good printers poll on at their 200 ms rhythm: counted against each
    // other, not against the wall clock, so a loaded machine slows both alike.
    let (p0, p1, stalled) = {
        let s = farm.slots();
        (
            s[0].snapshot().polls,
            s[1].snapshot().polls,
            s[2].snapshot().failures,
        )
    };
    let t0 = Instant::now();
    while farm.slots()[2].snapshot().failures < stalled + 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the stalled printer is not retried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = farm.slots();
    let (d0, d1) = (s[0].snapshot().polls - p0, s[1].snapshot().polls - p1);
    assert!(
        d0 >= 4 && d1 >= 4,
        "polls of the good printers meanwhile: {d0}, {d1}"
    );
    let r = {
        let addr = f.addr;
        blocking(move || {
            request(
                addr,
                "POST",
                "/api/v1/printers/gone/pause",
                Some(&bearer()),
                None,
            )
        })
        .await
    };
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["kind"], "unreachable");
    assert_eq!(r.json()["exit"], 3);
    f.stop().await;
    let _ = done_tx.send(());
    assert!(accepted.join().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_only_for_the_allowed_origin() {
    let f = start_with(&[Model::Adventurer5M], |c| {
        c.cors_origin = Some("http://dash.example:3000".into());
    })
    .await;
    let addr = f.addr;
    blocking(move || {
        let r = raw(addr, "OPTIONS /api/v1/printers HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://dash.example:3000\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), Some("http://dash.example:3000"));
        assert!(r.header("access-control-allow-headers").unwrap().contains("authorization"));
        // The token is still needed.
        assert_eq!(request(addr, "GET", "/api/v1/printers", None, None).status, 401);
    })
    .await;
    f.stop().await;
}

#[tokio::test]
async fn duplicate_or_bad_ids_are_refused_before_binding() {
    let ep: flashforge_tokio::Endpoint = "127.0.0.1".parse().unwrap();
    let mut c = flashforge_serve::Config::new(flashforge_serve::Token::new(TOKEN).unwrap());
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.printers = vec![
        flashforge_serve::PrinterEntry::new("A", ep, None),
        flashforge_serve::PrinterEntry::new("a", ep, None),
    ];
    let e = flashforge_serve::Server::start(c.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(e, flashforge_serve::ServeError::DuplicateId(ref id) if id == "a"),
        "{e}"
    );
    c.printers.truncate(1);
    c.printers[0].id = "../x".into();
    assert!(matches!(
        flashforge_serve::Server::start(c).await.unwrap_err(),
        flashforge_serve::ServeError::BadId(_)
    ));
}

/// An Adventurer 3 reports IDLE after a cancel (it has no "cancelled" state): the job still
/// ends with a `cancelled` event; a job run to its end on it is `completed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_printers_jobs_end_with_an_event() {
    let f = start(&[Model::Adventurer3], Duration::from_millis(300), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let h = f.sims.printers()[0].clone();
    let id = f.server.farm().slots()[0].id.to_string();
    let ev = blocking({
        let p = format!("/api/v1/printers/{id}/events");
        move || Events::open(addr, &p, Some(&bearer()))
    })
    .await;
    let next_job = |mut ev: Events| {
        blocking(move || {
            let e = ev.until(Instant::now() + Duration::from_secs(20), |e| {
                e.event == "job"
            });
            let v: Option<serde_json::Value> = e.map(|e| serde_json::from_str(&e.data).unwrap());
            (v.map(|v| v["transition"].as_str().unwrap().to_owned()), ev)
        })
    };
    h.set_state(StateChange::Printing {
        file: "part.gcode".into(),
        progress: 0.25,
    })
    .unwrap();
    let (t, ev) = next_job(ev).await;
    assert_eq!(t.as_deref(), Some("started"));
    let r = blocking({
        let p = format!("/api/v1/printers/{id}/cancel");
        move || request(addr, "POST", &p, Some(&bearer()), None)
    })
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (t, ev) = next_job(ev).await;
    assert_eq!(t.as_deref(), Some("cancelled"));
    // A job at its end, then idle: completed.
    h.set_state(StateChange::Printing {
        file: "part.gcode".into(),
        progress: 0.5,
    })
    .unwrap();
    let (t, ev) = next_job(ev).await;
    assert_eq!(t.as_deref(), Some("started"));
    h.set_state(StateChange::Progress(1.0)).unwrap();
    let t0 = Instant::now();
    while f.server.farm().slots()[0]
        .snapshot()
        .status
        .and_then(|s| s.progress)
        .map_or(true, |p| p < 0.999)
    {
        assert!(t0.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.set_state(StateChange::Ready).unwrap();
    let (t, _) = next_job(ev).await;
    assert_eq!(t.as_deref(), Some("completed"));
    f.stop().await;
}

/// A file the printer does not have: 404 `not_found` (HTTP code 4, TCP `File not found`),
/// for its thumbnail and for printing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_is_404() {
    let f = start(
        &[Model::Adventurer5MPro, Model::Adventurer4],
        Duration::from_millis(300),
        false,
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let ids: Vec<String> = f.ids();
    blocking(move || {
        for id in &ids {
            let r = request(
                addr,
                "GET",
                &format!("/api/v1/printers/{id}/files/nope.gcode/thumbnail"),
                Some(&bearer()),
                None,
            );
            assert_eq!(r.status, 404, "{id}: {}", r.text());
            assert_eq!(r.json()["kind"], "not_found");
            let r = request(
                addr,
                "POST",
                &format!("/api/v1/printers/{id}/print"),
                Some(&bearer()),
                Some(("application/json", br#"{"file":"nope.gcode"}"#)),
            );
            assert_eq!(r.status, 404, "{id}: {}", r.text());
        }
    })
    .await;
    f.stop().await;
}

/// Names with multi-byte characters where a path prefix ends (byte 6 or 8) once panicked the
/// core's name handling, in the server and in the simulated printer: upload, list, thumbnail
/// and print such a name on every protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multibyte_file_names_upload_list_and_print() {
    let f = start(
        &[Model::Adventurer3, Model::Adventurer5MPro, Model::AD5X],
        Duration::from_millis(300),
        false,
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let ids: Vec<String> = f.ids();
    blocking(move || {
        for id in &ids {
            for name in ["é漢字.gcode", "ab字.gcode", "\u{200b}.gcode"] {
                let q: String = name
                    .bytes()
                    .map(|b| match b {
                        b'a'..=b'z' | b'.' => char::from(b).to_string(),
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                let up = request(
                    addr,
                    "PUT",
                    &format!("/api/v1/printers/{id}/files/{q}"),
                    Some(&bearer()),
                    Some(("application/octet-stream", b"G28\nG1 X1\n")),
                );
                assert_eq!(up.status, 201, "{id} {name}: {}", up.text());
                let files = request(
                    addr,
                    "GET",
                    &format!("/api/v1/printers/{id}/files"),
                    Some(&bearer()),
                    None,
                );
                assert_eq!(files.status, 200, "{id}: {}", files.text());
                let listed = files.json()["files"].clone();
                assert!(
                    listed.as_array().unwrap().iter().any(|f| f == name),
                    "{id}: {name} not in {listed}"
                );
                let thumb = request(
                    addr,
                    "GET",
                    &format!("/api/v1/printers/{id}/files/{q}/thumbnail"),
                    Some(&bearer()),
                    None,
                );
                // The file has no thumbnail: a typed answer, not a dropped connection.
                assert!(
                    matches!(thumb.status, 200 | 404),
                    "{id} {name}: {} {}",
                    thumb.status,
                    thumb.text()
                );
            }
            let body = serde_json::json!({ "file": "é漢字.gcode" }).to_string();
            let r = request(
                addr,
                "POST",
                &format!("/api/v1/printers/{id}/print"),
                Some(&bearer()),
                Some(("application/json", body.as_bytes())),
            );
            assert_eq!(r.status, 200, "{id}: {}", r.text());
        }
    })
    .await;
    f.stop().await;
}

/// A client that reconnects with `Last-Event-ID` gets the job transitions it missed, then the
/// snapshot, then live events; an id that is current, foreign or not a number gets the
/// snapshot first, as a new client does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_the_transitions_it_missed() {
    let f = start(&[Model::Adventurer5MPro], Duration::from_millis(300), false).await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let id = f.ids()[0].clone();
    let h = f.sims.printers()[0].clone();
    let path = format!("/api/v1/printers/{id}/events");
    let deadline = || Instant::now() + Duration::from_secs(20);
    // A second client stays connected throughout and sees what the first one misses.
    let mut watcher = {
        let path = path.clone();
        blocking(move || Events::open(addr, &path, Some(&bearer()))).await
    };
    let mut first = {
        let path = path.clone();
        blocking(move || Events::open(addr, &path, Some(&bearer()))).await
    };
    h.set_state(StateChange::Printing {
        file: "part.gcode".into(),
        progress: 0.25,
    })
    .unwrap();
    let (started, watcher_back) = blocking(move || {
        let e = first.until(deadline(), |e| e.event == "job");
        drop(first); // the client goes away
        let w = watcher.until(deadline(), |e| e.event == "job");
        assert!(w.is_some(), "the watcher saw the start");
        (e.expect("job started"), watcher)
    })
    .await;
    let mut watcher = watcher_back;
    let seen = started.id.clone().expect("an id");
    // While it is away the job pauses.
    let r = blocking({
        let p = format!("/api/v1/printers/{id}/pause");
        move || request(addr, "POST", &p, Some(&bearer()), None)
    })
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let paused = blocking(move || {
        watcher
            .until(deadline(), |e| {
                e.event == "job" && e.data.contains("\"paused\"")
            })
            .expect("the watcher saw the pause")
    })
    .await;
    // Back with the id it saw last: the pause first, with its id, then the snapshot.
    let (replayed, current, foreign, garbage) = blocking({
        let path = path.clone();
        let seen = seen.clone();
        let paused_id = paused.id.clone().unwrap();
        move || {
            let firsts = |last: &str, n: usize| {
                let mut e =
                    Events::open_with(addr, &path, Some(&bearer()), &[("Last-Event-ID", last)]);
                (0..n)
                    .map(|_| e.next(deadline()).expect("an event"))
                    .collect::<Vec<_>>()
            };
            (
                firsts(&seen, 2),
                firsts(&paused_id, 1),
                firsts("999999999999", 1),
                firsts("x1", 1),
            )
        }
    })
    .await;
    assert_eq!(replayed[0].event, "job", "{replayed:?}");
    assert_eq!(replayed[0].id, paused.id);
    assert!(replayed[0].data.contains("\"paused\""), "{:?}", replayed[0]);
    assert_eq!(replayed[1].event, "snapshot", "{replayed:?}");
    for (what, a) in [
        ("up to date", &current),
        ("foreign", &foreign),
        ("garbage", &garbage),
    ] {
        assert_eq!(a[0].event, "snapshot", "{what}: {a:?}");
    }
    f.stop().await;
}
