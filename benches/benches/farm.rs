//! A print farm polled at 1 Hz by one process: N simulated printers, one client process that
//! asks every printer for its status once a second, and in the same run the raw-socket floor
//! (the same bytes on bare sockets, no parsing) on the same schedule.
//!
//! ```text
//! cargo bench -p flashforge-benches --bench farm                     # 100, 1,000, 10,000
//! cargo bench -p flashforge-benches --bench farm -- --printers 1000 --seconds 20 --rounds 3
//! cargo bench -p flashforge-benches --bench farm -- --tcp --printers 1000   # Adventurer 4s
//! cargo bench -p flashforge-benches --bench farm -- --tcp-open --printers 5000  # 5M + TCP session
//! cargo bench -p flashforge-benches --bench farm -- --json
//! cargo bench -p flashforge-benches --bench farm -- --only ours   # e.g. under `perf record`
//! ```
//!
//! Three kinds of process, so each figure belongs to one of them alone:
//! * the **server**: `flashforge-sim` with N Adventurer 5M (or, with `--tcp`, Adventurer 4)
//!   printers, each on its own loopback address from 127.0.1.0 (the simulator shares one
//!   socket per port when per-printer sockets would not fit the descriptor limit);
//! * a fresh **client** process per measurement: one thread (tokio's current-thread runtime),
//!   N connected printers, one task per printer polling `status()` on a 1 s period, the
//!   printers' phases spread evenly over the second;
//! * the **floor**: the same process shape with bare `tokio::net::TcpStream`s writing the
//!   exact request bytes the client writes (`/detail`, or `~M119`/`~M105`/`~M27`) and reading
//!   until the reply is complete, nothing parsed.
//!
//! Reported per client process: polls done / scheduled, failures, CPU per poll (the process's
//! on-CPU time of all its threads over the polling window, `/proc/self/task/*/schedstat`), CPU
//! as a share of one core, latency p50 / p99 of each call (start to typed result), the
//! latest a poll started after its scheduled instant (tokio's timer has 1 ms ticks), and RSS
//! per printer (`VmRSS` after connecting and at the end of polling,
//! minus the process's RSS before the first printer).

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use flashforge_proto::client::Endpoint;
use flashforge_proto::http::{Credentials, HttpExchange, Request};
use flashforge_proto::{Command as TcpCommand, HttpConfig, Model};
use flashforge_sim::{Placement, PrinterSpec, ServerConfig, SimServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PERIOD: Duration = Duration::from_secs(1);
/// Connections opened at once while the client connects its printers.
const CONNECT_BATCH: usize = 200;

/// The `i`-th printer's address: 127.0.1.0 and up (127.0.1.255 is followed by 127.0.2.0).
fn address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 0, 1, 0)) + i as u32,
    ))
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// On-CPU time of every thread of this process (user + kernel, ns resolution), from each
/// thread's `/proc/self/task/*/schedstat`.
fn process_cpu() -> Duration {
    let ns: u64 = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| {
                let p = t.ok()?.path().join("schedstat");
                std::fs::read_to_string(p)
                    .ok()?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
        })
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// User-mode CPU of the process from `/proc/self/stat` (clock ticks of 10 ms): the share of
/// the CPU spent outside the kernel, where the client's own work is.
fn process_user_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let utime: u64 = rest
        .split_whitespace()
        .nth(11)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_millis(utime * 10)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `flashforge-tokio` `Printer::status()` (HTTP `/detail`, or TCP on an Adventurer 4).
    Ours,
    /// Bare sockets, the same bytes, no parsing.
    Floor,
}

struct Args {
    printers: Vec<usize>,
    seconds: u32,
    rounds: u32,
    tcp: bool,
    tcp_open: bool,
    json: bool,
    port: u16,
    only: Option<&'static str>,
}

