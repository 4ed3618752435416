//! 1 GiB through the async-std adapter with flat memory (its own process).
#![allow(deprecated)]

flashforge_conformance::big_upload!(flashforge_async_std, async_std::task::block_on);
