//! 1 GiB through the async-io driver with flat memory (its own process).

flashforge_conformance::big_upload!(flashforge_async_io, async_io::block_on);
