//! Unit tests of the discovery state machine and codec, on a virtual clock.

use super::reply::*;
use super::*;
use crate::Model;

fn at(ms: u64, base: Instant) -> Instant {
    base + Duration::from_millis(ms)
}

#[allow(clippy::disallowed_methods)] // tests may read the clock
fn base() -> Instant {
    Instant::now()
}

fn lo(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn drain(d: &mut Discovery) -> usize {
    std::iter::from_fn(|| d.poll_transmit()).count()
}

#[test]
fn encode_parse_round_trip_for_every_model() {
    for (reply, model) in [
        (
            DiscoveryReply::modern("Adventurer 5M", "SN5M", 0x23),
            Model::Adventurer5M,
        ),
        (
            DiscoveryReply::modern("x", "SN5MP", 0x24),
            Model::Adventurer5MPro,
        ),
        (DiscoveryReply::modern("AD5X", "SNAD", 0x26), Model::AD5X),
        (
            DiscoveryReply::modern("Creator 5", "SNC5", 0x28),
            Model::Creator5,
        ),
        (
            DiscoveryReply::modern("Rig", "SNC5P", 0x29),
            Model::Creator5Pro,
        ),
        (
            DiscoveryReply::legacy("Adventurer 3", 0x08),
            Model::Adventurer3,
        ),
        (DiscoveryReply::legacy("Shop", 0x1E), Model::Adventurer4),
    ] {
        let reply = reply.with_status(1).with_ports(9000, 9001);
        assert_eq!(reply.model, model);
        let bytes = reply.encode();
        let back = DiscoveryReply::parse(&bytes).unwrap();
        assert_eq!(back, reply);
    }
}

#[test]
fn garbage_is_rejected_with_a_reason() {
    let mut d = DiscoveryReply::modern("AD5X", "SN1", 0x26).encode();
    d[10] = b'Z'; // after the name's NUL
    assert!(matches!(
        DiscoveryReply::parse(&d),
        Err(DiscoveryError::NotPadded {
            field: TextField::Name,
            offset: 10,
            byte: b'Z'
        })
    ));
    let mut d = DiscoveryReply::modern("AD5X", "SN1", 0x26).encode();
    d[1] = b'\n';
    assert!(matches!(
        DiscoveryReply::parse(&d),
        Err(DiscoveryError::ControlByte {
            field: TextField::Name,
            offset: 1,
            ..
        })
    ));
    let mut d = DiscoveryReply::modern("AD5X", "SN1", 0x26).encode();
    d[0x92 + 1] = 0xC3;
    assert!(matches!(
        DiscoveryReply::parse(&d),
        Err(DiscoveryError::NonAsciiSerial { offset: 0x93, .. })
    ));
    assert_eq!(
        DiscoveryReply::parse(&[0; 276]),
        Err(DiscoveryError::EmptyName)
    );
    assert_eq!(
        DiscoveryReply::parse(&[0x41; 139]),
        Err(DiscoveryError::TooShort { len: 139 })
    );
    assert!(matches!(
        DiscoveryReply::parse(&[0x41; 2000]),
        Err(DiscoveryError::TooLong { len: 2000, .. })
    ));
    // A pseudo-random datagram of a valid length never becomes a printer.
    let mut x = 0x1234_5678_u32;
    for len in [140, 200, 276, 300] {
        for _ in 0..200 {
            let d: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            assert!(DiscoveryReply::parse(&d).is_err());
        }
    }
}

#[test]
fn invalid_utf8_name_is_replaced_not_rejected() {
    let mut d = DiscoveryReply::legacy("Adventurer 3", 8).encode();
    d[0] = 0xFF;
    let r = DiscoveryReply::parse(&d).unwrap();
    assert!(r.name_lossy);
    assert!(r.name.starts_with('\u{FFFD}'));
    assert_eq!(r.model, Model::Adventurer3);
}

#[test]
fn lan_destinations_follow_the_reference_clients() {
    let directed = [directed_broadcast(
        Ipv4Addr::new(192, 168, 7, 20),
        Ipv4Addr::new(255, 255, 255, 0),
    )];
    assert_eq!(directed[0], Ipv4Addr::new(192, 168, 7, 255));
    let d = lan_destinations(&DEFAULT_PORTS, &directed, true, true);
    let s: Vec<String> = d.iter().map(|d| d.addr.to_string()).collect();
    assert_eq!(
        s,
        [
            "225.0.0.9:8899",
            "225.0.0.9:19000",
            "192.168.7.255:48899",
            "255.255.255.255:8899",
            "255.255.255.255:19000",
            "255.255.255.255:48899"
        ]
    );
    assert!(lan_destinations(&DEFAULT_PORTS, &directed, false, false).is_empty());
}

#[test]
fn one_shot_retries_until_a_printer_answers() {
    let t0 = base();
    let cfg = DiscoveryConfig {
        probes: vec![Probe::FlashPrint],
        ..Default::default()
    };
    let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &[48899]), t0);
    assert_eq!(drain(&mut d), 1);
    // Silence: the attempt ends 1.5 s after the send, then a 1 s pause.
    assert_eq!(d.poll_timeout(), Some(at(1500, t0)));
    d.handle_timeout(at(1499, t0));
    assert_eq!(d.attempt(), 1);
    d.handle_timeout(at(1500, t0));
    assert_eq!(d.poll_timeout(), Some(at(2500, t0)));
    assert_eq!(drain(&mut d), 0);
    d.handle_timeout(at(2500, t0));
    assert_eq!(d.attempt(), 2);
    assert_eq!(drain(&mut d), 1);
    // Garbage resets the idle timer but finds nothing.
    assert!(d
        .handle_datagram(lo(48899), b"hello", at(3000, t0))
        .is_err());
    assert_eq!(d.poll_timeout(), Some(at(4500, t0)));
    let reply = DiscoveryReply::modern("AD5X", "SN1", 0x26).encode();
    d.handle_datagram(lo(48899), &reply, at(4000, t0)).unwrap();
    // The same reply again is a duplicate; a modern record is not replaced by a legacy one.
    d.handle_datagram(lo(48899), &reply, at(4100, t0)).unwrap();
    let legacy = DiscoveryReply::legacy("AD5X", 0x26).encode();
    d.handle_datagram(lo(48899), &legacy, at(4200, t0)).unwrap();
    d.handle_timeout(at(5700, t0));
    assert!(d.is_finished());
    let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    assert!(matches!(
        &events[..],
        [
            DiscoveryEvent::AttemptStarted { attempt: 1 },
            DiscoveryEvent::AttemptStarted { attempt: 2 },
            DiscoveryEvent::Found(_),
            DiscoveryEvent::Finished { printers: 1 }
        ]
    ));
    assert_eq!(d.stats().duplicates, 2);
    assert_eq!(d.stats().rejected, 1);
    // Datagrams after the end change nothing.
    d.handle_datagram(lo(1), &reply, at(6000, t0)).unwrap();
    assert_eq!(d.printers().len(), 1);
}

