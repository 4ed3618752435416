//! The decisions of the high-level client, shared by every runtime adapter.
//!
//! An adapter's `Printer` turns each user call into an [`Op`], asks [`Plan::new`] which steps
//! the printer's model needs (an HTTP [`Request`] or a TCP [`Command`], in order), performs them
//! with its sockets, and hands the results back to [`Plan::finish`], which returns the typed
//! [`Output`]. Which channel an operation takes, what a model cannot do, how replies become one
//! [`Status`] snapshot and how printer refusals become a typed [`ClientError`] are decided here,
//! once, so the four adapters only move bytes.
//!
//! ```
//! use flashforge_proto::client::{Op, Plan, Step, Target};
//! use flashforge_proto::Model;
//!
//! let target = Target::new(Model::Adventurer5M, "3.1.3", "192.168.1.20");
//! // LED on a 5M is one HTTP `/control` request ...
//! let plan = Plan::new(Op::Led(true), &target).unwrap();
//! assert!(matches!(plan.steps(), [Step::Http(_)]));
//! // ... homing takes the TCP channel ...
//! let plan = Plan::new(Op::Home, &target).unwrap();
//! assert!(matches!(plan.steps(), [Step::Tcp(_)]));
//! // ... and the 5M has no filtration fans: a typed error before any byte is sent.
//! let err = Plan::new(Op::Filtration(true), &target).unwrap_err();
//! assert!(err.is_unsupported());
//! ```

use std::fmt;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::discovery::{
    lan_destinations, Destination, DestinationKind, DiscoveredPrinter, DiscoveryConfig,
    DEFAULT_PORTS, FALLBACK_BROADCASTS,
};

use crate::gcode::{
    Axes, EndstopStatus, FileList, Led, MachineStatus, PrintStatus, PrinterInfo, RawLine, Thumbnail,
};
use crate::http::{
    ApiError, ApiReply, Axis, Body, Control, Credentials, Filtration, GcodeFile, Heat, HttpError,
    JobAction, JobFormat, JobOptions, MachineInfo, MachineState, MaterialStation, PrinterSettings,
    Request, Temperature, Temperatures, UploadSpec,
};
use crate::{Capabilities, Command, CommandError, Dialect, Model, Reply, SessionError, UsageError};

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
    /// [`Dialect::Unknown`], which accepts both reply shapes, until `~M115` names the model;
    /// `~M115` (or `/detail`) still decides the model in the end.
    pub model: Option<Model>,
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
        }
    }
}

impl ClientOptions {
    /// Deadline of a command's reply, TCP and HTTP (default 5 s).
    pub fn reply_timeout(mut self, d: Duration) -> Self {
        self.tcp.reply_timeout = d;
        self.tcp.long_reply_timeout = self.tcp.long_reply_timeout.max(d);
        self.http.command_timeout = d;
        self.http.read_timeout = d;
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
    /// Upload chunk size (clamped to 4 KiB–8 MiB).
    pub fn upload_chunk_size(mut self, n: usize) -> Self {
        self.upload_chunk_size = n.clamp(4096, 8 << 20);
        self
    }
}

/// Upload progress: bytes of the file sent so far and the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// File bytes written to the socket.
    pub sent: u64,
    /// File size.
    pub total: u64,
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

    /// Give up after `timeout` overall.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
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

/// What a printer is, as far as the client's decisions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The model.
    pub model: Model,
    /// What it can do (model defaults, refined by `/detail` and the caller's overrides).
    pub capabilities: Capabilities,
    /// Firmware version (chooses the `/printGcode` and upload body format).
    pub firmware: String,
    /// Host name or IP address (for the camera URL when the printer reports none).
    pub host: String,
    /// The TCP dialect.
    pub dialect: Dialect,
}

impl Target {
    /// A target with the model's default capabilities.
    ///
    /// The Creator 5 Pro has filtration fans, but its firmware acknowledges `circulateCtl_cmd`
    /// without running them (models.md §6 note 5), so filtration starts off here: a success
    /// would be a lie. [`Overrides::filtration`] turns it back on.
    pub fn new(model: Model, firmware: &str, host: &str) -> Self {
        let mut capabilities = model.capabilities();
        if model == Model::Creator5Pro {
            capabilities.filtration = false;
        }
        Self {
            model,
            capabilities,
            firmware: firmware.to_owned(),
            host: host.to_owned(),
            dialect: dialect_of(model),
        }
    }

    /// The target described by a `/detail` reply.
    pub fn from_detail(info: &MachineInfo, host: &str) -> Self {
        let mut t = Self::new(info.model, &info.firmware_version, host);
        t.capabilities = t.capabilities.with_detail(info);
        t
    }

    /// The target described by an `~M115` reply.
    pub fn from_printer_info(info: &PrinterInfo, host: &str) -> Self {
        Self::new(
            Model::from_machine_type(&info.machine_type),
            &info.firmware,
            host,
        )
    }

    /// The target of a printer being connected over HTTP, before `/detail` answers.
    pub fn connecting_http(host: &str) -> Self {
        let mut t = Self::new(Model::Unknown, "", host);
        t.capabilities.http = true;
        t
    }

    /// The target of a printer being connected over TCP, before `~M115` answers: the dialect
    /// of the `hint`ed model, or [`Dialect::Unknown`] (both reply shapes) without one.
    pub fn connecting_tcp(host: &str, hint: Option<Model>) -> Self {
        let mut t = Self::new(Model::Unknown, "", host);
        t.dialect = hint.map_or(Dialect::Unknown, dialect_of);
        t.capabilities.tcp = true;
        t
    }

    /// The target once the `Op::Info` of [`Target::connecting_http`] answered.
    pub fn connected_http(info: Output, host: &str, o: &Overrides) -> Result<Self, ClientError> {
        let detail = info
            .info()?
            .detail
            .ok_or(ClientError::UnexpectedReply("/detail"))?;
        let mut t = Self::from_detail(&detail, host).with_overrides(o);
        t.capabilities.http = true;
        Ok(t)
    }

    /// The target once `~M115` answered on a legacy (TCP-only) connection. The reply decides
    /// the model; the caller's `hint` only fills in a `Machine Type` no table knows.
    pub fn connected_tcp(
        reply: Reply,
        host: &str,
        o: &Overrides,
        hint: Option<Model>,
    ) -> Result<Self, ClientError> {
        let Reply::PrinterInfo(info) = reply else {
            return Err(ClientError::UnexpectedReply("an M115 reply"));
        };
        let mut t = Self::from_printer_info(&info, host);
        if let Some(h) = hint.filter(|_| t.model == Model::Unknown) {
            t = Self::new(h, &info.firmware, host);
        }
        let mut t = t.with_overrides(o);
        t.capabilities.http = false;
        t.capabilities.tcp = true;
        Ok(t)
    }

    /// Apply the caller's overrides.
    pub fn with_overrides(mut self, o: &Overrides) -> Self {
        let c = &mut self.capabilities;
        o.led.apply(&mut c.led);
        o.filtration.apply(&mut c.filtration);
        o.camera.apply(&mut c.camera);
        o.camera.apply(&mut c.camera_toggle);
        o.material_station.apply(&mut c.material_station);
        o.motion.apply(&mut c.tcp_motion);
        o.motion.apply(&mut c.http_motion);
        o.chamber_heater.apply(&mut c.chamber_heater);
        self
    }

    fn http(&self) -> bool {
        self.capabilities.http
    }
    fn tcp(&self) -> bool {
        self.capabilities.tcp
    }
}

/// The TCP dialect a model speaks ([`Dialect::Unknown`] for [`Model::Unknown`]).
pub fn dialect_of(model: Model) -> Dialect {
    match model {
        Model::Adventurer3 => Dialect::Adventurer3,
        Model::Unknown => Dialect::Unknown,
        _ => Dialect::Modern,
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
    /// Assume absent (the operation fails with [`ClientError::Unsupported`]).
    Off,
}

impl Toggle {
    fn apply(self, flag: &mut bool) {
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

/// A heater.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heater {
    /// Nozzle / tool `n` (0 = the only or right nozzle).
    Tool(u8),
    /// The bed.
    Bed,
    /// The chamber (Creator 5 Pro).
    Chamber,
}

impl fmt::Display for Heater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tool(n) => write!(f, "tool {n}"),
            Self::Bed => f.write_str("bed"),
            Self::Chamber => f.write_str("chamber"),
        }
    }
}

/// One operation of the high-level client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// One [`Status`] snapshot.
    Status,
    /// [`Info`]: identity and firmware.
    Info,
    /// Temperatures only ([`Temps`]).
    Temperatures,
    /// Set a heater target in °C; `None` turns it off.
    SetTemperature(Heater, Option<u16>),
    /// Turn every heater off.
    TemperaturesOff,
    /// LED on/off.
    Led(bool),
    /// Filtration fans on (both) / off.
    Filtration(bool),
    /// Camera stream on/off.
    Camera(bool),
    /// The MJPEG stream URL.
    CameraUrl,
    /// Home all axes.
    Home,
    /// Jog one axis by `mm`, relative.
    Jog(Axis, f64),
    /// Part-cooling fan speed in percent, 0–100 (`0` = off; more is a usage error).
    Fan(u8),
    /// Print speed override in percent.
    Speed(u16),
    /// Pause the job.
    Pause,
    /// Resume the job.
    Resume,
    /// Cancel the job.
    Cancel,
    /// Acknowledge a finished or cancelled job so the printer is ready again.
    ClearPlatform,
    /// Print a file stored on the printer.
    StartFile {
        /// Name as listed.
        name: String,
        /// Leveling, material mappings, ...
        options: JobOptions,
    },
    /// The full file list (TCP `~M661`).
    Files,
    /// The recent files with metadata (HTTP `/gcodeList`).
    RecentFiles,
    /// A stored file's thumbnail.
    Thumbnail(String),
    /// One raw G-code line over TCP.
    Gcode(String),
    /// Configure a material-station slot (1–4).
    ConfigureSlot {
        /// Slot 1–4.
        slot: u8,
        /// Material name (`PLA`, ...).
        material: String,
        /// Colour.
        color: crate::http::Rgb,
    },
}

