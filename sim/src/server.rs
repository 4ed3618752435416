//! The loopback server: std threads and `std::net`, so it serves the tests of every adapter
//! whatever their runtime.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flashforge_proto::discovery::DiscoveryReply;

use crate::faults::{Faults, HttpFault, TcpFault};
use crate::http::HttpSession;
use crate::net;
use crate::printer::{PrinterSpec, SimPrinter, Status};
use crate::tcp::TcpSession;

/// How often blocked threads look at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// Stack of connection threads.
const CONN_STACK: usize = 256 * 1024;

/// Where and how printers are served.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address to bind (loopback by default).
    pub ip: IpAddr,
    /// TCP command port of the first printer (0 = any free port; further printers use
    /// consecutive ports when non-zero).
    pub tcp_port: u16,
    /// HTTP port of the first printer (0 = any).
    pub http_port: u16,
    /// UDP discovery port of the first printer (0 = any).
    pub udp_port: u16,
    /// Camera port of the first printer with a camera (0 = any).
    pub camera_port: u16,
    /// Own sockets per printer, or shared ones for a farm too large for them.
    pub sockets: net::Sockets,
    /// Most connections served at once, across all printers (each is a thread); one more is
    /// accepted and closed at once. 0 (the default): two per TCP and HTTP server, plus 256.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tcp_port: 0,
            http_port: 0,
            udp_port: 0,
            camera_port: 0,
            sockets: net::Sockets::Auto,
            max_connections: 0,
        }
    }
}

/// Locks a mutex, surviving poisoning (a panicking test thread must not wedge the server).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One served printer.
#[derive(Debug, Clone)]
pub struct SimHandle {
    /// The printer state (lock it to inspect or change it).
    pub printer: Arc<Mutex<SimPrinter>>,
    /// Its fault switches.
    pub faults: Faults,
    /// TCP command address (`None` for the Creator 5 series).
    pub tcp: Option<SocketAddr>,
    /// HTTP API address (`None` for the Adventurer 3/4).
    pub http: Option<SocketAddr>,
    /// UDP discovery address (the first of [`discovery`](Self::discovery)).
    pub udp: SocketAddr,
    /// Every UDP port answering discovery probes, on the printer's address.
    pub discovery: Vec<SocketAddr>,
    /// MJPEG camera address (models with a camera).
    pub camera: Option<SocketAddr>,
    /// Open connections, shared with the threads serving them (no duplicated descriptor: a
    /// farm of 10,000 printers would need twice the descriptors).
    conns: Arc<Mutex<Vec<Arc<TcpStream>>>>,
}

impl SimHandle {
    /// Locks the printer.
    pub fn lock(&self) -> MutexGuard<'_, SimPrinter> {
        lock(&self.printer)
    }

    /// Closes every open connection to this printer (a network drop).
    pub fn drop_connections(&self) {
        for s in lock(&self.conns).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The serial number.
    pub fn serial(&self) -> String {
        self.lock().spec.serial.clone()
    }

    /// The check code.
    pub fn check_code(&self) -> String {
        self.lock().spec.check_code.clone()
    }

    /// Where a client reaches it: its address with its TCP and HTTP ports (the standard port
    /// for the one it does not serve), as `--printer` takes it.
    pub fn endpoint(&self) -> flashforge_proto::client::Endpoint {
        flashforge_proto::client::Endpoint::new(self.udp.ip()).with_ports(
            self.tcp
                .map_or(flashforge_proto::client::TCP_PORT, |a| a.port()),
            self.http
                .map_or(flashforge_proto::client::HTTP_PORT, |a| a.port()),
        )
    }

    /// The serial number and check code an HTTP client needs (`None` for the Adventurer
    /// 3/4, which have no HTTP API).
    pub fn credentials(&self) -> Option<flashforge_proto::http::Credentials> {
        let p = self.lock();
        if !p.spec.model.is_http() {
            return None;
        }
        flashforge_proto::http::Credentials::new(p.spec.serial.clone(), p.spec.check_code.clone())
            .ok()
    }
}