#[test]
fn one_shot_gives_up_after_max_retries_and_caps_the_attempt() {
    let t0 = base();
    let cfg = DiscoveryConfig {
        max_retries: 2,
        timeout: Duration::from_millis(1000),
        ..Default::default()
    };
    let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &DEFAULT_PORTS), t0);
    drain(&mut d);
    // Chatter keeps the idle timer alive, but the attempt still ends at `timeout`.
    for ms in (100..1000).step_by(100) {
        let _ = d.handle_datagram(lo(8899), b"x", at(ms, t0));
    }
    assert_eq!(d.poll_timeout(), Some(at(1000, t0)));
    d.handle_timeout(at(1000, t0));
    d.handle_timeout(at(2000, t0));
    assert_eq!(d.attempt(), 2);
    drain(&mut d);
    d.handle_timeout(at(3500, t0));
    assert!(d.is_finished());
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn status_change_and_upgrade_are_updates_and_the_printer_bound_holds() {
    let t0 = base();
    let cfg = DiscoveryConfig {
        max_printers: 2,
        mode: DiscoveryMode::Monitor,
        ..Default::default()
    };
    let other_ip = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 19000);
    let mut dests = unicast_destinations(lo(0).ip(), &[19000]);
    dests.extend(unicast_destinations(other_ip.ip(), &[19000]));
    let mut d = Discovery::new(cfg, dests, t0);
    drain(&mut d);
    let legacy = DiscoveryReply::legacy("Adventurer 5M", 0x23).encode();
    d.handle_datagram(lo(19000), &legacy, at(1, t0)).unwrap();
    let modern = DiscoveryReply::modern("Adventurer 5M", "S", 0x23);
    d.handle_datagram(lo(19000), &modern.encode(), at(2, t0))
        .unwrap();
    d.handle_datagram(
        lo(19000),
        &modern.clone().with_status(1).encode(),
        at(3, t0),
    )
    .unwrap();
    let other = DiscoveryReply::modern("B", "T", 0x24).with_ports(8900, 8898);
    d.handle_datagram(lo(19000), &other.encode(), at(4, t0))
        .unwrap();
    let third = DiscoveryReply::modern("C", "U", 0x24);
    assert!(matches!(
        d.handle_datagram(other_ip, &third.encode(), at(5, t0)),
        Err(DatagramError::TooManyPrinters { max: 2, .. })
    ));
    let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    // One Found per printer: the updates before the first poll coalesce into it; the bound
    // is reported once.
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3], DiscoveryEvent::LimitReached { max: 2 });
    assert!(d.stats().truncated);
    assert_eq!(d.stats().over_limit, 1);
    let DiscoveryEvent::Found(first) = &events[1] else {
        panic!()
    };
    assert_eq!(first.reply.status, PrinterStatus::Busy);
    assert_eq!(first.reply.format, ReplyFormat::Modern);
    d.handle_datagram(lo(19000), &modern.encode(), at(6, t0))
        .unwrap();
    assert!(matches!(d.poll_event(), Some(DiscoveryEvent::Updated(_))));
    // Monitor: idle timeout once a printer is known.
    assert_eq!(d.poll_timeout(), Some(at(1506, t0)));
    d.handle_timeout(at(1506, t0));
    assert!(d.is_finished());
}

