//! Periodic discovery (unicast to the simulated printers' UDP ports on 127.0.0.1; nothing is
//! broadcast): an Adventurer 3 is added as it is, an HTTP printer only with its credentials,
//! and a printer already in the farm is not added twice.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flashforge_proto::Model;
use flashforge_serve::Discovery;
use flashforge_tokio::DiscoverOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_adds_what_it_can_poll() {
    let models = [
        Model::Adventurer3,
        Model::Adventurer5M,
        Model::AD5X,
        Model::Adventurer4,
    ];
    let sims =
        flashforge_sim::SimServer::start(specs(&models), &flashforge_sim::ServerConfig::default())
            .expect("simulated printers");
    let targets: Vec<_> = sims.printers().iter().map(|h| h.udp).collect();
    let mut config = flashforge_serve::Config::new(flashforge_serve::Token::new(TOKEN).unwrap());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.interval = Duration::from_millis(200);
    config.printers = vec![entry(&sims.printers()[3])];
    config.discovery = Some(Discovery::new(
        Duration::from_millis(500),
        DiscoverOptions::unicast(targets).timeout(Duration::from_secs(2)),
        vec![entry(&sims.printers()[2]).credentials.unwrap()],
    ));
    let server = flashforge_serve::Server::start(config).await.unwrap();
    let t0 = Instant::now();
    loop {
        let snaps: Vec<_> = server.farm().slots().iter().map(|s| s.snapshot()).collect();
        let models: Vec<_> = snaps.iter().filter_map(|s| s.model).collect();
        if snaps.len() == 3 && snaps.iter().all(|s| s.online) {
            assert!(models.contains(&Model::Adventurer3), "{models:?}");
            assert!(models.contains(&Model::AD5X), "{models:?}");
            assert!(models.contains(&Model::Adventurer4), "{models:?}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{snaps:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Later rounds add nothing more: the 5M has no credentials, the rest are known.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.farm().slots().len(), 3);
    // The Adventurer 4 was configured by address; discovery found it again and left it.
    let a4 = server
        .farm()
        .slots()
        .iter()
        .filter(|s| s.snapshot().model == Some(Model::Adventurer4))
        .count();
    assert_eq!(a4, 1);
    server.shutdown().await;
    sims.shutdown();
}
