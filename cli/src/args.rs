//! The command line: global options, subcommands and their arguments (clap), with the value
//! parsers clap calls. Nothing here talks to a printer.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use flashforge_proto::Model;
use flashforge_sim::A3Shape;

use crate::exit;

/// After the options in `--help`: the exit codes, then where the credentials come from.
const CREDENTIALS: &str = "\
Credentials: the serial number and the check code are on the printer's screen
(Settings > Network / About on the 5M family, AD5X and Creator 5). Pass them with --serial and
--check-code, FLASHFORGE_SERIAL and FLASHFORGE_CHECK_CODE, or a profile in
$XDG_CONFIG_HOME/flashforge/config.toml. Adventurer 3/4 need none. The check code is never
printed or logged.";

/// How `--printer` is read, and what `--json` does to errors.
const PRINTER_AND_JSON: &str = "\
--printer: an IP address is used as it is; a malformed one (`127.0.0.1:99999:0`, `1.2.3`) is a
usage error. Only a name or serial number is searched for on the LAN (said on stderr). Empty
FLASHFORGE_* variables count as unset. With --json, errors are one JSON object on stderr:
{\"error\": ..., \"kind\": ..., \"exit\": N}.";

fn after_help() -> String {
    format!(
        "{}\n\n{PRINTER_AND_JSON}\n\n{CREDENTIALS}",
        exit::help_text()
    )
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
    #[arg(long, global = true, env = "FLASHFORGE_MODEL", value_parser = parse_model)]
    pub(crate) printer_model: Option<Model>,
    /// Discovery probes go to these addresses by unicast (`IP:PORT`) instead of the LAN.
    #[arg(long, global = true)]
    pub(crate) target: Vec<SocketAddr>,
    /// Config file (default: $XDG_CONFIG_HOME/flashforge/config.toml).
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Deadline in seconds (more than 0, at most 86400): of connecting, of logging in (every
    /// attempt together) and of each reply.
    #[arg(long, global = true, default_value_t = 5.0, value_parser = parse_seconds)]
    pub(crate) timeout: f64,
    /// Seconds an upload waits for the printer's final answer after the whole file was sent
    /// (HTTP `/uploadGcode`, legacy `~M29`). The default suits large files over slow Wi-Fi,
    /// where the last segments are still in flight and the printer stores the file first.
    #[arg(long, global = true, default_value_t = 120.0, value_parser = parse_seconds)]
    pub(crate) upload_timeout: f64,
    /// Seconds a write may make no progress before the call fails (exit 9): the printer
    /// stopped reading an upload or a command. Long enough for a busy printer's pauses on
    /// Wi-Fi, short enough that a dead upload does not hang.
    #[arg(long, global = true, default_value_t = 30.0, value_parser = parse_seconds)]
    pub(crate) stall_timeout: f64,
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
        /// Seconds to search in total (retries and pauses included); a search that found
        /// printers ends earlier once they fall silent. 0.1 to 3600.
        #[arg(long, default_value_t = 3.0, value_parser = parse_search_seconds)]
        seconds: f64,
        /// List at most this many printers; when more answer, the list says it is cut short
        /// (a note on stderr; `"truncated": true` on every --json line).
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
        max_printers: u32,
    },
    /// One status snapshot.
    Status,
    /// Live view of one or several printers (repeat --printer).
    ///
    /// With --count, the exit code is 0 when the last update of at least one printer
    /// succeeded; when every printer's last update failed, it is the first printer's error
    /// code (3 unreachable, 4 credentials, 9 no answer, ...).
    Watch {
        /// Seconds between updates (more than 0, at most 86400).
        #[arg(long, default_value_t = 1.0, value_parser = parse_seconds)]
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
    Sim(SimPlaceholder),
    /// Simulated printers, end to end: discover, status, upload, print, watch, pause, resume,
    /// cancel, thumbnail.
    Demo {
        /// Simulated-time speed-up.
        #[arg(long, default_value_t = 40.0)]
        speed: f64,
    },
    /// The farm server: a dashboard, a REST and event API and Prometheus metrics for every
    /// printer (the --printer values, else every profile of the config file). See the
    /// README's "Farm server" section; `flashforge serve --demo` runs it against a built-in
    /// simulated farm.
    Serve(Box<ServeArgs>),
    /// Shell completions on stdout.
    Completions {
        /// bash | zsh | fish | elvish | powershell
        shell: clap_complete::Shell,
    },
}

/// `flashforge serve` options (the config file's `[serve]` table gives the same keys).
#[derive(Debug, Clone, Default, ClapArgs)]
pub(crate) struct ServeArgs {
    /// Listen address (default 127.0.0.1:8870). Another address than loopback exposes the
    /// API to the network: the token still guards every action (and reads, unless
    /// --open-reads).
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) listen: Option<SocketAddr>,
    /// Seconds between two polls of one printer (default 2).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) interval: Option<f64>,
    /// The token file (default $XDG_CONFIG_HOME/flashforge/serve-token): created with a new
    /// random token (mode 0600) on first start, printed once.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// The token itself, instead of the file (16 to 512 visible characters).
    #[arg(
        long,
        env = "FLASHFORGE_SERVE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) token: Option<String>,
    /// Let reads (GET: status, files, events, metrics) through without the token. Actions and
    /// uploads still need it.
    #[arg(long)]
    pub(crate) open_reads: bool,
    /// The largest upload accepted, in MiB (default 2048).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub(crate) max_upload_mib: Option<u64>,
    /// Search for printers every this many seconds and add the ones found (unicast to
    /// --target when given, else the LAN); HTTP printers need a profile with their serial
    /// number and check code.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) discover_every: Option<f64>,
    /// Allow this origin to call the API from a browser (CORS). Off by default.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) cors_origin: Option<String>,
    /// Serve a built-in simulated farm (every model, jobs running) instead of real printers,
    /// with a new token for this run: the dashboard link is printed.
    #[arg(long)]
    pub(crate) demo: bool,
    /// Printers in the --demo farm (default 7: one of each model).
    #[arg(long, value_name = "N", requires = "demo", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) demo_printers: Option<u32>,
    /// Simulated-time speed-up of the --demo farm.
    #[arg(long, value_name = "FACTOR", requires = "demo", value_parser = parse_speed)]
    pub(crate) demo_speed: Option<f64>,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) duration: Option<f64>,
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

/// The check code of simulated printers unless `--check-code` says otherwise.
pub(crate) const DEFAULT_CHECK_CODE: &str = "12345678";

/// After `flashforge sim`'s options: how the printers are numbered and placed, the farm file.
const SIM_AFTER_HELP: &str = "\
Several printers (--count, repeated --model): a given --name gets ` #N`, --serial `-N` and
--mac N-1 added (N = 1, 2, ...); without them every printer has numbered defaults.

Placement: without --bind or --bind-range every printer is on 127.0.0.1 with the
--tcp-port/--http-port/--udp-port bases counting up (0 or absent: any free port). --bind IP puts
one printer on IP with the standard ports (TCP 8899, HTTP 8898, the model's discovery ports,
camera 8080); several printers on one address need --tcp-port, --http-port and --udp-port bases
(and --camera-port for models with a camera). --bind-range IP gives printer N the address
IP + N-1 (127.0.0.255 is followed by 127.0.1.0), each with the standard ports; it stays inside
127.0.0.0/8. Only loopback addresses are accepted unless --allow-non-loopback. Two printers on
one address and port, or with one serial, are refused before anything is bound.

Farm file (--farm, TOML, at most 1 MiB and 10000 printers): top-level defaults speed,
check_code, firmware, job_seconds, a3_shape, faults, control; then [[printer]] tables with
model (required), name, serial, check_code, firmware, mac, bind, tcp_port, http_port,
discovery_ports, camera_port, job_seconds, a3_shape, speed, count (bind counts up per printer)
and faults. --farm excludes the per-printer flags; --control overrides the file's control.
Example: cli/examples/farm.toml.";

/// The options that describe printers, which a farm file replaces.
const PER_PRINTER: [&str; 17] = [
    "models",
    "count",
    "name",
    "serial",
    "check_code",
    "firmware",
    "mac",
    "job_seconds",
    "a3_shape",
    "speed",
    "bind",
    "bind_range",
    "tcp_port",
    "http_port",
    "udp_port",
    "camera_port",
    "faults",
];

/// `flashforge sim`: its own command line, without the client's options.
#[derive(Debug, Parser)]
#[command(
    name = "flashforge sim",
    bin_name = "flashforge sim",
    version,
    about = "Run simulated FlashForge printers on loopback until Ctrl-C (for trying things and \
             other tools' tests).",
    after_help = SIM_AFTER_HELP
)]
pub(crate) struct SimCli {
    #[command(flatten)]
    pub(crate) sim: SimArgs,
    /// Machine-readable output: one JSON object per printer.
    #[arg(long)]
    pub(crate) json: bool,
    /// More log output (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// `sim` in the client's command line: only for `flashforge --help`. `flashforge sim ...` is
/// parsed by [`SimCli`]; reaching this means a client option came before `sim`.
#[derive(Debug, ClapArgs)]
#[command(disable_help_flag = true)]
pub(crate) struct SimPlaceholder {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub(crate) rest: Vec<std::ffi::OsString>,
}

#[derive(Debug, Default, ClapArgs)]
pub(crate) struct SimArgs {
    /// Model (repeat for several): a3, a4, 5m, 5m-pro, ad5x, c5, c5-pro [default: 5m].
    #[arg(short, long = "model", value_name = "MODEL", value_parser = parse_model)]
    pub(crate) models: Vec<Model>,
    /// Printers per model (1 to 10000 in total).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) count: Option<u32>,
    /// Printer name, as discovery, `~M115` and `/detail` show it (at most 128 bytes).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Serial number (printable ASCII, at most 128 bytes) [default: SNSIM<MODEL>0001].
    #[arg(long)]
    pub(crate) serial: Option<String>,
    /// Check code HTTP requests must carry (printable ASCII; never printed) [default: 12345678].
    #[arg(long, value_name = "CODE", alias = "sim-check-code")]
    pub(crate) check_code: Option<String>,
    /// Firmware version string [default: the model's].
    #[arg(long)]
    pub(crate) firmware: Option<String>,
    /// MAC address `AA:BB:CC:DD:EE:FF` [default: 88:A9:A7:00:00:01].
    #[arg(long)]
    pub(crate) mac: Option<String>,
    /// Simulated print time of a job in seconds (more than 0, at most 86400) [default: 600].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) job_seconds: Option<f64>,
    /// Reply shape of simulated Adventurer 3s: b (as the emulator's A3 answers) or a (the
    /// earlier forms: `CMD … Received.` echoes and final `ok`s) [default: b].
    #[arg(long = "a3-shape", value_name = "a|b", value_parser = parse_a3_shape)]
    pub(crate) a3_shape: Option<A3Shape>,
    /// Simulated-time speed-up for jobs and heaters (more than 0, at most 10000) [default: 1].
    #[arg(long, value_name = "FACTOR", value_parser = parse_speed)]
    pub(crate) speed: Option<f64>,
    /// Put every printer on this address (standard ports for one printer; see below).
    #[arg(long, value_name = "IP", conflicts_with = "bind_range")]
    pub(crate) bind: Option<std::net::IpAddr>,
    /// One address per printer from this IPv4 address on, counting up, standard ports.
    #[arg(long, value_name = "IP")]
    pub(crate) bind_range: Option<std::net::IpAddr>,
    /// Accept --bind, --bind-range, --control and farm addresses that are not loopback (the
    /// printers are then reachable from the network).
    #[arg(long)]
    pub(crate) allow_non_loopback: bool,
    /// TCP port of the first printer (the next printers count up; 0 = any free port).
    #[arg(long, value_name = "PORT")]
    pub(crate) tcp_port: Option<u16>,
    /// HTTP port of the first printer (the next printers count up; 0 = any free port).
    #[arg(long, value_name = "PORT")]
    pub(crate) http_port: Option<u16>,
    /// UDP discovery port of the first printer (the next printers count up; 0 = any free
    /// port); with --bind it replaces the model's discovery ports.
    #[arg(long, value_name = "PORT")]
    pub(crate) udp_port: Option<u16>,
    /// Camera port of the first printer (with --bind or --bind-range) [default: 8080].
    #[arg(long, value_name = "PORT")]
    pub(crate) camera_port: Option<u16>,
    /// Address of the control API (`127.0.0.1:PORT`) [default: off].
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) control: Option<SocketAddr>,
    /// Printers from a farm file (TOML; see below); excludes the per-printer options.
    #[arg(long, value_name = "FILE", conflicts_with_all = PER_PRINTER)]
    pub(crate) farm: Option<PathBuf>,
    /// Fault rule (repeat): KIND[:TIMES][@SCOPE]. TIMES: once, a count, or always (the
    /// default); SCOPE: one HTTP path (`@/detail`) or TCP command (`@~M105`). KIND:
    /// tcp-close-mid-reply, tcp-close, tcp-stall, tcp-drip[-MS], tcp-garbage, tcp-oversize,
    /// tcp-unsolicited, tcp-extra-ok, tcp-pause-after-N-MS, tcp-stall-upload-N, http-500,
    /// http-401, http-403, http-status-NNN, http-truncated, http-non-json, http-wrong-types,
    /// http-stall, http-close, http-drip[-MS], http-lan-mode-off, http-busy, http-refuse-N,
    /// http-no-continue, http-early-success, http-stall-upload-N, udp-drop. Example:
    /// `--fault http-busy:once@/detail`. The control API adds and removes rules at run time.
    #[arg(long = "fault", value_name = "FAULT")]
    pub(crate) faults: Vec<String>,
    /// Stop after this many seconds (more than 0, at most 86400; default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) duration: Option<f64>,
}

