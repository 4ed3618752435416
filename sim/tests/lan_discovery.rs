//! Discovery like a LAN printer: broadcast and multicast probes reach a farm of printers, each
//! on its own loopback address with the standard ports, and every reply comes from the
//! printer's own address.
//!
//! Broadcasts and multicasts must never leave the machine, so each test re-runs itself inside
//! a network namespace that has only loopback (`unshare -n`, which needs root). Where that is
//! not possible the test says `SKIP` on stderr and passes, unless `FF_REQUIRE_NETNS=1` (CI,
//! which runs as root) makes it a failure.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use flashforge_proto::discovery::{DiscoveryReply, FLASHPRINT_PROBE};
use flashforge_proto::Model;
use flashforge_sim::{Placement, PrinterSpec, ServerConfig, SimServer, Sockets, MODELS};

const IN_NETNS: &str = "FF_SIM_IN_NETNS";

/// Runs `test` inside a fresh loopback-only namespace (this test binary again, only that
/// test). Returns true when the caller is already inside and should run the body.
fn in_netns(test: &str) -> bool {
    if std::env::var_os(IN_NETNS).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary");
    let script = "ip link set lo up && ip route add 224.0.0.0/4 dev lo && \
                  ip route add default dev lo && exec \"$0\" \"$1\" --exact --nocapture";
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .arg(&exe)
        .arg(test)
        .env(IN_NETNS, "1")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let stdout = String::from_utf8_lossy(&o.stdout);
            assert!(
                stdout.contains("1 passed"),
                "the test did not run inside the namespace:\n{stdout}"
            );
        }
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("running 1 test") => panic!(
            "{test} failed inside the namespace:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("FF_REQUIRE_NETNS").is_none(),
                "FF_REQUIRE_NETNS is set but no namespace could be made: {why}"
            );
            eprintln!(
                "SKIP {test}: needs a loopback-only network namespace (unshare -n, root): {why}"
            );
        }
    }
    false
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// All seven models on 127.0.0.10 … 127.0.0.16, and a second Adventurer 5M on 127.0.0.20
/// sharing the probe ports, each with the standard ports; own or shared sockets.
fn farm(sockets: Sockets) -> SimServer {
    let mut specs: Vec<PrinterSpec> = MODELS
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let mut s = PrinterSpec::numbered(m, i as u32 + 1);
            s.net = Placement::at(ip(10 + i as u8));
            s
        })
        .collect();
    let mut twin = PrinterSpec::numbered(Model::Adventurer5M, 99);
    twin.net = Placement::at(ip(20));
    specs.push(twin);
    let mut cfg = ServerConfig::default();
    cfg.sockets = sockets;
    SimServer::start(specs, &cfg).expect("farm starts")
}

/// Sends one probe to `to` and collects replies by source until `want` sources answered or
/// 5 s passed.
fn probe(to: SocketAddr, want: usize) -> BTreeMap<SocketAddr, DiscoveryReply> {
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_broadcast(true).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    sock.send_to(&FLASHPRINT_PROBE, to).unwrap();
    let mut got = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 1024];
    while got.len() < want && Instant::now() < end {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            got.insert(
                from,
                DiscoveryReply::parse(&buf[..n]).expect("a valid reply"),
            );
        }
    }
    // A little longer: nothing unexpected answers either.
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            got.insert(
                from,
                DiscoveryReply::parse(&buf[..n]).expect("a valid reply"),
            );
        }
    }
    got
}

/// The printers expected to answer on `port`: (their address and `port`, serial or name).
fn answering(server: &SimServer, port: u16, multicast: bool) -> BTreeMap<SocketAddr, String> {
    server
        .printers()
        .iter()
        .filter(|h| {
            let spec = h.lock().spec.model.spec();
            let ports = if multicast {
                spec.multicast_ports
            } else {
                spec.discovery_ports
            };
            ports.contains(&port)
        })
        .map(|h| {
            (
                SocketAddr::new(h.udp.ip(), port),
                h.lock().spec.name.clone(),
            )
        })
        .collect()
}

#[test]
fn broadcast_and_multicast_probes_reach_every_printer_from_its_own_address() {
    if in_netns("broadcast_and_multicast_probes_reach_every_printer_from_its_own_address") {
        probes_reach_every_printer(Sockets::PerPrinter);
    }
}

#[test]
fn probes_reach_every_printer_of_a_farm_on_shared_sockets() {
    if in_netns("probes_reach_every_printer_of_a_farm_on_shared_sockets") {
        probes_reach_every_printer(Sockets::Shared);
    }
}

