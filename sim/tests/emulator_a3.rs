//! The simulated Adventurer 3 answers in Shape B by default, byte for byte as the emulator's A3
//! does (`captures/emulator/adventurer-3/tcp_*`, see `captures/emulator/README.md`): every TCP
//! capture's request is sent in the state the emulator was in and the reply compared. Shape A
//! stays selectable.

#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_sim::{
    A3Shape, FileMeta, Job, PrinterSpec, SimPrinter, Status, StoredFile, TcpSession,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/emulator/adventurer-3")
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The 79-byte PNG the emulator extracted from `cap_test.gcode`, as its `~M662` sent it.
fn capture_png() -> Vec<u8> {
    let resp = read("tcp_M662.resp");
    let text = b"ack header length: 87\n";
    let at = resp
        .windows(text.len())
        .position(|w| w == text)
        .expect("M662 header")
        + text.len();
    assert_eq!(&resp[at..at + 4], b"\xA2\xA2\x2A\x2A");
    let len = u32::from_be_bytes(resp[at + 4..at + 8].try_into().unwrap()) as usize;
    assert_eq!(len, 79);
    resp[at + 8..at + 8 + len].to_vec()
}

/// The emulator instance's identity and state (captures/emulator/README.md): one stored file,
/// LED off, the idle readings of `tcp_M105`, a frozen clock.
fn emulator_a3(shape: A3Shape) -> SimPrinter {
    let mut spec = PrinterSpec::new(Model::Adventurer3);
    spec.name = "Emu a3".into();
    spec.firmware = "v1.4.0".into();
    spec.serial = "SN-a3".into();
    spec.mac = "00:11:22:33:44:55".into();
    spec.speed = 0.0;
    spec.a3_shape = shape;
    let mut p = SimPrinter::new(spec, Instant::now());
    p.files.clear();
    p.recent.clear();
    p.files.insert(
        "cap_test.gcode".into(),
        StoredFile {
            size: 1152,
            sha256: [0; 32],
            data: None,
            thumbnail: Some(Arc::from(capture_png())),
            meta: FileMeta::default(),
        },
    );
    p.led = false;
    p.nozzles[0].current = 13.0;
    p.bed.current = 19.0;
    p
}

/// The emulator's frozen "printing" snapshot: 47 %, at temperature, LED on.
fn printing(p: &mut SimPrinter) {
    p.status = Status::Printing;
    p.job = Some(Job {
        file: "cap_test.gcode".into(),
        elapsed: Duration::from_secs(470),
        total: Duration::from_secs(1000),
        layers: 240,
        leveling: false,
    });
    p.nozzles[0].current = 220.0;
    p.nozzles[0].target = 220.0;
    p.bed.current = 60.0;
    p.bed.target = 60.0;
    p.led = true;
}

/// One connection: bytes in, everything the printer answered out.
struct Conn(TcpSession);

impl Conn {
    fn new() -> Self {
        Self(TcpSession::new(1, Instant::now()))
    }

    fn send(&mut self, p: &mut SimPrinter, bytes: &[u8]) -> Vec<u8> {
        self.0.handle_bytes(p, bytes, Instant::now());
        std::iter::from_fn(|| self.0.poll_output())
            .flatten()
            .collect()
    }

    fn line(&mut self, p: &mut SimPrinter, line: &str) -> Vec<u8> {
        self.send(p, format!("{line}\n").as_bytes())
    }
}

/// How to reach the state a capture was taken in: log in (or not), commands sent before, state
/// set directly.
struct Setup {
    login: bool,
    before: &'static [&'static str],
    state: fn(&mut SimPrinter),
}

const IDLE: Setup = Setup {
    login: true,
    before: &[],
    state: |_| {},
};

fn setup(capture: &str) -> Setup {
    const M23: &str = "~M23 /data/cap_test.gcode";
    fn after(before: &'static [&'static str]) -> Setup {
        Setup { before, ..IDLE }
    }
    match capture {
        "tcp_M115_before_login" | "tcp_M601_S1" => Setup {
            login: false,
            ..IDLE
        },
        "tcp_M119_after_M23" | "tcp_M25_pause" => after(&[M23]),
        "tcp_M24_resume" => after(&[M23, "~M25"]),
        "tcp_M26_cancel" => after(&[M23, "~M25", "~M24"]),
        "tcp_M119_after_cancel" => after(&[M23, "~M25", "~M24", "~M26"]),
        c if c.ends_with("_printing") => Setup {
            state: printing,
            ..IDLE
        },
        _ => IDLE,
    }
}

/// Every `tcp_*` capture's name.
fn captures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".req").map(str::to_owned)
        })
        .filter(|n| n.starts_with("tcp_"))
        .collect();
    names.sort();
    names
}

/// The reply to `capture`'s request on a fresh printer of `shape`, in the capture's state.
fn replay(capture: &str, shape: A3Shape) -> (Vec<u8>, SimPrinter) {
    let mut p = emulator_a3(shape);
    let mut c = Conn::new();
    let s = setup(capture);
    if s.login {
        assert!(!c.line(&mut p, "~M601 S1").is_empty());
    }
    for l in s.before {
        c.line(&mut p, l);
    }
    (s.state)(&mut p);
    let reply = c.send(&mut p, &read(&format!("{capture}.req")));
    (reply, p)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).escape_debug().to_string()
}

#[test]
fn shape_b_is_the_default() {
    assert_eq!(
        PrinterSpec::new(Model::Adventurer3).a3_shape,
        A3Shape::ShapeB
    );
    assert_eq!(A3Shape::default(), A3Shape::ShapeB);
}