/// Running simulated printers. Dropping it shuts everything down.
#[derive(Debug)]
pub struct SimServer {
    printers: Vec<SimHandle>,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    wake: Vec<SocketAddr>,
    /// Where the control API listens, once started.
    pub(crate) control: Option<SocketAddr>,
}

/// Threads of a server, joined when it stops.
pub(crate) type Threads = Arc<Mutex<Vec<JoinHandle<()>>>>;

/// Start a named thread with `stack` bytes of stack and keep its handle in `threads`.
pub(crate) fn spawn(
    threads: &Threads,
    name: String,
    stack: usize,
    f: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    let h = thread::Builder::new()
        .name(name)
        .stack_size(stack)
        .spawn(f)?;
    let mut list = lock(threads);
    list.retain(|t| !t.is_finished());
    list.push(h);
    Ok(())
}

impl SimServer {
    /// Starts one printer per spec: each on its own address with the standard ports where
    /// its [`Placement`](crate::Placement) says so, else on `config`'s address and ports.
    ///
    /// A large farm needs about four descriptors per printer, plus one per client connection:
    /// the soft `RLIMIT_NOFILE` is raised to make room ([`raise_fd_limit`](crate::raise_fd_limit)). A socket that cannot be
    /// bound fails the whole start with an error naming the printer and the address.
    pub fn start(specs: Vec<PrinterSpec>, config: &ServerConfig) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let now = Instant::now();
        let plans: Vec<_> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| net::plan(s, config, i))
            .collect();
        let need = net::descriptors(&plans);
        let conns = net::connection_room(&plans);
        // Best effort: where it cannot be raised, binding says so with the numbers.
        let limit = net::raise_fd_limit(need + conns).unwrap_or(0);
        let share = match config.sockets {
            net::Sockets::PerPrinter => false,
            net::Sockets::Shared => true,
            net::Sockets::Auto => need + conns + net::SPARE_FDS > limit,
        };
        let mut bound = Vec::with_capacity(specs.len());
        for (i, (mut spec, plan)) in specs.into_iter().zip(plans).enumerate() {
            let shared = share && net::shareable(&plan);
            let b = net::bind(&spec, &plan, i, need, shared)?;
            let addr =
                |l: &Option<TcpListener>| l.as_ref().map(TcpListener::local_addr).transpose();
            let at = |p: Option<u16>| p.map(|p| SocketAddr::new(plan.ip, p));
            let (tcp, http, camera, discovery) = if shared {
                let d = plan.discovery.iter().map(|&p| SocketAddr::new(plan.ip, p));
                (at(plan.tcp), at(plan.http), at(plan.camera), d.collect())
            } else {
                let udp = b.udp.iter().map(UdpSocket::local_addr);
                (
                    addr(&b.tcp)?,
                    addr(&b.http)?,
                    addr(&b.camera)?,
                    udp.collect::<io::Result<Vec<_>>>()?,
                )
            };
            // The printer reports and links to where it really is.
            spec.ip = plan.ip.to_string();
            spec.net.tcp_port = tcp.map(|a| a.port());
            spec.net.http_port = http.map(|a| a.port());
            spec.net.camera_port = camera.map(|a| a.port());
            spec.net.discovery_ports = Some(discovery.iter().map(SocketAddr::port).collect());
            let handle = SimHandle {
                printer: Arc::new(Mutex::new(SimPrinter::new(spec, now))),
                faults: Faults::default(),
                tcp,
                http,
                udp: discovery
                    .first()
                    .copied()
                    .unwrap_or(SocketAddr::new(plan.ip, 0)),
                discovery,
                camera,
                conns: Arc::new(Mutex::new(Vec::new())),
            };
            bound.push((b, handle));
        }
        let printers = bound.iter().map(|(_, h)| h.clone()).collect();
        let cap = match config.max_connections {
            0 => 2 * conns as usize + 256,
            n => n,
        };
        let accept: net::Accept = {
            let (st, th) = (stop.clone(), threads.clone());
            let live = Arc::new(AtomicUsize::new(0));
            Arc::new(move |stream, h: &SimHandle, kind| {
                on_accept(stream, h, kind, &st, &th, (&live, cap))
            })
        };
        net::serve(bound, stop.clone(), &threads, accept)?;
        Ok(Self {
            printers,
            stop,
            threads,
            wake: Vec::new(),
            control: None,
        })
    }

    /// One printer of `model` with default identity.
    pub fn single(spec: PrinterSpec) -> io::Result<Self> {
        Self::start(vec![spec], &ServerConfig::default())
    }

    /// The served printers, in the order of the specs.
    pub fn printers(&self) -> &[SimHandle] {
        &self.printers
    }

    /// Where the control API listens ([`SimServer::start_control`]), if it was started.
    pub fn control(&self) -> Option<SocketAddr> {
        self.control
    }

    /// The first printer.
    pub fn printer(&self) -> &SimHandle {
        &self.printers[0]
    }

    /// The flag every thread of this server watches (set on shutdown).
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// The server's thread list (threads added here are joined on shutdown).
    pub(crate) fn threads(&self) -> Threads {
        self.threads.clone()
    }

    /// A listener to wake (connect to) on shutdown, so its accept loop sees the stop flag.
    pub(crate) fn add_wake(&mut self, addr: SocketAddr) {
        self.wake.push(addr);
    }

    /// Stops every thread and closes every socket; returns when all threads have ended.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        for p in &self.printers {
            p.drop_connections();
        }
        join_all(&self.threads, &self.wake);
    }
}

