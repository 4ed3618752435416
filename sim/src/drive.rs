//! Driving a simulated printer from a test or the control API: put it in any state (printing
//! a file at some progress, paused, in error with a code, door open, out of filament), set
//! its temperatures, skip simulated time, change its speed, or reset it.
//!
//! ```
//! use flashforge_proto::Model;
//! use flashforge_sim::{HeaterId, PrinterSpec, SimPrinter, StateChange, Status};
//! use std::time::{Duration, Instant};
//!
//! let mut p = SimPrinter::new(PrinterSpec::new(Model::Adventurer5M), Instant::now());
//! p.apply(StateChange::Printing { file: "cube.gcode".into(), progress: 0.5 }).unwrap();
//! p.set_temperature(HeaterId::Bed, Some(60.0), Some(60.0));
//! p.skip(Duration::from_secs(24 * 3600));
//! assert_eq!(p.status, Status::Completed);
//! p.apply(StateChange::Error { code: "E0088".into() }).unwrap();
//! assert_eq!(p.error_code, "E0088");
//! ```

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::printer::{Heater, Job, SimPrinter, Status};

/// A change of a printer's state, applied with [`SimPrinter::apply`] or
/// [`crate::SimHandle::set_state`].
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange {
    /// Printing `file` (stored or not) at `progress` (0..=1), heaters at temperature.
    Printing {
        /// The job's file name.
        file: String,
        /// Progress 0.0..=1.0.
        progress: f64,
    },
    /// The job (a running one, or a new one of the first stored file) paused.
    Paused,
    /// The job finished (waits for "clear platform" on HTTP models).
    Completed,
    /// The job cancelled.
    Cancelled,
    /// In error with this code (`E0088`); the job, if any, stopped.
    Error {
        /// The error code (`errorCode` in `/detail`).
        code: String,
    },
    /// Idle: no job, no error.
    Ready,
    /// Door open or closed.
    DoorOpen(bool),
    /// Filament ran out (or was loaded again).
    FilamentRunout(bool),
    /// The running job's progress (0..=1).
    Progress(f64),
    /// The running job's layer (1-based).
    Layer(u32),
}

/// One of a printer's heaters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaterId {
    /// A nozzle (0 = right/main).
    Nozzle(usize),
    /// The bed.
    Bed,
    /// The chamber (absent on the Creator 5).
    Chamber,
}

/// Why a state change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveError(pub String);

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DriveError {}

fn bad(why: impl Into<String>) -> DriveError {
    DriveError(why.into())
}

/// The lower-case name of a status (`"printing"`, `"error"`, ...), as the control API uses.
pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Ready => "ready",
        Status::Busy => "busy",
        Status::Heating => "heating",
        Status::Printing => "printing",
        Status::Paused => "paused",
        Status::Cancelled => "cancelled",
        Status::Completed => "completed",
        Status::Error => "error",
    }
}

impl SimPrinter {
    fn job_or_new(&mut self, file: Option<&str>) -> &mut Job {
        let file = file
            .map(str::to_owned)
            .or_else(|| self.job.as_ref().map(|j| j.file.clone()))
            .or_else(|| self.files.keys().next().cloned())
            .unwrap_or_else(|| "job.gcode".to_owned());
        let total = self.next_job_duration.unwrap_or(self.spec.job_duration);
        let layers = self.spec.layers;
        let keep = self.job.as_ref().is_some_and(|j| j.file == file);
        if !keep {
            self.job = Some(Job {
                file,
                elapsed: Duration::ZERO,
                total,
                layers,
                leveling: false,
            });
        }
        self.job.as_mut().expect("job set above")
    }

    fn heaters_off(&mut self) {
        for h in self.nozzles.iter_mut() {
            h.target = 0.0;
        }
        self.bed.target = 0.0;
    }

    fn heaters_at_print_temperature(&mut self) {
        for (i, h) in self.nozzles.iter_mut().enumerate() {
            if i == 0 && h.target <= 0.0 {
                h.target = 210.0;
            }
            h.current = if h.target > 0.0 { h.target } else { h.current };
        }
        if self.bed.target <= 0.0 {
            self.bed.target = 60.0;
        }
        self.bed.current = self.bed.target;
    }

