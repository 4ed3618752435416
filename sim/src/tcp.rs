//! The printer side of TCP port 8899, sans-IO: bytes in, reply bytes out, per connection.
//!
//! Reply shapes follow `protocol/tcp.md`: the modern `CMD Mxxx Received.` … `ok` form for the
//! Adventurer 4, 5M family and AD5X; the Adventurer 3's own shapes (no `ok` after some replies,
//! `ack: "…"` bodies, no reply at all to motion commands, the text file list) in either
//! [`A3Shape`]: Shape B byte for byte as the emulator's captures (the default) or the earlier
//! Shape A forms; the binary `~M661`/`~M662` replies; the legacy `~M28`/`~M29` upload that
//! stores the file.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Instant;

use flashforge_proto::gcode::{bare_file_name, Command, Led};
use flashforge_proto::printer::{encode_file_list, encode_thumbnail};
use flashforge_proto::Model;

use crate::files::FileSink;
use crate::printer::{A3Shape, SimPrinter, StartError, Status};

/// Longest command line accepted; longer lines are dropped.
pub const MAX_LINE: usize = 4096;

/// One TCP connection's protocol state.
#[derive(Debug)]
pub struct TcpSession {
    id: u64,
    line: Vec<u8>,
    overlong: bool,
    upload: Option<(FileSink, u64)>,
    finished_upload: Option<(String, u64, u64)>,
    relative: bool,
    selected: Option<String>,
    out: VecDeque<(Vec<u8>, String)>,
    last_rx: Instant,
    /// The command word of the line being answered (what scoped fault rules match).
    command: String,
}

fn fmt_num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

impl TcpSession {
    /// Whether a legacy upload's file bytes are being read.
    pub fn uploading(&self) -> bool {
        self.upload.is_some()
    }

    /// A new connection `id` (unique per printer) opened at `now`.
    pub fn new(id: u64, now: Instant) -> Self {
        Self {
            id,
            line: Vec::new(),
            overlong: false,
            upload: None,
            finished_upload: None,
            relative: false,
            selected: None,
            out: VecDeque::new(),
            last_rx: now,
            command: String::new(),
        }
    }

