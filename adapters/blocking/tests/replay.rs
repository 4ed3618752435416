//! The emulator's captured transcripts replayed through the blocking adapter: every operation
//! that has a capture, on each of the seven models (`flashforge_conformance::replay!`).

/// Blocking calls already return their result.
fn run<T>(t: T) -> T {
    t
}

flashforge_conformance::replay!(flashforge_blocking, crate::run);
