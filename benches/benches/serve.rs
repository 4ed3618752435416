//! The farm server (`flashforge serve`) against a simulated farm: N Adventurer 5M printers in
//! one process, the server polling them in another, and this process measuring.
//!
//! ```text
//! cargo bench -p flashforge-benches --bench serve                          # 1,000 printers
//! cargo bench -p flashforge-benches --bench serve -- --printers 1000,5000,10000
//! cargo bench -p flashforge-benches --bench serve -- --seconds 20 --interval 2 --json
//! ```
//!
//! Three processes, so each figure belongs to one of them alone:
//! * the **simulator**: `flashforge-sim` with N Adventurer 5M printers, each on its own loopback
//!   address from 127.0.1.0 (HTTP 28898, TCP 28899; shared sockets when per-printer ones would
//!   not fit the descriptor limit), and its control API on 127.0.0.1 (to start a job);
//! * the **server**: this binary re-executed as `--server`: `flashforge_serve::Server::start`
//!   on 127.0.0.1:28870 with a token and no printers, on a current-thread runtime like the
//!   CLI's; it prints its RSS, then adds the N printers (first polls spread over one interval
//!   as `Server::start` spreads them) and polls every `--interval`;
//! * the **parent** (this process): waits until the server counts every printer online and
//!   `GET /api/v1/printers` shows every `online: true` (30 s + 5 ms per printer, else the run
//!   fails), waits one more interval, then measures, in order:
//!   1. a quiet window of `--seconds` (only one event-stream client connected): successful polls
//!      (the sum of the printers' `polls`), failed polls (`flashforge_printer_errors_total`
//!      from `/metrics`), the server's CPU (every thread's `/proc/self/task/*/schedstat`) as
//!      a share of one core and per poll; the server process reads polls, CPU and RSS itself
//!      at the two ends of the window when the parent writes `stats` on its stdin, so no API
//!      request's time falls inside it. RSS (`VmRSS`) is shown before printers were added,
//!      once all are online (before any API request), and at the end of the window (after
//!      the full-list requests of the online check and the event stream's first snapshot),
//!      each minus the first, per printer;
//!   2. event latency: K=20 times a printer is set printing through the simulator's control
//!      API; the time from just before that request until its `job` (`started`) event arrives
//!      on `/api/v1/events`; median, p95, max against the goal of one interval + 50 ms;
//!   3. API latency under the polling load: 200 requests each of `GET /api/v1/printers/{id}`,
//!      `GET /api/v1/printers` (the whole list) and `GET /metrics`, one connection each
//!      (`Connection: close`, so each time includes a loopback connect), p50 / p99.
//!
//! A printer never online, a missing event, or a failed poll makes the run fail (exit 1).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_serve::{Config, PrinterEntry, Server, Token};
use flashforge_sim::{Placement, PrinterSpec, ServerConfig, SimServer};
use flashforge_tokio::{Credentials, Endpoint};

const TOKEN: &str = "bench-token-0123456789abcdef0123";
const HTTP_PORT: u16 = 28_898;
const TCP_PORT: u16 = 28_899;
const LISTEN: &str = "127.0.0.1:28870";
/// Event-latency trials per run.
const TRIALS: usize = 20;
/// API requests per route.
const API_REQUESTS: usize = 200;

/// The `i`-th printer's address: 127.0.1.0 and up (127.0.1.255 is followed by 127.0.2.0).
fn address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 0, 1, 0)) + i as u32,
    ))
}

fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// On-CPU time of every thread of process `pid` (user + kernel), from each thread's
/// `/proc/<pid>/task/*/schedstat`.
fn process_cpu(pid: u32) -> Duration {
    let ns: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
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

struct Args {
    printers: Vec<usize>,
    seconds: u64,
    interval: f64,
    json: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        printers: vec![1000],
        seconds: 20,
        interval: 2.0,
        json: false,
    };
    let mut o = flashforge_benches::Options::from_env("serve");
    while let Some(name) = o.next_name() {
        match name.as_str() {
            "--printers" => a.printers = o.list(&name, "N[,N...]"),
            "--seconds" => a.seconds = o.value(&name, "a whole number"),
            "--interval" => {
                a.interval = o.value(&name, "seconds > 0");
                if a.interval.is_nan() || a.interval <= 0.0 {
                    o.fail("--interval: seconds > 0");
                }
            }
            "--json" => a.json = true,
            other => o.fail(&format!("unknown argument {other}")),
        }
    }
    a
}

