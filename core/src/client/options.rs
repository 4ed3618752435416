//! What a client is configured with: [`ClientOptions`] (timeouts, bounds, the model hint),
//! [`DiscoverOptions`] (where discovery probes go) and the capability [`Overrides`].

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::discovery::{
    lan_destinations, Destination, DestinationKind, DiscoveryConfig, DEFAULT_PORTS,
    FALLBACK_BROADCASTS,
};
use crate::Model;

/// Timeouts, bounds and overrides of a client; the same for every adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// TCP session limits and timings (reply deadline, keep-alive, back-off).
    pub tcp: crate::Config,
    /// HTTP limits and deadlines.
    pub http: crate::HttpConfig,
    /// Deadline of opening a TCP connection.
    pub connect_timeout: Duration,
    /// Capability overrides.
    pub overrides: Overrides,
    /// Send uploads with `Expect: 100-continue` (as the reference clients do).
    pub expect_continue: bool,
    /// Bytes read from the caller's reader per upload chunk.
    pub upload_chunk_size: usize,
    /// The model, when known before connecting (a discovery reply, a profile, the user): it
    /// picks the TCP dialect before the first command. Without it the TCP session starts in
    /// [`Dialect::Unknown`](crate::Dialect::Unknown), which accepts both reply shapes, until `~M115` names the model;
    /// `~M115` (or `/detail`) still decides the model in the end.
    pub model: Option<Model>,
    /// When the TCP session closes (default [`TcpPolicy::KeepOpen`]).
    pub tcp_policy: TcpPolicy,
}

/// When a printer's TCP session is closed. Status and every HTTP operation of the 5M family
/// never open it (they use the one kept-alive HTTP connection); it opens when an operation
/// first needs TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TcpPolicy {
    /// Keep the session (logged in) between operations: the next TCP command costs one round
    /// trip. A session the printer dropped while idle is reopened before the next command.
    #[default]
    KeepOpen,
    /// Log out and close after every operation that used it (each such operation logs in
    /// again: one more round trip). For a farm polling over HTTP that runs TCP operations
    /// rarely: a printer then holds one descriptor, not two, between them.
    CloseAfterOperation,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            tcp: crate::Config::default(),
            http: crate::HttpConfig::default(),
            connect_timeout: Duration::from_secs(5),
            overrides: Overrides::default(),
            expect_continue: true,
            upload_chunk_size: 256 * 1024,
            model: None,
            tcp_policy: TcpPolicy::KeepOpen,
        }
    }
}

impl ClientOptions {
    /// The TCP session's configuration for `target`: [`ClientOptions::tcp`] in the target's
    /// dialect.
    pub fn tcp_config(&self, target: &super::Target) -> crate::Config {
        let mut config = self.tcp.clone();
        config.dialect = target.dialect;
        config
    }

    /// Deadline of a command's reply, TCP and HTTP (default 5 s).
    pub fn reply_timeout(mut self, d: Duration) -> Self {
        self.tcp.reply_timeout = d;
        self.tcp.long_reply_timeout = self.tcp.long_reply_timeout.max(d);
        self.http.command_timeout = d;
        self.http.read_timeout = d;
        self
    }
    /// Longest a TCP call waits to be written: connecting, every login attempt and the
    /// back-off between them, together (default 3 × the reply deadline). With
    /// `reply_timeout(d).connect_timeout(d).call_wait_limit(d)`, a printer that never
    /// answers the login fails the call after `d`, not after three logins.
    ///
    /// ```
    /// # use flashforge_proto::client::ClientOptions;
    /// # use std::time::Duration;
    /// let d = Duration::from_secs(2);
    /// let options = ClientOptions::default().reply_timeout(d).call_wait_limit(d);
    /// assert_eq!(options.tcp.call_wait_limit, Some(d));
    /// ```
    pub fn call_wait_limit(mut self, d: Duration) -> Self {
        self.tcp.call_wait_limit = Some(d);
        self
    }
    /// Deadline of opening a connection (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Idle time before a TCP keep-alive status request (default 5 s).
    pub fn keepalive_interval(mut self, d: Duration) -> Self {
        self.tcp.keepalive_interval = d;
        self
    }
    /// First TCP reconnect back-off (doubles up to 30 s).
    pub fn reconnect_backoff(mut self, d: Duration) -> Self {
        self.tcp.reconnect_backoff = d;
        self
    }
    /// Largest HTTP body accepted (default 16 MiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.http.max_body_bytes = n;
        self
    }
    /// Capability overrides.
    pub fn overrides(mut self, o: Overrides) -> Self {
        self.overrides = o;
        self
    }
    /// `Expect: 100-continue` on uploads.
    pub fn expect_continue(mut self, on: bool) -> Self {
        self.expect_continue = on;
        self
    }
    /// The model, when known before connecting (see [`ClientOptions::model`]); `None` or
    /// [`Model::Unknown`] leave it to `~M115`. A discovery reply names it:
    ///
    /// ```
    /// # use flashforge_proto::client::ClientOptions;
    /// # use flashforge_proto::Model;
    /// # let found_model = Model::Adventurer3; // e.g. `discovered.reply.model`
    /// let options = ClientOptions::default().model(Some(found_model));
    /// assert_eq!(options.model, Some(Model::Adventurer3));
    /// assert_eq!(ClientOptions::default().model(Some(Model::Unknown)).model, None);
    /// ```
    pub fn model(mut self, model: Option<Model>) -> Self {
        self.model = model.filter(|m| *m != Model::Unknown);
        self
    }
    /// How long a write may make no progress before the call fails with
    /// [`ClientError::Stalled`](super::ClientError::Stalled) and its connection is dropped:
    /// the printer stopped reading an upload body (HTTP or `~M28`) or a command. Also the most
    /// time between two upload chunks from the caller's reader. Default 30 s
    /// ([`HttpConfig::upload_stall_timeout`](crate::HttpConfig::upload_stall_timeout) and
    /// [`Config::upload_stall_timeout`](crate::Config::upload_stall_timeout)).
    ///
    /// ```
    /// # use flashforge_proto::client::ClientOptions;
    /// # use std::time::Duration;
    /// let o = ClientOptions::default().stall_timeout(Duration::from_secs(60));
    /// assert_eq!(o.stall_timeout_value(), Duration::from_secs(60));
    /// assert_eq!(o.tcp.upload_stall_timeout, Duration::from_secs(60));
    /// ```
    pub fn stall_timeout(mut self, d: Duration) -> Self {
        self.http.upload_stall_timeout = d;
        self.tcp.upload_stall_timeout = d;
        self
    }
    /// The stall timeout (see [`ClientOptions::stall_timeout`]).
    pub fn stall_timeout_value(&self) -> Duration {
        self.http.upload_stall_timeout
    }
    /// Deadline of an upload's final answer after the whole file was written (HTTP
    /// `/uploadGcode`'s response, the `~M29` reply of a legacy upload). Default 120 s: a large
    /// file over slow Wi-Fi is still in flight when the client wrote its last byte, and the
    /// printer may unpack or store it before answering.
    ///
    /// ```
    /// # use flashforge_proto::client::ClientOptions;
    /// # use std::time::Duration;
    /// let o = ClientOptions::default().upload_timeout(Duration::from_secs(300));
    /// assert_eq!(o.http.upload_response_timeout, Duration::from_secs(300));
    /// assert_eq!(o.tcp.upload_response_timeout, Duration::from_secs(300));
    /// ```
    pub fn upload_timeout(mut self, d: Duration) -> Self {
        self.http.upload_response_timeout = d;
        self.tcp.upload_response_timeout = d;
        self
    }
    /// When the TCP session closes ([`TcpPolicy`]).
    ///
    /// ```
    /// # use flashforge_proto::client::{ClientOptions, TcpPolicy};
    /// let farm = ClientOptions::default().tcp_policy(TcpPolicy::CloseAfterOperation);
    /// assert_eq!(farm.tcp_policy, TcpPolicy::CloseAfterOperation);
    /// ```
    pub fn tcp_policy(mut self, policy: TcpPolicy) -> Self {
        self.tcp_policy = policy;
        self
    }
    /// Upload chunk size (clamped to 4 KiB–8 MiB).
    pub fn upload_chunk_size(mut self, n: usize) -> Self {
        self.upload_chunk_size = n.clamp(4096, 8 << 20);
        self
    }
}