#[test]
fn the_client_finds_the_whole_farm_on_the_lan() {
    if in_netns("the_client_finds_the_whole_farm_on_the_lan") {
        client_finds_the_farm(Sockets::PerPrinter);
    }
}

#[test]
fn the_client_finds_a_farm_on_shared_sockets() {
    if in_netns("the_client_finds_a_farm_on_shared_sockets") {
        client_finds_the_farm(Sockets::Shared);
    }
}

fn probes_reach_every_printer(sockets: Sockets) {
    let server = farm(sockets);
    let group = Ipv4Addr::new(225, 0, 0, 9);
    let cases = [
        (SocketAddr::new(group.into(), 19000), 19000, true),
        (SocketAddr::new(group.into(), 8899), 8899, true),
        (
            SocketAddr::new(Ipv4Addr::BROADCAST.into(), 48899),
            48899,
            false,
        ),
        (
            SocketAddr::new(Ipv4Addr::BROADCAST.into(), 8899),
            8899,
            false,
        ),
        (
            SocketAddr::new(Ipv4Addr::new(127, 255, 255, 255).into(), 48899),
            48899,
            false,
        ),
    ];
    for (to, port, multicast) in cases {
        let want = answering(&server, port, multicast);
        assert!(!want.is_empty(), "{to}: some model answers there");
        let got = probe(to, want.len());
        let sources: Vec<_> = got.keys().copied().collect();
        assert_eq!(
            sources,
            want.keys().copied().collect::<Vec<_>>(),
            "{to}: every printer answering on {port} replied, from its own address and port"
        );
        for (from, reply) in &got {
            let h = server
                .printers()
                .iter()
                .find(|h| h.udp.ip() == from.ip())
                .unwrap();
            let p = h.lock();
            assert_eq!(reply.name, p.spec.name, "{to} from {from}");
            assert_eq!(reply.command_port, 8899, "{from}: standard TCP port");
            if p.spec.model.is_http() {
                assert_eq!(reply.event_port, Some(8898), "{from}: standard HTTP port");
                assert_eq!(reply.serial_number.as_deref(), Some(p.spec.serial.as_str()));
                assert_eq!(reply.lan_mode, Some(1), "{from}: LAN-only mode");
            }
        }
    }
    // A unicast probe to one printer is answered by that printer alone.
    for h in server.printers() {
        let got = probe(h.udp, 1);
        assert_eq!(
            got.keys().copied().collect::<Vec<_>>(),
            vec![h.udp],
            "unicast to {}",
            h.udp
        );
    }
    // A connection to an address of the farm without a printer gets nothing.
    let nobody = SocketAddr::new(ip(30), 8899);
    if let Ok(mut s) = std::net::TcpStream::connect_timeout(&nobody, Duration::from_secs(2)) {
        use std::io::{Read, Write};
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = s.write_all(b"~M115\r\n");
        let mut b = [0u8; 16];
        assert!(
            matches!(s.read(&mut b), Ok(0) | Err(_)),
            "nobody answers at {nobody}"
        );
    }
    server.shutdown();
}

fn client_finds_the_farm(sockets: Sockets) {
    let server = farm(sockets);
    let mut options = flashforge_blocking::DiscoverOptions::default();
    options.config.total_timeout = Some(Duration::from_secs(4));
    let found = flashforge_blocking::discover(&options).expect("discovery runs");
    let by_ip: BTreeMap<IpAddr, Model> = found.iter().map(|p| (p.ip, p.reply.model)).collect();
    for h in server.printers() {
        let p = h.lock();
        assert_eq!(
            by_ip.get(&h.udp.ip()),
            Some(&p.spec.model),
            "{} at {} found as its model: {found:?}",
            p.spec.name,
            h.udp.ip()
        );
    }
    assert_eq!(
        by_ip.len(),
        server.printers().len(),
        "nothing else: {found:?}"
    );
    // The standard ports it advertises are real: the found address takes a TCP session.
    let a5m = found
        .iter()
        .find(|p| p.ip == ip(12))
        .expect("the 5M at 127.0.0.12");
    assert_eq!(a5m.command_addr(), SocketAddr::new(ip(12), 8899));
    assert_eq!(a5m.http_addr(), Some(SocketAddr::new(ip(12), 8898)));
    std::net::TcpStream::connect_timeout(&a5m.command_addr(), Duration::from_secs(2))
        .expect("TCP 8899 of the found printer");
    server.shutdown();
}
