//! Heap allocations of the status-poll parsers, counted by a wrapping allocator.
//!
//! `~M105`, `~M27` and `~M114` parse without allocating; the other paths are held to the
//! counts measured when they were last cut (the `perf-alloc` work: `/detail` AD5X 63 → 33
//! from the wire to `Status`, `~M119` 9 → 4, `~M115` 7 → 6, a framed `~M105` 3 → 1: the
//! framer's buffer only), so a regression fails here. Run with `--nocapture` to see every
//! count.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use flashforge_benches::{
    http_response, DETAIL_5M_PRO_PRINTING, DETAIL_AD5X, DETAIL_C5_PRO, M105, M114, M115, M119, M27,
};
use flashforge_proto::driver::{Op, Output, Plan, StepOutput, Target};
use flashforge_proto::gcode::{
    self, BinaryLimits, EndstopStatus, FrameStatus, Position, PrintStatus, PrinterInfo,
    ReplyFramer, Temperatures,
};
use flashforge_proto::http::{self, ResponseEvent, ResponseKind, ResponseParser};
use flashforge_proto::{Command, Config, Event, HttpConfig, Model, Parsed, Reply, Session};

struct Counting;

thread_local! {
    // Per thread: the test harness runs tests in parallel.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged and only counts calls (a thread-local
// `Cell` of a `Copy` type with a const initialiser never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and reallocations) made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

/// Count `f` after one warm-up run, print it, and check it against `max`.
fn check<T>(what: &str, max: usize, f: impl Fn() -> T) -> T {
    drop(f());
    let (n, out) = allocations(&f);
    eprintln!("{what}: {n} allocations (bound {max})");
    assert!(
        n <= max,
        "{what} allocated {n} times, more than the {max} it was cut to"
    );
    out
}

#[test]
fn m105_m27_m114_parse_without_allocating() {
    // Warm up anything lazily initialised by the test harness.
    let _ = Temperatures::parse(M105);
    let (n, ()) = allocations(|| {
        let t = Temperatures::parse(M105).unwrap();
        assert_eq!(t.tools()[0].current, 210.0);
        let p = PrintStatus::parse(M27).unwrap();
        assert_eq!(p.percent(), Some(25));
        let pos = Position::parse(M114).unwrap();
        assert_eq!(pos.x, 100.5);
    });
    assert_eq!(n, 0, "parsing allocated {n} times");
}

#[test]
fn m119_parse() {
    let e = check("~M119 EndstopStatus::parse", 4, || {
        EndstopStatus::parse(M119).unwrap()
    });
    assert!(e.is_printing());
    assert_eq!(e.current_file.as_deref(), Some("large_print.gx"));
}

#[test]
fn m115_parse() {
    let p = check("~M115 PrinterInfo::parse", 6, || {
        PrinterInfo::parse(M115).unwrap()
    });
    assert_eq!(p.machine_name.as_deref(), Some("CowaPrint"));
}

/// The session's framing of one reply as it arrives in one read, then the typed parse.
fn frame_and_parse(cmd: &Command, bytes: &[u8]) -> Reply {
    let config = Config::default();
    let limits = BinaryLimits::default();
    let profile = cmd.profile(&config);
    let mut f = ReplyFramer::new(profile, &config, false);
    if f.push(bytes).ok() != Some(FrameStatus::Complete) {
        f.finish();
    }
    match gcode::parse_reply(profile.kind, f.reply(), &limits) {
        Ok(Parsed::Complete(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn tcp_frame_and_parse() {
    for (name, cmd, bytes, max) in [
        ("M105", Command::Temperatures, M105, 1),
        ("M27", Command::PrintStatus, M27, 1),
        ("M119", Command::EndstopStatus, M119, 5),
    ] {
        let r = check(&format!("frame+parse {name}"), max, || {
            frame_and_parse(&cmd, bytes)
        });
        assert!(!matches!(r, Reply::RawText(_)), "{r:?}");
    }
}

/// One command through a logged-in `Session`: submit, transmit, reply bytes, events.
#[test]
fn tcp_session_round_trip() {
    let t0 = Instant::now();
    let mut s = Session::new(Config::default(), t0);
    while s.poll_event().is_some() {}
    s.handle_connected(t0);
    while s.poll_transmit().is_some() {}
    s.handle_bytes(b"CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n", t0);
    while s.poll_event().is_some() {}
    let m105 = b"CMD M105 Received.\r\nT0:210/210 B:60/60 @:127 B@:127\r\nok\r\n";
    let m27 = b"CMD M27 Received.\r\nSD printing byte 12345/67890\r\nLayer: 25/100\r\nok\r\n";
    for (name, cmd, reply, max) in [
        ("M105", Command::Temperatures, &m105[..], 3),
        ("M27", Command::PrintStatus, &m27[..], 3),
    ] {
        let mut round_trip = || {
            s.submit(cmd.clone(), t0).unwrap();
            let tx = s.poll_transmit().expect("the command is sent");
            s.handle_bytes(reply, t0);
            let mut got = None;
            while let Some(e) = s.poll_event() {
                if let Event::Reply { result, .. } = e {
                    got = Some(result);
                }
            }
            (tx, got.expect("a reply"))
        };
        drop(round_trip());
        let (n, (_, got)) = allocations(&mut round_trip);
        eprintln!("session round trip {name}: {n} allocations (bound {max})");
        assert!(got.is_ok(), "{got:?}");
        assert!(
            n <= max,
            "session {name} allocated {n} times, more than {max}"
        );
    }
}

/// `~M119`, `~M105`, `~M27` replies → the client's `Status`, as an adapter finishes the plan.
#[test]
fn tcp_status_from_replies() {
    let target = Target::new(Model::Adventurer4, "2.0.5", "127.0.0.1");
    let replies = [
        Reply::EndstopStatus(EndstopStatus::parse(M119).unwrap()),
        Reply::Temperatures(Temperatures::parse(M105).unwrap()),
        Reply::PrintStatus(PrintStatus::parse(M27).unwrap()),
    ];
    let st = check("TCP replies -> Status (Plan::finish)", 8, || {
        let plan = Plan::new(Op::Status, &target).unwrap();
        let outputs = replies.iter().cloned().map(StepOutput::Tcp).collect();
        match plan.finish(outputs).unwrap() {
            Output::Status(s) => s,
            other => panic!("{other:?}"),
        }
    });
    assert_eq!(st.file.as_deref(), Some("large_print.gx"));
}

/// A whole `/detail` response as the client handles it: the response parser, the typed body,
/// then the plan's continuation building `Status`.
#[test]
fn detail_response_to_status() {
    let target = Target::new(Model::Adventurer5MPro, "3.1.3", "127.0.0.1");
    let cfg = HttpConfig::default();
    // (name, body, then the bounds of: the response, parse_detail, the public
    // Status::from_detail(&MachineInfo) which copies, the whole wire -> Status path).
    // Response: reason, header list, 3 names + 3 values, body. The rest are the strings
    // MachineInfo keeps (name, firmware, addresses, slots' materials and colours ...), its
    // tool and slot lists, the message, and the boxes of Body::Detail and Output::Status.
    for (name, body, [max_response, max_body, max_from_ref, max_total]) in [
        ("AD5X real", DETAIL_AD5X, [9, 20, 10, 33]),
        ("C5 Pro real", DETAIL_C5_PRO, [9, 18, 11, 31]),
        ("5M Pro printing", DETAIL_5M_PRO_PRINTING, [9, 14, 3, 27]),
    ] {
        let wire = http_response(body);
        let response = || {
            let mut p: ResponseParser = ResponseParser::new(&cfg);
            let pr = p.feed(&wire).unwrap();
            assert_eq!(pr.consumed, wire.len());
            match pr.event {
                Some(ResponseEvent::Complete(r)) => r,
                other => panic!("{other:?}"),
            }
        };
        check(
            &format!("/detail {name}: response head+body"),
            max_response,
            response,
        );
        let info = check(&format!("/detail {name}: parse_detail"), max_body, || {
            http::parse_detail(body).unwrap().into_result().unwrap()
        });
        check(
            &format!("/detail {name}: Status::from_detail"),
            max_from_ref,
            || flashforge_proto::client::Status::from_detail(&info),
        );
        let plan = || Plan::new(Op::Status, &target).unwrap();
        let st = check(
            &format!("/detail {name}: wire -> Status"),
            max_total,
            || {
                let r = response();
                let b = http::parse_response(ResponseKind::Detail, &r).unwrap();
                match plan().finish(vec![StepOutput::Http(b)]).unwrap() {
                    Output::Status(s) => s,
                    other => panic!("{other:?}"),
                }
            },
        );
        assert_eq!(st.model, info.model);
    }
}
