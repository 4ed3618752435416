//! Which printer, and how to reach it: flags, environment, the config file's profiles and
//! discovery by name give the endpoint, the credentials and the model hint; then connect.

use std::time::Duration;

use flashforge_proto::discovery::{DiscoveryConfig, DiscoveryResult};
use flashforge_proto::Model;
use flashforge_tokio::{
    discover_with_stats, ClientOptions, Credentials, DiscoverOptions, Endpoint, LegacyPrinter,
    Printer,
};

use crate::args::{parse_model, Global};
use crate::config;
use crate::exit::{Failure, Result, EXIT_UNREACHABLE, EXIT_USAGE};

/// A connected printer of either kind.
pub(crate) enum Conn {
    Http(Printer),
    Legacy(LegacyPrinter),
}

impl std::ops::Deref for Conn {
    type Target = Printer;
    fn deref(&self) -> &Printer {
        match self {
            Self::Http(p) => p,
            Self::Legacy(p) => p,
        }
    }
}

pub(crate) fn options(global: &Global) -> ClientOptions {
    // `--timeout` is checked by its parser (finite, more than 0, at most a day).
    let t = Duration::from_secs_f64(global.timeout);
    // One deadline: connecting, logging in (every attempt and back-off together) and each
    // reply; a printer that never answers the login fails after `t`, not after three logins.
    ClientOptions::default()
        .reply_timeout(t)
        .connect_timeout(t)
        .call_wait_limit(t)
        .upload_timeout(Duration::from_secs_f64(global.upload_timeout))
        .stall_timeout(Duration::from_secs_f64(global.stall_timeout))
}

/// Where and how to connect, from flags, environment, config and discovery.
#[derive(Clone)]
pub(crate) struct Selected {
    pub(crate) label: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) legacy: bool,
    /// The model when known before connecting: `--printer-model`, the profile, discovery.
    pub(crate) model: Option<Model>,
}

pub(crate) async fn select(global: &Global, wanted: Option<&str>) -> Result<Selected> {
    let cfg = config::load(global.config.as_ref())?;
    let name = wanted
        .map(str::to_owned)
        .or_else(|| cfg.default.clone())
        .ok_or_else(|| {
            Failure::new(
                EXIT_USAGE,
                "no printer given: use --printer ADDR (or a profile in the config file)",
            )
        })?;
    let profile = cfg.printers.get(&name).cloned().unwrap_or_default();
    let address = profile.address.clone().unwrap_or_else(|| name.clone());
    let profile_model = match profile.model.as_deref() {
        Some(m) => Some(parse_model(m).map_err(|e| Failure::new(EXIT_USAGE, e))?),
        None => None,
    };
    // An address is used as it is, a malformed one is refused; only a name or serial number
    // (which cannot be an address) is looked for by discovery.
    let (endpoint, found_model) = match parse_address(&address) {
        Some(Ok(ep)) => (ep, None),
        Some(Err(why)) => {
            return Err(Failure::new(
                EXIT_USAGE,
                format!("printer address `{address}`: {why}"),
            ))
        }
        None => find_by_name(global, &address).await?,
    };
    let model = global.printer_model.or(profile_model).or(found_model);
    let serial = global.serial.clone().or(profile.serial);
    let code = global.check_code.clone().or(profile.check_code);
    let credentials = match (serial, code) {
        (Some(s), Some(c)) => {
            Some(Credentials::new(s, c).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?)
        }
        (None, None) => None,
        _ => {
            return Err(Failure::new(
                EXIT_USAGE,
                "give both --serial and --check-code (or neither for an Adventurer 3/4)",
            ))
        }
    };
    Ok(Selected {
        label: name,
        endpoint,
        credentials,
        legacy: global.legacy || profile.legacy || model.is_some_and(Model::is_tcp_only),
        model,
    })
}