fn parse_args() -> Args {
    let mut a = Args {
        printers: vec![100, 1000, 10_000],
        seconds: 10,
        rounds: 1,
        tcp: false,
        tcp_open: false,
        json: false,
        port: 18_898,
        only: None,
    };
    let mut o = flashforge_benches::Options::from_env("farm");
    while let Some(name) = o.next_name() {
        match name.as_str() {
            "--printers" => a.printers = o.list(&name, "N[,N...]"),
            "--seconds" => a.seconds = o.value(&name, "a whole number"),
            "--rounds" => a.rounds = o.value(&name, "a whole number"),
            "--port" => a.port = o.value(&name, "a port"),
            "--only" => {
                a.only = match o.text(&name).as_str() {
                    "ours" => Some("ours"),
                    "floor" => Some("floor"),
                    _ => o.fail("--only: ours or floor"),
                }
            }
            "--tcp" => a.tcp = true,
            "--tcp-open" => a.tcp_open = true,
            "--json" => a.json = true,
            other => o.fail(&format!("unknown argument {other}")),
        }
    }
    a
}

fn fail(msg: &str) -> ! {
    eprintln!("farm: {msg}");
    std::process::exit(2)
}

fn main() {
    let mut argv = std::env::args().skip(1);
    match argv.next().as_deref() {
        Some("--serve") => return serve(argv.collect()),
        Some("--client") => return client(argv.collect()),
        _ => {}
    }
    let args = parse_args();
    let exe = std::env::current_exe().expect("current_exe");
    let model = match (args.tcp, args.tcp_open) {
        (true, _) => "tcp",
        (false, true) => "both",
        _ => "http",
    };
    let mut rows = Vec::new();
    let mut bad = false;
    if !args.json {
        println!(
            "| printers | client | polls done / scheduled | failures | CPU / poll (user) | share of a core | p50 | p99 | latest start | RSS / printer idle | RSS / printer polling |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
    }
    for &n in &args.printers {
        for _ in 0..args.rounds {
            for kind in [Kind::Ours, Kind::Floor] {
                let name = if kind == Kind::Ours { "ours" } else { "floor" };
                if args.only.is_some_and(|o| o != name) {
                    continue;
                }
                // A fresh farm per client: no state (a TCP control lock, a warm allocator)
                // carries from one measurement to the next.
                let (mut server, list) = start_server(&exe, n, model, args.port);
                let out = Command::new(&exe)
                    .args(["--client", name, model, &list, &args.seconds.to_string()])
                    .stderr(Stdio::inherit())
                    .output()
                    .expect("client process");
                let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if !out.status.success() || line.is_empty() {
                    eprintln!("farm: {name} client with {n} printers failed: {line}");
                    std::process::exit(1);
                }
                let r = Result_::parse(&line);
                if args.json {
                    println!(
                        "{{\"printers\":{n},\"model\":\"{model}\",\"client\":\"{name}\",{line}}}"
                    );
                } else {
                    println!("| {n} | {name} | {} |", r.row());
                }
                if r.failures > 0 || r.done != r.scheduled {
                    eprintln!(
                        "farm: {name} with {n} printers: {} of {} polls done, {} failed",
                        r.done, r.scheduled, r.failures
                    );
                    bad = true;
                }
                rows.push((n, kind, r));
                drop(server.stdin.take());
                let _ = server.wait();
                let _ = std::fs::remove_file(&list);
            }
        }
    }
    if !args.json {
        println!();
        println!("| printers | ours CPU / poll (median) | floor CPU / poll (median) | ratio |");
        println!("|---|---|---|---|");
        for &n in &args.printers {
            let med = |k: Kind| {
                let mut v: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.0 == n && r.1 == k)
                    .map(|r| r.2.cpu_us)
                    .collect();
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
            };
            let (o, f) = (med(Kind::Ours), med(Kind::Floor));
            println!("| {n} | {o:.1} µs | {f:.1} µs | {:.2}× |", o / f);
        }
    }
    // A poll that failed or never ran makes the whole run a failure.
    if bad {
        std::process::exit(1);
    }
}

