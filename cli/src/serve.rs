//! `flashforge serve`: the farm server (`flashforge-serve`) with its printers from the command
//! line and the config file, or with `--demo` against a simulated farm.

use std::path::PathBuf;
use std::time::Duration;

use flashforge_proto::Model;
use flashforge_serve::{Config, Discovery, PrinterEntry, Server, Token};
use flashforge_sim::StateChange;
use flashforge_tokio::{Credentials, DiscoverOptions};

use crate::args::{Global, ServeArgs, SimArgs, MAX_SECONDS};
use crate::config;
use crate::exit::{Failure, Result, EXIT_OTHER, EXIT_RESOURCE, EXIT_USAGE};
use crate::select::{options, select};
use crate::sim;

/// The token file's default place, beside the config file.
fn default_token_file() -> Option<PathBuf> {
    config::path().and_then(|p| p.parent().map(|d| d.join("serve-token")))
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::new(EXIT_USAGE, msg)
}

fn seconds(what: &str, v: f64) -> Result<Duration> {
    if v.is_finite() && v > 0.0 && v <= MAX_SECONDS {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(usage(format!(
            "{what} = {v}: give seconds more than 0 and at most 86400"
        )))
    }
}

pub(crate) async fn run(a: &ServeArgs, g: &Global) -> Result {
    let cfg = config::load(g.config.as_ref())?;
    let sec = &cfg.serve;
    let mut c =
        Config::new(Token::generate().map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?);
    if let Some(l) = a.listen.or(sec.listen) {
        c.listen = l;
    }
    c.interval = seconds("interval", a.interval.or(sec.interval).unwrap_or(2.0))?;
    c.open_reads = a.open_reads || sec.open_reads;
    c.client = options(g);
    let mib = a.max_upload_mib.or(sec.max_upload_mib).unwrap_or(2048);
    if mib == 0 || mib > 1 << 20 {
        return Err(usage("max_upload_mib: give 1 to 1048576"));
    }
    c.max_upload = mib << 20;
    c.cors_origin = a.cors_origin.clone().or_else(|| sec.cors_origin.clone());
    if let Some(o) = &c.cors_origin {
        if !(o.starts_with("http://") || o.starts_with("https://"))
            || o.bytes().any(|b| !b.is_ascii_graphic())
        {
            return Err(usage(format!(
                "CORS origin `{o}` is not `http(s)://host[:port]`"
            )));
        }
    }
    let mut demo_sims = None;
    // The token: the one given, or (not in the demo) the file, created on first start.
    let mut announce = None;
    if a.demo {
        // A token for this run only, shown in the dashboard link.
    } else if let Some(t) = &a.token {
        c.token = Token::new(t).map_err(|e| usage(format!("--token: {e}")))?;
    } else {
        let path = a
            .token_file
            .clone()
            .or_else(|| sec.token_file.clone())
            .or_else(default_token_file)
            .ok_or_else(|| {
                usage("no config directory (set HOME or XDG_CONFIG_HOME, or give --token-file)")
            })?;
        let (t, created) = Token::load_or_create(&path).map_err(|e| match &e {
            flashforge_serve::TokenError::Io { source, .. }
                if matches!(source.raw_os_error(), Some(23 | 24)) =>
            {
                Failure::new(EXIT_RESOURCE, e.to_string())
            }
            _ => usage(e.to_string()),
        })?;
        if created {
            announce = Some(format!(
                "a new API token was written to {} (mode 0600); it is shown this once:\n  {}",
                path.display(),
                t.expose()
            ));
        } else {
            announce = Some(format!("API token: in {}", path.display()));
        }
        c.token = t;
    }
    if a.demo {
        if !g.printer.is_empty() {
            return Err(usage(
                "--demo serves its own simulated printers: drop --printer",
            ));
        }
        let (sims, entries) = demo_farm(a)?;
        c.printers = entries;
        demo_sims = Some(sims);
    } else {
        c.printers = printers(g, &cfg).await?;
        if let Some(every) = a.discover_every.or(sec.discover_every) {
            let options = if g.target.is_empty() {
                DiscoverOptions::default()
            } else {
                DiscoverOptions::unicast(g.target.iter().copied())
            };
            let credentials = cfg
                .printers
                .values()
                .filter_map(|p| match (&p.serial, &p.check_code) {
                    (Some(s), Some(k)) => Credentials::new(s.clone(), k.clone()).ok(),
                    _ => None,
                })
                .collect();
            c.discovery = Some(Discovery::new(
                seconds("discover_every", every)?,
                options.timeout(Duration::from_secs(3)),
                credentials,
            ));
        }
        if c.printers.is_empty() && c.discovery.is_none() {
            return Err(usage(
                "no printers: give --printer (repeatable), profiles in the config file, --discover-every, or try --demo",
            ));
        }
    }
    if !c.listen.ip().is_loopback() {
        eprintln!(
            "note: listening on {}, reachable from the network; the token guards actions{}",
            c.listen,
            if c.open_reads {
                " (reads are open)"
            } else {
                " and reads"
            }
        );
    }
    let token_link = a.demo.then(|| c.token.expose().to_owned());
    let n = c.printers.len();
    let server = Server::start(c).await.map_err(|e| match &e {
        flashforge_serve::ServeError::Bind { source, .. }
            if matches!(source.raw_os_error(), Some(23 | 24)) =>
        {
            Failure::new(EXIT_RESOURCE, e.to_string())
        }
        flashforge_serve::ServeError::Bind { .. } => Failure::new(EXIT_OTHER, e.to_string()),
        _ => usage(e.to_string()),
    })?;
    let addr = server.local_addr();
    if let Some(msg) = announce {
        eprintln!("{msg}");
    }
    match token_link {
        Some(t) => println!(
            "flashforge serve --demo: {n} simulated printers\n  dashboard: http://{addr}/#token={t}\n  API:       http://{addr}/api/v1/printers (Authorization: Bearer {t})\n  metrics:   http://{addr}/metrics\nCtrl-C stops."
        ),
        None => println!(
            "flashforge serve: {n} printers\n  dashboard: http://{addr}/\n  API:       http://{addr}/api/v1/printers\n  metrics:   http://{addr}/metrics\nCtrl-C stops."
        ),
    }
    match a.duration {
        Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    server.shutdown().await;
    if let Some(s) = demo_sims {
        s.shutdown();
    }
    Ok(())
}

/// The printers: each --printer value (address or profile), else the `[serve]` table's
/// profiles, else every profile.
async fn printers(g: &Global, cfg: &config::Config) -> Result<Vec<PrinterEntry>> {
    let names: Vec<String> = if !g.printer.is_empty() {
        g.printer.clone()
    } else if let Some(p) = &cfg.serve.printers {
        for n in p {
            if !cfg.printers.contains_key(n) {
                return Err(usage(format!(
                    "[serve] printers: no profile `{n}` in the config file"
                )));
            }
        }
        p.clone()
    } else {
        cfg.printers.keys().cloned().collect()
    };
    if names.len() > 1 && (g.serial.is_some() || g.check_code.is_some()) {
        return Err(usage(
            "--serial and --check-code name one printer: give a farm's credentials in config profiles",
        ));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in &names {
        let s = select(g, Some(name)).await?;
        let mut e = PrinterEntry::new(
            &s.label,
            s.endpoint,
            if s.legacy {
                None
            } else {
                s.credentials.clone()
            },
        );
        // Without credentials only the TCP client reaches it (an Adventurer 3/4, or a 5M
        // family printer over TCP).
        e.model = s.model;
        out.push(e);
    }
    // Two names for one printer (a profile and its address) would poll it twice.
    for (i, a) in out.iter().enumerate() {
        if let Some(b) = out[..i].iter().find(|b| b.endpoint == a.endpoint) {
            return Err(usage(format!(
                "`{}` and `{}` are the same printer ({})",
                b.name, a.name, a.endpoint
            )));
        }
    }
    Ok(out)
}

/// The demo farm: `--demo-printers` simulated printers of every model in turn, half of them
/// printing, one paused, one finished.
fn demo_farm(a: &ServeArgs) -> Result<(flashforge_sim::SimServer, Vec<PrinterEntry>)> {
    let n = a.demo_printers.unwrap_or(Model::ALL.len() as u32) as usize;
    let models: Vec<Model> = Model::ALL.iter().copied().cycle().take(n).collect();
    let args = SimArgs {
        models,
        speed: Some(a.demo_speed.unwrap_or(20.0)),
        ..SimArgs::default()
    };
    let server = sim::start(&args)?;
    let mut entries = Vec::with_capacity(n);
    for (i, h) in server.printers().iter().enumerate() {
        let (name, model) = {
            let p = h.lock();
            (p.spec.name.clone(), p.spec.model)
        };
        let (ep, creds) = (h.endpoint(), h.credentials());
        let mut e = PrinterEntry::new(&name, ep, creds);
        e.model = Some(model);
        entries.push(e);
        let change = match i % 4 {
            0 | 1 => Some(StateChange::Printing {
                file: format!("demo-part-{}.gcode", i + 1),
                progress: 0.1 + 0.2 * (i % 4) as f64,
            }),
            2 if i % 8 == 2 => Some(StateChange::Paused),
            _ => None,
        };
        if let Some(c) = change {
            let _ = h.set_state(c);
        }
    }
    Ok((server, entries))
}
