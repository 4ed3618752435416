//! A blocking client for FlashForge 3D printers: `std::net` sockets driving the sans-IO
//! [`flashforge_proto`] core. No threads, no runtime.
//!
//! ```no_run
//! use flashforge_blocking::{Credentials, Printer};
//!
//! let creds = Credentials::new("SNMOMC9900728", "e5c2bf77")?; // from the printer's screen
//! let printer = Printer::connect("192.168.1.20".parse::<std::net::IpAddr>()?, creds)?;
//! let status = printer.status()?;
//! println!("{} is {}", printer.model(), status.state.name());
//! printer.led(true)?;
//! printer.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Printer`] methods take `&self`: share a printer between threads with an `Arc`. HTTP
//! commands, HTTP reads, uploads and the TCP session each use their own connection, so a long
//! upload never delays `pause` or `cancel`. Keep-alive, reconnect with back-off and re-login
//! happen inside calls; the [`Builder::on_connection_event`] callback reports them.

#![forbid(unsafe_code)]

mod fdlimit;
mod http;
mod scratch;
mod tcp;

use std::fs::File;
use std::io::{BufReader, Read};
use std::net::UdpSocket;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flashforge_proto::discovery::{Discovery, DiscoveryEvent, MULTICAST_TTL};
use flashforge_proto::driver::Lanes;
use flashforge_proto::driver::{self, Op, Output, Plan, Step, StepOutput, Target, UploadRoute};
use flashforge_proto::printer_ops;

pub use fdlimit::{raise_fd_limit, KEEP_FD_LIMIT_ENV};
pub use flashforge_proto::client::ClientError as Error;
pub use flashforge_proto::prelude::*;

/// `Result` with [`Error`] (the core's typed [`flashforge_proto::client::ClientError`]).
pub type Result<T, E = Error> = std::result::Result<T, E>;

type Callback = Arc<dyn Fn(&ConnectionEvent) + Send + Sync>;

/// Options and a connection-state callback, then `connect`.
#[derive(Clone, Default)]
pub struct Builder {
    options: ClientOptions,
    callback: Option<Callback>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Timeouts, bounds and capability overrides.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Called on every connection-state change (TCP login, reconnect back-off, HTTP
    /// connection open/close).
    pub fn on_connection_event(
        mut self,
        f: impl Fn(&ConnectionEvent) + Send + Sync + 'static,
    ) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }

    /// Connect to a 5M, 5M Pro, AD5X, Creator 5 or Creator 5 Pro: `/detail` identifies the
    /// model and checks the credentials. The TCP channel (not on the Creator 5) opens when an
    /// operation first needs it.
    pub fn connect(
        self,
        endpoint: impl Into<Endpoint>,
        credentials: Credentials,
    ) -> Result<Printer> {
        let endpoint = endpoint.into();
        let _span = tracing::info_span!("connect", %endpoint).entered();
        driver::check_credentials(&credentials)?;
        let mut p = Printer::new(endpoint, Some(credentials), self);
        p.target = Target::connecting_http(&p.target.host);
        let info = p.execute_steps(Plan::new(Op::Info, &p.target)?)?;
        p.target = Target::connected_http(info, &p.target.host, &p.options.overrides)?;
        tracing::info!(model = %p.target.model, firmware = %p.target.firmware, "connected");
        Ok(p)
    }

    /// Connect to an Adventurer 3 or 4 (TCP only): log in, then `~M115` identifies the model.
    pub fn connect_legacy(self, endpoint: impl Into<Endpoint>) -> Result<LegacyPrinter> {
        let endpoint = endpoint.into();
        let _span = tracing::info_span!("connect_legacy", %endpoint).entered();
        let mut p = Printer::new(endpoint, None, self);
        p.target = Target::connecting_tcp(&p.target.host, p.options.model);
        let reply = p.tcp_command(flashforge_proto::Command::MachineInfo)?;
        p.target =
            Target::connected_tcp(reply, &p.target.host, &p.options.overrides, p.options.model)?;
        let dialect = p.target.dialect;
        if let Some(link) = p.tcp.get_mut().unwrap_or_else(|e| e.into_inner()).as_mut() {
            link.calls.set_dialect(dialect);
        }
        tracing::info!(model = %p.target.model, firmware = %p.target.firmware, "connected");
        Ok(LegacyPrinter(p))
    }
}

/// A connected printer. Every operation of [`Op`] as a method; see the crate docs.
pub struct Printer {
    endpoint: Endpoint,
    host: String,
    credentials: Option<Credentials>,
    target: Target,
    options: ClientOptions,
    callback: Option<Callback>,
    /// Boxed: a printer polled over HTTP only never opens it, and should not carry its size.
    tcp: Mutex<Option<Box<tcp::TcpLink>>>,
    /// One kept-alive HTTP connection per lane (the core says which request goes where).
    http_lanes: Lanes<http::Lane>,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("endpoint", &self.endpoint)
            .field("model", &self.target.model)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// An Adventurer 3 or 4 (TCP only); derefs to [`Printer`], whose HTTP-only operations return
/// [`Error::Unsupported`].
#[derive(Debug)]
pub struct LegacyPrinter(Printer);

impl LegacyPrinter {
    /// [`Builder::connect_legacy`] with default options.
    pub fn connect(endpoint: impl Into<Endpoint>) -> Result<Self> {
        Builder::default().connect_legacy(endpoint)
    }

