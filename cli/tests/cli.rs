//! The `flashforge` binary against simulated printers on 127.0.0.1: every subcommand's human
//! and `--json` output, the exit code of each error class, the confirmation prompt, `demo`,
//! `decode` over every fixture manifest, and no check code in any output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use flashforge_proto::Model;
use flashforge_sim::{HttpFault, PrinterSpec, ServerConfig, SimHandle, SimServer, TcpFault};
use serde_json::Value;

/// Distinctive, so a leak is easy to find in any output.
const CHECK_CODE: &str = "Zq81c0de";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.lines().next().unwrap_or(""))
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

fn ff_in(args: &[&str], stdin: &str) -> Out {
    ff_env(args, stdin, &[])
}

/// `flashforge args` with `stdin` and these environment variables (the `FLASHFORGE_*` of the
/// test's own environment removed first).
fn ff_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashforge"));
    cmd.args(args)
        .env_remove("FLASHFORGE_SERIAL")
        .env_remove("FLASHFORGE_CHECK_CODE")
        .env_remove("FLASHFORGE_PRINTER")
        .env_remove("FLASHFORGE_MODEL")
        .env("XDG_CONFIG_HOME", "/nonexistent-flashforge-test");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run flashforge");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !out.stdout.contains(CHECK_CODE) && !out.stderr.contains(CHECK_CODE),
        "check code leaked by {args:?}:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

fn ff(args: &[&str]) -> Out {
    ff_in(args, "")
}

fn sim(model: Model) -> SimServer {
    let mut spec = PrinterSpec::new(model);
    spec.check_code = CHECK_CODE.to_owned();
    spec.speed = 20.0;
    SimServer::start(vec![spec], &ServerConfig::default()).unwrap()
}

fn addr(h: &SimHandle) -> String {
    format!(
        "{}:{}:{}",
        h.udp.ip(),
        h.tcp.map_or(8899, |a| a.port()),
        h.http.map_or(8898, |a| a.port())
    )
}

/// `--printer ADDR --serial S --check-code C --timeout 1.5` for `h`, then `rest`.
fn on(h: &SimHandle, http: bool, rest: &[&str]) -> Out {
    let a = addr(h);
    let serial = h.serial();
    let mut args = vec!["--printer", &a, "--timeout", "1.5", "-vv"];
    if http {
        args.extend(["--serial", &serial, "--check-code", CHECK_CODE]);
    }
    args.extend(rest);
    ff(&args)
}

fn ok(o: &Out, what: &str) {
    assert_eq!(o.code, 0, "{what}: {}\n{}", o.stdout, o.stderr);
}

#[test]
fn every_subcommand_human_and_json_on_an_http_printer() {
    let server = sim(Model::AD5X);
    let h = server.printer();
    let o = on(h, true, &["status"]);
    ok(&o, "status");
    assert!(o.stdout.contains("Ready"), "{}", o.stdout);
    let j = on(h, true, &["status", "--json"]).json();
    assert_eq!(j["state"], "Ready");
    assert_eq!(j["model"], "AD5X");

    let j = on(h, true, &["info", "--json"]).json();
    assert_eq!(j["firmware"], h.lock().spec.firmware);
    assert_eq!(j["capabilities"]["material_station"], true);
    ok(&on(h, true, &["info"]), "info");

    let j = on(h, true, &["temps", "--json"]).json();
    assert!(j["tools"].as_array().is_some_and(|t| !t.is_empty()));
    ok(&on(h, true, &["temp", "set", "bed", "55"]), "temp set");
    assert_eq!(h.lock().bed.target, 55.0);
    ok(&on(h, true, &["temp", "off", "bed", "--json"]), "temp off");
    assert_eq!(h.lock().bed.target, 0.0);
    ok(&on(h, true, &["temp", "off"]), "temp off all");

    let j = on(h, true, &["files", "--json"]).json();
    assert!(j["files"].as_array().is_some_and(|f| !f.is_empty()));
    assert!(j["recent"].as_array().is_some_and(|f| !f.is_empty()));
    ok(&on(h, true, &["files"]), "files");

    let dir = tempdir();
    let png = dir.join("t.png");
    let name = h.lock().files.keys().next().unwrap().clone();
    ok(
        &on(h, true, &["thumb", &name, "-o", png.to_str().unwrap()]),
        "thumb",
    );
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

    let file = dir.join("cli-part.gcode");
    std::fs::write(&file, "G28\nG1 X1\n".repeat(10_000)).unwrap();
    ok(&on(h, true, &["upload", file.to_str().unwrap()]), "upload");
    assert_eq!(h.lock().files["cli-part.gcode"].size, 100_000);
    ok(
        &on(h, true, &["print", "cli-part.gcode", "--json"]),
        "print",
    );
    assert_eq!(h.lock().job.as_ref().unwrap().file, "cli-part.gcode");
    ok(&on(h, true, &["pause"]), "pause");
    assert_eq!(h.lock().status, flashforge_sim::Status::Paused);
    ok(&on(h, true, &["resume"]), "resume");
    ok(&on(h, true, &["cancel", "--yes"]), "cancel");
    assert_eq!(h.lock().status, flashforge_sim::Status::Cancelled);
    ok(&on(h, true, &["clear"]), "clear");
    assert_eq!(h.lock().status, flashforge_sim::Status::Ready);
    ok(
        &on(
            h,
            true,
            &["upload", file.to_str().unwrap(), "--print", "--level"],
        ),
        "upload --print",
    );
    assert!(h.lock().job.as_ref().unwrap().leveling);
    ok(&on(h, true, &["cancel", "-y"]), "cancel");
    ok(&on(h, true, &["clear"]), "clear");

    ok(&on(h, true, &["led", "on"]), "led");
    assert!(h.lock().led);
    ok(&on(h, true, &["led", "off", "--json"]), "led off");
    assert!(!h.lock().led);
    ok(&on(h, true, &["home"]), "home");
    ok(&on(h, true, &["move", "z", "-2.5"]), "move");
    ok(&on(h, true, &["fan", "50"]), "fan");
    // 50 % is duty 128 of 255 on the wire.
    assert_eq!(h.lock().cooling_fan, 128);
    let o = on(h, true, &["camera", "url", "--json"]);
    ok(&o, "camera url");
    assert!(o.json()["url"].as_str().unwrap().starts_with("http://"));
    ok(
        &on(
            h,
            true,
            &[
                "slots",
                "--set",
                "2",
                "--material",
                "PETG",
                "--color",
                "#FF0000",
            ],
        ),
        "slots set",
    );
    assert_eq!(h.lock().station.as_ref().unwrap().slots[1].material, "PETG");
    let j = on(h, true, &["slots", "--json"]).json();
    assert_eq!(j["slots"].as_array().unwrap().len(), 4);
    let o = on(h, true, &["gcode", "~M115", "--json"]);
    ok(&o, "gcode");
    assert!(o.stdout.lines().count() >= 1);
}

#[test]
fn legacy_printer_without_credentials() {
    let server = sim(Model::Adventurer3);
    let h = server.printer();
    let j = on(h, false, &["status", "--json"]).json();
    assert_eq!(j["model"], "Adventurer3");
    let o = on(h, false, &["files"]);
    ok(&o, "files");
    assert!(o.stdout.contains("Stored files"));
    // HTTP-only operations are a typed "unsupported" (exit 7).
    assert_eq!(on(h, false, &["clear"]).code, 7);
}

