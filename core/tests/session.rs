//! `Session` paired with the in-memory `mock::Printer` on a virtual clock: every transcript is
//! the exact sequence of lines written and events seen, at exact times. No sleeps.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use flashforge_proto::gcode::Reply;
use flashforge_proto::mock::{LoginStyle, Printer};
use flashforge_proto::{
    Command, CommandError, Config, ConnectionState, Dialect, Error, Event, Session, SessionError,
    UsageError,
};

struct Pair {
    s: Session,
    p: Printer,
    t0: Instant,
    now: Instant,
    connected: bool,
    refuse_connect: u32,
    /// (ms since start, first line of each transmit)
    sent: Vec<(u64, String)>,
    events: Vec<(u64, Event)>,
}

impl Pair {
    fn new(config: Config) -> Self {
        let printer = Printer::new(config.dialect);
        Self::with(config, printer)
    }

    /// A session and `printer`, driven until nothing more happens at t0.
    fn with(config: Config, printer: Printer) -> Self {
        let t0 = Instant::now();
        let mut pair = Self {
            s: Session::new(config, t0),
            p: printer,
            t0,
            now: t0,
            connected: false,
            refuse_connect: 0,
            sent: Vec::new(),
            events: Vec::new(),
        };
        pair.drive();
        pair
    }

    fn ms(&self) -> u64 {
        (self.now - self.t0).as_millis() as u64
    }