impl Op {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Info => "info",
            Self::Temperatures => "temperatures",
            Self::SetTemperature(..) => "set temperature",
            Self::TemperaturesOff => "temperatures off",
            Self::Led(_) => "LED control",
            Self::Filtration(_) => "filtration",
            Self::Camera(_) => "camera control",
            Self::CameraUrl => "camera stream",
            Self::Home => "homing",
            Self::Jog(..) => "jogging",
            Self::Fan(_) => "fan control",
            Self::Speed(_) => "speed override",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::ClearPlatform => "clear platform",
            Self::StartFile { .. } => "start print",
            Self::Files => "full file list",
            Self::RecentFiles => "recent file list",
            Self::Thumbnail(_) => "thumbnail",
            Self::Gcode(_) => "raw G-code",
            Self::ConfigureSlot { .. } => "material slot",
        }
    }
}

/// One step of a [`Plan`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// An HTTP request on port 8898.
    Http(Request),
    /// A command on the TCP session (port 8899).
    Tcp(Command),
}

/// The result of a [`Step`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepOutput {
    /// The typed HTTP reply body.
    Http(Body),
    /// The typed TCP reply.
    Tcp(Reply),
}

/// The steps of one operation on one printer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    op: Op,
    model: Model,
    host: String,
    steps: Vec<Step>,
}

impl Plan {
    /// What `op` takes on `target`, or why it cannot run there.
    pub fn new(op: Op, target: &Target) -> Result<Self, ClientError> {
        let steps = plan_steps(&op, target)?;
        Ok(Self {
            model: target.model,
            host: target.host.clone(),
            op,
            steps,
        })
    }

    /// The operation.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// The steps, to run in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Turn the step results (one per step, in order) into the operation's output.
    pub fn finish(self, outputs: Vec<StepOutput>) -> Result<Output, ClientError> {
        if outputs.len() != self.steps.len() {
            return Err(ClientError::Usage(UsageError::OutOfRange {
                what: "step output count",
            }));
        }
        // Every HTTP envelope must say success; TCP errors arrive as `Err` before this point.
        let mut http = Vec::new();
        let mut tcp = Vec::new();
        for o in outputs {
            match o {
                StepOutput::Http(b) => http.push(check_body(b)?),
                StepOutput::Tcp(r) => tcp.push(r),
            }
        }
        finish(&self.op, self.model, &self.host, http, tcp)
    }
}

fn unsupported(op: &Op, target: &Target) -> ClientError {
    ClientError::Unsupported {
        operation: op.name(),
        model: target.model,
    }
}

/// The error for job options (leveling, material mappings) a model or firmware cannot take.
fn options_unsupported(options: &JobOptions, model: Model) -> ClientError {
    let operation = if options.leveling {
        "leveling before a print"
    } else if !options.mappings.is_empty() {
        "material mapping"
    } else {
        "print options"
    };
    ClientError::Unsupported { operation, model }
}

/// Material mappings on firmware whose job body has none (the 5M family).
fn mappings_unsupported(model: Model) -> ClientError {
    ClientError::Unsupported {
        operation: "material mapping",
        model,
    }
}

/// Percent (0–100) to the 0–255 duty of `printerCtl_cmd` and `~M106 S` (http.md §5.2).
fn fan_duty(percent: u8) -> u8 {
    ((u16::from(percent.min(100)) * 255 + 50) / 100) as u8
}

/// A `/control` step, or [`ClientError::Unsupported`] when the model's firmware lacks the
/// command (it would acknowledge it and do nothing).
fn control(command: Control, op: &Op, target: &Target) -> Result<Step, ClientError> {
    if !command.supported_by(target.model) {
        return Err(unsupported(op, target));
    }
    Ok(Step::Http(Request::Control {
        command,
        model: target.model,
    }))
}

fn plan_steps(op: &Op, t: &Target) -> Result<Vec<Step>, ClientError> {
    let c = &t.capabilities;
    let no = || Err(unsupported(op, t));
    let http = t.http();
    let tcp = t.tcp();
    // `temperatureCtl_cmd` only where its key names are established (http.md §5.3: the
    // Creator 5 family); every model with a TCP channel takes `~M104`/`~M140`, the path the
    // reference clients use on real hardware.
    let http_temps = http && t.model.is_creator5();
    Ok(match op {
        Op::Status | Op::Info | Op::Temperatures if http => vec![Step::Http(Request::Detail)],
        Op::Status if tcp => vec![
            Step::Tcp(Command::EndstopStatus),
            Step::Tcp(Command::Temperatures),
            Step::Tcp(Command::PrintStatus),
        ],
        Op::Info if tcp => vec![Step::Tcp(Command::MachineInfo)],
        Op::Temperatures if tcp => vec![Step::Tcp(Command::Temperatures)],
        Op::SetTemperature(heater, value) => {
            if matches!(heater, Heater::Chamber) && !c.chamber_heater {
                return no();
            }
            if http_temps {
                let heat = value.map_or(Heat::Off, Heat::Target);
                let mut temps = Temperatures::creator5();
                match *heater {
                    Heater::Bed => temps.platform = heat,
                    Heater::Chamber => temps.chamber = heat,
                    Heater::Tool(i) => temps = temps.tool(i.into(), heat)?,
                }
                vec![control(Control::Temperature(temps), op, t)?]
            } else if tcp {
                // Off is `S0`.
                let celsius = f64::from(value.unwrap_or(0));
                match *heater {
                    Heater::Bed => vec![Step::Tcp(Command::SetBedTemp { celsius })],
                    Heater::Tool(0) => vec![Step::Tcp(Command::SetNozzleTemp {
                        celsius,
                        tool: None,
                    })],
                    // tcp.md gives `~M104` no tool selector, so a second tool (the AD5X's
                    // left path as the emulator models it) has no established command.
                    Heater::Tool(_) => {
                        return Err(ClientError::Unsupported {
                            operation: "temperature of tools other than tool 0",
                            model: t.model,
                        })
                    }
                    Heater::Chamber => return no(),
                }
            } else {
                return no();
            }
        }
        Op::TemperaturesOff if http_temps => {
            let mut temps = Temperatures {
                nozzles: Some([Heat::Off; 4]),
                ..Temperatures::default()
            };
            temps.platform = Heat::Off;
            if c.chamber_heater {
                temps.chamber = Heat::Off;
            }
            vec![control(Control::Temperature(temps), op, t)?]
        }
        Op::TemperaturesOff if tcp => vec![
            Step::Tcp(Command::SetNozzleTemp {
                celsius: 0.0,
                tool: None,
            }),
            Step::Tcp(Command::SetBedTemp { celsius: 0.0 }),
        ],
        Op::Led(_) if !c.led => return no(),
        Op::Led(on) if http => vec![control(Control::Light(*on), op, t)?],
        Op::Led(on) if tcp => {
            let led = match (t.dialect, on) {
                (Dialect::Adventurer3, on) => Led::Accessory(*on),
                (_, true) => Led::ON,
                (_, false) => Led::OFF,
            };
            vec![Step::Tcp(Command::Led(led))]
        }
        Op::Filtration(on) if http && c.filtration => {
            let mode = if *on {
                Filtration::Both
            } else {
                Filtration::Off
            };
            vec![control(Control::Filtration(mode), op, t)?]
        }
        Op::Camera(on) if http && c.camera_toggle => {
            vec![control(Control::CameraStream(*on), op, t)?]
        }
        Op::CameraUrl if http && c.camera => vec![Step::Http(Request::Detail)],
        Op::Home | Op::Jog(..) if !(c.http_motion || c.tcp_motion) => return no(),
        Op::Home if http && c.http_motion => vec![control(Control::Home, op, t)?],
        Op::Home if tcp => vec![Step::Tcp(Command::Home)],
        Op::Jog(axis, mm) => {
            if !mm.is_finite() || mm.abs() > 500.0 {
                return Err(UsageError::OutOfRange {
                    what: "jog distance",
                }
                .into());
            }
            if http && c.http_motion {
                vec![control(
                    Control::Move {
                        axis: *axis,
                        delta: *mm,
                    },
                    op,
                    t,
                )?]
            } else if tcp {
                let mut axes = Axes::default();
                match axis {
                    Axis::X => axes.x = Some(*mm),
                    Axis::Y => axes.y = Some(*mm),
                    Axis::Z => axes.z = Some(*mm),
                }
                vec![
                    Step::Tcp(Command::RelativePositioning),
                    Step::Tcp(Command::Move {
                        axes,
                        feed: Some(3000.0),
                    }),
                    Step::Tcp(Command::AbsolutePositioning),
                ]
            } else {
                return no();
            }
        }
        Op::Fan(percent) if *percent > 100 => {
            return Err(UsageError::OutOfRange {
                what: "fan percent",
            }
            .into())
        }
        Op::Fan(percent) if http => vec![control(
            Control::PrinterSettings(PrinterSettings {
                cooling_fan: Some(fan_duty(*percent)),
                ..PrinterSettings::default()
            }),
            op,
            t,
        )?],
        Op::Fan(0) if tcp => vec![Step::Tcp(Command::FanOff)],
        Op::Fan(percent) if tcp => vec![Step::Tcp(Command::FanOn {
            speed: Some(fan_duty(*percent)),
        })],
        Op::Speed(pct) if http => {
            if !(10..=500).contains(pct) {
                return Err(UsageError::OutOfRange { what: "speed" }.into());
            }
            vec![control(
                Control::PrinterSettings(PrinterSettings {
                    speed: Some(*pct),
                    ..PrinterSettings::default()
                }),
                op,
                t,
            )?]
        }
        Op::Pause if http => vec![control(Control::Job(JobAction::Pause), op, t)?],
        Op::Resume if http => vec![control(Control::Job(JobAction::Resume), op, t)?],
        Op::Cancel if http => vec![control(Control::Job(JobAction::Cancel), op, t)?],
        Op::Pause if tcp => vec![Step::Tcp(Command::Pause)],
        Op::Resume if tcp => vec![Step::Tcp(Command::Resume)],
        Op::Cancel if tcp => vec![Step::Tcp(Command::Stop)],
        Op::ClearPlatform if http => vec![control(Control::ClearPlatform, op, t)?],
        Op::StartFile { name, options } if http => {
            crate::http::check_file_name(crate::gcode::bare_file_name(name))?;
            let format = JobFormat::for_printer(t.model, &t.firmware);
            if !options.mappings.is_empty() && !format.carries_mappings() {
                return Err(mappings_unsupported(t.model));
            }
            vec![Step::Http(Request::PrintGcode {
                file_name: crate::gcode::bare_file_name(name).to_owned(),
                format,
                options: options.clone(),
            })]
        }
        Op::StartFile { name, options } if tcp => {
            if options != &JobOptions::default() {
                return Err(options_unsupported(options, t.model));
            }
            start_commands(name, t.dialect)
                .into_iter()
                .map(Step::Tcp)
                .collect()
        }
        Op::Files if tcp && c.full_file_list => vec![Step::Tcp(Command::ListFiles)],
        Op::RecentFiles if http => vec![Step::Http(Request::GcodeList)],
        Op::Thumbnail(name) if http => vec![Step::Http(Request::GcodeThumb {
            file_name: crate::gcode::bare_file_name(name).to_owned(),
        })],
        Op::Thumbnail(name) if tcp => vec![Step::Tcp(Command::thumbnail(name, t.dialect))],
        Op::Gcode(line) if tcp => vec![Step::Tcp(Command::Raw(RawLine::new(line.as_str())?))],
        Op::ConfigureSlot {
            slot,
            material,
            color,
        } if http && c.material_station => vec![control(
            Control::SlotConfig {
                slot: *slot,
                material: material.clone(),
                color: *color,
            },
            op,
            t,
        )?],
        _ => return no(),
    })
}

