//! The farm: one [`Slot`] per printer, each with its own client and poller task. A poller
//! connects, polls status every interval, turns changes into [`crate::events::Event`]s, and
//! backs off (doubling to [`MAX_BACKOFF`]) while the printer is away. Every call has the
//! client's deadlines, so one printer never stalls another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use flashforge_proto::http::MachineState;
use flashforge_tokio::{ClientError, ClientOptions, FailureKind, Info, Printer, Status};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Notify;

use crate::events::{Hub, JobTransition};
use crate::metrics::{Metrics, PrinterMetrics};
use crate::{redact, PrinterEntry};

/// The longest wait between two attempts at a printer that is away.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// An error as the API and the events show it: the CLI's kind and exit code, and the text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    /// The kind (`unreachable`, `credentials`, `timeout`, ...).
    pub kind: &'static str,
    /// The `flashforge` CLI's exit code for the kind.
    pub exit: u8,
    /// What happened (printer text escaped by JSON, check codes removed).
    pub error: String,
}

impl ErrorBody {
    /// The body of a client error; `secrets` are removed from its text.
    pub fn from_client(e: &ClientError, secrets: &[&str]) -> Self {
        let k = e.failure_kind();
        Self {
            kind: k.name(),
            exit: k.exit_code(),
            error: redact(&e.to_string(), secrets),
        }
    }
}

/// An upload in progress or just ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadState {
    /// The file's name on the printer.
    pub name: String,
    /// File bytes sent.
    pub sent: u64,
    /// File size.
    pub total: u64,
    /// Ended (successfully when `error` is empty).
    pub done: bool,
    /// Why it failed.
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Default)]
struct SlotState {
    online: bool,
    connected_once: bool,
    info: Option<Info>,
    status: Option<Status>,
    error: Option<ErrorBody>,
    last_ok: Option<SystemTime>,
    poll_ms: Option<f64>,
    failures: u32,
    polls: u64,
    upload: Option<UploadState>,
    job: JobTracker,
    /// An `offline` event was sent for the current outage.
    offline_announced: bool,
    /// The last state the tracker saw ended a job, so an unchanged Completed is not reported
    /// twice.
    last_state: Option<MachineState>,
}

/// One printer of the farm.
pub struct Slot {
    /// The id in URLs (`/api/v1/printers/{id}`).
    pub id: Arc<str>,
    entry: PrinterEntry,
    state: Mutex<SlotState>,
    client: Mutex<Option<Arc<Printer>>>,
    wake: Notify,
    uploading: AtomicBool,
    /// This printer's metric series.
    pub metrics: PrinterMetrics,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.id)
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// Everything the API shows of one printer.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Its id.
    pub id: Arc<str>,
    /// Its display name.
    pub name: String,
    /// Its address (`IP:TCP_PORT:HTTP_PORT`).
    pub address: String,
    /// Its model, once known.
    pub model: Option<flashforge_tokio::Model>,
    /// The last poll succeeded.
    pub online: bool,
    /// The last status (kept while offline, so the last known job stays visible).
    pub status: Option<Status>,
    /// Identity and firmware, from the connection.
    pub info: Option<Info>,
    /// The last poll's error, while offline.
    pub error: Option<ErrorBody>,
    /// Unix time of the last successful poll.
    pub last_seen: Option<u64>,
    /// The last poll's duration.
    pub poll_ms: Option<f64>,
    /// Successful polls since the server started.
    pub polls: u64,
    /// Failed polls since the last success.
    pub failures: u32,
    /// The upload in progress or just ended.
    pub upload: Option<UploadState>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry this slot was made from.
    pub fn entry(&self) -> &PrinterEntry {
        &self.entry
    }

    /// The check code, to keep out of every text the server sends.
    pub fn secrets(&self) -> Vec<&str> {
        self.entry
            .credentials
            .as_ref()
            .map(|c| vec![c.expose_check_code()])
            .unwrap_or_default()
    }

    /// What the API shows.
    pub fn snapshot(&self) -> Snapshot {
        let s = self.lock();
        Snapshot {
            id: self.id.clone(),
            name: self.entry.name.clone(),
            address: self.entry.endpoint.to_string(),
            model: s
                .info
                .as_ref()
                .map(|i| i.model)
                .or_else(|| s.status.as_ref().map(|st| st.model))
                .or(self.entry.model),
            online: s.online,
            status: s.status.clone(),
            info: s.info.clone(),
            error: s.error.clone(),
            last_seen: s.last_ok.and_then(|t| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs())
            }),
            poll_ms: s.poll_ms,
            polls: s.polls,
            failures: s.failures,
            upload: s.upload.clone(),
        }
    }

    /// The connected client, or the error an action gets while there is none.
    pub fn client(&self) -> Result<Arc<Printer>, ErrorBody> {
        if let Some(c) = self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(c);
        }
        Err(self.lock().error.clone().unwrap_or(ErrorBody {
            kind: FailureKind::Unreachable.name(),
            exit: FailureKind::Unreachable.exit_code(),
            error: "not connected yet".into(),
        }))
    }

    /// Poll now (after an action, so its effect shows at once).
    pub fn poll_now(&self) {
        self.wake.notify_one();
    }

    /// Claim the upload lane; `false` when an upload already runs.
    pub fn begin_upload(&self) -> bool {
        !self.uploading.swap(true, Ordering::AcqRel)
    }

    /// Report upload progress (and the end, with `done`).
    pub fn upload_progress(&self, hub: &Hub, u: UploadState) {
        let done = u.done;
        self.lock().upload = Some(u.clone());
        hub.publish(
            Some(&self.id),
            "upload",
            &json!({"type": "upload", "printer": &*self.id, "upload": u}),
        );
        if done {
            self.uploading.store(false, Ordering::Release);
        }
    }
}