#[test]
fn monitor_resends_every_timeout_until_the_total() {
    let t0 = base();
    let cfg = DiscoveryConfig {
        mode: DiscoveryMode::Monitor,
        timeout: Duration::from_millis(100),
        max_retries: 3,
        probes: vec![Probe::Empty],
        ..Default::default()
    };
    let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &[8899]), t0);
    let mut sent = drain(&mut d);
    let mut now = t0;
    while let Some(t) = d.poll_timeout() {
        assert!(t >= now);
        now = t;
        d.handle_timeout(now);
        sent += drain(&mut d);
    }
    assert_eq!(sent, 3);
    assert_eq!(now, at(300, t0));
}

/// Feeds `d` until it finishes, never past `limit`; returns when it finished.
fn run_to_end(d: &mut Discovery, t0: Instant, limit: Duration) -> Instant {
    let mut now = t0;
    drain(d);
    while let Some(t) = d.poll_timeout() {
        assert!(t >= now, "time went back");
        assert!(t <= t0 + limit, "wake-up {:?} after the total", t - t0);
        now = t;
        d.handle_timeout(now);
        drain(d);
    }
    now
}

#[test]
fn the_total_timeout_caps_attempts_and_pauses() {
    // `discover --seconds 2`: one attempt is 1.5 s of silence and a 1 s pause, so three
    // attempts took 6.5 s; with the total, the search ends at exactly 2 s.
    let t0 = base();
    for mode in [DiscoveryMode::OneShot, DiscoveryMode::Monitor] {
        let cfg = DiscoveryConfig {
            timeout: Duration::from_secs(2),
            total_timeout: Some(Duration::from_secs(2)),
            mode,
            ..Default::default()
        };
        let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &DEFAULT_PORTS), t0);
        let end = run_to_end(&mut d, t0, Duration::from_secs(2));
        assert_eq!(end, at(2000, t0), "{mode:?}");
        assert!(d.is_finished());
    }
    // A longer total keeps retrying until it (not three attempts and out at 6.5 s).
    let cfg = DiscoveryConfig {
        timeout: Duration::from_secs(10),
        total_timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &[48899]), t0);
    let end = run_to_end(&mut d, t0, Duration::from_secs(10));
    assert_eq!(end, at(10_000, t0));
    assert_eq!(d.attempt(), 4); // 0, 2.5, 5, 7.5 s
                                // Chatter cannot stretch it either.
    let cfg = DiscoveryConfig {
        total_timeout: Some(Duration::from_millis(1200)),
        ..Default::default()
    };
    let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &[48899]), t0);
    drain(&mut d);
    for ms in (100..1200).step_by(100) {
        let _ = d.handle_datagram(lo(48899), b"x", at(ms, t0));
        assert!(d.poll_timeout().unwrap() <= at(1200, t0));
    }
    d.handle_timeout(at(1200, t0));
    assert!(d.is_finished());
    // A printer found early still ends the one-shot search on idle, before the total.
    let cfg = DiscoveryConfig {
        total_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &[48899]), t0);
    drain(&mut d);
    let reply = DiscoveryReply::modern("AD5X", "SN1", 0x26).encode();
    d.handle_datagram(lo(48899), &reply, at(10, t0)).unwrap();
    let end = run_to_end(&mut d, t0, Duration::from_secs(5));
    assert_eq!(end, at(1510, t0));
}