fn fail(msg: &str) -> ! {
    eprintln!("serve bench: {msg}");
    std::process::exit(2)
}

fn main() {
    let mut argv = std::env::args().skip(1);
    match argv.next().as_deref() {
        Some("--sim") => return sim(argv.collect()),
        Some("--server") => return server(argv.collect()),
        _ => {}
    }
    let args = parse_args();
    let exe = std::env::current_exe().expect("current_exe");
    if !args.json {
        println!(
            "| printers | online after | polls done / expected | failed polls | server CPU (share of a core) | CPU / poll | RSS before printers | RSS all online (/ printer) | RSS after window (/ printer) | event latency median / p95 / max (goal ≤ {:.0} ms) | GET /printers/{{id}} p50 / p99 | GET /printers p50 / p99 | GET /metrics p50 / p99 |",
            args.interval * 1000.0 + 50.0
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    }
    let mut bad = false;
    for &n in &args.printers {
        match run(&exe, n, &args) {
            Ok(r) => {
                if args.json {
                    println!("{}", r.json(&args));
                } else {
                    println!("{}", r.row());
                }
                for p in r.problems() {
                    eprintln!("serve bench: {n} printers: {p}");
                    bad = true;
                }
            }
            Err(e) => {
                eprintln!("serve bench: {n} printers: {e}");
                bad = true;
            }
        }
    }
    if !args.json {
        println!();
        println!(
            "Goals: 1,000 printers with < 5 % of one core and < 50 MB RSS; a job event within one poll interval + 50 ms ({:.0} ms).",
            args.interval * 1000.0 + 50.0
        );
    }
    if bad {
        std::process::exit(1);
    }
}

/// A child process killed (if still running) and reaped when dropped.
struct Guard {
    child: Child,
    name: &'static str,
}

impl Guard {
    fn spawn(exe: &std::path::Path, args: &[String], name: &'static str) -> (Self, ChildStdout) {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("{name} process: {e}")));
        let out = child.stdout.take().expect("stdout");
        (Self { child, name }, out)
    }

    /// The server's `stats` line: (successful polls, printers online, CPU, VmRSS KiB).
    fn stats(&mut self, out: &mut BufReader<ChildStdout>) -> Result<Stats, String> {
        let stdin = self.child.stdin.as_mut().ok_or("server stdin closed")?;
        writeln!(stdin, "stats").map_err(|e| format!("server stdin: {e}"))?;
        stdin.flush().map_err(|e| format!("server stdin: {e}"))?;
        let l = read_line(out, "server")?;
        let v: Vec<u64> = l
            .strip_prefix("stats ")
            .map(|r| r.split(' ').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
        if v.len() != 4 {
            return Err(format!("server: {l}"));
        }
        Ok(Stats {
            polls: v[0],
            online: v[1] as usize,
            cpu: Duration::from_nanos(v[2]),
            rss_kib: v[3],
        })
    }
}

struct Stats {
    polls: u64,
    online: usize,
    cpu: Duration,
    rss_kib: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing stdin asks it to stop; it is killed if it has not within 10 s.
        drop(self.child.stdin.take());
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "serve bench: the {} process did not stop: killed",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_line(r: &mut BufReader<ChildStdout>, what: &str) -> Result<String, String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) | Err(_) => Err(format!("{what}: the process ended")),
        Ok(_) => Ok(line.trim().to_owned()),
    }
}

#[derive(Default)]
struct Figures {
    n: usize,
    interval: f64,
    online_s: f64,
    window_s: f64,
    polls: u64,
    errors: u64,
    errors_total: u64,
    cpu_s: f64,
    rss_kib: u64,
    idle_kib: u64,
    base_kib: u64,
    events_ms: Vec<f64>,
    missed_events: usize,
    lagged: u64,
    one_ms: Vec<f64>,
    list_ms: Vec<f64>,
    metrics_ms: Vec<f64>,
    list_bytes: usize,
    metrics_bytes: usize,
}