/// Wake every listener blocked in `accept` (a connection to each of `wake`), then join every
/// thread, including those started while joining.
pub(crate) fn join_all(threads: &Threads, wake: &[SocketAddr]) {
    for addr in wake {
        let _ = TcpStream::connect_timeout(addr, Duration::from_millis(200));
    }
    loop {
        let batch: Vec<_> = lock(threads).drain(..).collect();
        if batch.is_empty() {
            break;
        }
        for t in batch {
            let _ = t.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop_all();
    }
}

static CONN_IDS: AtomicU64 = AtomicU64::new(1);

/// One served connection counted in the server's total until its thread ends (or the thread
/// could not be started: the closure holding it is dropped).
struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An accepted connection: remembered (so [`SimHandle::drop_connections`] can cut it) and
/// served on its own thread.
fn on_accept(
    stream: TcpStream,
    handle: &SimHandle,
    kind: net::Kind,
    stop: &Arc<AtomicBool>,
    threads: &Threads,
    (live, cap): (&Arc<AtomicUsize>, usize),
) {
    if stop.load(Ordering::SeqCst) {
        return;
    }
    // A connection flood must not become a thread flood: past the cap, close at once.
    if live.fetch_add(1, Ordering::SeqCst) >= cap {
        live.fetch_sub(1, Ordering::SeqCst);
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "flashforge-sim: {cap} connections open: closing further ones at once \
                 (ServerConfig::max_connections; said once)"
            );
        }
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let guard = LiveGuard(live.clone());
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    {
        let mut conns = lock(&handle.conns);
        // Connections whose thread has ended.
        conns.retain(|c| Arc::strong_count(c) > 1);
        conns.push(stream.clone());
    }
    // A shutdown that began after the check above has already shut the printer's
    // connections: this one would otherwise wait for its idle deadline.
    if stop.load(Ordering::SeqCst) {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let (h, st) = (handle.clone(), stop.clone());
    let name = match kind {
        net::Kind::Tcp => "sim-tcp-conn",
        net::Kind::Http => "sim-http-conn",
        net::Kind::Camera => "sim-camera-conn",
    };
    let _ = spawn(threads, name.to_owned(), CONN_STACK, move || {
        let _guard = guard;
        let _ = match kind {
            net::Kind::Tcp => serve_tcp(&stream, &h, &st),
            net::Kind::Http => serve_http(&stream, &h, &st),
            net::Kind::Camera => crate::camera::serve_camera(&stream, &h, &st),
        };
        // The descriptor closes with the last reference: take this one out of the list now.
        let _ = stream.shutdown(Shutdown::Both);
        lock(&h.conns).retain(|c| !Arc::ptr_eq(c, &stream));
    });
}

fn garbage(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes `bytes`, dripping them when asked. Returns false when the connection must close.
fn write_drip(mut s: &TcpStream, bytes: &[u8], drip: Option<Duration>) -> io::Result<()> {
    match drip {
        Some(d) => {
            for b in bytes {
                s.write_all(std::slice::from_ref(b))?;
                thread::sleep(d);
            }
            Ok(())
        }
        None => s.write_all(bytes),
    }
}

/// Longest a connection thread blocks in `read` before it looks at its idle deadline again
/// (a deadline changed through the control API takes effect within this). Shutdown does not
/// wait for it: [`SimServer::shutdown`] shuts every connection's socket, which ends the read.
/// (Waking every 50 ms instead cost a 10,000-printer farm 200,000 wake-ups a second.)
const READ_WAIT: Duration = Duration::from_secs(2);

/// Reads the next bytes of a connection. `Ok(None)`: the peer closed, the server stops, or the
/// connection reached `deadline()` (its idle drop) without a byte.
fn next_read(
    mut s: &TcpStream,
    buf: &mut [u8],
    stop: &AtomicBool,
    mut deadline: impl FnMut() -> Instant,
) -> io::Result<Option<usize>> {
    let mut short = false;
    let r = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(None);
        }
        let left = deadline().saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ok(None);
        }
        if left < READ_WAIT {
            s.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            short = true;
        }
        match s.read(buf) {
            Ok(0) => break Ok(None),
            Ok(n) => break Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => break Err(e),
        }
    };
    if short {
        s.set_read_timeout(Some(READ_WAIT))?;
    }
    r
}

