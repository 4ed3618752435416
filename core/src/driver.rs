//! The plumbing of a runtime adapter: everything `flashforge-blocking` and the generic async
//! client (`flashforge-async`, on tokio, smol or async-io) need beyond the user-facing types,
//! in one place.
//!
//! An adapter's `Printer` turns each user call into an [`Op`], asks [`Plan::new`] which steps
//! the printer's model needs (an HTTP [`Request`](crate::http::Request) or a TCP
//! [`Command`](crate::Command), in order), performs them with its sockets, and hands the
//! results back to [`Plan::finish`], which returns the typed [`Output`]:
//!
//! ```
//! use flashforge_proto::driver::{Op, Plan, Step, Target};
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
//! The sockets are driven by three state machines, each a queue of events to act on:
//!
//! * [`TcpCalls`] (port 8899): one call at a time over a [`Session`](crate::Session), with
//!   the login, the queued-call wait limit, connect failures and the legacy upload's chunks;
//! * [`HttpConnection`] (port 8898), one per [`Lane`] of [`Lanes`]: keep-alive reuse,
//!   must-close, one retry of a read on a stale kept-alive connection, uploads on a fresh
//!   connection;
//! * [`Discovery`](crate::discovery::Discovery) for UDP.
//!
//! [`upload_route`] decides whether an upload takes HTTP multipart or the legacy `~M28`
//! chunks, and [`finish_upload`] reads the printer's final answer. [`printer_ops!`](crate::printer_ops)
//! writes the operation methods of every adapter's `Printer` once.
//!
//! Nothing here reads a clock or touches a socket. This module is for adapter authors: its
//! items may change with the adapters they serve, so applications should use an adapter.

pub use crate::client::op::{Op, Output};
pub use crate::client::plan::Plan;
pub use crate::client::step::{Step, StepOutput};
pub use crate::client::target::{check_credentials, dialect_of, Target};
pub use crate::client::tcp_calls::{TcpCalls, TcpEvent};
pub use crate::client::upload::{
    check_regular_file, finish_upload, random_seed, upload_route, UploadRoute,
};
pub use crate::http::connection::{HttpConnection, HttpEvent, Lanes};
pub use crate::http::request::Lane;
