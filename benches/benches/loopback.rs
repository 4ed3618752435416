//! End-to-end figures against `flashforge-sim` on 127.0.0.1 (a bench binary, not criterion:
//! it reports p99 and per-request client CPU, which criterion does not).
//!
//! `cargo bench -p flashforge-benches --bench loopback` (set `FF_BENCH_QUICK=1` for a short run).
//!
//! Client CPU is the calling thread's on-CPU time from `/proc/thread-self/schedstat` (ns): the
//! simulator runs on its own threads, so only the client's work (core + adapter + syscalls)
//! is counted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use flashforge_conformance::{credentials, endpoint, sim_with, Pattern};
use flashforge_proto::Model;
use sha2::{Digest, Sha256};

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Figures {
    median: Duration,
    p99: Duration,
    cpu: Duration,
}

/// Run `f` `n` times after a warm-up; latency percentiles and mean client CPU per call.
fn measure(n: usize, mut f: impl FnMut()) -> Figures {
    for _ in 0..n / 10 + 1 {
        f();
    }
    let mut lat = Vec::with_capacity(n);
    let cpu0 = thread_cpu_ns();
    for _ in 0..n {
        let t = Instant::now();
        f();
        lat.push(t.elapsed());
    }
    let cpu = Duration::from_nanos((thread_cpu_ns() - cpu0) / n as u64);
    lat.sort();
    Figures {
        median: lat[n / 2],
        p99: lat[n * 99 / 100],
        cpu,
    }
}

fn row(what: &str, f: &Figures) {
    println!(
        "| {what} | {:.1} µs | {:.1} µs | {:.1} µs |",
        f.median.as_secs_f64() * 1e6,
        f.p99.as_secs_f64() * 1e6,
        f.cpu.as_secs_f64() * 1e6
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var_os("FF_BENCH_QUICK").is_some();
    let n = if quick { 300 } else { 5000 };
    println!("| Round trip (loopback, simulator) | median | p99 | client CPU / request |");
    println!("|---|---|---|---|");

    // TCP ~M105 on an Adventurer 4.
    let a4 = sim_with(Model::Adventurer4, |_| {});
    let ep = endpoint(a4.printer());
    let p = flashforge_blocking::LegacyPrinter::connect(ep).unwrap();
    row(
        "TCP `~M105`, blocking",
        &measure(n, || {
            p.temperatures().unwrap();
        }),
    );
    drop(p);
    let raw = raw_tcp(ep.tcp());
    row(
        "TCP `~M105`, raw socket baseline",
        &measure(n, || raw.borrow_mut().m105()),
    );
    drop(raw); // frees the control lock
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = rt
        .block_on(flashforge_tokio::LegacyPrinter::connect(ep))
        .unwrap();
    row(
        "TCP `~M105`, tokio",
        &measure(n, || {
            rt.block_on(p.temperatures()).unwrap();
        }),
    );
    drop(p);

    // HTTP /detail on a 5M Pro (status = one /detail, parsed into the snapshot).
    let m5 = sim_with(Model::Adventurer5MPro, |_| {});
    let h = m5.printer();
    let p = flashforge_blocking::Printer::connect(endpoint(h), credentials(h)).unwrap();
    row(
        "HTTP `/detail` → `Status`, blocking",
        &measure(n, || {
            p.status().unwrap();
        }),
    );
    let pt = rt
        .block_on(flashforge_tokio::Printer::connect(
            endpoint(h),
            credentials(h),
        ))
        .unwrap();
    row(
        "HTTP `/detail` → `Status`, tokio",
        &measure(n, || {
            rt.block_on(pt.status()).unwrap();
        }),
    );

    let mut raw = RawHttp::new(h);
    row(
        "HTTP `/detail`, raw socket baseline (no parsing)",
        &measure(n, || raw.detail()),
    );

    // File list and thumbnail (the Python client waits out settle windows: 1.7 s / 2.0 s).
    {
        let mut s = h.lock();
        for i in 0..200 {
            s.store_file(&format!("part {i:03}.gcode"), b"G28\n");
        }
    }
    println!();
    println!("| Request | median | p99 |");
    println!("|---|---|---|");
    let m = if quick { 50 } else { 500 };
    let f = measure(m, || {
        assert!(p.files().unwrap().len() >= 200);
    });
    println!(
        "| file list, 200+ files (TCP `~M661`) | {:.2} ms | {:.2} ms |",
        ms(f.median),
        ms(f.p99)
    );
    let name = h.lock().files.keys().next().unwrap().clone();
    let f = measure(m, || {
        p.thumbnail(&name).unwrap();
    });
    println!(
        "| thumbnail (HTTP `/gcodeThumb`) | {:.2} ms | {:.2} ms |",
        ms(f.median),
        ms(f.p99)
    );
    let f = measure(m, || {
        p.gcode("~M115").unwrap();
    });
    println!(
        "| raw `~M115` over TCP | {:.2} ms | {:.2} ms |",
        ms(f.median),
        ms(f.p99)
    );

    // Upload throughput against a raw copy of the same bytes into a sink that does the same
    // per-byte work as the simulator (SHA-256).
    let size: u64 = if quick { 64 << 20 } else { 512 << 20 };
    let runs = if quick { 1 } else { 3 };
    let mut up = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        p.upload(
            "bench.gcode",
            size,
            Pattern::new(size),
            Default::default(),
            |_| {},
        )
        .unwrap();
        up.push(size as f64 / t.elapsed().as_secs_f64());
        raw.push(raw_copy(size));
    }
    up.sort_by(f64::total_cmp);
    raw.sort_by(f64::total_cmp);
    let (u, r) = (up[runs / 2], raw[runs / 2]);
    println!();
    println!(
        "| Upload of {} MiB (median of {runs}) | throughput |",
        size >> 20
    );
    println!("|---|---|");
    println!(
        "| `Printer::upload` (HTTP multipart, blocking) | {:.0} MiB/s |",
        u / 1048576.0
    );
    println!(
        "| raw socket copy into a SHA-256 sink | {:.0} MiB/s |",
        r / 1048576.0
    );
    println!("| ratio | {:.1} % |", u / r * 100.0);
}

