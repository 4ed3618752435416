//! The shared loopback suite (every model, every operation, the faults) on the async-io driver.

flashforge_conformance::suite!(flashforge_async_io, async_io::block_on);
