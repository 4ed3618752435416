//! The event hub: every state change, job transition, upload step and printer coming or going
//! as one [`Event`], serialised once and fanned out to every subscriber (the SSE streams).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a subscriber may fall behind before it is told it lagged (and refetches
/// `/api/v1/printers`). Bounds the hub's memory whatever the subscribers do.
pub const EVENT_BACKLOG: usize = 4096;

/// How many of the events a client must not miss (job transitions, printers going offline,
/// coming online or found) the hub keeps for a client that reconnects with `Last-Event-ID`.
/// Status events are not kept: the snapshot after the replay supersedes them.
pub const REPLAY: usize = 1024;

/// Whether events of `kind` are kept for replay.
fn kept(kind: &str) -> bool {
    matches!(kind, "job" | "online" | "offline" | "added")
}

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

/// The hub: a bounded broadcast channel of [`Event`]s, and the last [`REPLAY`] events of the
/// kinds a client must not miss.
#[derive(Debug)]
pub struct Hub {
    tx: broadcast::Sender<Event>,
    /// The next id and the replay ring; ids are taken, kept and sent under this lock, so they
    /// arrive in order.
    state: Mutex<State>,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct State {
    next: u64,
    kept: VecDeque<Event>,
    /// The id of the newest kept event that has been pushed out of the ring (0: none yet).
    forgotten: u64,
}

/// What [`Hub::since`] found for a reconnecting client.
#[derive(Debug, Default)]
pub struct Replay {
    /// The kept events after the client's last id, oldest first.
    pub events: Vec<Event>,
    /// Kept events after the client's last id that the ring no longer holds (0: none).
    pub missed: u64,
    /// The newest id given out when the replay was taken: live events up to it are already
    /// in the replay, or superseded by the snapshot that follows it.
    pub up_to: u64,
}

impl Default for Hub {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(EVENT_BACKLOG);
        Self {
            tx,
            state: Mutex::new(State {
                next: 1,
                kept: VecDeque::new(),
                forgotten: 0,
            }),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Hub {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publish `data` (a `serde_json` object with a `"type"` field equal to `kind`).
    pub fn publish(&self, printer: Option<&Arc<str>>, kind: &'static str, data: &impl Serialize) {
        let keep = kept(kind);
        if !keep && self.tx.receiver_count() == 0 {
            // No one listens and nobody will ask for it again: skip the serialisation, keep
            // the ids increasing.
            self.state().next += 1;
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
        let mut st = self.state();
        let event = Event {
            id: st.next,
            printer: printer.cloned(),
            kind,
            data,
        };
        st.next += 1;
        if keep {
            if st.kept.len() == REPLAY {
                if let Some(old) = st.kept.pop_front() {
                    st.forgotten = old.id;
                }
            }
            st.kept.push_back(event.clone());
        }
        let _ = self.tx.send(event);
    }

    /// A new subscriber, from the next event on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The kept events after `last` (a client's `Last-Event-ID`) for the printer `only` (or
    /// all). An id this process never gave out (a client of an earlier run) replays nothing.
    pub fn since(&self, last: u64, only: Option<&str>) -> Replay {
        let st = self.state();
        let up_to = st.next - 1;
        if last >= up_to {
            return Replay {
                up_to,
                ..Replay::default()
            };
        }
        let events = st
            .kept
            .iter()
            .filter(|e| e.id > last && (only.is_none() || e.printer.as_deref() == only))
            .cloned()
            .collect();
        // Forgotten events are counted for every printer: the ring does not know whose they were.
        let missed = if last < st.forgotten {
            let oldest = st.kept.front().map_or(up_to + 1, |e| e.id);
            // At least one; at most every id between the client's and the oldest kept.
            (oldest - last - 1).clamp(1, REPLAY as u64)
        } else {
            0
        };
        Replay {
            events,
            missed,
            up_to,
        }
    }

    /// Subscribers right now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(hub: &Hub, p: &str, n: u32) {
        let id: Arc<str> = Arc::from(p);
        hub.publish(
            Some(&id),
            "job",
            &serde_json::json!({"type": "job", "printer": p, "n": n}),
        );
    }

    #[test]
    fn kept_events_replay_after_the_last_id() {
        let hub = Hub::default();
        job(&hub, "a", 1); // id 1
        hub.publish(None, "status", &serde_json::json!({"type": "status"})); // id 2, not kept
        job(&hub, "b", 2); // id 3
        job(&hub, "a", 3); // id 4
        let r = hub.since(1, None);
        assert_eq!(r.events.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4]);
        assert_eq!((r.missed, r.up_to), (0, 4));
        let r = hub.since(0, Some("a"));
        assert_eq!(r.events.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 4]);
        // Up to date, or an id from an earlier run of the server: nothing to replay.
        assert!(hub.since(4, None).events.is_empty());
        assert!(hub.since(99, None).events.is_empty());
        assert_eq!(hub.since(99, None).missed, 0);
    }

    #[test]
    fn the_ring_is_bounded_and_says_what_it_forgot() {
        let hub = Hub::default();
        for n in 0..(REPLAY as u32 + 10) {
            job(&hub, "a", n);
        }
        let r = hub.since(0, None);
        assert_eq!(r.events.len(), REPLAY);
        assert_eq!(r.events[0].id, 11);
        assert_eq!(r.missed, 10);
        assert_eq!(hub.since(10, None).missed, 0);
        assert_eq!(hub.since(9, None).missed, 1);
    }
}
