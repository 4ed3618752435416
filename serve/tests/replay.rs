//! The farm server against the outside: printers that answer with the exact bytes, chunks
//! and timing an independent implementation of all seven models sent (the emulator captures
//! under `sim/captures/emulator/`, replayed by `flashforge_sim::replay`), not our simulator.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flashforge_conformance::replay::{
    replay, replay_credentials, replay_endpoint, replay_options, Phase,
};
use flashforge_proto::Model;
use flashforge_serve::{Config, PrinterEntry, Server, Token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_from_its_captures_online_and_its_job_followed() {
    let printers: Vec<_> = Model::ALL.iter().map(|m| replay(*m)).collect();
    let mut config = Config::new(Token::new(TOKEN).unwrap());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.interval = Duration::from_millis(500);
    config.client = replay_options();
    for r in &printers {
        let creds = r.model().is_http().then(|| replay_credentials(r));
        let mut e = PrinterEntry::new(r.model().name(), replay_endpoint(r), creds);
        e.model = Some(r.model());
        config.printers.push(e);
    }
    let server = Server::start(config).await.unwrap();
    let addr = server.local_addr();
    // Every model online, its status and identity from the captured bytes.
    let t0 = Instant::now();
    loop {
        let snaps: Vec<_> = server.farm().slots().iter().map(|s| s.snapshot()).collect();
        if snaps.iter().all(|s| s.online && s.status.is_some()) {
            for (s, r) in snaps.iter().zip(&printers) {
                assert_eq!(s.model, Some(r.model()), "{}", s.id);
                assert_eq!(s.status.as_ref().unwrap().model, r.model(), "{}", s.id);
                assert!(s.error.is_none(), "{}: {:?}", s.id, s.error);
            }
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "not every replayed printer online: {:#?}",
            snaps
                .iter()
                .map(|s| (&s.id, s.online, &s.error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The captured printing snapshot of the 5M: a `job started` event and its file.
    let i = Model::ALL
        .iter()
        .position(|m| *m == Model::Adventurer5M)
        .unwrap();
    let id = server.farm().slots()[i].id.to_string();
    let mut ev = tokio::task::spawn_blocking({
        let p = format!("/api/v1/printers/{id}/events");
        move || Events::open(addr, &p, Some(&bearer()))
    })
    .await
    .unwrap();
    printers[i].set_phase(Phase::Printing);
    let job = tokio::task::spawn_blocking(move || {
        ev.until(Instant::now() + Duration::from_secs(30), |e| {
            e.event == "job"
        })
    })
    .await
    .unwrap()
    .expect("a job event from the captured printing snapshot");
    let v: serde_json::Value = serde_json::from_str(&job.data).unwrap();
    assert_eq!(v["transition"], "started", "{v}");
    let st = server.farm().slots()[i].snapshot().status.unwrap();
    assert!(st.state.is_active_job(), "{:?}", st.state);
    // And the API shows it, without the captures' check code.
    let body = tokio::task::spawn_blocking(move || {
        request(addr, "GET", "/api/v1/printers", Some(&bearer()), None).text()
    })
    .await
    .unwrap();
    for r in printers.iter().filter(|r| r.model().is_http()) {
        let code = r.credentials().unwrap().1;
        assert!(!body.contains(code.as_str()), "check code in the list");
    }
    server.shutdown().await;
}