#[test]
fn only_answers_to_the_probes_are_accepted() {
    let t0 = base();
    let reply = DiscoveryReply::modern("AD5X", "SN1", 0x26).encode();
    // A simulator probed by unicast on a port of its own.
    let mut d = Discovery::new(
        DiscoveryConfig::default(),
        unicast_destinations(lo(0).ip(), &[40000]),
        t0,
    );
    drain(&mut d);
    let before = d.poll_timeout();
    // Another port of the probed address: a forged printer.
    assert_eq!(
        d.handle_datagram(lo(40001), &reply, at(5, t0)),
        Err(DatagramError::Unsolicited {
            from: lo(40001),
            reason: UnsolicitedReason::WrongPort
        })
    );
    // Another address, even from the probed port.
    let other = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 40000);
    assert!(matches!(
        d.handle_datagram(other, &reply, at(6, t0)),
        Err(DatagramError::Unsolicited {
            reason: UnsolicitedReason::NotProbed,
            ..
        })
    ));
    // Dropped datagrams do not keep the attempt alive.
    assert_eq!(d.poll_timeout(), before);
    assert!(d.printers().is_empty());
    assert_eq!(d.stats().unsolicited, 2);
    assert_eq!(d.stats().rejected, 0);
    assert_eq!(d.stats().datagrams, 2);
    // The probed port and the documented printer ports of that address are accepted.
    d.handle_datagram(lo(40000), &reply, at(7, t0)).unwrap();
    for port in DEFAULT_PORTS {
        let r = DiscoveryReply::modern("AD5X", &format!("SN{port}"), 0x26).encode();
        d.handle_datagram(lo(port), &r, at(8, t0)).unwrap();
    }
    assert_eq!(d.printers().len(), 4);

    // LAN search: any address, but only from a probed or documented printer port.
    let lan = lan_destinations(&DEFAULT_PORTS, &[Ipv4Addr::new(10, 0, 0, 255)], true, true);
    let mut d = Discovery::new(DiscoveryConfig::default(), lan, t0);
    drain(&mut d);
    let printer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)), 48899);
    d.handle_datagram(printer, &reply, at(5, t0)).unwrap();
    let forged = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 8)), 5353);
    assert!(matches!(
        d.handle_datagram(forged, &reply, at(6, t0)),
        Err(DatagramError::Unsolicited {
            reason: UnsolicitedReason::WrongPort,
            ..
        })
    ));
    for bad in [Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, MULTICAST_GROUP] {
        let from = SocketAddr::new(IpAddr::V4(bad), 19000);
        assert!(matches!(
            d.handle_datagram(from, &reply, at(7, t0)),
            Err(DatagramError::Unsolicited {
                reason: UnsolicitedReason::BadSource,
                ..
            })
        ));
    }
    assert_eq!(d.printers().len(), 1);
    assert_eq!(d.stats().unsolicited, 4);
    // An IPv4-mapped IPv6 source is the same address.
    let mut d = Discovery::new(
        DiscoveryConfig::default(),
        unicast_destinations(lo(0).ip(), &[40000]),
        t0,
    );
    drain(&mut d);
    let mapped = SocketAddr::new(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()), 40000);
    d.handle_datagram(mapped, &reply, at(5, t0)).unwrap();
}

