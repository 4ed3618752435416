//! Unit tests of the client's decisions: which steps each operation plans on each model,
//! what a model refuses, and how the step outputs are read back.

use std::io::ErrorKind;

use super::*;
use crate::driver::*;
use crate::http::{Axis, Control, Filtration, Heat, JobOptions, Request};
use crate::{Command, Model, UsageError};

#[test]
fn every_model_plans_status_on_its_channel() {
    for m in Model::ALL {
        let p = Plan::new(Op::Status, &target(m)).unwrap();
        if m.is_http() {
            assert_eq!(p.steps(), &[Step::Http(Request::Detail)], "{m}");
        } else {
            assert_eq!(p.steps().len(), 3, "{m}");
        }
    }
}

#[test]
fn creator5_has_no_tcp_operations() {
    for m in [Model::Creator5, Model::Creator5Pro] {
        for op in [Op::Home, Op::Files, Op::Gcode("M105".into())] {
            let e = Plan::new(op.clone(), &target(m)).unwrap_err();
            assert!(e.is_unsupported(), "{m} {op:?}: {e}");
        }
    }
}

#[test]
fn legacy_printers_refuse_http_only_operations() {
    for m in [Model::Adventurer3, Model::Adventurer4] {
        for op in [
            Op::RecentFiles,
            Op::ClearPlatform,
            Op::CameraUrl,
            Op::Filtration(true),
        ] {
            assert!(Plan::new(op, &target(m)).unwrap_err().is_unsupported());
        }
    }
}

#[test]
fn creator5_temperatures_go_per_tool() {
    let p = Plan::new(
        Op::SetTemperature(Heater::Tool(2), Some(210)),
        &target(Model::Creator5),
    )
    .unwrap();
    let [Step::Http(Request::Control {
        command: Control::Temperature(t),
        ..
    })] = p.steps()
    else {
        panic!("{p:?}")
    };
    assert_eq!(t.nozzles.unwrap()[2], Heat::Target(210));
    assert_eq!(t.nozzles.unwrap()[0], Heat::Keep);
}

#[test]
fn overrides_switch_capabilities() {
    let t = target(Model::Adventurer5M).with_overrides(&Overrides {
        filtration: Toggle::On,
        led: Toggle::Off,
        ..Overrides::default()
    });
    assert!(Plan::new(Op::Led(true), &t).unwrap_err().is_unsupported());
    // The override lets the request through the capability check; the core's per-model
    // check of `/control` commands still knows the 5M firmware lacks the command.
    assert!(Plan::new(Op::Filtration(true), &t).is_err());
}

#[test]
fn finish_rejects_wrong_output_count() {
    let p = Plan::new(Op::Pause, &target(Model::Adventurer4)).unwrap();
    assert!(p.finish(vec![]).is_err());
}

#[test]
fn jog_over_tcp_is_relative_and_restores_absolute() {
    let p = Plan::new(Op::Jog(Axis::Z, 5.0), &target(Model::Adventurer5M)).unwrap();
    assert_eq!(p.steps().len(), 3);
    assert_eq!(p.steps()[0], Step::Tcp(Command::RelativePositioning));
    assert_eq!(p.steps()[2], Step::Tcp(Command::AbsolutePositioning));
    assert!(Plan::new(Op::Jog(Axis::X, f64::NAN), &target(Model::Adventurer5M)).is_err());
}

#[test]
fn a_clients_upload_takes_its_expect_continue_and_a_floor_on_the_chunk_size() {
    let mut client = ClientOptions {
        upload_chunk_size: 16,
        ..ClientOptions::default()
    };
    let o = UploadOptions::default();
    let (r, chunk) = client
        .upload_route(&target(Model::AD5X), "cube.gcode", 10, &o)
        .unwrap();
    assert!(matches!(r, UploadRoute::Http(s) if s.expect_continue));
    assert_eq!(chunk, 4096);
    client.expect_continue = false;
    let (r, _) = client
        .upload_route(&target(Model::AD5X), "cube.gcode", 10, &o)
        .unwrap();
    assert!(matches!(r, UploadRoute::Http(s) if !s.expect_continue));
    let mut a3 = target(Model::Adventurer3);
    a3.dialect = crate::Dialect::Adventurer3;
    assert_eq!(client.tcp_config(&a3).dialect, crate::Dialect::Adventurer3);
}

