//! The smoke set on smol: this crate re-exports the async-io driver, so it needs only to show
//! that driver working under `smol::block_on` (issue 13, point 5); and the stream form of the
//! connection events.

flashforge_conformance::smoke!(flashforge_smol, smol::block_on);

/// The stream form of the connection events (a bounded async-channel).
#[test]
fn connection_events_as_a_stream() {
    use flashforge_conformance::{credentials, endpoint, options, sim};
    use flashforge_smol::{ConnectionEvent, Model, Printer};
    let server = sim(Model::Adventurer5M);
    let h = server.printer();
    smol::block_on(async {
        let (b, events) = Printer::builder().options(options()).connection_events(8);
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
            ConnectionEvent::Tcp(flashforge_conformance::flashforge_proto::ConnectionState::Ready)
        )));
    });
}
