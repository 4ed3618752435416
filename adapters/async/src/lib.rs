//! The async FlashForge client written once, generic over a [`Runtime`] (sockets, a timer,
//! file reads). `flashforge-tokio` and `flashforge-smol` (through `flashforge-async-io`) are this
//! crate with their runtime filled in; use those. It spawns no tasks: a call drives its own
//! connection.
//!
//! [`Printer`] methods take `&self` and the printer is `Send + Sync`: share it in an `Arc`
//! across tasks. HTTP commands, HTTP reads, uploads and the TCP session each use their own
//! connection, so a long upload never delays `pause` or `cancel`. Keep-alive, reconnect with
//! back-off and re-login happen inside calls; [`Builder::on_connection_event`] or
//! [`Builder::connection_events`] report them.

#![forbid(unsafe_code)]

mod fdlimit;
mod http;
mod runtime;
mod tcp;

pub use fdlimit::{raise_fd_limit, KEEP_FD_LIMIT_ENV};
pub use runtime::Runtime;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::marker::PhantomData;

use async_lock::Mutex;
use futures_lite::AsyncRead;

use flashforge_proto::discovery::{Discovery, DiscoveryEvent, MULTICAST_TTL};
use flashforge_proto::driver::Lanes;
use flashforge_proto::driver::{self, Op, Output, Plan, Step, StepOutput, Target, UploadRoute};
use flashforge_proto::printer_ops;
use tracing::Instrument;

pub use flashforge_proto::client::ClientError as Error;
pub use flashforge_proto::prelude::*;

/// `Result` with [`Error`] (the core's typed [`flashforge_proto::client::ClientError`]).
pub type Result<T, E = Error> = std::result::Result<T, E>;

type Callback = Arc<dyn Fn(&ConnectionEvent) + Send + Sync>;