#[test]
fn upload_routes() {
    let o = UploadOptions::default().start(true);
    let r = upload_route(&target(Model::AD5X), "/a/b/cube.gcode", 10, &o, 1).unwrap();
    assert!(matches!(r, UploadRoute::Http(s) if s.file_name == "cube.gcode" && s.print_now));
    let r = upload_route(&target(Model::Adventurer3), "cube.g", 10, &o, 1).unwrap();
    assert!(matches!(r, UploadRoute::Tcp { start, .. } if start.len() == 2));
    let lev = UploadOptions::default().leveling(true);
    assert!(upload_route(&target(Model::Adventurer4), "cube.g", 10, &lev, 1).is_err());
}

#[test]
fn temperatures_take_m104_m140_on_every_model_with_a_tcp_channel() {
    for m in [
        Model::Adventurer3,
        Model::Adventurer4,
        Model::Adventurer5M,
        Model::Adventurer5MPro,
        Model::AD5X,
    ] {
        let bed = set(Heater::Bed, Some(60), m).unwrap();
        assert_eq!(tcp_bytes(&bed), ["~M140 S60\n"], "{m}");
        let nozzle = set(Heater::Tool(0), Some(210), m).unwrap();
        assert_eq!(tcp_bytes(&nozzle), ["~M104 S210\n"], "{m}");
        // Off is S0.
        let off = set(Heater::Tool(0), None, m).unwrap();
        assert_eq!(tcp_bytes(&off), ["~M104 S0\n"], "{m}");
        let off = set(Heater::Bed, None, m).unwrap();
        assert_eq!(tcp_bytes(&off), ["~M140 S0\n"], "{m}");
        let all = Plan::new(Op::TemperaturesOff, &target(m)).unwrap();
        assert_eq!(tcp_bytes(&all), ["~M104 S0\n", "~M140 S0\n"], "{m}");
    }
}

#[test]
fn temperature_control_is_http_only_on_the_creator5_family() {
    for m in [Model::Creator5, Model::Creator5Pro] {
        let p = set(Heater::Bed, Some(60), m).unwrap();
        let [Step::Http(Request::Control {
            command: Control::Temperature(t),
            ..
        })] = p.steps()
        else {
            panic!("{m}: {p:?}")
        };
        assert_eq!(t.platform, Heat::Target(60));
        assert_eq!(t.nozzles, Some([Heat::Keep; 4]), "{m}: nozzles always sent");
        let p = Plan::new(Op::TemperaturesOff, &target(m)).unwrap();
        assert!(matches!(p.steps(), [Step::Http(_)]), "{m}");
    }
    // An HTTP-only printer of no known family: the key names are disputed, so no guess.
    let t = Target::connecting_http("10.0.0.2");
    let e = Plan::new(Op::SetTemperature(Heater::Bed, Some(60)), &t).unwrap_err();
    assert!(e.is_unsupported(), "{e:?}");
}

#[test]
fn a_second_tool_over_tcp_is_unsupported() {
    for m in [Model::AD5X, Model::Adventurer5M, Model::Adventurer4] {
        let e = set(Heater::Tool(1), Some(200), m).unwrap_err();
        assert!(
            matches!(e, ClientError::Unsupported { model, .. } if model == m),
            "{m}: {e:?}"
        );
        assert!(set(Heater::Tool(1), None, m).unwrap_err().is_unsupported());
    }
    // The Creator 5's four tools are real.
    assert!(set(Heater::Tool(1), Some(200), Model::Creator5).is_ok());
    assert!(set(Heater::Chamber, Some(40), Model::Adventurer5M)
        .unwrap_err()
        .is_unsupported());
}

#[test]
fn what_a_model_lacks_is_one_typed_unsupported() {
    let a4 = target(Model::Adventurer4);
    let lev = UploadOptions::default().start(true).leveling(true);
    let e = upload_route(&a4, "cube.g", 10, &lev, 1).unwrap_err();
    assert_eq!(
        e,
        ClientError::Unsupported {
            operation: "leveling before a print",
            model: Model::Adventurer4
        }
    );
    assert_eq!(e.io_kind(), ErrorKind::Unsupported);
    let start = Op::StartFile {
        name: "cube.g".into(),
        options: JobOptions {
            leveling: true,
            ..JobOptions::default()
        },
    };
    assert!(Plan::new(start, &a4).unwrap_err().is_unsupported());
    // Material mappings on a 5M, whose job body has none.
    let mapped = JobOptions {
        mappings: vec![crate::http::MaterialMapping {
            tool_id: 0,
            slot_id: 1,
            material_name: "PLA".into(),
            tool_color: crate::http::Rgb::WHITE,
            slot_color: crate::http::Rgb::WHITE,
        }],
        ..JobOptions::default()
    };
    let m5 = target(Model::Adventurer5M);
    let op = Op::StartFile {
        name: "cube.g".into(),
        options: mapped.clone(),
    };
    assert!(Plan::new(op, &m5).unwrap_err().is_unsupported());
    let up = UploadOptions::default().job(mapped);
    assert!(upload_route(&m5, "cube.g", 10, &up, 1)
        .unwrap_err()
        .is_unsupported());
    // A `/control` command the firmware lacks, forced through the capability override.
    let forced = m5.with_overrides(&Overrides {
        filtration: Toggle::On,
        ..Overrides::default()
    });
    assert!(Plan::new(Op::Filtration(true), &forced)
        .unwrap_err()
        .is_unsupported());
}

