//! Poll the status every second. With no arguments it watches a simulated print for five
//! seconds; with a printer it runs until Ctrl-C.

use std::time::Duration;

use flashforge_blocking::{JobOptions, Model, Printer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = flashforge_conformance::example::target(Model::Adventurer5MPro);
    let simulated = t.sim.is_some();
    let creds = t
        .credentials
        .ok_or("this example needs SERIAL and CHECK_CODE")?;
    let printer = Printer::connect(t.endpoint, creds)?;
    if simulated {
        let file = printer.recent_files()?.remove(0).name;
        printer.start(&file, JobOptions::default())?;
    }
    for tick in 0.. {
        if simulated && tick == 5 {
            break;
        }
        let s = printer.status()?;
        let nozzle = s
            .temperatures
            .tools
            .first()
            .and_then(|t| t.current)
            .unwrap_or(f64::NAN);
        println!(
            "{:<10} {:>5.1} %  layer {:?}/{:?}  nozzle {nozzle:.0} °C  eta {:?}",
            s.state.name(),
            s.progress.unwrap_or(0.0) * 100.0,
            s.layer,
            s.total_layers,
            s.remaining
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    if simulated {
        printer.cancel()?;
    }
    Ok(())
}
