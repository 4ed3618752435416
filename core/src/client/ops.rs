//! Every operation, planned and finished in one place.
//!
//! [`plan`] sends each [`Op`] to its planner. A planner decides the channel (HTTP on the 5M
//! family, AD5X and Creator 5; TCP on the Adventurer 3/4 and for what the HTTP API lacks),
//! refuses what the model cannot do, and returns its steps with a [`Finish`]:
//!
//! * operations that only have to succeed return [`Planned::done`];
//! * operations that read something return a `Read*` continuation, whose `plan` and
//!   `finish` sit together in one `impl`: `finish` reads the outputs in the order `plan`
//!   listed the steps, each read naming the reply it expects.

use crate::gcode::{Axes, FileList, Led, RawLine};
use crate::http::{
    Axis, Body, Control, Filtration, Heat, JobAction, JobFormat, JobOptions, PrinterSettings,
    Request, Rgb, Temperatures,
};
use crate::{Command, Dialect, Model, Reply, UsageError};

use super::status::{temps_of_detail_owned, temps_of_tcp};
use super::step::{mismatch, payload, Outputs};
use super::{ClientError, Heater, Info, Op, Output, Status, Step, Target, CAMERA_PORT};

/// What an operation's planner returns: the steps, and how their outputs become the output.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) steps: Vec<Step>,
    pub(super) finish: Finish,
}

impl Planned {
    /// Steps whose outputs `finish` reads.
    pub(super) fn new(steps: Vec<Step>, finish: Finish) -> Self {
        Self { steps, finish }
    }

    /// Steps that only have to succeed ([`Output::Done`]).
    pub(super) fn done(steps: Vec<Step>) -> Self {
        Self::new(steps, Finish::Done)
    }
}

/// The steps of `op` on `t`, with their continuation, or why `op` cannot run there.
pub(super) fn plan(op: &Op, t: &Target) -> Result<Planned, ClientError> {
    let cx = Ctx { op, t };
    match op {
        Op::Status => ReadStatus::plan(cx),
        Op::Info => ReadInfo::plan(cx),
        Op::Temperatures => ReadTemps::plan(cx),
        Op::CameraUrl => ReadCameraUrl::plan(cx),
        Op::Files => ReadFiles::plan(cx),
        Op::RecentFiles => ReadRecentFiles::plan(cx),
        Op::Thumbnail(name) => ReadThumbnail::plan(name, cx),
        Op::Gcode(line) => ReadLines::plan(line, cx),
        Op::SetTemperature(heater, value) => set_temperature(*heater, *value, cx),
        Op::TemperaturesOff => temperatures_off(cx),
        Op::Led(on) => led(*on, cx),
        Op::Filtration(on) => filtration(*on, cx),
        Op::Camera(on) => camera(*on, cx),
        Op::Home => home(cx),
        Op::Jog(axis, mm) => jog(*axis, *mm, cx),
        Op::Fan(percent) => fan(*percent, cx),
        Op::Speed(percent) => speed(*percent, cx),
        Op::Pause => job(JobAction::Pause, Command::Pause, cx),
        Op::Resume => job(JobAction::Resume, Command::Resume, cx),
        Op::Cancel => job(JobAction::Cancel, Command::Stop, cx),
        Op::ClearPlatform => clear_platform(cx),
        Op::StartFile { name, options } => start_file(name, options, cx),
        Op::ConfigureSlot {
            slot,
            material,
            color,
        } => configure_slot(*slot, material, *color, cx),
    }
}

/// The typed continuation of a plan: how its step outputs, read in the order the steps were
/// planned, become the [`Output`].
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Finish {
    /// The steps only have to succeed.
    Done,
    /// [`Op::Status`].
    Status(ReadStatus),
    /// [`Op::Info`].
    Info(ReadInfo),
    /// [`Op::Temperatures`].
    Temperatures(ReadTemps),
    /// [`Op::CameraUrl`].
    CameraUrl(ReadCameraUrl),
    /// [`Op::Files`].
    Files(ReadFiles),
    /// [`Op::RecentFiles`].
    RecentFiles(ReadRecentFiles),
    /// [`Op::Thumbnail`].
    Thumbnail(ReadThumbnail),
    /// [`Op::Gcode`].
    Lines(ReadLines),
}