/// The figures one client process prints as `key=value` pairs.
struct Result_ {
    done: u64,
    scheduled: u64,
    failures: u64,
    cpu_us: f64,
    share: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_idle: f64,
    rss_poll: f64,
    lag_ms: f64,
    user_us: f64,
}

impl Result_ {
    fn parse(line: &str) -> Self {
        let get = |k: &str| -> f64 {
            line.split(',')
                .find_map(|kv| {
                    let (a, b) = kv.split_once(':')?;
                    (a.trim_matches('"') == k).then(|| b.parse().ok())?
                })
                .unwrap_or(f64::NAN)
        };
        Self {
            done: get("done") as u64,
            scheduled: get("scheduled") as u64,
            failures: get("failures") as u64,
            cpu_us: get("cpu_us_per_poll"),
            share: get("core_share"),
            p50_ms: get("p50_ms"),
            p99_ms: get("p99_ms"),
            rss_idle: get("rss_kib_per_printer_idle"),
            rss_poll: get("rss_kib_per_printer_polling"),
            lag_ms: get("max_lag_ms"),
            user_us: get("user_us_per_poll"),
        }
    }

    fn row(&self) -> String {
        format!(
            "{} / {} | {} | {:.1} µs ({:.1} user) | {:.1} % | {:.2} ms | {:.2} ms | {:.1} ms | {:.1} KiB | {:.1} KiB",
            self.done,
            self.scheduled,
            self.failures,
            self.cpu_us,
            self.user_us,
            self.share * 100.0,
            self.p50_ms,
            self.p99_ms,
            self.lag_ms,
            self.rss_idle,
            self.rss_poll
        )
    }
}

/// Start the server process; returns it and the file listing its printers.
fn start_server(exe: &std::path::Path, n: usize, model: &str, port: u16) -> (Child, String) {
    let list = std::env::temp_dir()
        .join(format!("ff-farm-{}-{n}.txt", std::process::id()))
        .display()
        .to_string();
    let mut child = Command::new(exe)
        .args(["--serve", &n.to_string(), model, &list, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server process");
    let mut ready = String::new();
    let stdout = child.stdout.take().expect("server stdout");
    BufReader::new(stdout)
        .read_line(&mut ready)
        .expect("server ready line");
    if ready.trim() != "ready" {
        let _ = child.kill();
        fail(&format!("the simulator did not start {n} printers"));
    }
    (child, list)
}

/// Server process: N printers until stdin closes.
fn serve(args: Vec<String>) {
    let n: usize = args[0].parse().expect("count");
    let model = if args[1] == "tcp" {
        Model::Adventurer4
    } else {
        Model::Adventurer5M
    };
    let port: u16 = args[3].parse().expect("port");
    let specs: Vec<_> = (0..n)
        .map(|i| {
            let mut s = PrinterSpec::numbered(model, i as u32);
            let mut net = Placement::at(address(i));
            net.tcp_port = Some(port + 1);
            net.http_port = Some(port);
            net.discovery_ports = Some(Vec::new());
            s.net = net;
            s
        })
        .collect();
    let server = match SimServer::start(specs, &ServerConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("farm server: {e}");
            std::process::exit(1);
        }
    };
    let mut list = String::new();
    for h in server.printers() {
        let http = h.http.map_or("-".to_owned(), |a| a.to_string());
        let tcp = h.tcp.map_or("-".to_owned(), |a| a.to_string());
        list.push_str(&format!("{http} {tcp} {} {}\n", h.serial(), h.check_code()));
    }
    std::fs::write(&args[2], list).expect("printer list");
    println!("ready");
    std::io::stdout().flush().ok();
    // Until the parent closes our stdin.
    let _ = std::io::stdin().read_line(&mut String::new());
    server.shutdown();
}

struct Entry {
    http: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    serial: String,
    check: String,
}

fn read_list(path: &str) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .expect("printer list")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Entry {
                http: f[0].parse().ok(),
                tcp: f[1].parse().ok(),
                serial: f[2].to_owned(),
                check: f[3].to_owned(),
            }
        })
        .collect()
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    failures: u64,
    first_error: Option<String>,
    max_lag: Duration,
}

