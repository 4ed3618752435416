//! UDP discovery: probe packets, reply parsing and the [`Discovery`] state machine
//! (`protocol/discovery.md`).
//!
//! FlashForge printers answer a UDP probe with one fixed-layout datagram: 276 bytes for the
//! modern family (5M, 5M Pro, AD5X, Creator 5, Creator 5 Pro) and 140 bytes for the Adventurer 3
//! and 4. Everything here is bytes in, bytes out: the caller owns the socket, sends each
//! [`Transmit`] that [`Discovery::poll_transmit`] yields, hands every received datagram to
//! [`Discovery::handle_datagram`] and wakes up at [`Discovery::poll_timeout`].
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use std::time::{Duration, Instant};
//! use flashforge_proto::discovery::{
//!     unicast_destinations, Discovery, DiscoveryConfig, DiscoveryEvent, DiscoveryReply, DEFAULT_PORTS,
//! };
//! use flashforge_proto::Model;
//!
//! let start = Instant::now();
//! let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
//! let mut d = Discovery::new(DiscoveryConfig::default(), unicast_destinations(loopback, &DEFAULT_PORTS), start);
//! let mut sent = 0;
//! while let Some(t) = d.poll_transmit() {
//!     assert_eq!(t.destination.ip(), loopback);
//!     sent += 1; // socket.send_to(t.payload, t.destination)
//! }
//! assert_eq!(sent, 6); // the vendor probe and the empty probe, to three ports
//!
//! // A printer answers (here: a reply built by the simulator side of the codec).
//! let reply = DiscoveryReply::modern("AD5X", "SN1", 38);
//! let from = SocketAddr::new(loopback, 48899);
//! d.handle_datagram(from, &reply.encode(), start + Duration::from_millis(3)).unwrap();
//! assert_eq!(d.poll_event(), Some(DiscoveryEvent::AttemptStarted { attempt: 1 }));
//! let Some(DiscoveryEvent::Found(p)) = d.poll_event() else { panic!("no printer") };
//! assert_eq!(p.reply.model, Model::AD5X);
//! assert_eq!(p.http_addr(), Some(SocketAddr::new(loopback, 8898)));
//!
//! // No more replies: the attempt ends after the idle timeout, and a printer was found.
//! d.handle_timeout(d.poll_timeout().unwrap());
//! assert!(d.is_finished());
//! ```

pub(crate) mod reply;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

pub use reply::{
    DiscoveryError, DiscoveryReply, PortField, PrinterStatus, ReplyFormat, TextField, MAX_REPLY_LEN,
};

/// The 20-byte probe of the vendor software (`www.usr"e6`, `0xC0`, nine NULs).
pub const FLASHPRINT_PROBE: [u8; 20] = *b"www.usr\"e6\xC0\0\0\0\0\0\0\0\0\0";
/// The probe the current Python and TypeScript clients send: an empty datagram.
pub const EMPTY_PROBE: [u8; 0] = [];
/// The multicast group printers join.
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(225, 0, 0, 9);
/// Multicast TTL the reference design uses (set it on the socket).
pub const MULTICAST_TTL: u32 = 2;
/// Discovery ports: 8899 (Adventurer 3, multicast), 19000 (modern + A4, multicast), 48899
/// (modern, broadcast).
pub const DEFAULT_PORTS: [u16; 3] = [8899, 19000, 48899];
/// Directed-broadcast addresses to try when the interfaces cannot be listed (py's fallback).
pub const FALLBACK_BROADCASTS: [Ipv4Addr; 3] = [
    Ipv4Addr::BROADCAST,
    Ipv4Addr::new(192, 168, 1, 255),
    Ipv4Addr::new(192, 168, 0, 255),
];
/// A probe packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// The 20-byte vendor probe ([`FLASHPRINT_PROBE`]).
    FlashPrint,
    /// A zero-length datagram.
    Empty,
}

impl Probe {
    /// The bytes of the probe.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Self::FlashPrint => &FLASHPRINT_PROBE,
            Self::Empty => &EMPTY_PROBE,
        }
    }

    /// Classifies a received probe. Printers answer any datagram, so this is informational:
    /// `None` means "some other payload".
    pub fn classify(data: &[u8]) -> Option<Self> {
        match data {
            [] => Some(Self::Empty),
            d if d == FLASHPRINT_PROBE => Some(Self::FlashPrint),
            _ => None,
        }
    }
}

