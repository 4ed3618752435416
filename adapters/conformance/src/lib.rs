//! The loopback suite the adapters run, written once.
//!
//! An adapter's `tests/loopback.rs` is one line, `flashforge_conformance::suite!(crate, run);`
//! or `flashforge_conformance::smoke!(crate, run);`, where `run` turns a call's return value
//! into its result (the identity for the blocking adapter, `block_on` for the async ones).
//!
//! * [`suite!`] starts a [`flashforge_sim`] printer of each of the seven models on 127.0.0.1
//!   (the Adventurer 3 twice: in each reply shape, [`flashforge_sim::A3Shape`]), runs every
//!   operation through the adapter's `Printer`, and checks the simulated printer's state after
//!   each one; operations a model lacks must fail with the typed `Unsupported` error. Then the
//!   fault suite, discovery, the control lock. [`big_upload!`] sends 1 GiB with flat memory.
//!   Both run for the distinct client implementations: `flashforge-blocking` (its own client
//!   on `std::net`) and `flashforge-async` (the runtime-generic client, through
//!   `flashforge-tokio`).
//! * [`smoke!`] runs a few of the same tests for the thin runtime crates —
//!   `flashforge-async-io` (a second `Runtime` for `flashforge-async`) and `flashforge-smol`
//!   and the deprecated `flashforge-async-std` (its re-exports): what a runtime contributes is
//!   its sockets, timer, file reads and UDP socket, not the client logic the suite already
//!   checks through tokio (issue 13, point 5).
//!
//! The expectations below are written from the protocol notes (models.md §6), not derived from
//! the core's own capability table, so the suite can catch that table being wrong.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flashforge_proto::client::{ClientOptions, Endpoint};
use flashforge_proto::http::Credentials;
use flashforge_proto::Model;
use flashforge_sim::{PrinterSpec, ServerConfig, SimHandle, SimServer};
use sha2::{Digest, Sha256};

pub use flashforge_proto;
pub use flashforge_sim;

/// `Read`, tokio's `AsyncRead` and futures' `AsyncRead` for a test reader whose
/// `fn fill(&mut self, buf: &mut [u8]) -> usize` never blocks.
macro_rules! readers {
    ($t:ty) => {
        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                Ok(self.fill(buf))
            }
        }

        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let n = self.get_mut().fill(buf.initialize_unfilled());
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }

        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::task::Poll::Ready(Ok(self.get_mut().fill(buf)))
            }
        }
    };
}

/// Which operations a model supports, from the protocol notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// HTTP API (credentials, `/detail`).
    Http,
    /// TCP channel (raw G-code, full file list, `~M28` upload on legacy).
    Tcp,
    /// Filtration fans.
    Filtration,
    /// Camera stream on/off.
    Camera,
    /// A camera stream URL (the AD5X reports its optional camera with the `camera` flag).
    CameraUrl,
    /// Home and jog.
    Motion,
    /// Material station slots.
    Station,
    /// Chamber heater.
    ChamberHeater,
    /// Four independently heated tools.
    FourTools,
}

/// Whether `model` has `feature` (models.md §6).
pub fn has(model: Model, feature: Feature) -> bool {
    use Model::*;
    match feature {
        Feature::Http => matches!(
            model,
            Adventurer5M | Adventurer5MPro | AD5X | Creator5 | Creator5Pro
        ),
        Feature::Tcp => !matches!(model, Creator5 | Creator5Pro),
        Feature::Filtration => matches!(model, Adventurer5MPro | Creator5Pro),
        Feature::Camera => matches!(model, Adventurer5MPro | Creator5 | Creator5Pro),
        Feature::CameraUrl => matches!(model, Adventurer5MPro | AD5X | Creator5 | Creator5Pro),
        Feature::Motion => !matches!(model, Creator5 | Creator5Pro),
        Feature::Station => matches!(model, AD5X | Creator5 | Creator5Pro),
        Feature::ChamberHeater => model == Creator5Pro,
        Feature::FourTools => matches!(model, Creator5 | Creator5Pro),
    }
}

/// A simulated printer of `model` on loopback, tuned for tests: short idle drop, small stored
/// copies (uploads are hashed, not kept), a fast job clock.
pub fn sim(model: Model) -> SimServer {
    sim_with(model, |_| {})
}

/// [`sim`] with spec changes.
pub fn sim_with(model: Model, f: impl FnOnce(&mut PrinterSpec)) -> SimServer {
    let mut spec = PrinterSpec::new(model);
    spec.keep_file_bytes = 1 << 20;
    f(&mut spec);
    SimServer::start(vec![spec], &ServerConfig::default()).expect("simulator on 127.0.0.1")
}

/// The endpoint of a simulated printer (its real ports).
pub fn endpoint(h: &SimHandle) -> Endpoint {
    let ip = h.udp.ip();
    let tcp = h.tcp.map_or(8899, |a| a.port());
    let http = h.http.map_or(8898, |a| a.port());
    Endpoint::new(ip).with_ports(tcp, http)
}

/// The simulated printer's credentials.
pub fn credentials(h: &SimHandle) -> Credentials {
    Credentials::new(h.serial(), h.check_code()).expect("credentials")
}

/// Credentials with a wrong check code.
pub fn wrong_credentials(h: &SimHandle) -> Credentials {
    Credentials::new(h.serial(), "00000000").expect("credentials")
}

/// Short deadlines so faults resolve quickly.
pub fn options() -> ClientOptions {
    ClientOptions::default()
        .reply_timeout(Duration::from_millis(1500))
        .connect_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(50))
}