/// Issue 12: every command of an Adventurer 3 in Shape B (the emulator's: no echo and no `ok`
/// after `~M115` / `~M119`), and in Shape A, with no model hint, with `--printer-model a3` and
/// with a profile's `model = "a3"`.
#[test]
fn adventurer3_every_command_in_both_reply_shapes() {
    for shape in [
        flashforge_sim::A3Shape::ShapeB,
        flashforge_sim::A3Shape::ShapeA,
    ] {
        let mut spec = PrinterSpec::new(Model::Adventurer3);
        spec.a3_shape = shape;
        spec.speed = 20.0;
        let server = SimServer::start(vec![spec], &ServerConfig::default()).unwrap();
        let h = server.printer();
        let a = addr(h);
        let dir = tempdir();
        let cfg = dir.join("config.toml");
        std::fs::write(
            &cfg,
            format!("[printers.a3]\naddress = \"{a}\"\nmodel = \"a3\"\n"),
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap().to_owned();
        let hints: [Vec<&str>; 3] = [
            vec!["--printer", &a],
            vec!["--printer", &a, "--printer-model", "a3"],
            vec!["--config", &cfg, "--printer", "a3"],
        ];
        for hint in &hints {
            let run = |rest: &[&str]| {
                let mut args = hint.clone();
                args.extend(["--timeout", "3"]);
                args.extend(rest);
                let o = ff(&args);
                assert_eq!(o.code, 0, "{shape:?} {args:?}: {}\n{}", o.stdout, o.stderr);
                o
            };
            let j = run(&["info", "--json"]).json();
            assert_eq!(j["model"], "Adventurer3", "{shape:?} {hint:?}");
            assert_eq!(j["firmware"], h.lock().spec.firmware);
            assert_eq!(j["serial"], h.lock().spec.serial.as_str());
            assert_eq!(j["mac"], h.lock().spec.mac.as_str());
            assert!(run(&["info"]).stdout.contains(&h.lock().spec.name));
            assert_eq!(run(&["status", "--json"]).json()["state"], "Ready");
            let j = run(&["temps", "--json"]).json();
            assert_eq!(j["tools"].as_array().map(Vec::len), Some(1), "{j}");
            run(&["led", "on"]);
            assert!(h.lock().led);
            run(&["led", "off"]);
            assert!(!h.lock().led);
            let file = dir.join("a3-part.gcode");
            std::fs::write(&file, "G28\nG1 X1\n".repeat(2_000)).unwrap();
            run(&["upload", file.to_str().unwrap()]);
            assert_eq!(h.lock().files["a3-part.gcode"].size, 20_000);
            let j = run(&["files", "--json"]).json();
            assert!(
                j["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == "a3-part.gcode"),
                "{j}"
            );
            let png = dir.join("a3.png");
            run(&["thumb", "a3-part.gcode", "-o", png.to_str().unwrap()]);
            assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
            run(&["print", "a3-part.gcode"]);
            assert_eq!(h.lock().job.as_ref().unwrap().file, "a3-part.gcode");
            run(&["pause"]);
            assert_eq!(h.lock().status, flashforge_sim::Status::Paused);
            assert_eq!(run(&["status", "--json"]).json()["state"], "Paused");
            run(&["resume"]);
            assert_ne!(h.lock().status, flashforge_sim::Status::Paused);
            run(&["cancel", "--yes"]);
            assert!(h.lock().job.is_none() || h.lock().status != flashforge_sim::Status::Printing);
            h.lock().files.remove("a3-part.gcode");
            // The A3 "opens" a missing file with size 0: a printer error, nothing started.
            let mut args = hint.clone();
            args.extend(["print", "nope.gcode"]);
            let o = ff(&args);
            assert_eq!(o.code, 1, "{shape:?}: {}\n{}", o.stdout, o.stderr);
            assert!(o.stderr.contains("not found"), "{}", o.stderr);
        }
    }
}

fn journal_count(h: &SimHandle, needle: &str) -> usize {
    h.lock()
        .journal
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

/// On every model with a TCP channel heaters are set with `~M104`/`~M140` (what real printers
/// are known to accept), never with `temperatureCtl_cmd`; off is `S0`.
#[test]
fn temperatures_are_set_over_tcp_on_the_5m_family_and_ad5x() {
    for model in [Model::Adventurer5M, Model::AD5X] {
        let server = sim(model);
        let h = server.printer();
        let controls = journal_count(h, "POST /control");
        ok(&on(h, true, &["temp", "set", "bed", "60"]), "temp set bed");
        assert_eq!(h.lock().bed.target, 60.0, "{model}");
        assert_eq!(journal_count(h, "M140 S60"), 1, "{model}");
        ok(&on(h, true, &["temp", "set", "nozzle", "210"]), "temp set");
        assert_eq!(h.lock().nozzles[0].target, 210.0, "{model}");
        assert_eq!(journal_count(h, "M104 S210"), 1, "{model}");
        ok(&on(h, true, &["temp", "off", "nozzle"]), "temp off nozzle");
        assert_eq!(h.lock().nozzles[0].target, 0.0, "{model}");
        assert_eq!(journal_count(h, "M104 S0"), 1, "{model}");
        ok(&on(h, true, &["temp", "off"]), "temp off all");
        assert_eq!(h.lock().bed.target, 0.0, "{model}");
        assert_eq!(journal_count(h, "M140 S0"), 1, "{model}");
        assert_eq!(
            journal_count(h, "POST /control"),
            controls,
            "{model}: no HTTP"
        );
        // No established TCP command sets a second tool: unsupported, not a guess.
        let o = on(h, true, &["temp", "set", "tool1", "200"]);
        assert_eq!(o.code, 7, "{model}: {}", o.stderr);
        assert!(o.stderr.contains("not supported"), "{}", o.stderr);
    }
}

/// The same `Error: File not found` from the printer is one outcome for `thumb` and `print`.
#[test]
fn a_missing_file_exits_alike_for_thumb_and_print() {
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    let dir = tempdir();
    let png = dir.join("missing.png");
    let thumb = on(h, false, &["thumb", "nope.gx", "-o", png.to_str().unwrap()]);
    let print = on(h, false, &["print", "nope.gx"]);
    assert_eq!(thumb.code, 1, "{}", thumb.stderr);
    assert_eq!(print.code, thumb.code, "{}", print.stderr);
    assert!(thumb.stderr.contains("printer error"), "{}", thumb.stderr);
    assert!(print.stderr.contains("printer error"), "{}", print.stderr);
    assert!(!png.exists());
    // The connection was not given up on: the next command works.
    ok(&on(h, false, &["status"]), "after the refusal");
}

/// Everything a model lacks is the typed "unsupported" (exit 7), options included.
#[test]
fn print_options_an_adventurer_4_lacks_are_unsupported() {
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    let dir = tempdir();
    let file = dir.join("lev.gx");
    std::fs::write(&file, "G28\n").unwrap();
    let f = file.to_str().unwrap();
    let o = on(h, false, &["upload", f, "--print", "--level"]);
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(
        o.stderr.contains("not supported by the Adventurer 4"),
        "{}",
        o.stderr
    );
    assert!(!h.lock().files.contains_key("lev.gx"), "nothing sent");
    let name = h.lock().files.keys().next().unwrap().clone();
    let o = on(h, false, &["print", &name, "--level"]);
    assert_eq!(o.code, 7, "{}", o.stderr);
}

/// The Creator 5 Pro acknowledges `circulateCtl_cmd` without running the fans: no success.
#[test]
fn creator5_pro_filtration_is_unsupported() {
    let server = sim(Model::Creator5Pro);
    let h = server.printer();
    let o = on(h, true, &["filtration", "on"]);
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(o.stderr.contains("filtration"), "{}", o.stderr);
    let j = on(h, true, &["info", "--json"]).json();
    assert_eq!(j["capabilities"]["filtration"], false);
    // The 5M Pro's filtration does run.
    let server = sim(Model::Adventurer5MPro);
    let h = server.printer();
    ok(&on(h, true, &["filtration", "on"]), "5M Pro filtration");
    assert!(h.lock().internal_fan && h.lock().external_fan);
}

/// `fan` takes percent, `status` shows percent under a name that says so.
#[test]
fn fan_speed_is_percent_in_and_out() {
    let server = sim(Model::AD5X);
    let h = server.printer();
    ok(&on(h, true, &["fan", "50"]), "fan 50");
    let j = on(h, true, &["status", "--json"]).json();
    assert_eq!(j["cooling_fan_percent"], 50, "{j}");
    assert!(j.get("cooling_fan").is_none(), "{j}");
    assert!(j.get("chamber_fan_percent").is_some(), "{j}");
    ok(&on(h, true, &["fan", "100"]), "fan 100");
    assert_eq!(
        on(h, true, &["status", "--json"]).json()["cooling_fan_percent"],
        100
    );
    let o = on(h, true, &["fan", "101"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(h.lock().cooling_fan, 255, "a refused value sends nothing");
    // Over TCP the same percent becomes the M106 duty.
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    ok(&on(h, false, &["fan", "50"]), "fan 50 over TCP");
    assert_eq!(journal_count(h, "M106 S128"), 1);
}

/// `info` of an HTTP printer shows the serial number it accepted, and the AD5X's tool count
/// agrees with the nozzles `temps` lists.
#[test]
fn info_shows_the_serial_and_the_tools_temps_lists() {
    let server = sim(Model::AD5X);
    let h = server.printer();
    let j = on(h, true, &["info", "--json"]).json();
    assert_eq!(j["serial"], h.serial());
    let tools = on(h, true, &["temps", "--json"]).json()["tools"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(j["tool_count"], tools);
    assert_eq!(tools, 1);
    let o = on(h, true, &["info"]);
    assert!(o.stdout.contains(&h.serial()), "{}", o.stdout);
}

/// Discovery shows an Adventurer 3/4 (legacy reply) without an HTTP port.
#[test]
fn discovery_lists_legacy_printers_without_an_http_port() {
    let server = SimServer::start(
        vec![
            PrinterSpec::new(Model::Adventurer4),
            PrinterSpec::new(Model::Adventurer5M),
        ],
        &ServerConfig::default(),
    )
    .unwrap();
    let [a4, m5] = server.printers() else {
        panic!("two printers")
    };
    let (t1, t2) = (a4.udp.to_string(), m5.udp.to_string());
    let args = [
        "discover",
        "--target",
        &t1,
        "--target",
        &t2,
        "--seconds",
        "2",
    ];
    let o = ff(&[&args[..], &["--json"]].concat());
    ok(&o, "discover");
    let rows: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |m: &str| rows.iter().find(|r| r["model"] == m).unwrap().clone();
    let legacy = row("Adventurer4");
    let tcp = a4.tcp.unwrap();
    assert_eq!(legacy["http_port"], Value::Null);
    assert_eq!(legacy["address"], tcp.to_string());
    let modern = row("Adventurer5M");
    assert_eq!(modern["http_port"], m5.http.unwrap().port());
    assert_eq!(modern["address"], addr(m5));
    let o = ff(&args);
    ok(&o, "discover human");
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains("Adventurer 4"))
        .unwrap();
    assert!(line.contains(&format!(" {tcp} ")), "{line}");
    assert!(!line.contains(":8898"), "{line}");
    // The address shown connects.
    ok(
        &ff(&["-p", &tcp.to_string(), "status"]),
        "status at the shown address",
    );
}

/// A cancelled job has no time left.
#[test]
fn a_cancelled_job_shows_no_eta() {
    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    let name = h.lock().files.keys().next().unwrap().clone();
    ok(&on(h, true, &["print", &name]), "print");
    ok(&on(h, true, &["cancel", "--yes"]), "cancel");
    assert_eq!(h.lock().status, flashforge_sim::Status::Cancelled);
    let j = on(h, true, &["status", "--json"]).json();
    assert_eq!(j["state"], "Cancelled");
    assert_eq!(j["remaining_s"], Value::Null, "{j}");
    let o = on(h, true, &["status"]);
    ok(&o, "status");
    assert!(!o.stdout.contains("ETA"), "{}", o.stdout);
}

#[test]
fn watch_streams_json_updates() {
    let server = sim(Model::Adventurer5MPro);
    let h = server.printer();
    let o = on(
        h,
        true,
        &["watch", "--count", "3", "--interval", "0.2", "--json"],
    );
    ok(&o, "watch");
    let lines: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["state"] == "Ready"));
    let o = on(h, true, &["watch", "--count", "2", "--interval", "0.2"]);
    ok(&o, "watch human");
    assert!(o.stdout.contains("Adventurer 5M Pro"));
    // One unreachable printer among several: an error row, the others keep updating.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("127.0.0.1:{port}:{port}");
    let good = addr(h);
    let serial = h.serial();
    let o = ff(&[
        "-p",
        &good,
        "-p",
        &dead,
        "--serial",
        &serial,
        "--check-code",
        CHECK_CODE,
        "--timeout",
        "1",
        "watch",
        "--count",
        "2",
        "--interval",
        "0.2",
        "--json",
    ]);
    ok(&o, "watch with a dead printer");
    let rows: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4, "{}", o.stdout);
    assert_eq!(rows.iter().filter(|r| r["state"] == "Ready").count(), 2);
    assert_eq!(rows.iter().filter(|r| r["error"].is_string()).count(), 2);
}

/// A closed loopback port (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn watch_polls_each_printer_on_its_own_schedule() {
    // A printer that accepts connections and never answers, beside a live 5M and a live
    // Adventurer 4 named by address with the 5M's --serial/--check-code given for all.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sp = silent.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = std::sync::Arc::clone(&held);
    std::thread::spawn(move || {
        for c in silent.incoming().flatten() {
            keep.lock().unwrap().push(c);
        }
    });
    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    let a4 = sim(Model::Adventurer4);
    let a4h = a4.printer();
    let live = addr(h);
    let legacy = format!("127.0.0.1:{}:{}", a4h.tcp.unwrap().port(), closed_port());
    let quiet = format!("127.0.0.1:{sp}:{sp}");
    let serial = h.serial();
    let t0 = std::time::Instant::now();
    let o = ff(&[
        "-p",
        &live,
        "-p",
        &quiet,
        "-p",
        &legacy,
        "--serial",
        &serial,
        "--check-code",
        CHECK_CODE,
        "--timeout",
        "3",
        "watch",
        "--count",
        "6",
        "--interval",
        "0.3",
        "--json",
    ]);
    let took = t0.elapsed();
    ok(&o, "watch beside a silent printer");
    let rows: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 18, "{}", o.stdout);
    let of =
        |label: &str| -> Vec<&Value> { rows.iter().filter(|r| r["printer"] == label).collect() };
    let (l, q, a) = (of(&live), of(&quiet), of(&legacy));
    assert_eq!((l.len(), q.len(), a.len()), (6, 6, 6), "{}", o.stdout);
    // The silent printer is an error row every frame; the others keep their own pace: at
    // most the first frame may predate their first answer.
    assert!(q.iter().all(|r| r["error"].is_string()), "{}", o.stdout);
    assert!(
        l.iter().filter(|r| r["state"] == "Ready").count() >= 5,
        "{}",
        o.stdout
    );
    // The Adventurer 4 is watched over TCP (its HTTP port refuses), not asked over HTTP.
    assert!(
        a.iter().filter(|r| r["state"] == "Ready").count() >= 5,
        "{}",
        o.stdout
    );
    assert!(a4h.lock().journal.iter().any(|l| l.contains("M119")));
    // Six frames 0.3 s apart, never one per 3 s deadline of the silent printer (which would
    // take 18 s or more); generous for a loaded machine.
    assert!(took < Duration::from_secs(12), "took {took:?}");
    drop(held);
}

