//! Every fixture of `tests/data/discovery/manifest.json` (copied from `shared/fixtures/discovery`):
//! replies through `DiscoveryReply::parse` and the `Discovery` state machine, probes against
//! the probe constants; every `expected` key is asserted.

#![allow(clippy::disallowed_methods)] // tests take a base Instant from the clock

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use flashforge_proto::discovery::{
    unicast_destinations, DatagramError, Discovery, DiscoveryConfig, DiscoveryError,
    DiscoveryEvent, DiscoveryReply, Probe,
};
use serde_json::Value;

mod common;

fn fixtures() -> Vec<(Value, Vec<u8>)> {
    let list = common::manifest("discovery");
    for (f, bytes) in &list {
        assert_eq!(bytes.len() as u64, f["size_bytes"].as_u64().unwrap());
    }
    list
}

#[test]
fn every_fixture_parses_as_the_manifest_says() {
    let mut checked = 0;
    for (f, bytes) in fixtures() {
        let file = f["file"].as_str().unwrap();
        flashforge_proto::fuzz::discovery(&bytes, Instant::now());
        let expected = f["expected"].as_object().unwrap();
        match f["parser"].as_str().unwrap() {
            "probe" => {
                assert_eq!(expected["length"].as_u64().unwrap() as usize, bytes.len());
                let probe = Probe::classify(&bytes).unwrap_or_else(|| panic!("{file}"));
                assert_eq!(probe.bytes(), &bytes[..]);
                if let Some(prefix) = expected.get("ascii_prefix") {
                    assert!(bytes.starts_with(prefix.as_str().unwrap().as_bytes()));
                }
            }
            "discovery" => match f["outcome"].as_str().unwrap() {
                "ok" => {
                    let reply =
                        DiscoveryReply::parse(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
                    let got = serde_json::to_value(&reply).unwrap();
                    for (k, v) in expected {
                        assert_eq!(&got[k], v, "{file}: {k}");
                    }
                    // The encoder writes the same fields back (excess and historical bytes aside).
                    let again = DiscoveryReply::parse(&reply.encode()).unwrap();
                    assert_eq!(again.name, reply.name, "{file}");
                    assert_eq!(again.model, reply.model, "{file}");
                }
                "error" => {
                    let err = DiscoveryReply::parse(&bytes).expect_err(file);
                    let want = expected["error"].as_str().unwrap();
                    assert!(err.to_string().contains(want), "{file}: {err}");
                }
                other => panic!("{file}: outcome {other}"),
            },
            other => panic!("{file}: parser {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 15);
}

/// Every reply fixture through the state machine, as if each came from its own loopback
/// address: parsed ones become printers with the datagram's source address, errors do not.
#[test]
fn the_state_machine_finds_every_valid_fixture() {
    let t0 = Instant::now();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let fixtures = fixtures();
    let source = |i: usize| IpAddr::V4(Ipv4Addr::new(127, 0, 1, i as u8));
    // Every source is probed (replies from an address no probe went to are dropped).
    let mut destinations = unicast_destinations(lo, &[48899]);
    for i in 0..fixtures.len() {
        destinations.extend(unicast_destinations(source(i), &[48899]));
    }
    let mut d = Discovery::new(DiscoveryConfig::default(), destinations, t0);
    while d.poll_transmit().is_some() {}
    let mut ok = 0;
    for (i, (f, bytes)) in fixtures.into_iter().enumerate() {
        if f["kind"] != "udp-reply" {
            continue;
        }
        let from = SocketAddr::new(source(i), 48899);
        let r = d.handle_datagram(from, &bytes, t0 + Duration::from_millis(i as u64));
        // A reply that parses but names port 0 (the historical 200-byte layout has no port)
        // cannot be connected to: the state machine rejects it as malformed.
        let zero_port = f["expected"]["command_port"] == 0 || f["expected"]["event_port"] == 0;
        let want = f["outcome"] == "ok" && !zero_port;
        assert_eq!(r.is_ok(), want, "{}: {r:?}", f["file"]);
        if zero_port {
            assert!(
                matches!(
                    r,
                    Err(DatagramError::Malformed {
                        error: DiscoveryError::ZeroPort { .. },
                        ..
                    })
                ),
                "{}: {r:?}",
                f["file"]
            );
        }
        ok += usize::from(r.is_ok());
    }
    let found: Vec<_> = std::iter::from_fn(|| d.poll_event())
        .filter_map(|e| match e {
            DiscoveryEvent::Found(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), ok);
    assert!(found
        .iter()
        .all(|p| p.ip.to_string().starts_with("127.0.1.")));
}