#[test]
fn creator5_pro_filtration_is_unsupported_unless_overridden() {
    let c5p = target(Model::Creator5Pro);
    assert!(!c5p.capabilities.filtration);
    let e = Plan::new(Op::Filtration(true), &c5p).unwrap_err();
    assert!(e.is_unsupported(), "{e:?}");
    let on = c5p.with_overrides(&Overrides {
        filtration: Toggle::On,
        ..Overrides::default()
    });
    let p = Plan::new(Op::Filtration(true), &on).unwrap();
    assert!(matches!(
        p.steps(),
        [Step::Http(Request::Control {
            command: Control::Filtration(Filtration::Both),
            ..
        })]
    ));
    // The 5M Pro's filtration really runs.
    assert!(Plan::new(Op::Filtration(true), &target(Model::Adventurer5MPro)).is_ok());
}

#[test]
fn fan_takes_percent() {
    let duty = |m: Model, pct: u8| -> Option<u8> {
        let p = Plan::new(Op::Fan(pct), &target(m)).unwrap();
        match p.steps() {
            [Step::Http(Request::Control {
                command: Control::PrinterSettings(s),
                ..
            })] => s.cooling_fan,
            [Step::Tcp(Command::FanOn { speed })] => *speed,
            [Step::Tcp(Command::FanOff)] => Some(0),
            other => panic!("{other:?}"),
        }
    };
    for m in [Model::Adventurer5M, Model::Adventurer4, Model::Creator5] {
        assert_eq!(duty(m, 50), Some(128), "{m}");
        assert_eq!(duty(m, 100), Some(255), "{m}");
        assert_eq!(duty(m, 0), Some(0), "{m}");
        for pct in [101, 255] {
            let e = Plan::new(Op::Fan(pct), &target(m)).unwrap_err();
            assert_eq!(
                e,
                ClientError::Usage(UsageError::NotInRange {
                    what: "fan speed",
                    min: 0,
                    max: 100,
                    unit: " %"
                }),
                "{m}"
            );
            assert_eq!(e.to_string(), "fan speed must be between 0 and 100 %");
        }
    }
    // The A3's fan is on/off only: 100 % is `~M106` without `S`, 0 is `~M107`, others are
    // unsupported rather than rounded.
    let a3 = target(Model::Adventurer3);
    assert!(matches!(
        Plan::new(Op::Fan(100), &a3).unwrap().steps(),
        [Step::Tcp(Command::FanOn { speed: None })]
    ));
    assert!(matches!(
        Plan::new(Op::Fan(0), &a3).unwrap().steps(),
        [Step::Tcp(Command::FanOff)]
    ));
    assert!(Plan::new(Op::Fan(50), &a3).unwrap_err().is_unsupported());
    // 50 % sent, reported back by `/detail` as 50 % (0–100, like the sim's 128 * 100 / 255).
    assert_eq!(u32::from(ops::fan_duty(50)) * 100 / 255, 50);
}

/// The range error of `what` from `min` to `max`.
fn range(what: &'static str, min: i64, max: i64, unit: &'static str) -> ClientError {
    ClientError::Usage(UsageError::NotInRange {
        what,
        min,
        max,
        unit,
    })
}