/// Options and a connection-state callback, then `connect`.
pub struct Builder<R: Runtime> {
    options: ClientOptions,
    callback: Option<Callback>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Default for Builder<R> {
    fn default() -> Self {
        Self {
            options: ClientOptions::default(),
            callback: None,
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> Clone for Builder<R> {
    fn clone(&self) -> Self {
        Self {
            options: self.options.clone(),
            callback: self.callback.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Builder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Builder<R> {
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

    /// The connection-state changes as a stream (`async_channel::Receiver` implements
    /// `futures_core::Stream`): a bounded channel of `capacity` events; when the receiver falls
    /// behind, newer events are dropped rather than buffered without bound. Replaces an
    /// [`on_connection_event`](Self::on_connection_event) callback.
    pub fn connection_events(
        self,
        capacity: usize,
    ) -> (Self, async_channel::Receiver<ConnectionEvent>) {
        let (tx, rx) = async_channel::bounded(capacity.max(1));
        let b = self.on_connection_event(move |e| {
            let _ = tx.try_send(e.clone());
        });
        (b, rx)
    }

    /// Connect to a 5M, 5M Pro, AD5X, Creator 5 or Creator 5 Pro: `/detail` identifies the
    /// model and checks the credentials. The TCP channel (not on the Creator 5) opens when an
    /// operation first needs it.
    pub async fn connect(
        self,
        endpoint: impl Into<Endpoint>,
        credentials: Credentials,
    ) -> Result<Printer<R>> {
        let endpoint = endpoint.into();
        let span = tracing::info_span!("connect", %endpoint);
        driver::check_credentials(&credentials)?;
        let mut p = Printer::new(endpoint, Some(credentials), self);
        p.target = Target::connecting_http(&p.target.host);
        let info = p
            .execute_steps(Plan::new(Op::Info, &p.target)?)
            .instrument(span.clone())
            .await?;
        p.target = Target::connected_http(info, &p.target.host, &p.options.overrides)?;
        span.in_scope(
            || tracing::info!(model = %p.target.model, firmware = %p.target.firmware, "connected"),
        );
        Ok(p)
    }

    /// Connect to an Adventurer 3 or 4 (TCP only): log in, then `~M115` identifies the model.
    pub async fn connect_legacy(self, endpoint: impl Into<Endpoint>) -> Result<LegacyPrinter<R>> {
        let endpoint = endpoint.into();
        let span = tracing::info_span!("connect_legacy", %endpoint);
        let mut p = Printer::new(endpoint, None, self);
        p.target = Target::connecting_tcp(&p.target.host, p.options.model);
        let reply = p
            .tcp_command(flashforge_proto::Command::MachineInfo)
            .instrument(span.clone())
            .await?;
        p.target =
            Target::connected_tcp(reply, &p.target.host, &p.options.overrides, p.options.model)?;
        let dialect = p.target.dialect;
        if let Some(link) = p.tcp.get_mut().as_mut() {
            link.calls.set_dialect(dialect);
        }
        span.in_scope(
            || tracing::info!(model = %p.target.model, firmware = %p.target.firmware, "connected"),
        );
        Ok(LegacyPrinter(p))
    }
}

/// A connected printer. Every operation of [`Op`] as a method; see the crate docs.
pub struct Printer<R: Runtime> {
    endpoint: Endpoint,
    host: String,
    credentials: Option<Credentials>,
    target: Target,
    options: ClientOptions,
    callback: Option<Callback>,
    /// Boxed: a printer polled over HTTP only never opens it, and should not carry its size.
    tcp: Mutex<Option<Box<tcp::TcpLink<R>>>>,
    /// One kept-alive HTTP connection per lane (the core says which request goes where).
    http_lanes: Lanes<http::Lane<R>>,
}

impl<R: Runtime> std::fmt::Debug for Printer<R> {
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
pub struct LegacyPrinter<R: Runtime>(Printer<R>);

impl<R: Runtime> LegacyPrinter<R> {
    /// [`Builder::connect_legacy`] with default options.
    pub async fn connect(endpoint: impl Into<Endpoint>) -> Result<Self> {
        Builder::default().connect_legacy(endpoint).await
    }

    /// The [`Printer`].
    pub fn into_inner(self) -> Printer<R> {
        self.0
    }
}

impl<R: Runtime> std::ops::Deref for LegacyPrinter<R> {
    type Target = Printer<R>;
    fn deref(&self) -> &Printer<R> {
        &self.0
    }
}

impl<R: Runtime> Printer<R> {
    /// [`Builder::connect`] with default options.
    pub async fn connect(endpoint: impl Into<Endpoint>, credentials: Credentials) -> Result<Self> {
        Builder::default().connect(endpoint, credentials).await
    }

    /// Options before connecting.
    pub fn builder() -> Builder<R> {
        Builder::default()
    }

    fn new(endpoint: Endpoint, credentials: Option<Credentials>, b: Builder<R>) -> Self {
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
    pub async fn run(&self, op: Op) -> Result<Output> {
        let span = tracing::info_span!("op", op = op.name(), model = %self.target.model);
        let plan = Plan::new(op, &self.target)?;
        let r = self.execute_steps(plan).instrument(span.clone()).await;
        let _g = span.enter();
        if let Err(e) = &r {
            tracing::debug!(error = %e, "operation failed");
        }
        r
    }

    async fn execute_steps(&self, plan: Plan) -> Result<Output> {
        let r = self.execute_steps_inner(&plan).await;
        if plan.steps().iter().any(|s| matches!(s, Step::Tcp(_))) {
            self.tcp_operation_done().await;
        }
        plan.finish(r?)
    }

    async fn execute_steps_inner(&self, plan: &Plan) -> Result<Vec<StepOutput>> {
        let mut outputs = Vec::with_capacity(plan.steps().len());
        for step in plan.steps() {
            outputs.push(match step {
                Step::Http(req) => {
                    StepOutput::Http(self.http()?.request(&self.http_lanes, req).await?)
                }
                Step::Tcp(cmd) => StepOutput::Tcp(self.tcp_command(cmd.clone()).await?),
                _ => return Err(Error::UnexpectedReply("a known step")),
            });
        }
        Ok(outputs)
    }

    /// An operation that used the TCP session ended: with [`TcpPolicy::CloseAfterOperation`],
    /// log out and close it.
    async fn tcp_operation_done(&self) {
        if self.options.tcp_policy == TcpPolicy::CloseAfterOperation {
            let mut guard = self.tcp.lock().await;
            if let Some(mut link) = guard.take() {
                link.close().await;
            }
        }
    }

    fn http(&self) -> Result<http::Http<'_, R>> {
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
            runtime: PhantomData,
        })
    }

    async fn tcp_link(&self) -> async_lock::MutexGuard<'_, Option<Box<tcp::TcpLink<R>>>> {
        let mut guard = self.tcp.lock().await;
        if guard.as_ref().map_or(true, |l| l.calls.needs_replacing()) {
            *guard = Some(Box::new(tcp::TcpLink::new(
                self.endpoint.tcp(),
                self.options.tcp_config(&self.target),
                self.options.connect_timeout,
                self.callback.clone(),
            )));
        }
        guard
    }

    async fn tcp_command(&self, cmd: flashforge_proto::Command) -> Result<flashforge_proto::Reply> {
        let mut guard = self.tcp_link().await;
        guard.as_mut().expect("link just set").command(cmd).await
    }

    printer_ops!(async, .await);

    /// Upload `size` bytes from `reader` as `name`, reporting progress after every chunk.
    /// HTTP multipart on HTTP printers, `~M28`/`~M29` on the Adventurer 3/4; with
    /// `options.start` the print starts when the file is complete.
    pub async fn upload(
        &self,
        name: &str,
        size: u64,
        reader: impl AsyncRead + Unpin + Send,
        options: UploadOptions,
        mut progress: impl FnMut(UploadProgress) + Send,
    ) -> Result<()> {
        let span = tracing::info_span!("upload", name, size, model = %self.target.model);
        self.upload_inner(name, size, reader, options, &mut progress)
            .instrument(span)
            .await
    }

    async fn upload_inner(
        &self,
        name: &str,
        size: u64,
        reader: impl AsyncRead + Unpin + Send,
        options: UploadOptions,
        progress: &mut (dyn FnMut(UploadProgress) + Send),
    ) -> Result<()> {
        let mut reader = reader;
        let (route, chunk) = self
            .options
            .upload_route(&self.target, name, size, &options)?;
        if options.start {
            // Refused before any byte is sent, rather than a file sent and a start ignored.
            self.status()
                .await?
                .check(flashforge_proto::client::JobCheck::Start)?;
        }
        match route {
            UploadRoute::Http(spec) => {
                let body = self
                    .http()?
                    .upload(&spec, &mut reader, chunk, progress)
                    .await?;
                driver::finish_upload(body)
            }
            UploadRoute::Tcp { name, size, start } => {
                let r = async {
                    {
                        let mut guard = self.tcp_link().await;
                        let link = guard.as_mut().expect("link just set");
                        link.upload(&name, size, &mut reader, chunk, progress)
                            .await?;
                    }
                    for cmd in start {
                        self.tcp_command(cmd).await?;
                    }
                    Ok(())
                }
                .await;
                self.tcp_operation_done().await;
                r
            }
            _ => Err(Error::UnexpectedReply("a known upload route")),
        }
    }

    /// Upload a file from disk under its own name. Only a regular file (symbolic links
    /// followed): a directory, FIFO, device or socket is
    /// [`UsageError::NotRegularFile`](flashforge_proto::UsageError::NotRegularFile) before
    /// anything is opened or sent.
    pub async fn upload_file(
        &self,
        path: impl AsRef<Path>,
        options: UploadOptions,
        progress: impl FnMut(UploadProgress) + Send,
    ) -> Result<()> {
        let path = path.as_ref();
        let io = Error::io;
        // Only a regular file, checked from its metadata before it is opened (a FIFO's open
        // blocks) and before anything is sent.
        driver::check_regular_file(path, &std::fs::metadata(path).map_err(io)?)?;
        let (file, size) = R::open(path).await.map_err(io)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or(Error::Usage(flashforge_proto::UsageError::BadFileName))?;
        self.upload(name, size, file, options, progress).await
    }

    /// Log out of the TCP session (releasing the control lock) and close every connection.
    /// Dropping the printer writes the logout without waiting for its answer.
    pub async fn close(&self) {
        let mut guard = self.tcp.lock().await;
        if let Some(mut link) = guard.take() {
            link.close().await;
        }
        for lane in self.http_lanes.iter() {
            lane.clear();
        }
    }
}

impl<R: Runtime> Drop for Printer<R> {
    fn drop(&mut self) {
        if let Some(link) = self.tcp.get_mut().as_mut() {
            link.logout_now();
        }
    }
}

/// Find printers: unicast to `options.targets`, or the LAN (broadcast and multicast) when
/// there are none. Returns when the search ends (about 10 s on a LAN without replies; a
/// unicast search ends when every target answered and the idle time passed). Only answers
/// to the probes count (see `Discovery::handle_datagram`); [`discover_with_stats`] also says
/// what was dropped and whether the printer bound cut the list short.
pub async fn discover<R: Runtime>(options: &DiscoverOptions) -> Result<Vec<DiscoveredPrinter>> {
    Ok(discover_with_stats::<R>(options).await?.printers)
}

/// [`discover`], with the counters: datagrams dropped as unsolicited or malformed, and
/// `stats.truncated` when `max_printers` were found and more answered.
pub async fn discover_with_stats<R: Runtime>(options: &DiscoverOptions) -> Result<DiscoveryResult> {
    let span = tracing::info_span!("discover", targets = options.targets.len());
    discover_inner::<R>(options).instrument(span).await
}

async fn discover_inner<R: Runtime>(options: &DiscoverOptions) -> Result<DiscoveryResult> {
    let io = Error::io;
    let loopback =
        !options.targets.is_empty() && options.targets.iter().all(|t| t.ip().is_loopback());
    let bind = if loopback {
        std::net::SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        std::net::SocketAddr::from(([0, 0, 0, 0], 0))
    };
    let sock = R::bind_udp(bind, options.needs_broadcast().then_some(MULTICAST_TTL)).map_err(io)?;
    let now = R::now;
    let mut d = Discovery::new(options.config.clone(), options.destinations(), now());
    let mut buf = [0u8; 2048];
    while !d.is_finished() {
        while let Some(t) = d.poll_transmit() {
            if let Err(e) = R::send_to(&sock, t.payload, t.destination).await {
                tracing::debug!(destination = %t.destination, error = %e, "probe not sent");
            }
            // Read between sends: a farm's replies would overflow the receive buffer.
            while let Ok((n, from)) = R::try_recv_from(&sock, &mut buf) {
                if let Err(e) = d.handle_datagram(from, &buf[..n], now()) {
                    tracing::debug!(error = %e, "discovery datagram dropped");
                }
            }
        }
        let deadline = d
            .poll_timeout()
            .unwrap_or_else(|| R::now() + Duration::from_millis(10));
        if let Some(Ok((n, from))) =
            runtime::until::<R, _>(deadline, R::recv_from(&sock, &mut buf)).await
        {
            if let Err(e) = d.handle_datagram(from, &buf[..n], now()) {
                tracing::debug!(error = %e, "discovery datagram dropped");
            }
        }
        d.handle_timeout(now());
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
