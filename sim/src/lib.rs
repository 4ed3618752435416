//! A simulated FlashForge printer for every model, on loopback, built on the `flashforge-proto`
//! codecs for the printer side of the wire.
//!
//! * [`SimPrinter`]: the machine (temperatures, job with heating → printing → completed,
//!   files, lights, fans, material station, the TCP control lock), advanced by the caller's
//!   clock at a configurable speed.
//! * [`TcpSession`] and [`HttpSession`]: sans-IO protocol handlers for one connection each —
//!   bytes in, reply bytes out — answering as `protocol/` says each model does.
//! * [`StoredFile`]: a stored file with the thumbnail and slicer metadata ([`FileMeta`]) read
//!   from it (G-code thumbnail blocks and header/trailer comments, a 3MF's `plate_1.png` and
//!   `slice_info.config`), served by `/gcodeThumb`, `~M662`, `GET /getThum` and `/gcodeList`;
//!   a file without a thumbnail gets the firmware's default image ([`DEFAULT_THUMBNAIL`]).
//! * The camera: an MJPEG server for one connection (`/?action=stream`, `/?action=snapshot`)
//!   with frames drawn from the printer's state, for the listener the farm binds on the
//!   camera port ([`Placement::camera_port`]).
//! * [`SimServer`]: std threads and `std::net` serving many printers at once on loopback (TCP
//!   8899-style, HTTP 8898-style and UDP discovery, each on a configurable or free port), with
//!   [`Faults`] to make replies misbehave for tests: [`FaultRule`]s that apply once, `n` times
//!   or until removed, to every request or to one HTTP path or TCP command
//!   (`http-busy:once@/detail`).
//! * Driving a printer: [`StateChange`] and the [`SimHandle`] operations (`set_state`,
//!   `set_temperature`, `add_file`, `advance`, `inject`, `reset`, ...) for Rust tests, and the
//!   same over a JSON control API on its own port ([`SimServer::start_control`]; the
//!   endpoints are in `sim/CONTROL.md`).
//! * [`replay::ReplayPrinter`]: a loopback printer that answers from recorded wire captures
//!   instead of a model — the exact bytes the FlashForge emulator sent for each command,
//!   chunked and timed as they arrived (bundled for all seven models under `captures/`).
//!
//! ```
//! use flashforge_proto::Model;
//! use flashforge_sim::{PrinterSpec, SimServer};
//! use std::io::{Read, Write};
//!
//! let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
//! let mut tcp = std::net::TcpStream::connect(server.printer().tcp.unwrap()).unwrap();
//! tcp.write_all(b"~M601 S1\n").unwrap();
//! let mut buf = [0u8; 256];
//! let n = tcp.read(&mut buf).unwrap();
//! assert!(String::from_utf8_lossy(&buf[..n]).contains("Control Success"));
//! server.shutdown();
//! ```
//!
//! # Replay printer
//!
//! [`SimServer`] answers the way the protocol notes say each model does; the replay printer
//! answers the way an independent implementation *did*. `captures/emulator/<model>/` holds
//! the exact bytes the FlashForge emulator (`GhostTypes/flashforge-emulator-v2` v0.2.0) sent
//! for each command, with the arrival time and size of every chunk in `index.json`; its
//! `README.md` lists how it was run and where the emulator differs from the notes (plain-text
//! `M661` list, untagged `M662` PNG, the 5M's discovery pid, no HTTP API on the Adventurer
//! 3/4, no TCP on the Creator 5 series, ...).
//! [`replay::ReplayPrinter::start`] serves one model's folder on 127.0.0.1: TCP lines, HTTP
//! requests and discovery probes are matched to the capture whose request they are and
//! answered with its bytes at its times, with the little state the captures need (login, a
//! started / cancelled job, an upload, the [`replay::Phase::Printing`] snapshot), and a journal
//! of which capture answered what ([`replay::ReplayPrinter::served`]).
//!
//! * `cargo test -p flashforge-sim --test replay`: every capture of every model, sent in the
//!   order it was captured, comes back byte for byte (and the ~500 ms gaps are kept).
//! * `cargo test -p flashforge-blocking --test replay` (and `-p flashforge-tokio`): every
//!   operation that has a capture, through the adapter's public API, asserted against the
//!   captured values (`flashforge_conformance::replay!`).

#![forbid(unsafe_code)]

mod camera;
mod control;
mod drive;
mod faults;
mod files;
mod http;
mod jpeg;
mod net;
mod png;
mod printer;
pub mod replay;
mod server;
mod tcp;

#[doc(hidden)]
pub use camera::serve_camera_connection;
pub use camera::{BOUNDARY as CAMERA_BOUNDARY, CAMERA_HEIGHT, CAMERA_WIDTH, FRAME_INTERVAL};
pub use control::{MAX_CONTROL_BODY, MAX_CONTROL_CONNECTIONS, MAX_CONTROL_FILE, MAX_CONTROL_HEAD};
pub use drive::{status_name, DriveError, HeaterId, StateChange};
pub use faults::{
    fault_name, ActiveRule, Fault, FaultParseError, FaultRule, Faults, HttpFault, TcpFault, Times,
    FAULT_KINDS,
};
pub use files::{
    thumbnail_block, FileMeta, FileSink, StoredFile, ToolMeta, DEFAULT_THUMBNAIL,
    MAX_THUMBNAIL_B64, MAX_ZIP_MEMBER, SCAN_WINDOW,
};
pub use http::{
    check_mappings, render_detail, render_product, HttpSession, MAX_HEAD, MAX_JSON_BODY,
};
pub use net::{raise_fd_limit, Sockets};
pub use png::solid as solid_png;
pub use printer::{
    A3Shape, Heater, Job, Placement, PrinterSpec, SimPrinter, Slot, StartError, Station, Status,
    AMBIENT, RECENT_FILES, STANDARD_CAMERA_PORT, STANDARD_HTTP_PORT, STANDARD_TCP_PORT,
};
pub use server::{discovery_reply, lock, ServerConfig, SimHandle, SimServer};
pub use tcp::{TcpSession, MAX_LINE};

/// Every model the simulator knows, in the order of the product line (the core's model
/// table, [`flashforge_proto::model::MODELS`]).
pub const MODELS: [flashforge_proto::Model; flashforge_proto::Model::ALL.len()] =
    flashforge_proto::Model::ALL;
