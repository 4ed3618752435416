//! The core's `Session`, `HttpExchange` and `Discovery` over real loopback sockets against the
//! simulator, for every model.

use std::net::SocketAddr;
use std::time::Duration;

use flashforge_proto::discovery::{DiscoveryConfig, Probe, ReplyFormat};
use flashforge_proto::gcode::{Led, MachineStatus, Reply};
use flashforge_proto::http::{
    parse_detail, parse_envelope, parse_gcode_list, parse_gcode_thumb, parse_product, Control,
    Credentials, Heat, JobAction, JobFormat, JobOptions, Request, Temperatures, UploadSpec,
};
use flashforge_proto::{Command, CommandError, Config, Dialect, Model};
use flashforge_sim::{A3Shape, PrinterSpec, ServerConfig, SimServer, Status, MODELS};

mod common;
use common::{discover, http, upload, Tcp};

fn config(model: Model) -> Config {
    if model == Model::Adventurer3 {
        Config::adventurer3()
    } else {
        Config::default()
    }
}

fn fast(model: Model) -> PrinterSpec {
    let mut s = PrinterSpec::new(model);
    s.speed = 600.0; // ten simulated minutes per real second
    s
}

fn status(t: &mut Tcp) -> flashforge_proto::gcode::EndstopStatus {
    match t.cmd(Command::EndstopStatus) {
        Ok(Reply::EndstopStatus(s)) => s,
        other => panic!("M119: {other:?}"),
    }
}

#[test]
fn every_tcp_model_logs_in_reads_state_uploads_and_prints() {
    // The Adventurer 3 has a test per reply shape below.
    for model in MODELS
        .into_iter()
        .filter(|m| m.has_tcp() && *m != Model::Adventurer3)
    {
        logs_in_reads_state_uploads_and_prints(fast(model));
    }
}

#[test]
fn adventurer3_shape_b_logs_in_reads_state_uploads_and_prints() {
    logs_in_reads_state_uploads_and_prints(fast(Model::Adventurer3));
}

#[test]
fn adventurer3_shape_a_logs_in_reads_state_uploads_and_prints() {
    let mut spec = fast(Model::Adventurer3);
    spec.a3_shape = A3Shape::ShapeA;
    logs_in_reads_state_uploads_and_prints(spec);
}

fn logs_in_reads_state_uploads_and_prints(spec: PrinterSpec) {
    let model = spec.model;
    let server = SimServer::single(spec).unwrap();
    let h = server.printer();
    let dialect = config(model).dialect;
    let mut t = Tcp::connect(h.tcp.unwrap(), config(model));

    let Ok(Reply::PrinterInfo(info)) = t.cmd(Command::MachineInfo) else {
        panic!("{model:?}: M115")
    };
    assert_eq!(
        Model::from_machine_type(&info.machine_type),
        model,
        "{}",
        info.machine_type
    );
    assert_eq!(info.serial_number.as_deref(), Some(h.serial().as_str()));

    t.cmd(Command::SetBedTemp { celsius: 55.0 }).unwrap();
    assert_eq!(h.lock().bed.target, 55.0);
    let Ok(Reply::Temperatures(temps)) = t.cmd(Command::Temperatures) else {
        panic!("{model:?}: M105")
    };
    assert_eq!(temps.bed.unwrap().target, Some(55.0), "{model:?}");

    let Ok(Reply::FileList(list)) = t.cmd(Command::ListFiles) else {
        panic!("{model:?}: M661")
    };
    assert!(
        list.names().any(|n| n == "cube.gcode"),
        "{model:?}: {list:?}"
    );
    let Ok(Reply::Thumbnail(th)) = t.cmd(Command::thumbnail("cube.gcode", dialect)) else {
        panic!("{model:?}: M662")
    };
    assert_eq!(th.width, Some(48), "{model:?}");
    assert_eq!(&th.image[..], &h.lock().files["cube.gcode"].thumbnail[..]);

    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    t.upload("part.gcode", &data)
        .unwrap_or_else(|e| panic!("{model:?}: upload {e}"));
    assert_eq!(
        h.lock().files["part.gcode"].data.as_deref(),
        Some(&data[..]),
        "{model:?}: stored bytes"
    );

    t.cmd(Command::select_file("part.gcode", dialect)).unwrap();
    if model == Model::Adventurer3 {
        t.cmd(Command::Resume).unwrap(); // M24 starts the selected file on the A3
    }
    assert_eq!(h.lock().job.as_ref().unwrap().file, "part.gcode");
    std::thread::sleep(Duration::from_millis(150));
    let s = status(&mut t);
    assert!(s.is_printing(), "{model:?}: {s:?}");
    t.cmd(Command::Pause).unwrap();
    assert!(status(&mut t).is_paused(), "{model:?}");
    t.cmd(Command::Resume).unwrap();
    assert!(status(&mut t).is_printing(), "{model:?}");
    let Ok(Reply::PrintStatus(ps)) = t.cmd(Command::PrintStatus) else {
        panic!()
    };
    assert!(ps.percent().unwrap() <= 100);
    t.cmd(Command::Stop).unwrap();
    assert_eq!(h.lock().status, Status::Cancelled, "{model:?}");

    let led = if model == Model::Adventurer3 {
        Led::Accessory(false)
    } else {
        Led::Rgb { r: 0, g: 0, b: 0 }
    };
    t.cmd(Command::Led(led)).unwrap();
    assert!(!h.lock().led, "{model:?}");
    assert!(!status(&mut t).led_on, "{model:?}");
    t.close();
    assert_eq!(
        h.lock().controller(),
        None,
        "{model:?}: logout releases control"
    );
    server.shutdown();
}

