//! The simulator end to end for every model, through a real client (the blocking adapter,
//! `flashforge-blocking`) over loopback sockets: what the client asks moves the simulated
//! machine, and what the machine does shows in the client's answers.

use std::net::SocketAddr;
use std::time::Duration;

use flashforge_blocking::{
    discover, Builder, ClientOptions, Credentials, DiscoverOptions, DiscoveredPrinter, Endpoint,
    Error, Heater, JobOptions, LegacyPrinter, Printer, UploadOptions,
};
use flashforge_proto::discovery::{Probe, ReplyFormat};
use flashforge_proto::http::MachineState;
use flashforge_proto::Model;
use flashforge_sim::{A3Shape, PrinterSpec, ServerConfig, SimHandle, SimServer, Status, MODELS};

fn fast(model: Model) -> PrinterSpec {
    let mut s = PrinterSpec::new(model);
    s.speed = 600.0; // ten simulated minutes per real second
    s
}

/// Where the client finds a simulated printer (a Creator 5 has no TCP port).
fn endpoint(h: &SimHandle) -> Endpoint {
    Endpoint::new(h.udp.ip()).with_ports(
        h.tcp.map_or(8899, |a| a.port()),
        h.http.map_or(8898, |a| a.port()),
    )
}

fn creds(h: &SimHandle) -> Credentials {
    Credentials::new(h.serial(), h.check_code()).unwrap()
}

/// A TCP-only connection, told the model (the Adventurer 3's dialect from the first command).
fn legacy(h: &SimHandle, model: Model) -> LegacyPrinter {
    Builder::default()
        .options(ClientOptions::default().model(Some(model)))
        .connect_legacy(endpoint(h))
        .unwrap_or_else(|e| panic!("{model:?}: connect over TCP: {e}"))
}

