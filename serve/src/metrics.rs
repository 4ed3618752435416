//! Prometheus metrics at `/metrics` (OpenMetrics text through `prometheus-client`): per printer
//! temperatures and targets, progress, layer, state, online, polls and errors by kind; the poll
//! latency histogram by model; uploads and bytes; SSE clients; the process's CPU, memory and
//! descriptors.
//!
//! Each printer's gauges are created once and kept by its poller ([`PrinterMetrics`]), so a
//! poll updates atomics and allocates nothing for labels.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashforge_proto::http::MachineState;
use flashforge_tokio::{FailureKind, Temps};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

type FGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrinterLabel {
    printer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HeaterLabel {
    printer: String,
    heater: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    printer: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    printer: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UploadLabel {
    printer: String,
    result: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric family, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    online: Family<PrinterLabel, Gauge>,
    temperature: Family<HeaterLabel, FGauge>,
    target: Family<HeaterLabel, FGauge>,
    progress: Family<PrinterLabel, FGauge>,
    layer: Family<PrinterLabel, Gauge>,
    state: Family<StateLabel, Gauge>,
    polls: Family<PrinterLabel, Counter>,
    errors: Family<KindLabel, Counter>,
    poll_seconds: Family<ModelLabel, Histogram, fn() -> Histogram>,
    uploads: Family<UploadLabel, Counter>,
    upload_bytes: Family<PrinterLabel, Counter>,
    sse_clients: Gauge,
    process: Process,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Process {
    cpu: FGauge,
    rss: Gauge,
    vsize: Gauge,
    fds: Gauge,
    max_fds: Gauge,
    threads: Gauge,
    start: FGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Self {
            registry: Registry::default(),
            online: Family::default(),
            temperature: Family::default(),
            target: Family::default(),
            progress: Family::default(),
            layer: Family::default(),
            state: Family::default(),
            polls: Family::default(),
            errors: Family::default(),
            poll_seconds: Family::new_with_constructor(latency_histogram),
            uploads: Family::default(),
            upload_bytes: Family::default(),
            sse_clients: Gauge::default(),
            process: Process::default(),
        };
        let r = m.registry.sub_registry_with_prefix("flashforge");
        r.register(
            "printer_online",
            "1 when the last poll of the printer succeeded",
            m.online.clone(),
        );
        r.register_with_unit(
            "printer_temperature",
            "Current temperature of a heater",
            Unit::Celsius,
            m.temperature.clone(),
        );
        r.register_with_unit(
            "printer_target_temperature",
            "Target temperature of a heater (0 = off)",
            Unit::Celsius,
            m.target.clone(),
        );
        r.register_with_unit(
            "printer_progress",
            "Job progress, 0 to 1",
            Unit::Other("ratio".into()),
            m.progress.clone(),
        );
        r.register("printer_layer", "Current layer of the job", m.layer.clone());
        r.register(
            "printer_state",
            "1 for the printer's current state (one series per printer)",
            m.state.clone(),
        );
        r.register(
            "printer_polls",
            "Status polls that succeeded",
            m.polls.clone(),
        );
        r.register(
            "printer_errors",
            "Failed polls and actions, by error kind (the CLI's exit-code kinds; the caller's usage and unsupported errors are not counted)",
            m.errors.clone(),
        );
        r.register_with_unit(
            "poll_duration",
            "Time of one status poll, by model",
            Unit::Seconds,
            m.poll_seconds.clone(),
        );
        r.register(
            "uploads",
            "Uploads through the server, by result",
            m.uploads.clone(),
        );
        r.register_with_unit(
            "upload",
            "File bytes sent to printers by uploads",
            Unit::Bytes,
            m.upload_bytes.clone(),
        );
        r.register(
            "event_stream_clients",
            "Open event streams (SSE)",
            m.sse_clients.clone(),
        );
        let p = m.registry.sub_registry_with_prefix("process");
        let pm = &m.process;
        p.register_with_unit(
            "cpu",
            "User and system CPU time",
            Unit::Seconds,
            Counterish(pm.cpu.clone()),
        );
        p.register_with_unit(
            "resident_memory",
            "Resident memory",
            Unit::Bytes,
            pm.rss.clone(),
        );
        p.register_with_unit(
            "virtual_memory",
            "Virtual memory",
            Unit::Bytes,
            pm.vsize.clone(),
        );
        p.register("open_fds", "Open file descriptors", pm.fds.clone());
        p.register(
            "max_fds",
            "The soft limit of open file descriptors",
            pm.max_fds.clone(),
        );
        p.register("threads", "OS threads", pm.threads.clone());
        p.register_with_unit(
            "start_time",
            "Start time since the Unix epoch",
            Unit::Seconds,
            pm.start.clone(),
        );
        m
    }
}

/// A gauge encoded as a counter (`process_cpu_seconds_total`): its value only grows, but it
/// is read from `/proc`, not incremented.
#[derive(Debug, Clone)]
struct Counterish(FGauge);

impl prometheus_client::metrics::TypedMetric for Counterish {
    const TYPE: prometheus_client::metrics::MetricType =
        prometheus_client::metrics::MetricType::Counter;
}

impl prometheus_client::encoding::EncodeMetric for Counterish {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> std::fmt::Result {
        encoder
            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&self.0.get(), None)
    }
    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Counter
    }
}