#[test]
fn shape_b_replies_are_byte_exact_with_every_emulator_capture() {
    let names = captures();
    assert_eq!(names.len(), 27, "{names:?}");
    let mut wrong = Vec::new();
    for name in &names {
        let (got, _) = replay(name, A3Shape::ShapeB);
        let want = read(&format!("{name}.resp"));
        if got != want {
            wrong.push(format!(
                "{name}:\n  sim: {}\n  emu: {}",
                show(&got),
                show(&want)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn shape_b_job_control_moves_the_machine_as_the_captures_imply() {
    // `~M23` opens and starts the file: BUSY (heating) right after.
    let (_, p) = replay("tcp_M119_after_M23", A3Shape::ShapeB);
    assert_eq!(p.status, Status::Heating);
    assert_eq!(p.job.as_ref().unwrap().file, "cap_test.gcode");
    let (_, p) = replay("tcp_M25_pause", A3Shape::ShapeB);
    assert_eq!(p.status, Status::Paused);
    let (_, p) = replay("tcp_M24_resume", A3Shape::ShapeB);
    assert_eq!(p.status, Status::Heating);
    let (_, p) = replay("tcp_M26_cancel", A3Shape::ShapeB);
    assert_eq!(p.status, Status::Cancelled);
    let (_, p) = replay("tcp_M146_on", A3Shape::ShapeB);
    assert!(p.led);
    let (_, p) = replay("tcp_M146_off", A3Shape::ShapeB);
    assert!(!p.led);
    // A missing file opens with size 0 and starts nothing.
    let mut p = emulator_a3(A3Shape::ShapeB);
    let mut c = Conn::new();
    c.line(&mut p, "~M601 S1");
    assert_eq!(
        c.line(&mut p, "~M23 /data/nope.gcode"),
        b"File opened: /data/nope.gcode Size: 0\nDone printing file\nok\n"
    );
    assert_eq!(p.status, Status::Ready);
    // The text file list when nothing is stored.
    p.files.clear();
    assert_eq!(c.line(&mut p, "~M661"), b"CMD M661 Error.\n");
    // Unknown commands sent without the tilde are echoed without it.
    assert_eq!(c.line(&mut p, "M999"), b"CMD M999 Received.\nok\n");
}

#[test]
fn shape_b_keeps_the_legacy_upload() {
    let mut p = emulator_a3(A3Shape::ShapeB);
    let mut c = Conn::new();
    c.line(&mut p, "~M601 S1");
    assert_eq!(
        c.line(&mut p, "~M28 5 0:/user/up.gcode"),
        b"CMD M28 Received.\n/data/up.gcode\n"
    );
    assert_eq!(c.send(&mut p, b"G28\n\n"), b"");
    assert_eq!(c.line(&mut p, "~M29"), b"CMD M29 Received.\nok\n");
    assert_eq!(p.files["up.gcode"].data.as_deref(), Some(&b"G28\n\n"[..]));
    // `~M23` + `~M24`, as the reference A3 clients start a file, works too.
    c.line(&mut p, "~M23 /data/up.gcode");
    c.line(&mut p, "~M24");
    assert_eq!(p.job.as_ref().unwrap().file, "up.gcode");
    assert_eq!(p.status, Status::Heating);
}

#[test]
fn shape_a_stays_selectable() {
    let mut p = emulator_a3(A3Shape::ShapeA);
    let mut c = Conn::new();
    assert_eq!(c.line(&mut p, "~M601 S1"), b"CMD M601 Received.\nok\n");
    let m115 = c.line(&mut p, "~M115");
    assert!(m115.starts_with(b"CMD M115 Received.\n"), "{}", show(&m115));
    assert!(m115.ends_with(b"\nok\n"), "{}", show(&m115));
    let m119 = c.line(&mut p, "~M119");
    assert!(
        m119.starts_with(b"CMD M119 Received.\necho: Endstop:"),
        "{}",
        show(&m119)
    );
    assert!(m119.ends_with(b"\nok\n"), "{}", show(&m119));
    assert_eq!(c.line(&mut p, "~M105"), b"ok T0:13/0 B:19/0\r\n");
    assert_eq!(
        c.line(&mut p, "~M27"),
        b"ack: \"SD printing byte 0/100\r\n\"\n"
    );
    // `~M23` only selects; `~M24` starts.
    c.line(&mut p, "~M23 /data/cap_test.gcode");
    assert_eq!(p.status, Status::Ready);
    assert_eq!(c.line(&mut p, "~M24"), b"ack: \"M24\"\n");
    assert_eq!(p.status, Status::Heating);
    assert_eq!(c.line(&mut p, "~M25"), b"ack: \"M25\"\n");
    assert_eq!(c.line(&mut p, "~M26"), b"CMD M26 Received.\n");
    assert_eq!(c.line(&mut p, "~M999"), b"CMD M999 Received.\nok\n");
    assert_eq!(
        c.line(&mut p, "~M602"),
        b"CMD M602 Received.\nControl Release.\nok\n"
    );

    // The shapes differ exactly where the captures say Shape B does.
    for name in [
        "tcp_M115",
        "tcp_M119",
        "tcp_M105",
        "tcp_M601_S1",
        "tcp_M24_resume",
    ] {
        let (got, _) = replay(name, A3Shape::ShapeA);
        assert_ne!(got, read(&format!("{name}.resp")), "{name}");
    }
    // … and agree where the A3 forms were already the emulator's.
    for name in [
        "tcp_M146_on",
        "tcp_M661",
        "tcp_M662",
        "tcp_M662_missing",
        "tcp_G28",
        "tcp_M104_S0",
        "tcp_M115_before_login",
    ] {
        let (got, _) = replay(name, A3Shape::ShapeA);
        assert_eq!(show(&got), show(&read(&format!("{name}.resp"))), "{name}");
    }
}