/// Issue 14 point 6: a list cut by `--max-printers` says so (a stderr note; `"truncated"` on
/// every --json line), and `--seconds` is the total time of a search nobody answers.
#[test]
fn discover_reports_the_printer_bound_and_keeps_to_its_seconds() {
    let server = SimServer::start(
        vec![
            PrinterSpec::new(Model::Adventurer5M),
            PrinterSpec::new(Model::Creator5),
            PrinterSpec::new(Model::AD5X),
        ],
        &ServerConfig::default(),
    )
    .unwrap();
    let targets: Vec<String> = server
        .printers()
        .iter()
        .map(|p| p.udp.to_string())
        .collect();
    let mut args = vec!["discover", "--seconds", "2", "--max-printers", "2"];
    for t in &targets {
        args.extend(["--target", t.as_str()]);
    }
    let o = ff(&[&args[..], &["--json"]].concat());
    ok(&o, "discover --json");
    let rows: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{}", o.stdout);
    assert!(rows.iter().all(|r| r["truncated"] == true), "{}", o.stdout);
    let o = ff(&args);
    ok(&o, "discover");
    assert!(o.stderr.contains("stopped at 2 printers"), "{}", o.stderr);
    // Below the bound: no note, "truncated": false.
    let o = ff(&[
        "discover",
        "--seconds",
        "2",
        "--target",
        &targets[0],
        "--json",
    ]);
    ok(&o, "discover one");
    assert!(o.stdout.contains("\"truncated\":false"), "{}", o.stdout);
    assert!(!o.stderr.contains("stopped at"), "{}", o.stderr);
    // Nobody answers: the search takes its 1 s, not three attempts and two pauses (5 s).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = silent.local_addr().unwrap().to_string();
    #[allow(clippy::disallowed_methods)] // wall-clock check of the deadline
    let t0 = std::time::Instant::now();
    let o = ff(&["discover", "--seconds", "1", "--target", &t]);
    let took = t0.elapsed();
    ok(&o, "silent discover");
    assert!(o.stdout.contains("no printers found"), "{}", o.stdout);
    assert!(took >= Duration::from_millis(990), "{took:?}");
    // Generous on a loaded machine, still well below the old 5 s.
    assert!(took < Duration::from_millis(3500), "{took:?}");
    // Seconds that are not a finite, sane number are a usage error, not a panic or forever.
    for bad in ["NaN", "inf", "-1", "0", "1e300", "7200"] {
        let o = ff(&["discover", &format!("--seconds={bad}"), "--target", &t]);
        assert_eq!(o.code, 2, "--seconds {bad}: {}", o.stderr);
        assert!(o.stderr.contains("seconds"), "{}", o.stderr);
    }
}

#[test]
fn discover_by_unicast_target() {
    let server = SimServer::start(
        vec![
            PrinterSpec::new(Model::Adventurer5M),
            PrinterSpec::new(Model::Creator5),
        ],
        &ServerConfig::default(),
    )
    .unwrap();
    let t1 = server.printers()[0].udp.to_string();
    let t2 = server.printers()[1].udp.to_string();
    let o = ff(&[
        "discover",
        "--target",
        &t1,
        "--target",
        &t2,
        "--seconds",
        "2",
        "--json",
    ]);
    ok(&o, "discover");
    assert_eq!(o.stdout.lines().count(), 2, "{}", o.stdout);
    let o = ff(&["discover", "--target", &t1, "--seconds", "2"]);
    assert!(o.stdout.contains("Adventurer 5M"));
    // A printer chosen by its discovered serial number.
    let serial = server.printers()[0].serial();
    let o = ff(&[
        "--printer",
        &serial,
        "--target",
        &t1,
        "--serial",
        &serial,
        "--check-code",
        "12345678",
        "status",
        "--json",
    ]);
    ok(&o, "status by serial");
    assert_eq!(o.json()["model"], "Adventurer5M");
}

