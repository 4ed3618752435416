//! Fault injection: switches a test flips to make the next replies misbehave.
//!
//! Faults are queued per printer and consumed one per reply, so "the next command fails, the
//! one after succeeds" is the natural shape of a test. `sticky` faults apply to every reply until
//! cleared.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A misbehaviour of one TCP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFault {
    /// Send the first half of the reply, then close the connection.
    CloseMidReply,
    /// Close the connection without replying.
    Close,
    /// Never answer; keep the connection open.
    Stall,
    /// Send the reply one byte at a time with this pause between bytes.
    Drip(Duration),
    /// Send random bytes instead of the reply.
    Garbage,
    /// Send a 1 MiB line with no terminator instead of the reply.
    Oversize,
    /// Send unsolicited lines before the reply.
    Unsolicited,
    /// Append an extra `ok` line after the reply.
    ExtraOk,
    /// Send the first `n` bytes of the reply, pause, then send the rest (a TCP
    /// retransmission, a busy printer): the reply is whole, only late.
    PauseAfter(usize, Duration),
}

/// A misbehaviour of one HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFault {
    /// Answer with this HTTP status (and the normal body).
    Status(u16),
    /// Declare the full Content-Length, send half, close.
    TruncatedBody,
    /// An HTML body instead of JSON.
    NonJson,
    /// Every `/detail` value replaced by one of the wrong type, `code` a string.
    WrongTypes,
    /// Never answer.
    Stall,
    /// Close without answering.
    Close,
    /// Send the response one byte at a time with this pause.
    Drip(Duration),
    /// Do not send `100 Continue` to an upload that asks for it.
    NoContinue,
    /// Refuse with this envelope code and no payload (`-2`: LAN-only mode off on a
    /// Creator 5; `3`: unauthorized; `5`: busy).
    Refuse(i64),
}

#[derive(Debug, Default)]
struct Inner {
    tcp: VecDeque<TcpFault>,
    http: VecDeque<HttpFault>,
    sticky_tcp: Option<TcpFault>,
    sticky_http: Option<HttpFault>,
    /// Uploads still to be refused their `100 Continue` (kept apart from the response queue).
    no_continue: u32,
    drop_udp: bool,
}

/// Shared fault switches of one printer (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Inner>>);

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next TCP reply misbehaves.
    pub fn push_tcp(&self, f: TcpFault) {
        self.lock().tcp.push_back(f);
    }

    /// The next HTTP response misbehaves (`NoContinue`: the next upload gets no
    /// `100 Continue`).
    pub fn push_http(&self, f: HttpFault) {
        let mut g = self.lock();
        match f {
            HttpFault::NoContinue => g.no_continue += 1,
            f => g.http.push_back(f),
        }
    }

    /// Every TCP reply misbehaves until [`Faults::clear`].
    pub fn sticky_tcp(&self, f: TcpFault) {
        self.lock().sticky_tcp = Some(f);
    }

    /// Every HTTP response misbehaves until [`Faults::clear`].
    pub fn sticky_http(&self, f: HttpFault) {
        self.lock().sticky_http = Some(f);
    }

    /// Discovery probes go unanswered.
    pub fn drop_udp(&self, on: bool) {
        self.lock().drop_udp = on;
    }

    /// Removes every fault.
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    /// The fault for the next TCP reply.
    pub fn next_tcp(&self) -> Option<TcpFault> {
        let mut g = self.lock();
        g.tcp.pop_front().or(g.sticky_tcp)
    }

    /// The fault for the next HTTP response.
    pub fn next_http(&self) -> Option<HttpFault> {
        let mut g = self.lock();
        g.http.pop_front().or(g.sticky_http)
    }

    /// Whether this upload gets no `100 Continue` (consumes one queued `NoContinue`).
    pub fn take_no_continue(&self) -> bool {
        let mut g = self.lock();
        if g.no_continue > 0 {
            g.no_continue -= 1;
            true
        } else {
            g.sticky_http == Some(HttpFault::NoContinue)
        }
    }

    /// Are probes dropped?
    pub fn udp_dropped(&self) -> bool {
        self.lock().drop_udp
    }
}
