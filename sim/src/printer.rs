//! The simulated machine: identity, temperatures, job, files, lights, fans, material station,
//! the TCP control lock. Time comes from the caller ([`SimPrinter::advance`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::files::{self, StoredFile};
use flashforge_proto::model::Family;
use flashforge_proto::Model;

/// Ambient temperature, °C.
pub const AMBIENT: f64 = 25.0;
/// How many files `/gcodeList` reports (most recent first).
pub const RECENT_FILES: usize = 10;

/// Whether a simulated `model` has a camera (advertised in `/detail`, served on its camera
/// port): the 5M Pro, AD5X and Creator 5 series.
pub(crate) fn has_camera(model: Model) -> bool {
    matches!(
        model,
        Model::Adventurer5MPro | Model::AD5X | Model::Creator5 | Model::Creator5Pro
    )
}

/// Identity and behaviour of one simulated printer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PrinterSpec {
    /// Which model.
    pub model: Model,
    /// User-visible name (discovery, `~M115`, `/detail`).
    pub name: String,
    /// Serial number (HTTP credentials, discovery).
    pub serial: String,
    /// The LAN-mode check code HTTP requests must carry.
    pub check_code: String,
    /// Firmware version string.
    pub firmware: String,
    /// `~M115` machine type, when it should differ from the model's default.
    pub machine_type: Option<String>,
    /// MAC address.
    pub mac: String,
    /// IP reported in `/detail` and used in URLs.
    pub ip: String,
    /// Adventurer 4 variant: Pro (product id `0x1E`) or Lite (`0x16`).
    pub a4_pro: bool,
    /// Simulated seconds per real second (heating and printing).
    pub speed: f64,
    /// Simulated print time of a job.
    pub job_duration: Duration,
    /// Layers of a job.
    pub layers: u32,
    /// Files up to this size keep their bytes ([`StoredFile::data`]); larger ones keep size,
    /// SHA-256, thumbnail and metadata (read from their first and last MiB as they stream in),
    /// so a multi-GB upload costs no memory.
    pub keep_file_bytes: u64,
    /// The TCP control lock expires after this long without traffic from its holder (30 s).
    pub idle_drop: Duration,
    /// Login reply shape: the emulator's two-`ok` form or the firmware's single block.
    pub emulator_login: bool,
    /// Report the HTTP `Content-Type` with the firmware's `appliation/json` typo.
    pub content_type_typo: bool,
    /// How an Adventurer 3 frames its TCP replies (ignored by the other models): Shape B, as
    /// the emulator's A3 captures show, unless set otherwise.
    pub a3_shape: A3Shape,
    /// Where the printer listens: its own address with the standard ports, or the server's
    /// address with ports from [`crate::ServerConfig`].
    pub net: Placement,
    /// Discovery replies advertise LAN-only mode (byte `0x90` = 1), as the simulated printer
    /// behaves: HTTP with the check code, no cloud.
    pub lan_only: bool,
}

/// The TCP command port of a FlashForge printer.
pub const STANDARD_TCP_PORT: u16 = 8899;
/// The HTTP API port of the 5M family, AD5X and Creator 5 series.
pub const STANDARD_HTTP_PORT: u16 = 8898;
/// The camera port (`http://IP:8080/?action=stream`).
pub const STANDARD_CAMERA_PORT: u16 = 8080;

/// Where one printer listens.
///
/// With `bind` set, each port left `None` is the printer's standard one (TCP 8899, HTTP 8898,
/// the model's discovery ports, camera 8080), so a client with no port settings (Home
/// Assistant, the Python client) finds it as it would a real printer. With `bind` unset the
/// printer shares the server's address ([`crate::ServerConfig::ip`]) and takes the server's
/// ports (0: any free port), as tests on one address need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Placement {
    /// The printer's own address (a loopback address such as `127.0.0.2`).
    pub bind: Option<std::net::IpAddr>,
    /// TCP command port (ignored by the Creator 5 series, which has no TCP server).
    pub tcp_port: Option<u16>,
    /// HTTP API port (ignored by the Adventurer 3/4).
    pub http_port: Option<u16>,
    /// UDP ports answering unicast discovery probes (default: the model's discovery ports).
    pub discovery_ports: Option<Vec<u16>>,
    /// MJPEG camera port (models with a camera).
    pub camera_port: Option<u16>,
}