/// The same exchange with nothing but a socket: the floor the kernel and the loopback set.
struct RawTcp(TcpStream, Vec<u8>);

fn raw_tcp(addr: std::net::SocketAddr) -> std::cell::RefCell<RawTcp> {
    let mut r = RawTcp(TcpStream::connect(addr).unwrap(), vec![0; 65536]);
    r.0.set_nodelay(true).unwrap();
    r.exchange(b"~M601 S1\n");
    std::cell::RefCell::new(r)
}

impl RawTcp {
    fn exchange(&mut self, line: &[u8]) {
        self.0.write_all(line).unwrap();
        let mut got = 0;
        loop {
            got += self.0.read(&mut self.1[got..]).unwrap();
            if self.1[..got].ends_with(b"ok\n") || self.1[..got].ends_with(b"ok\r\n") {
                return;
            }
        }
    }
    fn m105(&mut self) {
        self.exchange(b"~M105\n");
    }
}

struct RawHttp {
    sock: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl RawHttp {
    fn new(h: &flashforge_sim::SimHandle) -> Self {
        let ep = endpoint(h);
        let creds = credentials(h);
        let mut ex = flashforge_proto::http::HttpExchange::new(
            &flashforge_proto::http::Request::Detail,
            &ep.http_host(),
            &creds,
            &flashforge_proto::HttpConfig::default(),
            Instant::now(),
        )
        .unwrap();
        let mut request = Vec::new();
        while let Some(tx) = ex.poll_transmit() {
            request.extend_from_slice(&tx);
        }
        let sock = TcpStream::connect(ep.http()).unwrap();
        sock.set_nodelay(true).unwrap();
        Self {
            sock,
            request,
            buf: vec![0; 1 << 20],
        }
    }

    /// Write the request, read the head and `Content-Length` bytes of body.
    fn detail(&mut self) {
        self.sock.write_all(&self.request).unwrap();
        let mut got = 0;
        loop {
            got += self.sock.read(&mut self.buf[got..]).unwrap();
            let Some(end) = self.buf[..got].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&self.buf[..end])
                .unwrap()
                .to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while got < end + 4 + len {
                got += self.sock.read(&mut self.buf[got..]).unwrap();
            }
            return;
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Bytes per second of writing `size` pattern bytes to a loopback socket whose reader hashes
/// them, with the same 256 KiB chunks as the client.
fn raw_copy(size: u64) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        h.finalize()
    });
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    let mut src = Pattern::new(size);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).unwrap();
    }
    drop(s);
    sink.join().unwrap();
    size as f64 / t.elapsed().as_secs_f64()
}
