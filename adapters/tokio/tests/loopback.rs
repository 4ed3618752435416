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
            ConnectionEvent::Tcp(flashforge_proto::ConnectionState::Ready)
        )));
    });
}

/// A cancelled call (its future dropped mid-way) leaves nothing behind: after an abandoned
/// legacy upload the next call gets a fresh session instead of a printer waiting for bytes.
#[test]
fn a_cancelled_upload_does_not_wedge_the_client() {
    use flashforge_conformance::{endpoint, options, sim, Pattern};
    use flashforge_tokio::{Model, Printer, UploadOptions};
    use std::time::{Duration, Instant};
    let server = sim(Model::Adventurer4);
    let h = server.printer();
    run(async {
        let p = Printer::builder()
            .options(options())
            .connect_legacy(endpoint(h))
            .await
            .unwrap();
        let size = 8u64 << 20;
        let upload = p.upload(
            "abandoned.gcode",
            size,
            Pattern::throttled(size, Duration::from_millis(20)),
            UploadOptions::default(),
            |_| {},
        );
        assert!(tokio::time::timeout(Duration::from_millis(300), upload)
            .await
            .is_err());
        let t0 = Instant::now();
        let info = p.info().await.expect("next call after a cancelled upload");
        assert_eq!(info.model, Model::Adventurer4);
        // A new session (connect, login, ~M115), not a wait on the abandoned one; loose bound
        // for a loaded machine.
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        // Cancelled plain commands leave no stale replies either.
        for _ in 0..20 {
            let _ = tokio::time::timeout(Duration::from_micros(50), p.temperatures()).await;
        }
        assert_eq!(p.info().await.unwrap(), info);
    });
}
