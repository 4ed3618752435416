//! `flashforge sim`: simulated printers on loopback for trying the tool and testing others.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use flashforge_sim::{HttpFault, ServerConfig, SimServer, TcpFault};
use serde_json::json;

use crate::args::SimArgs;
use crate::exit::{Failure, Result, EXIT_OTHER, EXIT_USAGE};
use crate::farm::Farm;
use crate::output::emit;

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
        "http-401" => Fault::Http(HttpFault::Status(401)),
        "http-403" => Fault::Http(HttpFault::Status(403)),
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

/// Start the printers the arguments describe (shared by `sim` and `demo`).
pub(crate) fn start(a: &SimArgs) -> Result<SimServer> {
    let farm = Farm::from_args(a).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
    start_farm(&farm)
}

/// Start a resolved farm: its fault names are checked before anything is bound.
pub(crate) fn start_farm(farm: &Farm) -> Result<SimServer> {
    let mut faults = Vec::with_capacity(farm.printers.len());
    for e in &farm.printers {
        let mut mine = Vec::with_capacity(e.faults.len());
        for f in &e.faults {
            if f.contains([':', '@']) {
                return Err(Failure::new(
                    EXIT_USAGE,
                    format!(
                        "{}: fault `{f}`: repetitions and scopes (`:times@scope`) are not supported yet",
                        e.label
                    ),
                ));
            }
            mine.push(
                parse_fault(f).map_err(|x| {
                    Failure::new(EXIT_USAGE, format!("{}: {}", e.label, x.message()))
                })?,
            );
        }
        faults.push(mine);
    }
    let mut cfg = ServerConfig::default();
    cfg.ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    cfg.tcp_port = farm.tcp_base;
    cfg.http_port = farm.http_base;
    cfg.udp_port = farm.udp_base;
    let server = SimServer::start(farm.specs(), &cfg)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot start the simulator: {e}")))?;
    // The control API (another change adds `SimServer::start_control`); until then
    // `control` is parsed and checked but not served:
    // if let Some(c) = farm.control { server.start_control(c)?; }
    for (h, mine) in server.printers().iter().zip(&faults) {
        for fault in mine {
            match fault {
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

pub(crate) async fn run(a: &SimArgs, json: bool) -> Result {
    let server = start(a)?;
    if !json {
        emit(&format!(
            "{:<24} {:<18} {:<16} {:<28} {}",
            "NAME", "MODEL", "SERIAL", "ADDRESS (--printer)", "DISCOVERY (--target)"
        ));
    }
    for h in server.printers() {
        let p = h.lock();
        if json {
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
    if !json {
        emit("check code: the --check-code value (see --help); Ctrl-C stops the printers");
    }
    match a.duration {
        Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    server.shutdown();
    Ok(())
}