impl Placement {
    /// On its own address with the standard ports.
    pub fn at(ip: std::net::IpAddr) -> Self {
        Self {
            bind: Some(ip),
            ..Self::default()
        }
    }
}

/// The reply shape of a simulated Adventurer 3 on TCP (`protocol/tcp.md` §3.1, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum A3Shape {
    /// Shape B, byte for byte as the emulator's Adventurer 3 answers
    /// (`captures/emulator/adventurer-3/tcp_*`): `~M115` and `~M119` start with `echo:` and
    /// have no `CMD` echo and no `ok`; `~M105` is `CMD M105 Received.` + `ok T0:c/t B:c/t`;
    /// `~M146` is `ack: "M146 1"` alone; `~M24`/`~M25`/`~M26`/`~M27`/`~M114` are
    /// `CMD … Received.` … `ok`; `~M23` opens and starts the file; motion gets no reply;
    /// unknown commands are echoed as sent (`CMD ~M999 Received.`); login and logout are the
    /// emulator's two-`ok` forms.
    #[default]
    ShapeB,
    /// The earlier A3 forms, from the firmware notes and the reference clients' test data:
    /// `CMD M115 Received.` … `ok` with blank lines (the real A3C Pro capture), `~M119` with
    /// a `CMD` echo and a final `ok`, `~M105` as a lone `ok T0:…` line, `~M27` as
    /// `ack: "SD printing byte …"`, `~M24`/`~M25` as `ack: "M24"`, `~M26` without `ok`,
    /// `~M23` only selecting the file (`~M24` starts it), login `CMD M601 Received.\nok`.
    ShapeA,
}

impl PrinterSpec {
    /// Defaults for `model` (names and ids as the emulator's defaults, real product ids).
    pub fn new(model: Model) -> Self {
        // The name is the model table's; firmware by model where the emulator has one, else
        // by family, so a model added to the table is simulated without an edit here.
        let name = model.spec().name;
        let firmware = match (model, model.family()) {
            (Model::Adventurer3, _) => "v1.3.7",
            (Model::Adventurer4, _) => "v2.0.5 20220527",
            (Model::AD5X, _) => "1.1.7-1.0.2",
            (_, Family::Adventurer5) => "3.2.7",
            (_, Family::Creator5) => "1.9.2",
            _ => "0.0.0",
        };
        let tag = match model {
            Model::Adventurer5MPro => "5MP".to_owned(),
            Model::Creator5Pro => "C5P".to_owned(),
            m => m
                .spec()
                .aliases
                .first()
                .map_or("X".to_owned(), |a| a.to_ascii_uppercase()),
        };
        Self {
            model,
            name: name.to_owned(),
            serial: format!("SNSIM{tag}0001"),
            check_code: "12345678".to_owned(),
            firmware: firmware.to_owned(),
            machine_type: None,
            mac: "88:A9:A7:00:00:01".to_owned(),
            ip: "127.0.0.1".to_owned(),
            a4_pro: true,
            speed: 1.0,
            job_duration: Duration::from_secs(600),
            layers: 100,
            keep_file_bytes: 16 << 20,
            idle_drop: Duration::from_secs(30),
            emulator_login: false,
            content_type_typo: true,
            a3_shape: A3Shape::default(),
            net: Placement::default(),
            lan_only: true,
        }
    }

