//! `flashforge sim`: simulated printers on loopback for trying the tool and testing others.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::Args;
use flashforge_proto::Model;
use flashforge_sim::{A3Shape, HttpFault, PrinterSpec, ServerConfig, SimServer, TcpFault};
use serde_json::json;

use crate::cli::Global;
use crate::exit::{Failure, Result, EXIT_OTHER, EXIT_USAGE};
use crate::output::emit;

/// The check code of simulated printers unless `--check-code` says otherwise.
pub(crate) const DEFAULT_CHECK_CODE: &str = "12345678";

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Models (repeat): a3, a4, 5m, 5m-pro, ad5x, c5, c5-pro.
    #[arg(short, long = "model", value_parser = parse_model, default_value = "5m")]
    pub(crate) models: Vec<Model>,
    /// Printers per model.
    #[arg(long, default_value_t = 1)]
    pub(crate) count: u32,
    /// TCP port of the first printer (0 = any free port; the next printers count up).
    #[arg(long, default_value_t = 0)]
    pub(crate) tcp_port: u16,
    /// HTTP port of the first printer (0 = any).
    #[arg(long, default_value_t = 0)]
    pub(crate) http_port: u16,
    /// UDP discovery port of the first printer (0 = any).
    #[arg(long, default_value_t = 0)]
    pub(crate) udp_port: u16,
    /// Simulated-time speed-up for jobs and heaters.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) speed: f64,
    /// Check code of every simulated printer (default 12345678; never printed).
    #[arg(long = "sim-check-code", hide_default_value = true, default_value = DEFAULT_CHECK_CODE)]
    pub(crate) check_code: String,
    /// Fault switch, for every reply until exit (repeat): tcp-close-mid-reply, tcp-close,
    /// tcp-stall, tcp-drip, tcp-garbage, tcp-oversize, tcp-unsolicited, tcp-extra-ok,
    /// http-500, http-truncated, http-non-json, http-wrong-types, http-stall, http-close,
    /// http-drip, http-lan-mode-off, http-busy, udp-drop.
    #[arg(long = "fault")]
    pub(crate) faults: Vec<String>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Reply shape of simulated Adventurer 3s: b (as the emulator's A3 answers) or a (the
    /// earlier forms: `CMD … Received.` echoes and final `ok`s).
    #[arg(long = "a3-shape", value_parser = parse_a3_shape, default_value = "b")]
    pub(crate) a3_shape: A3Shape,
}

fn parse_a3_shape(s: &str) -> std::result::Result<A3Shape, String> {
    match s.to_ascii_lowercase().as_str() {
        "a" | "shape-a" => Ok(A3Shape::ShapeA),
        "b" | "shape-b" => Ok(A3Shape::ShapeB),
        _ => Err(format!("unknown A3 reply shape `{s}` (a, b)")),
    }
}

pub(crate) fn parse_model(s: &str) -> std::result::Result<Model, String> {
    Model::from_alias(s)
        .ok_or_else(|| format!("unknown model `{s}` (a3, a4, 5m, 5m-pro, ad5x, c5, c5-pro)"))
}

enum Fault {
    Tcp(TcpFault),
    Http(HttpFault),
    Udp,
}

