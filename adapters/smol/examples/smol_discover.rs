//! Find printers. With no arguments it starts three simulated printers and probes them by
//! unicast on loopback; `--lan` searches the real network (broadcast and multicast).

use std::time::Duration;

use flashforge_conformance::flashforge_sim::{PrinterSpec, ServerConfig, SimServer};
use flashforge_smol::{discover, DiscoverOptions, Model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let lan = std::env::args().any(|a| a == "--lan");
    let sim;
    let options = if lan {
        DiscoverOptions::default()
    } else {
        let specs = [Model::Adventurer3, Model::Adventurer5MPro, Model::Creator5]
            .map(PrinterSpec::new)
            .to_vec();
        sim = SimServer::start(specs, &ServerConfig::default())?;
        DiscoverOptions::unicast(sim.printers().iter().map(|h| h.udp))
    };
    for p in discover(&options.timeout(Duration::from_secs(5))).await? {
        println!(
            "{:<20} {:<18} {:<16} serial {:?}",
            p.reply.name,
            p.reply.model.name(),
            p.ip,
            p.reply.serial_number
        );
    }
    Ok(())
}