    /// The `index`-th printer of a farm: unique serial, name and MAC.
    pub fn numbered(model: Model, index: u32) -> Self {
        let mut s = Self::new(model);
        s.serial = format!("{}{index:06}", s.serial.trim_end_matches("0001"));
        if index > 0 {
            s.name = format!("{} #{index}", s.name);
        }
        s.mac = format!(
            "88:A9:A7:{:02X}:{:02X}:{:02X}",
            (index >> 16) as u8,
            (index >> 8) as u8,
            index as u8
        );
        s
    }

    /// Product id as the printer reports it (discovery, `/detail`).
    pub fn product_id(&self) -> u16 {
        // The model table lists the Adventurer 4 Pro's id first, the Lite's second.
        let ids = self.model.spec().product_ids;
        let i = usize::from(self.model == Model::Adventurer4 && !self.a4_pro);
        ids.get(i).or(ids.first()).copied().unwrap_or(0)
    }
}

/// Machine state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Idle.
    Ready,
    /// Non-print activity (homing, loading filament).
    Busy,
    /// Pre-print heating.
    Heating,
    /// Printing.
    Printing,
    /// Paused.
    Paused,
    /// Cancelled; waits for "clear platform" on HTTP models.
    Cancelled,
    /// Finished; waits for "clear platform" on HTTP models.
    Completed,
    /// Error (see `error_code`).
    Error,
}

/// A heater.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heater {
    /// Current °C.
    pub current: f64,
    /// Target °C (0 = off).
    pub target: f64,
}

impl Heater {
    fn cold() -> Self {
        Self {
            current: AMBIENT,
            target: 0.0,
        }
    }

    fn step(&mut self, secs: f64) {
        let goal = if self.target > 0.0 {
            self.target
        } else {
            AMBIENT
        };
        let rate = if goal > self.current { 8.0 } else { 3.0 };
        let d = (goal - self.current).clamp(-rate * secs, rate * secs);
        self.current += d;
    }

    /// Within 2 °C of a non-zero target.
    pub fn reached(&self) -> bool {
        self.target <= 0.0 || (self.current - self.target).abs() <= 2.0
    }
}

/// A material-station slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Filament loaded.
    pub has_filament: bool,
    /// Material name.
    pub material: String,
    /// Colour as stored (`#RRGGBB` or whatever a client sent).
    pub color: String,
}

/// The material station (AD5X, Creator 5 series).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Station {
    /// Four slots.
    pub slots: [Slot; 4],
    /// Active slot (1-based, 0 none).
    pub current_slot: u8,
    /// Slot being loaded/unloaded.
    pub current_load_slot: u8,
    /// Raw state action.
    pub state_action: u8,
    /// Raw state step.
    pub state_step: u8,
    /// Direct-feed path (AD5X).
    pub indep: Slot,
}

/// A running or finished job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// File name (no directory).
    pub file: String,
    /// Simulated print time so far.
    pub elapsed: Duration,
    /// Simulated total print time.
    pub total: Duration,
    /// Layers.
    pub layers: u32,
    /// Levelling requested.
    pub leveling: bool,
}

impl Job {
    /// Progress 0.0..=1.0.
    pub fn progress(&self) -> f64 {
        if self.total.is_zero() {
            return 1.0;
        }
        (self.elapsed.as_secs_f64() / self.total.as_secs_f64()).clamp(0.0, 1.0)
    }

    /// Current layer (1-based while printing).
    pub fn layer(&self) -> u32 {
        ((self.progress() * f64::from(self.layers)).ceil() as u32).clamp(1, self.layers.max(1))
    }

    /// Remaining simulated time.
    pub fn remaining(&self) -> Duration {
        self.total.saturating_sub(self.elapsed)
    }
}

/// Why a job could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// No such file.
    NotFound,
    /// A job is running.
    Busy,
    /// The previous job was not cleared.
    NotCleared,
}

