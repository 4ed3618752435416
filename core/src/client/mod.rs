//! What a user of the high-level client (any runtime adapter's `Printer`) sees: where a
//! printer listens ([`Endpoint`]), the options ([`ClientOptions`], [`DiscoverOptions`],
//! [`Overrides`], [`UploadOptions`]), the snapshots ([`Status`], [`Info`], [`Temps`]), upload
//! progress, connection events and [`ClientError`].
//!
//! The decisions behind them (which steps an operation takes on a model, how replies become
//! a snapshot, the TCP call bookkeeping, the upload route) are made here too, once, and handed
//! to the adapters through [`crate::driver`].
//!
//! The module is laid out by concern: endpoint, options, target, op, plan, step, the
//! per-operation planners (each operation's steps and the typed continuation that reads their
//! outputs back, side by side), status, error, upload and tcp_calls.

mod endpoint;
mod error;
mod macros;
pub(crate) mod op;
mod ops;
mod options;
pub(crate) mod plan;
mod status;
pub(crate) mod step;
pub(crate) mod target;
pub(crate) mod tcp_calls;
pub(crate) mod upload;

#[cfg(test)]
mod tests;

pub use endpoint::{Endpoint, CAMERA_PORT, HTTP_PORT, TCP_PORT};
pub use error::{ClientError, FailureKind, IoCause, ProtocolCause};
pub use op::Heater;
pub(crate) use op::{Op, Output};
pub use options::{ClientOptions, DiscoverOptions, Overrides, TcpPolicy, Toggle};
pub use status::{Info, JobCheck, Status, Temps};
pub(crate) use step::Step;
pub(crate) use target::Target;
pub use upload::{UploadOptions, UploadProgress};

/// What adapters report through their connection-state callback.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The TCP session's state changed (login, ready, reconnecting with back-off, closed).
    Tcp(crate::ConnectionState),
    /// An HTTP connection was opened.
    HttpConnected,
    /// An HTTP connection was closed (after an error, or `Connection: close`).
    HttpClosed,
}