/// Client process: connect every printer, poll each once a second for `seconds`, print the
/// figures as one line of `"key":value` pairs.
fn client(args: Vec<String>) {
    let kind = if args[0] == "ours" {
        Kind::Ours
    } else {
        Kind::Floor
    };
    let tcp = args[1] == "tcp";
    // 5M printers polled over HTTP that also hold an open (logged-in) TCP session.
    let tcp_open = args[1] == "both";
    let entries = read_list(&args[2]);
    let seconds: u32 = args[3].parse().expect("seconds");
    let n = entries.len();
    let scheduled = n as u64 * u64::from(seconds);
    // Room for every sample before the baseline, so the figures do not count it.
    let stats = Rc::new(RefCell::new(Stats {
        latencies_us: Vec::with_capacity(scheduled as usize),
        ..Stats::default()
    }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let base_rss = proc_status_kib("VmRSS:");
    let figures = local.block_on(&rt, async {
        let pollers = connect_all(kind, tcp, tcp_open, &entries).await;
        let idle_rss = proc_status_kib("VmRSS:");
        let t0 = tokio::time::Instant::now() + Duration::from_millis(200);
        let cpu0 = process_cpu();
        let user0 = process_user_cpu();
        let wall0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, mut p) in pollers.into_iter().enumerate() {
            let stats = stats.clone();
            let phase = PERIOD * i as u32 / n as u32;
            tasks.spawn_local(async move {
                for k in 0..seconds {
                    let at = t0 + phase + PERIOD * k;
                    tokio::time::sleep_until(at).await;
                    let start = tokio::time::Instant::now();
                    let r = p.poll().await;
                    let lat = start.elapsed();
                    let lag = start.saturating_duration_since(at);
                    let mut s = stats.borrow_mut();
                    s.max_lag = s.max_lag.max(lag);
                    match r {
                        Ok(()) => s
                            .latencies_us
                            .push(lat.as_micros().min(u32::MAX as u128) as u32),
                        Err(e) => {
                            s.failures += 1;
                            s.first_error.get_or_insert(e);
                        }
                    }
                }
                p
            });
        }
        let mut kept = Vec::with_capacity(n);
        while let Some(p) = tasks.join_next().await {
            kept.push(p.expect("poller task"));
        }
        let cpu = process_cpu().saturating_sub(cpu0);
        let user = process_user_cpu().saturating_sub(user0);
        let wall = wall0.elapsed();
        let poll_rss = proc_status_kib("VmRSS:");
        drop(kept);
        (idle_rss, poll_rss, cpu, user, wall)
    });
    let (idle_rss, poll_rss, cpu, user, wall) = figures;
    let mut s = stats.borrow_mut();
    if let Some(e) = &s.first_error {
        eprintln!("farm client: first failure: {e}");
    }
    let done = s.latencies_us.len() as u64;
    s.latencies_us.sort_unstable();
    let pct = |p: usize| {
        s.latencies_us
            .get(s.latencies_us.len().saturating_sub(1) * p / 100)
            .map_or(f64::NAN, |&v| f64::from(v) / 1000.0)
    };
    let per = |kib: u64| kib.saturating_sub(base_rss) as f64 / n as f64;
    println!(
        "\"done\":{done},\"scheduled\":{scheduled},\"failures\":{},\"cpu_us_per_poll\":{:.2},\"core_share\":{:.4},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"rss_kib_per_printer_idle\":{:.2},\"rss_kib_per_printer_polling\":{:.2},\"max_lag_ms\":{:.1},\"user_us_per_poll\":{:.2}",
        s.failures,
        cpu.as_secs_f64() * 1e6 / done.max(1) as f64,
        cpu.as_secs_f64() / wall.as_secs_f64(),
        pct(50),
        pct(99),
        per(idle_rss),
        per(poll_rss),
        s.max_lag.as_secs_f64() * 1e3,
        user.as_secs_f64() * 1e6 / done.max(1) as f64,
    );
}

/// One printer's poller: the client, or the raw floor.
enum Poller {
    Http(flashforge_tokio::Printer),
    Tcp(flashforge_tokio::LegacyPrinter),
    /// The raw `/detail` connection, and with `--tcp-open` a raw logged-in TCP session.
    RawHttp(RawConn, #[allow(dead_code)] Option<RawConn>),
    RawTcp(RawConn),
}

impl Poller {
    async fn poll(&mut self) -> Result<(), String> {
        match self {
            Self::Http(p) => p.status().await.map(drop).map_err(|e| e.to_string()),
            Self::Tcp(p) => p.status().await.map(drop).map_err(|e| e.to_string()),
            Self::RawHttp(c, _) => c.http().await,
            Self::RawTcp(c) => c.tcp().await,
        }
    }
}

async fn connect_all(kind: Kind, tcp: bool, tcp_open: bool, entries: &[Entry]) -> Vec<Poller> {
    let mut out: Vec<Option<Poller>> = (0..entries.len()).map(|_| None).collect();
    for (b, batch) in entries.chunks(CONNECT_BATCH).enumerate() {
        let mut set = tokio::task::JoinSet::new();
        for (j, e) in batch.iter().enumerate() {
            let i = b * CONNECT_BATCH + j;
            let (http, tcp_addr) = (e.http, e.tcp);
            let creds = Credentials::new(e.serial.clone(), e.check.clone()).expect("credentials");
            set.spawn_local(async move {
                let p = match (kind, tcp) {
                    (Kind::Ours, false) => {
                        let ep = endpoint_of(http.expect("http address"), tcp_addr);
                        let r = flashforge_tokio::Printer::connect(ep, creds).await;
                        match (r, tcp_open) {
                            // One TCP operation logs the session in; it then stays open.
                            (Ok(p), true) => p.gcode("~M115").await.map(|_| Poller::Http(p)),
                            (r, _) => r.map(Poller::Http),
                        }
                        .map_err(|e| e.to_string())
                    }
                    (Kind::Ours, true) => {
                        let a = tcp_addr.expect("tcp address");
                        let ep = Endpoint::new(a.ip()).with_ports(a.port(), 8898);
                        flashforge_tokio::LegacyPrinter::connect(ep)
                            .await
                            .map(Poller::Tcp)
                            .map_err(|e| e.to_string())
                    }
                    (Kind::Floor, false) => {
                        let h =
                            RawConn::open_http(http.expect("http address"), tcp_addr, &creds).await;
                        match (h, tcp_open) {
                            (Ok(h), true) => RawConn::open_tcp(tcp_addr.expect("tcp address"))
                                .await
                                .map(|t| Poller::RawHttp(h, Some(t))),
                            (h, _) => h.map(|h| Poller::RawHttp(h, None)),
                        }
                    }
                    (Kind::Floor, true) => RawConn::open_tcp(tcp_addr.expect("tcp address"))
                        .await
                        .map(Poller::RawTcp),
                };
                (i, p)
            });
        }
        while let Some(r) = set.join_next().await {
            let (i, p) = r.expect("connect task");
            match p {
                Ok(p) => out[i] = Some(p),
                Err(e) => {
                    eprintln!("farm client: printer {i} did not connect: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    out.into_iter().map(|p| p.expect("connected")).collect()
}

fn endpoint_of(http: SocketAddr, tcp: Option<SocketAddr>) -> Endpoint {
    Endpoint::new(http.ip()).with_ports(tcp.map_or(8899, |t| t.port()), http.port())
}

/// The floor: a bare stream, the request bytes, and a buffer.
struct RawConn {
    sock: tokio::net::TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl RawConn {
    async fn open_http(
        addr: SocketAddr,
        tcp: Option<SocketAddr>,
        creds: &Credentials,
    ) -> Result<Self, String> {
        let ep = endpoint_of(addr, tcp);
        // The exact bytes the client writes for `/detail`.
        let mut ex = HttpExchange::new(
            &Request::Detail,
            &ep.http_host(),
            creds,
            &HttpConfig::default(),
            Instant::now(),
        )
        .map_err(|e| e.to_string())?;
        let mut request = Vec::new();
        while let Some(tx) = ex.poll_transmit() {
            request.extend_from_slice(&tx);
        }
        let sock = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut c = Self {
            sock,
            request,
            buf: vec![0; 4096],
        };
        c.http().await?;
        Ok(c)
    }

    async fn open_tcp(addr: SocketAddr) -> Result<Self, String> {
        let sock = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut c = Self {
            sock,
            request: Vec::new(),
            buf: vec![0; 4096],
        };
        // The login, as the client does.
        c.round_trip(b"~M601 S1\r\n").await?;
        for cmd in [
            TcpCommand::EndstopStatus,
            TcpCommand::Temperatures,
            TcpCommand::PrintStatus,
        ] {
            let mut line = Vec::new();
            cmd.encode(&mut line).map_err(|e| e.to_string())?;
            // One request per command, written and answered in turn like the client's.
            c.request
                .extend_from_slice(&(line.len() as u32).to_le_bytes());
            c.request.extend_from_slice(&line);
        }
        c.tcp().await?;
        Ok(c)
    }

    /// Write `/detail`, read the head and `Content-Length` bytes of body.
    async fn http(&mut self) -> Result<(), String> {
        let e = |e: std::io::Error| e.to_string();
        self.sock.write_all(&self.request).await.map_err(e)?;
        let mut got = 0;
        loop {
            if got == self.buf.len() {
                self.buf.resize(got * 2, 0);
            }
            let r = self.sock.read(&mut self.buf[got..]).await.map_err(e)?;
            if r == 0 {
                return Err("closed".into());
            }
            got += r;
            let Some(end) = self.buf[..got].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = &self.buf[..end];
            let len = head
                .split(|&b| b == b'\n')
                .find_map(|l| {
                    let l = std::str::from_utf8(l).ok()?;
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let total = end + 4 + len;
            if self.buf.len() < total {
                self.buf.resize(total, 0);
            }
            while got < total {
                let r = self.sock.read(&mut self.buf[got..total]).await.map_err(e)?;
                if r == 0 {
                    return Err("closed".into());
                }
                got += r;
            }
            return Ok(());
        }
    }

    /// The three status commands, each written and answered (`ok`) before the next, as the
    /// client's status call does.
    async fn tcp(&mut self) -> Result<(), String> {
        let request = std::mem::take(&mut self.request);
        let mut rest = &request[..];
        let mut r = Ok(());
        while rest.len() >= 4 && r.is_ok() {
            let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            r = self.round_trip(&rest[4..4 + len]).await;
            rest = &rest[4 + len..];
        }
        self.request = request;
        r
    }

    /// Write one command, read until its reply ends with `ok`.
    async fn round_trip(&mut self, line: &[u8]) -> Result<(), String> {
        let e = |e: std::io::Error| e.to_string();
        self.sock.write_all(line).await.map_err(e)?;
        let mut got = 0;
        loop {
            if got == self.buf.len() {
                self.buf.resize(got * 2, 0);
            }
            let r = self.sock.read(&mut self.buf[got..]).await.map_err(e)?;
            if r == 0 {
                return Err("closed".into());
            }
            got += r;
            // Adventurer 3/4 end lines with `\n`, the 5M family with `\r\n`.
            if self.buf[..got].ends_with(b"ok\n") || self.buf[..got].ends_with(b"ok\r\n") {
                return Ok(());
            }
        }
    }
}
