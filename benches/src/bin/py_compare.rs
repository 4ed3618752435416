//! Our half of `benches/python/compare.sh`, the side-by-side with the Python reference client
//! (`flashforge-python-api`). Three subcommands, all JSON on stdout:
//!
//! - `inputs DIR`: write the benchmark inputs (the real replies of `flashforge_benches`) to
//!   files, so the Python side reads exactly the same bytes.
//! - `parse DIR`: read those files back, report what our parsers extract from each (for the
//!   value check) and time each parser timeit-style (autorange to >= 0.2 s per repeat, median
//!   and minimum of 7 repeats, warm).
//! - `serve --tcp ADDR --http ADDR --serial SN --check-code CODE`: round trips against a
//!   running simulator, driven line by line from stdin so that `compare.py` can interleave
//!   batches with the Python client's (`http N`, `thumb N FILE`, `tcp-open`, `m105 N`,
//!   `tcp-status N`, `files N`, `tcp-close`, `rss`, `quit`). Each batch answers one JSON line: per-call wall times and the
//!   process's CPU time over the batch (`/proc/self/task/*/schedstat`, all threads, ns).

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{BufRead, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use flashforge_benches::{m661, m662, DETAIL_5M_PRO_PRINTING, DETAIL_AD5X, DETAIL_C5_PRO};
use flashforge_benches::{M105, M114, M115, M119, M27};
use flashforge_proto::gcode::{
    self, BinaryLimits, EndstopStatus, MachineStatus, MoveMode, Position, PrintStatus, PrinterInfo,
    Reply, ReplyKind, Temperatures,
};
use flashforge_proto::http;

/// Input files: name, bytes. `compare.py` knows the same names.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("m105.txt", M105.to_vec()),
        ("m27.txt", M27.to_vec()),
        ("m119.txt", M119.to_vec()),
        ("m115.txt", M115.to_vec()),
        ("m114.txt", M114.to_vec()),
        ("m661_1000.bin", m661(1000)),
        ("m662_60k.bin", m662(60 * 1024)),
        ("detail_ad5x.json", DETAIL_AD5X.to_vec()),
        ("detail_c5_pro.json", DETAIL_C5_PRO.to_vec()),
        (
            "detail_5m_pro_printing.json",
            DETAIL_5M_PRO_PRINTING.to_vec(),
        ),
    ]
}

// ---- a little JSON writer (no serde in this crate) ----

fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn jopt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