/// The deadline every faulty call must beat: the reply deadline plus scheduling slack.
pub const FAULT_DEADLINE: Duration = Duration::from_millis(4500);

/// A deterministic generated file of `size` bytes (never held in memory).
#[derive(Debug, Clone)]
pub struct Pattern {
    remaining: u64,
    state: u64,
    delay: Duration,
}

impl Pattern {
    /// `size` bytes.
    pub fn new(size: u64) -> Self {
        Self {
            remaining: size,
            state: 0x9E37_79B9_7F4A_7C15,
            delay: Duration::ZERO,
        }
    }

    /// A slow source: every read sleeps `delay` first (a file on a slow disk or network).
    pub fn throttled(size: u64, delay: Duration) -> Self {
        Self {
            delay,
            ..Self::new(size)
        }
    }

    fn fill(&mut self, buf: &mut [u8]) -> usize {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        for chunk in buf[..n].chunks_mut(8) {
            // xorshift64: printable-ish G-code is not needed, only reproducible bytes.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let b = self.state.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        self.remaining -= n as u64;
        n
    }

    /// SHA-256 (hex) of the whole pattern of `size` bytes.
    pub fn sha256_hex(size: u64) -> String {
        let mut p = Self::new(size);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = p.fill(&mut buf);
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

readers!(Pattern);

/// The SHA-256 (hex) the simulator recorded for a stored file.
pub fn stored_sha256(h: &SimHandle, name: &str) -> Option<String> {
    let p = h.lock();
    p.files
        .get(name)
        .map(|f| f.sha256.iter().map(|b| format!("{b:02x}")).collect())
}

/// A directory of this process under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh, empty directory named after `tag`, the process and a counter.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "flashforge-conformance-{}-{n}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch directory");
        Self(path)
    }

    /// A file `name` in the directory holding everything `reader` gives; its path.
    pub fn file(&self, name: &str, mut reader: impl std::io::Read) -> PathBuf {
        let path = self.0.join(name);
        let mut f = std::fs::File::create(&path).expect("scratch file");
        std::io::copy(&mut reader, &mut f).expect("write the scratch file");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A hostile discovery responder on 127.0.0.1 (issue 14 point 6): each probe to
/// [`ForgingResponder::target`] is answered by the printer from the probed port ("Real"), by a
/// forger from another port ("Forged"), and by the printer with a reply naming port 0
/// ("Zero"). Only "Real" may be listed. Stops when dropped.
pub struct ForgingResponder {
    target: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ForgingResponder {
    /// Binds both sockets and starts answering.
    pub fn start() -> Self {
        use flashforge_proto::discovery::DiscoveryReply;
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let forger = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let target = sock.local_addr().expect("addr");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let real = DiscoveryReply::modern("Real", "SNREAL", 0x26).encode();
            let forged = DiscoveryReply::modern("Forged", "SNFORGED", 0x26).encode();
            let zero = DiscoveryReply::modern("Zero", "SNZERO", 0x26)
                .with_ports(0, 0)
                .encode();
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((_, from)) = sock.recv_from(&mut buf) {
                    let _ = forger.send_to(&forged, from);
                    let _ = sock.send_to(&zero, from);
                    let _ = sock.send_to(&real, from);
                }
            }
        });
        Self {
            target,
            stop,
            thread: Some(thread),
        }
    }

    /// Where to send the probes.
    pub fn target(&self) -> std::net::SocketAddr {
        self.target
    }
}

impl Drop for ForgingResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Peak resident set of this process in KiB (`VmHWM`), on Linux.
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Current resident set in KiB (`VmRSS`), on Linux.
pub fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The PNG signature.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

pub mod hostile;
pub mod replay;
mod suite;

/// What the adapters' examples run against: the printer named on the command line, or a
/// simulated one started in-process on loopback.
pub mod example {
    use flashforge_proto::client::Endpoint;
    use flashforge_proto::http::Credentials;
    use flashforge_proto::Model;
    use flashforge_sim::SimServer;

    /// A printer to talk to.
    pub struct Target {
        /// Its address and ports.
        pub endpoint: Endpoint,
        /// Serial and check code (`None`: an Adventurer 3/4).
        pub credentials: Option<Credentials>,
        /// The simulator, when no printer was named (keeps it running).
        pub sim: Option<SimServer>,
    }

    /// `ADDR [SERIAL CHECK_CODE]` from the arguments (`FLASHFORGE_SERIAL` /
    /// `FLASHFORGE_CHECK_CODE` also work), or a simulated `model` with a fast job clock.
    pub fn target(model: Model) -> Target {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(addr) = args.first() {
            let endpoint: Endpoint = addr.parse().expect("ADDR: an IP address");
            let serial = args
                .get(1)
                .cloned()
                .or_else(|| std::env::var("FLASHFORGE_SERIAL").ok());
            let code = args
                .get(2)
                .cloned()
                .or_else(|| std::env::var("FLASHFORGE_CHECK_CODE").ok());
            let credentials = match (serial, code) {
                (Some(s), Some(c)) => Some(Credentials::new(s, c).expect("credentials")),
                _ => None,
            };
            return Target {
                endpoint,
                credentials,
                sim: None,
            };
        }
        let sim = super::sim_with(model, |s| s.speed = 60.0);
        let h = sim.printer();
        eprintln!(
            "(no printer given: using a simulated {model} on {})",
            super::endpoint(h)
        );
        Target {
            endpoint: super::endpoint(h),
            credentials: Some(super::credentials(h)),
            sim: Some(sim),
        }
    }
}
