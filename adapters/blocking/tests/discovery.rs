//! Discovery on loopback against hand-made responders (issue 14 point 6): a reply from a port
//! that was not probed is not a printer, a reply naming port 0 is refused, and `timeout` is
//! the total time of the search.

#![allow(clippy::disallowed_methods)] // wall-clock checks of the adapter's deadline

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use flashforge_blocking::{discover_with_stats, DiscoverOptions};
use flashforge_proto::discovery::DiscoveryReply;

/// A printer on `sock` that answers each probe from its own port, while a forger on another
/// port answers too, and the printer also sends a reply naming port 0. Runs until `stop`.
fn responder(sock: UdpSocket, forger: UdpSocket, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            let Ok((_, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let real = DiscoveryReply::modern("Real", "SNREAL", 0x26).encode();
            let forged = DiscoveryReply::modern("Forged", "SNFORGED", 0x26).encode();
            let zero = DiscoveryReply::modern("Zero", "SNZERO", 0x26)
                .with_ports(0, 0)
                .encode();
            let _ = forger.send_to(&forged, from);
            let _ = sock.send_to(&zero, from);
            let _ = sock.send_to(&real, from);
        }
    })
}

#[test]
fn a_reply_from_a_port_that_was_not_probed_is_not_listed() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let h = responder(sock, forger, stop.clone());
    let opts = DiscoverOptions::unicast([target]).timeout(Duration::from_secs(1));
    let result = discover_with_stats(&opts).unwrap();
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    let names: Vec<_> = result
        .printers
        .iter()
        .map(|p| p.reply.name.as_str())
        .collect();
    assert_eq!(names, ["Real"], "{result:?}");
    assert!(result.stats.unsolicited >= 1, "{:?}", result.stats);
    assert!(
        result.stats.rejected >= 1,
        "the port-0 reply: {:?}",
        result.stats
    );
    assert!(!result.stats.truncated);
}

#[test]
fn the_timeout_is_the_total_time_of_a_silent_search() {
    // A bound socket that never answers: the search retries until the total, then stops.
    // (Before: three attempts of min(timeout, 1.5 s idle) and two 1 s pauses, 5 s for 1 s.)
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let opts =
        DiscoverOptions::unicast([silent.local_addr().unwrap()]).timeout(Duration::from_secs(1));
    let t0 = Instant::now();
    let result = discover_with_stats(&opts).unwrap();
    let took = t0.elapsed();
    assert!(result.printers.is_empty());
    // The lower bound is exact (the core's deadline); the upper one leaves room for a loaded
    // machine.
    assert!(took >= Duration::from_millis(990), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[test]
fn hitting_max_printers_is_reported() {
    // Three printers behind one address (distinct serials), a bound of two.
    let socks: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let targets: Vec<_> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = socks
        .into_iter()
        .enumerate()
        .map(|(i, sock)| {
            let stop = stop.clone();
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            thread::spawn(move || {
                let mut buf = [0u8; 512];
                let reply = DiscoveryReply::modern("AD5X", &format!("SN{i}"), 0x26).encode();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((_, from)) = sock.recv_from(&mut buf) {
                        let _ = sock.send_to(&reply, from);
                    }
                }
            })
        })
        .collect();
    let mut opts = DiscoverOptions::unicast(targets).timeout(Duration::from_secs(1));
    opts.config.max_printers = 2;
    let result = discover_with_stats(&opts).unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(result.printers.len(), 2);
    assert!(result.stats.truncated, "{:?}", result.stats);
    assert!(result.stats.over_limit >= 1);
}
