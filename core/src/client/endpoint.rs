//! Where a printer listens: [`Endpoint`] (address and ports), its parsing and display.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use crate::discovery::DiscoveredPrinter;
use crate::UsageError;

/// TCP control port (Adventurer 3/4, 5M family, AD5X).
pub const TCP_PORT: u16 = 8899;
/// HTTP API port (5M family, AD5X, Creator 5 series).
pub const HTTP_PORT: u16 = 8898;
/// MJPEG camera port.
pub const CAMERA_PORT: u16 = 8080;

/// Where a printer listens: its address and the TCP and HTTP ports (8899 and 8898 unless a
/// discovery reply or a simulator says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The printer's address.
    pub ip: IpAddr,
    /// TCP control port.
    pub tcp_port: u16,
    /// HTTP API port.
    pub http_port: u16,
}

impl Endpoint {
    /// The standard ports at `ip`.
    pub fn new(ip: impl Into<IpAddr>) -> Self {
        Self {
            ip: ip.into(),
            tcp_port: TCP_PORT,
            http_port: HTTP_PORT,
        }
    }

    /// Other ports (simulators, port forwarding).
    pub fn with_ports(mut self, tcp_port: u16, http_port: u16) -> Self {
        self.tcp_port = tcp_port;
        self.http_port = http_port;
        self
    }

    /// The TCP control address.
    pub fn tcp(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.tcp_port)
    }

    /// The HTTP API address.
    pub fn http(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.http_port)
    }

    /// The `Host` header value of HTTP requests.
    pub fn http_host(&self) -> String {
        self.http().to_string()
    }
}

impl From<IpAddr> for Endpoint {
    fn from(ip: IpAddr) -> Self {
        Self::new(ip)
    }
}

impl From<Ipv4Addr> for Endpoint {
    fn from(ip: Ipv4Addr) -> Self {
        Self::new(ip)
    }
}

impl From<&DiscoveredPrinter> for Endpoint {
    /// The ports the printer advertised (the HTTP port from a modern reply, 8898 otherwise).
    fn from(p: &DiscoveredPrinter) -> Self {
        Self {
            ip: p.ip,
            tcp_port: p.reply.command_port,
            http_port: p.reply.event_port.unwrap_or(HTTP_PORT),
        }
    }
}

impl FromStr for Endpoint {
    type Err = UsageError;
    /// `192.168.1.20` (standard ports), `192.168.1.20:8899` (TCP port) or
    /// `192.168.1.20:8899:8898` (TCP and HTTP ports).
    fn from_str(s: &str) -> Result<Self, UsageError> {
        let bad = UsageError::OutOfRange {
            what: "printer address",
        };
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::new(ip));
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(Self::new(sa.ip()).with_ports(sa.port(), HTTP_PORT));
        }
        let (rest, http) = s.rsplit_once(':').ok_or(bad.clone())?;
        let sa: SocketAddr = rest.parse().map_err(|_| bad.clone())?;
        let http = http.parse().map_err(|_| bad)?;
        Ok(Self::new(sa.ip()).with_ports(sa.port(), http))
    }
}

impl fmt::Display for Endpoint {
    /// The shortest form [`Endpoint::from_str`] reads back: `IP` for the standard ports,
    /// `IP:TCP` when only the TCP port differs (so an Adventurer 3/4, which has no HTTP port,
    /// is never shown with one), `IP:TCP:HTTP` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.tcp_port == TCP_PORT, self.http_port == HTTP_PORT) {
            (true, true) => write!(f, "{}", self.ip),
            (_, true) => write!(f, "{}", self.tcp()),
            _ => write!(f, "{}:{}", self.tcp(), self.http_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_discovery_shows_no_http_port() {
        use crate::discovery::DiscoveryReply;
        let ip: IpAddr = Ipv4Addr::new(192, 168, 1, 30).into();
        let legacy = DiscoveredPrinter {
            ip,
            reply: DiscoveryReply::legacy("Adventurer 4", 0x1E).with_ports(40001, 40002),
        };
        assert_eq!(legacy.http_addr(), None);
        let ep = Endpoint::from(&legacy);
        assert_eq!(ep.to_string(), "192.168.1.30:40001");
        assert_eq!(ep.to_string().parse::<Endpoint>().unwrap(), ep);
        let standard = DiscoveredPrinter {
            ip,
            reply: DiscoveryReply::legacy("Adventurer 3", 0x08),
        };
        assert_eq!(Endpoint::from(&standard).to_string(), "192.168.1.30");
        let modern = DiscoveredPrinter {
            ip,
            reply: DiscoveryReply::modern("5M", "SN1", 35).with_ports(40001, 40002),
        };
        let ep = Endpoint::from(&modern);
        assert_eq!(ep.to_string(), "192.168.1.30:40001:40002");
        assert_eq!(ep.to_string().parse::<Endpoint>().unwrap(), ep);
    }
}
