//! `driver::TcpCalls` paired with the in-memory `mock::Printer` on a virtual clock: the
//! adapters' TCP call loop with no socket and no sleep. Each test drives the pair from
//! deadline to deadline and checks what was written, when a call ended, and how.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use flashforge_proto::client::ClientError;
use flashforge_proto::driver::{Op, Output, Plan, Step, StepOutput, Target, TcpCalls, TcpEvent};
use flashforge_proto::http::MachineState;
use flashforge_proto::mock::Printer;
use flashforge_proto::{
    Command, CommandId, Config, ConnectionState, Dialect, Model, Reply, SessionError,
};

struct Pair {
    calls: TcpCalls,
    p: Printer,
    t0: Instant,
    now: Instant,
    connected: bool,
    /// Connection attempts still to refuse.
    refuse_connect: u32,
    /// (ms since start, what was written: a command line, or `<n bytes>` of file data)
    sent: Vec<(u64, String)>,
    states: Vec<(u64, ConnectionState)>,
}

impl Pair {
    fn new(config: Config, printer: Printer) -> Self {
        let t0 = Instant::now();
        Self {
            calls: TcpCalls::new(config, t0),
            p: printer,
            t0,
            now: t0,
            connected: false,
            refuse_connect: 0,
            sent: Vec::new(),
            states: Vec::new(),
        }
    }

    fn modern() -> Self {
        Self::new(Config::default(), Printer::new(Dialect::Modern))
    }

    fn ms(&self) -> u64 {
        (self.now - self.t0).as_millis() as u64
    }

    /// Do everything that is ready at the current time, as an adapter's loop does.
    fn drive(&mut self) {
        loop {
            let mut progress = false;
            while let Some(event) = self.calls.poll_event() {
                progress = true;
                match event {
                    TcpEvent::Connect if self.refuse_connect > 0 => {
                        self.refuse_connect -= 1;
                        let error = ClientError::unreachable(std::io::Error::from(
                            std::io::ErrorKind::ConnectionRefused,
                        ));
                        self.calls.handle_connect_failed(error, self.now);
                    }
                    TcpEvent::Connect => {
                        self.p.disconnect();
                        self.connected = true;
                        self.calls.handle_connected(self.now);
                    }
                    TcpEvent::Disconnect => {
                        self.connected = false;
                        self.p.disconnect();
                    }
                    TcpEvent::Write(bytes) => {
                        assert!(self.connected, "write while disconnected");
                        let text = if bytes.first() == Some(&b'~') {
                            String::from_utf8_lossy(&bytes).trim_end().to_owned()
                        } else {
                            format!("<{} bytes>", bytes.len())
                        };
                        self.sent.push((self.ms(), text));
                        self.p.handle_bytes(&bytes);
                    }
                    TcpEvent::State(state) => self.states.push((self.ms(), state)),
                    other => panic!("unknown event {other:?}"),
                }
            }
            if self.connected {
                while let Some(bytes) = self.p.poll_output() {
                    progress = true;
                    self.calls.handle_bytes(&bytes, self.now);
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Jump to the next deadline.
    fn advance(&mut self) {
        let t = self
            .calls
            .poll_timeout()
            .expect("a call is waiting, so there is a deadline");
        assert!(t >= self.now, "poll_timeout went backwards");
        assert!(
            t - self.t0 < Duration::from_secs(120),
            "no outcome in 2 min"
        );
        self.now = t;
        self.calls.handle_timeout(self.now);
    }

    /// Drive until call `id` has its outcome: (ms since start, the outcome).
    fn wait(&mut self, id: CommandId) -> (u64, Result<Reply, ClientError>) {
        loop {
            self.drive();
            if let Some(outcome) = self.calls.outcome(id, self.now) {
                return (self.ms(), outcome);
            }
            self.advance();
        }
    }

    /// Submit `command` now and wait for its outcome.
    fn call(&mut self, command: Command) -> (u64, Result<Reply, ClientError>) {
        let id = self.calls.submit(command, self.now).unwrap();
        self.wait(id)
    }

    /// Step from deadline to deadline until `d` has passed.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.drive();
            match self.calls.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.calls.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    self.calls.handle_timeout(self.now);
                    self.drive();
                    return;
                }
            }
        }
    }

    fn sent_lines(&self) -> Vec<&str> {
        self.sent.iter().map(|(_, l)| l.as_str()).collect()
    }

    fn saw_state(&self, state: &ConnectionState) -> bool {
        self.states.iter().any(|(_, s)| s == state)
    }
}

#[test]
fn a_call_logs_in_first_then_gets_its_reply() {
    let mut pair = Pair::modern();
    let (at, reply) = pair.call(Command::Temperatures);
    assert_eq!(at, 0);
    assert!(matches!(reply, Ok(Reply::Temperatures(_))), "{reply:?}");
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M105"]);
    assert!(pair.saw_state(&ConnectionState::Ready));
    assert!(!pair.calls.needs_replacing());
}