#[test]
fn exit_codes_name_the_problem() {
    // 2: no printer given.
    assert_eq!(ff(&["status"]).code, 2);
    // 3: nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("127.0.0.1:{port}:{port}");
    let o = ff(&[
        "--printer",
        &dead,
        "--serial",
        "S",
        "--check-code",
        CHECK_CODE,
        "status",
    ]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("unreachable"));

    let server = sim(Model::Creator5);
    let h = server.printer();
    // 4: wrong check code.
    let a = addr(h);
    let serial = h.serial();
    let o = ff(&[
        "--printer",
        &a,
        "--serial",
        &serial,
        "--check-code",
        "wrong123",
        "status",
    ]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("check code"));
    // 7: the Creator 5 has no homing.
    let o = on(h, true, &["home"]);
    assert_eq!(o.code, 7, "{}", o.stderr);
    assert!(o.stderr.contains("not supported"));
    // 6: printing a file while a job runs.
    let name = h.lock().files.keys().next().unwrap().clone();
    ok(&on(h, true, &["print", &name]), "print");
    let o = on(h, true, &["print", &name]);
    assert_eq!(o.code, 6, "{}", o.stderr);
    // 5: LAN-only mode off (Creator 5 code -2).
    h.faults.sticky_http(HttpFault::Refuse(-2));
    let o = on(h, true, &["status"]);
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stderr.contains("LAN"));
    h.faults.clear();
    // 10: the printer answers with something that is not the API's JSON.
    h.faults.sticky_http(HttpFault::NonJson);
    assert_eq!(on(h, true, &["status"]).code, 10);
    // 9: the printer stops answering.
    h.faults.sticky_http(HttpFault::Stall);
    let o = on(h, true, &["status"]);
    assert_eq!(o.code, 9, "{}", o.stderr);
    h.faults.clear();

    // 8: another client holds the TCP control lock.
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    let mut holder = std::net::TcpStream::connect(h.tcp.unwrap()).unwrap();
    holder.write_all(b"~M601 S1\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let o = on(h, false, &["status"]);
    assert_eq!(o.code, 8, "{}", o.stderr);
    assert!(o.stderr.contains("another client"));
    drop(holder);
    // Once it is gone the lock is free again.
    std::thread::sleep(Duration::from_millis(200));
    ok(&on(h, false, &["status"]), "after release");
    // A TCP fault: the printer goes silent mid-session.
    h.faults.sticky_tcp(TcpFault::Stall);
    assert_eq!(on(h, false, &["temps"]).code, 9);
    h.faults.clear();
}

#[test]
fn cancel_asks_first() {
    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    let name = h.lock().files.keys().next().unwrap().clone();
    ok(&on(h, true, &["print", &name]), "print");
    let a = addr(h);
    let serial = h.serial();
    let base = [
        "--printer",
        a.as_str(),
        "--serial",
        &serial,
        "--check-code",
        CHECK_CODE,
        "cancel",
    ];
    let o = ff_in(&base, "n\n");
    assert_eq!(o.code, 11, "{}", o.stderr);
    assert!(o.stderr.contains("Cancel the job"));
    assert_ne!(h.lock().status, flashforge_sim::Status::Cancelled);
    let o = ff_in(&base, "y\n");
    ok(&o, "cancel confirmed");
    assert_eq!(h.lock().status, flashforge_sim::Status::Cancelled);
}

#[test]
fn config_profile_selects_the_printer() {
    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    let dir = tempdir();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "default = \"shop\"\n[printers.shop]\naddress = \"{}\"\nserial = \"{}\"\ncheck_code = \"{CHECK_CODE}\"\n",
            addr(h),
            h.serial()
        ),
    )
    .unwrap();
    let o = ff(&["--config", cfg.to_str().unwrap(), "status", "--json"]);
    ok(&o, "profile");
    assert_eq!(o.json()["printer"], "shop");
}

#[test]
fn sim_decode_completions_and_help() {
    let o = ff(&[
        "sim",
        "--model",
        "ad5x",
        "--model",
        "a3",
        "--duration",
        "0.3",
        "--json",
    ]);
    ok(&o, "sim");
    assert_eq!(o.stdout.lines().count(), 2);
    let o = ff(&["completions", "bash"]);
    ok(&o, "completions");
    assert!(o.stdout.contains("flashforge"));
    let o = ff(&["--help"]);
    ok(&o, "help");
    for code in [
        "0 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "10", "11", "12",
    ] {
        assert!(
            o.stdout.contains(&format!("  {code}")),
            "exit code {code} documented"
        );
    }
    let o = ff(&[
        "decode",
        "--command",
        "~M105",
        &data("tcp/m105_t0_bed_heaters.txt"),
    ]);
    ok(&o, "decode");
    assert_eq!(o.json()["tools"][0]["current"], 210.0);
}

#[test]
fn demo_runs_end_to_end() {
    let t = std::time::Instant::now();
    let o = ff(&["demo", "--speed", "60"]);
    ok(&o, "demo");
    // The demo's printers use the simulator's default check code: it must not show either.
    assert!(!o.stdout.contains("12345678") && !o.stderr.contains("12345678"));
    assert!(t.elapsed() < Duration::from_secs(60));
    for step in [
        "discover",
        "upload",
        "pause",
        "resume",
        "cancel",
        "thumbnail",
        "demo finished",
    ] {
        assert!(
            o.stdout.contains(step),
            "demo output lacks {step}: {}",
            o.stdout
        );
    }
}

/// `flashforge decode` over every reply fixture of the three manifests gives the expected
/// values and the exit code of the outcome (the request fixtures, parser `request`, describe
/// bytes we send: the core's `http_vectors` test builds and compares those).
#[test]
fn decode_every_fixture_manifest() {
    let mut checked = 0;
    for dir in ["tcp", "http", "discovery"] {
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(data(&format!("{dir}/manifest.json"))).unwrap())
                .unwrap();
        for f in manifest["fixtures"].as_array().unwrap() {
            let parser = f["parser"].as_str().unwrap();
            if parser == "request" {
                continue;
            }
            let file = data(&format!("{dir}/{}", f["file"].as_str().unwrap()));
            let o = ff(&["decode", "--parser", parser, &file]);
            let got: Value = serde_json::from_str(o.stdout.trim())
                .unwrap_or_else(|e| panic!("{file}: {e}: {} {}", o.stdout, o.stderr));
            if let Err(e) = expect(&f["expected"], &got, "") {
                panic!("{file} ({parser}): {e}\n got {got}");
            }
            let code = match f["outcome"].as_str().unwrap() {
                "ok" => 0,
                "error" => 1,
                "incomplete" => EXIT_INCOMPLETE,
                o => panic!("{file}: outcome {o}"),
            };
            assert_eq!(o.code, code, "{file}: {}", o.stderr);
            checked += 1;
        }
    }
    assert!(checked >= 150, "only {checked} fixtures checked");
}

/// `flashforge decode`'s exit code for a capture cut short (README's exit-code table).
const EXIT_INCOMPLETE: i32 = 12;

/// A capture that ends inside its reply has its own exit code, and the JSON says how much is
/// missing; the framing fields of a TCP reply follow the command given with `--command`.
#[test]
fn decode_incomplete_capture_and_framing_fields() {
    let dir = tempdir();
    let list = std::fs::read(data("tcp/m661_constructed_wire_three.bin")).unwrap();
    let cut = dir.join("m661_cut.bin");
    std::fs::write(&cut, &list[..list.len() - 5]).unwrap();
    let o = ff(&["decode", "--command", "~M661", cut.to_str().unwrap()]);
    assert_eq!(o.code, EXIT_INCOMPLETE, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("incomplete"), "{}", o.stderr);
    let v = o.json();
    assert_eq!(v["complete"], false);
    assert_eq!(v["bytes_missing"], 5);
    assert_eq!(v["entries_complete"], 2);
    assert_eq!(v["text_prefix"], "CMD M661 Received.\r\nok\r\n");

    let thumb = std::fs::read(data("tcp/m662_modern_tag_a2a2.bin")).unwrap();
    let cut = dir.join("m662_cut.bin");
    std::fs::write(&cut, &thumb[..thumb.len() - 5]).unwrap();
    let o = ff(&["decode", "--parser", "thumbnail", cut.to_str().unwrap()]);
    assert_eq!(o.code, EXIT_INCOMPLETE, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.json()["bytes_missing"], 5);

    // The emulator's `~M602` reply ends at its first `ok`: two lines trail it.
    let logout = data("tcp/m602_emulator.txt");
    let o = ff(&["decode", "--command", "~M602", &logout]);
    ok(&o, "decode ~M602");
    let v = o.json();
    assert_eq!(
        (&v["reply_ends_at_byte"], &v["trailing_stream_lines"]),
        (&22.into(), &2.into())
    );
    assert_eq!(
        (&v["denied"], &v["error_text"]),
        (&false.into(), &Value::Null)
    );
    let o = ff(&["decode", "--parser", "login", &data("tcp/m601_ok.txt")]);
    ok(&o, "decode login");
    assert_eq!(o.json()["first_ok_ends_at_byte"], 22);
    let o = ff(&[
        "decode",
        "--parser",
        "discovery",
        &data("discovery/modern_ad5x.bin"),
    ]);
    ok(&o, "decode discovery");
    assert_eq!(o.json()["name_raw_hex"], "41443558");
    let _ = std::fs::remove_dir_all(dir);
}