fn pct(v: &[f64], p: usize) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len().saturating_sub(1) * p / 100)
        .copied()
        .unwrap_or(f64::NAN)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

impl Figures {
    fn expected(&self) -> f64 {
        self.n as f64 * self.window_s / self.interval
    }
    fn share(&self) -> f64 {
        self.cpu_s / self.window_s
    }
    fn cpu_us_per_poll(&self) -> f64 {
        self.cpu_s * 1e6 / self.polls.max(1) as f64
    }
    fn per_printer_kib(&self, rss: u64) -> f64 {
        rss.saturating_sub(self.base_kib) as f64 / self.n as f64
    }

    fn row(&self) -> String {
        let mib = |k: u64| k as f64 / 1024.0;
        format!(
            "| {} | {:.1} s | {} / {:.0} | {} ({} in the whole run) | {:.2} % | {:.1} µs | {:.1} MiB | {:.1} MiB ({:.1} KiB) | {:.1} MiB ({:.1} KiB) | {:.0} / {:.0} / {:.0} ms | {:.2} / {:.2} ms | {:.1} / {:.1} ms ({} KiB) | {:.1} / {:.1} ms ({} KiB) |",
            self.n,
            self.online_s,
            self.polls,
            self.expected(),
            self.errors,
            self.errors_total,
            self.share() * 100.0,
            self.cpu_us_per_poll(),
            mib(self.base_kib),
            mib(self.idle_kib),
            self.per_printer_kib(self.idle_kib),
            mib(self.rss_kib),
            self.per_printer_kib(self.rss_kib),
            pct(&self.events_ms, 50),
            pct(&self.events_ms, 95),
            max(&self.events_ms),
            pct(&self.one_ms, 50),
            pct(&self.one_ms, 99),
            pct(&self.list_ms, 50),
            pct(&self.list_ms, 99),
            self.list_bytes / 1024,
            pct(&self.metrics_ms, 50),
            pct(&self.metrics_ms, 99),
            self.metrics_bytes / 1024,
        )
    }

    fn json(&self, a: &Args) -> String {
        serde_json::json!({
            "printers": self.n,
            "interval_s": a.interval,
            "window_s": self.window_s,
            "online_after_s": self.online_s,
            "polls": self.polls,
            "polls_expected": self.expected().round(),
            "failed_polls": self.errors,
            "failed_polls_whole_run": self.errors_total,
            "cpu_core_share": self.share(),
            "cpu_us_per_poll": self.cpu_us_per_poll(),
            "rss_kib_before_printers": self.base_kib,
            "rss_kib_all_online": self.idle_kib,
            "rss_kib_per_printer_all_online": self.per_printer_kib(self.idle_kib),
            "rss_kib_after_window": self.rss_kib,
            "rss_kib_per_printer_after_window": self.per_printer_kib(self.rss_kib),
            "event_ms": {"median": pct(&self.events_ms, 50), "p95": pct(&self.events_ms, 95), "max": max(&self.events_ms), "samples": self.events_ms.len(), "missed": self.missed_events, "goal_ms": a.interval * 1000.0 + 50.0},
            "sse_lagged": self.lagged,
            "api_ms": {
                "printer": {"p50": pct(&self.one_ms, 50), "p99": pct(&self.one_ms, 99)},
                "printers": {"p50": pct(&self.list_ms, 50), "p99": pct(&self.list_ms, 99), "bytes": self.list_bytes},
                "metrics": {"p50": pct(&self.metrics_ms, 50), "p99": pct(&self.metrics_ms, 99), "bytes": self.metrics_bytes},
            },
            "goals": {"core_share_at_1000": 0.05, "rss_mb_at_1000": 50, "event_ms": a.interval * 1000.0 + 50.0},
        })
        .to_string()
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.errors_total > 0 {
            p.push(format!("{} failed polls", self.errors_total));
        }
        if self.missed_events > 0 {
            p.push(format!(
                "{} of {TRIALS} job events never arrived",
                self.missed_events
            ));
        }
        if (self.polls as f64) < self.expected() * 0.95 {
            p.push(format!(
                "{} polls done of {:.0} expected",
                self.polls,
                self.expected()
            ));
        }
        p
    }
}