/// The simulated printer.
#[derive(Debug)]
pub struct SimPrinter {
    /// Identity and behaviour.
    pub spec: PrinterSpec,
    /// Machine state.
    pub status: Status,
    /// Nozzles (index 0 = right/main; four on the Creator 5, two on the AD5X).
    pub nozzles: Vec<Heater>,
    /// Bed.
    pub bed: Heater,
    /// Chamber (`None`: no sensor, reported as `-108`).
    pub chamber: Option<Heater>,
    /// Current or last job.
    pub job: Option<Job>,
    /// Stored files by name.
    pub files: BTreeMap<String, StoredFile>,
    /// Recently stored or printed files, most recent first.
    pub recent: VecDeque<String>,
    /// LED on.
    pub led: bool,
    /// Internal filtration fan.
    pub internal_fan: bool,
    /// External filtration fan.
    pub external_fan: bool,
    /// Camera stream on.
    pub camera_on: bool,
    /// Speed override, percent.
    pub speed_adjust: u32,
    /// Z offset, mm.
    pub z_offset: f64,
    /// Part-cooling fan 0–255 (reported as percent in `/detail`).
    pub cooling_fan: u8,
    /// Left part-cooling fan (AD5X).
    pub cooling_left_fan: u8,
    /// Chamber fan.
    pub chamber_fan: u8,
    /// X, Y, Z, E.
    pub position: [f64; 4],
    /// `""` or an error code.
    pub error_code: String,
    /// Auto power-off.
    pub auto_shutdown: bool,
    /// Auto power-off delay, minutes.
    pub auto_shutdown_minutes: u32,
    /// Lifetime filament, metres.
    pub cumulative_filament: f64,
    /// Lifetime print time, simulated seconds.
    pub cumulative_print_seconds: f64,
    /// Door open (reported on every model, real on the Creator 5 Pro).
    pub door_open: bool,
    /// Material station.
    pub station: Option<Station>,
    /// Runout sensor (5M Pro `~M405`/`~M406`).
    pub runout_sensor: bool,
    /// Filament ran out (`~M119` `FilamentStatus: no filament` / `F:1`, `/detail`
    /// `hasRightFilament: false`).
    pub filament_runout: bool,
    /// Length of the next job started, instead of [`PrinterSpec::job_duration`].
    pub next_job_duration: Option<Duration>,
    /// Holder of the TCP control lock and when it was last heard from.
    controller: Option<(u64, Instant)>,
    last_advance: Instant,
    /// Every TCP command line and HTTP request path handled, most recent last (bounded).
    pub journal: VecDeque<String>,
}

const JOURNAL: usize = 256;

impl SimPrinter {
    /// A printer at rest at `now`, with two stored files.
    pub fn new(spec: PrinterSpec, now: Instant) -> Self {
        let model = spec.model;
        let nozzles = match model {
            Model::Creator5 | Model::Creator5Pro => 4,
            Model::AD5X => 2,
            _ => 1,
        };
        let has_station = matches!(model, Model::AD5X | Model::Creator5 | Model::Creator5Pro);
        let slot = |m: &str, c: &str| Slot {
            has_filament: true,
            material: m.to_owned(),
            color: c.to_owned(),
        };
        let mut p = Self {
            status: Status::Ready,
            nozzles: vec![Heater::cold(); nozzles],
            bed: Heater::cold(),
            chamber: match model {
                Model::Creator5 => None,
                _ => Some(Heater::cold()),
            },
            job: None,
            files: BTreeMap::new(),
            recent: VecDeque::new(),
            led: true,
            internal_fan: false,
            external_fan: false,
            camera_on: has_camera(model),
            speed_adjust: 100,
            z_offset: 0.0,
            cooling_fan: 0,
            cooling_left_fan: 0,
            chamber_fan: 0,
            position: [0.0; 4],
            error_code: String::new(),
            auto_shutdown: false,
            auto_shutdown_minutes: 30,
            cumulative_filament: 12.5,
            cumulative_print_seconds: 36_000.0,
            door_open: false,
            station: has_station.then(|| Station {
                slots: [
                    slot("PLA", "#FFFFFF"),
                    slot("PLA", "#161616"),
                    slot("PETG", "#F72224"),
                    Slot {
                        has_filament: false,
                        material: String::new(),
                        color: String::new(),
                    },
                ],
                current_slot: 0,
                current_load_slot: 0,
                state_action: 0,
                state_step: 0,
                indep: slot("PLA", "#FFFFFF"),
            }),
            runout_sensor: true,
            filament_runout: false,
            next_job_duration: None,
            controller: None,
            last_advance: now,
            journal: VecDeque::new(),
            spec,
        };
        // Built once per process and shared (their bytes, thumbnails and metadata behind
        // `Arc`s): a farm of 10,000 printers does not inspect them 20,000 times.
        for (name, file) in files::demo_files() {
            let mut file = file.clone();
            if file.size > p.spec.keep_file_bytes {
                file.data = None;
            }
            p.put_file(name, file);
        }
        p
    }

