//! Hostile inputs found in review: each test failed (hung, panicked) before its fix.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_sim::{PrinterSpec, SimPrinter, StateChange, Status};

/// Runs `f` on its own thread; panics if it has not finished within a generous bound (a hang
/// shows as this failure instead of a stuck test run).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{what}: no result ({e})"))
}

/// `skip(Duration::MAX)` used to loop forever: past 2^53 s, `secs - 1.0 == secs`. 1e9 s
/// (the control API's limit) was a billion 1 s slices under the printer lock.
#[test]
fn skipping_huge_durations_ends_and_completes_the_job() {
    for d in [
        Duration::from_secs(1_000_000_000),
        Duration::from_secs_f64(1.0e15),
        Duration::MAX,
    ] {
        let status = within(&format!("skip {d:?}"), move || {
            let mut p = SimPrinter::new(PrinterSpec::new(Model::Adventurer5M), Instant::now());
            p.apply(StateChange::Printing {
                file: "cube.gcode".into(),
                progress: 0.1,
            })
            .unwrap();
            p.skip(d);
            p.skip(d);
            p.status
        });
        assert_eq!(status, Status::Completed, "after {d:?}");
    }
}

/// A skip that is just past the fine slices still heats first, then prints.
#[test]
fn a_long_skip_from_cold_heats_then_prints_to_the_end() {
    let mut p = SimPrinter::new(PrinterSpec::new(Model::Adventurer5M), Instant::now());
    p.apply(StateChange::Printing {
        file: "cube.gcode".into(),
        progress: 0.0,
    })
    .unwrap();
    p.skip(Duration::from_secs(30 * 24 * 3600));
    assert_eq!(p.status, Status::Completed);
}