/// One printer's series, created when its poller starts.
pub struct PrinterMetrics {
    id: String,
    metrics: Arc<Metrics>,
    online: Gauge,
    progress: FGauge,
    layer: Gauge,
    polls: Counter,
    poll_seconds: Histogram,
    state: Mutex<Option<(&'static str, Gauge)>>,
    heaters: Mutex<Vec<(String, FGauge, FGauge)>>,
}

impl std::fmt::Debug for PrinterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrinterMetrics")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A state's label: the snake-case name (`printing`, `paused`, ...).
pub fn state_label(s: &MachineState) -> &'static str {
    match s {
        MachineState::Ready => "ready",
        MachineState::Busy => "busy",
        MachineState::Calibrating => "calibrating",
        MachineState::Error => "error",
        MachineState::Heating => "heating",
        MachineState::Printing => "printing",
        MachineState::Pausing => "pausing",
        MachineState::Paused => "paused",
        MachineState::Cancelled => "cancelled",
        MachineState::Completed => "completed",
        _ => "unknown",
    }
}

impl Metrics {
    /// The series of printer `id` (model label `model` for the latency histogram).
    pub fn printer(self: &Arc<Self>, id: &str, model: &str) -> PrinterMetrics {
        let pl = PrinterLabel {
            printer: id.to_owned(),
        };
        PrinterMetrics {
            id: id.to_owned(),
            metrics: self.clone(),
            online: self.online.get_or_create(&pl).clone(),
            progress: self.progress.get_or_create(&pl).clone(),
            layer: self.layer.get_or_create(&pl).clone(),
            polls: self.polls.get_or_create(&pl).clone(),
            poll_seconds: self
                .poll_seconds
                .get_or_create(&ModelLabel {
                    model: model.to_owned(),
                })
                .clone(),
            state: Mutex::new(None),
            heaters: Mutex::new(Vec::new()),
        }
    }

    /// An SSE stream opened (`+1`) or closed (`-1`).
    pub fn sse_clients(&self, delta: i64) {
        self.sse_clients.inc_by(delta);
    }

