//! The smoke set on async-std's executor: this crate re-exports the async-io driver, so it
//! needs only to show that driver working under `async_std::task::block_on` (issue 13,
//! point 5).
#![allow(deprecated)]

flashforge_conformance::smoke!(flashforge_async_std, async_std::task::block_on);