/// Follows one printer's job across polls and names its transitions. A job is *active* from
/// the poll that sees it heating, printing or paused until one that sees it end. TCP-only
/// printers report `Ready` after a job (they have no "completed" or "cancelled" state): an
/// active job that turns `Ready` ended, completed when its progress had reached the end,
/// else cancelled. States that say nothing about the job (`Busy`, `Calibrating`, unknown
/// ones) change nothing, so a passing `Busy` in a print does not start it again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobTracker {
    seen: bool,
    active: bool,
    paused: bool,
    /// The active job's last progress had reached its end.
    at_end: bool,
}

impl JobTracker {
    /// The transition `next` makes, if any (`None` for the first poll: a job already running
    /// when the server started is not reported as started).
    pub fn step(&mut self, next: &MachineState, progress: Option<f64>) -> Option<JobTransition> {
        use MachineState as S;
        let first = !self.seen;
        self.seen = true;
        let t = match next {
            S::Heating | S::Printing => {
                self.at_end = progress.is_some_and(|p| p >= 0.999);
                if !self.active {
                    self.active = true;
                    self.paused = false;
                    Some(JobTransition::Started)
                } else if self.paused {
                    self.paused = false;
                    Some(JobTransition::Resumed)
                } else {
                    None
                }
            }
            S::Pausing | S::Paused => {
                let t = (self.active && !self.paused).then_some(JobTransition::Paused);
                self.active = true;
                self.paused = true;
                t
            }
            S::Completed => self.end(JobTransition::Completed),
            S::Cancelled => self.end(JobTransition::Cancelled),
            S::Error => {
                let was = self.active;
                self.end(JobTransition::Failed).filter(|_| was)
            }
            S::Ready => {
                let t = if self.at_end {
                    JobTransition::Completed
                } else {
                    JobTransition::Cancelled
                };
                let was = self.active;
                self.end(t).filter(|_| was)
            }
            _ => None,
        };
        if first {
            // What was running before the server looked is not a transition it saw.
            return None;
        }
        t
    }

    fn end(&mut self, t: JobTransition) -> Option<JobTransition> {
        let was = self.active;
        self.active = false;
        self.paused = false;
        self.at_end = false;
        // A job that ran whole between two polls still ended; a state that stays "completed"
        // is reported once (the tracker is inactive after the first).
        (was || matches!(t, JobTransition::Completed | JobTransition::Cancelled)).then_some(t)
    }
}

/// The printers in the order they were added, and by id.
#[derive(Debug, Default)]
struct Slots {
    list: Vec<Arc<Slot>>,
    by_id: std::collections::HashMap<Arc<str>, Arc<Slot>>,
}

/// All printers, their events and metrics.
#[derive(Debug)]
pub struct Farm {
    slots: RwLock<Slots>,
    /// The event hub.
    pub hub: Hub,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    interval: Duration,
    options: ClientOptions,
    /// The poll tasks stop when this is set.
    stopping: AtomicBool,
    stop: Notify,
    /// Where the poll grid starts (see [`POLL_GRID`]).
    epoch: tokio::time::Instant,
}