/// `~M23` starts a stored file on the modern firmware; the Adventurer 3 only selects it and
/// needs `~M24` (tcp.md §4).
fn start_commands(name: &str, dialect: Dialect) -> Vec<Command> {
    let select = Command::select_file(name, dialect);
    match dialect {
        Dialect::Adventurer3 => vec![select, Command::Resume],
        _ => vec![select],
    }
}

/// How a file reaches the printer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UploadRoute {
    /// HTTP multipart `/uploadGcode` (starts the print itself when asked).
    Http(UploadSpec),
    /// Legacy `~M28`/`~M29` over TCP, then `start` (select and print) when asked.
    Tcp {
        /// Name on the printer.
        name: String,
        /// Exact size.
        size: u64,
        /// The commands that start the print afterwards (empty: just store it).
        start: Vec<Command>,
    },
}

/// Options of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct UploadOptions {
    /// Start printing when the upload completes.
    pub start: bool,
    /// Job options (leveling, material mappings; HTTP printers only).
    pub job: JobOptions,
    /// Send `Expect: 100-continue` (HTTP; default off in [`Default`], on in the adapters).
    pub expect_continue: bool,
}

impl UploadOptions {
    /// Start printing when done.
    pub fn start(mut self, start: bool) -> Self {
        self.start = start;
        self
    }
    /// Level the bed before the print (HTTP printers).
    pub fn leveling(mut self, on: bool) -> Self {
        self.job.leveling = on;
        self
    }
    /// Job options.
    pub fn job(mut self, job: JobOptions) -> Self {
        self.job = job;
        self
    }
}

/// Which route an upload of `size` bytes named `name` takes on `target`. `seed` feeds the
/// multipart boundary (the caller's entropy; the core has none).
pub fn upload_route(
    target: &Target,
    name: &str,
    size: u64,
    options: &UploadOptions,
    seed: u64,
) -> Result<UploadRoute, ClientError> {
    let name = crate::gcode::bare_file_name(name);
    if target.http() {
        crate::http::check_file_name(name)?;
        let format = JobFormat::for_printer(target.model, &target.firmware);
        if !options.job.mappings.is_empty() && !format.carries_mappings() {
            return Err(mappings_unsupported(target.model));
        }
        Ok(UploadRoute::Http(UploadSpec {
            file_name: name.to_owned(),
            file_size: size,
            print_now: options.start,
            format,
            options: options.job.clone(),
            expect_continue: options.expect_continue,
            boundary_seed: seed,
        }))
    } else if target.tcp() {
        if options.job != JobOptions::default() {
            return Err(options_unsupported(&options.job, target.model));
        }
        // Validates the name for the line protocol.
        Command::upload_begin(name, size)?;
        Ok(UploadRoute::Tcp {
            name: name.to_owned(),
            size,
            start: if options.start {
                start_commands(name, target.dialect)
            } else {
                Vec::new()
            },
        })
    } else {
        Err(ClientError::Unsupported {
            operation: "upload",
            model: target.model,
        })
    }
}

/// Entropy for a multipart boundary (std's per-process random hash keys; no clock).
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

/// Check an upload's final HTTP reply.
pub fn finish_upload(body: Body) -> Result<(), ClientError> {
    check_body(body).map(drop)
}

/// The outcome of an [`Op`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Done, nothing to report.
    Done,
    /// [`Op::Status`].
    Status(Box<Status>),
    /// [`Op::Info`].
    Info(Box<Info>),
    /// [`Op::Temperatures`].
    Temperatures(Temps),
    /// [`Op::CameraUrl`].
    Url(String),
    /// [`Op::Files`].
    Files(Vec<String>),
    /// [`Op::RecentFiles`].
    RecentFiles(Vec<GcodeFile>),
    /// [`Op::Thumbnail`].
    Thumbnail(Thumbnail),
    /// [`Op::Gcode`]: the reply lines.
    Lines(Vec<String>),
}

macro_rules! output_getter {
    ($(#[$m:meta])* $name:ident, $variant:ident, $ty:ty, $conv:expr) => {
        $(#[$m])*
        pub fn $name(self) -> Result<$ty, ClientError> {
            match self {
                Self::$variant(v) => Ok($conv(v)),
                _ => Err(ClientError::UnexpectedReply(stringify!($variant))),
            }
        }
    };
}

impl Output {
    /// `Ok(())` for [`Output::Done`].
    pub fn done(self) -> Result<(), ClientError> {
        match self {
            Self::Done => Ok(()),
            _ => Err(ClientError::UnexpectedReply("Done")),
        }
    }
    output_getter!(
        /// The status.
        status, Status, Status, |b: Box<Status>| *b
    );
    output_getter!(
        /// The info.
        info, Info, Info, |b: Box<Info>| *b
    );
    output_getter!(
        /// The temperatures.
        temperatures, Temperatures, Temps, |t| t
    );
    output_getter!(
        /// The URL.
        url, Url, String, |u| u
    );
    output_getter!(
        /// The file names.
        files, Files, Vec<String>, |f| f
    );
    output_getter!(
        /// The recent files.
        recent_files, RecentFiles, Vec<GcodeFile>, |f| f
    );
    output_getter!(
        /// The thumbnail.
        thumbnail, Thumbnail, Thumbnail, |t| t
    );
    output_getter!(
        /// The reply lines.
        lines, Lines, Vec<String>, |l| l
    );
}

/// Temperatures of every heater the printer reports.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Temps {
    /// Tools in order (T0, T1, ...).
    pub tools: Vec<Temperature>,
    /// The bed.
    pub bed: Option<Temperature>,
    /// The chamber, when it has a sensor.
    pub chamber: Option<Temperature>,
}

/// One status snapshot, the same shape for every model.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Status {
    /// The model.
    pub model: Model,
    /// Machine state.
    pub state: MachineState,
    /// The state as the printer reported it.
    pub state_raw: String,
    /// Job progress 0.0–1.0, when a job reports one.
    pub progress: Option<f64>,
    /// Temperatures.
    pub temperatures: Temps,
    /// Part-cooling fan speed in percent (`/detail.coolingFanSpeed`, 0–100), the unit
    /// [`Op::Fan`] takes. `None` over TCP, which reports no fan speed.
    pub cooling_fan_percent: Option<i64>,
    /// Chamber fan speed in percent (`/detail.chamberFanSpeed`, 0–100).
    pub chamber_fan_percent: Option<i64>,
    /// Speed override percent.
    pub speed_percent: Option<f64>,
    /// Time printed.
    pub elapsed: Option<Duration>,
    /// Estimated time left, only while a job runs or is paused (never for a cancelled or
    /// finished one).
    pub remaining: Option<Duration>,
    /// Current layer.
    pub layer: Option<u32>,
    /// Total layers.
    pub total_layers: Option<u32>,
    /// The file being printed.
    pub file: Option<String>,
    /// LED on.
    pub lights_on: Option<bool>,
    /// Door open (Creator 5 Pro).
    pub door_open: Option<bool>,
    /// Error code, when not empty.
    pub error_code: Option<String>,
    /// Material station.
    pub material_station: Option<MaterialStation>,
}

