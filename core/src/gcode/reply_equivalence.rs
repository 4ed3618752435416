//! The single-pass parsers against the parsers they replaced (`reply::reference`,
//! `machine::reference`, kept verbatim): same `Ok` value or same error on every fixture reply
//! and on random mutations of them; and [`SimpleLines`] against [`lines`] wherever it applies.

use proptest::prelude::*;

use super::lines::{lines, simple, SimpleLines};
use super::{machine, reply, EndstopStatus, Position, PrintStatus, PrinterInfo, Temperatures};

/// Every `~M27`, `~M105`, `~M114`, `~M115` and `~M119` fixture reply.
fn fixtures() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tcp");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            ["m27_", "m105_", "m114_", "m115_", "m119_"]
                .iter()
                .any(|k| name.starts_with(k))
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    assert!(out.len() > 40, "{} fixtures", out.len());
    out
}

fn assert_same(bytes: &[u8]) {
    assert_eq!(
        Temperatures::parse(bytes),
        reply::reference::Temperatures::parse(bytes),
        "M105 {bytes:?}"
    );
    assert_eq!(
        PrintStatus::parse(bytes),
        reply::reference::PrintStatus::parse(bytes),
        "M27 {bytes:?}"
    );
    assert_eq!(
        Position::parse(bytes),
        reply::reference::Position::parse(bytes),
        "M114 {bytes:?}"
    );
    assert_eq!(
        EndstopStatus::parse(bytes),
        machine::reference::EndstopStatus::parse(bytes),
        "M119 {bytes:?}"
    );
    assert_eq!(
        PrinterInfo::parse(bytes),
        machine::reference::PrinterInfo::parse(bytes),
        "M115 {bytes:?}"
    );
    if let Some(text) = simple(bytes) {
        let general: Vec<String> = lines(bytes).map(|l| l.into_owned()).collect();
        assert_eq!(
            SimpleLines::new(text).collect::<Vec<_>>(),
            general,
            "{bytes:?}"
        );
    }
}

#[test]
fn fixtures_parse_as_before() {
    for f in fixtures() {
        assert_same(&f);
    }
}

/// Pieces that steer a mutation into the parsers' interesting branches.
const SNIPPETS: &[&str] = &[
    "echo:",
    "ack: \"",
    "\"",
    "ECHO: ",
    "SD printing byte ",
    "Layer:",
    "T1:",
    "T:",
    "T):",
    "B:",
    "C:",
    "X:",
    "Y:",
    "Z:",
    "E:",
    " ",
    "/",
    "\r\n",
    "\r",
    "\n",
    "Endstop ",
    "X-max:",
    "MachineStatus:",
    "MoveMode:",
    "Status S:",
    "LED:",
    "LEDStatus: on",
    "CurrentFile:",
    "Machine Type:",
    "Firmware:",
    "SN:",
    "Tool Count:",
    "Mac Address:",
    "X: 1 Y: 2 Z: 3",
    "1e5",
    "+7",
    "-0.5",
    "99999999999999999999",
    "\u{a0}",
    "\u{85}",
    "caf\u{e9}",
    "\t",
    "\x0b",
];

fn mutation() -> impl Strategy<Value = (usize, Vec<(prop::sample::Index, u8, u8, usize)>)> {
    (
        0usize..1000,
        proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..4,
                any::<u8>(),
                0..SNIPPETS.len(),
            ),
            0..8,
        ),
    )
}

fn apply(base: &[u8], edits: &[(prop::sample::Index, u8, u8, usize)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for (at, op, byte, snippet) in edits {
        let i = at.index(v.len() + 1);
        match op {
            0 if i < v.len() => {
                v.remove(i);
            }
            1 => v.insert(i, *byte),
            2 if i < v.len() => v[i] = *byte,
            _ => {
                let s = SNIPPETS[*snippet].as_bytes();
                v.splice(i..i, s.iter().copied());
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mutated_fixtures_parse_as_before((pick, edits) in mutation()) {
        let all = fixtures();
        let base = &all[pick % all.len()];
        assert_same(&apply(base, &edits));
    }
}
