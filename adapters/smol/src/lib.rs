//! A smol client for FlashForge 3D printers.
//!
//! smol runs on async-io, so this crate is the shared [`flashforge_async_io`] driver under
//! smol's name: the client spawns no tasks, so nothing else differs. Any executor that drives
//! async-io (smol, `async-executor`, `futures-lite::future::block_on`) runs it.
//!
//! ```no_run
//! use flashforge_smol::{Credentials, Printer};
//!
//! smol::block_on(async {
//!     let creds = Credentials::new("SNMOMC9900728", "e5c2bf77")?; // from the printer's screen
//!     let printer = Printer::connect("192.168.1.20".parse::<std::net::IpAddr>()?, creds).await?;
//!     println!("{}", printer.status().await?.state.name());
//!     printer.close().await;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub use flashforge_async_io::*;
