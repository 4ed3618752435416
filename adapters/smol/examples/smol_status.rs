//! One status snapshot. `cargo run -p flashforge-smol --example smol_status [ADDR SERIAL CHECK_CODE]`
//! (with no arguments it starts a simulated Adventurer 5M on loopback).

use flashforge_smol::{Model, Printer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let t = flashforge_conformance::example::target(Model::Adventurer5M);
    let printer = match t.credentials {
        Some(creds) => Printer::connect(t.endpoint, creds).await?,
        None => flashforge_smol::LegacyPrinter::connect(t.endpoint)
            .await?
            .into_inner(),
    };
    let s = printer.status().await?;
    println!("{} ({}): {}", printer.model(), t.endpoint, s.state.name());
    for (i, tool) in s.temperatures.tools.iter().enumerate() {
        println!("  T{i}: {:?} / {:?} °C", tool.current, tool.target);
    }
    if let Some(bed) = s.temperatures.bed {
        println!("  bed: {:?} / {:?} °C", bed.current, bed.target);
    }
    printer.close().await;
    Ok(())
}
