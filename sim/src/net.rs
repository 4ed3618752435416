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
//!
//! # Shared sockets for a large farm
//!
//! Per-printer sockets cost about four descriptors a printer; where the process may not hold
//! that many (10,000 printers under a hard `RLIMIT_NOFILE` of 20,000), printers on loopback
//! addresses share one socket per port instead ([`Sockets::Shared`]): a wildcard socket bound
//! to the loopback device (`SO_BINDTODEVICE lo`, so nothing from another interface reaches
//! it). A connection goes to the printer whose address it was made to (`local_addr`); a
//! datagram to the printer named by its destination (`IP_PKTINFO`), every printer on that
//! port for a broadcast or multicast one, and the reply leaves from the printer's address.
//! The shared sockets are exclusive: another simulator cannot use those ports at the same
//! time.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashforge_proto::discovery::MULTICAST_GROUP;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{
    self as nixsock, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn,
};

use crate::printer::{PrinterSpec, STANDARD_CAMERA_PORT, STANDARD_HTTP_PORT, STANDARD_TCP_PORT};
use crate::server::{discovery_reply, lock, ServerConfig, SimHandle, Threads};

/// How often the poll thread looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// Descriptors kept free for connections, files and the rest of the process.
pub(crate) const SPARE_FDS: u64 = 256;

/// How a farm's printers hold their sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Sockets {
    /// Shared where per-printer sockets would not fit in the process's descriptor limit.
    #[default]
    Auto,
    /// Each printer its own sockets (several simulators can run side by side).
    PerPrinter,
    /// Printers on loopback addresses with fixed ports share one socket per port (see the
    /// module docs); the others keep their own.
    Shared,
}

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
    /// Served through the farm's shared sockets instead (the plan's addresses).
    pub(crate) shared: Option<Plan>,
}

fn port(base: u16, i: usize) -> u16 {
    if base == 0 {
        0
    } else {
        base.wrapping_add(i as u16)
    }
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
        camera: crate::printer::has_camera(model).then_some(camera),
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

/// Descriptors of the connections a polled farm holds: one per TCP and HTTP server (a
/// client's kept-alive HTTP connection and its TCP session). Shared sockets are chosen when
/// these would not fit beside the per-printer listeners: a farm that binds but cannot accept
/// its clients (the 5,000th printer's connection waiting in the backlog) is no farm.
pub(crate) fn connection_room(plans: &[Plan]) -> u64 {
    plans
        .iter()
        .map(|p| u64::from(p.tcp.is_some()) + u64::from(p.http.is_some()))
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

/// Can this printer use the shared sockets? On a loopback address with fixed ports.
pub(crate) fn shareable(plan: &Plan) -> bool {
    plan.ip.is_loopback()
        && plan.ip.is_ipv4()
        && [plan.tcp, plan.http, plan.camera]
            .iter()
            .flatten()
            .chain(&plan.discovery)
            .all(|&p| p != 0)
}

/// Binds the sockets of one printer (none when it is served by the shared sockets).
pub(crate) fn bind(
    spec: &PrinterSpec,
    plan: &Plan,
    index: usize,
    fd_need: u64,
    shared: bool,
) -> io::Result<Bound> {
    if shared {
        return Ok(Bound {
            tcp: None,
            http: None,
            camera: None,
            udp: Vec::new(),
            groups: Vec::new(),
            shared: Some(plan.clone()),
        });
    }
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
        shared: None,
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
    /// The farm's TCP socket for one port: connections go by their local address.
    SharedListener {
        sock: TcpListener,
    },
    /// The farm's UDP socket for one port: datagrams go by their destination.
    SharedUdp {
        sock: UdpSocket,
        port: u16,
    },
}

/// Who the shared sockets serve.
#[derive(Default)]
struct SharedMap {
    /// (printer address, port) → printer and what it serves there.
    tcp: HashMap<SocketAddr, (usize, Kind)>,
    /// (printer address, discovery port) → printer.
    udp: HashMap<SocketAddr, usize>,
    /// Port → printers answering broadcasts there / multicasts there.
    broadcast: HashMap<u16, Vec<usize>>,
    multicast: HashMap<u16, Vec<usize>>,
}

/// A wildcard socket on the loopback device only, shared with nothing else.
fn loopback_socket(ty: socket2::Type, port: u16) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket};
    let s = Socket::new(Domain::IPV4, ty, None)?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(b"lo"))?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn shared_tcp(port: u16) -> io::Result<TcpListener> {
    let s = loopback_socket(socket2::Type::STREAM, port)
        .map_err(|e| context(e, format!("the farm's shared TCP port {port}"), 0))?;
    s.listen(1024)?;
    Ok(s.into())
}