/// The manifest comparison: numbers to 1e-9 relative, objects by the expected keys, `error`
/// as a case-insensitive substring, `spot_checks` as `{index: bare name}` of `paths`, and
/// `entries_if_lenient` against the lenient parser's `entries`.
fn expect(e: &Value, g: &Value, path: &str) -> Result<(), String> {
    match (e, g) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300) {
                Ok(())
            } else {
                Err(format!("{path}: expected {x}, got {y}"))
            }
        }
        (Value::Object(eo), Value::Object(go)) => {
            for (k, v) in eo {
                let p = format!("{path}.{k}");
                match k.as_str() {
                    "error" if v.is_string() => {
                        let want = v.as_str().unwrap().to_ascii_lowercase();
                        let have = go.get("error").and_then(Value::as_str).unwrap_or("");
                        if !have.to_ascii_lowercase().contains(&want) {
                            return Err(format!("{p}: `{have}` does not say `{want}`"));
                        }
                    }
                    "spot_checks" => {
                        let paths = go["paths"].as_array().ok_or(format!("{p}: no paths"))?;
                        for (i, name) in v.as_object().unwrap() {
                            let i: i64 = i.parse().unwrap();
                            let idx = if i < 0 { paths.len() as i64 + i } else { i } as usize;
                            let have = paths[idx].as_str().unwrap();
                            if !have.ends_with(name.as_str().unwrap()) {
                                return Err(format!("{p}[{i}]: {have} is not {name}"));
                            }
                        }
                    }
                    "entries_if_lenient" => expect(v, &go["entries"], &p)?,
                    _ => {
                        let got = go.get(k).ok_or_else(|| format!("{p}: missing"))?;
                        expect(v, got, &p)?;
                    }
                }
            }
            Ok(())
        }
        (Value::Array(ea), Value::Array(ga)) => {
            if ea.len() != ga.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}",
                    ea.len(),
                    ga.len()
                ));
            }
            for (i, (x, y)) in ea.iter().zip(ga).enumerate() {
                expect(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if e == g => Ok(()),
        _ => Err(format!("{path}: expected {e}, got {g}")),
    }
}

/// The fixture copies in the repository (refreshed from ../shared/fixtures).
fn data(rel: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data")
        .join(rel);
    p.to_str().unwrap().to_owned()
}

fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "flashforge-cli-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The one JSON error object of a `--json` run's stderr (its last non-empty line; `-v` logs
/// may come before it).
fn json_error(o: &Out) -> Value {
    let line = o
        .stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("stderr's last line is not JSON ({e}): {}", o.stderr));
    assert!(v["error"].is_string() && v["kind"].is_string(), "{v}");
    assert_eq!(v["exit"], o.code, "{v}");
    v
}

/// A UDP socket on loopback that a test passes as `--target`: were discovery to run, its
/// probe would come here (by unicast, never onto the LAN).
fn probe_trap() -> (std::net::UdpSocket, String) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap().to_string();
    (s, a)
}

/// Whether a datagram arrived at the trap (waits up to `wait`).
fn probed(trap: &std::net::UdpSocket, wait: Duration) -> bool {
    trap.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    trap.recv_from(&mut buf).is_ok()
}

/// Issue 14 point 2: `--timeout` and every other seconds-valued option take more than 0
/// and at most a day; `NaN` (a panic before), `inf` and `1e300` (no deadline before) are
/// usage errors that name the range.
#[test]
fn seconds_options_are_finite_positive_and_at_most_a_day() {
    let (trap, t) = probe_trap();
    for bad in ["NaN", "inf", "-inf", "1e300", "0", "-1", "86401", "soon"] {
        // `--opt=VALUE`, so that `-inf` and `-1` are values rather than flags.
        let timeout = format!("--timeout={bad}");
        let interval = format!("--interval={bad}");
        let seconds = format!("--seconds={bad}");
        let duration = format!("--duration={bad}");
        for args in [
            vec!["-p", "127.0.0.1:1:1", &timeout, "status"],
            vec!["-p", "127.0.0.1:1:1", "watch", &interval],
            vec!["--target", &t, "discover", &seconds],
            vec!["sim", &duration],
        ] {
            let o = ff(&args);
            assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
            // A discovery searches at most an hour; every other option takes up to a day.
            let range = if args.contains(&"discover") {
                "between 0.1 and 3600"
            } else {
                "at most 86400"
            };
            assert!(o.stderr.contains(range), "{args:?}: {}", o.stderr);
            assert!(!o.stderr.contains("panicked"), "{args:?}: {}", o.stderr);
        }
    }
    // Under --json the usage error is one JSON object too.
    let o = ff(&[
        "-p",
        "127.0.0.1:1:1",
        "--timeout",
        "NaN",
        "--json",
        "status",
    ]);
    let e = json_error(&o);
    assert_eq!(e["kind"], "usage");
    assert!(e["error"].as_str().unwrap().contains("86400"), "{e}");
    assert!(!probed(&trap, Duration::from_millis(200)));
    // The largest value is accepted.
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    let a = addr(h);
    ok(&ff(&["-p", &a, "--timeout", "86400", "status"]), "a day");
}

/// Issue 14 point 7: an argument that looks like an address and is not a valid one is a
/// usage error naming what is wrong, and no discovery probe is sent (a trap socket given as
/// `--target` would receive it); a name is searched for, and the CLI says so.
#[test]
fn a_malformed_address_is_a_usage_error_and_sends_nothing() {
    let (trap, t) = probe_trap();
    let cases = [
        ("127.0.0.1:99999:0", "`99999` is not a port"),
        ("300.1.1.1", "more than 255"),
        ("127.0.0.1:0", "port 0"),
        ("1.2.3", "an IPv4 address has four"),
        ("[::1", "no closing `]`"),
        ("printer.local:8899", "host names are not looked up"),
    ];
    for (arg, why) in cases {
        let started = std::time::Instant::now();
        let o = ff(&["-p", arg, "--target", &t, "--timeout", "5", "status"]);
        assert_eq!(o.code, 2, "{arg}: {}", o.stderr);
        assert!(o.stderr.contains(why), "{arg}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("printer address `{arg}`")),
            "{arg}: {}",
            o.stderr
        );
        assert!(!o.stderr.contains("searching"), "{arg}: {}", o.stderr);
        // Discovery would take its 3 s; a usage error is immediate (generous on a busy machine).
        assert!(started.elapsed() < Duration::from_secs(3), "{arg}");
        let o = ff(&["-p", arg, "--target", &t, "--json", "status"]);
        assert_eq!(json_error(&o)["kind"], "usage");
        // A profile's address is held to the same rule.
        let dir = tempdir();
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, format!("[printers.shop]\naddress = \"{arg}\"\n")).unwrap();
        let c = cfg.to_str().unwrap();
        let o = ff(&["--config", c, "-p", "shop", "--target", &t, "status"]);
        assert_eq!(o.code, 2, "profile {arg}: {}", o.stderr);
    }
    assert!(
        !probed(&trap, Duration::from_millis(500)),
        "a probe was sent"
    );
    // The control: a name is looked for by discovery (here by unicast to the trap), and the
    // CLI says where it searches.
    let o = ff(&["-p", "Workshop 5M", "--target", &t, "status"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "searching {t} for a printer named or numbered `Workshop 5M`"
        )),
        "{}",
        o.stderr
    );
    assert!(probed(&trap, Duration::from_secs(1)), "no probe for a name");
}

/// Issue 14 point 9: an empty `FLASHFORGE_*` variable counts as unset: an Adventurer 4 is
/// reached without credentials beside empty `FLASHFORGE_SERIAL=` and `FLASHFORGE_CHECK_CODE=`,
/// and an empty `FLASHFORGE_PRINTER=` is no printer (not a name to search the LAN for).
#[test]
fn empty_environment_variables_count_as_unset() {
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    let a = addr(h);
    let empty = [
        ("FLASHFORGE_SERIAL", ""),
        ("FLASHFORGE_CHECK_CODE", ""),
        ("FLASHFORGE_MODEL", ""),
    ];
    let o = ff_env(
        &["-p", &a, "--timeout", "3", "status", "--json"],
        "",
        &empty,
    );
    ok(&o, "status beside empty variables");
    assert_eq!(o.json()["model"], "Adventurer4");
    // Only the serial given, the check code empty: the pair is incomplete.
    let o = ff_env(
        &["-p", &a, "status"],
        "",
        &[("FLASHFORGE_SERIAL", "SN1"), ("FLASHFORGE_CHECK_CODE", "")],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("give both"), "{}", o.stderr);
    let (trap, t) = probe_trap();
    let o = ff_env(
        &["--target", &t, "status"],
        "",
        &[("FLASHFORGE_PRINTER", "")],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("no printer given"), "{}", o.stderr);
    assert!(!probed(&trap, Duration::from_millis(300)));
}

