//! Replies end by structure, never by a gap (issue 12): on the virtual clock, a pause of any
//! length up to the command's deadline, at any byte position of any TCP fixture, gives the
//! same parsed result as the unbroken reply (or, where the unbroken reply is a typed error, a
//! typed error). In a dialect that tolerates Shape B replies
//! (no echo, no `ok`) the paused reply may instead be a typed error, never different data.
//!
//! The one documented exception is the emulator's tag-less `~M661` text list (tcp.md §6.1
//! "emu variant"): it has no structure at all, so only a pause shorter than
//! `Config::binary_quiet_fallback` is covered there.

// Tests take a base Instant from the clock; the core itself never does.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use flashforge_proto::gcode::{
    parse_reply, BinaryLimits, FrameStatus, Parsed, PrinterInfo, ReplyFramer, ReplyKind,
};
use flashforge_proto::{Command, CommandError, Config, Dialect, Event, Reply, Session};
use proptest::prelude::*;

type Outcome = Result<Reply, CommandError>;

const DIALECTS: [Dialect; 3] = [Dialect::Modern, Dialect::Adventurer3, Dialect::Unknown];

struct Fixture {
    file: String,
    command: Command,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tcp");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let list = manifest["fixtures"].as_array().unwrap();
    assert!(list.len() >= 100, "the TCP fixture set is complete");
    list.iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap().to_owned();
            let line = f["command"].as_str().unwrap();
            let command = Command::decode(line).unwrap_or_else(|| panic!("{file}: {line}"));
            let bytes = std::fs::read(dir.join(&file)).unwrap();
            Fixture {
                file,
                command,
                bytes,
            }
        })
        .collect()
}

fn config(dialect: Dialect) -> Config {
    let mut c = Config::default();
    c.dialect = dialect;
    c.keepalive = false;
    c
}

/// A logged-in session (the login reply carries no echo, so no stale-line filtering is
/// learned and every fixture shape reaches the framer).
fn session(dialect: Dialect, t0: Instant) -> Session {
    let mut s = Session::new(config(dialect), t0);
    while s.poll_event().is_some() {}
    s.handle_connected(t0);
    while s.poll_transmit().is_some() {}
    s.handle_bytes(b"Control Success V2.1.\nok\n", t0);
    while s.poll_event().is_some() {}
    s
}

struct Run {
    s: Session,
    now: Instant,
    outcome: Option<Outcome>,
}

impl Run {
    fn drain(&mut self) {
        while let Some(e) = self.s.poll_event() {
            if let Event::Reply { result, .. } = e {
                assert!(self.outcome.is_none(), "one outcome per command");
                self.outcome = Some(result);
            }
        }
        while self.s.poll_transmit().is_some() {}
    }