/// How a destination reaches printers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// The multicast group [`MULTICAST_GROUP`] (set [`MULTICAST_TTL`]).
    Multicast,
    /// An interface's directed broadcast (`ip | !netmask`).
    DirectedBroadcast,
    /// `255.255.255.255`.
    Broadcast,
    /// One address (a known printer, or `127.0.0.1` for a simulator).
    Unicast,
}

/// One place a probe goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Address and port.
    pub addr: SocketAddr,
    /// What kind of address it is (multicast and broadcast need socket options).
    pub kind: DestinationKind,
}

/// The directed-broadcast address of an interface: `ip | !netmask`.
pub fn directed_broadcast(ip: Ipv4Addr, netmask: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) | !u32::from(netmask))
}

/// The LAN destinations of discovery.md §2: multicast to 8899/19000 (of `ports`), each
/// directed broadcast to 48899, and `255.255.255.255` on every port. Pass the directed
/// broadcasts of the non-loopback IPv4 interfaces (or [`FALLBACK_BROADCASTS`]).
pub fn lan_destinations(
    ports: &[u16],
    directed: &[Ipv4Addr],
    multicast: bool,
    broadcast: bool,
) -> Vec<Destination> {
    let mut out = Vec::new();
    let mut push = |ip: Ipv4Addr, port: u16, kind| {
        let d = Destination {
            addr: SocketAddr::V4(SocketAddrV4::new(ip, port)),
            kind,
        };
        if !out.contains(&d) {
            out.push(d);
        }
    };
    if multicast {
        for &p in ports.iter().filter(|&&p| p == 8899 || p == 19000) {
            push(MULTICAST_GROUP, p, DestinationKind::Multicast);
        }
    }
    if broadcast {
        if ports.contains(&48899) {
            for &ip in directed.iter().filter(|ip| !ip.is_broadcast()) {
                push(ip, 48899, DestinationKind::DirectedBroadcast);
            }
        }
        for &p in ports {
            push(Ipv4Addr::BROADCAST, p, DestinationKind::Broadcast);
        }
    }
    out
}

/// Unicast probes to one address on every port (a known printer, or a simulator on loopback).
pub fn unicast_destinations(ip: IpAddr, ports: &[u16]) -> Vec<Destination> {
    ports
        .iter()
        .map(|&p| Destination {
            addr: SocketAddr::new(ip, p),
            kind: DestinationKind::Unicast,
        })
        .collect()
}

/// One-shot search or continuous monitoring (discovery.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// Up to `max_retries` attempts; stop after the first attempt that found a printer.
    OneShot,
    /// Resend the probes every `timeout`; stop after `timeout × max_retries`, or after
    /// `idle_timeout` of silence once a printer was seen.
    Monitor,
}

/// Discovery settings. Defaults are the reference clients' (discovery.md §7).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// Longest length of one attempt (10 s).
    pub timeout: Duration,
    /// An attempt ends after this long without any datagram, counted from the send (1.5 s).
    pub idle_timeout: Duration,
    /// Attempts (3).
    pub max_retries: u32,
    /// Pause between attempts (1 s).
    pub retry_delay: Duration,
    /// Probes sent to every destination, in order (the vendor probe, then the empty one).
    pub probes: Vec<Probe>,
    /// At most this many printers are kept; more are rejected (256), counted in
    /// [`DiscoveryStats::over_limit`] and reported once by [`DiscoveryEvent::LimitReached`].
    pub max_printers: usize,
    /// One-shot or monitor.
    pub mode: DiscoveryMode,
    /// The length of the whole search, pauses included (`None`: the attempts and pauses
    /// decide). When set, nothing runs past `start + total_timeout`: [`Discovery::poll_timeout`]
    /// never asks to wake up later and discovery finishes there at the latest. Attempts repeat
    /// until then ([`DiscoveryConfig::max_retries`] no longer ends a one-shot search early), so a
    /// search that finds nothing lasts exactly this long; a one-shot search that found printers
    /// still ends when its attempt goes idle.
    pub total_timeout: Option<Duration>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_millis(1500),
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            probes: vec![Probe::FlashPrint, Probe::Empty],
            max_printers: 256,
            mode: DiscoveryMode::OneShot,
            total_timeout: None,
        }
    }
}

