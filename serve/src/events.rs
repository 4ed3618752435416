//! The event hub: every state change, job transition, upload step and printer coming or going
//! as one [`Event`], serialised once and fanned out to every subscriber (the SSE streams).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a subscriber may fall behind before it is told it lagged (and refetches
/// `/api/v1/printers`). Bounds the hub's memory whatever the subscribers do.
pub const EVENT_BACKLOG: usize = 4096;

/// A job transition, derived from two successive states of one printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobTransition {
    /// A job began (heating or printing after an idle or ended state).
    Started,
    /// The job paused.
    Paused,
    /// The job resumed after a pause.
    Resumed,
    /// The job completed.
    Completed,
    /// The job ended in an error state.
    Failed,
    /// The job was cancelled.
    Cancelled,
}

impl JobTransition {
    /// The name in events and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One event, as the SSE stream's `event:` name and `data:` JSON.
#[derive(Debug, Clone)]
pub struct Event {
    /// Increasing from 1 for the life of the process (the SSE `id:`).
    pub id: u64,
    /// The printer's id, when the event is about one printer.
    pub printer: Option<Arc<str>>,
    /// `status`, `online`, `offline`, `job`, `upload`, `added`.
    pub kind: &'static str,
    /// The JSON object, serialised once for every subscriber.
    pub data: Arc<str>,
}

/// The hub: a bounded broadcast channel of [`Event`]s.
#[derive(Debug)]
pub struct Hub {
    tx: broadcast::Sender<Event>,
    /// The next id; taken and sent under this lock, so ids arrive in order.
    next: std::sync::Mutex<u64>,
    dropped: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(EVENT_BACKLOG);
        Self {
            tx,
            next: std::sync::Mutex::new(1),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Hub {
    /// Publish `data` (a `serde_json` object with a `"type"` field equal to `kind`).
    pub fn publish(&self, printer: Option<&Arc<str>>, kind: &'static str, data: &impl Serialize) {
        if self.tx.receiver_count() == 0 {
            // No one listens: skip the serialisation, keep the ids increasing.
            *self.next.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            return;
        }
        let data = match serde_json::to_string(data) {
            Ok(s) => Arc::from(s),
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "event not serialisable");
                return;
            }
        };
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let id = *next;
        *next += 1;
        let _ = self.tx.send(Event {
            id,
            printer: printer.cloned(),
            kind,
            data,
        });
    }

    /// A new subscriber, from the next event on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Subscribers right now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