/// Issue 14 point 10: `watch --count` ends non-zero when every printer's last update failed
/// (the first printer's code), with `--json` every error is one JSON object on stderr, and
/// HTTP 401/403 are the credentials error.
#[test]
fn scripts_can_trust_exit_codes_and_json_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("127.0.0.1:{port}:{port}");
    let watch = [
        "--timeout",
        "1",
        "watch",
        "--count",
        "2",
        "--interval",
        "0.2",
    ];
    let mut args = vec!["-p", dead.as_str()];
    args.extend(watch);
    let o = ff(&args);
    assert_eq!(o.code, 3, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("every printer failed"), "{}", o.stderr);
    let rows = o
        .stdout
        .lines()
        .filter(|l| l.starts_with(&format!("{dead}  error:")));
    assert_eq!(rows.count(), 2, "{}", o.stdout);
    args.push("--json");
    let o = ff(&args);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(json_error(&o)["kind"], "unreachable");
    assert_eq!(o.stdout.lines().count(), 2, "{}", o.stdout);

    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    for status in [401, 403] {
        h.faults.sticky_http(HttpFault::Status(status));
        let o = on(h, true, &["status"]);
        assert_eq!(o.code, 4, "{status}: {}", o.stderr);
        assert!(o.stderr.contains("check code"), "{}", o.stderr);
        let o = on(h, true, &["status", "--json"]);
        let e = json_error(&o);
        assert_eq!(e["kind"], "credentials", "{e}");
        assert_eq!(e["exit"], 4, "{e}");
        h.faults.clear();
    }
    // A watch of a good printer exits 0; of one that refuses the credentials, 4.
    let mut args = vec![];
    let a = addr(h);
    let serial = h.serial();
    args.extend(["-p", &a, "--serial", &serial, "--check-code", CHECK_CODE]);
    args.extend(["--timeout", "2", "watch", "--count", "1", "--json"]);
    ok(&ff(&args), "watch of a good printer");
    h.faults.sticky_http(HttpFault::Status(401));
    let o = ff(&args);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert_eq!(json_error(&o)["kind"], "credentials");
    h.faults.clear();
    // Errors the CLI finds itself are JSON too.
    let o = ff(&["status", "--json"]);
    assert_eq!(o.code, 2);
    assert!(json_error(&o)["error"]
        .as_str()
        .unwrap()
        .contains("no printer given"));
    let o = ff(&["-p", &dead, "--json", "status"]);
    assert_eq!(json_error(&o)["kind"], "unreachable");
    assert!(json_error(&o)["hint"].is_string());
}

/// Issue 14 point 2: `--timeout` is one deadline for connecting and logging in, every login
/// attempt together: a printer that never answers the login fails after about one
/// `--timeout` (3 s here), not three (9 s before). The bound leaves 4 s for a busy machine.
#[test]
fn a_login_that_never_answers_takes_one_timeout() {
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    h.faults.sticky_tcp(TcpFault::Stall);
    let a = addr(h);
    let started = std::time::Instant::now();
    let o = ff(&["-p", &a, "--timeout", "3", "status", "--json"]);
    let took = started.elapsed();
    assert_eq!(o.code, 9, "{}", o.stderr);
    assert_eq!(json_error(&o)["kind"], "timeout");
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert!(took < Duration::from_secs(7), "{took:?}");
    h.faults.clear();
    ok(&on(h, false, &["status"]), "after the printer recovers");
}

/// Out-of-range settings are usage errors (exit 2) that name the valid range, and the
/// printer receives no command for them (issue 14 point 5). The values are within the widest
/// bounds, so the model the printer reports decides.
#[test]
fn out_of_range_settings_name_the_range_and_send_nothing() {
    // What the refused commands would have sent, on either channel.
    const SENT: [&str; 8] = [
        "POST /control",
        "M104",
        "M140",
        "M106",
        "M107",
        "G91",
        "G1 ",
        "G90",
    ];
    let sent = |h: &SimHandle| SENT.map(|n| journal_count(h, n));
    let cases: &[(Model, bool, &[&str], &str)] = &[
        (
            Model::Adventurer5M,
            true,
            &["temp", "set", "nozzle", "301"],
            "nozzle temperature must be between 0 and 300 °C",
        ),
        (
            Model::Adventurer5M,
            true,
            &["temp", "set", "bed", "121"],
            "bed temperature must be between 0 and 120 °C",
        ),
        (
            Model::Adventurer5M,
            true,
            &["move", "z", "221"],
            "Z jog distance must be between -220 and 220 mm",
        ),
        (
            Model::Adventurer5M,
            true,
            &["move", "x", "NaN"],
            "X jog distance is not a finite number",
        ),
        (Model::Adventurer5M, true, &["fan", "101"], "0..=100"),
        (Model::Adventurer5M, true, &["fan", "255"], "0..=100"),
        (
            Model::Adventurer4,
            false,
            &["move", "y", "-201"],
            "Y jog distance must be between -200 and 200 mm",
        ),
        (
            Model::Adventurer4,
            false,
            &["temp", "set", "nozzle", "301"],
            "nozzle temperature must be between 0 and 300 °C",
        ),
        (
            Model::Creator5Pro,
            true,
            &["temp", "set", "chamber", "81"],
            "chamber temperature must be between 0 and 80 °C",
        ),
        (
            Model::Creator5Pro,
            true,
            &["temp", "set", "tool3", "351"],
            "nozzle temperature must be between 0 and 350 °C",
        ),
    ];
    let mut servers = std::collections::HashMap::new();
    for (model, http, args, message) in cases {
        let server = servers.entry(*model).or_insert_with(|| sim(*model));
        let h = server.printer();
        let before = sent(h);
        let o = on(h, *http, args);
        assert_eq!(o.code, 2, "{model} {args:?}: {}", o.stderr);
        assert!(o.stderr.contains(message), "{model} {args:?}: {}", o.stderr);
        assert_eq!(
            sent(h),
            before,
            "{model} {args:?}: a refused value sent a command"
        );
    }
    // The journal does see what is sent: the limits themselves are accepted and sent.
    for (model, http, args) in [
        (Model::Adventurer5M, true, &["move", "z", "220"][..]),
        (
            Model::Adventurer4,
            false,
            &["temp", "set", "nozzle", "300"][..],
        ),
        (
            Model::Creator5Pro,
            true,
            &["temp", "set", "chamber", "80"][..],
        ),
    ] {
        let h = servers[&model].printer();
        let before = sent(h);
        ok(&on(h, http, args), "at the limit");
        assert_ne!(sent(h), before, "{model} {args:?}");
    }
}

/// A value out of range for every model, or for the model given with `--printer-model`, is
/// refused before connecting: exit 2 against an address where nothing listens (a connection
/// attempt would be exit 3).
#[test]
fn out_of_range_values_are_refused_before_connecting() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = format!("127.0.0.1:{port}:{port}");
    let run = |rest: &[&str]| ff(&[&["-p", &a, "--timeout", "1"][..], rest].concat());
    for (args, message) in [
        (
            &["temp", "set", "nozzle", "400"][..],
            "nozzle temperature must be between 0 and 350 °C",
        ),
        (
            &["--printer-model", "5m", "temp", "set", "nozzle", "301"][..],
            "nozzle temperature must be between 0 and 300 °C",
        ),
        (
            &["--printer-model", "a3", "move", "x", "151"][..],
            "X jog distance must be between -150 and 150 mm",
        ),
        (
            &["move", "x", "inf"][..],
            "X jog distance is not a finite number",
        ),
        (&["move", "z", "1e300"][..], "between -300 and 300 mm"),
    ] {
        let o = run(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(message), "{args:?}: {}", o.stderr);
    }
    // Within every model's bounds, the model unknown: the connection is tried (and fails).
    let o = run(&["temp", "set", "nozzle", "301"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
}

/// A printer name and a stored file name with an OSC retitle, BEL, a clear-screen CSI and a
/// C1 CSI: human output shows them escaped (`\x1b`, `\x07`, `\u{9b}`) with no raw control
/// byte; `--json` round-trips the exact strings (issue 14 point 4).
#[test]
fn printer_supplied_text_cannot_drive_the_terminal() {
    const HOSTILE: &str = "Evil\x1b]0;pwned\x07\x1b[2J\u{9b}31m\tprinter";
    const SHOWN: &str = "Evil\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\tprinter";
    let file = format!("{HOSTILE}.gcode");
    let shown_file = format!("{SHOWN}.gcode");
    let raw = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && c != '\n' || ('\u{80}'..='\u{9f}').contains(&c))
    };
    for (model, http) in [(Model::AD5X, true), (Model::Adventurer4, false)] {
        let mut spec = PrinterSpec::new(model);
        spec.check_code = CHECK_CODE.to_owned();
        spec.name = HOSTILE.to_owned();
        let server = SimServer::start(vec![spec], &ServerConfig::default()).unwrap();
        let h = server.printer();
        h.lock().store_file(&file, b"G28\n");
        if http {
            // The running job's file name is in the status.
            h.lock().start_job(&file, false).unwrap();
        }

        for cmd in ["info", "status", "files"] {
            let o = on(h, http, &[cmd]);
            ok(&o, cmd);
            assert!(
                !raw(&o.stdout),
                "{model} {cmd}: raw control in {:?}",
                o.stdout
            );
            assert!(
                !raw(&o.stderr),
                "{model} {cmd}: raw control in {:?}",
                o.stderr
            );
            let want = if cmd == "files" { &shown_file } else { SHOWN };
            if cmd != "status" || http {
                assert!(o.stdout.contains(want), "{model} {cmd}: {}", o.stdout);
            }
        }
        let j = on(h, http, &["info", "--json"]).json();
        assert_eq!(j["name"], HOSTILE, "{model}");
        let j = on(h, http, &["files", "--json"]).json();
        let listed = |k: &str| {
            j[k].as_array().is_some_and(|f| {
                f.iter()
                    .any(|v| v == file.as_str() || v["name"] == file.as_str())
            })
        };
        assert!(listed("files") || listed("recent"), "{model}: {j}");

        // Discovery already drops a reply whose name holds a C0 byte; a C1 CSI passes it.
        const C1: &str = "Evil\u{9b}2J\u{9d}0;pwned\u{9c}";
        h.lock().spec.name = C1.to_owned();
        let udp = h.udp.to_string();
        let o = ff(&["discover", "--target", &udp, "--seconds", "2"]);
        ok(&o, "discover");
        assert!(!raw(&o.stdout), "{model} discover: {:?}", o.stdout);
        assert!(
            o.stdout.contains("Evil\\u{9b}2J\\u{9d}0;pwned\\u{9c}"),
            "{model} discover: {}",
            o.stdout
        );
        let o = ff(&["discover", "--target", &udp, "--seconds", "2", "--json"]);
        assert_eq!(o.json()["name"], C1, "{model}");
    }
}