/// `--speed`: finite, more than 0, at most 10000.
fn parse_speed(s: &str) -> Result<f64, String> {
    let range = "a speed-up more than 0 and at most 10000";
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not {range}"))?;
    if v.is_finite() && v > 0.0 && v <= 10_000.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` is out of range: give {range}"))
    }
}

/// The longest duration any seconds-valued option takes: a day.
pub(crate) const MAX_SECONDS: f64 = 86_400.0;

/// A number of seconds: finite, more than 0 and at most [`MAX_SECONDS`] (`NaN`, `inf`, `0`
/// and `1e300` are usage errors, never a panic or a wait without end).
pub(crate) fn parse_seconds(s: &str) -> Result<f64, String> {
    let range = "a number of seconds more than 0 and at most 86400 (a day)";
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not {range}"))?;
    if v.is_finite() && v > 0.0 && v <= MAX_SECONDS {
        Ok(v)
    } else {
        Err(format!("`{s}` is out of range: give {range}"))
    }
}

/// The whole command line as shell completions see it: the client's, with `sim` described by
/// its own option set ([`SimCli`]) rather than the placeholder.
pub(crate) fn completion_command() -> clap::Command {
    Args::command().mut_subcommand("sim", |c| {
        let about = c.get_about().cloned();
        let mut sim = SimCli::command().name("sim").bin_name("flashforge sim");
        if let Some(a) = about {
            sim = sim.about(a);
        }
        sim
    })
}

/// What the command line asks for: a client command, or the simulator with its own options.
#[derive(Debug)]
pub(crate) enum Invocation {
    Client(Box<Args>),
    Sim(Box<SimCli>),
}

/// Options that mean the same to the client and to `sim`: given before `sim` they go to it.
fn shared_flag(a: &std::ffi::OsStr) -> bool {
    let Some(a) = a.to_str() else { return false };
    matches!(a, "--json" | "--verbose" | "--quiet")
        || (a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| c == 'v' || c == 'q'))
}

/// The arguments of `flashforge sim` when the command line is `flashforge [--json|-v|-q]... sim
/// ...` (or `flashforge help sim`): the rest, with those flags, after a program name.
fn sim_arguments(args: &[std::ffi::OsString]) -> Option<Vec<std::ffi::OsString>> {
    let rest = args.get(1..)?;
    let at = rest.iter().position(|a| !shared_flag(a))?;
    let mut out = vec![std::ffi::OsString::from("flashforge sim")];
    if rest[at] == "sim" {
        out.extend(rest[at + 1..].iter().cloned());
    } else if rest[at] == "help" && rest.get(at + 1).is_some_and(|a| a == "sim") {
        out.push("--help".into());
    } else {
        return None;
    }
    out.extend(rest[..at].iter().cloned());
    Some(out)
}

/// Parse or exit: `--help` and `--version` on stdout as they are; a usage error under
/// `--json` is one JSON object like every other error.
fn or_exit<T>(parsed: Result<T, clap::Error>, json: bool) -> T {
    parsed.unwrap_or_else(|e| {
        if e.use_stderr() && json {
            eprintln!(
                "{}",
                exit::json_error(exit::EXIT_USAGE, &usage_line(&e), "")
            );
            std::process::exit(i32::from(exit::EXIT_USAGE));
        }
        e.exit()
    })
}

/// The global options that are the client's alone (not `--json`, `-v`, `-q`).
const CLIENT_ONLY: [&str; 10] = [
    "printer",
    "serial",
    "check_code",
    "legacy",
    "printer_model",
    "target",
    "config",
    "timeout",
    "upload_timeout",
    "stall_timeout",
];

impl Args {
    /// The command line: `sim` with [`SimCli`], everything else with [`Args::parse_client`].
    pub(crate) fn parse_env() -> Invocation {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let json = wants_json(args.iter().cloned());
        if let Some(sim) = sim_arguments(&args) {
            return Invocation::Sim(Box::new(or_exit(SimCli::try_parse_from(sim), json)));
        }
        Invocation::Client(Box::new(Self::parse_client(args, json)))
    }

    /// The client's command line, with every `FLASHFORGE_*` variable that is set but empty
    /// treated as unset (`FLASHFORGE_SERIAL=` gives no serial number rather than an empty one).
    fn parse_client(args: Vec<std::ffi::OsString>, json: bool) -> Self {
        let mut cmd = Self::command();
        let empty: Vec<clap::Id> = cmd
            .get_arguments()
            .filter(|a| {
                a.get_env()
                    .and_then(std::env::var_os)
                    .is_some_and(|v| v.is_empty())
            })
            .map(|a| a.get_id().clone())
            .collect();
        for id in empty {
            cmd = cmd.mut_arg(id, |a| a.env(None));
        }
        let parsed = cmd
            .clone()
            .try_get_matches_from(args)
            .and_then(|mut m| {
                if m.subcommand_name() == Some("sim") {
                    return Err(client_option_before_sim(&m, &mut cmd));
                }
                Self::from_arg_matches_mut(&mut m)
            })
            .map_err(|e| e.format(&mut cmd));
        or_exit(parsed, json)
    }
}

/// `flashforge --serial X sim`: the client option is a usage error naming it.
fn client_option_before_sim(m: &clap::ArgMatches, cmd: &mut clap::Command) -> clap::Error {
    let flag = CLIENT_ONLY
        .iter()
        .find(|id| {
            m.try_contains_id(id).unwrap_or(false)
                && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map_or("a client option".to_owned(), |id| {
            format!("--{}", id.replace('_', "-"))
        });
    cmd.error(
        clap::error::ErrorKind::ArgumentConflict,
        format!(
            "{flag} is an option of the client, not of `flashforge sim` (which takes its own \
             options after `sim`; see `flashforge sim --help`)"
        ),
    )
}

/// Whether `--json` is among the arguments (before a `--`), for errors clap reports before
/// the arguments are parsed.
fn wants_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Clap's error as one line: its first line without the `error: ` prefix.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// `discover --seconds`: a finite number of seconds, 0.1 to 3600 (NaN, infinities and
/// huge values would panic or mean "forever"; out of range is a usage error, not clamped).
fn parse_search_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number: seconds must be between 0.1 and 3600"))?;
    if v.is_finite() && (0.1..=3600.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}`: seconds must be between 0.1 and 3600"))
    }
}

pub(crate) fn parse_a3_shape(s: &str) -> Result<A3Shape, String> {
    match s.to_ascii_lowercase().as_str() {
        "a" | "shape-a" => Ok(A3Shape::ShapeA),
        "b" | "shape-b" => Ok(A3Shape::ShapeB),
        _ => Err(format!("unknown A3 reply shape `{s}` (a, b)")),
    }
}

pub(crate) fn parse_model(s: &str) -> Result<Model, String> {
    Model::from_alias(s)
        .ok_or_else(|| format!("unknown model `{s}` (a3, a4, 5m, 5m-pro, ad5x, c5, c5-pro)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_finite_positive_and_at_most_a_day() {
        assert_eq!(parse_seconds("1.5"), Ok(1.5));
        assert_eq!(parse_seconds("86400"), Ok(86_400.0));
        assert_eq!(parse_seconds("0.001"), Ok(0.001));
        for bad in [
            "NaN", "nan", "inf", "-inf", "1e300", "0", "-1", "86400.5", "", "5s",
        ] {
            let e = parse_seconds(bad).unwrap_err();
            assert!(e.contains("at most 86400"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
        SimCli::command().debug_assert();
        completion_command().debug_assert();
    }
}