/// A printer found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPrinter {
    /// The source address of the reply (never taken from the payload).
    pub ip: IpAddr,
    /// The parsed reply.
    pub reply: DiscoveryReply,
}

impl DiscoveredPrinter {
    /// The TCP command address (Adventurer 3/4/5M family; the Creator 5 reports 8899 but has
    /// no TCP server).
    pub fn command_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.reply.command_port)
    }

    /// The HTTP API address (modern replies only).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.reply.event_port.map(|p| SocketAddr::new(self.ip, p))
    }

    /// The reference clients' key is `<source ip>:<command_port>`. Two printers behind one
    /// address (simulators on loopback, NAT) are still told apart by their serial numbers; a
    /// reply without a serial (legacy) matches any record of that address.
    fn same_printer(&self, other: &Self) -> bool {
        self.ip == other.ip
            && self.reply.command_port == other.reply.command_port
            && match (&self.reply.serial_number, &other.reply.serial_number) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// One probe to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub destination: SocketAddr,
    /// How the destination is reached (set broadcast/multicast options accordingly).
    pub kind: DestinationKind,
    /// The datagram.
    pub payload: &'static [u8],
}

/// What discovery reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryEvent {
    /// A new attempt begins (the reference clients use a fresh socket per attempt; optional).
    AttemptStarted {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// A printer answered for the first time.
    Found(DiscoveredPrinter),
    /// A known printer's record changed (status, or a modern reply replacing a legacy one).
    Updated(DiscoveredPrinter),
    /// A new printer answered but [`DiscoveryConfig::max_printers`] were already kept: the
    /// list is truncated (reported once; every further one is counted in
    /// [`DiscoveryStats::over_limit`]).
    LimitReached {
        /// [`DiscoveryConfig::max_printers`].
        max: usize,
    },
    /// Discovery is over.
    Finished {
        /// Printers found in total.
        printers: usize,
    },
}

/// Why a datagram did not become a printer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// Not a discovery reply.
    #[error("not a discovery reply from {from}: {error}")]
    Malformed {
        /// Who sent it.
        from: SocketAddr,
        /// Why.
        error: DiscoveryError,
    },
    /// Not an answer to one of this search's probes: from an address that was not probed by
    /// unicast, or from a port printers do not answer from. Dropped without touching the idle
    /// timer.
    #[error("datagram from {from} dropped: {reason}")]
    Unsolicited {
        /// Who sent it.
        from: SocketAddr,
        /// Why it is not an answer.
        reason: UnsolicitedReason,
    },
    /// The printer bound is reached.
    #[error("printer from {from} ignored: already {max} printers")]
    TooManyPrinters {
        /// Who sent it.
        from: SocketAddr,
        /// [`DiscoveryConfig::max_printers`].
        max: usize,
    },
}

/// Why a datagram is not an answer to a probe (see [`Discovery::handle_datagram`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsolicitedReason {
    /// The source address cannot be a printer (unspecified, multicast or broadcast).
    BadSource,
    /// Only unicast destinations were probed and the source is none of them.
    NotProbed,
    /// The source port is neither a probed port of that address nor a documented printer port
    /// ([`DEFAULT_PORTS`]).
    WrongPort,
}

impl std::fmt::Display for UnsolicitedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BadSource => "the source address cannot be a printer",
            Self::NotProbed => "no probe went to that address",
            Self::WrongPort => "not from a probed port or a printer discovery port",
        })
    }
}

/// Counters of one discovery run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryStats {
    /// Probes handed out by [`Discovery::poll_transmit`].
    pub probes_sent: u64,
    /// Datagrams received.
    pub datagrams: u64,
    /// Datagrams that were not replies or exceeded the printer bound.
    pub rejected: u64,
    /// Duplicate replies (same printer, same record).
    pub duplicates: u64,
    /// Datagrams that do not answer one of this search's probes (wrong source address or
    /// port; [`DatagramError::Unsolicited`]): dropped, not parsed, not counted in `rejected`.
    pub unsolicited: u64,
    /// New printers dropped because [`DiscoveryConfig::max_printers`] were already kept (also
    /// counted in `rejected`).
    pub over_limit: u64,
    /// True once a printer was dropped for the bound: the list is incomplete.
    pub truncated: bool,
}

