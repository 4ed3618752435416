//! Sockets of a farm: what each printer binds (its [`Placement`]), the discovery receivers
//! printers share, and the one poll thread that accepts connections and answers probes for
//! every printer, so an idle printer costs its sockets and its state, no thread.
//!
//! # Discovery like a LAN printer
//!
//! A printer answers unicast probes on each of its discovery ports from a socket bound to its
//! own address (`IP:48899`, ...), so the reply's source is the printer's address and port, as
//! a client checks. Broadcast and multicast probes reach sockets bound to the destination
//! (`255.255.255.255:P`, `127.255.255.255:P`, `225.0.0.9:P`, with `SO_REUSEADDR` so several
//! printers and several simulators share them); each printer subscribed to that receiver
//! answers from its own unicast socket for `P`. No socket is bound to the wildcard address, so
//! a simulator on loopback is never reachable from the LAN, and the group is joined on the
//! loopback interface only (no IGMP report leaves the host).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashforge_proto::discovery::MULTICAST_GROUP;
use flashforge_proto::Model;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::printer::{PrinterSpec, STANDARD_CAMERA_PORT, STANDARD_HTTP_PORT, STANDARD_TCP_PORT};
use crate::server::{discovery_reply, lock, ServerConfig, SimHandle, Threads};

/// How often the poll thread looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// Descriptors kept free for connections, files and the rest of the process.
const SPARE_FDS: u64 = 256;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tcp,
    Http,
    Camera,
}

/// The sockets of one printer, bound and not yet served.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) tcp: Option<TcpListener>,
    pub(crate) http: Option<TcpListener>,
    pub(crate) camera: Option<TcpListener>,
    /// One socket per discovery port, bound to the printer's address.
    pub(crate) udp: Vec<UdpSocket>,
    /// Receivers of broadcast and multicast probes this printer answers:
    /// (destination address, port).
    pub(crate) groups: Vec<SocketAddrV4>,
}

fn port(base: u16, i: usize) -> u16 {
    if base == 0 {
        0
    } else {
        base.wrapping_add(i as u16)
    }
}

/// Does `model` serve a camera stream?
pub(crate) fn has_camera(model: Model) -> bool {
    model.capabilities().camera
}

/// The address and ports printer `i` of a farm listens on: its own address with the standard
/// ports, or the server's address and port bases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) ip: IpAddr,
    pub(crate) tcp: Option<u16>,
    pub(crate) http: Option<u16>,
    pub(crate) camera: Option<u16>,
    pub(crate) discovery: Vec<u16>,
}

pub(crate) fn plan(spec: &PrinterSpec, cfg: &ServerConfig, i: usize) -> Plan {
    let model = spec.model;
    let net = &spec.net;
    let (ip, tcp, http, camera, discovery) = match net.bind {
        Some(ip) => (
            ip,
            net.tcp_port.unwrap_or(STANDARD_TCP_PORT),
            net.http_port.unwrap_or(STANDARD_HTTP_PORT),
            net.camera_port.unwrap_or(STANDARD_CAMERA_PORT),
            net.discovery_ports
                .clone()
                .unwrap_or_else(|| model.spec().discovery_ports.to_vec()),
        ),
        None => (
            cfg.ip,
            net.tcp_port.unwrap_or(port(cfg.tcp_port, i)),
            net.http_port.unwrap_or(port(cfg.http_port, i)),
            net.camera_port.unwrap_or(port(cfg.camera_port, i)),
            net.discovery_ports
                .clone()
                .unwrap_or_else(|| vec![port(cfg.udp_port, i)]),
        ),
    };
    Plan {
        ip,
        tcp: model.has_tcp().then_some(tcp),
        http: model.is_http().then_some(http),
        camera: has_camera(model).then_some(camera),
        discovery,
    }
}

/// How many descriptors a farm of these plans holds while idle.
pub(crate) fn descriptors(plans: &[Plan]) -> u64 {
    plans
        .iter()
        .map(|p| {
            u64::from(p.tcp.is_some())
                + u64::from(p.http.is_some())
                + u64::from(p.camera.is_some())
                + p.discovery.len() as u64
        })
        .sum()
}

/// Makes room for `needed` descriptors: raises the soft `RLIMIT_NOFILE` up to the hard one and,
/// where the process may (root), the hard one too. Returns the soft limit now in force.
///
/// [`crate::SimServer::start`] calls it before binding a farm; it only ever raises the limit.
pub fn raise_fd_limit(needed: u64) -> io::Result<u64> {
    let want = needed + SPARE_FDS;
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if soft >= want {
        return Ok(soft);
    }
    if hard < want && rlimit::setrlimit(rlimit::Resource::NOFILE, want, want).is_ok() {
        return Ok(want);
    }
    let soft = want.min(hard);
    rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard)?;
    Ok(soft)
}

