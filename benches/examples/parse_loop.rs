//! A tiny loop over one reply parser, for instruction counts under callgrind, where wall time
//! is too noisy: `valgrind --tool=callgrind target/release/examples/parse_loop M27 100000`
//! (instructions per parse = total / iterations, minus the start-up counted with 0).

use std::hint::black_box;

use flashforge_benches::{M105, M114, M115, M119, M27};
use flashforge_proto::gcode::{EndstopStatus, Position, PrintStatus, PrinterInfo, Temperatures};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "M27".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    for _ in 0..n {
        match which.as_str() {
            "M105" => drop(black_box(Temperatures::parse(black_box(M105)))),
            "M27" => drop(black_box(PrintStatus::parse(black_box(M27)))),
            "M114" => drop(black_box(Position::parse(black_box(M114)))),
            "M119" => drop(black_box(EndstopStatus::parse(black_box(M119)))),
            "M115" => drop(black_box(PrinterInfo::parse(black_box(M115)))),
            other => panic!("unknown reply {other}"),
        }
    }
}