/// Polls are due on a grid of this step, so that the printers due within one step are polled
/// on one wake-up of the runtime instead of one each: at 1,000 printers every 2 s, 50 wake-ups
/// a second instead of 500 (most of the server's CPU was the kernel's per-wake-up cost). A poll
/// is at most half a step early or late; with intervals under four steps there is no grid.
pub const POLL_GRID: Duration = Duration::from_millis(20);

/// `t` moved to the nearest point of the grid from `epoch` (nearest, not next: a poll that
/// woke a little after its grid point keeps its place instead of drifting a step per cycle).
fn on_grid(
    epoch: tokio::time::Instant,
    t: tokio::time::Instant,
    interval: Duration,
) -> tokio::time::Instant {
    if interval < POLL_GRID * 4 {
        return t;
    }
    let grid = POLL_GRID.as_nanos();
    let since = t.saturating_duration_since(epoch).as_nanos();
    let steps = (since + grid / 2) / grid;
    let nanos = u64::try_from(steps.saturating_mul(grid)).unwrap_or(u64::MAX);
    epoch + Duration::from_nanos(nanos)
}

impl Farm {
    /// An empty farm polling every `interval` with `options`.
    pub fn new(interval: Duration, options: ClientOptions) -> Self {
        Self {
            slots: RwLock::new(Slots::default()),
            hub: Hub::default(),
            metrics: Arc::new(Metrics::default()),
            interval,
            options,
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Every printer, in the order they were added.
    pub fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .clone()
    }

    /// The printer with this id.
    pub fn slot(&self, id: &str) -> Option<Arc<Slot>> {
        self.slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .get(id)
            .cloned()
    }

    /// Whether a printer with this serial or address is in the farm.
    pub fn knows(&self, serial: Option<&str>, endpoint: &flashforge_tokio::Endpoint) -> bool {
        self.slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .iter()
            .any(|s| {
                s.entry.endpoint == *endpoint
                    || serial.is_some_and(|x| {
                        s.entry
                            .credentials
                            .as_ref()
                            .is_some_and(|c| c.serial() == x)
                    })
            })
    }

    /// Printers in the farm.
    pub fn len(&self) -> usize {
        self.slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .len()
    }

    /// Whether the farm has no printer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`Farm::shutdown`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping()
    }

    /// Resolves once [`Farm::shutdown`] was called (at once if it was).
    pub async fn stopped(&self) {
        while !self.stopping() {
            let n = self.stop.notified();
            if self.stopping() {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), n).await;
        }
    }

    /// Add a printer and start its poller; `first_delay` spreads the first polls of many
    /// printers over one interval. An id already taken gets `-2`, `-3`, ... appended.
    pub fn add(self: &Arc<Self>, mut entry: PrinterEntry, first_delay: Duration) -> Arc<Slot> {
        let slot = {
            let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
            let base = entry.id.clone();
            let mut n = 1;
            while slots.by_id.contains_key(entry.id.as_str()) {
                n += 1;
                // The suffix fits in the id's 64 bytes (ids are ASCII).
                let suffix = format!("-{n}");
                let keep = base.len().min(crate::MAX_ID_LEN - suffix.len());
                entry.id = format!("{}{suffix}", &base[..keep]);
            }
            let id: Arc<str> = Arc::from(entry.id.as_str());
            let model = entry.model.map_or("unknown", |m| m.ident());
            let slot = Arc::new(Slot {
                metrics: self.metrics.printer(&id, model),
                id,
                entry,
                state: Mutex::new(SlotState::default()),
                client: Mutex::new(None),
                wake: Notify::new(),
                uploading: AtomicBool::new(false),
            });
            slots.list.push(slot.clone());
            slots.by_id.insert(slot.id.clone(), slot.clone());
            slot
        };
        tokio::spawn(poll_loop(self.clone(), slot.clone(), first_delay));
        slot
    }

    /// Stop every poller (they close their clients).
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify_waiters();
        for s in self.slots() {
            s.wake.notify_one();
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The poll interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

async fn connect(entry: &PrinterEntry, options: &ClientOptions) -> Result<Printer, ClientError> {
    let b = Printer::builder().options(options.clone().model(entry.model));
    match &entry.credentials {
        Some(c) => b.connect(entry.endpoint, c.clone()).await,
        None => Ok(b.connect_legacy(entry.endpoint).await?.into_inner()),
    }
}

async fn poll_loop(farm: Arc<Farm>, slot: Arc<Slot>, first_delay: Duration) {
    let span = tracing::info_span!("printer", id = %slot.id);
    let _ = tokio::time::timeout(first_delay, farm.stop.notified()).await;
    loop {
        if farm.stopping() {
            break;
        }
        let t0 = Instant::now();
        let outcome = poll_once(&farm, &slot).await;
        let took = t0.elapsed();
        let outcome_ok = outcome.is_ok();
        let wait = match outcome {
            Ok(()) => farm.interval,
            Err(e) => {
                let failures = {
                    let st = slot.lock();
                    st.failures
                };
                let back = farm
                    .interval
                    .saturating_mul(1 << failures.min(6))
                    .min(MAX_BACKOFF)
                    .max(farm.interval);
                span.in_scope(|| {
                    tracing::debug!(error = %e.error, kind = e.kind, retry_s = back.as_secs_f64(), "poll failed")
                });
                back
            }
        };
        // After a success the rhythm is kept from the poll's start; after a failure the
        // back-off counts from its end, so a printer that fails slowly (a timeout) is not
        // retried at once.
        let next = if outcome_ok {
            tokio::time::Instant::from_std(t0) + wait.max(took)
        } else {
            tokio::time::Instant::now() + wait
        };
        let next = on_grid(farm.epoch, next, farm.interval);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = slot.wake.notified() => {}
            () = farm.stop.notified() => {}
        }
    }
    let client = slot.client.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(c) = client {
        c.close().await;
    }
}

