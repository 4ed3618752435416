//! The printers `flashforge sim` runs, from its flags or from a farm file (TOML), resolved and
//! checked before any socket is bound: both paths give the same [`Farm`], and
//! [`Farm::specs`] the [`PrinterSpec`]s the simulator starts.
//!
//! Rules (also in `flashforge sim --help`):
//!
//! * With more than one printer in a group (the command line is one group; each `[[printer]]`
//!   table with its `count` is one), a given name gets ` #N`, a serial `-N` and a MAC `+ N-1`
//!   (N = 1, 2, ...); without a given serial the simulator's numbered defaults are used.
//! * `--bind IP`: one address for all printers. One printer gets the standard ports (TCP
//!   8899, HTTP 8898, the model's discovery ports, camera 8080) unless port flags say
//!   otherwise; several printers cannot share the standard ports, so they need
//!   `--tcp-port`, `--http-port` and `--udp-port` bases (printer N gets base + N-1, and
//!   `--camera-port` too when a model has a camera), else it is a usage error pointing to
//!   `--bind-range`.
//! * `--bind-range IP` (and `bind` with `count` in a farm file): printer N gets IP + N-1, the
//!   whole IPv4 address counted up (`127.0.0.255` → `127.0.1.0`), each with the standard
//!   ports. IPv4 only; the range must not leave 127.0.0.0/8, nor use its network (`127.0.0.0`)
//!   or broadcast (`127.255.255.255`) address; `.0` and `.255` inside the /8 are ordinary
//!   loopback hosts and are used.
//! * Only loopback addresses are accepted unless `--allow-non-loopback`.
//! * Two printers on the same address and port, or with the same serial, are refused before
//!   anything is bound.
//! * `--farm` excludes the per-printer flags (models, identity, placement, faults, speed):
//!   the file says everything about its printers. `--control` overrides the file's `control`;
//!   `--duration`, `--allow-non-loopback`, `--json`, `-v` and `-q` apply as usual.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use flashforge_proto::Model;
use flashforge_sim::{
    A3Shape, Placement, PrinterSpec, STANDARD_CAMERA_PORT, STANDARD_HTTP_PORT, STANDARD_TCP_PORT,
};
use serde::Deserialize;

use crate::args::{parse_a3_shape, parse_model, SimArgs, DEFAULT_CHECK_CODE, MAX_SECONDS};

/// The largest farm file read.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most printers one farm runs (after `count`).
pub(crate) const MAX_PRINTERS: u64 = 10_000;
/// The longest name and serial number: what every discovery reply layout has room for.
pub(crate) const MAX_IDENTITY_BYTES: usize = 128;
/// The longest check code and firmware string.
const MAX_SHORT_FIELD: usize = 64;
/// The largest simulated-time speed-up.
const MAX_SPEED: f64 = 10_000.0;

/// Why a farm could not be resolved (a usage error: exit 2).
#[derive(Debug)]
pub(crate) enum FarmError {
    /// The file could not be read.
    Read(String),
    /// Not TOML, or not the schema (unknown field, wrong type); the text has line and column.
    Parse(String),
    /// Well-formed but refused (duplicate serial or socket, bad value, too many printers).
    Invalid(String),
}

impl fmt::Display for FarmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(m) | Self::Parse(m) | Self::Invalid(m) => f.write_str(m),
        }
    }
}

fn invalid(m: impl Into<String>) -> FarmError {
    FarmError::Invalid(m.into())
}

/// A farm file: defaults for every printer, then `[[printer]]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FarmFile {
    speed: Option<f64>,
    check_code: Option<String>,
    firmware: Option<String>,
    job_seconds: Option<f64>,
    a3_shape: Option<String>,
    control: Option<SocketAddr>,
    #[serde(default)]
    faults: Vec<String>,
    #[serde(default, rename = "printer")]
    printers: Vec<FilePrinter>,
}