fn state(p: &Printer) -> MachineState {
    p.status().unwrap().state
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
    let p = legacy(h, model);
    assert_eq!(p.model(), model, "the model from ~M115");
    let info = p.info().unwrap();
    assert_eq!(info.model, model);
    assert_eq!(info.serial.as_deref(), Some(h.serial().as_str()));

    p.set_temperature(Heater::Bed, 55).unwrap();
    assert_eq!(h.lock().bed.target, 55.0);
    let temps = p.temperatures().unwrap();
    assert_eq!(temps.bed.unwrap().target, Some(55.0), "{model:?}");

    let files = p.files().unwrap();
    assert!(
        files.iter().any(|n| n == "cube.gcode"),
        "{model:?}: {files:?}"
    );
    let th = p.thumbnail("cube.gcode").unwrap();
    assert_eq!(th.width, Some(48), "{model:?}");
    assert_eq!(
        &th.image[..],
        h.lock().files["cube.gcode"].thumbnail_or_default()
    );

    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    p.upload(
        "part.gcode",
        data.len() as u64,
        &data[..],
        UploadOptions::default(),
        |_| {},
    )
    .unwrap_or_else(|e| panic!("{model:?}: upload {e}"));
    assert_eq!(
        h.lock().files["part.gcode"].data.as_deref(),
        Some(&data[..]),
        "{model:?}: stored bytes"
    );

    p.start("part.gcode", JobOptions::default()).unwrap();
    assert_eq!(h.lock().job.as_ref().unwrap().file, "part.gcode");
    std::thread::sleep(Duration::from_millis(150));
    let s = p.status().unwrap();
    assert_eq!(s.state, MachineState::Printing, "{model:?}: {s:?}");
    assert!(
        s.progress.is_some_and(|f| (0.0..=1.0).contains(&f)),
        "{s:?}"
    );
    p.pause().unwrap();
    assert_eq!(state(&p), MachineState::Paused, "{model:?}");
    p.resume().unwrap();
    assert_eq!(state(&p), MachineState::Printing, "{model:?}");
    p.cancel().unwrap();
    assert_eq!(h.lock().status, Status::Cancelled, "{model:?}");

    p.led(false).unwrap();
    assert!(!h.lock().led, "{model:?}");
    assert_eq!(p.status().unwrap().lights_on, Some(false), "{model:?}");
    p.close();
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
    let p = legacy(server.printer(), Model::Adventurer4);
    p.start("cube.gcode", JobOptions::default()).unwrap();
    let mut seen_progress = Vec::new();
    for _ in 0..100 {
        let s = p.status().unwrap();
        seen_progress.push(s.progress.unwrap_or(0.0));
        if s.state == MachineState::Completed {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(state(&p), MachineState::Completed);
    assert!(
        seen_progress.windows(2).all(|w| w[0] <= w[1]),
        "{seen_progress:?}"
    );
    p.close();
}

#[test]
fn a_second_controller_is_refused_until_the_first_releases() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let first = legacy(server.printer(), Model::Adventurer5M);
    // A raw second connection: the login is refused with the firmware's words.
    let mut raw = std::net::TcpStream::connect(server.printer().tcp.unwrap()).unwrap();
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

#[test]
fn every_http_model_reports_detail_uploads_prints_and_is_controlled() {
    for model in MODELS.into_iter().filter(|m| m.is_http()) {
        let server = SimServer::single(fast(model)).unwrap();
        let h = server.printer();
        assert_eq!(h.tcp.is_some(), model.has_tcp(), "{model:?}: TCP port");

        let wrong = Credentials::new(h.serial(), "00000000").unwrap();
        let denied = Printer::connect(endpoint(h), wrong);
        assert!(
            matches!(denied, Err(Error::Unauthorized)),
            "{model:?}: {denied:?}"
        );

        let p = Printer::connect(endpoint(h), creds(h)).unwrap();
        assert_eq!(p.model(), model, "{model:?}: model from /detail");
        let info = p.info().unwrap();
        let detail = info.detail.as_ref().expect("/detail");
        assert!(
            detail.field_problems.is_empty(),
            "{model:?}: {:?}",
            detail.field_problems
        );
        assert_eq!(
            p.status().unwrap().material_station.is_some(),
            model.capabilities().material_station,
            "{model:?}"
        );
        assert!(p.capabilities().led, "{model:?}: /product's light flag");

        p.led(false).unwrap();
        assert!(!h.lock().led);

        // Bed for every model; tool 2 on the Creator 5 series, the nozzle elsewhere.
        let (tool, celsius) = if model.is_creator5() {
            (2, 215)
        } else {
            (0, 205)
        };
        p.set_temperature(Heater::Tool(tool), celsius).unwrap();
        p.set_temperature(Heater::Bed, 60).unwrap();
        assert_eq!(h.lock().nozzles[tool as usize].target, f64::from(celsius));
        let temps = p.status().unwrap().temperatures;
        assert_eq!(temps.bed.unwrap().target, Some(60.0), "{model:?}");
        assert_eq!(
            temps.tools[tool as usize].target,
            Some(f64::from(celsius)),
            "{model:?}"
        );
        if model.is_creator5() {
            assert_eq!(
                temps.tools[0].target, None,
                "{model:?}: untouched tools stay off"
            );
        }

        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let mut opts = UploadOptions::default().start(true);
        opts.expect_continue = true;
        p.upload("part one.gcode", data.len() as u64, &data[..], opts, |_| {})
            .unwrap_or_else(|e| panic!("{model:?}: upload {e}"));
        assert_eq!(
            h.lock().files["part one.gcode"].data.as_deref(),
            Some(&data[..]),
            "{model:?}"
        );
        assert!(h.lock().busy(), "{model:?}: printNow started the job");

        p.pause().unwrap();
        assert_eq!(state(&p), MachineState::Paused, "{model:?}");
        p.resume().unwrap();
        p.cancel().unwrap();
        assert_eq!(h.lock().status, Status::Cancelled);
        p.clear_platform().unwrap();
        assert_eq!(h.lock().status, Status::Ready);

        let recent = p.recent_files().unwrap();
        assert_eq!(
            recent[0].name, "part one.gcode",
            "{model:?}: most recent first"
        );
        let thumb = p.thumbnail("part one.gcode").unwrap();
        assert_eq!(
            &thumb.image[..],
            h.lock().files["part one.gcode"].thumbnail_or_default()
        );

        let leveling = JobOptions {
            leveling: true,
            ..JobOptions::default()
        };
        p.start("cube.gcode", leveling).unwrap();
        assert!(h
            .lock()
            .job
            .as_ref()
            .is_some_and(|j| j.leveling && j.file == "cube.gcode"));
        p.close();
        server.shutdown();
    }
}

fn unicast(targets: &[SocketAddr], probes: Option<Vec<Probe>>) -> Vec<DiscoveredPrinter> {
    let mut o = DiscoverOptions::unicast(targets.iter().copied());
    o.config.idle_timeout = Duration::from_millis(300);
    if let Some(p) = probes {
        o.config.probes = p;
    }
    discover(&o).unwrap()
}

#[test]
fn discovery_by_unicast_finds_every_model_with_its_ports() {
    let specs = MODELS.iter().map(|&m| PrinterSpec::new(m)).collect();
    let server = SimServer::start(specs, &ServerConfig::default()).unwrap();
    let targets: Vec<SocketAddr> = server.printers().iter().map(|h| h.udp).collect();
    let found = unicast(&targets, None);
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
    assert_eq!(unicast(&targets[..2], Some(vec![Probe::Empty])).len(), 2);
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
fn a_missing_file_is_the_printers_refusal() {
    let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let p = legacy(server.printer(), Model::Adventurer5M);
    let r = p.start("missing.gcode", JobOptions::default());
    let e = r.expect_err("no such file");
    assert!(e.to_string().contains("File not found"), "{e:?}");
    assert!(!e.is_connection_error(), "{e:?}");
    assert!(server.printer().lock().job.is_none());
    p.close();
}

#[test]
fn one_server_holds_a_farm_and_discovery_finds_all_of_it() {
    let specs = (0..140)
        .map(|i| PrinterSpec::numbered(MODELS[i as usize % 7], i))
        .collect();
    let server = SimServer::start(specs, &ServerConfig::default()).unwrap();
    let targets: Vec<SocketAddr> = server.printers().iter().map(|h| h.udp).collect();
    let found = unicast(&targets, None);
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