    /// Let virtual time pass up to `until`, firing every timer due on the way.
    fn advance(&mut self, until: Instant) {
        while self.outcome.is_none() {
            match self.s.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = t;
                    self.s.handle_timeout(t);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }
}

/// The outcome of `command` when `bytes` arrive with a pause of `pause` after byte `cut`
/// (`None`: all at once), then time runs until the reply is decided.
fn outcome(
    dialect: Dialect,
    command: &Command,
    bytes: &[u8],
    cut: Option<(usize, Duration)>,
) -> Outcome {
    if matches!(
        command,
        Command::Login | Command::Logout | Command::UploadBegin { .. } | Command::UploadEnd
    ) {
        return framed(dialect, command, bytes, cut);
    }
    let t0 = Instant::now();
    let mut r = Run {
        s: session(dialect, t0),
        now: t0,
        outcome: None,
    };
    r.s.submit(command.clone(), t0).unwrap();
    r.drain();
    if let Some(done) = r.outcome.take() {
        // A no-reply command (A3 motion) completes at the write.
        return done;
    }
    match cut {
        Some((k, pause)) => {
            r.s.handle_bytes(&bytes[..k], t0);
            r.drain();
            r.advance(t0 + pause);
            if r.outcome.is_none() {
                let now = r.now;
                r.s.handle_bytes(&bytes[k..], now);
                r.drain();
            }
        }
        None => {
            r.s.handle_bytes(bytes, t0);
            r.drain();
        }
    }
    r.advance(t0 + Duration::from_secs(120));
    r.outcome
        .expect("every command gets an outcome before its deadline passes")
}

/// The session manages login, logout and the upload boundaries itself (they cannot be
/// submitted): drive their framer on a virtual clock with the session's rules (quiet period
/// from `ReplyFramer::quiet_period`, the deadline from the profile).
fn framed(
    dialect: Dialect,
    command: &Command,
    bytes: &[u8],
    cut: Option<(usize, Duration)>,
) -> Outcome {
    let config = config(dialect);
    let profile = command.profile(&config);
    let mut f = ReplyFramer::new(profile, &config, false);
    let deadline = profile.timeout;
    let (first, rest, pause) = match cut {
        Some((k, p)) => (&bytes[..k], &bytes[k..], p),
        None => (bytes, &[][..], Duration::ZERO),
    };
    let parse = |f: &mut ReplyFramer| -> Outcome {
        let raw = f.take_reply();
        match parse_reply(profile.kind, &raw, &BinaryLimits::from(&config))? {
            Parsed::Complete(r) => Ok(r),
            Parsed::Incomplete(_) => Err(CommandError::Incomplete {
                received: raw.len(),
            }),
        }
    };
    // The chunks arrive at 0 and at `pause`; a quiet period armed by the first may end the
    // reply before the second arrives.
    let mut quiet_at: Option<Duration> = None;
    for (at, chunk) in [(Duration::ZERO, first), (pause, rest)] {
        if quiet_at.is_some_and(|q| q <= at && q < deadline) {
            f.finish();
            return parse(&mut f);
        }
        if at >= deadline {
            break;
        }
        match f.push(chunk).map_err(CommandError::Protocol)? {
            FrameStatus::Complete => return parse(&mut f),
            FrameStatus::Partial => quiet_at = f.quiet_period().map(|q| at + q),
        }
    }
    if quiet_at.is_some_and(|q| q < deadline) || f.completes_at_deadline() {
        f.finish();
        return parse(&mut f);
    }
    match f.buffered() {
        0 => Err(CommandError::TimedOut),
        received => Err(CommandError::Incomplete { received }),
    }
}

fn deadline(dialect: Dialect, command: &Command) -> Duration {
    command.profile(&config(dialect)).timeout
}

/// Whether `fixture` is the emulator's unstructured text list (see the module docs).
fn unstructured(f: &Fixture) -> bool {
    f.command.reply_kind() == ReplyKind::FileList
        && f.bytes.windows(6).any(|w| w == b"/data/")
        && !f.bytes.windows(4).any(|w| w == [0x44, 0xAA, 0xAA, 0x44])
        && !f.bytes.windows(15).any(|w| w == b"info_list.size:")
}

fn longest_pause(dialect: Dialect, f: &Fixture) -> Duration {
    let limit = if unstructured(f) {
        config(dialect).binary_quiet_fallback
    } else {
        deadline(dialect, &f.command)
    };
    limit - Duration::from_millis(1)
}

fn check(dialect: Dialect, f: &Fixture, cut: usize, pause: Duration) -> Result<(), String> {
    let whole = outcome(dialect, &f.command, &f.bytes, None);
    let paused = outcome(dialect, &f.command, &f.bytes, Some((cut, pause)));
    // Same data, or no data: a failure that differs only in its kind (a payload with no
    // structure ended by a quiet period vs. by the deadline) is still no data.
    let allowed = paused == whole
        || (whole.is_err() && paused.is_err())
        || (dialect.tolerates_shape_b() && paused.is_err());
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "{} ({dialect:?}), pause of {pause:?} after byte {cut}:\n  unbroken: {whole:?}\n  paused:   {paused:?}",
            f.file
        ))
    }
}