    /// Records a handled request (bounded).
    pub fn log(&mut self, what: impl Into<String>) {
        if self.journal.len() == JOURNAL {
            self.journal.pop_front();
        }
        self.journal.push_back(what.into());
    }

    /// Stores a whole file (its thumbnail and metadata read from it).
    pub fn store_file(&mut self, name: &str, data: &[u8]) {
        let file = StoredFile::new(name, data, self.spec.keep_file_bytes);
        self.put_file(name, file);
    }

    /// Stores a file received in pieces (see [`FileSink`](crate::FileSink)); the thumbnail and
    /// metadata are read from `data` when it is kept.
    pub fn insert_file(
        &mut self,
        name: &str,
        size: u64,
        sha256: [u8; 32],
        data: Option<Arc<[u8]>>,
    ) {
        let file = StoredFile::from_parts(name, size, sha256, data);
        self.put_file(name, file);
    }

    /// Stores `file` as `name` (replacing a file of that name), most recent first.
    pub fn put_file(&mut self, name: &str, file: StoredFile) {
        self.files.insert(name.to_owned(), file);
        self.touch_recent(name);
    }

    /// A stored file.
    pub fn file(&self, name: &str) -> Option<&StoredFile> {
        self.files.get(name)
    }

    fn touch_recent(&mut self, name: &str) {
        self.recent.retain(|n| n != name);
        self.recent.push_front(name.to_owned());
        self.recent.truncate(RECENT_FILES);
    }

    /// Deletes a file.
    pub fn delete_file(&mut self, name: &str) -> bool {
        self.recent.retain(|n| n != name);
        self.files.remove(name).is_some()
    }

    /// Advances simulated time to `now` (heaters, job progress).
    pub fn advance(&mut self, now: Instant) {
        let real = now.saturating_duration_since(self.last_advance);
        self.last_advance = self.last_advance.max(now);
        self.integrate(real.as_secs_f64() * self.spec.speed);
    }

    /// Advances `secs` simulated seconds at once (heaters, job progress), whatever the clock.
    pub(crate) fn integrate(&mut self, mut secs: f64) {
        // Integrate in 1 s slices so heating and printing interleave sensibly; past
        // FINE_SLICES (heaters have long settled by then) each slice takes half of what is
        // left, so even 1e300 s (where `secs - 1.0 == secs`) ends in a few thousand steps.
        const FINE_SLICES: u32 = 10_000;
        let mut slices = 0u32;
        while secs > 0.0 {
            let dt = if slices < FINE_SLICES {
                secs.min(1.0)
            } else {
                secs.min((secs / 2.0).max(1.0))
            };
            slices = slices.saturating_add(1);
            secs -= dt;
            for h in self.nozzles.iter_mut() {
                h.step(dt);
            }
            self.bed.step(dt);
            if let Some(c) = self.chamber.as_mut() {
                c.step(dt);
            }
            match self.status {
                Status::Heating if self.nozzles[0].reached() && self.bed.reached() => {
                    self.status = Status::Printing;
                }
                Status::Printing => {
                    let Some(job) = self.job.as_mut() else {
                        self.status = Status::Ready;
                        continue;
                    };
                    let step =
                        Duration::try_from_secs_f64(dt * f64::from(self.speed_adjust) / 100.0)
                            .unwrap_or(Duration::MAX);
                    job.elapsed = job.elapsed.saturating_add(step).min(job.total);
                    self.cumulative_print_seconds += dt;
                    self.cumulative_filament += dt * 0.002;
                    self.position[2] = f64::from(job.layer()) * 0.2;
                    if job.elapsed >= job.total {
                        self.status = Status::Completed;
                        for h in self.nozzles.iter_mut() {
                            h.target = 0.0;
                        }
                        self.bed.target = 0.0;
                    }
                }
                _ => {}
            }
        }
    }