impl Finish {
    /// Read `out` (already envelope-checked) into the output.
    pub(super) fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        match self {
            Self::Done => out.done(),
            Self::Status(r) => r.finish(out),
            Self::Info(r) => r.finish(out),
            Self::Temperatures(r) => r.finish(out),
            Self::CameraUrl(r) => r.finish(out),
            Self::Files(r) => r.finish(out),
            Self::RecentFiles(r) => r.finish(out),
            Self::Thumbnail(r) => r.finish(out),
            Self::Lines(r) => r.finish(out),
        }
    }
}

/// The operation being planned and the printer it is planned for.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    op: &'a Op,
    t: &'a Target,
}

impl Ctx<'_> {
    /// [`ClientError::Unsupported`] for this operation on this model.
    fn unsupported<T>(self) -> Result<T, ClientError> {
        Err(ClientError::Unsupported {
            operation: self.op.name(),
            model: self.t.model,
        })
    }

    /// A `/control` step, or [`ClientError::Unsupported`] when the model's firmware lacks
    /// the command (it would acknowledge it and do nothing).
    fn control(self, command: Control) -> Result<Step, ClientError> {
        if !command.supported_by(self.t.model) {
            return self.unsupported();
        }
        Ok(Step::Http(Request::Control {
            command,
            model: self.t.model,
        }))
    }

    /// A plan of one `/control` request that only has to succeed.
    fn control_done(self, command: Control) -> Result<Planned, ClientError> {
        Ok(Planned::done(vec![self.control(command)?]))
    }

    fn http(self) -> bool {
        self.t.http()
    }

    fn tcp(self) -> bool {
        self.t.tcp()
    }
}

/// TCP steps that only have to succeed.
fn tcp_done(commands: impl IntoIterator<Item = Command>) -> Result<Planned, ClientError> {
    Ok(Planned::done(commands.into_iter().map(Step::Tcp).collect()))
}

// ---------------------------------------------------------------------------------------
// Operations that read something.

/// [`Op::Status`]: `/detail` on an HTTP printer; `~M119`, `~M105`, `~M27` over TCP.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ReadStatus {
    /// One `/detail`.
    Detail,
    /// `~M119`, `~M105`, `~M27` of a printer of this model.
    Tcp(Model),
}

impl ReadStatus {
    fn plan(cx: Ctx<'_>) -> Result<Planned, ClientError> {
        let (steps, read) = if cx.http() {
            (vec![Step::Http(Request::Detail)], Self::Detail)
        } else if cx.tcp() {
            let steps = vec![
                Step::Tcp(Command::EndstopStatus),
                Step::Tcp(Command::Temperatures),
                Step::Tcp(Command::PrintStatus),
            ];
            (steps, Self::Tcp(cx.t.model))
        } else {
            return cx.unsupported();
        };
        Ok(Planned::new(steps, Finish::Status(read)))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        let status = match self {
            Self::Detail => Status::from_detail_owned(out.detail()?),
            Self::Tcp(model) => {
                let (
                    Some(Reply::EndstopStatus(e)),
                    Some(Reply::Temperatures(t)),
                    Some(Reply::PrintStatus(p)),
                ) = (out.tcp(), out.tcp(), out.tcp())
                else {
                    return Err(ClientError::UnexpectedReply("M119, M105, M27 replies"));
                };
                Status::from_tcp_owned(model, e, &t, &p)
            }
        };
        Ok(Output::Status(Box::new(status)))
    }
}

/// [`Op::Info`]: `/detail`, or `~M115` over TCP.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ReadInfo {
    /// One `/detail`.
    Detail,
    /// One `~M115`.
    Tcp,
}