/// Every fixture, every byte position, pauses around a TCP retransmission, the quiet
/// fallbacks and the deadline, in every dialect.
#[test]
fn a_pause_anywhere_never_changes_a_reply() {
    let fixtures = fixtures();
    let mut checked = 0u64;
    let mut failures = Vec::new();
    for f in &fixtures {
        for dialect in DIALECTS {
            let longest = longest_pause(dialect, f);
            let pauses = [
                Duration::from_millis(300),
                Duration::from_millis(1100),
                Duration::from_millis(1600),
                Duration::from_secs(2),
                longest,
            ];
            for cut in 0..=f.bytes.len() {
                for pause in pauses.into_iter().filter(|p| *p <= longest) {
                    checked += 1;
                    if let Err(e) = check(dialect, f, cut, pause) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked} runs");
    assert!(
        failures.is_empty(),
        "{} of {checked} paused replies differ:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Any fixture, any position, any pause up to the deadline.
    #[test]
    fn any_pause_up_to_the_deadline(index in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>(), frac in 0.0f64..1.0, d in 0usize..3) {
        let fixtures = fixtures_cached();
        let f = index.get(fixtures);
        let dialect = DIALECTS[d];
        let pause = longest_pause(dialect, f).mul_f64(frac);
        let cut = cut.index(f.bytes.len() + 1);
        if let Err(e) = check(dialect, f, cut, pause) {
            return Err(TestCaseError::fail(e));
        }
    }
}

fn fixtures_cached() -> &'static [Fixture] {
    static CELL: std::sync::OnceLock<Vec<Fixture>> = std::sync::OnceLock::new();
    CELL.get_or_init(fixtures)
}

fn capture(model: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sim/captures/emulator")
        .join(model)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn info(o: Outcome) -> PrinterInfo {
    match o {
        Ok(Reply::PrinterInfo(i)) => i,
        other => panic!("expected an M115 reply, got {other:?}"),
    }
}

/// The acceptance check of issue 12: 300 ms and 2 s pauses inside `~M115` and `~M119` of a
/// modern printer (the independent implementation's bytes) give the full, correct reply.
#[test]
fn modern_m115_and_m119_survive_300_ms_and_2_s_pauses() {
    let m115 = capture("adventurer-5m", "tcp_M115.resp");
    let m119 = capture("adventurer-5m", "tcp_M119_printing.resp");
    for dialect in DIALECTS {
        let whole = info(outcome(dialect, &Command::MachineInfo, &m115, None));
        assert_eq!(whole.machine_type, "Flashforge Adventurer 5M");
        assert!(
            whole.firmware.starts_with('v') && whole.firmware.len() > 3,
            "{}",
            whole.firmware
        );
        let at = m115.windows(9).position(|w| w == b"Firmware:").unwrap() + 12;
        for pause in [Duration::from_millis(300), Duration::from_secs(2)] {
            for cut in [at, m115.len() - 3, m115.len() - 1] {
                let paused = info(outcome(
                    dialect,
                    &Command::MachineInfo,
                    &m115,
                    Some((cut, pause)),
                ));
                assert_eq!(paused, whole, "{dialect:?}: pause {pause:?} at {cut}");
            }
        }
        let whole = outcome(dialect, &Command::EndstopStatus, &m119, None).unwrap();
        let Reply::EndstopStatus(status) = &whole else {
            panic!("{whole:?}")
        };
        assert!(status.is_printing(), "{status:?}");
        let at = m119
            .windows(14)
            .position(|w| w == b"MachineStatus:")
            .unwrap()
            + 17;
        for pause in [Duration::from_millis(300), Duration::from_secs(2)] {
            for cut in [at, m119.len() - 3] {
                let paused = outcome(dialect, &Command::EndstopStatus, &m119, Some((cut, pause)));
                assert_eq!(
                    paused.as_ref(),
                    Ok(&whole),
                    "{dialect:?}: pause {pause:?} at {cut}"
                );
            }
        }
    }
}

/// The Adventurer 3's Shape B `~M115` (no echo, no `ok`) ends at its `Mac Address` line at
/// once, in the A3 dialect and before the model is known; a pause before that line is an
/// incomplete reply, never an info without its last fields.
#[test]
fn adventurer3_shape_b_m115_ends_at_its_last_field() {
    let m115 = capture("adventurer-3", "tcp_M115.resp");
    for dialect in [Dialect::Adventurer3, Dialect::Unknown] {
        let t0 = Instant::now();
        let mut s = session(dialect, t0);
        s.submit(Command::MachineInfo, t0).unwrap();
        s.handle_bytes(&m115, t0);
        let reply = reply_of(&mut s, None);
        let i = info(reply.expect("complete without waiting for a quiet period"));
        assert_eq!(i.machine_type, "FlashForge Adventurer III");
        assert_eq!(i.firmware, "v1.4.0");
        assert_eq!(i.serial_number.as_deref(), Some("SN-a3"));
        assert_eq!(i.mac_address.as_deref(), Some("00:11:22:33:44:55"));
        let mac = m115.windows(4).position(|w| w == b"Mac ").unwrap();
        let paused = outcome(
            dialect,
            &Command::MachineInfo,
            &m115,
            Some((mac, Duration::from_secs(6))),
        );
        assert!(
            matches!(paused, Err(CommandError::Incomplete { received }) if received == mac),
            "{paused:?}"
        );
    }
    // The Modern dialect waits for an `ok` that never comes: a typed error, not a guess.
    let modern = outcome(Dialect::Modern, &Command::MachineInfo, &m115, None);
    assert!(
        matches!(modern, Err(CommandError::Incomplete { .. })),
        "{modern:?}"
    );
}

/// The emulator's second login block arriving late, and a Shape B reply's stray `ok`, are
/// stale: they never end the next reply.
#[test]
fn late_login_tail_and_stray_ok_are_not_the_next_reply() {
    let m115 = capture("adventurer-3", "tcp_M115.resp");
    for dialect in DIALECTS {
        for tail in [&b"Control Success V2.1.\nok\n"[..], b"ok\n"] {
            let mut bytes = tail.to_vec();
            bytes.extend_from_slice(&m115);
            if dialect == Dialect::Modern {
                bytes.extend_from_slice(b"ok\n");
            }
            let i = info(outcome(
                dialect,
                &Command::MachineInfo,
                &bytes,
                Some((tail.len(), Duration::from_millis(500))),
            ));
            assert_eq!(
                i.mac_address.as_deref(),
                Some("00:11:22:33:44:55"),
                "{dialect:?}"
            );
        }
    }
}

/// Review findings: the trailing `ok` of an A3 reply that ended at its last field (or by a
/// quiet period) arrives after the next command was sent; it must not answer that command.
#[test]
fn a_late_ok_never_answers_the_next_command() {
    let m115 = capture("adventurer-3", "tcp_M115.resp");
    for dialect in [Dialect::Adventurer3, Dialect::Unknown] {
        let t0 = Instant::now();
        let mut s = session(dialect, t0);
        s.submit(Command::MachineInfo, t0).unwrap();
        s.handle_bytes(&m115, t0);
        while s.poll_event().is_some() {}
        let led = s
            .submit(
                Command::Led(flashforge_proto::gcode::Led::Accessory(true)),
                t0,
            )
            .unwrap();
        while s.poll_transmit().is_some() {}
        s.handle_bytes(b"ok\n", t0 + Duration::from_millis(20));
        s.handle_bytes(b"Error: busy\n", t0 + Duration::from_millis(40));
        let got = reply_of(&mut s, Some(led));
        assert_eq!(
            got,
            Some(Err(CommandError::Printer("busy".into()))),
            "{dialect:?}"
        );
    }
}

/// Review findings: a pause inside the second login block (`Control Succ` | `ess V2.1.`)
/// leaves half a line that must not become the start of the `~M115` reply.
#[test]
fn half_a_stale_line_is_not_the_next_reply() {
    for dialect in DIALECTS {
        // A modern printer (echo and `ok`) in the Modern dialect, the A3's Shape B otherwise.
        let m115 = match dialect {
            Dialect::Modern => capture("adventurer-5m", "tcp_M115.resp"),
            _ => capture("adventurer-3", "tcp_M115.resp"),
        };
        let t0 = Instant::now();
        let mut s = Session::new(config(dialect), t0);
        while s.poll_event().is_some() {}
        s.handle_connected(t0);
        while s.poll_transmit().is_some() {}
        s.handle_bytes(b"CMD M601 Received.\nok\nControl Succ", t0);
        s.submit(Command::MachineInfo, t0).unwrap();
        while s.poll_transmit().is_some() {}
        let mut rest = b"ess V2.1.\nok\n".to_vec();
        rest.extend_from_slice(&m115);
        s.handle_bytes(&rest, t0 + Duration::from_millis(300));
        let got = reply_of(&mut s, None);
        let i = info(got.expect("a reply"));
        let mac = if dialect == Dialect::Modern {
            "001122334455"
        } else {
            "00:11:22:33:44:55"
        };
        assert_eq!(i.mac_address.as_deref(), Some(mac), "{dialect:?}");
    }
}

/// The outcome of command `id` (any command: `None`) among the session's pending events.
fn reply_of(s: &mut Session, id: Option<flashforge_proto::CommandId>) -> Option<Outcome> {
    std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        Event::Reply {
            id: got, result, ..
        } if id.map_or(true, |i| i == got) => Some(result),
        _ => None,
    })
}