/// An armed upload stall: how many more bytes a connection reads before it holds its reads.
/// `limit` is the most the next read may take; once the budget is spent the connection stops
/// reading (the socket stays open) until the faults are cleared, the server stops, or 2 min.
fn read_budget(
    budget: &mut Option<usize>,
    faults: &Faults,
    stop: &AtomicBool,
    limit: usize,
) -> usize {
    match budget {
        Some(0) => {
            faults.hold();
            let end = Instant::now() + Duration::from_secs(120);
            while faults.holding() && !stop.load(Ordering::SeqCst) && Instant::now() < end {
                thread::sleep(POLL);
            }
            *budget = None;
            limit
        }
        Some(n) => limit.min(*n),
        None => limit,
    }
}

fn serve_tcp(mut s: &TcpStream, h: &SimHandle, stop: &AtomicBool) -> io::Result<()> {
    s.set_read_timeout(Some(READ_WAIT))?;
    let id = CONN_IDS.fetch_add(1, Ordering::Relaxed);
    let mut session = TcpSession::new(id, Instant::now());
    let mut buf = vec![0u8; 64 * 1024];
    let mut budget = None;
    let result = loop {
        // The printer drops idle sessions.
        let limit = read_budget(&mut budget, &h.faults, stop, buf.len());
        let idle = || session.idle_deadline(&h.lock());
        let n = match next_read(s, &mut buf[..limit], stop, idle) {
            Ok(Some(n)) => n,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if let Some(b) = budget.as_mut() {
            *b -= n.min(*b);
        }
        let outputs: Vec<(Vec<u8>, String)> = {
            let mut p = h.lock();
            session.handle_bytes(&mut p, &buf[..n], Instant::now());
            std::iter::from_fn(|| session.poll_reply()).collect()
        };
        if budget.is_none() && session.uploading() {
            budget = h.faults.take_stall_upload_tcp();
        }
        let mut close = false;
        for (out, command) in outputs {
            match h.faults.next_tcp_for(&command) {
                None => s.write_all(&out)?,
                Some(TcpFault::Stall) => {}
                Some(TcpFault::Close) => close = true,
                Some(TcpFault::CloseMidReply) => {
                    s.write_all(&out[..out.len() / 2])?;
                    close = true;
                }
                Some(TcpFault::Drip(d)) => write_drip(s, &out, Some(d))?,
                Some(TcpFault::Garbage) => s.write_all(&garbage(256))?,
                Some(TcpFault::Oversize) => s.write_all(&vec![b'A'; 1 << 20])?,
                Some(TcpFault::Unsolicited) => {
                    s.write_all(b"echo: unsolicited line\nT0:25/0 B:25/0\n")?;
                    s.write_all(&out)?;
                }
                Some(TcpFault::ExtraOk) => {
                    s.write_all(&out)?;
                    s.write_all(b"ok\n")?;
                }
                // Armed for the next upload, never queued for a reply.
                Some(TcpFault::StallUpload(_)) => s.write_all(&out)?,
                Some(TcpFault::PauseAfter(n, pause)) => {
                    let (head, tail) = out.split_at(n.min(out.len()));
                    s.write_all(head)?;
                    s.flush()?;
                    thread::sleep(pause);
                    s.write_all(tail)?;
                }
            }
            if close {
                break;
            }
        }
        if close {
            break Ok(());
        }
    };
    session.closed();
    {
        // The firmware frees the control lock when its holder's connection goes away.
        let mut p = h.lock();
        if p.controller() == Some(id) {
            p.release_control();
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    result
}

fn serve_http(mut s: &TcpStream, h: &SimHandle, stop: &AtomicBool) -> io::Result<()> {
    s.set_read_timeout(Some(READ_WAIT))?;
    let mut session = HttpSession::new(h.faults.clone());
    let mut buf = vec![0u8; 64 * 1024];
    let mut last = Instant::now();
    let mut budget = None;
    let mut closed_after = false;
    let result = loop {
        let limit = read_budget(&mut budget, &h.faults, stop, buf.len());
        let idle = || last + Duration::from_secs(120);
        let n = match next_read(s, &mut buf[..limit], stop, idle) {
            Ok(Some(n)) => n,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        last = Instant::now();
        if let Some(b) = budget.as_mut() {
            *b -= n.min(*b);
        }
        let outputs: Vec<_> = {
            let mut p = h.lock();
            session.handle_bytes(&mut p, &buf[..n], last);
            std::iter::from_fn(|| session.poll_output()).collect()
        };
        if budget.is_none() && session.uploading() {
            budget = h.faults.take_stall_upload_http();
        }
        let mut close = false;
        for (out, fault) in outputs {
            match fault {
                None => s.write_all(&out)?,
                Some(HttpFault::Stall) => {}
                Some(HttpFault::Drip(d)) => write_drip(s, &out, Some(d))?,
                Some(HttpFault::CloseAfter) => {
                    s.write_all(&out)?;
                    closed_after = true;
                    close = true;
                }
                Some(_) => close = true,
            }
        }
        if close || session.wants_close() {
            break Ok(());
        }
    };
    let _ = s.shutdown(Shutdown::Both);
    if closed_after {
        h.faults.note_closed_after();
    }
    result
}

/// The discovery reply of a printer in its model's layout, advertising the given ports.
pub fn discovery_reply(
    p: &SimPrinter,
    command_port: u16,
    http_port: Option<u16>,
) -> DiscoveryReply {
    let status = match p.status {
        Status::Ready | Status::Completed | Status::Cancelled => 0,
        Status::Error => 2,
        _ => 1,
    };
    let reply = if p.spec.model.is_http() {
        DiscoveryReply::modern(&p.spec.name, &p.spec.serial, p.spec.product_id())
    } else {
        DiscoveryReply::legacy(&p.spec.name, p.spec.product_id())
    };
    reply
        .with_status(status)
        .with_ports(command_port, http_port.unwrap_or(8898))
        .with_lan_mode(p.spec.lan_only)
}