impl ReadInfo {
    fn plan(cx: Ctx<'_>) -> Result<Planned, ClientError> {
        let (step, read) = if cx.http() {
            (Step::Http(Request::Detail), Self::Detail)
        } else if cx.tcp() {
            (Step::Tcp(Command::MachineInfo), Self::Tcp)
        } else {
            return cx.unsupported();
        };
        Ok(Planned::new(vec![step], Finish::Info(read)))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        let info = match self {
            Self::Detail => Info::from_detail(out.detail()?),
            Self::Tcp => match out.tcp() {
                Some(Reply::PrinterInfo(p)) => Info::from_printer_info(p),
                _ => return Err(ClientError::UnexpectedReply("an M115 reply")),
            },
        };
        Ok(Output::Info(Box::new(info)))
    }
}

/// [`Op::Temperatures`]: `/detail`, or `~M105` over TCP.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ReadTemps {
    /// One `/detail`.
    Detail,
    /// One `~M105`.
    Tcp,
}

impl ReadTemps {
    fn plan(cx: Ctx<'_>) -> Result<Planned, ClientError> {
        let (step, read) = if cx.http() {
            (Step::Http(Request::Detail), Self::Detail)
        } else if cx.tcp() {
            (Step::Tcp(Command::Temperatures), Self::Tcp)
        } else {
            return cx.unsupported();
        };
        Ok(Planned::new(vec![step], Finish::Temperatures(read)))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        let temps = match self {
            Self::Detail => temps_of_detail_owned(out.detail()?),
            Self::Tcp => match out.tcp() {
                Some(Reply::Temperatures(t)) => temps_of_tcp(&t),
                _ => return Err(ClientError::UnexpectedReply("an M105 reply")),
            },
        };
        Ok(Output::Temperatures(temps))
    }
}

/// [`Op::CameraUrl`]: the stream URL of `/detail`, or the standard one at the printer's
/// host when it reports none.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ReadCameraUrl {
    host: String,
}

impl ReadCameraUrl {
    fn plan(cx: Ctx<'_>) -> Result<Planned, ClientError> {
        if !(cx.http() && cx.t.capabilities.camera) {
            return cx.unsupported();
        }
        let read = Self {
            host: cx.t.host.clone(),
        };
        Ok(Planned::new(
            vec![Step::Http(Request::Detail)],
            Finish::CameraUrl(read),
        ))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        let d = out.detail()?;
        Ok(Output::Url(if d.camera_stream_url.is_empty() {
            format!("http://{}:{CAMERA_PORT}/?action=stream", self.host)
        } else {
            d.camera_stream_url
        }))
    }
}

/// [`Op::Files`]: `~M661`, the full list (TCP only), as bare names.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ReadFiles;

impl ReadFiles {
    fn plan(cx: Ctx<'_>) -> Result<Planned, ClientError> {
        if !(cx.tcp() && cx.t.capabilities.full_file_list) {
            return cx.unsupported();
        }
        Ok(Planned::new(
            vec![Step::Tcp(Command::ListFiles)],
            Finish::Files(Self),
        ))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        let Some(Reply::FileList(FileList { paths, .. })) = out.tcp() else {
            return Err(ClientError::UnexpectedReply("an M661 reply"));
        };
        Ok(Output::Files(
            paths
                .into_iter()
                .map(|p| crate::gcode::bare_file_name(&p).to_owned())
                .collect(),
        ))
    }
}

/// [`Op::RecentFiles`]: `/gcodeList` (HTTP only).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ReadRecentFiles;

impl ReadRecentFiles {
    fn plan(cx: Ctx<'_>) -> Result<Planned, ClientError> {
        if !cx.http() {
            return cx.unsupported();
        }
        Ok(Planned::new(
            vec![Step::Http(Request::GcodeList)],
            Finish::RecentFiles(Self),
        ))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        match out.http() {
            Some(Body::GcodeList(l)) => Ok(Output::RecentFiles(payload(l)?)),
            _ => Err(mismatch()),
        }
    }
}

