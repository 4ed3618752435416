//! The shared loopback suite (every model, every operation, the faults) on async-std.
#![allow(deprecated)]

flashforge_conformance::suite!(flashforge_async_std, async_std::task::block_on);