    /// Starts printing a stored file.
    pub fn start_job(&mut self, name: &str, leveling: bool) -> Result<(), StartError> {
        if !self.files.contains_key(name) {
            return Err(StartError::NotFound);
        }
        match self.status {
            Status::Ready => {}
            // TCP-only models have no "clear platform": a finished job clears itself.
            Status::Completed | Status::Cancelled if !self.spec.model.is_http() => {}
            Status::Completed | Status::Cancelled => return Err(StartError::NotCleared),
            _ => return Err(StartError::Busy),
        }
        self.job = Some(Job {
            file: name.to_owned(),
            elapsed: Duration::ZERO,
            total: self.next_job_duration.unwrap_or(self.spec.job_duration),
            layers: self.spec.layers,
            leveling,
        });
        self.nozzles[0].target = 210.0;
        self.bed.target = 60.0;
        self.status = Status::Heating;
        self.touch_recent(name);
        Ok(())
    }

    /// Pauses a running job. False when nothing runs.
    pub fn pause(&mut self) -> bool {
        if matches!(self.status, Status::Printing | Status::Heating) {
            self.status = Status::Paused;
            true
        } else {
            self.status == Status::Paused
        }
    }

    /// Resumes a paused job.
    pub fn resume(&mut self) -> bool {
        if self.status == Status::Paused {
            self.status = if self.nozzles[0].reached() {
                Status::Printing
            } else {
                Status::Heating
            };
            true
        } else {
            matches!(self.status, Status::Printing | Status::Heating)
        }
    }

    /// Cancels the job.
    pub fn cancel(&mut self) -> bool {
        if matches!(
            self.status,
            Status::Printing | Status::Heating | Status::Paused
        ) {
            self.status = Status::Cancelled;
            for h in self.nozzles.iter_mut() {
                h.target = 0.0;
            }
            self.bed.target = 0.0;
            true
        } else {
            false
        }
    }

    /// "Clear platform": a completed or cancelled job is acknowledged.
    pub fn clear_platform(&mut self) {
        if matches!(self.status, Status::Completed | Status::Cancelled) {
            self.status = Status::Ready;
            self.job = None;
        }
    }

    /// Is a job in progress (heating, printing, paused)?
    pub fn busy(&self) -> bool {
        matches!(
            self.status,
            Status::Heating | Status::Printing | Status::Paused | Status::Busy
        )
    }

    /// Tries to take the TCP control lock for connection `conn`.
    pub fn take_control(&mut self, conn: u64, now: Instant) -> bool {
        match self.controller {
            Some((holder, seen))
                if holder != conn && now.saturating_duration_since(seen) < self.spec.idle_drop =>
            {
                false
            }
            _ => {
                self.controller = Some((conn, now));
                true
            }
        }
    }

    /// Does `conn` hold the control lock? Refreshes its activity time if so.
    pub fn has_control(&mut self, conn: u64, now: Instant) -> bool {
        match self.controller.as_mut() {
            Some((holder, seen)) if *holder == conn => {
                *seen = now;
                true
            }
            _ => false,
        }
    }

    /// Releases the lock (`~M602` from any connection, as the firmware does).
    pub fn release_control(&mut self) {
        self.controller = None;
    }

    /// The connection holding the control lock.
    pub fn controller(&self) -> Option<u64> {
        self.controller.map(|(c, _)| c)
    }
}
