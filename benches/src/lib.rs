//! Inputs shared by the benchmarks and the allocation test: real printer replies copied from
//! the fixtures, plus a 1,000-file M661 list and a 60 KiB M662 thumbnail built to the spec.

#![forbid(unsafe_code)]

use flashforge_proto::printer::{ENTRY_TAG, LIST_TAG, PNG_SIGNATURE, THUMB_TAG};

/// `~M105` from a 5M (fixture `m105_t0_bed_heaters.txt`).
pub const M105: &[u8] = include_bytes!("../../core/tests/data/tcp/m105_t0_bed_heaters.txt");
/// `~M119` while printing (fixture `m119_building_from_sd.txt`).
pub const M119: &[u8] = include_bytes!("../../core/tests/data/tcp/m119_building_from_sd.txt");
/// `~M27` with bytes and layers (fixture `m27_bytes_and_layers.txt`).
pub const M27: &[u8] = include_bytes!("../../core/tests/data/tcp/m27_bytes_and_layers.txt");
/// `~M115` from a real Adventurer 3C Pro (fixture `m115_a3c_pro_real_blank_lines.txt`).
pub const M115: &[u8] =
    include_bytes!("../../core/tests/data/tcp/m115_a3c_pro_real_blank_lines.txt");
/// `~M114` (fixture `m114_a3_client.txt`).
pub const M114: &[u8] = include_bytes!("../../core/tests/data/tcp/m114_a3_client.txt");

/// A modern `~M661` reply listing `n` files with realistic names.
pub fn m661(n: usize) -> Vec<u8> {
    let mut v = b"CMD M661 Received.\r\nok\r\n".to_vec();
    v.extend_from_slice(&LIST_TAG);
    v.extend_from_slice(&(n as u32).to_be_bytes());
    for i in 0..n {
        let path = format!("/data/Benchy {i} (PLA) 1h{:02}m.gcode", i % 60);
        v.extend_from_slice(&ENTRY_TAG);
        v.extend_from_slice(&(path.len() as u32).to_be_bytes());
        v.extend_from_slice(path.as_bytes());
    }
    v
}

/// A modern `~M662` reply carrying a `size`-byte PNG (valid chunk structure).
pub fn m662(size: usize) -> Vec<u8> {
    let mut png = PNG_SIGNATURE.to_vec();
    let chunk = |png: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&[0; 4]);
    };
    chunk(
        &mut png,
        b"IHDR",
        &[0, 0, 0, 128, 0, 0, 0, 128, 8, 6, 0, 0, 0],
    );
    let idat = size.saturating_sub(png.len() + 12 + 12);
    chunk(&mut png, b"IDAT", &vec![0x5a; idat]);
    chunk(&mut png, b"IEND", &[]);
    let mut v = b"CMD M662 Received.\r\nok\r\n".to_vec();
    v.extend_from_slice(&THUMB_TAG);
    v.extend_from_slice(&(png.len() as u32).to_be_bytes());
    v.extend_from_slice(&png);
    v
}

/// `/detail` from a real AD5X, firmware 1.1.3 (fixture `detail_ad5x_real_1_1_3.json`).
pub const DETAIL_AD5X: &[u8] =
    include_bytes!("../../core/tests/data/http/detail_ad5x_real_1_1_3.json");
/// `/detail` from a live Creator 5 Pro, firmware 1.9.2 (fixture `detail_creator5_pro_live_1_9_2.json`).
pub const DETAIL_C5_PRO: &[u8] =
    include_bytes!("../../core/tests/data/http/detail_creator5_pro_live_1_9_2.json");
/// `/detail` of a printing 5M Pro as the emulator renders it (every key of http.md §3.1).
pub const DETAIL_5M_PRO_PRINTING: &[u8] =
    include_bytes!("../../core/tests/data/http/detail_emulator_5m_pro_printing.json");

/// `body` as a whole `HTTP/1.1 200` response with `Content-Length`, as cpp-httplib sends it.
pub fn http_response(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: appliation/json\r\nContent-Length: {}\r\nKeep-Alive: timeout=5, max=5\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The command line of a bench binary run by `cargo bench -- …`: `--name value` options and
/// flags, every mistake an exit with status 2 and a message that names the bench.
pub struct Options {
    bench: &'static str,
    args: std::vec::IntoIter<String>,
}

impl Options {
    /// The process's arguments after the program name.
    pub fn from_env(bench: &'static str) -> Self {
        Self::new(bench, std::env::args().skip(1).collect())
    }

    /// `args` as given.
    pub fn new(bench: &'static str, args: Vec<String>) -> Self {
        Self {
            bench,
            args: args.into_iter(),
        }
    }

    /// The next option's name. `--bench` (which cargo passes to every bench binary) is
    /// skipped and `--list` exits at once, as cargo's listing expects of a bench.
    pub fn next_name(&mut self) -> Option<String> {
        loop {
            match self.args.next()?.as_str() {
                "--bench" => continue,
                "--list" => std::process::exit(0),
                name => return Some(name.to_owned()),
            }
        }
    }

    /// The value of option `name`, parsed; `what` says what it must be.
    pub fn value<T: std::str::FromStr>(&mut self, name: &str, what: &str) -> T {
        let v = self.text(name);
        v.parse()
            .unwrap_or_else(|_| self.fail(&format!("{name}: {what}, not {v:?}")))
    }

    /// A comma-separated list of values of option `name`.
    pub fn list<T: std::str::FromStr>(&mut self, name: &str, what: &str) -> Vec<T> {
        let v = self.text(name);
        v.split(',')
            .map(|x| {
                x.parse()
                    .unwrap_or_else(|_| self.fail(&format!("{name}: {what}, not {v:?}")))
            })
            .collect()
    }

    /// The text of option `name`.
    pub fn text(&mut self, name: &str) -> String {
        self.args
            .next()
            .unwrap_or_else(|| self.fail(&format!("{name} needs a value")))
    }

    /// Exit 2 with `msg`.
    pub fn fail(&self, msg: &str) -> ! {
        eprintln!("{} bench: {msg}", self.bench);
        std::process::exit(2)
    }
}