/// One `[[printer]]` table (`count` of them when given).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrinter {
    model: String,
    name: Option<String>,
    serial: Option<String>,
    check_code: Option<String>,
    firmware: Option<String>,
    mac: Option<String>,
    bind: Option<IpAddr>,
    tcp_port: Option<u16>,
    http_port: Option<u16>,
    discovery_ports: Option<Vec<u16>>,
    camera_port: Option<u16>,
    job_seconds: Option<f64>,
    a3_shape: Option<String>,
    speed: Option<f64>,
    count: Option<u32>,
    #[serde(default)]
    faults: Vec<String>,
}

/// Printers described together: the whole command line, or one `[[printer]]` table.
#[derive(Debug, Default)]
struct Group {
    /// For messages: `[[printer]] 2` or `the command line`.
    label: String,
    models: Vec<Model>,
    count: u32,
    name: Option<String>,
    serial: Option<String>,
    check_code: Option<String>,
    firmware: Option<String>,
    mac: Option<String>,
    job_seconds: Option<f64>,
    a3_shape: Option<A3Shape>,
    speed: Option<f64>,
    bind: Option<IpAddr>,
    /// Printer N of the group gets `bind + N-1` (`--bind-range`, `bind` with `count`) rather
    /// than the same address with ports `base + N-1` (`--bind`).
    step_bind: bool,
    tcp_port: Option<u16>,
    http_port: Option<u16>,
    discovery_ports: Option<Vec<u16>>,
    camera_port: Option<u16>,
    faults: Vec<String>,
}

/// One resolved printer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// For messages: `[[printer]] 2 #3 (serial SN-3)`.
    pub(crate) label: String,
    pub(crate) spec: PrinterSpec,
    /// Fault switches for this printer (`--fault` names).
    pub(crate) faults: Vec<String>,
}

/// Everything `flashforge sim` starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Farm {
    pub(crate) printers: Vec<Entry>,
    /// The control API's address (off when `None`).
    pub(crate) control: Option<SocketAddr>,
    /// Port bases of the printers without an own address (0 = any free port).
    pub(crate) tcp_base: u16,
    pub(crate) http_base: u16,
    pub(crate) udp_base: u16,
}

impl Farm {
    /// Read and resolve a farm file (at most [`MAX_FILE_BYTES`]); non-loopback addresses
    /// only with `allow_non_loopback` (`--allow-non-loopback`).
    pub(crate) fn load(path: &Path, allow_non_loopback: bool) -> Result<Self, FarmError> {
        let shown = path.display();
        let f = std::fs::File::open(path)
            .map_err(|e| FarmError::Read(format!("cannot read the farm file {shown}: {e}")))?;
        let mut text = String::new();
        f.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| FarmError::Read(format!("cannot read the farm file {shown}: {e}")))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(FarmError::Read(format!(
                "the farm file {shown} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        Self::parse(&text, allow_non_loopback).map_err(|e| match e {
            FarmError::Parse(m) => FarmError::Parse(format!("farm file {shown}: {m}")),
            FarmError::Invalid(m) => FarmError::Invalid(format!("farm file {shown}: {m}")),
            other => other,
        })
    }

