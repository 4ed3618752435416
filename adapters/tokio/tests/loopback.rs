//! The shared loopback suite (every model, every operation, the faults) on the tokio adapter.

use std::future::Future;

thread_local! {
    // One runtime per test thread: the printer's sockets stay registered with it.
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
}

fn run<F: Future>(f: F) -> F::Output {
    RT.with(|rt| rt.block_on(f))
}

flashforge_conformance::suite!(flashforge_tokio, crate::run);

/// The stream form of the connection events (tokio's bounded channel).
#[test]
fn connection_events_as_a_stream() {
    use flashforge_conformance::{credentials, endpoint, options, sim};
    use flashforge_tokio::{ConnectionEvent, Model, Printer};
    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    run(async {
        let (b, mut events) = Printer::builder().options(options()).connection_events(8);
        let p = b.connect(endpoint(h), credentials(h)).await.unwrap();
        p.gcode("~M115").await.unwrap();
        p.close().await;
        let mut seen = Vec::new();
        while let Ok(e) = events.try_recv() {
            seen.push(e);
        }
        assert!(seen.contains(&ConnectionEvent::HttpConnected), "{seen:?}");
        assert!(seen.iter().any(|e| matches!(
            e,
            ConnectionEvent::Tcp(flashforge_proto::ConnectionState::Ready)
        )));
    });
}
