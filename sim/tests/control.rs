//! The control API over real sockets on 127.0.0.1, its effects checked through the printer's
//! own protocols (TCP `~M105`/`~M119`, HTTP `/detail`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_sim::{FaultRule, HeaterId, PrinterSpec, SimHandle, SimServer, StateChange, Status};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(10);

/// One request, `Connection: close`; returns status and body (JSON or the raw text).
fn call(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let text = String::from_utf8_lossy(&reply).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    (code, value)
}

fn post(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    call(addr, "POST", path, body.to_string().as_bytes())
}

fn start(models: &[Model]) -> (SimServer, SocketAddr) {
    let specs = models.iter().map(|&m| PrinterSpec::new(m)).collect();
    let mut server = SimServer::start(specs, &Default::default()).unwrap();
    let ctl = server
        .start_control("127.0.0.1:0".parse().unwrap())
        .unwrap();
    (server, ctl)
}

/// A logged-in TCP connection.
fn tcp_login(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"~M601 S1\n").unwrap();
    let r = read_until(&mut s, "ok\n", DEADLINE);
    assert!(r.contains("Control Success"), "{r}");
    s
}

/// Reads until the text ends with `end` or `deadline` passes.
fn read_until(s: &mut TcpStream, end: &str, deadline: Duration) -> String {
    let stop = Instant::now() + deadline;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while Instant::now() < stop && !String::from_utf8_lossy(&out).ends_with(end) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tcp(s: &mut TcpStream, cmd: &str) -> String {
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    read_until(s, "ok\n", DEADLINE)
}

/// An HTTP printer request (`Connection: close`): the envelope code, or the HTTP status when
/// the body is not JSON.
fn printer_http(addr: SocketAddr, path: &str, h: &SimHandle) -> Value {
    let body = json!({"serialNumber": h.serial(), "checkCode": h.check_code()}).to_string();
    let (code, v) = call(addr, "POST", path, body.as_bytes());
    assert_eq!(code, 200, "{path}: {v}");
    v
}

#[test]
fn list_and_inspect_printers_by_index_and_serial() {
    let (server, ctl) = start(&[Model::Adventurer5M, Model::Adventurer3]);
    let (code, list) = call(ctl, "GET", "/printers", b"");
    assert_eq!(code, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["model"], Model::Adventurer5M.name());
    let serial = server.printers()[1].serial();
    assert_eq!(list[1]["serial"], serial.as_str());
    assert_eq!(
        list[1]["addresses"]["http"],
        Value::Null,
        "no HTTP on the A3"
    );
    assert_eq!(
        list[0]["addresses"]["tcp"],
        server.printers()[0].tcp.unwrap().to_string()
    );
    let (code, by_serial) = call(ctl, "GET", &format!("/printers/{serial}"), b"");
    assert_eq!(code, 200);
    assert_eq!(by_serial["model"], Model::Adventurer3.name());
    let files = by_serial["files"].as_array().unwrap();
    assert!(files
        .iter()
        .any(|f| f["name"] == "cube.gcode" && f["sha256"].as_str().unwrap().len() == 64));
    assert_eq!(call(ctl, "GET", "/printers/7", b"").0, 404);
    assert_eq!(call(ctl, "GET", "/nowhere", b"").0, 404);
    assert_eq!(call(ctl, "DELETE", "/printers", b"").0, 405);
    assert_eq!(call(ctl, "POST", "/printers/0/state", b"{nope").0, 400);
    assert_eq!(
        post(ctl, "/printers/0/state", json!({"status": "flying"})).0,
        400
    );
    let (code, e) = post(ctl, "/printers/0/faults", json!({"rule": "http-bogus"}));
    assert_eq!(code, 400);
    assert!(e["error"].as_str().unwrap().contains("http-bogus"), "{e}");
    server.shutdown();
}

#[test]
fn error_code_door_and_runout_show_in_detail_and_m119() {
    let (server, ctl) = start(&[Model::Adventurer5M]);
    let h = server.printer();
    let (code, state) = post(
        ctl,
        "/printers/0/state",
        json!({"status": "error", "code": "E0088"}),
    );
    assert_eq!(code, 200, "{state}");
    assert_eq!(state["status"], "error");
    let (code, _) = post(
        ctl,
        "/printers/0/state",
        json!({"door_open": true, "filament_runout": true}),
    );
    assert_eq!(code, 200);
    let detail = printer_http(h.http.unwrap(), "/detail", h);
    assert_eq!(detail["detail"]["errorCode"], "E0088", "{detail}");
    assert_eq!(detail["detail"]["status"], "error", "{detail}");
    assert_eq!(detail["detail"]["doorStatus"], "open");
    assert_eq!(detail["detail"]["hasRightFilament"], false);
    let mut s = tcp_login(h.tcp.unwrap());
    let m119 = tcp(&mut s, "~M119");
    assert!(m119.contains("F:1"), "{m119}");
    server.shutdown();
}

#[test]
fn temperatures_show_in_m105_and_a_job_completes_when_time_advances() {
    let (server, ctl) = start(&[Model::Adventurer5M]);
    let h = server.printer();
    let (code, v) = post(
        ctl,
        "/printers/0/state",
        json!({"temperatures": {"bed": {"current": 61, "target": 62}, "nozzle": {"current": 199, "target": 200}}}),
    );
    assert_eq!(code, 200, "{v}");
    let mut s = tcp_login(h.tcp.unwrap());
    let m105 = tcp(&mut s, "~M105");
    assert!(
        m105.contains("T0:199/200") && m105.contains("B:61/62"),
        "{m105}"
    );

    let (code, v) = post(
        ctl,
        "/printers/0/state",
        json!({"status": "printing", "file": "cube.gcode", "progress": 0.4}),
    );
    assert_eq!(code, 200, "{v}");
    assert!((v["job"]["progress"].as_f64().unwrap() - 0.4).abs() < 1e-6);
    let m119 = tcp(&mut s, "~M119");
    assert!(m119.contains("BUILDING_FROM_SD"), "{m119}");
    let (code, v) = post(ctl, "/printers/0/state", json!({"layer": 3}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["job"]["layer"], 3);

    let secs = h.lock().spec.job_duration.as_secs() + 60;
    let (code, _) = post(ctl, "/time", json!({"advance": secs}));
    assert_eq!(code, 200);
    assert_eq!(h.lock().status, Status::Completed);
    let m119 = tcp(&mut s, "~M119");
    assert!(m119.contains("BUILDING_COMPLETED"), "{m119}");

    let (code, v) = post(ctl, "/printers/0/time", json!({"speed": 50}));
    assert_eq!(code, 200, "{v}");
    assert_eq!(h.lock().spec.speed, 50.0);
    assert_eq!(post(ctl, "/time", json!({"advance": -1})).0, 400);

    let (code, _) = post(ctl, "/printers/0/reset", json!({}));
    assert_eq!(code, 200);
    assert_eq!(h.lock().status, Status::Ready);
    assert_eq!(h.lock().bed.target, 0.0);
    server.shutdown();
}

#[test]
fn a_once_fault_scoped_to_detail_leaves_login_and_other_paths_alone() {
    let (server, ctl) = start(&[Model::AD5X]);
    let h = server.printer();
    let (code, v) = post(
        ctl,
        "/printers/0/faults",
        json!({"fault": "http-busy", "times": "once", "only": "/detail"}),
    );
    assert_eq!(code, 200, "{v}");
    assert!(v["id"].as_u64().is_some());
    let (_, rules) = call(ctl, "GET", "/printers/0/faults", b"");
    assert_eq!(rules[0]["rule"], "http-busy:once@/detail", "{rules}");

    let http = h.http.unwrap();
    assert_eq!(printer_http(http, "/checkCode", h)["code"], 0);
    assert_eq!(printer_http(http, "/product", h)["code"], 0);
    assert_eq!(printer_http(http, "/detail", h)["code"], 5, "busy once");
    let ok = printer_http(http, "/detail", h);
    assert_eq!(ok["code"], 0, "{ok}");
    assert!(ok["detail"].is_object());
    assert_eq!(call(ctl, "GET", "/printers/0/faults", b"").1, json!([]));

    // Until cleared, removable by id.
    let (_, v) = post(
        ctl,
        "/printers/0/faults",
        json!({"rule": "http-500@/product"}),
    );
    let id = v["id"].as_u64().unwrap();
    let (code, _) = call(
        ctl,
        "POST",
        "/printers/0/faults",
        b"{\"rule\":\"http-busy:2\"}",
    );
    assert_eq!(code, 200);
    let (_, state) = call(ctl, "GET", "/printers/0", b"");
    assert_eq!(state["faults"].as_array().unwrap().len(), 2, "{state}");
    assert_eq!(
        call(ctl, "DELETE", &format!("/printers/0/faults/{id}"), b"").0,
        200
    );
    assert_eq!(
        call(ctl, "DELETE", &format!("/printers/0/faults/{id}"), b"").0,
        404
    );
    assert_eq!(call(ctl, "DELETE", "/printers/0/faults", b"").0, 200);
    assert!(h.faults.rules().is_empty());
    server.shutdown();
}

#[test]
fn a_counted_tcp_stall_scoped_to_m105_stalls_only_m105() {
    let (server, ctl) = start(&[Model::Adventurer5M]);
    let h = server.printer();
    let (code, v) = post(
        ctl,
        "/printers/0/faults",
        json!({"rule": "tcp-stall:2@~M105"}),
    );
    assert_eq!(code, 200, "{v}");
    let mut s = tcp_login(h.tcp.unwrap());
    assert!(tcp(&mut s, "~M115").contains("Machine Type"));
    // Two stalled replies: nothing comes back for them.
    s.write_all(b"~M105\n").unwrap();
    assert_eq!(read_until(&mut s, "ok\n", Duration::from_millis(300)), "");
    s.write_all(b"~M105\n").unwrap();
    assert_eq!(read_until(&mut s, "ok\n", Duration::from_millis(300)), "");
    assert!(tcp(&mut s, "~M119").contains("MachineStatus"));
    assert!(
        tcp(&mut s, "~M105").contains("T0:"),
        "the third M105 is answered"
    );
    assert!(h.faults.rules().is_empty());
    server.shutdown();
}

#[test]
fn files_put_and_delete_with_percent_decoded_names() {
    let (server, ctl) = start(&[Model::Adventurer5M]);
    let h = server.printer();
    let (code, v) = call(
        ctl,
        "PUT",
        "/printers/0/files/my%20part.gcode",
        b"G28\nG1 X1\n",
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(h.lock().files["my part.gcode"].size, 10);
    let (_, state) = call(ctl, "GET", "/printers/0", b"");
    let f = state["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "my part.gcode")
        .cloned()
        .unwrap();
    assert_eq!(f["size"], 10);
    assert_eq!(call(ctl, "PUT", "/printers/0/files/a%2Fb", b"x").0, 400);
    assert_eq!(call(ctl, "PUT", "/printers/0/files/a%00b", b"x").0, 400);
    assert_eq!(
        call(ctl, "DELETE", "/printers/0/files/my%20part.gcode", b"").0,
        200
    );
    assert!(!h.lock().files.contains_key("my part.gcode"));
    assert_eq!(
        call(ctl, "DELETE", "/printers/0/files/my%20part.gcode", b"").0,
        404
    );
    server.shutdown();
}

#[test]
fn connection_close_with_a_body_sent_in_pieces_gets_its_response() {
    let (server, ctl) = start(&[Model::Adventurer5M]);
    let body = json!({"door_open": true}).to_string();
    let mut s = TcpStream::connect(ctl).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "POST /printers/0/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.flush().unwrap();
    let (a, b) = body.as_bytes().split_at(5);
    s.write_all(a).unwrap();
    s.flush().unwrap();
    s.write_all(b).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("Connection: close"));
    assert!(server.printer().lock().door_open);

    // Too large: 413 without the body being sent.
    let mut s = TcpStream::connect(ctl).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"POST /time HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    server.shutdown();
}

#[test]
fn typed_handle_operations() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let h = server.printer();
    h.set_state(StateChange::Printing {
        file: "cube.gcode".into(),
        progress: 0.0,
    })
    .unwrap();
    assert!(h.set_temperature(HeaterId::Bed, Some(55.0), None));
    assert!(!h.set_temperature(HeaterId::Nozzle(3), Some(55.0), None));
    h.add_file("x.gcode", b"G28\n");
    assert!(h.remove_file("x.gcode"));
    h.lock().set_job_duration(Some(Duration::from_secs(10)));
    h.advance(Duration::from_secs(11));
    assert_eq!(h.state_json()["status"], "completed");
    let id = h.inject("http-busy:once".parse::<FaultRule>().unwrap());
    assert_eq!(h.faults.rules()[0].id, id);
    h.clear_faults();
    assert!(h.faults.rules().is_empty());
    assert!(h.set_state(StateChange::Layer(0)).is_err());
    h.reset();
    assert_eq!(h.state_json()["status"], "ready");
    assert!(h.journal().is_empty());
    server.shutdown();
}

#[test]
fn a_file_put_with_expect_continue_and_a_prompt_shutdown_beside_a_silent_client() {
    let (server, ctl) = start(&[Model::Adventurer5M]);
    let mut s = TcpStream::connect(ctl).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(
        b"PUT /printers/0/files/big.gcode HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf[..], b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"G28\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(server.printer().lock().files["big.gcode"].size, 4);

    // A client that connects and says nothing does not hold up shutdown for its timeout.
    let _silent = TcpStream::connect(ctl).unwrap();
    let (_, list) = call(ctl, "GET", "/printers", b""); // the listener has taken it by now
    assert_eq!(list.as_array().unwrap().len(), 1);
    let t = Instant::now();
    server.shutdown();
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
}