fn context(e: io::Error, what: String, fd_need: u64) -> io::Error {
    let hint = if e.raw_os_error() == Some(24) {
        let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |l| l.0);
        format!(
            " (the farm needs about {} descriptors, the limit is {soft}: raise `ulimit -n`, \
             or run as root)",
            fd_need + SPARE_FDS
        )
    } else if e.kind() == io::ErrorKind::AddrInUse {
        " (another printer or program has it: give this printer its own address or other ports)"
            .to_owned()
    } else if e.kind() == io::ErrorKind::AddrNotAvailable {
        " (not an address of this host: on Linux all of 127.0.0.0/8 is)".to_owned()
    } else {
        String::new()
    };
    io::Error::new(e.kind(), format!("{what}: {e}{hint}"))
}

/// Binds the sockets of one printer.
pub(crate) fn bind(
    spec: &PrinterSpec,
    plan: &Plan,
    index: usize,
    fd_need: u64,
) -> io::Result<Bound> {
    let who = format!("printer {index} ({} {:?})", spec.model.name(), spec.name);
    let tcp_listener = |port: u16, what: &str| -> io::Result<TcpListener> {
        let l = TcpListener::bind((plan.ip, port)).map_err(|e| {
            context(
                e,
                format!("{who}: {what} {}", SocketAddr::new(plan.ip, port)),
                fd_need,
            )
        })?;
        l.set_nonblocking(true)?;
        Ok(l)
    };
    let tcp = plan.tcp.map(|p| tcp_listener(p, "TCP")).transpose()?;
    let http = plan.http.map(|p| tcp_listener(p, "HTTP")).transpose()?;
    let camera = plan.camera.map(|p| tcp_listener(p, "camera")).transpose()?;
    let mut udp = Vec::with_capacity(plan.discovery.len());
    for &p in &plan.discovery {
        let addr = SocketAddr::new(plan.ip, p);
        let s = UdpSocket::bind(addr)
            .map_err(|e| context(e, format!("{who}: discovery UDP {addr}"), fd_need))?;
        s.set_nonblocking(true)?;
        udp.push(s);
    }
    // Broadcast and multicast receivers on the ports where the model answers them.
    let mut groups = Vec::new();
    if let IpAddr::V4(ip) = plan.ip {
        let model = spec.model.spec();
        for &p in &plan.discovery {
            if !model.discovery_ports.contains(&p) {
                continue;
            }
            groups.push(SocketAddrV4::new(Ipv4Addr::BROADCAST, p));
            if ip.is_loopback() {
                groups.push(SocketAddrV4::new(Ipv4Addr::new(127, 255, 255, 255), p));
            }
            if model.multicast_ports.contains(&p) {
                groups.push(SocketAddrV4::new(MULTICAST_GROUP, p));
            }
        }
    }
    Ok(Bound {
        tcp,
        http,
        camera,
        udp,
        groups,
    })
}

/// A socket bound to a broadcast or multicast destination, shared with other printers and
/// processes (`SO_REUSEADDR`). `None` where the host refuses (no route, no such address):
/// unicast discovery still works.
fn group_socket(at: SocketAddrV4, member_on: Ipv4Addr) -> Option<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).ok()?;
    s.set_reuse_address(true).ok()?;
    s.bind(&SocketAddr::V4(at).into()).ok()?;
    let s: UdpSocket = s.into();
    if at.ip().is_multicast() {
        // On the printers' interface only: loopback for a loopback farm.
        s.join_multicast_v4(at.ip(), &member_on).ok()?;
    }
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// A registered socket.
enum Entry {
    Listener {
        sock: TcpListener,
        printer: usize,
        kind: Kind,
    },
    Unicast {
        printer: usize,
        slot: usize,
    },
    Group {
        sock: UdpSocket,
        port: u16,
        /// Printers answering probes that arrive here.
        printers: Vec<usize>,
    },
}

/// A printer as the poll thread sees it.
pub(crate) struct Served {
    pub(crate) handle: SimHandle,
    /// Its discovery sockets, by port.
    pub(crate) udp: Vec<(u16, UdpSocket)>,
}

