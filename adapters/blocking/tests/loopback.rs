//! The shared loopback suite (every model, every operation, the faults) on the blocking adapter.

/// Blocking calls already return their result.
fn run<T>(t: T) -> T {
    t
}

flashforge_conformance::suite!(flashforge_blocking, crate::run);
