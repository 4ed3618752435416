//! A print farm in one process: starts N simulated printers (all seven models in turn) on
//! loopback, checks that every one answers discovery by unicast, and reports memory.
//!
//! ```text
//! cargo run --release -p flashforge-sim --example farm -- 1000
//! ```

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use flashforge_proto::discovery::DiscoveryReply;
use flashforge_sim::{PrinterSpec, ServerConfig, SimServer, MODELS};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> std::io::Result<()> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let before = rss_kib();
    let t0 = Instant::now();
    let specs = (0..n)
        .map(|i| PrinterSpec::numbered(MODELS[i as usize % MODELS.len()], i))
        .collect();
    let server = SimServer::start(specs, &ServerConfig::default())?;
    let started = t0.elapsed();
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
    // Every printer answers a unicast probe on loopback.
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut answered = 0;
    let mut buf = [0u8; 512];
    for chunk in server.printers().chunks(50) {
        for h in chunk {
            sock.send_to(&flashforge_proto::discovery::FLASHPRINT_PROBE, h.udp)?;
        }
        for _ in chunk {
            let (len, _) = sock.recv_from(&mut buf)?;
            if DiscoveryReply::parse(&buf[..len]).is_ok() {
                answered += 1;
            }
        }
    }
    let after = rss_kib();
    println!(
        "{n} printers: started in {:.2?}, {answered} answered discovery, {threads} threads, RSS {} MiB (before {} MiB, {:.1} KiB per printer)",
        started,
        after.unwrap_or(0) / 1024,
        before.unwrap_or(0) / 1024,
        (after.unwrap_or(0).saturating_sub(before.unwrap_or(0))) as f64 / f64::from(n.max(1)),
    );
    assert_eq!(answered, n, "every printer answers");
    server.shutdown();
    Ok(())
}