/// What a finished search found, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryResult {
    /// The printers, in order of first reply.
    pub printers: Vec<DiscoveredPrinter>,
    /// The counters ([`DiscoveryStats::truncated`]: the printer bound was hit).
    pub stats: DiscoveryStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sending { next: usize },
    Listening,
    Waiting { until: Instant },
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Attempt(u32),
    Found(usize),
    Updated(usize),
    LimitReached,
    Finished,
}

/// The discovery state machine: probes out, datagrams in, printers and deadlines out.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    destinations: Vec<Destination>,
    phase: Phase,
    attempt: u32,
    started: Instant,
    attempt_started: Instant,
    last_activity: Instant,
    found_in_attempt: usize,
    printers: Vec<DiscoveredPrinter>,
    events: VecDeque<Pending>,
    stats: DiscoveryStats,
}

impl Discovery {
    /// Starts discovery at `now`: the first attempt's probes are ready in
    /// [`Discovery::poll_transmit`].
    pub fn new(config: DiscoveryConfig, destinations: Vec<Destination>, now: Instant) -> Self {
        let mut d = Self {
            config,
            destinations,
            phase: Phase::Finished,
            attempt: 0,
            started: now,
            attempt_started: now,
            last_activity: now,
            found_in_attempt: 0,
            printers: Vec::new(),
            events: VecDeque::new(),
            stats: DiscoveryStats::default(),
        };
        d.start_attempt(now);
        d
    }

    fn start_attempt(&mut self, now: Instant) {
        self.attempt += 1;
        self.attempt_started = now;
        self.last_activity = now;
        self.found_in_attempt = 0;
        self.phase = Phase::Sending { next: 0 };
        self.events.push_back(Pending::Attempt(self.attempt));
    }

    fn finish(&mut self) {
        if self.phase != Phase::Finished {
            self.phase = Phase::Finished;
            self.events.push_back(Pending::Finished);
        }
    }