async fn poll_once(farm: &Farm, slot: &Slot) -> Result<(), ErrorBody> {
    let secrets = slot.secrets();
    let existing = slot
        .client
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let client = match existing {
        Some(c) => c,
        None => match connect(&slot.entry, &farm.options).await {
            Ok(p) => {
                let p = Arc::new(p);
                let info = p.info().await.ok();
                {
                    let mut st = slot.lock();
                    st.info = info;
                    st.connected_once = true;
                }
                *slot.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
                tracing::info!(printer = %slot.id, model = %p.model(), "connected");
                p
            }
            Err(e) => return Err(failed(farm, slot, &e, &secrets)),
        },
    };
    let t0 = Instant::now();
    match client.status().await {
        Ok(status) => {
            let took = t0.elapsed();
            slot.metrics.poll_ok(
                took,
                &status.state,
                status.progress,
                status.layer,
                &status.temperatures,
            );
            let (changed, came_online, job) = {
                let mut st = slot.lock();
                let came_online = !st.online;
                st.online = true;
                st.error = None;
                st.failures = 0;
                st.polls += 1;
                st.last_ok = Some(SystemTime::now());
                st.poll_ms = Some(took.as_secs_f64() * 1000.0);
                st.offline_announced = false;
                let repeat = st.last_state.as_ref() == Some(&status.state);
                let job = st.job.step(&status.state, status.progress);
                // A job state that stays (completed, cancelled) is one transition, not one
                // per poll.
                let job = job.filter(|_| !repeat);
                st.last_state = Some(status.state.clone());
                let changed = st.status.as_ref() != Some(&status);
                if changed {
                    st.status = Some(status.clone());
                }
                (changed, came_online, job)
            };
            let id = &*slot.id;
            if came_online {
                farm.hub.publish(
                    Some(&slot.id),
                    "online",
                    &json!({"type": "online", "printer": id}),
                );
            }
            if let Some(t) = job {
                farm.hub.publish(
                    Some(&slot.id),
                    "job",
                    &json!({"type": "job", "printer": id, "transition": t, "file": status.file}),
                );
            }
            if changed || came_online {
                farm.hub.publish(
                    Some(&slot.id),
                    "status",
                    &json!({"type": "status", "printer": id, "online": true, "status": status}),
                );
            }
            Ok(())
        }
        Err(e) => {
            if matches!(e, ClientError::Unauthorized | ClientError::Closed) {
                // Credentials changed or the client is done: connect again next time.
                slot.client.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
            Err(failed(farm, slot, &e, &secrets))
        }
    }
}

fn failed(farm: &Farm, slot: &Slot, e: &ClientError, secrets: &[&str]) -> ErrorBody {
    let body = ErrorBody::from_client(e, secrets);
    slot.metrics.poll_failed(e.failure_kind());
    let went_offline = {
        let mut st = slot.lock();
        let was = !st.offline_announced;
        st.offline_announced = true;
        st.online = false;
        st.failures = st.failures.saturating_add(1);
        st.error = Some(body.clone());
        was
    };
    if went_offline {
        tracing::warn!(printer = %slot.id, kind = body.kind, error = %body.error, "printer offline");
        farm.hub.publish(
            Some(&slot.id),
            "offline",
            &json!({"type": "offline", "printer": &*slot.id, "error": body}),
        );
    }
    body
}

#[cfg(test)]
mod tests {

    #[test]
    fn polls_fall_on_the_grid_without_drifting() {
        let epoch = tokio::time::Instant::now();
        let iv = Duration::from_secs(2);
        let ms = |n: u64| epoch + Duration::from_millis(n);
        // Nearest grid point: 9 ms → 0, 11 ms → 20, 2,003 ms → 2,000.
        assert_eq!(on_grid(epoch, ms(9), iv), ms(0));
        assert_eq!(on_grid(epoch, ms(11), iv), ms(20));
        assert_eq!(on_grid(epoch, ms(2003), iv), ms(2000));
        // A poller that wakes a little late each time keeps its rhythm: 100 cycles of
        // interval + 3 ms of lateness stay on the same grid point of each period.
        let mut due = ms(40);
        for cycle in 1..=100u64 {
            let woke = due + Duration::from_millis(3);
            due = on_grid(epoch, woke + iv, iv);
            assert_eq!(due, ms(40 + cycle * 2000));
        }
        // Short intervals (tests) are not moved.
        let short = Duration::from_millis(50);
        assert_eq!(on_grid(epoch, ms(7), short), ms(7));
    }

    use super::*;
    use MachineState as S;

    fn run(states: &[(S, Option<f64>)]) -> Vec<Option<JobTransition>> {
        let mut t = JobTracker::default();
        let mut last: Option<S> = None;
        states
            .iter()
            .map(|(st, p)| {
                let repeat = last.as_ref() == Some(st);
                last = Some(st.clone());
                t.step(st, *p).filter(|_| !repeat)
            })
            .collect()
    }

    #[test]
    fn job_transitions() {
        use JobTransition as J;
        // The HTTP models: every state named.
        assert_eq!(
            run(&[
                (S::Ready, None),
                (S::Heating, Some(0.0)),
                (S::Printing, Some(0.1)),
                (S::Busy, Some(0.2)),
                (S::Printing, Some(0.3)),
                (S::Pausing, Some(0.3)),
                (S::Paused, Some(0.3)),
                (S::Printing, Some(0.4)),
                (S::Completed, Some(1.0)),
                (S::Completed, Some(1.0)),
                (S::Ready, None),
            ]),
            [
                None,
                Some(J::Started),
                None,
                None,
                None,
                Some(J::Paused),
                None,
                Some(J::Resumed),
                Some(J::Completed),
                None,
                None
            ]
        );
        assert_eq!(
            run(&[
                (S::Ready, None),
                (S::Printing, Some(0.5)),
                (S::Cancelled, None),
                (S::Ready, None)
            ]),
            [None, Some(J::Started), Some(J::Cancelled), None]
        );
        assert_eq!(
            run(&[
                (S::Ready, None),
                (S::Printing, Some(0.5)),
                (S::Error, None),
                (S::Ready, None),
                (S::Error, None)
            ]),
            [None, Some(J::Started), Some(J::Failed), None, None]
        );
        // TCP-only printers say IDLE (Ready) after a job: cancelled, or completed at its end.
        assert_eq!(
            run(&[
                (S::Ready, None),
                (S::Printing, Some(0.4)),
                (S::Paused, Some(0.4)),
                (S::Ready, None)
            ]),
            [None, Some(J::Started), Some(J::Paused), Some(J::Cancelled)]
        );
        assert_eq!(
            run(&[
                (S::Ready, None),
                (S::Printing, Some(0.5)),
                (S::Printing, Some(1.0)),
                (S::Ready, None)
            ]),
            [None, Some(J::Started), None, Some(J::Completed)]
        );
        // A job that ran whole between two polls.
        assert_eq!(
            run(&[(S::Ready, None), (S::Completed, None)]),
            [None, Some(J::Completed)]
        );
        // Already printing when the server started: no "started"; its end is reported.
        assert_eq!(
            run(&[
                (S::Printing, Some(0.5)),
                (S::Printing, Some(0.6)),
                (S::Cancelled, None)
            ]),
            [None, None, Some(J::Cancelled)]
        );
        assert_eq!(
            run(&[(S::Paused, None), (S::Printing, None)]),
            [None, Some(J::Resumed)]
        );
        // Unknown states change nothing.
        assert_eq!(
            run(&[
                (S::Ready, None),
                (S::Unknown, None),
                (S::Other("x".into()), None),
                (S::Ready, None)
            ]),
            [None, None, None, None]
        );
    }
}
