//! Sans-IO protocol core for FlashForge 3D printers.
//!
//! This crate encodes commands, frames and parses printer replies and drives a connection's
//! login, keep-alive, timeouts and reconnects. It is deterministic and never reads the clock,
//! sleeps, spawns or touches a socket: bytes and `Instant`s come in as arguments, bytes, events
//! and deadlines come out. The runtime adapters (`flashforge-blocking`, `-tokio`, `-smol`) bind
//! it to sockets.
//!
//! # Driving the state machine
//!
//! [`Session`] (TCP port 8899) has four families of methods:
//!
//! * **getters**: [`Session::state`], [`Session::stats`], [`Session::config`];
//! * **inputs** `handle_*`: [`Session::handle_connected`], [`Session::handle_bytes`],
//!   [`Session::handle_eof`], [`Session::handle_timeout`], each taking `now: Instant` last;
//! * **commands**: [`Session::submit`], [`Session::start_upload`], [`Session::upload_chunk`],
//!   [`Session::close`];
//! * **outputs** `poll_*`: [`Session::poll_transmit`], [`Session::poll_event`],
//!   [`Session::poll_timeout`].
//!
//! After any input or command, drain `poll_transmit` until `None`, then `poll_event` until
//! `None`, then read `poll_timeout` and wait until bytes arrive or that instant passes. A
//! complete blocking driver over `std::net` is this loop:
//!
//! ```no_run
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//! use flashforge_proto::{Command, Config, Event, Reply, Session};
//!
//! let mut session = Session::new(Config::default(), Instant::now());
//! let mut socket: Option<TcpStream> = None;
//! let mut want = None;
//! let mut buf = [0u8; 8192];
//! loop {
//!     while let Some(bytes) = session.poll_transmit() {
//!         socket.as_mut().expect("connected").write_all(&bytes)?;
//!     }
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::Connect => match TcpStream::connect("192.0.2.10:8899") {
//!                 Ok(s) => {
//!                     socket = Some(s);
//!                     session.handle_connected(Instant::now());
//!                 }
//!                 Err(_) => session.handle_connect_failed(Instant::now()),
//!             },
//!             Event::Disconnect => socket = None,
//!             Event::State(flashforge_proto::ConnectionState::Ready) if want.is_none() => {
//!                 want = Some(session.submit(Command::Temperatures, Instant::now())?);
//!             }
//!             Event::Reply { id, result: Ok(Reply::Temperatures(t)), .. } if Some(id) == want => {
//!                 println!("nozzle {:?}", t.tools()[0]);
//!                 session.close(Instant::now());
//!             }
//!             Event::State(flashforge_proto::ConnectionState::Closed) => return Ok(()),
//!             _ => {}
//!         }
//!     }
//!     let now = Instant::now();
//!     let wait = session.poll_timeout().map_or(Duration::from_secs(1), |t| t - now);
//!     let Some(sock) = socket.as_mut() else {
//!         std::thread::sleep(wait);
//!         session.handle_timeout(Instant::now());
//!         continue;
//!     };
//!     sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!     match sock.read(&mut buf) {
//!         Ok(0) => session.handle_eof(Instant::now()),
//!         Ok(n) => session.handle_bytes(&buf[..n], Instant::now()),
//!         Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!             session.handle_timeout(Instant::now())
//!         }
//!         Err(_) => session.handle_eof(Instant::now()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # One output vocabulary: events
//!
//! Every state machine here reports through `poll_event`, and what it returns is an *event*:
//! [`Event`] ([`Session`]), `driver::TcpEvent` (`driver::TcpCalls`), `driver::HttpEvent`
//! (`driver::HttpConnection`, one HTTP lane's connection cycle), `http::ExchangeEvent`
//! (`http::HttpExchange`, one request inside it) and [`discovery::DiscoveryEvent`]. Some
//! events ask the driver to act (`Connect`, `Disconnect`/`Close`, `SendBody`), others are
//! news (`State`, `Reply`, `Done`). We chose events over actions because the two kinds share
//! one order that matters: the `Connect` comes before the `State` its login leads to, and an
//! HTTP `Close` comes before the `Done` that reports why, so a driver that handles them one at a
//! time in queue order is correct without reasoning about two queues. Splitting requests to
//! act into a separate `poll_action` queue (as `TcpCalls` once did) loses that order. Bytes to
//! write come from `poll_transmit`, drained first; only `TcpCalls` puts them in its event queue
//! (`TcpEvent::Write`), because it must interleave them with `Connect`. This is also the
//! vocabulary of our anchors: h11's `next_event`, quinn-proto's `poll`, str0m's
//! `Output::Event`.
//!
//! # Where things are
//!
//! * [`model`]: the model table, what each printer is and can do;
//! * [`gcode`], [`http`], [`discovery`]: the codecs and state machines of the three channels;
//! * [`client`]: what a user of an adapter's `Printer` sees (options, snapshots,
//!   [`client::ClientError`] with its typed causes);
//! * [`prelude`]: those types in one list, re-exported by every adapter crate;
//! * [`driver`]: the plumbing of a runtime adapter (plans, `TcpCalls`, `HttpConnection`);
//! * `printer` (feature): the printer side of the codecs.
//!
//! # Codecs
//!
//! Underneath sit pure codecs with no notion of time: [`Command::encode`] (exact command
//! bytes, injection-proof), [`gcode::ReplyFramer`] (where a reply ends: line-based, never the
//! "`ok` anywhere" substring test; binary replies end at the last byte of their structure) and
//! the typed parsers ([`gcode::parse_reply`], [`gcode::Temperatures::parse`], …).
//!
//! # Bounds
//!
//! Every buffer is bounded by [`Config`]; input beyond a bound is a [`CapacityError`].
//!
//! # Features
//!
//! * `serde`: `Serialize` for every typed reply, with the fixture field names.
//! * `http` (default): the HTTP API of the 5M / AD5X / Creator 5 families ([`http`]).
//! * `printer`: the printer side of the codecs (`printer`: the binary file list and thumbnail,
//!   the discovery reply and base64 encoders), for simulators and tests.
//! * `mock`: `mock::Printer`, an in-memory printer for tests of code built on [`Session`]
//!   (the full simulator of every model is the `flashforge-sim` crate); implies `printer`.
//! * `proptest`: strategies for commands, for other crates' property tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "http")]
pub mod client;
mod config;
#[cfg(feature = "serde")]
pub mod decode;
pub mod discovery;
#[cfg(feature = "http")]
pub mod driver;
mod error;
pub mod gcode;
#[cfg(feature = "http")]
pub mod http;
pub mod model;
mod session;
mod timer;

#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "http")]
pub mod prelude;
#[cfg(feature = "printer")]
pub mod printer;
#[cfg(feature = "proptest")]
pub mod proptest;

pub use config::{Config, Dialect, HttpConfig};
pub use error::{CapacityError, CommandError, Error, ProtocolError, UsageError};
pub use gcode::{Command, Parsed, Reply};
pub use model::{firmware_at_least, Capabilities, Model};
pub use session::{CommandId, ConnectionState, Event, Session, SessionError, Stats};
