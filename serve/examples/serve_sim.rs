//! The farm server as a library, against three simulated printers on loopback: start it, wait
//! until every printer is online, print what `/api/v1/printers` would show, and stop.
//!
//! ```sh
//! cargo run -p flashforge-serve --example serve_sim            # runs ~1 s and exits
//! cargo run -p flashforge-serve --example serve_sim -- --wait  # keeps serving until Ctrl-C
//! ```

use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_serve::{Config, PrinterEntry, Server, Token};
use flashforge_sim::{PrinterSpec, ServerConfig, SimServer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let specs = [Model::Adventurer5MPro, Model::AD5X, Model::Adventurer3]
        .iter()
        .enumerate()
        .map(|(i, m)| PrinterSpec::numbered(*m, i as u32 + 1))
        .collect();
    let sims = SimServer::start(specs, &ServerConfig::default())?;

    let token = Token::generate()?;
    let mut config = Config::new(token.clone());
    config.listen = "127.0.0.1:0".parse()?;
    config.interval = Duration::from_millis(500);
    for h in sims.printers() {
        let name = h.lock().spec.name.clone();
        // The simulator says where each printer listens and, for HTTP models, its
        // credentials.
        config
            .printers
            .push(PrinterEntry::new(&name, h.endpoint(), h.credentials()));
    }

    let server = Server::start(config).await?;
    println!(
        "dashboard: http://{}/#token={}",
        server.local_addr(),
        token.expose()
    );
    let t0 = Instant::now();
    while !server.farm().slots().iter().all(|s| s.snapshot().online) {
        if t0.elapsed() > Duration::from_secs(20) {
            return Err("printers not online after 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for s in server.farm().slots() {
        let snap = s.snapshot();
        let state = snap.status.as_ref().map_or("?", |st| st.state.name());
        println!(
            "{:<28} {:<18} {state}",
            snap.id,
            snap.model.map_or("?", |m| m.name())
        );
    }
    if std::env::args().any(|a| a == "--wait") {
        tokio::signal::ctrl_c().await?;
    }
    server.shutdown().await;
    sims.shutdown();
    Ok(())
}
