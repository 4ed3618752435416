//! **Deprecated.** async-std is discontinued (its README points to smol since March 2025, and
//! RUSTSEC-2025-0052 marks it unmaintained). Use `flashforge-smol`; this crate will be removed
//! at the next breaking release.
//!
//! async-std runs on async-io, so this crate is the shared [`flashforge_async_io`] driver; its
//! entry points are marked `#[deprecated]` so that every use points to the replacement.

#![forbid(unsafe_code)]

pub use flashforge_async_io::{Error, Result};
pub use flashforge_proto::prelude::*;

/// Deprecated: use `flashforge_smol::Printer`.
#[deprecated(
    since = "0.1.0",
    note = "async-std is discontinued: use flashforge-smol"
)]
pub type Printer = flashforge_async_io::Printer;

/// Deprecated: use `flashforge_smol::LegacyPrinter`.
#[deprecated(
    since = "0.1.0",
    note = "async-std is discontinued: use flashforge-smol"
)]
pub type LegacyPrinter = flashforge_async_io::LegacyPrinter;

/// Deprecated: use `flashforge_smol::Builder`.
#[deprecated(
    since = "0.1.0",
    note = "async-std is discontinued: use flashforge-smol"
)]
pub type Builder = flashforge_async_io::Builder;

/// Deprecated: use `flashforge_smol::discover`.
#[deprecated(
    since = "0.1.0",
    note = "async-std is discontinued: use flashforge-smol"
)]
pub async fn discover(options: &DiscoverOptions) -> Result<Vec<DiscoveredPrinter>> {
    flashforge_async_io::discover(options).await
}