/// [`Op::Thumbnail`]: `/gcodeThumb`, or `~M662` over TCP.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ReadThumbnail {
    /// One `/gcodeThumb`.
    Http,
    /// One `~M662`.
    Tcp,
}

impl ReadThumbnail {
    fn plan(name: &str, cx: Ctx<'_>) -> Result<Planned, ClientError> {
        let (step, read) = if cx.http() {
            let file_name = crate::gcode::bare_file_name(name).to_owned();
            (Step::Http(Request::GcodeThumb { file_name }), Self::Http)
        } else if cx.tcp() {
            a3_exact_name(name, cx.t.dialect)?;
            (Step::Tcp(Command::thumbnail(name, cx.t.dialect)), Self::Tcp)
        } else {
            return cx.unsupported();
        };
        Ok(Planned::new(vec![step], Finish::Thumbnail(read)))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        let thumbnail = match self {
            Self::Http => match out.http() {
                Some(Body::GcodeThumb(t)) => payload(t)?,
                _ => return Err(mismatch()),
            },
            Self::Tcp => match out.tcp() {
                Some(Reply::Thumbnail(t)) => t,
                _ => return Err(ClientError::UnexpectedReply("an M662 reply")),
            },
        };
        Ok(Output::Thumbnail(thumbnail))
    }
}

/// [`Op::Gcode`]: one raw line over TCP; its reply lines.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ReadLines;

impl ReadLines {
    fn plan(line: &str, cx: Ctx<'_>) -> Result<Planned, ClientError> {
        if !cx.tcp() {
            return cx.unsupported();
        }
        let step = Step::Tcp(Command::Raw(RawLine::new(line)?));
        Ok(Planned::new(vec![step], Finish::Lines(Self)))
    }

    fn finish(self, out: &mut Outputs) -> Result<Output, ClientError> {
        Ok(Output::Lines(match out.tcp() {
            Some(Reply::RawText(r)) => r.lines,
            // A line the framer knows (`M105`, say) comes back typed.
            Some(other) => vec![format!("{other:?}")],
            None => Vec::new(),
        }))
    }
}

// ---------------------------------------------------------------------------------------
// Operations that only have to succeed.

/// [`Op::SetTemperature`]. `temperatureCtl_cmd` only where its key names are established
/// (http.md §5.3: the Creator 5 family); every model with a TCP channel takes
/// `~M104`/`~M140`, the path the reference clients use on real hardware.
fn set_temperature(
    heater: Heater,
    value: Option<u16>,
    cx: Ctx<'_>,
) -> Result<Planned, ClientError> {
    let t = cx.t;
    if matches!(heater, Heater::Chamber) && !t.capabilities.chamber_heater {
        return cx.unsupported();
    }
    if let Some(celsius) = value {
        check_temperature(heater, celsius, t.model)?;
    }
    if http_temperatures(t) {
        let heat = value.map_or(Heat::Off, Heat::Target);
        let mut temps = Temperatures::creator5();
        match heater {
            Heater::Bed => temps.platform = heat,
            Heater::Chamber => temps.chamber = heat,
            Heater::Tool(i) => temps = temps.tool(i.into(), heat)?,
        }
        cx.control_done(Control::Temperature(temps))
    } else if cx.tcp() {
        // Off is `S0`.
        let celsius = f64::from(value.unwrap_or(0));
        match heater {
            Heater::Bed => tcp_done([Command::SetBedTemp { celsius }]),
            Heater::Tool(0) => tcp_done([Command::SetNozzleTemp {
                celsius,
                tool: None,
            }]),
            // tcp.md gives `~M104` no tool selector, so a second tool (the AD5X's left path
            // as the emulator models it) has no established command.
            Heater::Tool(_) => Err(ClientError::Unsupported {
                operation: "temperature of tools other than tool 0",
                model: t.model,
            }),
            Heater::Chamber => cx.unsupported(),
        }
    } else {
        cx.unsupported()
    }
}