    /// Resolve a farm file's text.
    pub(crate) fn parse(text: &str, allow_non_loopback: bool) -> Result<Self, FarmError> {
        let file: FarmFile = toml::from_str(text)
            .map_err(|e| FarmError::Parse(e.to_string().trim_end().to_owned()))?;
        if file.printers.is_empty() {
            return Err(invalid("no printers: add a [[printer]] table with a model"));
        }
        let total: u64 = file
            .printers
            .iter()
            .map(|p| u64::from(p.count.unwrap_or(1)))
            .sum();
        if total > MAX_PRINTERS {
            return Err(invalid(format!(
                "{total} printers: at most {MAX_PRINTERS} (counting `count`)"
            )));
        }
        let shape = file
            .a3_shape
            .as_deref()
            .map(parse_a3_shape)
            .transpose()
            .map_err(|e| invalid(format!("a3_shape: {e}")))?;
        let mut groups = Vec::with_capacity(file.printers.len());
        for (i, p) in file.printers.into_iter().enumerate() {
            let label = format!("[[printer]] {}", i + 1);
            let model = parse_model(&p.model).map_err(|e| invalid(format!("{label}: {e}")))?;
            if p.count == Some(0) {
                return Err(invalid(format!("{label}: count must be at least 1")));
            }
            if p.bind.is_none()
                && (p.tcp_port.is_some()
                    || p.http_port.is_some()
                    || p.discovery_ports.is_some()
                    || p.camera_port.is_some())
            {
                return Err(invalid(format!(
                    "{label}: ports need `bind` (without it the printer takes free ports on 127.0.0.1)"
                )));
            }
            let a3_shape = p
                .a3_shape
                .as_deref()
                .map(parse_a3_shape)
                .transpose()
                .map_err(|e| invalid(format!("{label}: a3_shape: {e}")))?
                .or(shape);
            let mut faults = file.faults.clone();
            faults.extend(p.faults);
            groups.push(Group {
                label,
                models: vec![model],
                count: p.count.unwrap_or(1),
                name: p.name,
                serial: p.serial,
                check_code: p.check_code.or_else(|| file.check_code.clone()),
                firmware: p.firmware.or_else(|| file.firmware.clone()),
                mac: p.mac,
                job_seconds: p.job_seconds.or(file.job_seconds),
                a3_shape,
                speed: p.speed.or(file.speed),
                bind: p.bind,
                step_bind: true,
                tcp_port: p.tcp_port,
                http_port: p.http_port,
                discovery_ports: p.discovery_ports,
                camera_port: p.camera_port,
                faults,
            });
        }
        let mut farm = resolve(groups, allow_non_loopback)?;
        farm.control = file.control;
        check_control(farm.control, allow_non_loopback)?;
        Ok(farm)
    }

    /// The printers `flashforge sim`'s flags describe (`--farm`: the file, with `--control`
    /// overriding its `control`).
    pub(crate) fn from_args(a: &SimArgs) -> Result<Self, FarmError> {
        if let Some(path) = &a.farm {
            let mut farm = Self::load(path, a.allow_non_loopback)?;
            if a.control.is_some() {
                farm.control = a.control;
            }
            check_control(farm.control, a.allow_non_loopback)?;
            return Ok(farm);
        }
        let models = if a.models.is_empty() {
            vec![Model::Adventurer5M]
        } else {
            a.models.clone()
        };
        let count = a.count.unwrap_or(1);
        let total = models.len() as u64 * u64::from(count);
        if total > MAX_PRINTERS {
            return Err(invalid(format!(
                "{total} printers (models × --count): at most {MAX_PRINTERS}"
            )));
        }
        let bind = a.bind.or(a.bind_range);
        if bind.is_none() && a.camera_port.is_some() {
            return Err(invalid(
                "--camera-port needs --bind or --bind-range (printers on 127.0.0.1 take free ports)",
            ));
        }
        if a.bind.is_some() && total > 1 {
            let cameras = models.iter().any(|m| m.capabilities().camera);
            let mut missing = Vec::new();
            for (flag, v) in [
                ("--tcp-port", a.tcp_port),
                ("--http-port", a.http_port),
                ("--udp-port", a.udp_port),
            ] {
                if v.is_none() {
                    missing.push(flag);
                }
            }
            if cameras && a.camera_port.is_none() {
                missing.push("--camera-port");
            }
            if !missing.is_empty() {
                return Err(invalid(format!(
                    "--bind with {total} printers: they cannot share the standard ports on one \
                     address; give {} (printer N gets base + N-1), or use --bind-range for one \
                     address per printer",
                    missing.join(", ")
                )));
            }
        }
        let group = Group {
            label: "the command line".to_owned(),
            models,
            count,
            name: a.name.clone(),
            serial: a.serial.clone(),
            check_code: a.check_code.clone(),
            firmware: a.firmware.clone(),
            mac: a.mac.clone(),
            job_seconds: a.job_seconds,
            a3_shape: a.a3_shape,
            speed: a.speed,
            bind,
            step_bind: a.bind_range.is_some(),
            tcp_port: bind.and(a.tcp_port),
            http_port: bind.and(a.http_port),
            discovery_ports: bind.and(a.udp_port).map(|p| vec![p]),
            camera_port: a.camera_port,
            faults: a.faults.clone(),
        };
        let mut farm = resolve(vec![group], a.allow_non_loopback)?;
        if bind.is_none() {
            farm.tcp_base = a.tcp_port.unwrap_or(0);
            farm.http_base = a.http_port.unwrap_or(0);
            farm.udp_base = a.udp_port.unwrap_or(0);
        }
        farm.control = a.control;
        check_control(farm.control, a.allow_non_loopback)?;
        Ok(farm)
    }