    /// The connection id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes to send, in order.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.poll_reply().map(|(bytes, _)| bytes)
    }

    /// Bytes to send, in order, each with the command word (`~M105`) of the line it answers,
    /// so the server can apply the fault rules scoped to that command.
    pub fn poll_reply(&mut self) -> Option<(Vec<u8>, String)> {
        self.out.pop_front()
    }

    /// When the printer drops this connection for silence.
    pub fn idle_deadline(&self, p: &SimPrinter) -> Instant {
        self.last_rx + p.spec.idle_drop
    }

    /// The connection closed: an unfinished upload is discarded. The control lock stays with
    /// the printer until `~M602` or the idle timeout, as on real firmware.
    pub fn closed(&mut self) {
        self.upload = None;
    }

    /// Bytes from the client.
    pub fn handle_bytes(&mut self, p: &mut SimPrinter, mut bytes: &[u8], now: Instant) {
        self.last_rx = now;
        p.advance(now);
        let _ = p.has_control(self.id, now); // refreshes the lock's activity time
        while !bytes.is_empty() {
            if let Some((sink, size)) = self.upload.as_mut() {
                let take = ((*size - sink.size()) as usize).min(bytes.len());
                sink.write(&bytes[..take]);
                bytes = &bytes[take..];
                if sink.size() == *size {
                    if let Some((sink, size)) = self.upload.take() {
                        let name = sink.name().to_owned();
                        let got = sink.size();
                        sink.finish(p);
                        self.finished_upload = Some((name, size, got));
                    }
                }
                continue;
            }
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    if !self.overlong {
                        self.line.extend_from_slice(&bytes[..i]);
                    }
                    bytes = &bytes[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    let skip = std::mem::replace(&mut self.overlong, false);
                    if !skip {
                        let line = String::from_utf8_lossy(&line);
                        self.on_line(p, line.trim_end_matches('\r'), now);
                    }
                }
                None => {
                    if self.line.len() + bytes.len() > MAX_LINE {
                        self.overlong = true;
                        self.line.clear();
                    } else if !self.overlong {
                        self.line.extend_from_slice(bytes);
                    }
                    bytes = &[];
                }
            }
        }
    }

    fn send(&mut self, bytes: impl Into<Vec<u8>>) {
        self.out.push_back((bytes.into(), self.command.clone()));
    }

    fn on_line(&mut self, p: &mut SimPrinter, line: &str, now: Instant) {
        let Some(cmd) = Command::decode(line) else {
            return;
        };
        p.log(line.trim());
        line.split_whitespace()
            .next()
            .unwrap_or_default()
            .clone_into(&mut self.command);
        let a3 = p.spec.model == Model::Adventurer3;
        // The emulator's A3 logs in and out with its two-`ok` forms.
        let a3_b = a3 && p.spec.a3_shape == A3Shape::ShapeB;
        let code = cmd.code().to_string();
        match &cmd {
            Command::Login => {
                if !p.take_control(self.id, now) {
                    return self.send("Control failed.\nok\n");
                }
                let reply = if a3_b {
                    "CMD M601 Received.\nok\nControl Success V2.1.\nok\n"
                } else if a3 || p.spec.model == Model::Adventurer4 {
                    "CMD M601 Received.\nok\n"
                } else if p.spec.emulator_login {
                    "CMD M601 Received.\nok\nControl Success V2.1.\nok\n"
                } else {
                    "CMD M601 Received.\nControl Success V2.1.\nok\n"
                };
                return self.send(reply);
            }
            Command::Logout => {
                // Only the holder's logout releases the lock: a denied client's `~M602` (the
                // reference clients send one before each login retry) must not take control
                // away from the client that has it.
                if p.has_control(self.id, now) {
                    p.release_control();
                }
                return self.send(if p.spec.emulator_login || a3_b {
                    "CMD M602 Received.\nok\nControl Release.\nok\n"
                } else {
                    "CMD M602 Received.\nControl Release.\nok\n"
                });
            }
            _ if !p.has_control(self.id, now) => return self.send("Control failed.\nok\n"),
            _ => {}
        }
        if a3 {
            self.a3(p, &cmd, line, &code);
        } else {
            self.modern(p, &cmd, &code);
        }
    }

    fn m115(p: &SimPrinter) -> String {
        let s = &p.spec;
        let (machine_type, dims, name_sep) = match s.model {
            Model::Adventurer3 => ("FlashForge Adventurer III".to_owned(), 150, "  "),
            Model::Adventurer4 => (
                format!(
                    "Flashforge Adventurer 4 {}",
                    if s.a4_pro { "Pro" } else { "Lite" }
                ),
                220,
                " ",
            ),
            Model::AD5X => ("Flashforge AD5X".to_owned(), 220, " "),
            m => (format!("Flashforge {}", m.name()), 220, " "),
        };
        let machine_type = s.machine_type.clone().unwrap_or(machine_type);
        let mut r = String::from("CMD M115 Received.\n");
        let _ = write!(
            r,
            "Machine Type: {machine_type}\nMachine Name:{name_sep}{}\n",
            s.name
        );
        if s.model == Model::Adventurer3 {
            r.push('\n');
        }
        let _ = write!(
            r,
            "Firmware: {}\nSN: {}\nX: {dims} Y: {dims} Z: {dims}\nTool Count: 1\nMac Address:{}\n",
            s.firmware, s.serial, s.mac
        );
        if s.model == Model::Adventurer3 {
            r.push('\n');
        }
        r.push_str("ok\n");
        r
    }

    /// `~M115` of the emulator's Adventurer 3 (Shape B): `echo:` first, `Serial Number:`, no
    /// `CMD` echo, no blank lines, no `ok`.
    fn m115_a3_shape_b(p: &SimPrinter) -> String {
        let s = &p.spec;
        let machine_type = s
            .machine_type
            .as_deref()
            .unwrap_or("FlashForge Adventurer III");
        format!(
            "echo: Machine Type: {machine_type}\nMachine Name: {}\nFirmware: {}\nSerial Number: {}\nX: 150 Y: 150 Z: 150\nTool Count: 1\nMac Address:{}\n",
            s.name, s.firmware, s.serial, s.mac
        )
    }

    fn temps(p: &SimPrinter, tools: usize) -> String {
        let mut r = String::new();
        for (i, h) in p.nozzles.iter().take(tools).enumerate() {
            let _ = write!(r, "T{i}:{}/{} ", fmt_num(h.current), fmt_num(h.target));
        }
        let _ = write!(r, "B:{}/{}", fmt_num(p.bed.current), fmt_num(p.bed.target));
        r
    }

    fn percent_and_layers(p: &SimPrinter) -> (u32, u32, u32) {
        match &p.job {
            Some(j) => {
                let pct = (j.progress() * 100.0).round() as u32;
                let layer = if p.status == Status::Heating {
                    0
                } else {
                    j.layer()
                };
                (pct, layer, j.layers)
            }
            None => (0, 0, 0),
        }
    }

    fn current_file(p: &SimPrinter) -> String {
        match (&p.job, p.status) {
            (Some(j), Status::Heating | Status::Printing | Status::Paused | Status::Completed) => {
                j.file.clone()
            }
            _ => String::new(),
        }
    }

    fn start_error(e: StartError) -> &'static str {
        match e {
            StartError::NotFound => "Error: File not found\nok\n",
            StartError::Busy => "Error: Printer is busy\nok\n",
            StartError::NotCleared => "Error: Clear to ready before starting a new job\nok\n",
        }
    }

    fn file_list_binary(p: &SimPrinter) -> Vec<u8> {
        let paths: Vec<String> = p.files.keys().map(|n| format!("/data/{n}")).collect();
        let mut list = Vec::new();
        encode_file_list(paths.iter().map(String::as_str), &mut list);
        list
    }

    fn begin_upload(&mut self, p: &SimPrinter, size: u64, name: &str) -> bool {
        let name = bare_file_name(name);
        if name.is_empty() {
            return false;
        }
        let sink = FileSink::new(name, p.spec.keep_file_bytes);
        self.finished_upload = None;
        if size == 0 {
            self.finished_upload = Some((name.to_owned(), 0, 0));
            // An empty file is complete at once.
            return true;
        }
        self.upload = Some((sink, size));
        true
    }

    /// `~M119`'s `FilamentStatus:` (`protocol/tcp.md`: `ok` or `no filament`).
    fn filament_status(p: &SimPrinter) -> &'static str {
        if p.filament_runout {
            "no filament"
        } else {
            "ok"
        }
    }

    fn end_upload(&mut self, p: &mut SimPrinter) -> bool {
        match self.finished_upload.take() {
            Some((name, size, got)) if size == got => {
                if size == 0 {
                    p.store_file(&name, &[]);
                }
                true
            }
            Some((name, ..)) => {
                p.delete_file(&name);
                false
            }
            None => false,
        }
    }

    fn modern(&mut self, p: &mut SimPrinter, cmd: &Command, code: &str) {
        let head = format!("CMD {code} Received.\n");
        let ok = |body: &str| format!("{head}{body}ok\n");
        let reply: String = match cmd {
            Command::MachineInfo => Self::m115(p),
            Command::Temperatures => {
                let tools = if p.spec.model == Model::AD5X { 2 } else { 1 };
                ok(&format!("{} @:0 B@:0\n", Self::temps(p, tools)))
            }
            Command::EndstopStatus => {
                let machine = match p.status {
                    Status::Ready | Status::Cancelled | Status::Error => "READY",
                    Status::Busy | Status::Heating => "BUSY",
                    Status::Printing => "BUILDING_FROM_SD",
                    Status::Paused => "PAUSED",
                    Status::Completed => "BUILDING_COMPLETED",
                };
                let mode = match p.status {
                    Status::Busy | Status::Heating | Status::Printing => "MOVING",
                    Status::Paused => "PAUSED",
                    _ => "READY",
                };
                let s = u8::from(p.busy());
                ok(&format!(
                    "Endstop X-max:0 Y-max:0 Z-min:1\nMachineStatus: {machine}\nMoveMode: {mode}\nStatus S:{s} L:0 J:0 F:{}\nLED: {}\nCurrentFile: {}\n",
                    u8::from(p.filament_runout),
                    u8::from(p.led),
                    Self::current_file(p)
                ))
            }
            Command::PrintStatus => {
                let (pct, layer, layers) = Self::percent_and_layers(p);
                ok(&format!(
                    "SD printing byte {pct}/100\nLayer: {layer}/{layers}\n"
                ))
            }
            Command::Position | Command::PositionWithExtruder => {
                let [x, y, z, e] = p.position;
                ok(&format!("X:{x:.3} Y:{y:.3} Z:{z:.3} A:{e:.3} B:0.000\n"))
            }
            Command::ListFiles => {
                let mut bytes = format!("{head}ok\n").into_bytes();
                bytes.extend_from_slice(&Self::file_list_binary(p));
                return self.send(bytes);
            }
            Command::Thumbnail { path } => {
                let Some(f) = p.files.get(bare_file_name(path)) else {
                    return self.send("Error: File not found\nok\n");
                };
                let mut bytes = format!("{head}ok\n").into_bytes();
                encode_thumbnail(f.thumbnail_or_default(), &mut bytes);
                return self.send(bytes);
            }
            Command::SelectFile { path } => match p.start_job(bare_file_name(path), false) {
                Ok(()) => ok(""),
                Err(e) => Self::start_error(e).to_owned(),
            },
            Command::Resume => {
                p.resume();
                ok("")
            }
            Command::Pause => {
                p.pause();
                ok("")
            }
            Command::Stop => {
                p.cancel();
                ok("")
            }
            Command::SetNozzleTemp { celsius, tool } => {
                let i = usize::from(tool.unwrap_or(0)).min(p.nozzles.len() - 1);
                p.nozzles[i].target = celsius.clamp(0.0, 350.0);
                ok("")
            }
            Command::WaitNozzleTemp { celsius } => {
                p.nozzles[0].target = celsius.clamp(0.0, 350.0);
                ok("")
            }
            Command::SetBedTemp { celsius } | Command::WaitBedTemp { celsius } => {
                p.bed.target = celsius.clamp(0.0, 130.0);
                ok("")
            }
            Command::Led(Led::Rgb { r, g, b }) => {
                p.led = (*r, *g, *b) != (0, 0, 0);
                ok("")
            }
            Command::Led(Led::Accessory(on)) => {
                p.led = *on;
                ok("")
            }
            Command::Home => {
                p.position = [0.0; 4];
                ok("")
            }
            Command::AbsolutePositioning => {
                self.relative = false;
                ok("")
            }
            Command::RelativePositioning => {
                self.relative = true;
                ok("")
            }
            Command::Move { axes, .. } => {
                if p.busy() {
                    return self.send(format!("{head}Error: Printer is busy\nok\n"));
                }
                self.apply_move(p, [axes.x, axes.y, axes.z, axes.e]);
                ok("")
            }
            Command::SetPosition(axes) => {
                for (i, v) in [axes.x, axes.y, axes.z, axes.e].into_iter().enumerate() {
                    if let Some(v) = v {
                        p.position[i] = v;
                    }
                }
                ok("")
            }
            Command::RunoutSensorOn | Command::RunoutSensorOff => {
                p.runout_sensor = matches!(cmd, Command::RunoutSensorOn);
                ok("")
            }
            Command::HardwareId => ok("X: 1.0 Y: 0.5\n"),
            Command::Rename { name } => {
                p.spec.name = name.clone();
                ok("")
            }
            Command::UploadBegin { size, name } => {
                if self.begin_upload(p, *size, name) {
                    ok("")
                } else {
                    format!("{head}Error: Cannot create file\nok\n")
                }
            }
            Command::UploadEnd => {
                if self.end_upload(p) {
                    ok("")
                } else {
                    format!("{head}File Is Not Available\nok\n")
                }
            }
            _ => ok(""),
        };
        self.send(reply);
    }

    fn apply_move(&mut self, p: &mut SimPrinter, d: [Option<f64>; 4]) {
        for (i, v) in d.into_iter().enumerate() {
            if let Some(v) = v {
                if self.relative {
                    p.position[i] += v;
                } else {
                    p.position[i] = v;
                }
            }
        }
    }

    /// The Adventurer 3 replies whose Shape B form (the emulator's captures) differs from
    /// Shape A; `None` for the commands both shapes answer alike.
    fn a3_shape_b(
        &mut self,
        p: &mut SimPrinter,
        cmd: &Command,
        line: &str,
        head: &str,
    ) -> Option<String> {
        let ok = |body: &str| format!("{head}{body}ok\n");
        // Whole degrees, as the emulator prints them.
        let deg = |v: f64| v.round() as i64;
        Some(match cmd {
            Command::MachineInfo => Self::m115_a3_shape_b(p),
            Command::Temperatures => {
                let (t, b) = (p.nozzles[0], p.bed);
                format!(
                    "{head}ok T0:{}/{} B:{}/{}\n",
                    deg(t.current),
                    deg(t.target),
                    deg(b.current),
                    deg(b.target)
                )
            }
            Command::EndstopStatus => {
                let machine = match p.status {
                    Status::Busy | Status::Heating => "BUSY",
                    Status::Printing => "BUILDING_FROM_SD",
                    Status::Paused => "PAUSED",
                    Status::Completed => "BUILDING_COMPLETED",
                    Status::Ready | Status::Cancelled | Status::Error => "IDLE",
                };
                // The last job's file stays reported after it ends (tcp_M119_after_cancel).
                let file = p.job.as_ref().map_or("", |j| j.file.as_str());
                format!(
                    "echo: Endstop: X-max: 1 Y-max: 1 Z-min: 1\nMachineStatus: {machine}\nMoveMode: 0.0\nFilamentStatus: {}\nLEDStatus: {}\nPrintFileName: {file}\n",
                    Self::filament_status(p),
                    if p.led { "on" } else { "off" },
                )
            }
            Command::PrintStatus => {
                let (pct, ..) = Self::percent_and_layers(p);
                ok(&format!("SD printing byte {pct}/100\n"))
            }
            Command::Position | Command::PositionWithExtruder => {
                let [x, y, z, e] = p.position;
                ok(&format!("X:{x:.3} Y:{y:.3} Z:{z:.3} A:{e:.3} B:0.000\n"))
            }
            Command::SelectFile { path } => {
                // The emulator's A3 opens and starts the file: `~M119` reports BUSY while it
                // heats (tcp_M119_after_M23). A file that cannot start yet stays selected for
                // `~M24`.
                let name = bare_file_name(path);
                let size = p.files.get(name).map_or(0, |f| f.size);
                self.selected = None;
                if p.files.contains_key(name) && p.start_job(name, false).is_err() {
                    self.selected = Some(name.to_owned());
                }
                format!("File opened: /data/{name} Size: {size}\nDone printing file\nok\n")
            }
            Command::Resume => {
                if p.status == Status::Paused {
                    p.resume();
                } else if let Some(name) = self.selected.take() {
                    let _ = p.start_job(&name, false);
                }
                ok("")
            }
            Command::Pause => {
                p.pause();
                ok("")
            }
            Command::Stop => {
                p.cancel();
                ok("")
            }
            // Unknown commands are echoed as sent, tilde included (tcp_M999_unknown).
            Command::Raw(_) => {
                let echo = line.split_whitespace().next().unwrap_or_default();
                format!("CMD {echo} Received.\nok\n")
            }
            _ => return None,
        })
    }

    fn a3(&mut self, p: &mut SimPrinter, cmd: &Command, line: &str, code: &str) {
        let head = format!("CMD {code} Received.\n");
        if p.spec.a3_shape == A3Shape::ShapeB {
            if let Some(reply) = self.a3_shape_b(p, cmd, line, &head) {
                return self.send(reply);
            }
        }
        let reply: String = match cmd {
            Command::MachineInfo => Self::m115(p),
            Command::Temperatures => format!("ok {}\r\n", Self::temps(p, 1)),
            Command::EndstopStatus => {
                let machine = match p.status {
                    Status::Printing | Status::Heating => "PRINTING",
                    Status::Paused => "PAUSED",
                    Status::Completed => "BUILDING_COMPLETED",
                    _ => "IDLE",
                };
                format!(
                    "{head}echo: Endstop: X-max: 0 Y-max: 0 Z-min: 1\nMachineStatus: {machine}\nMoveMode: 0.0\nFilamentStatus: {}\nLEDStatus: {}\nPrintFileName: {}\nok\n",
                    Self::filament_status(p),
                    if p.led { "on" } else { "off" },
                    Self::current_file(p)
                )
            }
            Command::PrintStatus => {
                let (pct, ..) = Self::percent_and_layers(p);
                format!("ack: \"SD printing byte {pct}/100\r\n\"\n")
            }
            Command::Position | Command::PositionWithExtruder => {
                let [x, y, z, e] = p.position;
                format!("{head}X:{x:.2} Y:{y:.2} Z:{z:.2} A:{e:.2} B:0\nok\n")
            }
            Command::ListFiles => {
                if p.files.is_empty() {
                    "CMD M661 Error.\n".to_owned()
                } else {
                    let mut r = format!("{head}info_list.size: {}\n", p.files.len());
                    for name in p.files.keys() {
                        r.push_str(name);
                        r.push('\n');
                    }
                    r
                }
            }
            Command::Thumbnail { path } => {
                let Some(f) = p.files.get(bare_file_name(path)) else {
                    return self.send(format!("{head}Error: File not exists\n"));
                };
                let mut bytes = format!(
                    "{head}ack header length: {}\n",
                    f.thumbnail_or_default().len() + 8
                )
                .into_bytes();
                encode_thumbnail(f.thumbnail_or_default(), &mut bytes);
                return self.send(bytes);
            }
            Command::SelectFile { path } => {
                let name = bare_file_name(path);
                let size = p.files.get(name).map_or(0, |f| f.size);
                self.selected = p.files.contains_key(name).then(|| name.to_owned());
                format!("File opened: /data/{name} Size: {size}\nDone printing file\nok\n")
            }
            Command::Resume => {
                if p.status == Status::Paused {
                    p.resume();
                } else if let Some(name) = self.selected.take() {
                    let _ = p.start_job(&name, false);
                }
                "ack: \"M24\"\n".to_owned()
            }
            Command::Pause => {
                p.pause();
                "ack: \"M25\"\n".to_owned()
            }
            Command::Stop => {
                p.cancel();
                head
            }
            Command::Led(Led::Accessory(on)) => {
                p.led = *on;
                format!("ack: \"{}\"\n", line.trim().trim_start_matches('~'))
            }
            Command::Led(Led::Rgb { r, g, b }) => {
                p.led = (*r, *g, *b) != (0, 0, 0);
                format!("{head}ok\n")
            }
            Command::SetNozzleTemp { celsius, .. } | Command::WaitNozzleTemp { celsius } => {
                p.nozzles[0].target = celsius.clamp(0.0, 260.0);
                format!("{head}ok\n")
            }
            Command::SetBedTemp { celsius } | Command::WaitBedTemp { celsius } => {
                p.bed.target = celsius.clamp(0.0, 100.0);
                format!("{head}ok\n")
            }
            // Motion: no reply at all on the A3.
            Command::Move { axes, .. } => {
                if !p.busy() {
                    self.apply_move(p, [axes.x, axes.y, axes.z, axes.e]);
                }
                return;
            }
            Command::Home => {
                p.position = [0.0; 4];
                return;
            }
            Command::AbsolutePositioning => {
                self.relative = false;
                return;
            }
            Command::RelativePositioning => {
                self.relative = true;
                return;
            }
            Command::SetPosition(_) => return,
            Command::EnableSteppers
            | Command::CancelHeatWait
            | Command::FanOn { .. }
            | Command::FanOff => head,
            Command::DisableSteppers if p.busy() => "Error: printing can not send M18\n".to_owned(),
            Command::DisableSteppers => head,
            Command::EmergencyStop => {
                p.cancel();
                "echo: Emergency Stop!!!\n".to_owned()
            }
            Command::HardwareId => format!("{head}X: 1.0 Y: 0.5\nok\n"),
            Command::Rename { name } => {
                p.spec.name = name.clone();
                format!("{head}ok\n")
            }
            Command::UploadBegin { size, name } => {
                let bare_name = bare_file_name(name).to_owned();
                if self.begin_upload(p, *size, name) {
                    format!("{head}/data/{bare_name}\n")
                } else {
                    format!("{head}Error: Cannot create file\n")
                }
            }
            Command::UploadEnd => {
                if self.end_upload(p) {
                    format!("{head}ok\n")
                } else {
                    format!("{head}File Is Not Available\n")
                }
            }
            _ => format!("{head}ok\n"),
        };
        self.send(reply);
    }
}