fn shared_udp(port: u16, multicast: bool) -> io::Result<UdpSocket> {
    let s = loopback_socket(socket2::Type::DGRAM, port)
        .map_err(|e| context(e, format!("the farm's shared discovery port {port}"), 0))?;
    let s: UdpSocket = s.into();
    nixsock::setsockopt(&s, nixsock::sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
    if multicast {
        // Best effort, as for per-printer receivers: unicast and broadcast still work.
        let _ = s.join_multicast_v4(&MULTICAST_GROUP, &Ipv4Addr::LOCALHOST);
    }
    Ok(s)
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
    let mut map = SharedMap::default();
    for (i, (b, handle)) in bound.into_iter().enumerate() {
        if let Some(plan) = &b.shared {
            let model = handle.lock().spec.model.spec();
            for (port, kind) in [
                (plan.tcp, Kind::Tcp),
                (plan.http, Kind::Http),
                (plan.camera, Kind::Camera),
            ] {
                if let Some(port) = port {
                    map.tcp.insert(SocketAddr::new(plan.ip, port), (i, kind));
                }
            }
            for &port in &plan.discovery {
                map.udp.insert(SocketAddr::new(plan.ip, port), i);
                if model.discovery_ports.contains(&port) {
                    map.broadcast.entry(port).or_default().push(i);
                }
                if model.multicast_ports.contains(&port) {
                    map.multicast.entry(port).or_default().push(i);
                }
            }
            served.push(Served {
                handle,
                udp: Vec::new(),
            });
            continue;
        }
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
    let mut ports: Vec<u16> = map.tcp.keys().map(SocketAddr::port).collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        entries.push(Entry::SharedListener {
            sock: shared_tcp(port)?,
        });
    }
    let mut ports: Vec<u16> = map.udp.keys().map(SocketAddr::port).collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        entries.push(Entry::SharedUdp {
            sock: shared_udp(port, map.multicast.contains_key(&port))?,
            port,
        });
    }
    for (t, e) in entries.iter().enumerate() {
        let fd = match e {
            Entry::SharedListener { sock } => sock.as_raw_fd(),
            Entry::SharedUdp { sock, .. } => sock.as_raw_fd(),
            Entry::Listener { sock, .. } => sock.as_raw_fd(),
            Entry::Group { sock, .. } => sock.as_raw_fd(),
            Entry::Unicast { printer, slot } => served[*printer].udp[*slot].1.as_raw_fd(),
        };
        poll.registry()
            .register(&mut SourceFd(&fd), Token(t), Interest::READABLE)?;
    }
    crate::server::spawn(threads, "sim-poll".to_owned(), 256 * 1024, move || {
        run(poll, &entries, &served, &map, &stop, &accept);
    })
}

/// How much one socket gets per turn of the poll loop (datagrams or connections): a flood on
/// one socket cannot starve the others; what is left is served on the next turn.
const TURN: usize = 64;

/// What serving a socket for one turn left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    /// Read until it would block: wait for its next readiness event.
    Nothing,
    /// The turn ended with more waiting: serve it again at once (edge-triggered, no new
    /// event would come for what is already queued).
    More,
    /// Accepting failed (out of descriptors): try again on a later turn, not at once.
    Retry,
}

fn run(
    mut poll: Poll,
    entries: &[Entry],
    served: &[Served],
    map: &SharedMap,
    stop: &AtomicBool,
    accept: &Accept,
) {
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    // Sockets to serve again without waiting for an event, and after the next wait.
    let mut more: Vec<usize> = Vec::new();
    let mut retry: Vec<usize> = Vec::new();
    let mut turn: Vec<usize> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let wait = if more.is_empty() {
            POLL
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        turn.clear();
        turn.extend(events.iter().map(|ev| ev.token().0));
        turn.append(&mut more);
        turn.append(&mut retry);
        turn.sort_unstable();
        turn.dedup();
        for &t in &turn {
            let Some(entry) = entries.get(t) else {
                continue;
            };
            match serve_entry(entry, served, map, accept, &mut buf) {
                Left::Nothing => {}
                Left::More => more.push(t),
                Left::Retry => retry.push(t),
            }
        }
    }
}