    /// The simulator's printers, in order.
    pub(crate) fn specs(&self) -> Vec<PrinterSpec> {
        self.printers.iter().map(|e| e.spec.clone()).collect()
    }
}

fn check_control(c: Option<SocketAddr>, allow_non_loopback: bool) -> Result<(), FarmError> {
    match c {
        Some(a) if !allow_non_loopback && !a.ip().is_loopback() => Err(invalid(format!(
            "control address {a} is not a loopback address (give --allow-non-loopback to serve \
             it on the network)"
        ))),
        _ => Ok(()),
    }
}

/// `ip + n`, the whole IPv4 address counted up (`127.0.0.255 + 1 = 127.0.1.0`). Refuses
/// IPv6, leaving 127.0.0.0/8 (unless `allow_non_loopback`), the /8's network and broadcast
/// addresses, and running past `255.255.255.255`.
pub(crate) fn nth_address(
    ip: IpAddr,
    n: u32,
    allow_non_loopback: bool,
) -> Result<IpAddr, FarmError> {
    if n == 0 {
        return Ok(ip);
    }
    let IpAddr::V4(v4) = ip else {
        return Err(invalid(format!(
            "an address range needs an IPv4 address, not {ip} (IPv6 has one loopback address)"
        )));
    };
    let next = u32::from(v4)
        .checked_add(n)
        .map(Ipv4Addr::from)
        .ok_or_else(|| {
            invalid(format!(
                "the address range from {ip} runs past 255.255.255.255"
            ))
        })?;
    if !allow_non_loopback && v4.is_loopback() && !next.is_loopback() {
        return Err(invalid(format!(
            "the address range from {ip} leaves 127.0.0.0/8 at printer {} ({next})",
            u64::from(n) + 1
        )));
    }
    Ok(IpAddr::V4(next))
}

/// Whether an address may be bound: loopback, unless non-loopback addresses are allowed
/// (never the /8's network or broadcast address, nor multicast).
fn check_bind(ip: IpAddr, allow_non_loopback: bool, who: &str) -> Result<(), FarmError> {
    if let IpAddr::V4(v4) = ip {
        let o = v4.octets();
        if o[0] == 127
            && (u32::from(v4) & 0x00ff_ffff == 0 || u32::from(v4) & 0x00ff_ffff == 0x00ff_ffff)
        {
            return Err(invalid(format!(
                "{who}: {ip} is the network or broadcast address of 127.0.0.0/8"
            )));
        }
        if v4.is_broadcast() || v4.is_multicast() {
            return Err(invalid(format!("{who}: {ip} cannot be bound by a printer")));
        }
    }
    if ip.is_multicast() {
        return Err(invalid(format!("{who}: {ip} cannot be bound by a printer")));
    }
    if !allow_non_loopback && !ip.is_loopback() {
        return Err(invalid(format!(
            "{who}: {ip} is not a loopback address; a simulated printer stays on this machine \
             unless --allow-non-loopback is given"
        )));
    }
    Ok(())
}

/// The UDP ports a model answers discovery probes on when none are given.
pub(crate) fn default_discovery_ports(model: Model) -> &'static [u16] {
    // The model table's ports, as the simulator binds them.
    model.spec().discovery_ports
}

fn printable(s: &str) -> bool {
    s.chars().all(|c| !c.is_control())
}

fn check_text(who: &str, field: &str, v: &str, max: usize, ascii: bool) -> Result<(), FarmError> {
    if v.is_empty() || v.trim() != v {
        return Err(invalid(format!(
            "{who}: {field} must be non-empty without leading or trailing spaces"
        )));
    }
    if v.len() > max {
        return Err(invalid(format!(
            "{who}: {field} is {} bytes, at most {max}",
            v.len()
        )));
    }
    if !printable(v) || (ascii && !v.chars().all(|c| c.is_ascii_graphic())) {
        let kind = if ascii {
            "printable ASCII without spaces"
        } else {
            "printable characters"
        };
        return Err(invalid(format!("{who}: {field} must be {kind}")));
    }
    Ok(())
}

