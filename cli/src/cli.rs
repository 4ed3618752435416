//! Arguments, printer selection, the subcommands and their exit codes.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, CommandFactory, Parser, Subcommand, ValueEnum};
use flashforge_proto::http::Rgb;
use flashforge_proto::Model;
use flashforge_tokio::{
    discover, Axis, ClientOptions, Credentials, DiscoverOptions, DiscoveredPrinter, Endpoint,
    Error as ClientError, Heater, JobOptions, LegacyPrinter, Printer, UploadOptions,
};

use crate::exit::{self, Failure, Result, EXIT_ABORTED, EXIT_OTHER, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::{config, demo, output, sim};

/// After the options in `--help`: the exit codes, then where the credentials come from.
const CREDENTIALS: &str = "\
Credentials: the serial number and the check code are on the printer's screen
(Settings > Network / About on the 5M family, AD5X and Creator 5). Pass them with --serial and
--check-code, FLASHFORGE_SERIAL and FLASHFORGE_CHECK_CODE, or a profile in
$XDG_CONFIG_HOME/flashforge/config.toml. Adventurer 3/4 need none. The check code is never
printed or logged.";

fn after_help() -> String {
    format!("{}\n\n{CREDENTIALS}", exit::help_text())
}

/// Find, watch and drive FlashForge 3D printers on the LAN.
#[derive(Debug, Parser)]
#[command(name = "flashforge", version, about, after_help = after_help())]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct Global {
    /// Printer: IP address (`192.168.1.20`, `IP:TCP_PORT:HTTP_PORT`), a profile name, or a
    /// name or serial number found by discovery. Repeat for `watch`.
    #[arg(short, long, global = true, env = "FLASHFORGE_PRINTER")]
    pub(crate) printer: Vec<String>,
    /// Serial number (5M family, AD5X, Creator 5).
    #[arg(long, global = true, env = "FLASHFORGE_SERIAL")]
    pub(crate) serial: Option<String>,
    /// Check code (never printed).
    #[arg(
        long,
        global = true,
        env = "FLASHFORGE_CHECK_CODE",
        hide_env_values = true
    )]
    pub(crate) check_code: Option<String>,
    /// Use the TCP-only client (Adventurer 3/4) even with credentials.
    #[arg(long, global = true)]
    pub(crate) legacy: bool,
    /// The printer's model when known (a3, a4, 5m, 5m-pro, ad5x, c5, c5-pro): picks the
    /// Adventurer 3's reply dialect before the first command (found by `~M115` otherwise).
    #[arg(long, global = true, env = "FLASHFORGE_MODEL", value_parser = crate::sim::parse_model)]
    pub(crate) printer_model: Option<Model>,
    /// Discovery probes go to these addresses by unicast (`IP:PORT`) instead of the LAN.
    #[arg(long, global = true)]
    pub(crate) target: Vec<SocketAddr>,
    /// Config file (default: $XDG_CONFIG_HOME/flashforge/config.toml).
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Reply deadline in seconds.
    #[arg(long, global = true, default_value_t = 5.0)]
    pub(crate) timeout: f64,
    /// Machine-readable output (one JSON object per line).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More log output (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Find printers (broadcast and multicast, or unicast with --target).
    Discover {
        /// Seconds to search.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// One status snapshot.
    Status,
    /// Live view of one or several printers (repeat --printer).
    Watch {
        /// Seconds between updates.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many updates.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Model, firmware, identity, capabilities.
    Info,
    /// Temperatures of every heater.
    Temps,
    /// Set or turn off heaters.
    Temp {
        #[command(subcommand)]
        action: TempAction,
    },
    /// Stored files: the full list (TCP) and the recent ones with metadata (HTTP).
    Files,
    /// Save a stored file's thumbnail.
    Thumb {
        /// File name on the printer.
        file: String,
        /// Output PNG.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Upload a file (with a progress bar).
    Upload {
        /// Local file.
        file: PathBuf,
        /// Start printing when complete.
        #[arg(long)]
        print: bool,
        /// Level the bed first (HTTP printers).
        #[arg(long)]
        level: bool,
        /// Material mapping `TOOL:SLOT:MATERIAL:#RRGGBB` (AD5X, Creator 5); repeat per tool.
        #[arg(long = "material-map")]
        material_map: Vec<String>,
    },
    /// Print a stored file.
    Print {
        /// File name on the printer.
        file: String,
        /// Level the bed first.
        #[arg(long)]
        level: bool,
    },
    /// Pause the job.
    Pause,
    /// Resume the job.
    Resume,
    /// Cancel the job (asks first unless --yes).
    Cancel {
        /// Do not ask.
        #[arg(short, long)]
        yes: bool,
    },
    /// Acknowledge a finished or cancelled job.
    Clear,
    /// LED on or off.
    Led {
        /// on | off
        state: OnOff,
    },
    /// Home all axes.
    Home,
    /// Jog one axis.
    Move {
        /// x | y | z
        axis: AxisArg,
        /// Millimetres (negative moves back).
        #[arg(allow_hyphen_values = true)]
        mm: f64,
    },
    /// Part-cooling fan speed in percent (0 = off).
    Fan {
        /// 0–100.
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
    },
    /// Filtration fans on or off.
    Filtration {
        /// on | off
        state: OnOff,
    },
    /// Camera stream on, off, or its URL.
    Camera {
        /// on | off | url
        action: CameraAction,
    },
    /// Material station: show the slots, or set one.
    Slots {
        /// Set slot `N` (1–4) ...
        #[arg(long, requires_all = ["material", "color"])]
        set: Option<u8>,
        /// ... to this material ...
        #[arg(long)]
        material: Option<String>,
        /// ... and colour (`#RRGGBB`).
        #[arg(long)]
        color: Option<String>,
    },
    /// Send one raw G-code line over TCP.
    Gcode {
        /// The line, e.g. `~M115`.
        line: String,
    },
    /// Parse a captured reply or datagram file to JSON.
    Decode {
        /// Parser (`temperatures`, `detail`, `discovery`, ... ; see --help).
        #[arg(long)]
        parser: Option<String>,
        /// The command the reply answers (`~M105`): selects the parser when --parser is
        /// absent, and the echo the reply framer expects.
        #[arg(long)]
        command: Option<String>,
        /// The capture.
        file: PathBuf,
    },
    /// Run simulated printers on loopback until Ctrl-C (for trying things and other tools' tests).
    Sim(sim::SimArgs),
    /// Simulated printers, end to end: discover, status, upload, print, watch, pause, resume,
    /// cancel, thumbnail.
    Demo {
        /// Simulated-time speed-up.
        #[arg(long, default_value_t = 40.0)]
        speed: f64,
    },
    /// Shell completions on stdout.
    Completions {
        /// bash | zsh | fish | elvish | powershell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TempAction {
    /// Set a heater's target.
    Set {
        /// nozzle | bed | chamber | tool0..tool3
        heater: String,
        /// °C
        celsius: u16,
    },
    /// Turn one heater (or all) off.
    Off {
        /// nozzle | bed | chamber | tool0..tool3 | all
        #[arg(default_value = "all")]
        heater: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OnOff {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CameraAction {
    On,
    Off,
    Url,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AxisArg {
    X,
    Y,
    Z,
}

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
    let t = Duration::from_secs_f64(global.timeout.clamp(0.1, 600.0));
    ClientOptions::default().reply_timeout(t).connect_timeout(t)
}

/// Where and how to connect, from flags, environment, config and discovery.
pub(crate) struct Selected {
    pub(crate) label: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) legacy: bool,
    /// The model when known before connecting: `--printer-model`, the profile, discovery.
    pub(crate) model: Option<Model>,
}

async fn select(global: &Global, wanted: Option<&str>) -> Result<Selected> {
    let cfg = config::load(global.config.as_ref()).map_err(|e| Failure::new(EXIT_USAGE, e))?;
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
        Some(m) => Some(sim::parse_model(m).map_err(|e| Failure::new(EXIT_USAGE, e))?),
        None => None,
    };
    let (endpoint, found_model) = match address.parse::<Endpoint>() {
        Ok(ep) => (ep, None),
        Err(_) => find_by_name(global, &address).await?,
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
    let found = run_discovery(global, 3.0).await?;
    found
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

pub(crate) async fn run_discovery(global: &Global, seconds: f64) -> Result<Vec<DiscoveredPrinter>> {
    let opts = if global.target.is_empty() {
        DiscoverOptions::default()
    } else {
        DiscoverOptions::unicast(global.target.iter().copied())
    };
    Ok(discover(&opts.timeout(Duration::from_secs_f64(seconds.clamp(0.2, 60.0)))).await?)
}

pub(crate) async fn connect(global: &Global, s: &Selected) -> Result<Conn> {
    let b = Printer::builder().options(options(global).model(s.model));
    match (&s.credentials, s.legacy) {
        (Some(c), false) => Ok(Conn::Http(b.connect(s.endpoint, c.clone()).await?)),
        _ => Ok(Conn::Legacy(b.connect_legacy(s.endpoint).await?)),
    }
}

fn heater(name: &str) -> Result<Heater> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "nozzle" | "extruder" | "tool0" | "t0" => Heater::Tool(0),
        "tool1" | "t1" | "left" => Heater::Tool(1),
        "tool2" | "t2" => Heater::Tool(2),
        "tool3" | "t3" => Heater::Tool(3),
        "bed" | "platform" => Heater::Bed,
        "chamber" => Heater::Chamber,
        other => {
            return Err(Failure::new(
                EXIT_USAGE,
                format!("unknown heater `{other}` (nozzle, tool0..tool3, bed, chamber)"),
            ))
        }
    })
}

fn color(s: &str) -> Result<Rgb> {
    let h = s.trim_start_matches('#');
    let bad = || Failure::new(EXIT_USAGE, format!("colour `{s}` is not #RRGGBB"));
    if h.len() != 6 {
        return Err(bad());
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| bad());
    Ok(Rgb([byte(0)?, byte(2)?, byte(4)?]))
}

fn mapping(s: &str) -> Result<flashforge_proto::http::MaterialMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || {
        Failure::new(
            EXIT_USAGE,
            format!("material map `{s}` is not TOOL:SLOT:MATERIAL:#RRGGBB"),
        )
    };
    let [tool, slot, material, col] = parts.as_slice() else {
        return Err(bad());
    };
    let col = color(col)?;
    Ok(flashforge_proto::http::MaterialMapping {
        tool_id: tool.parse().map_err(|_| bad())?,
        slot_id: slot.parse().map_err(|_| bad())?,
        material_name: (*material).to_owned(),
        tool_color: col,
        slot_color: col,
    })
}

fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

pub(crate) async fn run(args: Args) -> Result {
    let g = &args.global;
    match &args.command {
        Cmd::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Args::command(),
                "flashforge",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        Cmd::Decode {
            parser,
            command,
            file,
        } => return output::decode(parser.as_deref(), command.as_deref(), file),
        Cmd::Sim(a) => return sim::run(a, g).await,
        Cmd::Demo { speed } => return demo::run(*speed, g).await,
        Cmd::Discover { seconds } => {
            let found = run_discovery(g, *seconds).await?;
            output::discovered(&found, g.json);
            return Ok(());
        }
        Cmd::Watch { interval, count } => return watch(g, *interval, *count).await,
        _ => {}
    }
    let s = select(g, g.printer.first().map(String::as_str)).await?;
    let p = connect(g, &s).await?;
    let r = command(&args.command, g, &s, &p).await;
    p.close().await;
    r
}

async fn command(cmd: &Cmd, g: &Global, s: &Selected, p: &Printer) -> Result {
    let ok = |what: &str| {
        output::done(what, g.json);
        Ok(())
    };
    match cmd {
        Cmd::Status => output::status(&s.label, &p.status().await?, g.json),
        Cmd::Info => output::info(&p.info().await?, &p.capabilities(), g.json),
        Cmd::Temps => output::temps(&p.temperatures().await?, g.json),
        Cmd::Temp { action } => match action {
            TempAction::Set { heater: h, celsius } => {
                p.set_temperature(heater(h)?, *celsius).await?;
                return ok(&format!("{h} target {celsius} °C"));
            }
            TempAction::Off { heater: h } if h == "all" => {
                p.temperatures_off().await?;
                return ok("all heaters off");
            }
            TempAction::Off { heater: h } => {
                p.heater_off(heater(h)?).await?;
                return ok(&format!("{h} off"));
            }
        },
        Cmd::Files => {
            let full = match p.files().await {
                Ok(f) => Some(f),
                Err(ClientError::Unsupported { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let recent = match p.recent_files().await {
                Ok(f) => Some(f),
                Err(ClientError::Unsupported { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            output::files(full.as_deref(), recent.as_deref(), g.json);
        }
        Cmd::Thumb { file, output: out } => {
            let t = p.thumbnail(file).await?;
            std::fs::write(out, &t.image)
                .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", out.display())))?;
            return ok(&format!(
                "thumbnail of {file} saved to {} ({} bytes)",
                out.display(),
                t.image.len()
            ));
        }
        Cmd::Upload {
            file,
            print,
            level,
            material_map,
        } => {
            let mut job = JobOptions {
                leveling: *level,
                ..JobOptions::default()
            };
            for m in material_map {
                job.mappings.push(mapping(m)?);
            }
            let size = std::fs::metadata(file)
                .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", file.display())))?
                .len();
            let bar = output::progress_bar(size, g.quiet || g.json);
            let opts = UploadOptions::default().start(*print).job(job);
            p.upload_file(file, opts, |pr| bar.set_position(pr.sent))
                .await?;
            bar.finish_and_clear();
            return ok(&format!(
                "uploaded {} ({size} bytes){}",
                file.display(),
                if *print { ", printing" } else { "" }
            ));
        }
        Cmd::Print { file, level } => {
            let job = JobOptions {
                leveling: *level,
                ..JobOptions::default()
            };
            p.start(file, job).await?;
            return ok(&format!("printing {file}"));
        }
        Cmd::Pause => {
            p.pause().await?;
            return ok("paused");
        }
        Cmd::Resume => {
            p.resume().await?;
            return ok("resumed");
        }
        Cmd::Cancel { yes } => {
            if !yes && !confirm(&format!("Cancel the job on {}?", s.label))? {
                return Err(Failure::new(EXIT_ABORTED, "not cancelled"));
            }
            p.cancel().await?;
            return ok("cancelled");
        }
        Cmd::Clear => {
            p.clear_platform().await?;
            return ok("platform cleared");
        }
        Cmd::Led { state } => {
            p.led(matches!(state, OnOff::On)).await?;
            return ok(&format!(
                "LED {}",
                if matches!(state, OnOff::On) {
                    "on"
                } else {
                    "off"
                }
            ));
        }
        Cmd::Home => {
            p.home().await?;
            return ok("homed");
        }
        Cmd::Move { axis, mm } => {
            let a = match axis {
                AxisArg::X => Axis::X,
                AxisArg::Y => Axis::Y,
                AxisArg::Z => Axis::Z,
            };
            p.jog(a, *mm).await?;
            return ok(&format!("moved {axis:?} by {mm} mm"));
        }
        Cmd::Fan { percent } => {
            p.fan(*percent).await?;
            return ok(&format!("fan {percent} %"));
        }
        Cmd::Filtration { state } => {
            p.filtration(matches!(state, OnOff::On)).await?;
            return ok("filtration set");
        }
        Cmd::Camera { action } => match action {
            CameraAction::Url => output::line(&p.camera_url().await?, "url", g.json),
            CameraAction::On | CameraAction::Off => {
                p.camera(matches!(action, CameraAction::On)).await?;
                return ok("camera set");
            }
        },
        Cmd::Slots {
            set,
            material,
            color: col,
        } => match (set, material, col) {
            (Some(slot), Some(m), Some(c)) => {
                p.configure_slot(*slot, m, color(c)?).await?;
                return ok(&format!("slot {slot}: {m} {c}"));
            }
            _ => {
                let st = p.status().await?;
                let Some(station) = st.material_station else {
                    return Err(ClientError::Unsupported {
                        operation: "material station",
                        model: p.model(),
                    }
                    .into());
                };
                output::slots(&station, g.json);
            }
        },
        Cmd::Gcode { line } => {
            for l in p.gcode(line).await? {
                output::line(&l, "line", g.json);
            }
        }
        Cmd::Discover { .. }
        | Cmd::Watch { .. }
        | Cmd::Decode { .. }
        | Cmd::Sim(_)
        | Cmd::Demo { .. }
        | Cmd::Completions { .. } => {}
    }
    Ok(())
}

/// Poll every future to completion concurrently on the current task (no spawning).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

async fn watch(g: &Global, interval: f64, count: Option<u64>) -> Result {
    let names: Vec<Option<&str>> = if g.printer.is_empty() {
        vec![None]
    } else {
        g.printer.iter().map(|p| Some(p.as_str())).collect()
    };
    let mut selected = Vec::new();
    for n in names {
        selected.push(select(g, n).await?);
    }
    // A printer that cannot be reached shows as an error row and is retried every frame;
    // it does not end the watch of the others.
    let mut conns: Vec<Option<Conn>> = selected.iter().map(|_| None).collect();
    let tty = std::io::stdout().is_terminal() && !g.json;
    let every = Duration::from_secs_f64(interval.clamp(0.1, 3600.0));
    let mut tick = tokio::time::interval(every);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let missing: Vec<bool> = conns.iter().map(Option::is_none).collect();
        let connects = selected
            .iter()
            .zip(missing)
            .map(|(s, missing)| async move {
                if missing {
                    Some(connect(g, s).await)
                } else {
                    None
                }
            })
            .collect();
        let connected = join_all(connects).await;
        let mut errors: Vec<Option<String>> = Vec::new();
        for (slot, r) in conns.iter_mut().zip(connected) {
            errors.push(match r {
                Some(Ok(c)) => {
                    *slot = Some(c);
                    None
                }
                Some(Err(e)) => Some(e.message().to_owned()),
                None => None,
            });
        }
        // All printers at once: a slow or silent one does not hold back the others' rows.
        let polls = conns
            .iter()
            .map(|c| async move {
                match c {
                    Some(p) => Some(p.status().await),
                    None => None,
                }
            })
            .collect();
        let results = join_all(polls).await;
        let frame: Vec<_> = selected
            .iter()
            .zip(results.into_iter().zip(errors))
            .map(|(s, (r, err))| {
                let row = match (r, err) {
                    (Some(Ok(st)), _) => Ok(st),
                    (Some(Err(e)), _) => Err(e.to_string()),
                    (None, Some(e)) => Err(e),
                    (None, None) => Err("not connected".to_owned()),
                };
                (s.label.clone(), row)
            })
            .collect();
        output::watch_frame(&frame, g.json, tty);
        n += 1;
        if count.is_some_and(|c| n >= c) {
            break;
        }
    }
    for p in conns.iter().flatten() {
        p.close().await;
    }
    Ok(())
}