    /// The [`Printer`].
    pub fn into_inner(self) -> Printer {
        self.0
    }
}

impl std::ops::Deref for LegacyPrinter {
    type Target = Printer;
    fn deref(&self) -> &Printer {
        &self.0
    }
}

impl Printer {
    /// [`Builder::connect`] with default options.
    pub fn connect(endpoint: impl Into<Endpoint>, credentials: Credentials) -> Result<Self> {
        Builder::default().connect(endpoint, credentials)
    }

    /// Options before connecting.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn new(endpoint: Endpoint, credentials: Option<Credentials>, b: Builder) -> Self {
        fdlimit::raise_once();
        Self {
            endpoint,
            host: endpoint.http_host(),
            target: Target::new(Model::Unknown, "", &endpoint.ip.to_string()),
            credentials,
            options: b.options,
            callback: b.callback,
            tcp: Mutex::new(None),
            http_lanes: Lanes::default(),
        }
    }

    /// Run any operation (the typed methods below are shorthands).
    pub fn run(&self, op: Op) -> Result<Output> {
        let _span = tracing::info_span!("op", op = op.name(), model = %self.target.model).entered();
        let plan = Plan::new(op, &self.target)?;
        let r = self.execute_steps(plan);
        if let Err(e) = &r {
            tracing::debug!(error = %e, "operation failed");
        }
        r
    }

    fn execute_steps(&self, plan: Plan) -> Result<Output> {
        let r = self.execute_steps_inner(&plan);
        if plan.steps().iter().any(|s| matches!(s, Step::Tcp(_))) {
            self.tcp_operation_done();
        }
        plan.finish(r?)
    }

    fn execute_steps_inner(&self, plan: &Plan) -> Result<Vec<StepOutput>> {
        let mut outputs = Vec::with_capacity(plan.steps().len());
        for step in plan.steps() {
            outputs.push(match step {
                Step::Http(req) => StepOutput::Http(self.http()?.request(&self.http_lanes, req)?),
                Step::Tcp(cmd) => StepOutput::Tcp(self.tcp_command(cmd.clone())?),
                _ => return Err(Error::UnexpectedReply("a known step")),
            });
        }
        Ok(outputs)
    }

    /// An operation that used the TCP session ended: with [`TcpPolicy::CloseAfterOperation`],
    /// log out and close it.
    fn tcp_operation_done(&self) {
        if self.options.tcp_policy == TcpPolicy::CloseAfterOperation {
            let mut guard = self.tcp.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut link) = guard.take() {
                link.close();
            }
        }
    }

    fn http(&self) -> Result<http::Http<'_>> {
        let creds = self.credentials.as_ref().ok_or(Error::Unsupported {
            operation: "HTTP API",
            model: self.target.model,
        })?;
        Ok(http::Http {
            addr: self.endpoint.http(),
            host: &self.host,
            creds,
            config: &self.options.http,
            connect_timeout: self.options.connect_timeout,
            callback: self.callback.as_ref(),
        })
    }

    fn with_tcp<T>(&self, f: impl FnOnce(&mut tcp::TcpLink) -> Result<T>) -> Result<T> {
        let mut guard = self.tcp.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().map_or(true, |l| l.calls.needs_replacing()) {
            *guard = Some(Box::new(tcp::TcpLink::new(
                self.endpoint.tcp(),
                self.options.tcp_config(&self.target),
                self.options.connect_timeout,
                self.callback.clone(),
            )));
        }
        let link = guard.as_mut().expect("link just set");
        f(link)
    }

    fn tcp_command(&self, cmd: flashforge_proto::Command) -> Result<flashforge_proto::Reply> {
        self.with_tcp(|l| l.command(cmd))
    }

    printer_ops!(,);

    /// Upload `size` bytes from `reader` as `name`, reporting progress after every chunk.
    /// HTTP multipart on HTTP printers, `~M28`/`~M29` on the Adventurer 3/4; with
    /// `options.start` the print starts when the file is complete.
    pub fn upload(
        &self,
        name: &str,
        size: u64,
        reader: impl Read,
        options: UploadOptions,
        mut progress: impl FnMut(UploadProgress),
    ) -> Result<()> {
        let _span = tracing::info_span!("upload", name, size, model = %self.target.model).entered();
        let mut reader = reader;
        let (route, chunk) = self
            .options
            .upload_route(&self.target, name, size, &options)?;
        if options.start {
            // Refused before any byte is sent, rather than a file sent and a start ignored.
            self.status()?
                .check(flashforge_proto::client::JobCheck::Start)?;
        }
        match route {
            UploadRoute::Http(spec) => {
                let body = self
                    .http()?
                    .upload(&spec, &mut reader, chunk, &mut progress)?;
                driver::finish_upload(body)
            }
            UploadRoute::Tcp { name, size, start } => {
                let r = self
                    .with_tcp(|l| l.upload(&name, size, &mut reader, chunk, &mut progress))
                    .and_then(|()| {
                        start
                            .into_iter()
                            .try_for_each(|c| self.tcp_command(c).map(drop))
                    });
                self.tcp_operation_done();
                r
            }
            _ => Err(Error::UnexpectedReply("a known upload route")),
        }
    }

    /// Upload a file from disk under its own name. Only a regular file (symbolic links
    /// followed): a directory, FIFO, device or socket is
    /// [`UsageError::NotRegularFile`](flashforge_proto::UsageError::NotRegularFile) before
    /// anything is opened or sent.
    pub fn upload_file(
        &self,
        path: impl AsRef<Path>,
        options: UploadOptions,
        progress: impl FnMut(UploadProgress),
    ) -> Result<()> {
        let path = path.as_ref();
        let io = Error::io;
        // Only a regular file, checked before it is opened (a FIFO's open blocks) and before
        // anything is sent; then again on what was opened.
        driver::check_regular_file(path, &std::fs::metadata(path).map_err(io)?)?;
        let file = File::open(path).map_err(io)?;
        let size = driver::check_regular_file(path, &file.metadata().map_err(io)?)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or(Error::Usage(flashforge_proto::UsageError::BadFileName))?;
        self.upload(name, size, BufReader::new(file), options, progress)
    }

    /// Log out of the TCP session (releasing the control lock) and close every connection.
    /// Dropping the printer does the same.
    pub fn close(&self) {
        let mut guard = self.tcp.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut link) = guard.take() {
            link.close();
        }
        for lane in self.http_lanes.iter() {
            lane.clear();
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.close();
    }
}