impl Status {
    /// The snapshot of a `/detail` reply.
    pub fn from_detail(d: &MachineInfo) -> Self {
        let active = d.state.is_active_job()
            || matches!(d.state, MachineState::Completed | MachineState::Cancelled);
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            model: d.model,
            state: d.state.clone(),
            state_raw: d.status.clone(),
            progress: active.then_some(d.progress),
            temperatures: temps_of_detail(d),
            cooling_fan_percent: Some(d.cooling_fan_speed),
            chamber_fan_percent: Some(d.chamber_fan_speed),
            speed_percent: Some(d.speed_adjust),
            elapsed: active.then_some(d.elapsed),
            // `estimatedTime` of a cancelled or completed job is stale, not a time left.
            remaining: d.state.is_active_job().then_some(d.remaining),
            layer: active.then_some(d.layer),
            total_layers: active.then_some(d.total_layers),
            file: nonempty(&d.print_file_name),
            lights_on: Some(d.lights_on),
            door_open: d.has_door_sensor().then_some(d.door_open),
            error_code: nonempty(&d.error_code).filter(|c| c != "0"),
            material_station: d.material_station.clone(),
        }
    }

    /// The snapshot of the TCP replies `~M119`, `~M105`, `~M27`.
    pub fn from_tcp(
        model: Model,
        endstop: &EndstopStatus,
        temps: &crate::gcode::Temperatures,
        print: &PrintStatus,
    ) -> Self {
        let state = match &endstop.machine_status {
            Some(MachineStatus::BuildingFromSd) => {
                if endstop.move_mode == Some(crate::gcode::MoveMode::Paused) {
                    MachineState::Paused
                } else {
                    MachineState::Printing
                }
            }
            Some(MachineStatus::BuildingCompleted) => MachineState::Completed,
            Some(MachineStatus::Paused) => MachineState::Paused,
            Some(MachineStatus::Ready) => MachineState::Ready,
            Some(MachineStatus::Busy) => MachineState::Busy,
            Some(MachineStatus::Unknown(s)) => MachineState::Other(s.clone()),
            None => MachineState::Unknown,
        };
        let active = state.is_active_job() || state == MachineState::Completed;
        let progress = (active && print.sd_total > 0)
            .then(|| (print.sd_current as f64 / print.sd_total as f64).clamp(0.0, 1.0));
        Self {
            model,
            state,
            state_raw: endstop.machine_status_raw.clone().unwrap_or_default(),
            progress,
            temperatures: temps_of_tcp(temps),
            layer: active.then_some(print.layer_current).flatten(),
            total_layers: active.then_some(print.layer_total).flatten(),
            file: endstop.current_file.clone().filter(|f| !f.is_empty()),
            lights_on: Some(endstop.led_on),
            ..Self::default()
        }
    }
}

fn temps_of_detail(d: &MachineInfo) -> Temps {
    let tools = if !d.tools.is_empty() {
        d.tools.clone()
    } else if d.model == Model::AD5X || d.left_extruder.current.is_none() {
        vec![d.extruder]
    } else {
        vec![d.extruder, d.left_extruder]
    };
    Temps {
        tools,
        bed: Some(d.bed),
        chamber: d.chamber,
    }
}

fn temps_of_tcp(t: &crate::gcode::Temperatures) -> Temps {
    // A target of 0 means the heater is off, as `None` does for `/detail`.
    let r = |current: f64, target: Option<f64>| Temperature {
        current: Some(current),
        target: target.filter(|t| *t > 0.0),
    };
    Temps {
        tools: t.tools().iter().map(|x| r(x.current, x.target)).collect(),
        bed: t.bed.map(|b| r(b.current, b.target)),
        chamber: t.chamber.map(|c| r(c.current, c.target)),
    }
}

/// Identity and firmware.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Info {
    /// The model.
    pub model: Model,
    /// The printer's name.
    pub name: String,
    /// Firmware version.
    pub firmware: String,
    /// Serial number: from `~M115`, or for HTTP printers (whose `/detail` has none) the one
    /// the printer accepted with the check code.
    pub serial: Option<String>,
    /// MAC address, when reported.
    pub mac: Option<String>,
    /// IP address as the printer reports it.
    pub ip: Option<String>,
    /// Build volume in mm (x, y, z).
    pub build_volume: Option<(f64, f64, f64)>,
    /// Number of tools. From `/detail`, the tools its temperatures list ([`Temps::tools`]),
    /// so the two always agree: the AD5X has one nozzle (the real printer reports
    /// `nozzleCnt: 1`; the emulator's second, "left" path is not a tool); the raw `nozzleCnt`
    /// stays in [`MachineInfo::nozzle_count`].
    pub tool_count: Option<u32>,
    /// Everything `/detail` reported (HTTP printers).
    pub detail: Option<Box<MachineInfo>>,
}

impl Info {
    fn from_detail(d: MachineInfo) -> Self {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            model: d.model,
            name: d.name.clone(),
            firmware: d.firmware_version.clone(),
            serial: None,
            mac: nonempty(&d.mac_address),
            ip: nonempty(&d.ip_address),
            build_volume: d.build_volume.map(|b| (b.x, b.y, b.z)),
            tool_count: u32::try_from(temps_of_detail(&d).tools.len()).ok(),
            detail: Some(Box::new(d)),
        }
    }

    /// Fill in the serial number the client connected with when the reply carried none
    /// (`/detail` never does; the printer checked it against the check code).
    pub fn with_known_serial(mut self, serial: Option<&str>) -> Self {
        if self.serial.is_none() {
            self.serial = serial.filter(|s| !s.is_empty()).map(str::to_owned);
        }
        self
    }

    fn from_printer_info(p: PrinterInfo) -> Self {
        Self {
            model: Model::from_machine_type(&p.machine_type),
            name: p.machine_name.unwrap_or_default(),
            firmware: p.firmware,
            serial: p.serial_number,
            mac: p.mac_address,
            ip: None,
            build_volume: p
                .build_volume
                .map(|b| (f64::from(b.x), f64::from(b.y), f64::from(b.z))),
            tool_count: p.tool_count,
            detail: None,
        }
    }
}

#[cfg(feature = "serde")]
mod json {
    use serde::{Serialize, Serializer};
    use serde_json::{json, Value};

    use super::{Info, Status};

    fn secs(d: Option<std::time::Duration>) -> Value {
        d.map_or(Value::Null, |d| json!(d.as_secs()))
    }

    impl Serialize for Status {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let station = self.material_station.as_ref().map(|m| {
                json!({
                    "slot_count": m.slot_count,
                    "current_slot": m.current_slot,
                    "slots": m.slots.iter().map(|x| json!({
                        "slot": x.slot_id,
                        "has_filament": x.has_filament,
                        "material": x.material_name,
                        "color": x.material_color,
                    })).collect::<Vec<_>>(),
                })
            });
            json!({
                "model": self.model,
                "state": self.state.name(),
                "state_raw": self.state_raw,
                "progress": self.progress,
                "temperatures": self.temperatures,
                "cooling_fan_percent": self.cooling_fan_percent,
                "chamber_fan_percent": self.chamber_fan_percent,
                "speed_percent": self.speed_percent,
                "elapsed_s": secs(self.elapsed),
                "remaining_s": secs(self.remaining),
                "layer": self.layer,
                "total_layers": self.total_layers,
                "file": self.file,
                "lights_on": self.lights_on,
                "door_open": self.door_open,
                "error_code": self.error_code,
                "material_station": station,
            })
            .serialize(s)
        }
    }

    impl Serialize for Info {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            json!({
                "model": self.model,
                "name": self.name,
                "firmware": self.firmware,
                "serial": self.serial,
                "mac": self.mac,
                "ip": self.ip,
                "build_volume": self.build_volume,
                "tool_count": self.tool_count,
            })
            .serialize(s)
        }
    }
}

/// An HTTP body whose envelope said success (payload still inside).
fn check_body(b: Body) -> Result<Body, ClientError> {
    fn env<T>(r: &ApiReply<T>) -> Result<(), ClientError> {
        r.envelope.check().map_err(ClientError::from)
    }
    match &b {
        Body::Detail(r) => env(r)?,
        Body::Product(r) => env(r)?,
        Body::GcodeList(r) => env(r)?,
        Body::GcodeThumb(r) => env(r)?,
        Body::Envelope(r) => env(r)?,
        Body::Image(Err(r)) => env(r)?,
        Body::Image(Ok(_)) => {}
    }
    Ok(b)
}

fn payload<T>(r: ApiReply<T>) -> Result<T, ClientError> {
    r.into_result().map_err(ClientError::from)
}

fn finish(
    op: &Op,
    model: Model,
    host: &str,
    mut http: Vec<Body>,
    mut tcp: Vec<Reply>,
) -> Result<Output, ClientError> {
    let unexpected = |what| Err(ClientError::UnexpectedReply(what));
    if let Some(body) = http.pop() {
        return match (op, body) {
            (Op::Status, Body::Detail(d)) => {
                Ok(Output::Status(Box::new(Status::from_detail(&payload(*d)?))))
            }
            (Op::Info, Body::Detail(d)) => {
                Ok(Output::Info(Box::new(Info::from_detail(payload(*d)?))))
            }
            (Op::Temperatures, Body::Detail(d)) => {
                Ok(Output::Temperatures(temps_of_detail(&payload(*d)?)))
            }
            (Op::CameraUrl, Body::Detail(d)) => {
                let d = payload(*d)?;
                Ok(Output::Url(if d.camera_stream_url.is_empty() {
                    format!("http://{host}:{CAMERA_PORT}/?action=stream")
                } else {
                    d.camera_stream_url
                }))
            }
            (Op::RecentFiles, Body::GcodeList(l)) => Ok(Output::RecentFiles(payload(l)?)),
            (Op::Thumbnail(_), Body::GcodeThumb(t)) => Ok(Output::Thumbnail(payload(t)?)),
            (_, Body::Envelope(_)) => Ok(Output::Done),
            _ => unexpected("a reply matching the request"),
        };
    }
    match op {
        Op::Status => {
            let (
                Some(Reply::PrintStatus(p)),
                Some(Reply::Temperatures(t)),
                Some(Reply::EndstopStatus(e)),
            ) = (tcp.pop(), tcp.pop(), tcp.pop())
            else {
                return unexpected("M119, M105, M27 replies");
            };
            Ok(Output::Status(Box::new(Status::from_tcp(
                model, &e, &t, &p,
            ))))
        }
        Op::Info => match tcp.pop() {
            Some(Reply::PrinterInfo(p)) => Ok(Output::Info(Box::new(Info::from_printer_info(p)))),
            _ => unexpected("an M115 reply"),
        },
        Op::Temperatures => match tcp.pop() {
            Some(Reply::Temperatures(t)) => Ok(Output::Temperatures(temps_of_tcp(&t))),
            _ => unexpected("an M105 reply"),
        },
        Op::Files => match tcp.pop() {
            Some(Reply::FileList(FileList { paths, .. })) => Ok(Output::Files(
                paths
                    .into_iter()
                    .map(|p| crate::gcode::bare_file_name(&p).to_owned())
                    .collect(),
            )),
            _ => unexpected("an M661 reply"),
        },
        Op::Thumbnail(_) => match tcp.pop() {
            Some(Reply::Thumbnail(t)) => Ok(Output::Thumbnail(t)),
            _ => unexpected("an M662 reply"),
        },
        Op::Gcode(_) => Ok(Output::Lines(match tcp.pop() {
            Some(Reply::RawText(r)) => r.lines,
            Some(other) => vec![format!("{other:?}")],
            None => Vec::new(),
        })),
        _ => Ok(Output::Done),
    }
}

