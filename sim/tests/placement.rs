//! Printers on their own loopback addresses with the standard ports, as a client with no port
//! settings (Home Assistant, the Python client) expects: unicast only, so no namespace is
//! needed (`lan_discovery.rs` covers broadcast and multicast).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use flashforge_proto::discovery::{DiscoveryReply, FLASHPRINT_PROBE};
use flashforge_proto::Model;
use flashforge_sim::{Placement, PrinterSpec, ServerConfig, SimServer};

fn ip(last: u8) -> IpAddr {
    // An address block no other test uses.
    IpAddr::V4(Ipv4Addr::new(127, 0, 83, last))
}

fn farm() -> SimServer {
    let specs = [Model::Adventurer3, Model::Adventurer5MPro, Model::Creator5]
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let mut s = PrinterSpec::numbered(m, i as u32 + 1);
            s.net = Placement::at(ip(i as u8 + 1));
            s
        })
        .collect();
    SimServer::start(specs, &ServerConfig::default()).expect("farm starts")
}

fn http(addr: SocketAddr, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn each_printer_answers_on_its_own_address_with_the_standard_ports() {
    let server = farm();
    let [a3, pro, c5] = server.printers() else {
        panic!("three printers")
    };
    // Where each printer is, as its handle says.
    assert_eq!(a3.tcp, Some(SocketAddr::new(ip(1), 8899)));
    assert_eq!(a3.http, None);
    assert_eq!(a3.discovery, vec![SocketAddr::new(ip(1), 8899)]);
    assert_eq!(pro.tcp, Some(SocketAddr::new(ip(2), 8899)));
    assert_eq!(pro.http, Some(SocketAddr::new(ip(2), 8898)));
    assert_eq!(pro.camera, Some(SocketAddr::new(ip(2), 8080)));
    assert_eq!(
        pro.discovery,
        vec![SocketAddr::new(ip(2), 48899), SocketAddr::new(ip(2), 19000)]
    );
    assert_eq!(c5.tcp, None, "the Creator 5 has no TCP server");
    assert_eq!(c5.http, Some(SocketAddr::new(ip(3), 8898)));

    // Unicast discovery on every discovery port, answered from the printer's address.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    for h in server.printers() {
        for &to in &h.discovery {
            sock.send_to(&FLASHPRINT_PROBE, to).unwrap();
            let (n, from) = sock.recv_from(&mut buf).expect("a reply");
            assert_eq!(from, to, "the reply comes from the probed address and port");
            let reply = DiscoveryReply::parse(&buf[..n]).unwrap();
            assert_eq!(reply.name, h.lock().spec.name);
            assert_eq!(reply.command_port, 8899);
        }
    }

    // TCP on 8899: the A3 logs in.
    let mut t = TcpStream::connect_timeout(&a3.tcp.unwrap(), Duration::from_secs(5)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    t.write_all(b"~M601 S1\r\n").unwrap();
    let mut got = [0u8; 256];
    let n = t.read(&mut got).unwrap();
    assert!(
        String::from_utf8_lossy(&got[..n]).contains("Control Success"),
        "{:?}",
        String::from_utf8_lossy(&got[..n])
    );

    // HTTP on 8898: /detail reports the printer's own address and links to its camera.
    let creds = |h: &flashforge_sim::SimHandle| {
        format!(
            "{{\"serialNumber\":\"{}\",\"checkCode\":\"{}\"}}",
            h.serial(),
            h.check_code()
        )
    };
    let detail = http(pro.http.unwrap(), "/detail", &creds(pro));
    assert!(detail.starts_with("HTTP/1.1 200"), "{detail}");
    assert!(detail.contains("\"ipAddr\":\"127.0.83.2\""), "{detail}");
    assert!(
        detail.contains("127.0.83.2:8080"),
        "the camera URL: {detail}"
    );
    // The advertised camera is served: a snapshot is one JPEG.
    let mut cam = TcpStream::connect_timeout(&pro.camera.unwrap(), Duration::from_secs(5)).unwrap();
    cam.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    cam.write_all(b"GET /?action=snapshot HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut snap = Vec::new();
    let _ = cam.read_to_end(&mut snap);
    let head_end = snap
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&snap[..head_end]);
    assert!(
        head.contains(" 200 ") && head.contains("image/jpeg"),
        "{head}"
    );
    assert!(snap[head_end..].starts_with(&[0xFF, 0xD8]), "a JPEG");
    assert!(snap.ends_with(&[0xFF, 0xD9]), "a whole JPEG");
    let detail = http(c5.http.unwrap(), "/detail", &creds(c5));
    assert!(detail.contains("\"ipAddr\":\"127.0.83.3\""), "{detail}");
    server.shutdown();
}

#[test]
fn a_taken_address_is_an_error_naming_the_printer_and_the_address() {
    let mut spec = PrinterSpec::new(Model::Adventurer5M);
    spec.net = Placement::at(ip(50));
    let first = SimServer::start(vec![spec.clone()], &ServerConfig::default()).unwrap();
    let err = SimServer::start(vec![spec], &ServerConfig::default()).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{text}");
    assert!(text.contains("printer 0 (Adventurer 5M"), "{text}");
    assert!(text.contains("127.0.83.50:8899"), "{text}");
    first.shutdown();
}

/// A flood of probes on one printer's discovery socket does not starve the others: the poll
/// thread serves each socket a bounded turn (it used to drain one socket until empty).
#[test]
fn a_probe_flood_on_one_printer_does_not_starve_the_others() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let specs = vec![
        PrinterSpec::numbered(Model::Adventurer5M, 1),
        PrinterSpec::numbered(Model::Adventurer5M, 2),
    ];
    let server = SimServer::start(specs, &ServerConfig::default()).unwrap();
    let (flooded, other) = (server.printers()[0].udp, server.printers()[1].udp);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let floods: Vec<_> = (0..2)
        .map(|_| {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let _ = s.send_to(&FLASHPRINT_PROBE, flooded);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // The flood is under way before the first probe (an event wait, bounded).
    let start = std::time::Instant::now();
    while sent.load(Ordering::Relaxed) < 5000 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the flood never started"
        );
        std::thread::yield_now();
    }
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 512];
    let mut answered = 0;
    for _ in 0..10 {
        sock.send_to(&FLASHPRINT_PROBE, other).unwrap();
        if let Ok((_, from)) = sock.recv_from(&mut buf) {
            assert_eq!(from, other);
            answered += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in floods {
        t.join().unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    // Generous for a loaded machine: most probes get through within half a second each.
    assert!(
        answered >= 5,
        "{answered} of 10 probes answered during a flood of {sent}"
    );
    server.shutdown();
}