/// One measurement with `n` printers: fresh simulator and server processes.
fn run(exe: &std::path::Path, n: usize, a: &Args) -> Result<Figures, String> {
    let list = std::env::temp_dir()
        .join(format!("ff-serve-bench-{}-{n}.txt", std::process::id()))
        .display()
        .to_string();
    let (sim_proc, sim_out) = Guard::spawn(
        exe,
        &["--sim".into(), n.to_string(), list.clone()],
        "simulator",
    );
    let mut sim_out = BufReader::new(sim_out);
    let ready = read_line(&mut sim_out, "simulator")?;
    let ctl: SocketAddr = ready
        .strip_prefix("ready ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("the simulator did not start {n} printers: {ready}"))?;
    let (mut srv_proc, srv_out) = Guard::spawn(
        exe,
        &[
            "--server".into(),
            list.clone(),
            a.interval.to_string(),
            LISTEN.into(),
        ],
        "server",
    );
    let mut srv_out = BufReader::new(srv_out);
    let base = read_line(&mut srv_out, "server")?;
    let base_kib: u64 = base
        .strip_prefix("base ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("server: {base}"))?;
    let ready = read_line(&mut srv_out, "server")?;
    if ready != "ready" {
        return Err(format!("server: {ready}"));
    }
    let _ = std::fs::remove_file(&list);
    let t_added = Instant::now();
    let addr: SocketAddr = LISTEN.parse().unwrap();

    // Every printer online, with a deadline: first as the server itself counts them (no API
    // request yet, so its RSS then owes nothing to a response), then as the API shows them.
    let deadline = Duration::from_secs(30) + Duration::from_millis(5 * n as u64);
    let idle = loop {
        let st = srv_proc.stats(&mut srv_out)?;
        if st.online == n {
            break st;
        }
        if t_added.elapsed() > deadline {
            return Err(format!(
                "only {} of {n} printers online after {deadline:?}",
                st.online
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let online_s = t_added.elapsed().as_secs_f64();
    let ids: Vec<String> = loop {
        let r = get(addr, "/api/v1/printers")?;
        check(&r, "GET /api/v1/printers")?;
        let v: serde_json::Value =
            serde_json::from_slice(&r.1).map_err(|e| format!("/api/v1/printers: {e}"))?;
        let ps = v["printers"].as_array().cloned().unwrap_or_default();
        let online = ps.iter().filter(|p| p["online"] == true).count();
        if ps.len() == n && online == n {
            break ps
                .iter()
                .map(|p| p["id"].as_str().unwrap_or("").to_owned())
                .collect();
        }
        if t_added.elapsed() > deadline {
            return Err(format!(
                "GET /api/v1/printers: {online} of {n} printers online after {deadline:?} ({} listed)",
                ps.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let mut f = Figures {
        n,
        interval: a.interval,
        online_s,
        base_kib,
        idle_kib: idle.rss_kib,
        ..Figures::default()
    };
    // One more interval: every poller past its connect, the allocator warm.
    std::thread::sleep(Duration::from_secs_f64(a.interval));

    // The event stream, read by its own thread: job events go to `jobs`.
    let (jobs_tx, jobs) = mpsc::channel::<(Instant, String, String)>();
    let (lag_tx, lag_rx) = mpsc::channel::<u64>();
    let mut stream = EventStream::open(addr)?;
    let reader = std::thread::spawn(move || {
        let mut lagged = 0;
        while let Some((at, kind, data)) = stream.next() {
            match kind.as_str() {
                "job" => {
                    let v: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    let p = v["printer"].as_str().unwrap_or("").to_owned();
                    let t = v["transition"].as_str().unwrap_or("").to_owned();
                    if jobs_tx.send((at, p, t)).is_err() {
                        break;
                    }
                }
                "lagged" => lagged += 1,
                _ => {}
            }
        }
        let _ = lag_tx.send(lagged);
    });

    // 1. The quiet window.
    let (_, errors0) = counters(addr)?;
    let s0 = srv_proc.stats(&mut srv_out)?;
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(a.seconds));
    let s1 = srv_proc.stats(&mut srv_out)?;
    let w1 = w0.elapsed();
    let (_, errors1) = counters(addr)?;
    f.rss_kib = s1.rss_kib;
    f.window_s = w1.as_secs_f64();
    f.cpu_s = s1.cpu.saturating_sub(s0.cpu).as_secs_f64();
    f.polls = s1.polls.saturating_sub(s0.polls);
    f.errors = errors1.saturating_sub(errors0);
    if s1.online != n {
        return Err(format!(
            "{} of {n} printers online after the window",
            s1.online
        ));
    }

    // 2. Event latency.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ n as u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let wait = Duration::from_secs_f64(a.interval * 2.0 + 2.0);
    let mut used = Vec::new();
    for _ in 0..TRIALS {
        let mut i = (next() % n as u64) as usize;
        while used.contains(&i) && used.len() < n {
            i = (i + 1) % n;
        }
        used.push(i);
        // A random phase against the printer's poll.
        std::thread::sleep(Duration::from_millis(next() % 500));
        while jobs.try_recv().is_ok() {}
        let t0 = Instant::now();
        let r = control(
            ctl,
            &format!("/printers/{i}/state"),
            r#"{"status":"printing","file":"cube.gcode"}"#,
        )?;
        if r.0 != 200 {
            return Err(format!(
                "control API: {} {}",
                r.0,
                String::from_utf8_lossy(&r.1)
            ));
        }
        let end = t0 + wait;
        let mut got = None;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match jobs.recv_timeout(left) {
                Ok((at, p, t)) if p == ids[i] && t == "started" => {
                    got = Some(at.duration_since(t0));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        match got {
            Some(d) => f.events_ms.push(d.as_secs_f64() * 1e3),
            None => f.missed_events += 1,
        }
        // Back to ready (no job transition).
        let _ = control(
            ctl,
            &format!("/printers/{i}/state"),
            r#"{"status":"ready"}"#,
        )?;
    }

    // 3. API latency under the polling load.
    for k in 0..API_REQUESTS {
        let id = &ids[(next() % n as u64) as usize];
        let t = Instant::now();
        let r = get(addr, &format!("/api/v1/printers/{id}"))?;
        f.one_ms.push(t.elapsed().as_secs_f64() * 1e3);
        check(&r, "GET /api/v1/printers/{id}")?;
        let t = Instant::now();
        let r = get(addr, "/api/v1/printers")?;
        f.list_ms.push(t.elapsed().as_secs_f64() * 1e3);
        check(&r, "GET /api/v1/printers")?;
        if k == 0 {
            f.list_bytes = r.1.len();
        }
        let t = Instant::now();
        let r = get(addr, "/metrics")?;
        f.metrics_ms.push(t.elapsed().as_secs_f64() * 1e3);
        check(&r, "GET /metrics")?;
        if k == 0 {
            f.metrics_bytes = r.1.len();
        }
    }
    let (_, errors_end) = counters(addr)?;
    f.errors_total = errors_end;

    // Stop the server first (it closes the event stream), then the simulator.
    drop(srv_proc);
    drop(jobs);
    f.lagged = lag_rx.recv_timeout(Duration::from_secs(10)).unwrap_or(0);
    let _ = reader.join();
    drop(sim_proc);
    Ok(f)
}

fn check(r: &(u16, Vec<u8>), what: &str) -> Result<(), String> {
    if r.0 == 200 {
        Ok(())
    } else {
        Err(format!("{what}: {} {}", r.0, String::from_utf8_lossy(&r.1)))
    }
}

/// Sums of `flashforge_printer_polls_total` and `flashforge_printer_errors_total`.
fn counters(addr: SocketAddr) -> Result<(u64, u64), String> {
    let r = get(addr, "/metrics")?;
    check(&r, "GET /metrics")?;
    let text = String::from_utf8_lossy(&r.1);
    let sum = |name: &str| -> u64 {
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Ok((
        sum("flashforge_printer_polls_total"),
        sum("flashforge_printer_errors_total"),
    ))
}

/// One request with `Connection: close`: (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: bool,
    body: Option<&str>,
) -> Result<(u16, Vec<u8>), String> {
    let e = |e: std::io::Error| format!("{method} {path}: {e}");
    let mut s = TcpStream::connect(addr).map_err(e)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(e)?;
    s.set_nodelay(true).map_err(e)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if auth {
        head.push_str(&format!("Authorization: Bearer {TOKEN}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        head.push_str("\r\n");
    }
    s.write_all(head.as_bytes()).map_err(e)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(e)?;
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no reply head"))?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line"))?;
    let raw = buf[end + 4..].to_vec();
    let body = if head.contains("transfer-encoding: chunked") {
        let mut d = Dechunk::default();
        let mut out = Vec::new();
        d.feed(&raw, &mut out);
        out
    } else {
        raw
    };
    Ok((status, body))
}

fn get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>), String> {
    request(addr, "GET", path, true, None)
}

fn control(ctl: SocketAddr, path: &str, body: &str) -> Result<(u16, Vec<u8>), String> {
    request(ctl, "POST", path, false, Some(body))
}

/// An incremental chunked-body decoder.
#[derive(Default)]
struct Dechunk {
    pending: Vec<u8>,
    /// Bytes left in the current chunk (then its CRLF).
    left: usize,
    in_chunk: bool,
}

impl Dechunk {
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(data);
        let mut at = 0;
        loop {
            if self.in_chunk {
                let take = self.left.min(self.pending.len() - at);
                out.extend_from_slice(&self.pending[at..at + take]);
                at += take;
                self.left -= take;
                if self.left > 0 {
                    break;
                }
                // The CRLF after the chunk.
                if self.pending.len() - at < 2 {
                    break;
                }
                at += 2;
                self.in_chunk = false;
            } else {
                let Some(eol) = self.pending[at..].windows(2).position(|w| w == b"\r\n") else {
                    break;
                };
                let line = String::from_utf8_lossy(&self.pending[at..at + eol]).into_owned();
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    .unwrap_or(0);
                at += eol + 2;
                if size == 0 {
                    break;
                }
                self.left = size;
                self.in_chunk = true;
            }
        }
        self.pending.drain(..at);
    }
}

/// `/api/v1/events`, read as it comes: (arrival, event, data) per event.
struct EventStream {
    s: TcpStream,
    dechunk: Dechunk,
    body: Vec<u8>,
    scanned: usize,
}

impl EventStream {
    fn open(addr: SocketAddr) -> Result<Self, String> {
        let e = |e: std::io::Error| format!("/api/v1/events: {e}");
        let mut s = TcpStream::connect(addr).map_err(e)?;
        write!(
            s,
            "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        )
        .map_err(e)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(e)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = s.read(&mut chunk).map_err(e)?;
            if n == 0 {
                return Err("/api/v1/events: closed before its head".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("/api/v1/events: {head}"));
        }
        // No read timeout from here: the server closing the stream ends the reader.
        s.set_read_timeout(None).map_err(e)?;
        let mut es = Self {
            s,
            dechunk: Dechunk::default(),
            body: Vec::new(),
            scanned: 0,
        };
        let rest = buf[end..].to_vec();
        es.dechunk.feed(&rest, &mut es.body);
        Ok(es)
    }

    fn next(&mut self) -> Option<(Instant, String, String)> {
        let mut chunk = vec![0u8; 65536];
        loop {
            if let Some(p) = self.body[self.scanned..]
                .windows(2)
                .position(|w| w == b"\n\n")
            {
                let end = self.scanned + p;
                let at = Instant::now();
                let text = String::from_utf8_lossy(&self.body[..end]).into_owned();
                self.body.drain(..end + 2);
                self.scanned = 0;
                let mut kind = String::from("message");
                let mut data = String::new();
                for l in text.split('\n') {
                    if let Some(v) = l.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = l.strip_prefix("data:") {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if kind == "message" && data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((at, kind, data));
            }
            self.scanned = self.body.len().saturating_sub(1);
            let n = match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            self.dechunk.feed(&chunk[..n], &mut self.body);
        }
    }
}

/// Simulator process: N printers and the control API until stdin closes; prints
/// `ready <control address>`.
fn sim(args: Vec<String>) {
    let n: usize = args[0].parse().expect("count");
    let specs: Vec<_> = (0..n)
        .map(|i| {
            let mut s = PrinterSpec::numbered(Model::Adventurer5M, i as u32);
            let mut net = Placement::at(address(i));
            net.tcp_port = Some(TCP_PORT);
            net.http_port = Some(HTTP_PORT);
            net.discovery_ports = Some(Vec::new());
            s.net = net;
            s
        })
        .collect();
    let mut server = match SimServer::start(specs, &ServerConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            println!("error {e}");
            std::process::exit(1);
        }
    };
    let ctl = match server.start_control("127.0.0.1:0".parse().unwrap()) {
        Ok(a) => a,
        Err(e) => {
            println!("error control API: {e}");
            std::process::exit(1);
        }
    };
    let mut list = String::new();
    for h in server.printers() {
        let http = h.http.map_or("-".to_owned(), |a| a.to_string());
        let tcp = h.tcp.map_or("-".to_owned(), |a| a.to_string());
        list.push_str(&format!("{http} {tcp} {} {}\n", h.serial(), h.check_code()));
    }
    std::fs::write(&args[1], list).expect("printer list");
    println!("ready {ctl}");
    std::io::stdout().flush().ok();
    // Until the parent closes our stdin.
    let _ = std::io::stdin().read_line(&mut String::new());
    server.shutdown();
}

/// Server process: prints `base <VmRSS KiB>` with the server started and no printers, then
/// `ready` once the printers are added; answers `stats` lines on stdin; stops when stdin
/// closes.
fn server(args: Vec<String>) {
    let entries: Vec<PrinterEntry> = std::fs::read_to_string(&args[0])
        .expect("printer list")
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(' ').collect();
            let http: SocketAddr = f[0].parse().expect("http address");
            let tcp: Option<SocketAddr> = f[1].parse().ok();
            let ep = Endpoint::new(http.ip())
                .with_ports(tcp.map_or(TCP_PORT, |t| t.port()), http.port());
            let creds = Credentials::new(f[2], f[3]).expect("credentials");
            let mut e = PrinterEntry::new(&format!("p{i}"), ep, Some(creds));
            e.model = Some(Model::Adventurer5M);
            e
        })
        .collect();
    let interval = Duration::from_secs_f64(args[1].parse().expect("interval"));
    let listen: SocketAddr = args[2].parse().expect("listen address");
    // The CLI's runtime: one thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut config = Config::new(Token::new(TOKEN).expect("token"));
        config.listen = listen;
        config.interval = interval;
        let server = match Server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                println!("error {e}");
                std::process::exit(1);
            }
        };
        println!("base {}", status_kib("self", "VmRSS:"));
        let n = entries.len().max(1) as u32;
        for (i, e) in entries.into_iter().enumerate() {
            // As `Server::start` spreads them: the first polls over one interval.
            server.farm().add(e, interval / n * i as u32);
        }
        println!("ready");
        std::io::stdout().flush().ok();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let farm = server.farm().clone();
        std::thread::spawn(move || {
            // `stats`: successful polls, printers online, CPU ns, VmRSS KiB, all read now.
            let mut line = String::new();
            while matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0) {
                if line.trim() == "stats" {
                    let cpu = process_cpu(std::process::id());
                    let (mut polls, mut online) = (0u64, 0usize);
                    for s in farm.slots() {
                        let snap = s.snapshot();
                        polls += snap.polls;
                        online += usize::from(snap.online);
                    }
                    let rss = status_kib("self", "VmRSS:");
                    println!("stats {polls} {online} {} {rss}", cpu.as_nanos());
                    std::io::stdout().flush().ok();
                }
                line.clear();
            }
            let _ = tx.send(());
        });
        let _ = rx.await;
        server.shutdown().await;
    });
}
