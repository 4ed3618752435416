//! The decisions of the high-level client, shared by every runtime adapter.
//!
//! An adapter's `Printer` turns each user call into an [`Op`], asks [`Plan::new`] which steps
//! the printer's model needs (an HTTP [`Request`](crate::http::Request) or a TCP
//! [`Command`](crate::Command), in order), performs them with its sockets, and hands the
//! results back to [`Plan::finish`], which returns the typed [`Output`]. Which channel an
//! operation takes, what a model cannot do, how replies become one [`Status`] snapshot and how
//! printer refusals become a typed [`ClientError`] are decided here, once, so the four adapters
//! only move bytes.
//!
//! ```
//! use flashforge_proto::client::{Op, Plan, Step, Target};
//! use flashforge_proto::Model;
//!
//! let target = Target::new(Model::Adventurer5M, "3.1.3", "192.168.1.20");
//! // LED on a 5M is one HTTP `/control` request ...
//! let plan = Plan::new(Op::Led(true), &target).unwrap();
//! assert!(matches!(plan.steps(), [Step::Http(_)]));
//! // ... homing takes the TCP channel ...
//! let plan = Plan::new(Op::Home, &target).unwrap();
//! assert!(matches!(plan.steps(), [Step::Tcp(_)]));
//! // ... and the 5M has no filtration fans: a typed error before any byte is sent.
//! let err = Plan::new(Op::Filtration(true), &target).unwrap_err();
//! assert!(err.is_unsupported());
//! ```
//!
//! The module is laid out by concern: [`Endpoint`] (where a printer listens), the options
//! ([`ClientOptions`], [`DiscoverOptions`], [`Overrides`]), the [`Target`] (what the printer
//! is), [`Op`] and its [`Output`], the [`Plan`] and its [`Step`]s, the per-operation planners
//! (each operation's steps and the typed continuation that reads their outputs back, side by
//! side), the [`Status`] / [`Info`] snapshots, [`ClientError`], uploads ([`upload_route`])
//! and [`TcpCalls`], the TCP session as one call at a time.

mod endpoint;
mod error;
mod macros;
mod op;
mod ops;
mod options;
mod plan;
mod status;
mod step;
mod target;
mod tcp_calls;
mod upload;

#[cfg(test)]
mod tests;

pub use endpoint::{Endpoint, CAMERA_PORT, HTTP_PORT, TCP_PORT};
pub use error::{ClientError, IoCause, ProtocolCause};
pub use op::{Heater, Op, Output};
pub use options::{ClientOptions, DiscoverOptions, Overrides, Toggle};
pub use plan::Plan;
pub use status::{Info, Status, Temps};
pub use step::{Step, StepOutput};
pub use target::{dialect_of, Target};
pub use tcp_calls::{TcpCalls, TcpEvent};
pub use upload::{
    finish_upload, random_seed, upload_route, UploadOptions, UploadProgress, UploadRoute,
};

use crate::http::Credentials;
use crate::UsageError;

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

/// A fresh [`Credentials`] check: both parts non-empty. (The printer decides whether they are
/// right.)
pub fn check_credentials(c: &Credentials) -> Result<(), ClientError> {
    if c.serial().is_empty() || c.expose_check_code().is_empty() {
        return Err(UsageError::Empty {
            what: "serial number or check code",
        }
        .into());
    }
    Ok(())
}