/// Why a high-level operation failed. Every variant is something a person can act on; none
/// contains the check code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The model cannot do this (checked before anything is sent).
    #[error("{operation} is not supported by the {model}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The model.
        model: Model,
    },
    /// The call's arguments are invalid.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The printer rejected the serial number / check code.
    #[error("the printer rejected the serial number or check code")]
    Unauthorized,
    /// Another client holds the TCP control lock.
    #[error("another client holds control of the printer")]
    ControlHeld,
    /// The printer is busy (a job runs or the platform was not cleared).
    #[error("printer busy: {0}")]
    Busy(String),
    /// LAN-only mode is off on the printer (Creator 5 code −2).
    #[error("LAN mode is off on the printer (enable it in the printer's network settings)")]
    LanModeOff,
    /// Any other refusal, as the printer worded it.
    #[error("printer refused: code {}, {message:?}", code.map_or_else(|| "missing".to_owned(), |c| c.to_string()))]
    Refused {
        /// `code` of the envelope.
        code: Option<i64>,
        /// `message`.
        message: String,
    },
    /// A TCP command failed at the printer (`ok` missing, an error line).
    #[error("printer error: {0}")]
    Printer(String),
    /// No reply before the deadline.
    #[error("no reply from the printer before the deadline")]
    TimedOut,
    /// The reply started but its end never came (cut short by a pause longer than the
    /// deadline, or a connection that closed mid-reply): no partial data is returned.
    #[error("incomplete reply from the printer: {received} bytes arrived, its end did not")]
    Incomplete {
        /// Reply bytes that arrived.
        received: usize,
    },
    /// The printer closed the connection.
    #[error("the printer closed the connection")]
    Disconnected,
    /// The printer could not be reached.
    #[error("printer unreachable: {0}")]
    Unreachable(String),
    /// The printer sent bytes that break the protocol (or exceed a bound).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The TCP session gave up (reconnect attempts exhausted).
    #[error(transparent)]
    Session(SessionError),
    /// A reply of the wrong kind.
    #[error("unexpected reply: expected {0}")]
    UnexpectedReply(&'static str),
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// A socket operation failed (the adapter's `std::io::Error`, kept as kind and text).
    #[error("I/O error: {message}")]
    Io {
        /// The error kind.
        kind: ErrorKind,
        /// The operating system's message.
        message: String,
    },
}

impl ClientError {
    /// [`ClientError::Unsupported`].
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported { .. })
    }

    /// Whether the connection that produced the error must be dropped (the next call
    /// reconnects).
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Self::TimedOut
                | Self::Incomplete { .. }
                | Self::Disconnected
                | Self::Unreachable(_)
                | Self::Protocol(_)
                | Self::Io { .. }
        )
    }

    /// The [`std::io::ErrorKind`] adapters report in their `io::Error` conversion.
    pub fn io_kind(&self) -> ErrorKind {
        match self {
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::Usage(_) => ErrorKind::InvalidInput,
            Self::Unauthorized | Self::ControlHeld | Self::LanModeOff => {
                ErrorKind::PermissionDenied
            }
            Self::Busy(_) | Self::Refused { .. } | Self::Printer(_) => ErrorKind::Other,
            Self::TimedOut => ErrorKind::TimedOut,
            Self::Incomplete { .. } => ErrorKind::UnexpectedEof,
            Self::Disconnected => ErrorKind::ConnectionAborted,
            Self::Unreachable(_) => ErrorKind::ConnectionRefused,
            Self::Protocol(_) | Self::UnexpectedReply(_) => ErrorKind::InvalidData,
            Self::Session(SessionError::LoginDenied { .. }) => ErrorKind::PermissionDenied,
            Self::Session(_) => ErrorKind::NotConnected,
            Self::Closed => ErrorKind::NotConnected,
            Self::Io { kind, .. } => *kind,
        }
    }

    /// A socket error, as adapters report it.
    pub fn io(e: &std::io::Error) -> Self {
        match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => Self::TimedOut,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => Self::Disconnected,
            kind => Self::Io {
                kind,
                message: e.to_string(),
            },
        }
    }

    /// A failed connection attempt.
    pub fn unreachable(e: &std::io::Error) -> Self {
        Self::Unreachable(e.to_string())
    }
}

impl From<ClientError> for std::io::Error {
    fn from(e: ClientError) -> Self {
        Self::new(e.io_kind(), e)
    }
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::LoginDenied { .. } => Self::ControlHeld,
            other => Self::Session(other),
        }
    }
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Printer { code: Some(3), .. } => Self::Unauthorized,
            ApiError::Printer { code: Some(-2), .. } => Self::LanModeOff,
            // 5 is "busy" in the emulator's table; the Creator 5 answers busy with code 2
            // ("Printer is busy"), which other firmware uses for "invalid parameter", so the
            // message decides there.
            ApiError::Printer {
                code: Some(5),
                message,
            } => Self::Busy(message),
            ApiError::Printer { code, message }
                if message.to_ascii_lowercase().contains("busy") =>
            {
                let _ = code;
                Self::Busy(message)
            }
            ApiError::Printer { code, message } => Self::Refused { code, message },
            ApiError::MissingPayload(what) => Self::Protocol(format!("reply without {what}")),
        }
    }
}

impl From<HttpError> for ClientError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::TimedOut => Self::TimedOut,
            HttpError::Closed => Self::Disconnected,
            other => Self::Protocol(other.to_string()),
        }
    }
}

impl From<CommandError> for ClientError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Printer(m) => Self::Printer(m),
            CommandError::Denied => Self::ControlHeld,
            CommandError::TimedOut => Self::TimedOut,
            CommandError::Incomplete { received } => Self::Incomplete { received },
            CommandError::Disconnected => Self::Disconnected,
            CommandError::Cancelled => Self::Closed,
            // The `~M662` parser names the printer's `Error: File not found` (or `... not
            // exists`) reply; it is the printer refusing, as the same reply to `~M23` is, not
            // a broken protocol (and the connection stays good).
            CommandError::Protocol(crate::Error::Protocol(crate::ProtocolError::FileNotFound)) => {
                Self::Printer("File not found".to_owned())
            }
            CommandError::Protocol(p) => Self::Protocol(p.to_string()),
        }
    }
}

/// Whether a failed HTTP request may be sent again on a fresh connection: only when the
/// connection was a reused keep-alive one that the printer had closed before answering, and
/// the request is a read (a command might have been executed).
pub fn retry_on_fresh_connection(reused: bool, error: &HttpError, request: &Request) -> bool {
    reused && matches!(error, HttpError::Closed) && request.lane() == crate::http::Lane::Read
}

/// What adapters report through their connection-state callback.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The TCP session's state changed (login, ready, reconnecting with back-off, closed).
    Tcp(crate::ConnectionState),
    /// An HTTP connection was opened.
    HttpConnected,
    /// An HTTP connection was closed (after an error, or `Connection: close`).
    HttpClosed,
}

/// A fresh [`Credentials`] check: both parts non-empty. (The printer decides whether they are
/// right.)
pub fn check_credentials(c: &Credentials) -> Result<(), ClientError> {
    if c.serial().is_empty() || c.expose_check_code().is_empty() {
        return Err(UsageError::Empty {
            what: "serial number or check code",
        }
        .into());
    }
    Ok(())
}

/// What a driver of [`TcpCalls`] does next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpAction {
    /// Open the TCP connection, then [`TcpCalls::handle_connected`] or
    /// [`TcpCalls::handle_connect_failed`].
    Connect,
    /// Close the socket.
    Disconnect,
    /// Write these bytes (on failure: [`TcpCalls::handle_eof`]).
    Write(Vec<u8>),
}

/// The TCP [`crate::Session`] as a client uses it: one call at a time waits for its own
/// outcome. Keeps the replies, the upload hand-shake and the connect failures, so that an
/// adapter's loop is only sockets and timers:
///
/// 1. `submit` (or `start_upload`); 2. drain [`poll_action`](Self::poll_action) and
///    [`poll_state`](Self::poll_state); 3. until [`outcome`](Self::outcome) is `Some`, wait for
///    bytes or [`poll_timeout`](Self::poll_timeout), feed them, and go to 2.
#[derive(Debug)]
pub struct TcpCalls {
    session: crate::Session,
    replies: Vec<(crate::CommandId, Result<Reply, CommandError>)>,
    upload_ready: Option<crate::CommandId>,
    connect_error: Option<ClientError>,
    states: std::collections::VecDeque<crate::ConnectionState>,
    /// The call being waited for and when it gives up if it is still not written (the
    /// printer accepts connections but never completes a login, say).
    call_deadline: Option<(crate::CommandId, std::time::Instant)>,
    wait_limit: Duration,
}

