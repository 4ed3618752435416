//! 1 GiB through the blocking adapter with flat memory (its own process, so the peak RSS is
//! this test's alone).

fn run<T>(t: T) -> T {
    t
}

flashforge_conformance::big_upload!(flashforge_blocking, run);
