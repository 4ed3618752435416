//! `flashforge sim`: simulated printers on loopback for trying the tool and testing others.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use flashforge_sim::{FaultRule, ServerConfig, SimServer};
use serde_json::json;

use crate::args::SimArgs;
use crate::exit::{Failure, Result, EXIT_OTHER, EXIT_USAGE};
use crate::farm::Farm;
use crate::output::emit;

pub(crate) fn start(a: &SimArgs) -> Result<SimServer> {
    let farm = Farm::from_args(a).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
    start_farm(&farm)
}

/// Start a resolved farm: its fault names are checked before anything is bound.
pub(crate) fn start_farm(farm: &Farm) -> Result<SimServer> {
    // Every fault rule is checked before anything is bound.
    let mut faults = Vec::with_capacity(farm.printers.len());
    for e in &farm.printers {
        let mine = e
            .faults
            .iter()
            .map(|f| {
                f.parse::<FaultRule>()
                    .map_err(|x| Failure::new(EXIT_USAGE, format!("{}: fault `{f}`: {x}", e.label)))
            })
            .collect::<Result<Vec<_>>>()?;
        faults.push(mine);
    }
    let mut cfg = ServerConfig::default();
    cfg.ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    cfg.tcp_port = farm.tcp_base;
    cfg.http_port = farm.http_base;
    cfg.udp_port = farm.udp_base;
    let mut server = SimServer::start(farm.specs(), &cfg)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot start the simulator: {e}")))?;
    if let Some(c) = farm.control {
        server.start_control(c).map_err(|e| {
            Failure::new(
                EXIT_OTHER,
                format!("cannot start the control API on {c}: {e}"),
            )
        })?;
    }
    for (h, mine) in server.printers().iter().zip(faults) {
        for rule in mine {
            h.faults.inject(rule);
        }
    }
    Ok(server)
}

/// The address string `--printer` takes for a simulated printer (an Adventurer 3/4 without
/// an HTTP port, as discovery shows it).
pub(crate) fn address(h: &flashforge_sim::SimHandle) -> String {
    h.endpoint().to_string()
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
                    "discovery": h.discovery.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "camera": h.camera.map(|a| a.to_string()),
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
    if let Some(c) = server.control() {
        if json {
            emit(&json!({ "control": format!("http://{c}") }).to_string());
        } else {
            emit(&format!(
                "control API: http://{c}/printers (see the README's Simulator section)"
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