/// Issue 14 points 1 and 3 at the command line: the upload deadlines are options shown in
/// `--help` and validated; a directory or FIFO is a usage error before the printer is even
/// logged into; a printer that stops reading the upload ends it with exit 9 within the stall
/// timeout (plus slack for a loaded machine), the local file untouched.
#[test]
fn upload_deadlines_and_what_can_be_uploaded() {
    let o = ff(&["--help"]);
    ok(&o, "help");
    for opt in ["--upload-timeout", "--stall-timeout"] {
        assert!(o.stdout.contains(opt), "{opt} in --help");
    }
    for bad in ["0", "-1", "NaN", "inf", "1e300", "x"] {
        for opt in ["--upload-timeout", "--stall-timeout"] {
            let o = ff(&[opt, bad, "status"]);
            assert_eq!(o.code, 2, "{opt} {bad}: {}", o.stderr);
        }
    }

    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    let dir = tempdir();
    let folder = dir.join("folder.gcode");
    std::fs::create_dir_all(&folder).unwrap();
    let mut paths = vec![folder];
    let fifo = dir.join("pipe.gcode");
    if Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        paths.push(fifo);
    } else {
        eprintln!("mkfifo unavailable: the FIFO case is skipped");
    }
    for path in &paths {
        let t0 = std::time::Instant::now();
        let o = on(h, true, &["upload", path.to_str().unwrap()]);
        assert_eq!(o.code, 2, "{}: {}", path.display(), o.stderr);
        assert!(o.stderr.contains("not a regular file"), "{}", o.stderr);
        assert!(t0.elapsed() < Duration::from_secs(20));
    }
    assert_eq!(h.lock().journal.len(), 0, "nothing reached the printer");

    // 32 MiB: more than every socket buffer between the CLI and the simulator.
    let big = dir.join("big.gcode");
    std::fs::write(&big, vec![b'G'; 32 << 20]).unwrap();
    let before = std::fs::metadata(&big).unwrap();
    h.faults.push_http(HttpFault::StallUpload(1 << 20));
    let t0 = std::time::Instant::now();
    let o = on(
        h,
        true,
        &["--stall-timeout", "1", "upload", big.to_str().unwrap()],
    );
    let took = t0.elapsed();
    eprintln!("CLI stalled upload: exit {} after {took:?}", o.code);
    assert_eq!(o.code, 9, "{}", o.stderr);
    assert!(o.stderr.contains("stopped reading"), "{}", o.stderr);
    assert!(took < Duration::from_secs(1 + 15), "{took:?}");
    let after = std::fs::metadata(&big).unwrap();
    assert_eq!(after.len(), before.len());
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
    h.faults.clear();
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- `flashforge sim`: its own options, identity and placement flags, farm files ----