#[test]
fn a_connect_failure_fails_the_waiting_call_at_once_and_withdraws_it() {
    let mut pair = Pair::modern();
    pair.refuse_connect = 1;
    let (at, outcome) = pair.call(Command::Temperatures);
    // Reported when the attempt fails, not after the session's back-off.
    assert_eq!(at, 0);
    assert_eq!(
        outcome.unwrap_err(),
        ClientError::unreachable(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    );
    assert!(pair.sent.is_empty());
    // The session reconnects after its back-off and logs in, but the withdrawn call is not
    // sent to a printer whose caller already got an error.
    pair.run_for(Duration::from_secs(2));
    assert_eq!(pair.sent, [(500, "~M601 S1".to_owned())]);
    assert!(pair.saw_state(&ConnectionState::Ready));
    // The next call goes through on the same session.
    let (_, reply) = pair.call(Command::Temperatures);
    assert!(matches!(reply, Ok(Reply::Temperatures(_))), "{reply:?}");
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M105"]);
}

#[test]
fn a_call_still_queued_at_its_wait_limit_times_out_unsent() {
    // The printer accepts connections but never answers the login.
    let mut printer = Printer::new(Dialect::Modern);
    printer.responsive = false;
    let mut pair = Pair::new(Config::default(), printer);
    let (at, outcome) = pair.call(Command::Temperatures);
    // Three reply deadlines (3 × 5 s), although the session itself keeps trying.
    assert_eq!(at, 15_000);
    assert_eq!(outcome.unwrap_err(), ClientError::TimedOut);
    let logins = pair.sent.iter().map(|(t, l)| (*t, l.as_str()));
    assert_eq!(
        logins.collect::<Vec<_>>(),
        [(0, "~M601 S1"), (5_500, "~M601 S1"), (11_500, "~M601 S1")],
        "the command itself was never written"
    );
    // Withdrawn: once the printer lets us in, only the login goes out.
    pair.p.responsive = true;
    pair.run_for(Duration::from_secs(4));
    assert!(pair.saw_state(&ConnectionState::Ready));
    assert!(!pair.sent_lines().contains(&"~M105"), "{:?}", pair.sent);
}

#[test]
fn a_wait_limit_of_one_reply_deadline_bounds_every_login_attempt_together() {
    // Issue 14 point 2: one deadline for the call, its login attempts included.
    let mut printer = Printer::new(Dialect::Modern);
    printer.responsive = false;
    let mut config = Config::default();
    config.call_wait_limit = Some(Duration::from_secs(2));
    let mut pair = Pair::new(config.clone(), printer);
    let (at, outcome) = pair.call(Command::Temperatures);
    assert_eq!(at, 2_000, "not 3 × the 5 s reply deadline");
    assert_eq!(outcome.unwrap_err(), ClientError::TimedOut);
    assert_eq!(
        pair.sent_lines(),
        ["~M601 S1"],
        "the command was never written"
    );
    // A printer that answers still gets the call through within the limit.
    let mut pair = Pair::new(config, Printer::new(Dialect::Modern));
    assert!(pair.call(Command::Temperatures).1.is_ok());
}

#[test]
fn a_call_in_flight_ends_at_the_reply_deadline_not_the_wait_limit() {
    let mut pair = Pair::modern();
    pair.call(Command::Temperatures).1.unwrap();
    pair.p.responsive = false;
    let (at, outcome) = pair.call(Command::Temperatures);
    assert_eq!(at, 5_000);
    assert_eq!(outcome.unwrap_err(), ClientError::TimedOut);
    assert!(ClientError::TimedOut.is_connection_error());
}

#[test]
fn upload_hand_shake_streams_after_acceptance_and_ends_with_m29() {
    let mut pair = Pair::modern();
    pair.call(Command::Temperatures).1.unwrap();
    let data = b"G28\nG1 X10 Y10\nG1 Z5\n".repeat(10);
    let id = pair
        .calls
        .start_upload("part.gcode", data.len() as u64, pair.now)
        .unwrap();
    // Accepted once the printer answered `~M28`; no file byte goes out before.
    let accepted = loop {
        pair.drive();
        if let Some(a) = pair.calls.upload_accepted(id, pair.now) {
            break a;
        }
        pair.advance();
    };
    accepted.unwrap();
    assert_eq!(
        pair.sent_lines().last(),
        Some(&"~M28 210 0:/user/part.gcode")
    );
    assert!(pair.saw_state(&ConnectionState::Uploading));
    // Half-way, an abandoned upload would leave the printer waiting for bytes.
    let (first, rest) = data.split_at(100);
    pair.calls.upload_chunk(first, pair.now).unwrap();
    pair.drive();
    assert!(pair.calls.needs_replacing());
    pair.calls.upload_chunk(rest, pair.now).unwrap();
    let (_, reply) = pair.wait(id);
    assert!(reply.is_ok(), "{reply:?}");
    let tail: Vec<&str> = pair.sent_lines().into_iter().rev().take(4).collect();
    assert_eq!(
        tail,
        [
            "~M29",
            "<110 bytes>",
            "<100 bytes>",
            "~M28 210 0:/user/part.gcode"
        ]
    );
    assert_eq!(pair.p.file("part.gcode"), Some(&data[..]));
    assert_eq!(
        pair.states.last().map(|(_, s)| s),
        Some(&ConnectionState::Ready)
    );
    assert!(!pair.calls.needs_replacing());
}

#[test]
fn a_denied_login_fails_the_call_with_control_held() {
    let mut printer = Printer::new(Dialect::Modern);
    printer.deny_logins = 10;
    let mut pair = Pair::new(Config::default(), printer);
    let (at, outcome) = pair.call(Command::Temperatures);
    // Four attempts, 0.5 s, 1 s and 1.5 s apart, then the session gives up.
    assert_eq!(at, 3_000);
    let e = outcome.unwrap_err();
    assert_eq!(e, ClientError::ControlHeld);
    assert_eq!(e.io_kind(), std::io::ErrorKind::PermissionDenied);
    let logins = pair
        .sent_lines()
        .iter()
        .filter(|l| **l == "~M601 S1")
        .count();
    assert_eq!(logins, 4);
    assert!(!pair.sent_lines().contains(&"~M105"));
    assert!(
        pair.saw_state(&ConnectionState::Failed(SessionError::LoginDenied {
            attempts: 4
        }))
    );
    assert!(pair.calls.is_finished());
    assert!(pair.calls.needs_replacing());
}

#[test]
fn a_call_written_late_in_its_window_still_ends_at_its_one_deadline() {
    // Issue 14 point 2: the login is answered at 1.5 s of a 2 s call, ~M105 goes out and is
    // never answered: the call ends at 2 s, not 2 s + the 5 s reply deadline.
    let mut printer = Printer::new(Dialect::Modern);
    printer.responsive = false;
    let mut config = Config::default();
    config.call_wait_limit = Some(Duration::from_secs(2));
    let mut pair = Pair::new(config, printer);
    let id = pair.calls.submit(Command::Temperatures, pair.now).unwrap();
    pair.drive();
    pair.now = pair.t0 + Duration::from_millis(1500);
    pair.calls.handle_timeout(pair.now);
    pair.calls.handle_bytes(
        b"CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n",
        pair.now,
    );
    pair.drive();
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M105"]);
    let (at, outcome) = pair.wait(id);
    assert_eq!(at, 2_000);
    assert_eq!(outcome.unwrap_err(), ClientError::TimedOut);
}

#[test]
fn a_denial_is_control_held_even_when_the_wait_limit_ends_the_retries() {
    // A wait limit shorter than the four attempts' back-off (3 s): the call still says why.
    let mut printer = Printer::new(Dialect::Modern);
    printer.deny_logins = 10;
    let mut config = Config::default();
    config.call_wait_limit = Some(Duration::from_millis(1500));
    let mut pair = Pair::new(config, printer);
    let (at, outcome) = pair.call(Command::Temperatures);
    assert_eq!(at, 1_500);
    assert_eq!(outcome.unwrap_err(), ClientError::ControlHeld);
    assert!(!pair.sent_lines().contains(&"~M105"));
}

#[test]
fn a_tcp_status_plan_reads_its_three_replies_in_the_planned_order() {
    let target = Target::new(Model::Adventurer4, "2.2.1", "10.0.0.4");
    let plan = Plan::new(Op::Status, &target).unwrap();
    let mut pair = Pair::modern();
    let mut outputs = Vec::new();
    for step in plan.steps() {
        let Step::Tcp(command) = step else {
            panic!("an Adventurer 4 plans TCP only: {step:?}")
        };
        outputs.push(StepOutput::Tcp(pair.call(command.clone()).1.unwrap()));
    }
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M119", "~M105", "~M27"]);
    // Outputs in another order than the steps are not taken for the right replies.
    let mut reversed = outputs.clone();
    reversed.reverse();
    assert_eq!(
        plan.clone().finish(reversed).unwrap_err(),
        ClientError::UnexpectedReply("M119, M105, M27 replies")
    );
    let Output::Status(status) = plan.finish(outputs).unwrap() else {
        panic!("not a status")
    };
    assert_eq!(status.model, Model::Adventurer4);
    assert_eq!(status.state, MachineState::Ready);
    assert_eq!(status.lights_on, Some(true));
    assert_eq!(status.temperatures.tools[0].current, Some(25.0));
    assert_eq!(status.temperatures.bed.and_then(|b| b.current), Some(24.5));
}

#[test]
fn an_upload_streams_in_chunks_the_calls_size_and_reports_their_progress() {
    let mut pair = Pair::modern();
    let data = b"G28\nG1 X10 Y10\n".repeat(10); // 150 bytes
    let id = pair.accepted_upload(data.len() as u64);
    let mut rest = &data[..];
    let mut seen = Vec::new();
    while let Some(want) = pair.calls.next_chunk_len(64) {
        let (chunk, tail) = rest.split_at(want);
        pair.calls.upload_chunk(chunk, pair.now).unwrap();
        pair.drive();
        seen.push(pair.calls.chunk_progress().map(|p| (p.sent, p.total)));
        rest = tail;
    }
    assert_eq!(seen, [Some((64, 150)), Some((128, 150)), Some((150, 150))]);
    assert!(pair.wait(id).1.is_ok());
    assert_eq!(pair.p.file("part.gcode"), Some(&data[..]));
}

#[test]
fn a_file_that_ends_early_fails_the_upload_and_closes_the_session() {
    let mut pair = Pair::modern();
    let id = pair.accepted_upload(100);
    pair.calls.upload_chunk(&[b'G'; 40], pair.now).unwrap();
    pair.drive();
    // The reader ended: no bytes while 60 are still due.
    pair.calls.upload_chunk(&[], pair.now).unwrap();
    pair.drive();
    assert_eq!(pair.calls.next_chunk_len(64), None);
    assert_eq!(pair.calls.chunk_progress(), None);
    let (_, outcome) = pair.wait(id);
    assert!(
        matches!(
            outcome,
            Err(ClientError::Usage(
                flashforge_proto::UsageError::UploadUnderrun { missing: 60 }
            ))
        ),
        "{outcome:?}"
    );
    // The printer is not left waiting for the 60 bytes: the session drops the connection.
    assert!(!pair.connected);
    assert!(pair.calls.needs_replacing());
}

#[test]
fn an_empty_file_ends_with_m29_without_a_chunk() {
    let mut pair = Pair::modern();
    let id = pair.accepted_upload(0);
    assert_eq!(pair.calls.next_chunk_len(64), None);
    assert!(pair.wait(id).1.is_ok());
    assert_eq!(pair.sent_lines().last(), Some(&"~M29"));
    assert_eq!(pair.p.file("part.gcode"), Some(&[][..]));
}

impl Pair {
    /// `~M28` for `part.gcode` of `size` bytes, driven until the printer accepted it.
    fn accepted_upload(&mut self, size: u64) -> CommandId {
        let id = self
            .calls
            .start_upload("part.gcode", size, self.now)
            .unwrap();
        loop {
            self.drive();
            if let Some(a) = self.calls.upload_accepted(id, self.now) {
                a.unwrap();
                return id;
            }
            self.advance();
        }
    }
}

/// Callers that go away right after submitting (a dropped future: an HTTP client of the farm
/// server that reset its connection) leave nothing behind: their queued commands are withdrawn,
/// so the bounded queue never fills with them and the next call gets its own reply. Before,
/// the 17th such call found the queue full, and every later one too, for ever.
#[test]
fn abandoned_calls_never_fill_the_queue() {
    let mut pair = Pair::modern();
    let max = Config::default().max_pending_commands;
    for _ in 0..(max * 3) {
        // Submitted, never driven: the caller is gone before any I/O.
        pair.calls
            .submit(Command::Temperatures, pair.now)
            .expect("room in the queue");
    }
    assert!(pair.calls.session().queued() <= 1);
    let (_, reply) = pair.call(Command::PrintStatus);
    assert!(matches!(reply, Ok(Reply::PrintStatus(_))), "{reply:?}");
    // Only the last call's command was written (after the login).
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M27"]);
}

/// A caller that goes away after its command was written: the command keeps its place and its
/// reply is dropped; the next call gets its own.
#[test]
fn an_abandoned_call_in_flight_does_not_hand_its_reply_to_the_next() {
    let mut pair = Pair::modern();
    let _ = pair.call(Command::Temperatures); // logged in
    pair.calls.submit(Command::Temperatures, pair.now).unwrap();
    // Written, its reply not read yet: the caller is gone.
    while let Some(ev) = pair.calls.poll_event() {
        if let TcpEvent::Write(b) = ev {
            pair.sent
                .push((0, String::from_utf8_lossy(&b).trim_end().to_owned()));
            pair.p.handle_bytes(&b);
        }
    }
    let (_, reply) = pair.call(Command::PrintStatus);
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M105", "~M105", "~M27"]);
    assert!(matches!(reply, Ok(Reply::PrintStatus(_))), "{reply:?}");
}