/// `celsius` within the model's range for `heater` ([`crate::model::Limits`]).
fn check_temperature(heater: Heater, celsius: u16, model: Model) -> Result<(), UsageError> {
    let l = model.limits();
    let (what, max) = match heater {
        Heater::Tool(_) => ("nozzle temperature", l.nozzle_max),
        Heater::Bed => ("bed temperature", l.bed_max),
        Heater::Chamber => ("chamber temperature", l.chamber_max),
    };
    in_range(what, i64::from(celsius), 0, i64::from(max), " °C")
}

/// [`UsageError::NotInRange`] unless `min <= v <= max`.
fn in_range(
    what: &'static str,
    v: i64,
    min: i64,
    max: i64,
    unit: &'static str,
) -> Result<(), UsageError> {
    if (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(UsageError::NotInRange {
            what,
            min,
            max,
            unit,
        })
    }
}

/// [`Op::TemperaturesOff`]: every heater the model has, in one request or two commands.
fn temperatures_off(cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if http_temperatures(cx.t) {
        let mut temps = Temperatures {
            nozzles: Some([Heat::Off; 4]),
            ..Temperatures::default()
        };
        temps.platform = Heat::Off;
        if cx.t.capabilities.chamber_heater {
            temps.chamber = Heat::Off;
        }
        cx.control_done(Control::Temperature(temps))
    } else if cx.tcp() {
        tcp_done([
            Command::SetNozzleTemp {
                celsius: 0.0,
                tool: None,
            },
            Command::SetBedTemp { celsius: 0.0 },
        ])
    } else {
        cx.unsupported()
    }
}

/// Whether heaters are set over HTTP (the Creator 5 family) rather than `~M104`/`~M140`.
fn http_temperatures(t: &Target) -> bool {
    t.http() && t.model.is_creator5()
}

/// [`Op::Led`]: `lightControl_cmd`, or `~M146` (the Adventurer 3's accessory form).
fn led(on: bool, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if !cx.t.capabilities.led {
        return cx.unsupported();
    }
    if cx.http() {
        cx.control_done(Control::Light(on))
    } else if cx.tcp() {
        let led = match (cx.t.dialect, on) {
            (Dialect::Adventurer3, on) => Led::Accessory(on),
            (_, true) => Led::ON,
            (_, false) => Led::OFF,
        };
        tcp_done([Command::Led(led)])
    } else {
        cx.unsupported()
    }
}

/// [`Op::Filtration`]: both fans on, or off (HTTP only).
fn filtration(on: bool, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if !(cx.http() && cx.t.capabilities.filtration) {
        return cx.unsupported();
    }
    let mode = if on {
        Filtration::Both
    } else {
        Filtration::Off
    };
    cx.control_done(Control::Filtration(mode))
}

/// [`Op::Camera`]: the stream on or off (HTTP only).
fn camera(on: bool, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if !(cx.http() && cx.t.capabilities.camera_toggle) {
        return cx.unsupported();
    }
    cx.control_done(Control::CameraStream(on))
}

/// Whether the model moves at all (homing and jogging).
fn moves(t: &Target) -> bool {
    t.capabilities.http_motion || t.capabilities.tcp_motion
}

/// [`Op::Home`]: `/control` where the HTTP API moves, `~G28` otherwise.
fn home(cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if !moves(cx.t) {
        return cx.unsupported();
    }
    if cx.http() && cx.t.capabilities.http_motion {
        cx.control_done(Control::Home)
    } else if cx.tcp() {
        tcp_done([Command::Home])
    } else {
        cx.unsupported()
    }
}