/// Temperatures above the model's bound for the heater are refused before anything is
/// planned, naming the range; the bound itself is planned (issue 14 point 5).
#[test]
fn temperatures_are_checked_per_model_and_heater() {
    let set = |m: Model, h: Heater, c: u16| Plan::new(Op::SetTemperature(h, Some(c)), &target(m));
    for (m, nozzle, bed) in [
        (Model::Adventurer3, 300, 120),
        (Model::Adventurer4, 300, 120),
        (Model::Adventurer5M, 300, 120),
        (Model::Adventurer5MPro, 300, 120),
        (Model::AD5X, 300, 120),
        (Model::Creator5, 350, 130),
        (Model::Creator5Pro, 350, 130),
    ] {
        assert_eq!(m.limits().nozzle_max, nozzle, "{m}");
        assert!(set(m, Heater::Tool(0), nozzle).is_ok(), "{m}");
        assert!(set(m, Heater::Bed, bed).is_ok(), "{m}");
        let e = set(m, Heater::Tool(0), nozzle + 1).unwrap_err();
        assert_eq!(
            e,
            range("nozzle temperature", 0, nozzle.into(), " °C"),
            "{m}"
        );
        assert_eq!(
            e.to_string(),
            format!("nozzle temperature must be between 0 and {nozzle} °C")
        );
        let e = set(m, Heater::Bed, bed + 1).unwrap_err();
        assert_eq!(e, range("bed temperature", 0, bed.into(), " °C"), "{m}");
        assert!(set(m, Heater::Bed, u16::MAX).is_err(), "{m}");
    }
    // Every tool of a Creator 5 has the same bound.
    let e = set(Model::Creator5, Heater::Tool(3), 351).unwrap_err();
    assert_eq!(e, range("nozzle temperature", 0, 350, " °C"));
    // The chamber: 80 °C on the Creator 5 Pro (http.md §5.3); no heater elsewhere.
    assert!(set(Model::Creator5Pro, Heater::Chamber, 80).is_ok());
    let e = set(Model::Creator5Pro, Heater::Chamber, 81).unwrap_err();
    assert_eq!(e, range("chamber temperature", 0, 80, " °C"));
    assert!(set(Model::Adventurer5M, Heater::Chamber, 40)
        .unwrap_err()
        .is_unsupported());
}

/// The speed override within the firmware's clamp (http.md §5.2), named in the error.
#[test]
fn speed_is_checked_against_the_models_clamp() {
    let speed = |m: Model, p: u16| Plan::new(Op::Speed(p), &target(m));
    for (m, min, max) in [
        (Model::Adventurer5M, 50, 150),
        (Model::Adventurer5MPro, 50, 150),
        (Model::AD5X, 50, 500),
        (Model::Creator5, 50, 500),
        (Model::Creator5Pro, 50, 500),
    ] {
        assert!(speed(m, min).is_ok() && speed(m, max).is_ok(), "{m}");
        for p in [0, min - 1, max + 1, u16::MAX] {
            assert_eq!(
                speed(m, p).unwrap_err(),
                range("print speed", min.into(), max.into(), " %"),
                "{m} {p}"
            );
        }
    }
    assert_eq!(
        speed(Model::Adventurer5M, 151).unwrap_err().to_string(),
        "print speed must be between 50 and 150 %"
    );
}

/// A jog is finite and no longer than the build volume along its axis (models.md §6).
#[test]
fn jog_distances_are_bounded_by_the_build_volume() {
    let jog = |m: Model, a: Axis, mm: f64| Plan::new(Op::Jog(a, mm), &target(m));
    for (m, (x, y, z)) in [
        (Model::Adventurer3, (150, 150, 150)),
        (Model::Adventurer4, (220, 200, 250)),
        (Model::Adventurer5M, (220, 220, 220)),
        (Model::AD5X, (220, 220, 220)),
    ] {
        for (a, max, what) in [
            (Axis::X, x, "X jog distance"),
            (Axis::Y, y, "Y jog distance"),
            (Axis::Z, z, "Z jog distance"),
        ] {
            let max = f64::from(max);
            assert!(
                jog(m, a, max).is_ok() && jog(m, a, -max).is_ok(),
                "{m} {a:?}"
            );
            for mm in [max + 0.5, -max - 0.5, 1e300] {
                assert_eq!(
                    jog(m, a, mm).unwrap_err(),
                    range(what, -(max as i64), max as i64, " mm"),
                    "{m} {a:?} {mm}"
                );
            }
            for mm in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                assert_eq!(
                    jog(m, a, mm).unwrap_err(),
                    ClientError::Usage(UsageError::NotFinite { what }),
                    "{m} {a:?}"
                );
            }
        }
    }
    assert_eq!(
        jog(Model::Adventurer4, Axis::Y, 201.0)
            .unwrap_err()
            .to_string(),
        "Y jog distance must be between -200 and 200 mm"
    );
}