#[test]
fn a_print_runs_to_completion_on_the_simulated_clock() {
    let mut spec = fast(Model::Adventurer4);
    spec.job_duration = Duration::from_secs(120);
    spec.speed = 1000.0;
    let server = SimServer::single(spec).unwrap();
    let mut t = Tcp::connect(server.printer().tcp.unwrap(), Config::default());
    t.cmd(Command::select_file("cube.gcode", Dialect::Modern))
        .unwrap();
    let mut seen_progress = Vec::new();
    for _ in 0..100 {
        let Ok(Reply::PrintStatus(ps)) = t.cmd(Command::PrintStatus) else {
            panic!()
        };
        seen_progress.push(ps.percent().unwrap_or(0));
        if status(&mut t).machine_status == Some(MachineStatus::BuildingCompleted) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        status(&mut t).machine_status,
        Some(MachineStatus::BuildingCompleted)
    );
    assert!(
        seen_progress.windows(2).all(|w| w[0] <= w[1]),
        "{seen_progress:?}"
    );
    t.close();
}

#[test]
fn a_second_controller_is_refused_until_the_first_releases() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let addr = server.printer().tcp.unwrap();
    let first = Tcp::connect(addr, Config::default());
    // A raw second connection: the login is refused with the firmware's words.
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    let reply = raw_exchange(&mut raw, b"~M601 S1\n");
    assert_eq!(reply, "Control failed.\nok\n");
    assert_eq!(raw_exchange(&mut raw, b"~M115\n"), "Control failed.\nok\n");
    first.close();
    assert!(raw_exchange(&mut raw, b"~M601 S1\n").contains("Control Success"));
}