/// [`Op::Jog`]: `/control`, or relative `~G91`, the move, and back to absolute `~G90`.
fn jog(axis: Axis, mm: f64, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if !moves(cx.t) {
        return cx.unsupported();
    }
    check_jog(axis, mm, cx.t.model)?;
    if cx.http() && cx.t.capabilities.http_motion {
        cx.control_done(Control::Move { axis, delta: mm })
    } else if cx.tcp() {
        let mut axes = Axes::default();
        match axis {
            Axis::X => axes.x = Some(mm),
            Axis::Y => axes.y = Some(mm),
            Axis::Z => axes.z = Some(mm),
        }
        tcp_done([
            Command::RelativePositioning,
            Command::Move {
                axes,
                feed: Some(3000.0),
            },
            Command::AbsolutePositioning,
        ])
    } else {
        cx.unsupported()
    }
}

/// `mm` finite and no longer than the model's build volume along `axis` (models.md §6).
fn check_jog(axis: Axis, mm: f64, model: Model) -> Result<(), UsageError> {
    let (what, index) = match axis {
        Axis::X => ("X jog distance", 0),
        Axis::Y => ("Y jog distance", 1),
        Axis::Z => ("Z jog distance", 2),
    };
    if !mm.is_finite() {
        return Err(UsageError::NotFinite { what });
    }
    let max = f64::from(model.limits().jog_max(index));
    if mm.abs() > max {
        return Err(UsageError::NotInRange {
            what,
            min: -(max as i64),
            max: max as i64,
            unit: " mm",
        });
    }
    Ok(())
}

/// The fan's range, percent.
fn check_fan(percent: u8) -> Result<(), UsageError> {
    in_range("fan speed", i64::from(percent), 0, 100, " %")
}

/// The model's speed-override range.
fn check_speed(percent: u16, model: Model) -> Result<(), UsageError> {
    let (min, max) = model.limits().speed;
    in_range(
        "print speed",
        i64::from(percent),
        i64::from(min),
        i64::from(max),
        " %",
    )
}

/// The range checks of `op` on `model` alone, what [`super::Op::check_ranges`] runs. The
/// planners run the same checks, after deciding whether the model can do the operation at
/// all (so a chamber target on a model without a chamber heater is unsupported, not out of
/// range: it is skipped here).
pub(super) fn check_ranges(op: &Op, model: Model) -> Result<(), UsageError> {
    match op {
        Op::SetTemperature(Heater::Chamber, _) if !model.capabilities().chamber_heater => Ok(()),
        Op::SetTemperature(heater, Some(celsius)) => check_temperature(*heater, *celsius, model),
        Op::Jog(axis, mm) => check_jog(*axis, *mm, model),
        Op::Fan(percent) => check_fan(*percent),
        Op::Speed(percent) => check_speed(*percent, model),
        _ => Ok(()),
    }
}

/// Percent (0–100) to the 0–255 duty of `printerCtl_cmd` and `~M106 S` (http.md §5.2).
pub(super) fn fan_duty(percent: u8) -> u8 {
    ((u16::from(percent.min(100)) * 255 + 50) / 100) as u8
}

/// [`Op::Fan`]: percent, sent as a 0–255 duty; `~M107` for 0 over TCP.
fn fan(percent: u8, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    // The API takes percent (0–100); the wire's 0–255 duty is derived (http.md §5.2).
    check_fan(percent)?;
    if cx.http() {
        cx.control_done(Control::PrinterSettings(PrinterSettings {
            cooling_fan: Some(fan_duty(percent)),
            ..PrinterSettings::default()
        }))
    } else if cx.tcp() && cx.t.model == Model::Adventurer3 {
        // tcp.md §4: the A3's fan is on/off only (`~M106` takes no `S`).
        match percent {
            0 => tcp_done([Command::FanOff]),
            100 => tcp_done([Command::FanOn { speed: None }]),
            _ => Err(ClientError::Unsupported {
                operation: "a fan speed other than 0 or 100 %",
                model: cx.t.model,
            }),
        }
    } else if cx.tcp() {
        tcp_done([match percent {
            0 => Command::FanOff,
            p => Command::FanOn {
                speed: Some(fan_duty(p)),
            },
        }])
    } else {
        cx.unsupported()
    }
}