/// `Op::check_ranges` refuses what planning refuses for a range, without a target; the
/// unknown model's bounds are the widest, so checking with it never refuses a value a known
/// model takes.
#[test]
fn range_checks_run_without_a_connection() {
    let ops = [
        Op::SetTemperature(Heater::Tool(0), Some(301)),
        Op::SetTemperature(Heater::Bed, Some(121)),
        Op::Jog(Axis::Z, 221.0),
        Op::Jog(Axis::X, f64::NAN),
        Op::Fan(101),
        Op::Speed(151),
    ];
    for op in &ops {
        let e = op.check_ranges(Model::Adventurer5M).unwrap_err();
        assert_eq!(
            Plan::new(op.clone(), &target(Model::Adventurer5M)).unwrap_err(),
            ClientError::Usage(e),
            "{op:?}"
        );
    }
    for m in Model::ALL {
        let l = m.limits();
        let u = Model::Unknown.limits();
        assert!(
            l.nozzle_max <= u.nozzle_max && l.bed_max <= u.bed_max,
            "{m}"
        );
        assert!(l.chamber_max <= u.chamber_max, "{m}");
        assert!(u.speed.0 <= l.speed.0 && l.speed.1 <= u.speed.1, "{m}");
        for a in 0..3 {
            assert!(l.jog_max(a) <= u.jog_max(a), "{m}");
        }
    }
    // A chamber target without a chamber heater is planning's to refuse (unsupported).
    assert!(Op::SetTemperature(Heater::Chamber, Some(500))
        .check_ranges(Model::Adventurer5M)
        .is_ok());
    assert!(Op::Status.check_ranges(Model::Unknown).is_ok());
}

fn target(model: Model) -> Target {
    Target::new(model, "3.1.3", "10.0.0.2")
}

fn tcp_bytes(plan: &Plan) -> Vec<String> {
    plan.steps()
        .iter()
        .map(|s| {
            let Step::Tcp(c) = s else {
                panic!("not a TCP step: {s:?}")
            };
            let mut out = Vec::new();
            c.encode(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        })
        .collect()
}

fn set(heater: Heater, celsius: Option<u16>, model: Model) -> Result<Plan, ClientError> {
    Plan::new(Op::SetTemperature(heater, celsius), &target(model))
}

#[test]
fn job_checks_follow_the_state() {
    use crate::http::MachineState as S;
    let at = |state: S| Status {
        state,
        ..Status::default()
    };
    let ok = |s: S, a: JobCheck| at(s).check(a).is_ok();
    for s in [S::Ready, S::Completed, S::Cancelled, S::Error] {
        assert!(ok(s.clone(), JobCheck::Start), "{s:?}");
        assert!(!ok(s.clone(), JobCheck::Pause), "{s:?}");
        assert!(!ok(s.clone(), JobCheck::Resume), "{s:?}");
    }
    for s in [S::Printing, S::Paused, S::Pausing, S::Heating, S::Busy] {
        let e = at(s.clone()).check(JobCheck::Start).unwrap_err();
        assert!(
            matches!(&e, ClientError::Busy(m) if m.contains("running")),
            "{e:?}"
        );
    }
    assert!(ok(S::Printing, JobCheck::Pause));
    assert!(ok(S::Heating, JobCheck::Pause));
    assert!(!ok(S::Paused, JobCheck::Pause));
    assert!(ok(S::Paused, JobCheck::Resume));
    assert!(!ok(S::Printing, JobCheck::Resume));
    // Over TCP a job heating up, or paused while heating, may read `BUSY`: both go through.
    assert!(ok(S::Busy, JobCheck::Pause));
    assert!(ok(S::Busy, JobCheck::Resume));
    assert!(!ok(S::Ready, JobCheck::Cancel));
    assert!(!ok(S::Completed, JobCheck::Cancel));
    assert!(ok(S::Printing, JobCheck::Cancel));
    assert!(ok(S::Paused, JobCheck::Cancel));
    assert!(ok(S::Error, JobCheck::Cancel));
    // A state this crate does not know lets every action through.
    for a in [
        JobCheck::Start,
        JobCheck::Pause,
        JobCheck::Resume,
        JobCheck::Cancel,
    ] {
        assert!(ok(S::Other("weird".into()), a));
        assert!(ok(S::Unknown, a));
    }
}

#[test]
fn the_adventurer_3_is_never_sent_a_name_it_would_trim() {
    for op in [
        Op::StartFile {
            name: " a.gcode".into(),
            options: JobOptions::default(),
        },
        Op::Thumbnail("a.gcode ".into()),
    ] {
        let e = Plan::new(op.clone(), &target(Model::Adventurer3)).unwrap_err();
        assert_eq!(e, ClientError::Usage(UsageError::FileNameSpaces), "{op:?}");
        // Other models take the name as it is.
        assert!(Plan::new(op, &target(Model::Adventurer4)).is_ok());
    }
    assert!(Plan::new(
        Op::Thumbnail("a b.gcode".into()),
        &target(Model::Adventurer3)
    )
    .is_ok());
}
