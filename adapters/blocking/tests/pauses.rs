//! Over real sockets: a 300 ms or 2 s pause inside the `~M115` and `~M119` replies (a TCP
//! retransmission, a busy printer) gives the full, correct reply on every TCP model, in both
//! Adventurer 3 reply shapes (issue 12). The simulator's `PauseAfter` fault holds the rest of
//! one reply back; nothing here asserts on wall time.

use std::net::IpAddr;
use std::time::Duration;

use flashforge_blocking::{Endpoint, LegacyPrinter};
use flashforge_proto::Model;
use flashforge_sim::{A3Shape, PrinterSpec, SimServer, TcpFault};

fn endpoint(sim: &SimServer) -> Endpoint {
    let tcp = sim.printers()[0].tcp.expect("a TCP model");
    Endpoint::new(IpAddr::from([127, 0, 0, 1])).with_ports(tcp.port(), 1)
}

fn specs() -> Vec<PrinterSpec> {
    let mut out = Vec::new();
    for model in [
        Model::Adventurer3,
        Model::Adventurer4,
        Model::Adventurer5M,
        Model::Adventurer5MPro,
        Model::AD5X,
    ] {
        let spec = PrinterSpec::new(model);
        if model == Model::Adventurer3 {
            let mut a = spec.clone();
            a.a3_shape = A3Shape::ShapeA;
            out.push(a);
        }
        out.push(spec);
    }
    out
}

fn check(spec: PrinterSpec) {
    let label = format!("{} {:?}", spec.model, spec.a3_shape);
    let sim = SimServer::single(spec).unwrap();
    let h = &sim.printers()[0];
    let printer = LegacyPrinter::connect(endpoint(&sim)).unwrap();
    let info = printer.info().unwrap();
    assert!(
        !info.firmware.is_empty() && info.mac.is_some(),
        "{label}: {info:?}"
    );
    let status = printer.status().unwrap();
    let (short, long) = (Duration::from_millis(300), Duration::from_secs(2));
    // Inside the machine type or firmware value, and just before the last line.
    for (at, pause) in [(40, short), (120, long)] {
        h.faults.push_tcp(TcpFault::PauseAfter(at, pause));
        let paused = printer.info().unwrap();
        assert_eq!(
            paused, info,
            "{label}: M115 paused {pause:?} after byte {at}"
        );
        assert_eq!(h.faults.next_tcp(), None, "{label}: the pause was applied");
    }
    for (at, pause) in [(20, long), (70, short)] {
        h.faults.push_tcp(TcpFault::PauseAfter(at, pause));
        let paused = printer.status().unwrap();
        assert_eq!(paused.state, status.state, "{label}: M119 paused {pause:?}");
        assert_eq!(paused.file, status.file, "{label}");
        assert_eq!(paused.lights_on, status.lights_on, "{label}");
        assert_eq!(h.faults.next_tcp(), None, "{label}: the pause was applied");
    }
    printer.close();
}

#[test]
fn pauses_inside_m115_and_m119_change_nothing() {
    // One printer per thread: the pauses overlap instead of adding up.
    std::thread::scope(|s| {
        for spec in specs() {
            s.spawn(move || check(spec));
        }
    });
}
