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
    /// The next legacy upload: stop reading after `n` bytes of its file (`~M28` accepted), the
    /// socket kept open, until [`Faults::clear`] (or 2 minutes), so the client's writes block
    /// once the kernel buffers are full. Not a reply fault: [`Faults::push_tcp`] arms it for
    /// the next upload whatever replies come first.
    StallUpload(usize),
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
    /// The next upload: stop reading its body after `n` bytes, the socket kept open, until
    /// [`Faults::clear`] (or 2 minutes), so the client's writes block once the kernel buffers
    /// are full. Armed for the next upload (kept apart from the response queue).
    StallUpload(usize),
    /// The next upload is answered `{"code":0,"message":"Success"}` as soon as its head
    /// arrives, before any body byte (no `100 Continue`), and the connection closed.
    EarlySuccess,
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
    /// Armed upload stalls: read this many body bytes of the next upload, then stop.
    stall_upload_http: Option<usize>,
    stall_upload_tcp: Option<usize>,
    /// Uploads still to be answered before their body.
    early_success: u32,
    /// A connection is holding its reads (a stalled upload) until this is cleared.
    holding: bool,
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

    /// The next TCP reply misbehaves (`StallUpload`: the next legacy upload stalls).
    pub fn push_tcp(&self, f: TcpFault) {
        let mut g = self.lock();
        match f {
            TcpFault::StallUpload(n) => g.stall_upload_tcp = Some(n),
            f => g.tcp.push_back(f),
        }
    }

    /// The next HTTP response misbehaves (`NoContinue`: the next upload gets no
    /// `100 Continue`).
    pub fn push_http(&self, f: HttpFault) {
        let mut g = self.lock();
        match f {
            HttpFault::NoContinue => g.no_continue += 1,
            HttpFault::StallUpload(n) => g.stall_upload_http = Some(n),
            HttpFault::EarlySuccess => g.early_success += 1,
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

    /// The armed stall of the next HTTP upload (taken).
    pub fn take_stall_upload_http(&self) -> Option<usize> {
        self.lock().stall_upload_http.take()
    }

    /// The armed stall of the next legacy upload (taken).
    pub fn take_stall_upload_tcp(&self) -> Option<usize> {
        self.lock().stall_upload_tcp.take()
    }

    /// Whether this upload is answered before its body (consumes one queued `EarlySuccess`).
    pub fn take_early_success(&self) -> bool {
        let mut g = self.lock();
        if g.early_success > 0 {
            g.early_success -= 1;
            true
        } else {
            false
        }
    }

    /// A connection starts holding its reads (until [`Faults::clear`]).
    pub fn hold(&self) {
        self.lock().holding = true;
    }

    /// Whether reads are still held.
    pub fn holding(&self) -> bool {
        self.lock().holding
    }

    /// Are probes dropped?
    pub fn udp_dropped(&self) -> bool {
        self.lock().drop_udp
    }
}
