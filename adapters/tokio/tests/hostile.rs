//! The hostile-printer table (flashforge_conformance::hostile) on the async client (tokio).

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

flashforge_conformance::hostile!(flashforge_tokio, run);
