//! The hostile-printer table (flashforge_conformance::hostile) on the blocking adapter.

/// Blocking calls already return their result.
fn run<T>(t: T) -> T {
    t
}

flashforge_conformance::hostile!(flashforge_blocking, run);