    /// The next probe to send, if any. Probes of an attempt are handed out back to back; the
    /// attempt's timers start when it begins.
    ///
    /// Drain the socket between sends (non-blocking reads into
    /// [`Discovery::handle_datagram`]): a farm answers faster than a default UDP receive buffer
    /// holds, and a client that sends every probe first loses replies (measured: 94 of 140
    /// simulated printers found without it, 140 with it). Ask for a larger receive buffer
    /// too (the adapters ask for 1 MiB): when the printers answer after the last send, in one
    /// burst, draining between sends does not help (a farm of 140 on one host's poll thread
    /// lost a third of its replies to the default 208 KiB).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let Phase::Sending { next } = self.phase else {
            return None;
        };
        let per = self.config.probes.len();
        let total = per * self.destinations.len();
        if next >= total {
            self.phase = Phase::Listening;
            return None;
        }
        let dest = self.destinations[next / per];
        let probe = self.config.probes[next % per];
        self.phase = if next + 1 >= total {
            Phase::Listening
        } else {
            Phase::Sending { next: next + 1 }
        };
        self.stats.probes_sent += 1;
        Some(Transmit {
            destination: dest.addr,
            kind: dest.kind,
            payload: probe.bytes(),
        })
    }

    /// When [`Discovery::handle_timeout`] must be called next (`None` once finished).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Finished => None,
            Phase::Waiting { until } => Some(until),
            Phase::Sending { .. } | Phase::Listening => Some(self.listening_deadline()),
        }
    }

    /// The end of the whole search, when [`DiscoveryConfig::total_timeout`] is set.
    fn total_end(&self) -> Option<Instant> {
        self.config.total_timeout.map(|t| self.started + t)
    }

    /// The end of a monitor search: the total, else `timeout × max_retries`.
    fn monitor_end(&self) -> Instant {
        let c = &self.config;
        self.total_end()
            .unwrap_or(self.started + c.timeout * c.max_retries.max(1))
    }

    fn listening_deadline(&self) -> Instant {
        let c = &self.config;
        let t = match c.mode {
            DiscoveryMode::OneShot => {
                (self.attempt_started + c.timeout).min(self.last_activity + c.idle_timeout)
            }
            DiscoveryMode::Monitor => {
                let mut t = (self.attempt_started + c.timeout).min(self.monitor_end());
                if !self.printers.is_empty() {
                    t = t.min(self.last_activity + c.idle_timeout);
                }
                t
            }
        };
        self.total_end().map_or(t, |end| t.min(end))
    }

    /// Advances the timers to `now`: ends attempts, starts the next one, finishes.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            match self.phase {
                Phase::Finished => return,
                Phase::Waiting { until } => {
                    if now < until {
                        return;
                    }
                    if self.total_end().is_some_and(|end| now >= end) {
                        self.finish();
                    } else {
                        self.start_attempt(now);
                    }
                    return;
                }
                // An attempt's timers run from its start, whether or not every probe went out;
                // probes still unsent when it ends are dropped.
                Phase::Sending { .. } | Phase::Listening => {
                    if now < self.listening_deadline() {
                        return;
                    }
                    let total_end = self.total_end();
                    if total_end.is_some_and(|end| now >= end) {
                        self.finish();
                        return;
                    }
                    let c = &self.config;
                    match c.mode {
                        DiscoveryMode::OneShot => {
                            // With a total, attempts repeat until it; else `max_retries` of them.
                            let out_of_attempts =
                                total_end.is_none() && self.attempt >= c.max_retries.max(1);
                            if self.found_in_attempt > 0
                                || !self.printers.is_empty()
                                || out_of_attempts
                            {
                                self.finish();
                            } else {
                                let until = now + c.retry_delay;
                                self.phase = Phase::Waiting {
                                    until: total_end.map_or(until, |end| until.min(end)),
                                };
                                continue;
                            }
                        }
                        DiscoveryMode::Monitor => {
                            let total_end = self.monitor_end();
                            let idle_end = self.last_activity + c.idle_timeout;
                            if now >= total_end || (!self.printers.is_empty() && now >= idle_end) {
                                self.finish();
                            } else {
                                self.start_attempt(now);
                            }
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Hands one received datagram to discovery.
    ///
    /// Only answers to this search's probes are looked at. A datagram is an answer when it
    /// comes from
    /// * a unicast destination's address, from that destination's port or one of the
    ///   documented printer ports ([`DEFAULT_PORTS`]: 8899, 19000, 48899), or
    /// * when a multicast or broadcast destination was probed: any unicast source address,
    ///   from a probed multicast/broadcast port or one of [`DEFAULT_PORTS`].
    ///
    /// Printers answer from the socket the probe reached (discovery.md §2), so a reply from
    /// another port, or from an address no unicast probe went to, is not a printer's: it is
    /// dropped unparsed as [`DatagramError::Unsolicited`], counted in
    /// [`DiscoveryStats::unsolicited`], and does not touch the idle timer.
    ///
    /// Any other datagram, even a malformed one, counts as activity for the idle timer (as in
    /// both reference clients). A new printer or a changed record queues an event; a malformed
    /// datagram is a typed error and changes nothing else.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        now: Instant,
    ) -> Result<(), DatagramError> {
        if self.phase == Phase::Finished {
            return Ok(());
        }
        self.stats.datagrams += 1;
        if let Err(reason) = self.solicited(from) {
            self.stats.unsolicited += 1;
            return Err(DatagramError::Unsolicited { from, reason });
        }
        self.last_activity = self.last_activity.max(now);
        let reply = DiscoveryReply::parse(data)
            .and_then(|r| r.check_ports().map(|()| r))
            .map_err(|error| {
                self.stats.rejected += 1;
                DatagramError::Malformed { from, error }
            })?;
        let printer = DiscoveredPrinter {
            ip: from.ip(),
            reply,
        };
        if let Some(i) = self.printers.iter().position(|p| p.same_printer(&printer)) {
            let known = &self.printers[i];
            let downgrade = known.reply.format == ReplyFormat::Modern
                && printer.reply.format == ReplyFormat::Legacy;
            if downgrade || *known == printer {
                self.stats.duplicates += 1;
                return Ok(());
            }
            self.printers[i] = printer;
            if !self
                .events
                .iter()
                .any(|e| matches!(e, Pending::Found(j) | Pending::Updated(j) if *j == i))
            {
                self.events.push_back(Pending::Updated(i));
            }
            return Ok(());
        }
        if self.printers.len() >= self.config.max_printers {
            self.stats.rejected += 1;
            self.stats.over_limit += 1;
            if !self.stats.truncated {
                self.stats.truncated = true;
                self.events.push_back(Pending::LimitReached);
            }
            return Err(DatagramError::TooManyPrinters {
                from,
                max: self.config.max_printers,
            });
        }
        self.printers.push(printer);
        self.found_in_attempt += 1;
        self.events
            .push_back(Pending::Found(self.printers.len() - 1));
        Ok(())
    }

    /// Whether a datagram from `from` can answer one of the probes (see
    /// [`Discovery::handle_datagram`]).
    fn solicited(&self, from: SocketAddr) -> Result<(), UnsolicitedReason> {
        let ip = from.ip().to_canonical();
        let port = from.port();
        let bad_source = match ip {
            IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
            IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
        };
        if bad_source || port == 0 {
            return Err(UnsolicitedReason::BadSource);
        }
        let printer_port = DEFAULT_PORTS.contains(&port);
        let mut address_probed = false;
        for d in &self.destinations {
            let port_ok = printer_port || d.addr.port() == port;
            match d.kind {
                DestinationKind::Unicast => {
                    if d.addr.ip().to_canonical() == ip {
                        address_probed = true;
                        if port_ok {
                            return Ok(());
                        }
                    }
                }
                DestinationKind::Multicast
                | DestinationKind::DirectedBroadcast
                | DestinationKind::Broadcast => {
                    address_probed = true;
                    if port_ok {
                        return Ok(());
                    }
                }
            }
        }
        Err(if address_probed {
            UnsolicitedReason::WrongPort
        } else {
            UnsolicitedReason::NotProbed
        })
    }

    /// The next event. The queue is bounded: at most one pending event per printer plus one per
    /// attempt, the limit report and the final one.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DiscoveryEvent> {
        Some(match self.events.pop_front()? {
            Pending::Attempt(attempt) => DiscoveryEvent::AttemptStarted { attempt },
            Pending::Found(i) => DiscoveryEvent::Found(self.printers[i].clone()),
            Pending::Updated(i) => DiscoveryEvent::Updated(self.printers[i].clone()),
            Pending::LimitReached => DiscoveryEvent::LimitReached {
                max: self.config.max_printers,
            },
            Pending::Finished => DiscoveryEvent::Finished {
                printers: self.printers.len(),
            },
        })
    }

    /// Stops now (the caller's own deadline, a user interrupt).
    pub fn stop(&mut self) {
        self.finish();
    }

    /// True once discovery is over.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Every printer found so far, in order of first reply.
    pub fn printers(&self) -> &[DiscoveredPrinter] {
        &self.printers
    }

    /// Consumes the state machine, returning the printers.
    pub fn into_printers(self) -> Vec<DiscoveredPrinter> {
        self.printers
    }

    /// Consumes the state machine, returning the printers and the counters.
    pub fn into_result(self) -> DiscoveryResult {
        DiscoveryResult {
            printers: self.printers,
            stats: self.stats,
        }
    }

    /// The current attempt (1-based).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Counters.
    pub fn stats(&self) -> DiscoveryStats {
        self.stats
    }
}

/// Decodes a datagram file for the `decode` tools: parser `discovery` (a printer reply) or
/// `probe` (a client probe). Returns the JSON view and whether it parsed; `None` for another
/// parser name.
#[cfg(feature = "serde")]
pub fn decode(parser: &str, bytes: &[u8]) -> Option<(serde_json::Value, bool)> {
    use serde_json::json;
    match parser {
        "discovery" => Some(match DiscoveryReply::parse(bytes) {
            Ok(r) => (serde_json::to_value(&r).unwrap_or_default(), true),
            Err(e) => (json!({ "error": e.to_string() }), false),
        }),
        "probe" => {
            let kind = Probe::classify(bytes);
            let prefix: String = bytes
                .iter()
                .take_while(|b| b.is_ascii_graphic())
                .map(|&b| char::from(b))
                .collect();
            Some((
                json!({
                    "length": bytes.len(),
                    "ascii_prefix": prefix,
                    "probe": match kind {
                        Some(Probe::FlashPrint) => "flashprint",
                        Some(Probe::Empty) => "empty",
                        None => "other",
                    },
                }),
                true,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