/// Where discovery probes go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoverOptions {
    /// Unicast targets (a known printer, or simulators on loopback). Empty = the LAN.
    pub targets: Vec<SocketAddr>,
    /// LAN search: multicast to 225.0.0.9 (on by default).
    pub multicast: bool,
    /// LAN search: broadcasts (on by default).
    pub broadcast: bool,
    /// Directed broadcast addresses of the local networks (default: the common home subnets).
    pub directed_broadcasts: Vec<Ipv4Addr>,
    /// Timeouts, retries, probes, bound.
    pub config: DiscoveryConfig,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            multicast: true,
            broadcast: true,
            directed_broadcasts: FALLBACK_BROADCASTS.to_vec(),
            config: DiscoveryConfig::default(),
        }
    }
}

impl DiscoverOptions {
    /// Probe these addresses by unicast only (no broadcast, no multicast).
    pub fn unicast(targets: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self {
            targets: targets.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Give up after `timeout` overall: no attempt, pause or retry runs past it
    /// ([`DiscoveryConfig::total_timeout`]); a search that finds nothing lasts exactly this
    /// long, one that found printers ends when they fall silent.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self.config.total_timeout = Some(timeout);
        self
    }

    /// The probe destinations.
    pub fn destinations(&self) -> Vec<Destination> {
        if self.targets.is_empty() {
            lan_destinations(
                &DEFAULT_PORTS,
                &self.directed_broadcasts,
                self.multicast,
                self.broadcast,
            )
        } else {
            self.targets
                .iter()
                .map(|&addr| Destination {
                    addr,
                    kind: DestinationKind::Unicast,
                })
                .collect()
        }
    }

    /// Whether the socket needs `SO_BROADCAST` / a multicast TTL.
    pub fn needs_broadcast(&self) -> bool {
        self.targets.is_empty() && (self.broadcast || self.multicast)
    }
}

/// A capability override: follow what the printer reports, or force it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Toggle {
    /// Follow the model and what the printer reports.
    #[default]
    Auto,
    /// Assume present.
    On,
    /// Assume absent (the operation fails with [`ClientError::Unsupported`](super::ClientError::Unsupported)).
    Off,
}

impl Toggle {
    pub(super) fn apply(self, flag: &mut bool) {
        match self {
            Self::Auto => {}
            Self::On => *flag = true,
            Self::Off => *flag = false,
        }
    }
}

/// Capability overrides for printers whose firmware reports wrongly (or a model this crate
/// does not know yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Overrides {
    /// LED control.
    pub led: Toggle,
    /// Filtration fans.
    pub filtration: Toggle,
    /// Camera (stream URL and on/off).
    pub camera: Toggle,
    /// Material station.
    pub material_station: Toggle,
    /// Homing and jogging.
    pub motion: Toggle,
    /// Chamber heater.
    pub chamber_heater: Toggle,
}