/// What the poll thread does with an accepted connection.
pub(crate) type Accept = Arc<dyn Fn(std::net::TcpStream, &SimHandle, Kind) + Send + Sync>;

/// Registers every socket and starts the poll thread.
pub(crate) fn serve(
    bound: Vec<(Bound, SimHandle)>,
    stop: Arc<AtomicBool>,
    threads: &Threads,
    accept: Accept,
) -> io::Result<()> {
    let poll = Poll::new()?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut served: Vec<Served> = Vec::with_capacity(bound.len());
    let mut groups: HashMap<SocketAddrV4, usize> = HashMap::new();
    for (i, (b, handle)) in bound.into_iter().enumerate() {
        let member_on = match handle.udp.ip() {
            IpAddr::V4(ip) if !ip.is_loopback() => ip,
            _ => Ipv4Addr::LOCALHOST,
        };
        for (sock, kind) in [
            (b.tcp, Kind::Tcp),
            (b.http, Kind::Http),
            (b.camera, Kind::Camera),
        ] {
            if let Some(sock) = sock {
                entries.push(Entry::Listener {
                    sock,
                    printer: i,
                    kind,
                });
            }
        }
        let mut udp = Vec::with_capacity(b.udp.len());
        for (slot, s) in b.udp.into_iter().enumerate() {
            let port = s.local_addr()?.port();
            entries.push(Entry::Unicast { printer: i, slot });
            udp.push((port, s));
        }
        for g in b.groups {
            let at = match groups.get(&g) {
                Some(&at) => at,
                None => {
                    let Some(sock) = group_socket(g, member_on) else {
                        continue;
                    };
                    entries.push(Entry::Group {
                        sock,
                        port: g.port(),
                        printers: Vec::new(),
                    });
                    groups.insert(g, entries.len() - 1);
                    entries.len() - 1
                }
            };
            if let Entry::Group { printers, .. } = &mut entries[at] {
                printers.push(i);
            }
        }
        served.push(Served { handle, udp });
    }
    for (t, e) in entries.iter().enumerate() {
        let fd = match e {
            Entry::Listener { sock, .. } => sock.as_raw_fd(),
            Entry::Group { sock, .. } => sock.as_raw_fd(),
            Entry::Unicast { printer, slot } => served[*printer].udp[*slot].1.as_raw_fd(),
        };
        poll.registry()
            .register(&mut SourceFd(&fd), Token(t), Interest::READABLE)?;
    }
    crate::server::spawn(threads, "sim-poll".to_owned(), 256 * 1024, move || {
        run(poll, &entries, &served, &stop, &accept);
    })
}

fn run(mut poll: Poll, entries: &[Entry], served: &[Served], stop: &AtomicBool, accept: &Accept) {
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = poll.poll(&mut events, Some(POLL)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for ev in &events {
            let Some(entry) = entries.get(ev.token().0) else {
                continue;
            };
            // Edge-triggered: drain each socket until it would block.
            match entry {
                Entry::Listener {
                    sock,
                    printer,
                    kind,
                } => loop {
                    match sock.accept() {
                        Ok((s, _)) => accept(s, &served[*printer].handle, *kind),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // Out of descriptors or a connection reset before accept: next event.
                        Err(_) => break,
                    }
                },
                Entry::Unicast { printer, slot } => {
                    let p = &served[*printer];
                    let sock = &p.udp[*slot].1;
                    while let Ok((_, from)) = sock.recv_from(&mut buf) {
                        answer(p, sock, from);
                    }
                }
                Entry::Group {
                    sock,
                    port,
                    printers,
                } => {
                    while let Ok((_, from)) = sock.recv_from(&mut buf) {
                        for &i in printers {
                            let p = &served[i];
                            // From the printer's own socket for this port (its first if it
                            // has none there), so the reply's source is the printer.
                            let own = p
                                .udp
                                .iter()
                                .find(|(q, _)| q == port)
                                .or(p.udp.first())
                                .map(|(_, s)| s);
                            if let Some(s) = own {
                                answer(p, s, from);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Answers one probe from `from` with the printer's discovery reply.
fn answer(p: &Served, sock: &UdpSocket, from: SocketAddr) {
    let h = &p.handle;
    if h.faults.udp_dropped() {
        return;
    }
    let reply = {
        let mut printer = lock(&h.printer);
        printer.advance(Instant::now());
        discovery_reply(
            &printer,
            h.tcp.map_or(STANDARD_TCP_PORT, |a| a.port()),
            h.http.map(|a| a.port()),
        )
    };
    let _ = sock.send_to(&reply.encode(), from);
}