impl TcpCalls {
    /// A session that will ask to connect.
    pub fn new(config: crate::Config, now: std::time::Instant) -> Self {
        // Long enough for a connect, a login and a back-off or two; a call still queued after
        // this fails with `TimedOut` instead of waiting for a printer that never lets it in.
        let wait_limit = config.reply_timeout.saturating_mul(3);
        Self {
            session: crate::Session::new(config, now),
            replies: Vec::new(),
            upload_ready: None,
            connect_error: None,
            states: std::collections::VecDeque::new(),
            call_deadline: None,
            wait_limit,
        }
    }

    /// The session.
    pub fn session(&self) -> &crate::Session {
        &self.session
    }

    /// Switch the dialect (after `~M115` named the model).
    pub fn set_dialect(&mut self, dialect: Dialect) {
        self.session.set_dialect(dialect);
    }

    /// Closed or failed for good: the client starts a new one.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.session.state(),
            crate::ConnectionState::Closed | crate::ConnectionState::Failed(_)
        )
    }

    /// Whether the next call needs a new session: this one is finished, or a legacy upload
    /// was abandoned half-way (its caller was cancelled), which leaves the printer waiting for
    /// file bytes that will never come.
    pub fn needs_replacing(&self) -> bool {
        self.is_finished() || self.session.state() == crate::ConnectionState::Uploading
    }

    /// Queue a command.
    pub fn submit(
        &mut self,
        command: Command,
        now: std::time::Instant,
    ) -> Result<crate::CommandId, ClientError> {
        self.connect_error = None;
        // One call at a time: anything left over belongs to a call whose caller went away.
        self.replies.clear();
        self.upload_ready = None;
        let id = self.session.submit(command, now)?;
        self.call_deadline = Some((id, now + self.wait_limit));
        Ok(id)
    }

    /// Begin a legacy upload.
    pub fn start_upload(
        &mut self,
        name: &str,
        size: u64,
        now: std::time::Instant,
    ) -> Result<crate::CommandId, ClientError> {
        self.connect_error = None;
        self.replies.clear();
        self.upload_ready = None;
        let id = self.session.start_upload(name, size, now)?;
        self.call_deadline = Some((id, now + self.wait_limit));
        Ok(id)
    }

    /// The next file bytes of the upload (drain [`poll_action`](Self::poll_action) after each).
    pub fn upload_chunk(
        &mut self,
        data: &[u8],
        now: std::time::Instant,
    ) -> Result<(), ClientError> {
        Ok(self.session.upload_chunk(data, now)?)
    }

    /// Log out and close.
    pub fn close(&mut self, now: std::time::Instant) {
        self.session.close(now);
    }

    /// The next thing to do with the socket.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<TcpAction> {
        if let Some(tx) = self.session.poll_transmit() {
            return Some(TcpAction::Write(tx));
        }
        while let Some(ev) = self.session.poll_event() {
            match ev {
                crate::Event::Connect => return Some(TcpAction::Connect),
                crate::Event::Disconnect => return Some(TcpAction::Disconnect),
                // Bounded: a caller that never drains states loses the oldest.
                crate::Event::State(s) => {
                    if self.states.len() == 64 {
                        self.states.pop_front();
                    }
                    self.states.push_back(s);
                }
                crate::Event::Reply { id, result, .. } => self.replies.push((id, result)),
                crate::Event::UploadReady { id } => self.upload_ready = Some(id),
                _ => {}
            }
            if let Some(tx) = self.session.poll_transmit() {
                return Some(TcpAction::Write(tx));
            }
        }
        None
    }

    /// The next connection-state change, for the client's callback.
    #[must_use]
    pub fn poll_state(&mut self) -> Option<crate::ConnectionState> {
        self.states.pop_front()
    }

    /// The deadline to wait for (the session's, or the waiting call's limit).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<std::time::Instant> {
        let call = self.call_deadline.map(|(_, t)| t);
        match (self.session.poll_timeout(), call) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The connection asked for by [`TcpAction::Connect`] is open.
    pub fn handle_connected(&mut self, now: std::time::Instant) {
        self.session.handle_connected(now);
    }

    /// It could not be opened: the waiting call fails with `error` instead of waiting for
    /// the back-off.
    pub fn handle_connect_failed(&mut self, error: ClientError, now: std::time::Instant) {
        self.connect_error = Some(error);
        self.session.handle_connect_failed(now);
    }

    /// Bytes arrived.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: std::time::Instant) {
        self.session.handle_bytes(bytes, now);
    }

    /// The peer closed (or a read or write failed).
    pub fn handle_eof(&mut self, now: std::time::Instant) {
        self.session.handle_eof(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: std::time::Instant) {
        self.session.handle_timeout(now);
    }

    /// The outcome of call `id`, once there is one. A connect failure withdraws the call
    /// (so it is not sent after a later reconnect) and reports the printer unreachable; a
    /// session that gave up reports why (`ControlHeld` for a denied login).
    ///
    /// A call that is still queued (never written) at its wait limit is withdrawn and fails
    /// with [`ClientError::TimedOut`]; a call in flight ends by the session's reply deadline.
    pub fn outcome(
        &mut self,
        id: crate::CommandId,
        now: std::time::Instant,
    ) -> Option<Result<Reply, ClientError>> {
        let r = self.outcome_inner(id, now);
        if r.is_some() && self.call_deadline.is_some_and(|(c, _)| c == id) {
            self.call_deadline = None;
        }
        r
    }

    fn outcome_inner(
        &mut self,
        id: crate::CommandId,
        now: std::time::Instant,
    ) -> Option<Result<Reply, ClientError>> {
        if let crate::ConnectionState::Failed(e) = self.session.state() {
            self.replies.retain(|(r, _)| *r != id);
            return Some(Err(e.into()));
        }
        if let Some(i) = self.replies.iter().position(|(r, _)| *r == id) {
            return Some(match self.replies.swap_remove(i).1 {
                // The Adventurer 3 "opens" a file that does not exist with size 0 (tcp.md
                // §5.6): that is the printer's "not found", not a selected file.
                Ok(Reply::Ack(a)) if a.size == Some(0) && a.opened_path.is_some() => {
                    Err(ClientError::Printer(format!(
                        "File not found: {}",
                        a.opened_path.unwrap_or_default()
                    )))
                }
                other => other.map_err(ClientError::from),
            });
        }
        if self.connect_error.is_some() && self.session.cancel(id) {
            return self.connect_error.take().map(Err);
        }
        let expired = self.call_deadline.is_some_and(|(c, t)| c == id && now >= t);
        if expired && self.session.cancel(id) {
            return Some(Err(ClientError::TimedOut));
        }
        None
    }

    /// Whether upload `id` may stream (`Some(Ok)`), was refused (`Some(Err)`), or is pending.
    pub fn upload_accepted(
        &mut self,
        id: crate::CommandId,
        now: std::time::Instant,
    ) -> Option<Result<(), ClientError>> {
        if self.upload_ready == Some(id) {
            self.upload_ready = None;
            // Streaming has its own pace; the wait limit was for getting in.
            self.call_deadline = None;
            return Some(Ok(()));
        }
        match self.outcome(id, now)? {
            Ok(_) => Some(Err(ClientError::UnexpectedReply("upload acceptance"))),
            Err(e) => Some(Err(e)),
        }
    }
}