    /// Exchange everything that is ready at the current time.
    fn drive(&mut self) {
        loop {
            let mut progress = false;
            while let Some(tx) = self.s.poll_transmit() {
                progress = true;
                assert!(self.connected, "transmit while disconnected");
                let text = if tx.first() == Some(&b'~') {
                    String::from_utf8_lossy(&tx).trim_end().to_owned()
                } else {
                    format!("<{} bytes>", tx.len())
                };
                self.sent.push((self.ms(), text));
                self.p.handle_bytes(&tx);
            }
            while let Some(ev) = self.s.poll_event() {
                progress = true;
                match ev {
                    Event::Connect if self.refuse_connect > 0 => {
                        self.refuse_connect -= 1;
                        self.s.handle_connect_failed(self.now);
                    }
                    Event::Connect => {
                        self.p.disconnect();
                        self.connected = true;
                        self.s.handle_connected(self.now);
                    }
                    Event::Disconnect => {
                        self.connected = false;
                        self.p.disconnect();
                    }
                    _ => {}
                }
                self.events.push((self.ms(), ev));
            }
            if self.connected {
                while let Some(b) = self.p.poll_output() {
                    progress = true;
                    self.s.handle_bytes(&b, self.now);
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Step from deadline to deadline until `d` has passed.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.drive();
            match self.s.poll_timeout() {
                Some(t) if t <= end => {
                    assert!(t >= self.now, "poll_timeout went backwards");
                    self.now = t;
                    self.s.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    self.s.handle_timeout(self.now);
                    self.drive();
                    return;
                }
            }
        }
    }

    fn sent_lines(&self) -> Vec<&str> {
        self.sent.iter().map(|(_, l)| l.as_str()).collect()
    }

    fn states(&self) -> Vec<ConnectionState> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::State(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn reply(&self, id: flashforge_proto::CommandId) -> &Result<Reply, CommandError> {
        self.events
            .iter()
            .find_map(|(_, e)| match e {
                Event::Reply {
                    id: got, result, ..
                } if *got == id => Some(result),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no reply for {id:?}: {:?}", self.events))
    }

    fn submit(&mut self, c: Command) -> flashforge_proto::CommandId {
        let id = self.s.submit(c, self.now).unwrap();
        self.drive();
        id
    }
}

fn ready() -> Pair {
    let pair = Pair::new(Config::default());
    assert_eq!(pair.s.state(), ConnectionState::Ready);
    pair
}

#[test]
fn login_first_try_then_stale_second_ok_is_not_taken_for_the_next_reply() {
    let mut pair = Pair::new(Config::default());
    assert_eq!(pair.sent_lines(), ["~M601 S1"]);
    pair.run_for(Duration::ZERO);
    assert_eq!(
        pair.states(),
        [
            ConnectionState::Connecting,
            ConnectionState::LoggingIn { attempt: 0 },
            ConnectionState::Ready
        ]
    );
    // The emulator's login reply has a second `Control Success … ok` block; it must not end
    // the M115 reply. Deliver it late, after M115 went out.
    let id = pair.s.submit(Command::MachineInfo, pair.now).unwrap();
    pair.s
        .handle_bytes(b"Control Success V2.1.\nok\n", pair.now);
    pair.drive();
    match pair.reply(id) {
        Ok(Reply::PrinterInfo(info)) => assert_eq!(info.machine_name.as_deref(), Some("Mock")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn login_retries_after_control_failed_with_release_and_backoff() {
    let mut config = Config::default();
    config.keepalive = false;
    let mut p = Printer::new(Dialect::Modern);
    p.deny_logins = 2;
    p.login_style = LoginStyle::Firmware;
    let mut pair = Pair::with(config, p);
    pair.run_for(Duration::from_secs(5));
    assert_eq!(
        pair.sent,
        [
            (0, "~M601 S1".to_owned()),
            (0, "~M602".to_owned()),
            (500, "~M601 S1".to_owned()),
            (500, "~M602".to_owned()),
            (1500, "~M601 S1".to_owned()),
        ]
    );
    assert_eq!(pair.s.state(), ConnectionState::Ready);
}

#[test]
fn login_gives_up_after_four_denials() {
    let mut config = Config::default();
    config.keepalive = false;
    let mut p = Printer::new(Dialect::Modern);
    p.deny_logins = 10;
    let mut pair = Pair::with(config, p);
    pair.run_for(Duration::from_secs(10));
    let logins = pair
        .sent_lines()
        .iter()
        .filter(|l| **l == "~M601 S1")
        .count();
    assert_eq!(logins, 4);
    assert_eq!(
        pair.s.state(),
        ConnectionState::Failed(SessionError::LoginDenied { attempts: 4 })
    );
    assert_eq!(
        pair.s.submit(Command::Temperatures, pair.now),
        Err(UsageError::Closed)
    );
}

#[test]
fn keepalive_fires_once_per_idle_interval_and_backs_off_after_an_error() {
    let mut pair = ready();
    pair.run_for(Duration::from_millis(15_500));
    let keepalives: Vec<u64> = pair
        .sent
        .iter()
        .filter(|(_, l)| l == "~M27")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(keepalives, [5000, 10_000, 15_000]);
    let statuses = pair
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::KeepAlive(_)))
        .count();
    assert_eq!(statuses, 3);

    // A stalled printer: the keep-alive at 20 s times out at 25 s → reconnect after 0.5 s,
    // re-login, and the next keep-alive waits 6 s.
    pair.p.responsive = false;
    pair.run_for(Duration::from_millis(9_600)); // to 25.1 s
    assert!(pair
        .events
        .iter()
        .any(|(t, e)| *t == 25_000 && *e == Event::Disconnect));
    pair.p.responsive = true;
    pair.run_for(Duration::from_secs(10));
    let after: Vec<(u64, &str)> = pair
        .sent
        .iter()
        .filter(|(t, _)| *t > 20_000)
        .map(|(t, l)| (*t, l.as_str()))
        .collect();
    assert_eq!(after, [(25_500, "~M601 S1"), (31_500, "~M27")]);
    assert_eq!(pair.s.keepalive_interval(), Duration::from_secs(5));
}

#[test]
fn timeout_reconnects_and_logs_in_again_before_the_next_command() {
    let mut pair = ready();
    pair.p.responsive = false;
    let id = pair.submit(Command::Temperatures);
    pair.run_for(Duration::from_millis(5_000));
    assert_eq!(pair.reply(id), &Err(CommandError::TimedOut));
    assert_eq!(pair.s.stats().timeouts, 1);
    pair.p.responsive = true;
    let queued = pair.s.submit(Command::Temperatures, pair.now).unwrap();
    pair.run_for(Duration::from_secs(1));
    assert_eq!(
        pair.sent_lines(),
        ["~M601 S1", "~M105", "~M601 S1", "~M105"],
        "re-login must precede the queued command"
    );
    assert!(matches!(pair.reply(queued), Ok(Reply::Temperatures(_))));
    assert!(pair.states().contains(&ConnectionState::Reconnecting {
        attempt: 1,
        at: pair.t0 + Duration::from_millis(5_500)
    }));
}

#[test]
fn refused_connects_back_off_exponentially() {
    let mut pair = Pair::new(Config::default());
    pair.p.responsive = false;
    let id = pair.submit(Command::Temperatures);
    pair.refuse_connect = 3;
    pair.run_for(Duration::from_secs(20));
    assert_eq!(pair.reply(id), &Err(CommandError::TimedOut));
    let connects: Vec<u64> = pair
        .events
        .iter()
        .filter(|(_, e)| *e == Event::Connect)
        .map(|(t, _)| *t)
        .collect();
    // Initial, then after the timeout at 5 s: +0.5 s, +1 s, +2 s, +4 s.
    assert_eq!(connects, [0, 5_500, 6_500, 8_500, 12_500]);
}

#[test]
fn stale_bytes_between_commands_are_discarded() {
    let mut pair = ready();
    pair.p.inject(b"T0:150.0/200 B:25.0/0\nok\n");
    pair.drive();
    let id = pair.submit(Command::Temperatures);
    match pair.reply(id) {
        Ok(Reply::Temperatures(t)) => assert_eq!(t.tools()[0].current, 25.0),
        other => panic!("{other:?}"),
    }
    assert!(pair.s.stats().stale_bytes >= 25);
}

#[test]
fn full_queue_is_backpressure_not_growth() {
    let mut pair = ready();
    pair.p.responsive = false;
    let mut accepted = 0;
    let err = loop {
        match pair.s.submit(Command::PrintStatus, pair.now) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
    };
    // One in flight plus the configured 16 queued.
    assert_eq!(accepted, 17);
    assert_eq!(err, UsageError::QueueFull { max: 16 });
    assert_eq!(pair.s.queued(), 16);
}

#[test]
fn eof_mid_reply_fails_a_command_that_changes_the_printer_and_reconnects() {
    let mut pair = ready();
    pair.p.responsive = false;
    let id = pair.submit(Command::Pause);
    pair.s.handle_bytes(b"CMD M25 Received.\r\n", pair.now);
    pair.s.handle_eof(pair.now);
    pair.drive();
    // Part of the reply came, its end did not: an incomplete reply, not a bare disconnect.
    assert_eq!(
        pair.reply(id),
        &Err(CommandError::Incomplete { received: 19 })
    );
    assert!(matches!(
        pair.s.state(),
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
    pair.p.responsive = true;
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.s.state(), ConnectionState::Ready);
    // A command that changes the printer is never sent again on its own.
    assert_eq!(
        pair.sent_lines().iter().filter(|l| **l == "~M25").count(),
        1,
        "{:?}",
        pair.sent_lines()
    );
    assert_eq!(pair.s.stats().queries_retried, 0);
}

#[test]
fn a_query_cut_off_by_a_dropped_connection_is_asked_once_more_after_the_new_login() {
    let mut pair = ready();
    pair.p.responsive = false;
    let id = pair.submit(Command::MachineInfo);
    pair.s
        .handle_bytes(b"CMD M115 Received.\r\nMachine Type: X\r\n", pair.now);
    pair.s.handle_eof(pair.now);
    pair.drive();
    assert!(matches!(
        pair.s.state(),
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
    pair.p.responsive = true;
    pair.run_for(Duration::from_secs(2));
    assert_eq!(pair.s.state(), ConnectionState::Ready);
    // Logged in again first, then the same query, answered whole.
    let lines = pair.sent_lines();
    let second_login = lines.iter().rposition(|l| *l == "~M601 S1").unwrap();
    let resent = lines.iter().rposition(|l| *l == "~M115").unwrap();
    assert!(resent > second_login, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| **l == "~M115").count(), 2);
    assert!(
        matches!(pair.reply(id), Ok(Reply::PrinterInfo(_))),
        "{:?}",
        pair.reply(id)
    );
    assert_eq!(pair.s.stats().queries_retried, 1);
}

#[test]
fn a_retried_query_is_not_retried_twice() {
    let mut pair = ready();
    pair.p.responsive = false;
    let id = pair.submit(Command::Temperatures);
    pair.s.handle_eof(pair.now);
    pair.drive();
    // The new connection logs in (answered here by hand: the printer stays silent) and the
    // retry goes out; then that connection drops too.
    pair.run_for(Duration::from_secs(2));
    assert_eq!(pair.s.state(), ConnectionState::LoggingIn { attempt: 0 });
    pair.s.handle_bytes(
        b"CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n",
        pair.now,
    );
    pair.drive();
    assert_eq!(pair.s.state(), ConnectionState::Ready);
    assert_eq!(
        pair.sent_lines().iter().filter(|l| **l == "~M105").count(),
        2
    );
    pair.s.handle_eof(pair.now);
    pair.drive();
    assert_eq!(pair.reply(id), &Err(CommandError::Disconnected));
    pair.p.responsive = true;
    pair.run_for(Duration::from_secs(2));
    assert_eq!(
        pair.sent_lines().iter().filter(|l| **l == "~M105").count(),
        2,
        "{:?}",
        pair.sent_lines()
    );
    assert_eq!(pair.s.stats().queries_retried, 1);
}

#[test]
fn oversized_reply_is_a_capacity_error_then_reconnect() {
    let mut pair = ready();
    pair.p.responsive = false;
    let id = pair.submit(Command::Temperatures);
    pair.s.handle_bytes(&vec![b'A'; 5000], pair.now);
    pair.drive();
    assert!(matches!(
        pair.reply(id),
        Err(CommandError::Protocol(Error::Capacity(_)))
    ));
    assert!(pair.events.iter().any(|(_, e)| *e == Event::Disconnect));
}

#[test]
fn legacy_upload_streams_chunks_and_finishes_with_m29() {
    let mut pair = ready();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let id = pair
        .s
        .start_upload("C:\\gcode\\part.gcode", data.len() as u64, pair.now)
        .unwrap();
    pair.drive();
    assert!(pair
        .events
        .iter()
        .any(|(_, e)| *e == Event::UploadReady { id }));
    assert_eq!(pair.s.state(), ConnectionState::Uploading);
    for chunk in data.chunks(4096) {
        pair.s.upload_chunk(chunk, pair.now).unwrap();
        // A second chunk before draining is refused: the core holds one chunk at most.
        if chunk.len() == 4096 {
            assert_eq!(
                pair.s.upload_chunk(&[0], pair.now),
                Err(UsageError::WouldBlock)
            );
        }
        pair.drive();
    }
    assert!(matches!(pair.reply(id), Ok(Reply::UploadBoundary(_))));
    assert_eq!(pair.p.file("part.gcode"), Some(&data[..]));
    assert_eq!(
        pair.sent_lines()[1..],
        [
            "~M28 10000 0:/user/part.gcode",
            "<4096 bytes>",
            "<4096 bytes>",
            "<1808 bytes>",
            "~M29"
        ]
    );
    assert_eq!(pair.s.state(), ConnectionState::Ready);
    assert_eq!(
        pair.s.upload_chunk(b"x", pair.now),
        Err(UsageError::Upload("no upload is running"))
    );
}

#[test]
fn file_list_and_thumbnail_complete_without_any_settle_time() {
    let mut pair = ready();
    let list = pair.submit(Command::ListFiles);
    let thumb = pair.submit(Command::thumbnail("cube.gcode", Dialect::Modern));
    // No time has passed: both completed on their structure alone.
    assert_eq!(pair.ms(), 0);
    match pair.reply(list) {
        Ok(Reply::FileList(l)) => {
            assert_eq!(l.names().collect::<Vec<_>>(), ["Part 1.3mf", "cube.gcode"])
        }
        other => panic!("{other:?}"),
    }
    match pair.reply(thumb) {
        Ok(Reply::Thumbnail(t)) => assert_eq!((t.width, t.height), (Some(1), Some(1))),
        other => panic!("{other:?}"),
    }
    let missing = pair.submit(Command::thumbnail("nope.gcode", Dialect::Modern));
    assert!(matches!(
        pair.reply(missing),
        Err(CommandError::Protocol(_))
    ));
}

#[test]
fn adventurer3_motion_needs_no_reply_and_ok_data_line_is_parsed() {
    let mut pair = Pair::new(Config::adventurer3());
    let home = pair.submit(Command::Home);
    assert!(matches!(pair.reply(home), Ok(Reply::Ack(_))));
    let temps = pair.submit(Command::Temperatures);
    match pair.reply(temps) {
        Ok(Reply::Temperatures(t)) => assert_eq!(t.bed.unwrap().current, 24.5),
        other => panic!("{other:?}"),
    }
    let led = pair.submit(Command::Led(flashforge_proto::gcode::Led::Accessory(true)));
    assert!(matches!(pair.reply(led), Ok(Reply::Ack(_))));
    assert_eq!(pair.ms(), 0);
}

#[test]
fn denied_command_triggers_a_fresh_login() {
    let mut pair = ready();
    // The printer forgot our control (e.g. it restarted its session).
    pair.p.disconnect();
    let id = pair.submit(Command::Temperatures);
    assert_eq!(pair.reply(id), &Err(CommandError::Denied));
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M105", "~M601 S1"]);
    assert!(pair.p.logged_in());
}

#[test]
fn close_logs_out_then_disconnects() {
    let mut pair = ready();
    pair.s.close(pair.now);
    pair.drive();
    assert_eq!(pair.sent_lines(), ["~M601 S1", "~M602"]);
    assert_eq!(pair.s.state(), ConnectionState::Closed);
    assert!(pair.events.iter().any(|(_, e)| *e == Event::Disconnect));
    assert_eq!(pair.s.poll_timeout(), None);
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut pair = ready();
    let before = pair.s.poll_timeout().unwrap();
    pair.s.handle_timeout(pair.t0); // earlier than now: no-op
    pair.s
        .handle_timeout(pair.t0 - Duration::from_secs(1).min(pair.t0 - pair.t0));
    assert_eq!(pair.s.poll_timeout(), Some(before));
}