#[test]
fn port_zero_is_malformed() {
    let t0 = base();
    let mut d = Discovery::new(
        DiscoveryConfig::default(),
        unicast_destinations(lo(0).ip(), &[48899]),
        t0,
    );
    drain(&mut d);
    for (reply, field) in [
        (
            DiscoveryReply::modern("AD5X", "SN1", 0x26).with_ports(0, 8898),
            PortField::Command,
        ),
        (
            DiscoveryReply::modern("AD5X", "SN1", 0x26).with_ports(8899, 0),
            PortField::Http,
        ),
        (
            DiscoveryReply::legacy("Adventurer 4", 0x1E).with_ports(0, 0),
            PortField::Command,
        ),
    ] {
        let bytes = reply.encode();
        let parsed = DiscoveryReply::parse(&bytes).unwrap();
        assert_eq!(
            parsed.check_ports(),
            Err(DiscoveryError::ZeroPort { field })
        );
        assert_eq!(
            d.handle_datagram(lo(48899), &bytes, at(5, t0)),
            Err(DatagramError::Malformed {
                from: lo(48899),
                error: DiscoveryError::ZeroPort { field }
            })
        );
    }
    assert!(d.printers().is_empty());
    assert_eq!(d.stats().rejected, 3);
    // A legacy reply has no HTTP port to check.
    let ok = DiscoveryReply::legacy("Adventurer 4", 0x1E).with_ports(8899, 0);
    d.handle_datagram(lo(48899), &ok.encode(), at(6, t0))
        .unwrap();
}

#[test]
fn hitting_max_printers_is_reported_once_and_in_the_result() {
    let t0 = base();
    let cfg = DiscoveryConfig {
        max_printers: 3,
        ..Default::default()
    };
    let mut d = Discovery::new(cfg, unicast_destinations(lo(0).ip(), &[48899]), t0);
    drain(&mut d);
    for i in 0..6 {
        let r = DiscoveryReply::modern("AD5X", &format!("SN{i}"), 0x26).encode();
        let res = d.handle_datagram(lo(48899), &r, at(5 + i, t0));
        assert_eq!(res.is_ok(), i < 3, "{i}: {res:?}");
    }
    let events: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
    let limits = events
        .iter()
        .filter(|e| matches!(e, DiscoveryEvent::LimitReached { max: 3 }))
        .count();
    assert_eq!(limits, 1, "{events:?}");
    d.stop();
    let result = d.into_result();
    assert_eq!(result.printers.len(), 3);
    assert!(result.stats.truncated);
    assert_eq!(result.stats.over_limit, 3);
    // Below the bound nothing is reported.
    let mut d = Discovery::new(
        DiscoveryConfig::default(),
        unicast_destinations(lo(0).ip(), &[48899]),
        t0,
    );
    drain(&mut d);
    let r = DiscoveryReply::modern("AD5X", "SN", 0x26).encode();
    d.handle_datagram(lo(48899), &r, at(5, t0)).unwrap();
    assert!(!d.stats().truncated);
}