    /// An upload ended (`ok`, or an error kind) after `bytes` file bytes were sent.
    pub fn upload(&self, printer: &str, result: &str, bytes: u64) {
        self.uploads
            .get_or_create(&UploadLabel {
                printer: printer.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.upload_bytes
            .get_or_create(&PrinterLabel {
                printer: printer.to_owned(),
            })
            .inc_by(bytes);
    }

    /// Count a failure of `kind` on `printer` (a poll or an action). The caller's own
    /// errors are not the printer's and are not counted: `usage` (a request the client
    /// refused before sending), `unsupported` (something the model cannot do) and `busy` (an
    /// action the printer's state rules out: a pause with no job, a start while printing).
    pub fn error(&self, printer: &str, kind: FailureKind) {
        if matches!(
            kind,
            FailureKind::Usage | FailureKind::Unsupported | FailureKind::Busy
        ) {
            return;
        }
        self.errors
            .get_or_create(&KindLabel {
                printer: printer.to_owned(),
                kind: kind.name().to_owned(),
            })
            .inc();
    }

    /// The exposition text (OpenMetrics), with the process gauges read now.
    pub fn encode(&self) -> String {
        self.process.refresh();
        let mut s = String::with_capacity(64 * 1024);
        if prometheus_client::encoding::text::encode(&mut s, &self.registry).is_err() {
            s.clear();
        }
        s
    }
}

impl PrinterMetrics {
    /// A poll succeeded after `took` with `status`.
    pub fn poll_ok(
        &self,
        took: Duration,
        state: &MachineState,
        progress: Option<f64>,
        layer: Option<u32>,
        temps: &Temps,
    ) {
        self.online.set(1);
        self.polls.inc();
        self.poll_seconds.observe(took.as_secs_f64());
        self.progress.set(progress.unwrap_or(0.0));
        self.layer.set(layer.map_or(0, i64::from));
        self.set_state(state_label(state));
        let mut heaters = self.heaters.lock().unwrap_or_else(|e| e.into_inner());
        let mut set = |name: &str, t: &flashforge_proto::http::Temperature| {
            let i = match heaters.iter().position(|(n, _, _)| n == name) {
                Some(i) => i,
                None => {
                    let l = HeaterLabel {
                        printer: self.id.clone(),
                        heater: name.to_owned(),
                    };
                    heaters.push((
                        name.to_owned(),
                        self.metrics.temperature.get_or_create(&l).clone(),
                        self.metrics.target.get_or_create(&l).clone(),
                    ));
                    heaters.len() - 1
                }
            };
            let (_, cur, tgt) = &heaters[i];
            cur.set(t.current.unwrap_or(f64::NAN));
            tgt.set(t.target.unwrap_or(0.0));
        };
        const TOOLS: [&str; 4] = ["tool0", "tool1", "tool2", "tool3"];
        for (t, name) in temps.tools.iter().zip(TOOLS) {
            set(name, t);
        }
        if let Some(b) = &temps.bed {
            set("bed", b);
        }
        if let Some(c) = &temps.chamber {
            set("chamber", c);
        }
    }

    /// A poll failed with `kind`: offline. The readings it last had are no longer true:
    /// temperatures become NaN (no reading), progress and layer 0.
    pub fn poll_failed(&self, kind: FailureKind) {
        self.online.set(0);
        self.set_state("offline");
        self.progress.set(0.0);
        self.layer.set(0);
        for (_, cur, tgt) in self
            .heaters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            cur.set(f64::NAN);
            tgt.set(f64::NAN);
        }
        self.metrics.error(&self.id, kind);
    }

    fn set_state(&self, name: &'static str) {
        let mut cur = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_some_and(|(n, _)| *n == name) {
            return;
        }
        if let Some((old, _)) = cur.take() {
            self.metrics.state.remove(&StateLabel {
                printer: self.id.clone(),
                state: old.to_owned(),
            });
        }
        let g = self
            .metrics
            .state
            .get_or_create(&StateLabel {
                printer: self.id.clone(),
                state: name.to_owned(),
            })
            .clone();
        g.set(1);
        *cur = Some((name, g));
    }
}

impl Process {
    /// Read `/proc/self` (Linux); elsewhere the gauges stay 0.
    fn refresh(&self) {
        #[cfg(target_os = "linux")]
        {
            // Clock ticks and page size are 100 and 4096 on every Linux this runs on
            // (x86_64, aarch64); reading them needs libc.
            const TICKS: f64 = 100.0;
            const PAGE: i64 = 4096;
            if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
                // Fields after the command name, which is in parentheses and may hold spaces.
                if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
                    // rest[0] is field 3 (state): utime 14, stime 15, threads 20,
                    // starttime 22, vsize 23, rss 24.
                    if let (Some(u), Some(s)) = (num(11), num(12)) {
                        self.cpu.set((u + s) / TICKS);
                    }
                    if let Some(t) = num(17) {
                        self.threads.set(t as i64);
                    }
                    if let Some(v) = num(20) {
                        self.vsize.set(v as i64);
                    }
                    if let Some(r) = num(21) {
                        self.rss.set(r as i64 * PAGE);
                    }
                    if let (Some(st), Ok(up)) = (num(19), std::fs::read_to_string("/proc/uptime")) {
                        let uptime: f64 = up
                            .split_whitespace()
                            .next()
                            .and_then(|u| u.parse().ok())
                            .unwrap_or(0.0);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0.0, |d| d.as_secs_f64());
                        self.start.set(now - uptime + st / TICKS);
                    }
                }
            }
            if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
                self.fds.set(d.count() as i64);
            }
            if let Ok(l) = std::fs::read_to_string("/proc/self/limits") {
                if let Some(line) = l.lines().find(|l| l.starts_with("Max open files")) {
                    if let Some(v) = line.split_whitespace().nth(3).and_then(|v| v.parse().ok()) {
                        self.max_fds.set(v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_errors_are_not_the_printers() {
        let m = Metrics::default();
        m.error("p1", FailureKind::Usage);
        m.error("p1", FailureKind::Unsupported);
        m.error("p1", FailureKind::Timeout);
        m.error("p1", FailureKind::Busy);
        let text = m.encode();
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("flashforge_printer_errors_total{"))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors.iter().any(|l| l.contains("kind=\"timeout\"")));
        assert!(!text.contains("kind=\"busy\""), "{text}");
        assert!(!text.contains("kind=\"usage\""), "{text}");
        assert!(!text.contains("kind=\"unsupported\""), "{text}");
    }
}