/// [`Op::Speed`]: within the model's firmware clamp, 50–150 % on the 5M and 5M Pro, 50–500 %
/// on the AD5X and Creator 5 series (http.md §5.2; [`crate::model::Limits::speed`]), so a value
/// the firmware would silently clamp is refused instead (HTTP only).
fn speed(percent: u16, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if !cx.http() {
        return cx.unsupported();
    }
    check_speed(percent, cx.t.model)?;
    cx.control_done(Control::PrinterSettings(PrinterSettings {
        speed: Some(percent),
        ..PrinterSettings::default()
    }))
}

/// [`Op::Pause`], [`Op::Resume`], [`Op::Cancel`]: `jobCtl_cmd`, or the TCP command.
fn job(action: JobAction, command: Command, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if cx.http() {
        cx.control_done(Control::Job(action))
    } else if cx.tcp() {
        tcp_done([command])
    } else {
        cx.unsupported()
    }
}

/// [`Op::ClearPlatform`] (HTTP only).
fn clear_platform(cx: Ctx<'_>) -> Result<Planned, ClientError> {
    if !cx.http() {
        return cx.unsupported();
    }
    cx.control_done(Control::ClearPlatform)
}

/// [`Op::StartFile`]: `/printGcode` with the job options, or `~M23` (and `~M24` on the
/// Adventurer 3), which take none.
fn start_file(name: &str, options: &JobOptions, cx: Ctx<'_>) -> Result<Planned, ClientError> {
    let t = cx.t;
    if cx.http() {
        let file_name = crate::gcode::bare_file_name(name);
        crate::http::check_file_name(file_name)?;
        let format = JobFormat::for_printer(t.model, &t.firmware);
        if !options.mappings.is_empty() && !format.carries_mappings() {
            return Err(mappings_unsupported(t.model));
        }
        Ok(Planned::done(vec![Step::Http(Request::PrintGcode {
            file_name: file_name.to_owned(),
            format,
            options: options.clone(),
        })]))
    } else if cx.tcp() {
        if options != &JobOptions::default() {
            return Err(options_unsupported(options, t.model));
        }
        a3_exact_name(name, t.dialect)?;
        tcp_done(start_commands(name, t.dialect))
    } else {
        cx.unsupported()
    }
}

/// The Adventurer 3 trims the file name it is sent: ` a.gcode` would print (or show the
/// thumbnail of) `a.gcode`, another file. Such a name is refused before anything is sent.
fn a3_exact_name(name: &str, dialect: Dialect) -> Result<(), ClientError> {
    let bare = crate::gcode::bare_file_name(name);
    if dialect == Dialect::Adventurer3 && bare.trim() != bare {
        return Err(UsageError::FileNameSpaces.into());
    }
    Ok(())
}

/// [`Op::ConfigureSlot`]: a material-station slot (HTTP only).
fn configure_slot(
    slot: u8,
    material: &str,
    color: Rgb,
    cx: Ctx<'_>,
) -> Result<Planned, ClientError> {
    if !(cx.http() && cx.t.capabilities.material_station) {
        return cx.unsupported();
    }
    cx.control_done(Control::SlotConfig {
        slot,
        material: material.to_owned(),
        color,
    })
}

// ---------------------------------------------------------------------------------------
// Shared with the upload route.

/// `~M23` starts a stored file on the modern firmware; the Adventurer 3 only selects it and
/// needs `~M24` (tcp.md §4).
pub(super) fn start_commands(name: &str, dialect: Dialect) -> Vec<Command> {
    let select = Command::select_file(name, dialect);
    match dialect {
        Dialect::Adventurer3 => vec![select, Command::Resume],
        _ => vec![select],
    }
}

/// The error for job options (leveling, material mappings) a model or firmware cannot take.
pub(super) fn options_unsupported(options: &JobOptions, model: Model) -> ClientError {
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
pub(super) fn mappings_unsupported(model: Model) -> ClientError {
    ClientError::Unsupported {
        operation: "material mapping",
        model,
    }
}