/// Serves one ready socket for one turn.
fn serve_entry(
    entry: &Entry,
    served: &[Served],
    map: &SharedMap,
    accept: &Accept,
    buf: &mut [u8],
) -> Left {
    // A datagram read: `None` when the socket would block. Other errors (an ICMP error
    // queued by an earlier reply) are consumed by the read and the loop goes on.
    fn recv(sock: &UdpSocket, buf: &mut [u8]) -> Option<Option<SocketAddr>> {
        match sock.recv_from(buf) {
            Ok((_, from)) => Some(Some(from)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(_) => Some(None),
        }
    }
    for _ in 0..TURN {
        match entry {
            Entry::Listener {
                sock,
                printer,
                kind,
            } => match sock.accept() {
                Ok((s, _)) => accept(s, &served[*printer].handle, *kind),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Left::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Out of descriptors: the connection waits in the backlog for a later turn.
                Err(_) => return Left::Retry,
            },
            Entry::Unicast { printer, slot } => {
                let p = &served[*printer];
                let sock = &p.udp[*slot].1;
                match recv(sock, buf) {
                    None => return Left::Nothing,
                    Some(Some(from)) => answer(p, &Reply::Own(sock), from),
                    Some(None) => {}
                }
            }
            Entry::SharedListener { sock } => match sock.accept() {
                Ok((s, _)) => {
                    // To an address without a printer: refused by closing.
                    let to = s.local_addr().ok().and_then(|a| map.tcp.get(&a));
                    if let Some(&(printer, kind)) = to {
                        accept(s, &served[printer].handle, kind);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Left::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Left::Retry,
            },
            Entry::SharedUdp { sock, port } => {
                let Some(got) = recv_with_destination(sock, buf) else {
                    return Left::Nothing;
                };
                let Some((from, Some(to))) = got else {
                    continue;
                };
                let unicast = map.udp.get(&SocketAddr::new(to.into(), *port));
                let targets: &[usize] = match unicast {
                    Some(i) => std::slice::from_ref(i),
                    None if to == MULTICAST_GROUP => {
                        map.multicast.get(port).map_or(&[], Vec::as_slice)
                    }
                    None if to == Ipv4Addr::BROADCAST
                        || to == Ipv4Addr::new(127, 255, 255, 255) =>
                    {
                        map.broadcast.get(port).map_or(&[], Vec::as_slice)
                    }
                    None => &[],
                };
                for &i in targets {
                    let p = &served[i];
                    let IpAddr::V4(ip) = p.handle.udp.ip() else {
                        continue;
                    };
                    answer(p, &Reply::Shared(sock, ip), SocketAddr::V4(from));
                }
            }
            Entry::Group {
                sock,
                port,
                printers,
            } => match recv(sock, buf) {
                None => return Left::Nothing,
                Some(None) => {}
                Some(Some(from)) => {
                    for &i in printers {
                        let p = &served[i];
                        // From the printer's own socket for this port (its first if it has
                        // none there), so the reply's source is the printer.
                        let own = p
                            .udp
                            .iter()
                            .find(|(q, _)| q == port)
                            .or(p.udp.first())
                            .map(|(_, s)| s);
                        if let Some(s) = own {
                            answer(p, &Reply::Own(s), from);
                        }
                    }
                }
            },
        }
    }
    Left::More
}

/// One datagram of a shared socket: its source and, from `IP_PKTINFO`, its destination.
/// `None` when nothing more is waiting; `Some(None)` for a read that gave nothing to answer
/// (an error, such as an ICMP error an earlier reply caused, which the read consumes).
fn recv_with_destination(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> Option<Option<(SocketAddrV4, Option<Ipv4Addr>)>> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo);
    let msg = match nixsock::recvmsg::<SockaddrIn>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(msg) => msg,
        Err(nix::errno::Errno::EAGAIN) => return None,
        Err(_) => return Some(None),
    };
    let Some(from) = msg.address.map(|a| SocketAddrV4::new(a.ip(), a.port())) else {
        return Some(None);
    };
    let to = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|c| match c {
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)))
            }
            _ => None,
        })
    });
    Some(Some((from, to)))
}

/// Where a reply leaves from.
enum Reply<'a> {
    /// The printer's own socket.
    Own(&'a UdpSocket),
    /// A shared socket, with the printer's address as the source.
    Shared(&'a UdpSocket, Ipv4Addr),
}

/// Answers one probe from `from` with the printer's discovery reply.
fn answer(p: &Served, via: &Reply<'_>, from: SocketAddr) {
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
    let bytes = reply.encode();
    match *via {
        Reply::Own(sock) => {
            let _ = sock.send_to(&bytes, from);
        }
        Reply::Shared(sock, source) => {
            let SocketAddr::V4(to) = from else { return };
            let info = nix::libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: nix::libc::in_addr {
                    s_addr: u32::from(source).to_be(),
                },
                ipi_addr: nix::libc::in_addr { s_addr: 0 },
            };
            let _ = nixsock::sendmsg(
                sock.as_raw_fd(),
                &[io::IoSlice::new(&bytes)],
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::MSG_DONTWAIT,
                Some(&SockaddrIn::from(to)),
            );
        }
    }
}