fn sim_json_lines(o: &Out) -> Vec<Value> {
    o.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn farm_file(body: &str) -> String {
    let p = tempdir().join("farm.toml");
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn sim_help_lists_only_the_simulators_options() {
    for args in [
        &["sim", "--help"][..],
        &["help", "sim"],
        &["-v", "sim", "--help"],
    ] {
        let o = ff(args);
        ok(&o, "sim --help");
        for opt in [
            "--bind ",
            "--bind-range",
            "--farm",
            "--serial",
            "--check-code",
            "--name",
            "--mac",
            "--firmware",
            "--job-seconds",
            "--a3-shape",
            "--speed",
            "--count",
            "--model",
            "--control",
            "--camera-port",
            "--allow-non-loopback",
            "--duration",
            "--json",
        ] {
            assert!(
                o.stdout.contains(opt),
                "{args:?} lacks {opt}:\n{}",
                o.stdout
            );
        }
        for client in [
            "--printer",
            "--timeout",
            "--stall-timeout",
            "--upload-timeout",
            "--legacy",
            "--target",
            "--config",
            "--sim-check-code",
        ] {
            assert!(
                !o.stdout.contains(client),
                "{args:?} shows {client}:\n{}",
                o.stdout
            );
        }
    }
    let o = ff(&["--help"]);
    ok(&o, "help");
    assert!(o.stdout.contains("  sim "), "{}", o.stdout);
    let o = ff(&["completions", "bash"]);
    ok(&o, "completions");
    assert!(o.stdout.contains("--bind-range"));
}

#[test]
fn a_client_option_given_to_sim_is_a_usage_error_naming_it() {
    for (args, flag) in [
        (&["sim", "--printer", "127.0.0.1"][..], "--printer"),
        (&["sim", "--timeout", "3"], "--timeout"),
        (&["sim", "--stall-timeout", "3"], "--stall-timeout"),
        (&["sim", "--target", "127.0.0.1:1"], "--target"),
        (&["--serial", "X", "sim"], "--serial"),
        (&["--timeout", "3", "sim", "--duration", "1"], "--timeout"),
    ] {
        let o = ff(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(flag), "{args:?}: {}", o.stderr);
    }
    let o = ff(&["--json", "sim", "--printer", "127.0.0.1"]);
    assert_eq!(o.code, 2);
    let e = json_error(&o);
    assert_eq!(e["exit"], 2);
    assert!(e["error"].as_str().unwrap().contains("--printer"), "{e}");
}

#[test]
fn sim_identity_flags_show_in_its_output() {
    let o = ff(&[
        "sim",
        "--serial",
        "SNFLAG01",
        "--name",
        "Bench printer",
        "-m",
        "ad5x",
        "--check-code",
        CHECK_CODE,
        "--duration",
        "1",
        "--json",
    ]);
    ok(&o, "sim --serial");
    let lines = sim_json_lines(&o);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["serial"], "SNFLAG01");
    assert_eq!(lines[0]["name"], "Bench printer");
    assert_eq!(lines[0]["model"], "AD5X");
    // FLASHFORGE_SERIAL is the client's: sim does not take it.
    let o = ff_env(
        &["sim", "--duration", "0.2", "--json"],
        "",
        &[("FLASHFORGE_SERIAL", "SNFROMENV")],
    );
    ok(&o, "sim with FLASHFORGE_SERIAL");
    assert!(!o.stdout.contains("SNFROMENV"), "{}", o.stdout);
    // Several printers are numbered; -v before `sim` is the simulator's.
    let o = ff(&[
        "-v",
        "sim",
        "--serial",
        "SNR",
        "--count",
        "2",
        "--duration",
        "0.2",
        "--json",
    ]);
    ok(&o, "sim --count 2");
    let serials: Vec<_> = sim_json_lines(&o)
        .iter()
        .map(|l| l["serial"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(serials, ["SNR-1", "SNR-2"]);
}

#[test]
fn sim_refuses_bad_flags_before_binding() {
    let long = "S".repeat(129);
    for (args, needle) in [
        (vec!["sim", "--serial", long.as_str()], "at most 128"),
        (vec!["sim", "--mac", "nope"], "MAC `nope`"),
        (vec!["sim", "--check-code", ""], "check code"),
        (vec!["sim", "--speed", "0"], "more than 0"),
        (vec!["sim", "--speed", "NaN"], "more than 0"),
        (vec!["sim", "--bind", "192.168.1.7"], "--allow-non-loopback"),
        (
            vec!["sim", "--bind", "127.0.77.1", "--count", "2"],
            "--bind-range",
        ),
        (
            vec!["sim", "--bind", "127.0.77.1", "--bind-range", "127.0.77.2"],
            "--bind-range",
        ),
        (
            vec!["sim", "--bind-range", "127.255.255.255", "--count", "2"],
            "127.0.0.0/8",
        ),
        (
            vec!["sim", "--control", "192.168.1.7:80"],
            "control address",
        ),
        (vec!["sim", "--count", "0"], "--count"),
        (
            vec!["sim", "--count", "5001", "-m", "5m", "-m", "a3"],
            "at most 10000",
        ),
        (
            vec!["sim", "--fault", "http-busy:twice@/detail"],
            "bad count `twice`",
        ),
        (vec!["sim", "--fault", "no-such-fault"], "unknown fault"),
        (
            vec!["sim", "--farm", "/nonexistent/farm.toml"],
            "cannot read the farm file",
        ),
        (
            vec!["sim", "--farm", "/nonexistent/farm.toml", "--serial", "X"],
            "--serial",
        ),
    ] {
        let o = ff(&args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
    }
}

#[test]
fn sim_runs_a_farm_file() {
    let f = farm_file(&format!(
        "speed = 5\ncheck_code = \"{CHECK_CODE}\"\n\
         [[printer]]\nmodel = \"5m-pro\"\nname = \"Left\"\nserial = \"SNFARM1\"\nbind = \"127.0.77.2\"\n\
         [[printer]]\nmodel = \"a3\"\nname = \"Right\"\nserial = \"SNFARM2\"\nbind = \"127.0.77.3\"\n"
    ));
    let o = ff(&["sim", "--farm", &f, "--duration", "1", "--json"]);
    ok(&o, "sim --farm");
    let lines = sim_json_lines(&o);
    let got: Vec<_> = lines
        .iter()
        .map(|l| (l["name"].clone(), l["serial"].clone(), l["model"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("Left".into(), "SNFARM1".into(), "Adventurer5MPro".into()),
            ("Right".into(), "SNFARM2".into(), "Adventurer3".into()),
        ]
    );
    // Each on its own address with the standard ports.
    assert_eq!(lines[0]["tcp"], "127.0.77.2:8899", "{:?}", lines[0]);
    assert_eq!(lines[0]["http"], "127.0.77.2:8898", "{:?}", lines[0]);
    assert_eq!(lines[0]["udp"], "127.0.77.2:48899", "{:?}", lines[0]);
    assert_eq!(lines[0]["camera"], "127.0.77.2:8080", "{:?}", lines[0]);
    assert_eq!(
        lines[0]["discovery"],
        serde_json::json!(["127.0.77.2:48899", "127.0.77.2:19000"]),
        "{:?}",
        lines[0]
    );
    assert_eq!(lines[1]["tcp"], "127.0.77.3:8899", "{:?}", lines[1]);
    assert_eq!(lines[1]["udp"], "127.0.77.3:8899", "{:?}", lines[1]);
    let o = ff(&["sim", "--farm", &f, "--duration", "1"]);
    ok(&o, "sim --farm table");
    assert!(o.stdout.starts_with("NAME"), "{}", o.stdout);
    assert!(o.stdout.contains("SNFARM2"), "{}", o.stdout);
}

#[test]
fn bad_farm_files_are_usage_errors_naming_the_problem() {
    let two = |a: &str, b: &str| {
        format!("[[printer]]\nmodel = \"5m\"\n{a}\n[[printer]]\nmodel = \"ad5x\"\n{b}\n")
    };
    for (body, needles) in [
        (
            "[[printer]]\nmodel = \"5m\"\ncolour = \"red\"\n".to_owned(),
            &["unknown field `colour`", "line 3"][..],
        ),
        (
            "[[printer]]\nmodel = \"5m\"\ncount = \"many\"\n".to_owned(),
            &["line 3", "count"],
        ),
        (
            two("serial = \"SAME\"", "serial = \"SAME\""),
            &["duplicate serial SAME", "[[printer]] 1", "[[printer]] 2"],
        ),
        (
            two(
                "serial = \"A\"\nbind = \"127.0.77.9\"",
                "serial = \"B\"\nbind = \"127.0.77.9\"",
            ),
            &["both use TCP 127.0.77.9:8899", "serial A", "serial B"],
        ),
        (
            "[[printer]]\nmodel = \"5m\"\nbind = \"10.1.2.3\"\n".to_owned(),
            &["10.1.2.3 is not a loopback address"],
        ),
        (
            "[[printer]]\nmodel = \"5m\"\ncount = 10001\n".to_owned(),
            &["10001 printers", "at most 10000"],
        ),
        (
            "[[printer]]\nmodel = \"5m\"\nfaults = [\"http-busy:once@\"]\n".to_owned(),
            &["[[printer]] 1", "empty scope after `@`"],
        ),
    ] {
        let f = farm_file(&body);
        let o = ff(&["sim", "--farm", &f, "--duration", "1"]);
        assert_eq!(o.code, 2, "{body}: {}", o.stderr);
        for n in needles {
            assert!(o.stderr.contains(n), "{body}: lacks {n}: {}", o.stderr);
        }
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
    // Larger than 1 MiB: refused before parsing.
    let f = farm_file(&"#".repeat((1 << 20) + 1));
    let o = ff(&["sim", "--farm", &f]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("larger than"), "{}", o.stderr);
}

/// A tiny HTTP/1.1 client for the simulator's control API.
fn control(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).expect("control API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let json = out.split("\r\n\r\n").nth(1).unwrap_or("null");
    (code, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[test]
fn sim_serves_its_control_api_and_takes_fault_rules() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_flashforge"))
        .args([
            "sim",
            "-m",
            "5m",
            "--bind",
            "127.0.77.40",
            "--serial",
            "SNCTL1",
            "--check-code",
            CHECK_CODE,
            "--control",
            "127.0.0.1:0",
            "--fault",
            "http-busy:once@/gcodeList",
            "--duration",
            "60",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run flashforge sim");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    // The printer line, then the control line, as soon as they are bound.
    let mut lines = std::io::BufReader::new(stdout).lines();
    let printer: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(printer["tcp"], "127.0.77.40:8899", "{printer}");
    assert_eq!(printer["http"], "127.0.77.40:8898", "{printer}");
    let ctl: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let url = ctl["control"].as_str().expect("a control line").to_owned();
    let addr = url.trim_start_matches("http://");

    // The rule from the command line is listed, once, scoped.
    let (code, rules) = control(addr, "GET", "/printers/0/faults", "");
    assert_eq!(code, 200, "{rules}");
    assert_eq!(rules[0]["rule"], "http-busy:once@/gcodeList", "{rules}");
    // The CLI's own status (HTTP /detail) is not touched by a rule for /gcodeList.
    let status = |_: ()| {
        ff(&[
            "-p",
            "127.0.77.40",
            "--serial",
            "SNCTL1",
            "--check-code",
            CHECK_CODE,
            "--timeout",
            "5",
            "--json",
            "status",
        ])
    };
    let o = status(());
    ok(&o, "status beside a rule for another path");
    assert_eq!(o.json()["state"], "Ready", "{}", o.stdout);
    // State set through the control API shows in the client.
    let (code, v) = control(
        addr,
        "POST",
        "/printers/SNCTL1/state",
        r#"{"status":"error","code":"E0088"}"#,
    );
    assert_eq!(code, 200, "{v}");
    let o = status(());
    assert!(o.stdout.contains("E0088"), "{}\n{}", o.stdout, o.stderr);
    let (_, p) = control(addr, "GET", "/printers/0", "");
    assert_eq!(p["error_code"], "E0088", "{p}");
    assert_eq!(control(addr, "GET", "/printers/7", "").0, 404);
}

/// Out of descriptors is this machine's limit, reported as such (exit 13's kind, with the
/// hint), never as an unreachable printer (issue 16 point 2).
#[test]
fn running_out_of_descriptors_is_not_an_unreachable_printer() {
    let specs = (0..6)
        .map(|i| PrinterSpec::numbered(Model::Adventurer3, i))
        .collect();
    let server = SimServer::start(specs, &ServerConfig::default()).unwrap();
    let mut cmd = format!(
        "ulimit -n 11 && exec '{}' --json watch --count 1",
        env!("CARGO_BIN_EXE_flashforge")
    );
    for h in server.printers() {
        cmd.push_str(&format!(" -p {}", addr(h)));
    }
    let o = Command::new("sh")
        .args(["-c", &cmd])
        .env("XDG_CONFIG_HOME", "/nonexistent-flashforge-test")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let exhausted: Vec<_> = rows
        .iter()
        .filter_map(|r| r["error"].as_str())
        .filter(|e| e.starts_with("local resource exhausted"))
        .collect();
    assert!(
        !exhausted.is_empty(),
        "some printer could not get a descriptor: {stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        exhausted.iter().all(|e| e.contains("ulimit -n")),
        "{exhausted:?}"
    );
    assert!(!stdout.contains("unreachable"), "{stdout}");
    server.shutdown();
}

/// With almost no descriptors the CLI cannot even start its runtime or read its config file:
/// exit 13 (`resource`) with the hint at every limit, never a panic (tokio's signal driver
/// panics without a descriptor for its pipe) and never a usage error.
#[test]
fn too_few_descriptors_to_start_is_a_resource_exit_never_a_panic() {
    let dir = std::env::temp_dir().join(format!("ff-fdlow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(&config, "").unwrap();
    let mut codes = Vec::new();
    for n in 4..=9 {
        let cmd = format!(
            "ulimit -n {n} && exec '{}' --config '{}' status -p 127.0.0.1:1",
            env!("CARGO_BIN_EXE_flashforge"),
            config.display()
        );
        let o = Command::new("sh").args(["-c", &cmd]).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "limit {n}: {stderr}");
        let code = o.status.code();
        codes.push(code);
        // Enough descriptors to get further is fine (the printer is unreachable: exit 3).
        assert!(
            matches!(code, Some(13) | Some(3)),
            "limit {n}: {code:?} {stderr}"
        );
        if code == Some(13) {
            assert!(stderr.contains("ulimit -n"), "limit {n}: {stderr}");
        }
    }
    assert!(codes.contains(&Some(13)), "{codes:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