/// `AA:BB:CC:DD:EE:FF` (hex, `:` or `-`) as a 48-bit number.
pub(crate) fn parse_mac(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut v = 0u64;
    for p in parts {
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        v = v << 8 | u64::from(u8::from_str_radix(p, 16).ok()?);
    }
    Some(v)
}

fn format_mac(v: u64) -> String {
    let b = v.to_be_bytes();
    format!(
        "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn check_speed(who: &str, v: f64) -> Result<f64, FarmError> {
    if v.is_finite() && v > 0.0 && v <= MAX_SPEED {
        Ok(v)
    } else {
        Err(invalid(format!(
            "{who}: speed {v} must be a number more than 0 and at most {MAX_SPEED}"
        )))
    }
}

fn check_job_seconds(who: &str, v: f64) -> Result<Duration, FarmError> {
    if v.is_finite() && v > 0.0 && v <= MAX_SECONDS {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(format!(
            "{who}: job_seconds {v} must be more than 0 and at most 86400"
        )))
    }
}

/// Port `base + step`; 0 stays 0 (any free port, for every printer).
fn port_plus(who: &str, what: &str, base: u16, step: u32) -> Result<u16, FarmError> {
    if base == 0 {
        return Ok(0);
    }
    u16::try_from(u32::from(base) + step)
        .map_err(|_| invalid(format!("{who}: {what} {base} + {step} is past port 65535")))
}

/// Expand the groups into printers and check them all: values, loopback, serials and
/// sockets unique.
fn resolve(groups: Vec<Group>, allow_non_loopback: bool) -> Result<Farm, FarmError> {
    let mut printers = Vec::new();
    for g in groups {
        let total = g.models.len() as u32 * g.count;
        let mut n = 0u32;
        for (mi, &model) in g.models.iter().enumerate() {
            for i in 0..g.count {
                n += 1;
                printers.push(expand(
                    &g,
                    model,
                    mi as u32,
                    i,
                    n,
                    total,
                    allow_non_loopback,
                )?);
            }
        }
    }
    check_unique(&printers)?;
    Ok(Farm {
        printers,
        ..Farm::default()
    })
}

fn expand(
    g: &Group,
    model: Model,
    mi: u32,
    i: u32,
    n: u32,
    total: u32,
    allow_non_loopback: bool,
) -> Result<Entry, FarmError> {
    let several = total > 1;
    let who = if several {
        format!("{} #{n}", g.label)
    } else {
        g.label.clone()
    };
    let mut spec = if several {
        PrinterSpec::numbered(model, mi * 1000 + i)
    } else {
        PrinterSpec::new(model)
    };
    if let Some(name) = &g.name {
        spec.name = if several {
            format!("{name} #{n}")
        } else {
            name.clone()
        };
    }
    if let Some(serial) = &g.serial {
        spec.serial = if several {
            format!("{serial}-{n}")
        } else {
            serial.clone()
        };
    }
    if let Some(mac) = &g.mac {
        let v = parse_mac(mac).ok_or_else(|| {
            invalid(format!(
                "{who}: MAC `{mac}` is not six hex bytes like 88:A9:A7:00:00:01"
            ))
        })?;
        let v = v + u64::from(n - 1);
        if v >= 1 << 48 {
            return Err(invalid(format!(
                "{who}: MAC {mac} + {} runs past FF:FF:FF:FF:FF:FF",
                n - 1
            )));
        }
        spec.mac = format_mac(v);
    }
    spec.check_code = g
        .check_code
        .clone()
        .unwrap_or_else(|| DEFAULT_CHECK_CODE.to_owned());
    if let Some(f) = &g.firmware {
        spec.firmware.clone_from(f);
    }
    check_text(&who, "name", &spec.name, MAX_IDENTITY_BYTES, false)?;
    check_text(&who, "serial", &spec.serial, MAX_IDENTITY_BYTES, true)?;
    check_text(&who, "check code", &spec.check_code, MAX_SHORT_FIELD, true)?;
    check_text(&who, "firmware", &spec.firmware, MAX_SHORT_FIELD, false)?;
    if let Some(s) = g.speed {
        spec.speed = check_speed(&who, s)?;
    }
    if let Some(s) = g.job_seconds {
        spec.job_duration = check_job_seconds(&who, s)?;
    }
    if let Some(s) = g.a3_shape {
        spec.a3_shape = s;
    }
    if let Some(ip) = g.bind {
        let (ip, step) = if g.step_bind {
            (nth_address(ip, n - 1, allow_non_loopback)?, 0)
        } else {
            (ip, n - 1)
        };
        check_bind(ip, allow_non_loopback, &who)?;
        let mut net = Placement::at(ip);
        net.tcp_port = g
            .tcp_port
            .map(|p| port_plus(&who, "TCP port", p, step))
            .transpose()?;
        net.http_port = g
            .http_port
            .map(|p| port_plus(&who, "HTTP port", p, step))
            .transpose()?;
        net.camera_port = g
            .camera_port
            .map(|p| port_plus(&who, "camera port", p, step))
            .transpose()?;
        net.discovery_ports = g
            .discovery_ports
            .as_ref()
            .map(|ps| {
                ps.iter()
                    .map(|&p| port_plus(&who, "discovery port", p, step))
                    .collect::<Result<Vec<u16>, FarmError>>()
            })
            .transpose()?;
        spec.ip = ip.to_string();
        spec.net = net;
    }
    Ok(Entry {
        label: format!("{who} (serial {})", spec.serial),
        spec,
        faults: g.faults.clone(),
    })
}