    /// Applies a state change at once (no heating phase, no checks of the model's rules).
    pub fn apply(&mut self, change: StateChange) -> Result<(), DriveError> {
        match change {
            StateChange::Printing { file, progress } => {
                if !(0.0..=1.0).contains(&progress) {
                    return Err(bad("progress must be within 0..=1"));
                }
                if file.is_empty() || file.contains(['/', '\0']) {
                    return Err(bad("bad file name"));
                }
                let job = self.job_or_new(Some(&file));
                job.elapsed = job.total.mul_f64(progress);
                self.error_code.clear();
                self.heaters_at_print_temperature();
                self.status = Status::Printing;
                self.recent.retain(|n| n != &file);
                self.recent.push_front(file);
                self.recent.truncate(crate::printer::RECENT_FILES);
            }
            StateChange::Paused => {
                self.job_or_new(None);
                self.status = Status::Paused;
            }
            StateChange::Completed => {
                let job = self.job_or_new(None);
                job.elapsed = job.total;
                self.heaters_off();
                self.status = Status::Completed;
            }
            StateChange::Cancelled => {
                self.job_or_new(None);
                self.heaters_off();
                self.status = Status::Cancelled;
            }
            StateChange::Error { code } => {
                if code.len() > 64 || code.contains(['\n', '\r', '\0']) {
                    return Err(bad("bad error code"));
                }
                self.error_code = code;
                self.heaters_off();
                self.status = Status::Error;
            }
            StateChange::Ready => {
                self.job = None;
                self.error_code.clear();
                self.status = Status::Ready;
            }
            StateChange::DoorOpen(open) => self.door_open = open,
            StateChange::FilamentRunout(out) => self.filament_runout = out,
            StateChange::Progress(progress) => {
                if !(0.0..=1.0).contains(&progress) {
                    return Err(bad("progress must be within 0..=1"));
                }
                let job = self.job.as_mut().ok_or_else(|| bad("no job"))?;
                job.elapsed = job.total.mul_f64(progress);
            }
            StateChange::Layer(layer) => {
                let job = self.job.as_mut().ok_or_else(|| bad("no job"))?;
                if layer == 0 || layer > job.layers {
                    return Err(bad(format!("layer must be within 1..={}", job.layers)));
                }
                let p = (f64::from(layer) - 0.5) / f64::from(job.layers);
                job.elapsed = job.total.mul_f64(p);
            }
        }
        Ok(())
    }

    /// The heater `id`, if the model has it.
    pub fn heater_mut(&mut self, id: HeaterId) -> Option<&mut Heater> {
        match id {
            HeaterId::Nozzle(i) => self.nozzles.get_mut(i),
            HeaterId::Bed => Some(&mut self.bed),
            HeaterId::Chamber => self.chamber.as_mut(),
        }
    }

    /// Sets a heater's current and/or target °C; false when the model has no such heater.
    pub fn set_temperature(
        &mut self,
        id: HeaterId,
        current: Option<f64>,
        target: Option<f64>,
    ) -> bool {
        let Some(h) = self.heater_mut(id) else {
            return false;
        };
        if let Some(c) = current {
            h.current = c;
        }
        if let Some(t) = target {
            h.target = t;
        }
        true
    }

    /// The length of the jobs started from now on (`None`: [`crate::PrinterSpec::job_duration`]);
    /// a running job gets it too (its progress kept).
    pub fn set_job_duration(&mut self, total: Option<Duration>) {
        self.next_job_duration = total;
        let total = total.unwrap_or(self.spec.job_duration);
        if let Some(job) = self.job.as_mut() {
            let p = job.progress();
            job.total = total;
            job.elapsed = total.mul_f64(p);
        }
    }

    /// Advances `simulated` time now (heaters, job), at no real cost.
    pub fn skip(&mut self, simulated: Duration) {
        self.advance(Instant::now());
        self.integrate(simulated.as_secs_f64());
    }

    /// Simulated seconds per real second from now on.
    pub fn set_speed(&mut self, speed: f64) {
        self.advance(Instant::now());
        self.spec.speed = speed.clamp(0.0, 1.0e6);
    }

    /// Back to the fresh state of its spec (files, job, temperatures, journal, lock); the
    /// spec itself, with a speed set by [`SimPrinter::set_speed`], is kept.
    pub fn reset(&mut self) {
        *self = Self::new(self.spec.clone(), Instant::now());
    }