fn jf(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn jfopt(v: Option<f64>) -> String {
    v.map_or_else(|| "null".into(), jf)
}

fn jsopt(v: Option<&str>) -> String {
    v.map_or_else(|| "null".into(), js)
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// The Python client's enum names, so the value check compares like with like.
fn machine_status(m: &Option<MachineStatus>) -> String {
    match m {
        Some(MachineStatus::BuildingFromSd) => js("BUILDING_FROM_SD"),
        Some(MachineStatus::BuildingCompleted) => js("BUILDING_COMPLETED"),
        Some(MachineStatus::Paused) => js("PAUSED"),
        Some(MachineStatus::Ready) => js("READY"),
        Some(MachineStatus::Busy) => js("BUSY"),
        Some(MachineStatus::Unknown(s)) => js(s),
        None => "null".into(),
    }
}

fn move_mode(m: &Option<MoveMode>) -> String {
    match m {
        Some(MoveMode::Moving) => js("MOVING"),
        Some(MoveMode::Paused) => js("PAUSED"),
        Some(MoveMode::Ready) => js("READY"),
        Some(MoveMode::WaitOnTool) => js("WAIT_ON_TOOL"),
        Some(MoveMode::Homing) => js("HOMING"),
        Some(MoveMode::Unknown(s)) => js(s),
        None => "null".into(),
    }
}

// ---- parsers: one call each, and the values they extract ----

type ParseFn = fn(&[u8]) -> bool;

fn parser(name: &str) -> ParseFn {
    match name {
        "m105.txt" => |b| Temperatures::parse(b).is_ok(),
        "m27.txt" => |b| PrintStatus::parse(b).is_ok(),
        "m119.txt" => |b| EndstopStatus::parse(b).is_ok(),
        "m115.txt" => |b| PrinterInfo::parse(b).is_ok(),
        "m114.txt" => |b| Position::parse(b).is_ok(),
        "m661_1000.bin" => |b| {
            black_box(gcode::parse_reply(
                ReplyKind::FileList,
                b,
                &BinaryLimits::default(),
            ))
            .is_ok()
        },
        "m662_60k.bin" => |b| {
            black_box(gcode::parse_reply(
                ReplyKind::Thumbnail,
                b,
                &BinaryLimits::default(),
            ))
            .is_ok()
        },
        _ => |b| black_box(http::parse_detail(b)).is_ok(),
    }
}

/// What our parser extracts, as JSON, or the error.
fn values(name: &str, b: &[u8]) -> Result<String, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    Ok(match name {
        "m105.txt" => {
            let t = Temperatures::parse(b).map_err(|x| e(&x))?;
            let tools: Vec<String> = t
                .tools()
                .iter()
                .map(|t| format!("[{},{}]", jf(t.current), jfopt(t.target)))
                .collect();
            let bed = t.bed.map_or("null".into(), |r| {
                format!("[{},{}]", jf(r.current), jfopt(r.target))
            });
            format!(r#"{{"tools":[{}],"bed":{bed}}}"#, tools.join(","))
        }
        "m27.txt" => {
            let p = PrintStatus::parse(b).map_err(|x| e(&x))?;
            format!(
                r#"{{"sd_current":{},"sd_total":{},"layer_current":{},"layer_total":{}}}"#,
                p.sd_current,
                p.sd_total,
                jopt(p.layer_current),
                jopt(p.layer_total)
            )
        }
        "m119.txt" => {
            let s = EndstopStatus::parse(b).map_err(|x| e(&x))?;
            let ends: Vec<String> = s
                .endstops
                .iter()
                .map(|(k, v)| format!("{}:{v}", js(k)))
                .collect();
            let flags = s.status_flags.as_ref().map_or("null".into(), |f| {
                format!("[{},{},{},{}]", jopt(f.S), jopt(f.L), jopt(f.J), jopt(f.F))
            });
            format!(
                r#"{{"endstops":{{{}}},"machine_status":{},"move_mode":{},"status":{flags},"led":{},"current_file":{}}}"#,
                ends.join(","),
                machine_status(&s.machine_status),
                move_mode(&s.move_mode),
                s.led_on,
                jsopt(s.current_file.as_deref())
            )
        }
        "m115.txt" => {
            let i = PrinterInfo::parse(b).map_err(|x| e(&x))?;
            format!(
                r#"{{"machine_type":{},"machine_name":{},"firmware":{},"serial":{},"tool_count":{},"mac":{},"dimensions":{}}}"#,
                js(&i.machine_type),
                jsopt(i.machine_name.as_deref()),
                js(&i.firmware),
                jsopt(i.serial_number.as_deref()),
                jopt(i.tool_count),
                jsopt(i.mac_address.as_deref()),
                jsopt(i.dimensions.as_deref())
            )
        }
        "m114.txt" => {
            let p = Position::parse(b).map_err(|x| e(&x))?;
            format!(r#"{{"x":{},"y":{},"z":{}}}"#, jf(p.x), jf(p.y), jf(p.z))
        }
        "m661_1000.bin" => {
            match gcode::parse_reply(ReplyKind::FileList, b, &BinaryLimits::default())
                .map_err(|x| e(&x))?
                .complete()
            {
                Some(Reply::FileList(l)) => {
                    let names: Vec<String> = l.names().map(js).collect();
                    format!(r#"{{"names":[{}]}}"#, names.join(","))
                }
                _ => return Err("not a complete file list".into()),
            }
        }
        "m662_60k.bin" => {
            match gcode::parse_reply(ReplyKind::Thumbnail, b, &BinaryLimits::default())
                .map_err(|x| e(&x))?
                .complete()
            {
                Some(Reply::Thumbnail(t)) => {
                    let n = t.image.len();
                    format!(
                        r#"{{"image_len":{n},"head":{},"tail":{}}}"#,
                        js(&hex(&t.image[..n.min(16)])),
                        js(&hex(&t.image[n.saturating_sub(16)..]))
                    )
                }
                _ => return Err("not a complete thumbnail".into()),
            }
        }
        _ => {
            let r = http::parse_detail(b).map_err(|x| e(&x))?;
            let d = r.into_result().map_err(|x| e(&x))?;
            let t = |t: &http::Temperature| format!("[{},{}]", jfopt(t.current), jfopt(t.target));
            let tools: Vec<String> = d.tools.iter().map(t).collect();
            format!(
                r#"{{"name":{},"firmware":{},"status":{},"extruder":{},"bed":{},"chamber":{},"tools":[{}],"progress":{},"layer":{},"total_layers":{},"file":{},"ip":{},"mac":{}}}"#,
                js(&d.name),
                js(&d.firmware_version),
                js(&d.status),
                t(&d.extruder),
                t(&d.bed),
                d.chamber.as_ref().map_or("null".into(), t),
                tools.join(","),
                jf(d.progress),
                d.layer,
                d.total_layers,
                js(&d.print_file_name),
                js(&d.ip_address),
                js(&d.mac_address)
            )
        }
    })
}

/// `timeit`'s method: find a loop count that takes >= 0.2 s (1, 2, 5, 10, 20, 50, ...), then
/// time that many calls `repeats` times. Returns (number, per-call ns of each repeat).
fn timeit(f: impl Fn() -> bool, repeats: usize) -> (u64, Vec<f64>) {
    let run = |n: u64| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        t.elapsed()
    };
    let mut number = 1u64;
    'find: loop {
        for m in [1, 2, 5] {
            let n = number * m;
            if run(n) >= Duration::from_millis(200) {
                number = n;
                break 'find;
            }
        }
        number *= 10;
    }
    let per: Vec<f64> = (0..repeats)
        .map(|_| run(number).as_nanos() as f64 / number as f64)
        .collect();
    (number, per)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn cmd_inputs(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in inputs() {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

fn cmd_parse(dir: &Path, repeats: usize, only: Option<&str>) -> std::io::Result<()> {
    let mut out = Vec::new();
    for (name, _) in inputs() {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let bytes = std::fs::read(dir.join(name))?;
        let entry = match values(name, &bytes) {
            Err(err) => format!(
                r#"{}:{{"bytes":{},"error":{}}}"#,
                js(name),
                bytes.len(),
                js(&err)
            ),
            Ok(v) => {
                let f = parser(name);
                let (number, per) = timeit(|| f(black_box(&bytes)), repeats);
                let per_s: Vec<String> = per.iter().map(|x| format!("{x:.1}")).collect();
                format!(
                    r#"{}:{{"bytes":{},"values":{v},"number":{number},"ns_median":{:.1},"ns_min":{:.1},"ns_repeats":[{}]}}"#,
                    js(name),
                    bytes.len(),
                    median(&per),
                    per.iter().copied().fold(f64::INFINITY, f64::min),
                    per_s.join(",")
                )
            }
        };
        eprintln!("py_compare: parsed {name}");
        out.push(entry);
    }
    println!("{{{}}}", out.join(","));
    Ok(())
}

/// CPU time of every thread of this process, ns (user + system, scheduler accounting).
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| {
            let s = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
            s.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn batch(n: usize, mut f: impl FnMut() -> Result<String, String>) -> String {
    let mut lat = Vec::with_capacity(n);
    let mut last = String::from("null");
    let mut error = None;
    let cpu0 = process_cpu_ns();
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        lat.push(t.elapsed().as_nanos() as u64);
        match r {
            Ok(v) => last = v,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let cpu = process_cpu_ns() - cpu0;
    let lat: Vec<String> = lat.iter().map(u64::to_string).collect();
    format!(
        r#"{{"lat_ns":[{}],"cpu_ns":{cpu},"calls":{},"last":{last},"error":{}}}"#,
        lat.join(","),
        lat.len(),
        jsopt(error.as_deref())
    )
}

fn temps_json(t: &flashforge_blocking::Temps) -> String {
    let first = t.tools.first();
    format!(
        r#"{{"extruder":[{},{}],"bed":[{},{}]}}"#,
        jfopt(first.and_then(|t| t.current)),
        jfopt(first.and_then(|t| t.target)),
        jfopt(t.bed.as_ref().and_then(|t| t.current)),
        jfopt(t.bed.as_ref().and_then(|t| t.target))
    )
}

fn status_json(s: &flashforge_blocking::Status) -> String {
    format!(
        r#"{{"state":{},"temps":{},"layer":{},"file":{}}}"#,
        js(&s.state_raw),
        temps_json(&s.temperatures),
        jopt(s.layer),
        jsopt(s.file.as_deref())
    )
}

fn cmd_serve(tcp: SocketAddr, http_addr: SocketAddr, serial: &str, code: &str) {
    use flashforge_blocking::{Credentials, Endpoint, LegacyPrinter, Printer};
    let ep = Endpoint::new(tcp.ip()).with_ports(tcp.port(), http_addr.port());
    let creds = Credentials::new(serial, code).expect("credentials");
    let printer = Printer::connect(ep, creds).expect("connect over HTTP");
    let mut legacy: Option<LegacyPrinter> = None;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    println!(
        r#"{{"ready":true,"model":{}}}"#,
        js(&printer.model().to_string())
    );
    stdout.flush().ok();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        // `COMMAND [N [ARGUMENT, the rest of the line: file names have spaces]]`
        let mut words = line.splitn(3, ' ');
        let cmd = words.next().unwrap_or("").trim();
        let n: usize = words
            .next()
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        let arg = words.next().unwrap_or("").trim_end_matches(['\r', '\n']);
        let reply = match cmd {
            "http" => batch(n, || {
                printer
                    .status()
                    .map(|s| status_json(&s))
                    .map_err(|e| e.to_string())
            }),
            "thumb" => batch(n, || {
                printer
                    .thumbnail(arg)
                    .map(|t| format!(r#"{{"image_len":{}}}"#, t.image.len()))
                    .map_err(|e| e.to_string())
            }),
            "tcp-open" => match LegacyPrinter::connect(ep) {
                Ok(p) => {
                    legacy = Some(p);
                    r#"{"ok":true}"#.into()
                }
                Err(e) => format!(r#"{{"ok":false,"error":{}}}"#, js(&e.to_string())),
            },
            "tcp-close" => {
                if let Some(p) = legacy.take() {
                    p.close();
                }
                r#"{"ok":true}"#.into()
            }
            "m105" | "tcp-status" | "files" => match &legacy {
                None => r#"{"error":"tcp-open first"}"#.into(),
                Some(p) if cmd == "files" => batch(n, || {
                    p.files()
                        .map(|f| {
                            let names: Vec<String> = f.iter().map(|n| js(n)).collect();
                            format!("[{}]", names.join(","))
                        })
                        .map_err(|e| e.to_string())
                }),
                Some(p) if cmd == "m105" => batch(n, || {
                    p.temperatures()
                        .map(|t| temps_json(&t))
                        .map_err(|e| e.to_string())
                }),
                Some(p) => batch(n, || {
                    p.status()
                        .map(|s| status_json(&s))
                        .map_err(|e| e.to_string())
                }),
            },
            // Peak resident set of this process (`VmHWM`), KiB.
            "rss" => format!(r#"{{"vm_hwm_kib":{}}}"#, jopt(vm_hwm_kib())),
            "quit" | "" => break,
            other => format!(r#"{{"error":{}}}"#, js(&format!("unknown command {other}"))),
        };
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    if let Some(p) = legacy.take() {
        p.close();
    }
    printer.close();
}

fn usage() -> ! {
    eprintln!(
        "usage: py_compare inputs DIR | parse DIR [--repeats N] [--only FILE] | \
         serve --tcp ADDR --http ADDR --serial SN --check-code CODE"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    match args.first().map(String::as_str) {
        Some("inputs") => {
            let dir = args.get(1).unwrap_or_else(|| usage());
            cmd_inputs(Path::new(dir)).expect("write inputs");
        }
        Some("parse") => {
            let dir = args.get(1).unwrap_or_else(|| usage());
            let repeats = opt("--repeats").and_then(|r| r.parse().ok()).unwrap_or(7);
            cmd_parse(Path::new(dir), repeats, opt("--only")).expect("read inputs");
        }
        Some("serve") => {
            let addr = |n| {
                opt(n)
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                    .unwrap_or_else(|| usage())
            };
            let (tcp, http_addr) = (addr("--tcp"), addr("--http"));
            if !tcp.ip().is_loopback() || !http_addr.ip().is_loopback() {
                eprintln!("py_compare: loopback addresses only");
                std::process::exit(2);
            }
            let serial = opt("--serial").unwrap_or_else(|| usage());
            let code = opt("--check-code").unwrap_or_else(|| usage());
            cmd_serve(tcp, http_addr, serial, code);
        }
        _ => usage(),
    }
}