/// The printer that answered discovery under `name` (or serial), with the model its reply
/// named.
async fn find_by_name(global: &Global, name: &str) -> Result<(Endpoint, Option<Model>)> {
    if !global.quiet && !global.json {
        let where_ = if global.target.is_empty() {
            "the LAN (broadcast and multicast)".to_owned()
        } else {
            let t: Vec<String> = global.target.iter().map(ToString::to_string).collect();
            t.join(", ")
        };
        eprintln!("searching {where_} for a printer named or numbered `{name}` …");
    }
    let found = run_discovery(global, 3.0, DiscoveryConfig::default().max_printers).await?;
    found
        .printers
        .iter()
        .find(|p| {
            p.reply.name.eq_ignore_ascii_case(name)
                || p.reply.serial_number.as_deref() == Some(name)
        })
        .map(|p| {
            let model = Some(p.reply.model).filter(|m| *m != Model::Unknown);
            (Endpoint::from(p), model)
        })
        .ok_or_else(|| {
            Failure::new(
                EXIT_UNREACHABLE,
                format!("no printer named or numbered `{name}` answered discovery"),
            )
        })
}

/// What `--printer` (or a profile's address) means: `None` when it cannot be an address (a
/// name or serial number, for discovery), else the endpoint or why the address is wrong.
///
/// Address-like are: only digits, dots and colons (`1.2.3`, `300.1.1.1`); a `[` (IPv6 with
/// ports, `[fe80::1]:8899:8898`); an IPv6 address; and a `HOST:PORT` shape (ending in `:`
/// and digits). Ports are 1–65535; host names are not looked up.
pub(crate) fn parse_address(s: &str) -> Option<std::result::Result<Endpoint, String>> {
    use std::net::{IpAddr, Ipv6Addr};
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(Ok(Endpoint::new(ip)));
    }
    let numeric = s
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ':')
        && s.chars().any(|c| c.is_ascii_digit());
    let bracket = s.contains('[') || s.contains(']');
    let ends_in_port = s
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let ipv6ish = s.matches(':').count() >= 2
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '%'));
    if !(numeric || bracket || ends_in_port || ipv6ish) {
        return None;
    }
    Some((|| {
        let (ip, ports): (IpAddr, &str) = if let Some(rest) = s.strip_prefix('[') {
            let (inner, after) = rest
                .split_once(']')
                .ok_or("no closing `]` (IPv6 with ports: [fe80::1]:8899:8898)")?;
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| format!("`{inner}` is not an IPv6 address"))?;
            if !after.is_empty() && !after.starts_with(':') {
                return Err(format!("`{after}` after `]` is not `:PORT`"));
            }
            (IpAddr::V6(ip), after)
        } else if bracket {
            return Err("a `]` without its `[` (IPv6 with ports: [fe80::1]:8899:8898)".into());
        } else if ipv6ish && !numeric {
            return Err("not an IPv6 address (with ports: [fe80::1]:8899:8898)".into());
        } else {
            let (host, ports) = s.find(':').map_or((s, ""), |i| (&s[..i], &s[i..]));
            (ipv4(host)?, ports)
        };
        let ports: Vec<&str> = if ports.is_empty() {
            Vec::new()
        } else {
            ports[1..].split(':').collect()
        };
        if ports.len() > 2 {
            return Err(format!(
                "{} ports; give at most two (IP:TCP_PORT:HTTP_PORT)",
                ports.len()
            ));
        }
        let mut ep = Endpoint::new(ip);
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) => Err("port 0 is not a port (1–65535)".to_owned()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("`{p}` is not a port (1–65535)")),
        };
        if let Some(tcp) = ports.first() {
            ep.tcp_port = port(tcp)?;
        }
        if let Some(http) = ports.get(1) {
            ep.http_port = port(http)?;
        }
        Ok(ep)
    })())
}