fn parse_fault(s: &str) -> Result<Fault> {
    let d = Duration::from_millis(2);
    Ok(match s {
        "tcp-close-mid-reply" => Fault::Tcp(TcpFault::CloseMidReply),
        "tcp-close" => Fault::Tcp(TcpFault::Close),
        "tcp-stall" => Fault::Tcp(TcpFault::Stall),
        "tcp-drip" => Fault::Tcp(TcpFault::Drip(d)),
        "tcp-garbage" => Fault::Tcp(TcpFault::Garbage),
        "tcp-oversize" => Fault::Tcp(TcpFault::Oversize),
        "tcp-unsolicited" => Fault::Tcp(TcpFault::Unsolicited),
        "tcp-extra-ok" => Fault::Tcp(TcpFault::ExtraOk),
        "http-500" => Fault::Http(HttpFault::Status(500)),
        "http-truncated" => Fault::Http(HttpFault::TruncatedBody),
        "http-non-json" => Fault::Http(HttpFault::NonJson),
        "http-wrong-types" => Fault::Http(HttpFault::WrongTypes),
        "http-stall" => Fault::Http(HttpFault::Stall),
        "http-close" => Fault::Http(HttpFault::Close),
        "http-drip" => Fault::Http(HttpFault::Drip(d)),
        "http-lan-mode-off" => Fault::Http(HttpFault::Refuse(-2)),
        "http-busy" => Fault::Http(HttpFault::Refuse(5)),
        "udp-drop" => Fault::Udp,
        other => return Err(Failure::new(EXIT_USAGE, format!("unknown fault `{other}`"))),
    })
}

/// Start the printers the arguments describe (shared by `sim` and the tests' harness).
pub(crate) fn start(a: &SimArgs) -> Result<SimServer> {
    let mut specs = Vec::new();
    for (mi, &m) in a.models.iter().enumerate() {
        for i in 0..a.count.max(1) {
            let mut spec = if a.count <= 1 {
                PrinterSpec::new(m)
            } else {
                PrinterSpec::numbered(m, mi as u32 * 1000 + i)
            };
            spec.speed = a.speed.clamp(0.01, 10_000.0);
            spec.check_code.clone_from(&a.check_code);
            spec.a3_shape = a.a3_shape;
            specs.push(spec);
        }
    }
    let mut cfg = ServerConfig::default();
    cfg.ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    cfg.tcp_port = a.tcp_port;
    cfg.http_port = a.http_port;
    cfg.udp_port = a.udp_port;
    let server = SimServer::start(specs, &cfg)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot start the simulator: {e}")))?;
    for f in &a.faults {
        let fault = parse_fault(f)?;
        for h in server.printers() {
            match &fault {
                Fault::Tcp(t) => h.faults.sticky_tcp(*t),
                Fault::Http(x) => h.faults.sticky_http(*x),
                Fault::Udp => h.faults.drop_udp(true),
            }
        }
    }
    Ok(server)
}

/// The address string `--printer` takes for a simulated printer (an Adventurer 3/4 without
/// an HTTP port, as discovery shows it).
pub(crate) fn address(h: &flashforge_sim::SimHandle) -> String {
    flashforge_tokio::Endpoint::new(h.udp.ip())
        .with_ports(
            h.tcp.map_or(8899, |a| a.port()),
            h.http.map_or(8898, |a| a.port()),
        )
        .to_string()
}

pub(crate) async fn run(a: &SimArgs, g: &Global) -> Result {
    let server = start(a)?;
    if !g.json {
        emit(&format!(
            "{:<24} {:<18} {:<16} {:<28} {}",
            "NAME", "MODEL", "SERIAL", "ADDRESS (--printer)", "DISCOVERY (--target)"
        ));
    }
    for h in server.printers() {
        let p = h.lock();
        if g.json {
            emit(
                &json!({
                    "name": p.spec.name, "model": p.spec.model, "serial": p.spec.serial,
                    "address": address(h), "udp": h.udp.to_string(),
                    "tcp": h.tcp.map(|a| a.to_string()), "http": h.http.map(|a| a.to_string()),
                })
                .to_string(),
            );
        } else {
            emit(&format!(
                "{:<24} {:<18} {:<16} {:<28} {}",
                p.spec.name,
                p.spec.model.name(),
                p.spec.serial,
                address(h),
                h.udp
            ));
        }
    }
    if !g.json {
        emit("check code: the --sim-check-code value (see --help); Ctrl-C stops the printers");
    }
    match a.duration {
        Some(s) => tokio::time::sleep(Duration::from_secs_f64(s.clamp(0.0, 1e6))).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    server.shutdown();
    Ok(())
}