/// The sockets a bound printer listens on: `(address, udp, port, what)`.
fn sockets(spec: &PrinterSpec) -> Vec<(IpAddr, bool, u16, &'static str)> {
    let Some(ip) = spec.net.bind else {
        return Vec::new();
    };
    let n = &spec.net;
    let m = spec.model;
    let mut v = Vec::new();
    if m.has_tcp() {
        v.push((ip, false, n.tcp_port.unwrap_or(STANDARD_TCP_PORT), "TCP"));
    }
    if m.is_http() {
        v.push((ip, false, n.http_port.unwrap_or(STANDARD_HTTP_PORT), "HTTP"));
    }
    if m.capabilities().camera {
        v.push((
            ip,
            false,
            n.camera_port.unwrap_or(STANDARD_CAMERA_PORT),
            "camera",
        ));
    }
    match &n.discovery_ports {
        Some(ps) => v.extend(ps.iter().map(|&p| (ip, true, p, "discovery"))),
        None => v.extend(
            default_discovery_ports(m)
                .iter()
                .map(|&p| (ip, true, p, "discovery")),
        ),
    }
    v
}

fn check_unique(printers: &[Entry]) -> Result<(), FarmError> {
    let mut serials: HashMap<&str, &str> = HashMap::new();
    let mut socks: HashMap<(IpAddr, bool, u16), (&str, &str)> = HashMap::new();
    for e in printers {
        if let Some(other) = serials.insert(&e.spec.serial, &e.label) {
            return Err(invalid(format!(
                "duplicate serial {}: {other} and {} (give each printer its own serial; \
                 `count` numbers one)",
                e.spec.serial, e.label
            )));
        }
        let mine = sockets(&e.spec);
        let mut own: HashMap<(IpAddr, bool, u16), &str> = HashMap::new();
        // Port 0 is any free port: never a clash.
        for (ip, udp, port, what) in mine.into_iter().filter(|s| s.2 != 0) {
            let proto = if udp { "UDP" } else { "TCP" };
            if let Some(w) = own.insert((ip, udp, port), what) {
                return Err(invalid(format!(
                    "{}: its {w} and {what} ports are both {proto} {}",
                    e.label,
                    SocketAddr::new(ip, port)
                )));
            }
            if let Some((other, w)) = socks.insert((ip, udp, port), (&e.label, what)) {
                return Err(invalid(format!(
                    "{other} and {} both use {proto} {} (as {w} and {what} port); give \
                     them different addresses or ports",
                    e.label,
                    SocketAddr::new(ip, port)
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