fn raw_exchange(s: &mut std::net::TcpStream, line: &[u8]) -> String {
    use std::io::{Read, Write};
    s.write_all(line).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn creds(h: &flashforge_sim::SimHandle) -> Credentials {
    Credentials::new(h.serial(), h.check_code()).unwrap()
}

#[test]
fn every_http_model_reports_detail_uploads_prints_and_is_controlled() {
    for model in MODELS.into_iter().filter(|m| m.is_http()) {
        let server = SimServer::single(fast(model)).unwrap();
        let h = server.printer();
        assert_eq!(h.tcp.is_some(), model.has_tcp(), "{model:?}: TCP port");
        let addr = h.http.unwrap();
        let c = creds(h);

        let r = http(addr, &c, &Request::Detail).unwrap();
        let detail = parse_detail(&r.body).unwrap();
        assert!(detail.envelope.is_success());
        let info = detail.payload.unwrap();
        assert_eq!(info.model, model, "{model:?}: model from /detail");
        assert!(
            info.field_problems.is_empty(),
            "{model:?}: {:?}",
            info.field_problems
        );
        assert_eq!(
            info.material_station.is_some(),
            model.capabilities().material_station,
            "{model:?}"
        );

        let product = parse_product(&http(addr, &c, &Request::Product).unwrap().body).unwrap();
        let caps = model
            .capabilities()
            .with_product(model, product.payload.as_ref().unwrap());
        assert!(caps.led, "{model:?}");

        let wrong = Credentials::new(h.serial(), "00000000").unwrap();
        let denied = parse_envelope(&http(addr, &wrong, &Request::Detail).unwrap().body).unwrap();
        assert_eq!(denied.envelope.code, Some(3));

        let control = |command| Request::Control { command, model };
        let ok = |r: Request| {
            let env = parse_envelope(&http(addr, &c, &r).unwrap().body)
                .unwrap()
                .envelope;
            assert!(env.is_success(), "{model:?}: {r:?}: {env:?}");
        };
        ok(control(Control::Light(false)));
        assert!(!h.lock().led);

        // Temperatures over HTTP: bed for every model, tool 2 on the Creator 5 series.
        let mut temps = if model.is_creator5() {
            Temperatures::creator5().tool(2, Heat::Target(215)).unwrap()
        } else {
            Temperatures {
                right_nozzle: Heat::Target(205),
                ..Temperatures::default()
            }
        };
        temps.platform = Heat::Target(60);
        ok(control(Control::Temperature(temps)));
        let info = parse_detail(&http(addr, &c, &Request::Detail).unwrap().body)
            .unwrap()
            .payload
            .unwrap();
        assert_eq!(info.bed.target, Some(60.0), "{model:?}");
        if model.is_creator5() {
            assert_eq!(info.tools[2].target, Some(215.0), "{model:?}");
            assert_eq!(
                info.tools[0].target, None,
                "{model:?}: untouched tools stay off"
            );
        } else {
            assert_eq!(info.extruder.target, Some(205.0), "{model:?}");
        }

        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let spec = UploadSpec {
            file_name: "part one.gcode".into(),
            file_size: data.len() as u64,
            print_now: true,
            format: JobFormat::for_printer(model, &info.firmware_version),
            options: JobOptions::default(),
            expect_continue: true,
            boundary_seed: 7,
        };
        let up = upload(addr, &c, &spec, &data).unwrap();
        assert!(
            parse_envelope(&up.body).unwrap().envelope.is_success(),
            "{model:?}: upload"
        );
        assert_eq!(
            h.lock().files["part one.gcode"].data.as_deref(),
            Some(&data[..]),
            "{model:?}"
        );
        assert!(h.lock().busy(), "{model:?}: printNow started the job");

        ok(control(Control::Job(JobAction::Pause)));
        let info = parse_detail(&http(addr, &c, &Request::Detail).unwrap().body)
            .unwrap()
            .payload
            .unwrap();
        assert_eq!(
            info.state,
            flashforge_proto::http::MachineState::Paused,
            "{model:?}"
        );
        ok(control(Control::Job(JobAction::Resume)));
        ok(control(Control::Job(JobAction::Cancel)));
        assert_eq!(h.lock().status, Status::Cancelled);
        ok(control(Control::ClearPlatform));
        assert_eq!(h.lock().status, Status::Ready);

        let list = parse_gcode_list(&http(addr, &c, &Request::GcodeList).unwrap().body).unwrap();
        assert_eq!(
            list.payload.unwrap()[0].name,
            "part one.gcode",
            "{model:?}: most recent first"
        );
        let thumb = parse_gcode_thumb(
            &http(
                addr,
                &c,
                &Request::GcodeThumb {
                    file_name: "part one.gcode".into(),
                },
            )
            .unwrap()
            .body,
        )
        .unwrap();
        assert_eq!(
            thumb.payload.unwrap().image[..],
            h.lock().files["part one.gcode"].thumbnail[..]
        );

        let print = Request::PrintGcode {
            file_name: "cube.gcode".into(),
            format: JobFormat::for_printer(model, &info.firmware_version),
            options: JobOptions {
                leveling: true,
                ..JobOptions::default()
            },
        };
        ok(print);
        assert!(h
            .lock()
            .job
            .as_ref()
            .is_some_and(|j| j.leveling && j.file == "cube.gcode"));
        server.shutdown();
    }
}

#[test]
fn discovery_by_unicast_finds_every_model_with_its_ports() {
    let specs = MODELS.iter().map(|&m| PrinterSpec::new(m)).collect();
    let server = SimServer::start(specs, &ServerConfig::default()).unwrap();
    let targets: Vec<SocketAddr> = server.printers().iter().map(|h| h.udp).collect();
    let mut cfg = DiscoveryConfig::default();
    cfg.idle_timeout = Duration::from_millis(300);
    let found = discover(&targets, cfg);
    assert_eq!(found.len(), 7, "{found:?}");
    for h in server.printers() {
        let p = h.lock();
        let f = found
            .iter()
            .find(|f| f.reply.name == p.spec.name)
            .unwrap_or_else(|| panic!("{} not found", p.spec.name));
        assert_eq!(f.reply.model, p.spec.model);
        assert!(f.ip.is_loopback());
        let modern = p.spec.model.is_http();
        assert_eq!(f.reply.format == ReplyFormat::Modern, modern);
        if let Some(tcp) = h.tcp {
            assert_eq!(f.command_addr(), tcp);
        }
        if modern {
            assert_eq!(f.http_addr(), h.http);
            assert_eq!(
                f.reply.serial_number.as_deref(),
                Some(p.spec.serial.as_str())
            );
        }
    }
    // The empty probe alone works too (the Python client's probe, which it fails to send).
    let mut cfg = DiscoveryConfig::default();
    cfg.probes = vec![Probe::Empty];
    cfg.idle_timeout = Duration::from_millis(300);
    assert_eq!(discover(&targets[..2], cfg).len(), 2);
    server.shutdown();
}

#[test]
fn creator5_has_no_tcp_and_adventurers_no_http() {
    let specs = MODELS.iter().map(|&m| PrinterSpec::new(m)).collect();
    let server = SimServer::start(specs, &ServerConfig::default()).unwrap();
    for h in server.printers() {
        let m = h.lock().spec.model;
        assert_eq!(h.tcp.is_some(), !m.is_creator5(), "{m:?}");
        assert_eq!(h.http.is_some(), m.is_http(), "{m:?}");
    }
}

#[test]
fn unsupported_work_gets_typed_errors() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let mut t = Tcp::connect(server.printer().tcp.unwrap(), Config::default());
    let r = t.cmd(Command::select_file("missing.gcode", Dialect::Modern));
    assert!(
        matches!(r, Err(CommandError::Printer(ref m)) if m.contains("File not found")),
        "{r:?}"
    );
    t.close();
}

#[test]
fn one_server_holds_a_farm_and_discovery_finds_all_of_it() {
    let specs = (0..140)
        .map(|i| PrinterSpec::numbered(MODELS[i as usize % 7], i))
        .collect();
    let server = SimServer::start(specs, &ServerConfig::default()).unwrap();
    let targets: Vec<SocketAddr> = server.printers().iter().map(|h| h.udp).collect();
    let mut cfg = DiscoveryConfig::default();
    cfg.idle_timeout = Duration::from_millis(300);
    let found = discover(&targets, cfg);
    assert_eq!(found.len(), 140);
    for m in MODELS {
        assert_eq!(
            found.iter().filter(|f| f.reply.model == m).count(),
            20,
            "{m:?}"
        );
    }
    server.shutdown();
}
