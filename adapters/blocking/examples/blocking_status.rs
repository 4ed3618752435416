//! One status snapshot. `cargo run -p flashforge-blocking --example blocking_status [ADDR SERIAL CHECK_CODE]`
//! (with no arguments it starts a simulated Adventurer 5M on loopback).

use flashforge_blocking::{Model, Printer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = flashforge_conformance::example::target(Model::Adventurer5M);
    let printer = match t.credentials {
        Some(creds) => Printer::connect(t.endpoint, creds)?,
        None => flashforge_blocking::LegacyPrinter::connect(t.endpoint)?.into_inner(),
    };
    let s = printer.status()?;
    println!("{} ({}): {}", printer.model(), t.endpoint, s.state.name());
    for (i, tool) in s.temperatures.tools.iter().enumerate() {
        println!("  T{i}: {:?} / {:?} °C", tool.current, tool.target);
    }
    if let Some(bed) = s.temperatures.bed {
        println!("  bed: {:?} / {:?} °C", bed.current, bed.target);
    }
    printer.close();
    Ok(())
}