/// An IPv4 address, or what is wrong with it.
fn ipv4(host: &str) -> std::result::Result<std::net::IpAddr, String> {
    if host.is_empty() {
        return Err("no IP address before the port".into());
    }
    if !host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "`{host}` is not an IP address (host names are not looked up; give the printer's IP)"
        ));
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4 {
        return Err(format!(
            "`{host}` has {} numbers; an IPv4 address has four (192.168.1.20)",
            parts.len()
        ));
    }
    for p in &parts {
        match p.parse::<u32>() {
            Ok(n) if n <= 255 => {}
            Ok(_) => return Err(format!("`{p}` in `{host}` is more than 255")),
            Err(_) => return Err(format!("`{host}` has an empty or overlong number")),
        }
    }
    host.parse()
        .map_err(|_| format!("`{host}` is not an IPv4 address (no leading zeros)"))
}

/// Discovery for `seconds` in total (see `DiscoverOptions::timeout`), keeping at most
/// `max_printers`.
pub(crate) async fn run_discovery(
    global: &Global,
    seconds: f64,
    max_printers: usize,
) -> Result<DiscoveryResult> {
    let mut opts = if global.target.is_empty() {
        DiscoverOptions::default()
    } else {
        DiscoverOptions::unicast(global.target.iter().copied())
    };
    opts.config.max_printers = max_printers;
    // `--seconds` is validated (0.1–3600); the clamp only keeps a bad caller from panicking.
    let total = Duration::from_secs_f64(if seconds.is_finite() {
        seconds.clamp(0.1, 3600.0)
    } else {
        3.0
    });
    Ok(discover_with_stats(&opts.timeout(total)).await?)
}

pub(crate) async fn connect(global: &Global, s: &Selected) -> Result<Conn> {
    let b = Printer::builder().options(options(global).model(s.model));
    match (&s.credentials, s.legacy) {
        (Some(c), false) => Ok(Conn::Http(b.connect(s.endpoint, c.clone()).await?)),
        _ => Ok(Conn::Legacy(b.connect_legacy(s.endpoint).await?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(s: &str) -> String {
        match parse_address(s) {
            Some(Err(e)) => e,
            other => panic!("`{s}`: {other:?}"),
        }
    }

    #[test]
    fn addresses_parse_with_their_ports() {
        let ep = |s: &str| parse_address(s).unwrap().unwrap().to_string();
        assert_eq!(ep("192.168.1.20"), "192.168.1.20");
        assert_eq!(ep("127.0.0.1:40001"), "127.0.0.1:40001");
        assert_eq!(ep("127.0.0.1:40001:40002"), "127.0.0.1:40001:40002");
        assert_eq!(ep("::1"), "::1");
        assert_eq!(ep("[::1]:40001:40002"), "[::1]:40001:40002");
        assert_eq!(ep("[fe80::1]"), "fe80::1");
    }

    #[test]
    fn a_malformed_address_is_refused_and_says_why() {
        assert!(bad("127.0.0.1:99999:0").contains("`99999` is not a port"));
        assert!(bad("127.0.0.1:8899:0").contains("port 0"));
        assert!(bad("127.0.0.1:0").contains("port 0"));
        assert!(bad("300.1.1.1").contains("`300` in `300.1.1.1` is more than 255"));
        assert!(bad("1.2.3").contains("has 3 numbers"));
        assert!(bad("[::1").contains("no closing `]`"));
        assert!(bad("::1]").contains("without its `[`"));
        assert!(bad("[::1]x").contains("not `:PORT`"));
        assert!(bad("[::g]:1").contains("not an IPv6 address"));
        assert!(bad("1.2.3.4:1:2:3").contains("3 ports"));
        assert!(bad("1.2.3.4:").contains("is not a port"));
        assert!(bad("1..2.3").contains("empty"));
        assert!(bad(":8899").contains("no IP address"));
        assert!(bad("printer.local:8899").contains("host names are not looked up"));
        assert!(bad("fe80::1::2").contains("IPv6"));
        assert!(bad("fe80::1%eth0").contains("IPv6"));
        assert!(bad("12345").contains("has 1 numbers"));
    }

    #[test]
    fn names_and_serial_numbers_are_not_addresses() {
        for name in [
            "Adventurer5M",
            "SNMOMC9900728",
            "shop-printer",
            "My 5M Pro",
            "a3",
        ] {
            assert!(parse_address(name).is_none(), "{name}");
        }
    }
}