/// The operation methods of every adapter's `Printer`, written once: each is [`Plan`]-driven
/// through the adapter's own `run(&self, Op)` (blocking or `async`); `info` also reads the
/// adapter's `credentials: Option<Credentials>` field for the serial number. Adapters invoke
/// it inside `impl Printer { ... }` as `printer_ops!(async, .await)` or `printer_ops!(,)`.
#[doc(hidden)]
#[macro_export]
macro_rules! printer_ops {
    ($($kw:ident)?, $($aw:tt)*) => {
        /// One status snapshot: state, progress, temperatures per tool, bed, chamber, fans,
        /// speed, ETA, layers, current file, material station.
        pub $($kw)? fn status(&self) -> Result<$crate::client::Status> {
            self.run($crate::client::Op::Status)$($aw)*?.status()
        }
        /// Identity and firmware (`/detail` or `~M115`; the serial number of an HTTP printer
        /// is the one it accepted with the check code).
        pub $($kw)? fn info(&self) -> Result<$crate::client::Info> {
            let info = self.run($crate::client::Op::Info)$($aw)*?.info()?;
            Ok(info.with_known_serial(self.credentials.as_ref().map(|c| c.serial())))
        }
        /// Temperatures of every heater.
        pub $($kw)? fn temperatures(&self) -> Result<$crate::client::Temps> {
            self.run($crate::client::Op::Temperatures)$($aw)*?.temperatures()
        }
        /// Set a heater's target in °C (per tool on a Creator 5).
        pub $($kw)? fn set_temperature(&self, heater: $crate::client::Heater, celsius: u16) -> Result<()> {
            self.run($crate::client::Op::SetTemperature(heater, Some(celsius)))$($aw)*?.done()
        }
        /// Turn one heater off.
        pub $($kw)? fn heater_off(&self, heater: $crate::client::Heater) -> Result<()> {
            self.run($crate::client::Op::SetTemperature(heater, None))$($aw)*?.done()
        }
        /// Turn every heater off.
        pub $($kw)? fn temperatures_off(&self) -> Result<()> {
            self.run($crate::client::Op::TemperaturesOff)$($aw)*?.done()
        }
        /// LED on or off.
        pub $($kw)? fn led(&self, on: bool) -> Result<()> {
            self.run($crate::client::Op::Led(on))$($aw)*?.done()
        }
        /// Filtration fans on (internal and external) or off (5M Pro; the Creator 5 Pro only
        /// with `Overrides::filtration` on, as its firmware acknowledges without actuating).
        pub $($kw)? fn filtration(&self, on: bool) -> Result<()> {
            self.run($crate::client::Op::Filtration(on))$($aw)*?.done()
        }
        /// Camera stream on or off.
        pub $($kw)? fn camera(&self, on: bool) -> Result<()> {
            self.run($crate::client::Op::Camera(on))$($aw)*?.done()
        }
        /// The MJPEG stream URL.
        pub $($kw)? fn camera_url(&self) -> Result<String> {
            self.run($crate::client::Op::CameraUrl)$($aw)*?.url()
        }
        /// Home all axes.
        pub $($kw)? fn home(&self) -> Result<()> {
            self.run($crate::client::Op::Home)$($aw)*?.done()
        }
        /// Jog one axis by `mm` (relative).
        pub $($kw)? fn jog(&self, axis: $crate::http::Axis, mm: f64) -> Result<()> {
            self.run($crate::client::Op::Jog(axis, mm))$($aw)*?.done()
        }
        /// Part-cooling fan speed in percent, 0–100 (0 = off).
        pub $($kw)? fn fan(&self, percent: u8) -> Result<()> {
            self.run($crate::client::Op::Fan(percent))$($aw)*?.done()
        }
        /// Print speed override in percent (HTTP printers).
        pub $($kw)? fn speed(&self, percent: u16) -> Result<()> {
            self.run($crate::client::Op::Speed(percent))$($aw)*?.done()
        }
        /// Pause the job.
        pub $($kw)? fn pause(&self) -> Result<()> {
            self.run($crate::client::Op::Pause)$($aw)*?.done()
        }
        /// Resume the job.
        pub $($kw)? fn resume(&self) -> Result<()> {
            self.run($crate::client::Op::Resume)$($aw)*?.done()
        }
        /// Cancel the job.
        pub $($kw)? fn cancel(&self) -> Result<()> {
            self.run($crate::client::Op::Cancel)$($aw)*?.done()
        }
        /// Acknowledge a finished or cancelled job so the printer accepts the next one.
        pub $($kw)? fn clear_platform(&self) -> Result<()> {
            self.run($crate::client::Op::ClearPlatform)$($aw)*?.done()
        }
        /// Print a file stored on the printer.
        pub $($kw)? fn start(&self, name: &str, options: $crate::http::JobOptions) -> Result<()> {
            let op = $crate::client::Op::StartFile { name: name.to_owned(), options };
            self.run(op)$($aw)*?.done()
        }
        /// Every stored file (TCP `~M661`).
        pub $($kw)? fn files(&self) -> Result<Vec<String>> {
            self.run($crate::client::Op::Files)$($aw)*?.files()
        }
        /// The recent files with metadata (HTTP `/gcodeList`).
        pub $($kw)? fn recent_files(&self) -> Result<Vec<$crate::http::GcodeFile>> {
            self.run($crate::client::Op::RecentFiles)$($aw)*?.recent_files()
        }
        /// A stored file's thumbnail (PNG bytes in `image`).
        pub $($kw)? fn thumbnail(&self, name: &str) -> Result<$crate::gcode::Thumbnail> {
            self.run($crate::client::Op::Thumbnail(name.to_owned()))$($aw)*?.thumbnail()
        }
        /// Send one raw G-code line over TCP; the reply lines.
        pub $($kw)? fn gcode(&self, line: &str) -> Result<Vec<String>> {
            self.run($crate::client::Op::Gcode(line.to_owned()))$($aw)*?.lines()
        }
        /// Set a material-station slot's material and colour (snapped to the palette).
        pub $($kw)? fn configure_slot(&self, slot: u8, material: &str, color: $crate::http::Rgb) -> Result<()> {
            let op = $crate::client::Op::ConfigureSlot { slot, material: material.to_owned(), color };
            self.run(op)$($aw)*?.done()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(model: Model) -> Target {
        Target::new(model, "3.1.3", "10.0.0.2")
    }

    #[test]
    fn every_model_plans_status_on_its_channel() {
        for m in Model::ALL {
            let p = Plan::new(Op::Status, &target(m)).unwrap();
            if m.is_http() {
                assert_eq!(p.steps(), &[Step::Http(Request::Detail)], "{m}");
            } else {
                assert_eq!(p.steps().len(), 3, "{m}");
            }
        }
    }

    #[test]
    fn creator5_has_no_tcp_operations() {
        for m in [Model::Creator5, Model::Creator5Pro] {
            for op in [Op::Home, Op::Files, Op::Gcode("M105".into())] {
                let e = Plan::new(op.clone(), &target(m)).unwrap_err();
                assert!(e.is_unsupported(), "{m} {op:?}: {e}");
            }
        }
    }

    #[test]
    fn legacy_printers_refuse_http_only_operations() {
        for m in [Model::Adventurer3, Model::Adventurer4] {
            for op in [
                Op::RecentFiles,
                Op::ClearPlatform,
                Op::CameraUrl,
                Op::Filtration(true),
            ] {
                assert!(Plan::new(op, &target(m)).unwrap_err().is_unsupported());
            }
        }
    }

    #[test]
    fn creator5_temperatures_go_per_tool() {
        let p = Plan::new(
            Op::SetTemperature(Heater::Tool(2), Some(210)),
            &target(Model::Creator5),
        )
        .unwrap();
        let [Step::Http(Request::Control {
            command: Control::Temperature(t),
            ..
        })] = p.steps()
        else {
            panic!("{p:?}")
        };
        assert_eq!(t.nozzles.unwrap()[2], Heat::Target(210));
        assert_eq!(t.nozzles.unwrap()[0], Heat::Keep);
    }

    #[test]
    fn overrides_switch_capabilities() {
        let t = target(Model::Adventurer5M).with_overrides(&Overrides {
            filtration: Toggle::On,
            led: Toggle::Off,
            ..Overrides::default()
        });
        assert!(Plan::new(Op::Led(true), &t).unwrap_err().is_unsupported());
        // The override lets the request through the capability check; the core's per-model
        // check of `/control` commands still knows the 5M firmware lacks the command.
        assert!(Plan::new(Op::Filtration(true), &t).is_err());
    }

    #[test]
    fn refusals_map_to_actionable_errors() {
        let e = |code, message: &str| {
            ClientError::from(ApiError::Printer {
                code: Some(code),
                message: message.into(),
            })
        };
        assert_eq!(e(3, "Unauthorized"), ClientError::Unauthorized);
        assert_eq!(e(-2, ""), ClientError::LanModeOff);
        assert!(matches!(e(5, "Busy"), ClientError::Busy(_)));
        assert!(matches!(
            e(1, "Error"),
            ClientError::Refused { code: Some(1), .. }
        ));
        assert_eq!(
            ClientError::Unauthorized.io_kind(),
            ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn finish_rejects_wrong_output_count() {
        let p = Plan::new(Op::Pause, &target(Model::Adventurer4)).unwrap();
        assert!(p.finish(vec![]).is_err());
    }

    #[test]
    fn jog_over_tcp_is_relative_and_restores_absolute() {
        let p = Plan::new(Op::Jog(Axis::Z, 5.0), &target(Model::Adventurer5M)).unwrap();
        assert_eq!(p.steps().len(), 3);
        assert_eq!(p.steps()[0], Step::Tcp(Command::RelativePositioning));
        assert_eq!(p.steps()[2], Step::Tcp(Command::AbsolutePositioning));
        assert!(Plan::new(Op::Jog(Axis::X, f64::NAN), &target(Model::Adventurer5M)).is_err());
    }

    #[test]
    fn upload_routes() {
        let o = UploadOptions::default().start(true);
        let r = upload_route(&target(Model::AD5X), "/a/b/cube.gcode", 10, &o, 1).unwrap();
        assert!(matches!(r, UploadRoute::Http(s) if s.file_name == "cube.gcode" && s.print_now));
        let r = upload_route(&target(Model::Adventurer3), "cube.g", 10, &o, 1).unwrap();
        assert!(matches!(r, UploadRoute::Tcp { start, .. } if start.len() == 2));
        let lev = UploadOptions::default().leveling(true);
        assert!(upload_route(&target(Model::Adventurer4), "cube.g", 10, &lev, 1).is_err());
    }

    fn tcp_bytes(plan: &Plan) -> Vec<String> {
        plan.steps()
            .iter()
            .map(|s| {
                let Step::Tcp(c) = s else {
                    panic!("not a TCP step: {s:?}")
                };
                let mut out = Vec::new();
                c.encode(&mut out).unwrap();
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    fn set(heater: Heater, celsius: Option<u16>, model: Model) -> Result<Plan, ClientError> {
        Plan::new(Op::SetTemperature(heater, celsius), &target(model))
    }

    #[test]
    fn temperatures_take_m104_m140_on_every_model_with_a_tcp_channel() {
        for m in [
            Model::Adventurer3,
            Model::Adventurer4,
            Model::Adventurer5M,
            Model::Adventurer5MPro,
            Model::AD5X,
        ] {
            let bed = set(Heater::Bed, Some(60), m).unwrap();
            assert_eq!(tcp_bytes(&bed), ["~M140 S60\n"], "{m}");
            let nozzle = set(Heater::Tool(0), Some(210), m).unwrap();
            assert_eq!(tcp_bytes(&nozzle), ["~M104 S210\n"], "{m}");
            // Off is S0.
            let off = set(Heater::Tool(0), None, m).unwrap();
            assert_eq!(tcp_bytes(&off), ["~M104 S0\n"], "{m}");
            let off = set(Heater::Bed, None, m).unwrap();
            assert_eq!(tcp_bytes(&off), ["~M140 S0\n"], "{m}");
            let all = Plan::new(Op::TemperaturesOff, &target(m)).unwrap();
            assert_eq!(tcp_bytes(&all), ["~M104 S0\n", "~M140 S0\n"], "{m}");
        }
    }

    #[test]
    fn temperature_control_is_http_only_on_the_creator5_family() {
        for m in [Model::Creator5, Model::Creator5Pro] {
            let p = set(Heater::Bed, Some(60), m).unwrap();
            let [Step::Http(Request::Control {
                command: Control::Temperature(t),
                ..
            })] = p.steps()
            else {
                panic!("{m}: {p:?}")
            };
            assert_eq!(t.platform, Heat::Target(60));
            assert_eq!(t.nozzles, Some([Heat::Keep; 4]), "{m}: nozzles always sent");
            let p = Plan::new(Op::TemperaturesOff, &target(m)).unwrap();
            assert!(matches!(p.steps(), [Step::Http(_)]), "{m}");
        }
        // An HTTP-only printer of no known family: the key names are disputed, so no guess.
        let t = Target::connecting_http("10.0.0.2");
        let e = Plan::new(Op::SetTemperature(Heater::Bed, Some(60)), &t).unwrap_err();
        assert!(e.is_unsupported(), "{e:?}");
    }

    #[test]
    fn a_second_tool_over_tcp_is_unsupported() {
        for m in [Model::AD5X, Model::Adventurer5M, Model::Adventurer4] {
            let e = set(Heater::Tool(1), Some(200), m).unwrap_err();
            assert!(
                matches!(e, ClientError::Unsupported { model, .. } if model == m),
                "{m}: {e:?}"
            );
            assert!(set(Heater::Tool(1), None, m).unwrap_err().is_unsupported());
        }
        // The Creator 5's four tools are real.
        assert!(set(Heater::Tool(1), Some(200), Model::Creator5).is_ok());
        assert!(set(Heater::Chamber, Some(40), Model::Adventurer5M)
            .unwrap_err()
            .is_unsupported());
    }

    #[test]
    fn what_a_model_lacks_is_one_typed_unsupported() {
        let a4 = target(Model::Adventurer4);
        let lev = UploadOptions::default().start(true).leveling(true);
        let e = upload_route(&a4, "cube.g", 10, &lev, 1).unwrap_err();
        assert_eq!(
            e,
            ClientError::Unsupported {
                operation: "leveling before a print",
                model: Model::Adventurer4
            }
        );
        assert_eq!(e.io_kind(), ErrorKind::Unsupported);
        let start = Op::StartFile {
            name: "cube.g".into(),
            options: JobOptions {
                leveling: true,
                ..JobOptions::default()
            },
        };
        assert!(Plan::new(start, &a4).unwrap_err().is_unsupported());
        // Material mappings on a 5M, whose job body has none.
        let mapped = JobOptions {
            mappings: vec![crate::http::MaterialMapping {
                tool_id: 0,
                slot_id: 1,
                material_name: "PLA".into(),
                tool_color: crate::http::Rgb::WHITE,
                slot_color: crate::http::Rgb::WHITE,
            }],
            ..JobOptions::default()
        };
        let m5 = target(Model::Adventurer5M);
        let op = Op::StartFile {
            name: "cube.g".into(),
            options: mapped.clone(),
        };
        assert!(Plan::new(op, &m5).unwrap_err().is_unsupported());
        let up = UploadOptions::default().job(mapped);
        assert!(upload_route(&m5, "cube.g", 10, &up, 1)
            .unwrap_err()
            .is_unsupported());
        // A `/control` command the firmware lacks, forced through the capability override.
        let forced = m5.with_overrides(&Overrides {
            filtration: Toggle::On,
            ..Overrides::default()
        });
        assert!(Plan::new(Op::Filtration(true), &forced)
            .unwrap_err()
            .is_unsupported());
    }

    #[test]
    fn creator5_pro_filtration_is_unsupported_unless_overridden() {
        let c5p = target(Model::Creator5Pro);
        assert!(!c5p.capabilities.filtration);
        let e = Plan::new(Op::Filtration(true), &c5p).unwrap_err();
        assert!(e.is_unsupported(), "{e:?}");
        let on = c5p.with_overrides(&Overrides {
            filtration: Toggle::On,
            ..Overrides::default()
        });
        let p = Plan::new(Op::Filtration(true), &on).unwrap();
        assert!(matches!(
            p.steps(),
            [Step::Http(Request::Control {
                command: Control::Filtration(Filtration::Both),
                ..
            })]
        ));
        // The 5M Pro's filtration really runs.
        assert!(Plan::new(Op::Filtration(true), &target(Model::Adventurer5MPro)).is_ok());
    }

    #[test]
    fn fan_takes_percent() {
        let duty = |m: Model, pct: u8| -> Option<u8> {
            let p = Plan::new(Op::Fan(pct), &target(m)).unwrap();
            match p.steps() {
                [Step::Http(Request::Control {
                    command: Control::PrinterSettings(s),
                    ..
                })] => s.cooling_fan,
                [Step::Tcp(Command::FanOn { speed })] => *speed,
                [Step::Tcp(Command::FanOff)] => Some(0),
                other => panic!("{other:?}"),
            }
        };
        for m in [Model::Adventurer5M, Model::Adventurer4, Model::Creator5] {
            assert_eq!(duty(m, 50), Some(128), "{m}");
            assert_eq!(duty(m, 100), Some(255), "{m}");
            assert_eq!(duty(m, 0), Some(0), "{m}");
            let e = Plan::new(Op::Fan(101), &target(m)).unwrap_err();
            assert!(
                matches!(e, ClientError::Usage(UsageError::OutOfRange { .. })),
                "{m}: {e:?}"
            );
        }
        // 50 % sent, reported back by `/detail` as 50 % (0–100, like the sim's 128 * 100 / 255).
        assert_eq!(u32::from(fan_duty(50)) * 100 / 255, 50);
    }

    fn detail(json: &str) -> MachineInfo {
        let body = format!(r#"{{"code":0,"message":"Success","detail":{json}}}"#);
        crate::http::parse_detail(body.as_bytes())
            .unwrap()
            .into_result()
            .unwrap()
    }

    #[test]
    fn status_reports_fans_in_percent() {
        let d = detail(r#"{"status":"ready","pid":35,"coolingFanSpeed":50,"chamberFanSpeed":20}"#);
        let st = Status::from_detail(&d);
        assert_eq!(st.cooling_fan_percent, Some(50));
        assert_eq!(st.chamber_fan_percent, Some(20));
        let j = serde_json::to_value(&st).unwrap();
        assert_eq!(j["cooling_fan_percent"], 50);
        assert_eq!(j["chamber_fan_percent"], 20);
        assert!(j.get("cooling_fan").is_none(), "{j}");
        assert!(j.get("chamber_fan").is_none(), "{j}");
    }

    #[test]
    fn no_eta_unless_a_job_runs_or_is_paused() {
        let eta = |status: &str| {
            let d = detail(&format!(
                r#"{{"status":"{status}","pid":35,"estimatedTime":600,"printDuration":60,"printFileName":"a.gx"}}"#
            ));
            Status::from_detail(&d).remaining
        };
        assert_eq!(eta("printing"), Some(Duration::from_secs(600)));
        assert_eq!(eta("paused"), Some(Duration::from_secs(600)));
        assert_eq!(eta("cancel"), None);
        assert_eq!(eta("completed"), None);
        assert_eq!(eta("ready"), None);
    }

    #[test]
    fn ad5x_tool_count_agrees_with_its_temperatures() {
        // The emulator's AD5X: nozzleCnt 2 with a "left" path reading.
        let emu = detail(
            r#"{"status":"ready","pid":38,"nozzleCnt":2,"rightTemp":25,"rightTargetTemp":0,"leftTemp":10,"leftTargetTemp":220,"platTemp":25}"#,
        );
        // The real AD5X: nozzleCnt 1, leftTemp 0.
        let real = detail(
            r#"{"status":"ready","pid":38,"nozzleCnt":1,"rightTemp":25,"leftTemp":0,"platTemp":25}"#,
        );
        for d in [emu, real] {
            let temps = temps_of_detail(&d).tools.len();
            assert_eq!(temps, 1);
            let info = Info::from_detail(d);
            assert_eq!(info.tool_count, Some(1));
        }
        let c5 = detail(
            r#"{"status":"ready","pid":40,"nozzleCnt":4,"nozzleTemps":[25,25,25,25],"nozzleTargetTemps":[0,0,0,0]}"#,
        );
        assert_eq!(temps_of_detail(&c5).tools.len(), 4);
        assert_eq!(Info::from_detail(c5).tool_count, Some(4));
    }

    #[test]
    fn http_info_has_the_serial_the_printer_accepted() {
        let d = detail(r#"{"status":"ready","pid":35,"name":"Shop"}"#);
        let info = Info::from_detail(d).with_known_serial(Some("SNADVA5M00000"));
        assert_eq!(info.serial.as_deref(), Some("SNADVA5M00000"));
        let j = serde_json::to_value(&info).unwrap();
        assert_eq!(j["serial"], "SNADVA5M00000");
        // A serial the printer reported itself wins.
        let mut m115 = info.clone();
        m115.serial = Some("FROM-M115".into());
        let kept = m115.with_known_serial(Some("other"));
        assert_eq!(kept.serial.as_deref(), Some("FROM-M115"));
        assert_eq!(
            Info::from_detail(detail(r#"{"pid":35}"#))
                .with_known_serial(None)
                .serial,
            None
        );
    }

    #[test]
    fn a_missing_thumbnail_is_a_printer_error_like_a_missing_print_file() {
        let reply = b"CMD M662 Received.\nError: File not exists\n";
        let e = Thumbnail::parse(reply, 1 << 20).unwrap_err();
        let thumb = ClientError::from(e);
        let print = ClientError::from(CommandError::Printer("File not found".into()));
        assert_eq!(thumb, print);
        assert!(matches!(thumb, ClientError::Printer(_)), "{thumb:?}");
        assert!(!thumb.is_connection_error());
        assert_eq!(thumb.io_kind(), print.io_kind());
    }

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