/// The receive buffer asked for a discovery socket: room for the replies of a few thousand
/// printers answering one probe at once (the kernel caps it at `net.core.rmem_max`; the
/// default buffer holds about 90, and a simulated farm of 140 on one host lost a third).
const DISCOVERY_RECV_BUFFER: usize = 1 << 20;

/// Find printers: unicast to `options.targets`, or the LAN (broadcast and multicast) when
/// there are none. Returns when the search ends (about 10 s on a LAN without replies; a
/// unicast search ends when every target answered and the idle time passed). Only answers
/// to the probes count (see `Discovery::handle_datagram`); [`discover_with_stats`] also says
/// what was dropped and whether the printer bound cut the list short.
pub fn discover(options: &DiscoverOptions) -> Result<Vec<DiscoveredPrinter>> {
    Ok(discover_with_stats(options)?.printers)
}

/// [`discover`], with the counters: datagrams dropped as unsolicited or malformed, and
/// `stats.truncated` when `max_printers` were found and more answered.
pub fn discover_with_stats(options: &DiscoverOptions) -> Result<DiscoveryResult> {
    let _span = tracing::info_span!("discover", targets = options.targets.len()).entered();
    let io = Error::io;
    let bind =
        if options.targets.iter().all(|t| t.ip().is_loopback()) && !options.targets.is_empty() {
            "127.0.0.1:0"
        } else {
            "0.0.0.0:0"
        };
    let sock = UdpSocket::bind(bind).map_err(io)?;
    // Best effort: a smaller buffer still works for a small LAN.
    let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(DISCOVERY_RECV_BUFFER);
    if options.needs_broadcast() {
        sock.set_broadcast(true).map_err(io)?;
        sock.set_multicast_ttl_v4(MULTICAST_TTL).map_err(io)?;
    }
    let mut d = Discovery::new(
        options.config.clone(),
        options.destinations(),
        Instant::now(),
    );
    let mut buf = [0u8; 2048];
    let mut recv = |d: &mut Discovery, sock: &UdpSocket| {
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Err(e) = d.handle_datagram(from, &buf[..n], Instant::now()) {
                tracing::debug!(error = %e, "discovery datagram dropped");
            }
            sock.set_nonblocking(true).ok();
        }
        sock.set_nonblocking(false).ok();
    };
    while !d.is_finished() {
        while let Some(t) = d.poll_transmit() {
            if let Err(e) = sock.send_to(t.payload, t.destination) {
                tracing::debug!(destination = %t.destination, error = %e, "probe not sent");
            }
            // Read between sends: a farm's replies would overflow the receive buffer.
            sock.set_nonblocking(true).map_err(io)?;
            recv(&mut d, &sock);
        }
        let now = Instant::now();
        let wait = d
            .poll_timeout()
            .map_or(Duration::from_millis(10), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        sock.set_read_timeout(Some(wait)).map_err(io)?;
        recv(&mut d, &sock);
        d.handle_timeout(Instant::now());
        while let Some(e) = d.poll_event() {
            if let DiscoveryEvent::LimitReached { max } = e {
                tracing::info!(
                    max,
                    "printer bound reached: further printers are not listed"
                );
            }
        }
    }
    Ok(d.into_result())
}