    /// The printer's state as the control API's JSON.
    pub fn state_json(&self) -> Value {
        let heater = |h: &Heater| json!({"current": h.current, "target": h.target});
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|(name, f)| {
                let sha: String = f.sha256.iter().map(|b| format!("{b:02x}")).collect();
                json!({"name": name, "size": f.size, "sha256": sha})
            })
            .collect();
        let job = self.job.as_ref().map(|j| {
            json!({
                "file": j.file,
                "progress": j.progress(),
                "layer": j.layer(),
                "layers": j.layers,
                "elapsed": j.elapsed.as_secs_f64(),
                "total": j.total.as_secs_f64(),
            })
        });
        let station = self.station.as_ref().map(|s| {
            let slot = |x: &crate::printer::Slot| {
                json!({"has_filament": x.has_filament, "material": x.material, "color": x.color})
            };
            json!({
                "slots": s.slots.iter().map(slot).collect::<Vec<_>>(),
                "current_slot": s.current_slot,
                "indep": slot(&s.indep),
            })
        });
        json!({
            "model": self.spec.model.name(),
            "name": self.spec.name,
            "serial": self.spec.serial,
            "status": status_name(self.status),
            "error_code": self.error_code,
            "door_open": self.door_open,
            "filament_runout": self.filament_runout,
            "temperatures": {
                "nozzles": self.nozzles.iter().map(heater).collect::<Vec<_>>(),
                "nozzle": heater(&self.nozzles[0]),
                "bed": heater(&self.bed),
                "chamber": self.chamber.as_ref().map(heater),
            },
            "job": job,
            "files": files,
            "station": station,
            "led": self.led,
            "fans": {
                "cooling": self.cooling_fan,
                "cooling_left": self.cooling_left_fan,
                "chamber": self.chamber_fan,
                "internal": self.internal_fan,
                "external": self.external_fan,
            },
            "speed": self.spec.speed,
            "speed_adjust": self.speed_adjust,
            "controller": self.controller(),
            "journal": self.journal.iter().collect::<Vec<_>>(),
        })
    }
}

impl crate::server::SimHandle {
    /// Applies a state change to the printer (see [`StateChange`]).
    ///
    /// ```
    /// use flashforge_proto::Model;
    /// use flashforge_sim::{PrinterSpec, SimServer, StateChange};
    ///
    /// let server = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    /// let h = server.printer();
    /// h.set_state(StateChange::Error { code: "E0088".into() }).unwrap();
    /// assert_eq!(h.state_json()["error_code"], "E0088");
    /// h.reset();
    /// assert_eq!(h.state_json()["status"], "ready");
    /// ```
    pub fn set_state(&self, change: StateChange) -> Result<(), DriveError> {
        let mut p = self.lock();
        p.advance(Instant::now());
        p.apply(change)
    }

    /// Sets a heater's current and/or target °C; false when the model has no such heater.
    pub fn set_temperature(&self, id: HeaterId, current: Option<f64>, target: Option<f64>) -> bool {
        let mut p = self.lock();
        p.advance(Instant::now());
        p.set_temperature(id, current, target)
    }

    /// Stores a file (replacing one of the same name).
    pub fn add_file(&self, name: &str, bytes: &[u8]) {
        self.lock().store_file(name, bytes);
    }

    /// Deletes a file; false when there was none.
    pub fn remove_file(&self, name: &str) -> bool {
        self.lock().delete_file(name)
    }

    /// Advances the printer's simulated time by `simulated` now.
    pub fn advance(&self, simulated: Duration) {
        self.lock().skip(simulated);
    }

    /// Simulated seconds per real second from now on.
    pub fn set_speed(&self, speed: f64) {
        self.lock().set_speed(speed);
    }

    /// Adds a fault rule; returns its id.
    pub fn inject(&self, rule: crate::faults::FaultRule) -> u64 {
        self.faults.inject(rule)
    }

    /// Removes every fault rule (and releases held uploads).
    pub fn clear_faults(&self) {
        self.faults.clear();
    }

    /// Back to a fresh printer of its spec, with no faults.
    pub fn reset(&self) {
        self.faults.clear();
        self.lock().reset();
    }

    /// Every TCP command line and HTTP request handled, oldest first (bounded).
    pub fn journal(&self) -> Vec<String> {
        self.lock().journal.iter().cloned().collect()
    }

    /// The full state as the control API's JSON: [`SimPrinter::state_json`] plus the
    /// addresses and the fault rules in force.
    pub fn state_json(&self) -> Value {
        let mut v = {
            let mut p = self.lock();
            p.advance(Instant::now());
            p.state_json()
        };
        v["addresses"] = self.addresses_json();
        v["faults"] = Value::Array(self.faults.rules().iter().map(|r| r.to_json()).collect());
        v
    }

    /// `{"tcp","http","udp"}` addresses (`null` for a protocol the model lacks).
    pub fn addresses_json(&self) -> Value {
        json!({
            "tcp": self.tcp.map(|a| a.to_string()),
            "http": self.http.map(|a| a.to_string()),
            "udp": self.udp.to_string(),
            "discovery": self.discovery.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "camera": self.camera.map(|a| a.to_string()),
        })
    }
}
