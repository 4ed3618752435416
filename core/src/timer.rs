//! A fixed table of deadlines; `poll_timeout` is the earliest armed one.

use std::time::Instant;

/// The session's timers. Each has at most one deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Timer {
    /// Idle long enough: send a keep-alive `~M27`.
    KeepAlive,
    /// The in-flight command must be complete by then.
    ReplyDeadline,
    /// No byte for a quiet period: complete an unterminated reply.
    Quiet,
    /// Wait before the next login attempt.
    LoginRetry,
    /// Wait before asking the caller to reconnect.
    Reconnect,
}

const ALL: [Timer; 5] = [
    Timer::KeepAlive,
    Timer::ReplyDeadline,
    Timer::Quiet,
    Timer::LoginRetry,
    Timer::Reconnect,
];

/// Deadlines indexed by [`Timer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    slots: [Option<Instant>; 5],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.slots[timer as usize] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.slots[timer as usize] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.slots[timer as usize]
    }

    pub(crate) fn stop_all(&mut self) {
        self.slots = [None; 5];
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The earliest deadline and which timer it belongs to.
    pub(crate) fn next(&self) -> Option<(Instant, Timer)> {
        ALL.iter()
            .filter_map(|&t| self.get(t).map(|at| (at, t)))
            .min()
    }
}
