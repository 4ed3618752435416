//! The farm model without sockets: flags and files to specs, and every refusal.

use super::*;
use clap::Parser;

use crate::args::SimCli;

fn args(line: &[&str]) -> SimArgs {
    let mut v = vec!["flashforge sim"];
    v.extend_from_slice(line);
    SimCli::try_parse_from(v).expect("parses").sim
}

fn from_flags(line: &[&str]) -> Result<Farm, FarmError> {
    Farm::from_args(&args(line))
}

fn err(r: Result<Farm, FarmError>) -> String {
    match r {
        Ok(f) => panic!("accepted: {:?}", f.specs()),
        Err(e) => e.to_string(),
    }
}

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn bind_range_counts_up_the_whole_ipv4_address() {
    assert_eq!(
        nth_address(v4("127.0.0.10"), 0, false).unwrap(),
        v4("127.0.0.10")
    );
    assert_eq!(
        nth_address(v4("127.0.0.10"), 5, false).unwrap(),
        v4("127.0.0.15")
    );
    assert_eq!(
        nth_address(v4("127.0.0.255"), 1, false).unwrap(),
        v4("127.0.1.0")
    );
    assert_eq!(
        nth_address(v4("127.0.255.255"), 1, false).unwrap(),
        v4("127.1.0.0")
    );
    assert_eq!(
        nth_address(v4("127.255.255.254"), 1, false).unwrap(),
        v4("127.255.255.255")
    );
    let e = nth_address(v4("127.255.255.255"), 1, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("leaves 127.0.0.0/8"), "{e}");
    let e = nth_address(v4("255.255.255.255"), 1, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("runs past 255.255.255.255"), "{e}");
    assert_eq!(
        nth_address(v4("10.0.0.255"), 1, true).unwrap(),
        v4("10.0.1.0")
    );
    let e = nth_address(v4("::1"), 1, false).unwrap_err().to_string();
    assert!(e.contains("IPv4"), "{e}");
}

#[test]
fn bind_range_gives_each_printer_its_address_with_standard_ports() {
    let f = from_flags(&["--bind-range", "127.0.0.254", "--count", "3"]).unwrap();
    let ips: Vec<_> = f.specs().iter().map(|s| s.net.bind.unwrap()).collect();
    assert_eq!(ips, [v4("127.0.0.254"), v4("127.0.0.255"), v4("127.0.1.0")]);
    for s in f.specs() {
        assert_eq!(s.net.tcp_port, None);
        assert_eq!(s.net.http_port, None);
        assert_eq!(s.ip, s.net.bind.unwrap().to_string());
    }
    // The /8's broadcast address is not a printer's.
    let e = err(from_flags(&[
        "--bind-range",
        "127.255.255.254",
        "--count",
        "2",
    ]));
    assert!(e.contains("broadcast"), "{e}");
    let e = err(from_flags(&["--bind", "127.0.0.0"]));
    assert!(e.contains("network or broadcast"), "{e}");
}

#[test]
fn identity_flags_reach_the_spec() {
    let f = from_flags(&[
        "-m",
        "ad5x",
        "--name",
        "Bench",
        "--serial",
        "SNX1",
        "--check-code",
        "c0de",
        "--firmware",
        "9.9.9",
        "--mac",
        "02:00:00:00:00:0a",
        "--job-seconds",
        "42",
        "--speed",
        "3",
        "--a3-shape",
        "a",
    ])
    .unwrap();
    let s = &f.specs()[0];
    assert_eq!(s.model, Model::AD5X);
    assert_eq!(
        (s.name.as_str(), s.serial.as_str(), s.check_code.as_str()),
        ("Bench", "SNX1", "c0de")
    );
    assert_eq!(
        (s.firmware.as_str(), s.mac.as_str()),
        ("9.9.9", "02:00:00:00:00:0A")
    );
    assert_eq!(s.job_duration, Duration::from_secs(42));
    assert_eq!(s.speed, 3.0);
    assert_eq!(s.a3_shape, A3Shape::ShapeA);
    assert_eq!(s.net, Placement::default());
    // The hidden old spelling still works.
    let f = from_flags(&["--sim-check-code", "old"]).unwrap();
    assert_eq!(f.specs()[0].check_code, "old");
}

#[test]
fn several_printers_are_numbered_uniquely() {
    let f = from_flags(&[
        "--count",
        "3",
        "--name",
        "Rack",
        "--serial",
        "SN",
        "--mac",
        "02:00:00:00:00:FF",
    ])
    .unwrap();
    let s = f.specs();
    let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
    let serials: Vec<_> = s.iter().map(|s| s.serial.as_str()).collect();
    let macs: Vec<_> = s.iter().map(|s| s.mac.as_str()).collect();
    assert_eq!(names, ["Rack #1", "Rack #2", "Rack #3"]);
    assert_eq!(serials, ["SN-1", "SN-2", "SN-3"]);
    assert_eq!(
        macs,
        [
            "02:00:00:00:00:FF",
            "02:00:00:00:01:00",
            "02:00:00:00:01:01"
        ]
    );
    // Defaults are numbered too, across models.
    let f = from_flags(&["-m", "5m", "-m", "5m", "--count", "2"]).unwrap();
    assert_eq!(f.printers.len(), 4);
}

#[test]
fn bad_identity_values_are_refused_with_the_field() {
    let long = "x".repeat(129);
    for (line, needle) in [
        (vec!["--serial", long.as_str()], "serial is 129 bytes"),
        (vec!["--name", long.as_str()], "name is 129 bytes"),
        (
            vec!["--serial", "has space"],
            "serial must be printable ASCII",
        ),
        (vec!["--serial", ""], "serial must be non-empty"),
        (vec!["--check-code", ""], "check code must be non-empty"),
        (
            vec!["--check-code", "tab\tcode"],
            "check code must be printable",
        ),
        (vec!["--mac", "88:A9:A7:00:00"], "MAC `88:A9:A7:00:00`"),
        (vec!["--mac", "zz:A9:A7:00:00:01"], "six hex bytes"),
        (
            vec!["--mac", "FF:FF:FF:FF:FF:FF", "--count", "2"],
            "runs past",
        ),
        (vec!["--bind", "192.168.1.5"], "not a loopback address"),
        (vec!["--bind-range", "10.0.0.1"], "not a loopback address"),
        (vec!["--control", "0.0.0.0:8000"], "control address"),
        (vec!["--camera-port", "9000"], "--camera-port needs --bind"),
        (
            vec!["--bind", "127.0.0.2", "--count", "2"],
            "--bind with 2 printers",
        ),
        (
            vec![
                "--bind",
                "127.0.0.2",
                "--tcp-port",
                "65535",
                "--http-port",
                "1",
                "--udp-port",
                "1",
                "--count",
                "2",
            ],
            "past port 65535",
        ),
    ] {
        let e = err(from_flags(&line));
        assert!(e.contains(needle), "{line:?}: {e}");
    }
    // Non-loopback only when asked for.
    let f = from_flags(&["--bind", "192.168.1.5", "--allow-non-loopback"]).unwrap();
    assert_eq!(f.specs()[0].net.bind, Some(v4("192.168.1.5")));
}

#[test]
fn bind_with_several_printers_counts_the_port_bases_up() {
    let f = from_flags(&[
        "--bind",
        "127.0.0.2",
        "--count",
        "2",
        "--tcp-port",
        "9000",
        "--http-port",
        "9100",
        "--udp-port",
        "9200",
    ])
    .unwrap();
    let s = f.specs();
    assert_eq!(s[1].net.bind, Some(v4("127.0.0.2")));
    assert_eq!(s[1].net.tcp_port, Some(9001));
    assert_eq!(s[1].net.http_port, Some(9101));
    assert_eq!(s[1].net.discovery_ports, Some(vec![9201]));
    // 0 is any free port for every printer, not a base to count up from.
    let f = from_flags(&[
        "--bind",
        "127.0.0.2",
        "--count",
        "2",
        "--tcp-port",
        "0",
        "--http-port",
        "0",
        "--udp-port",
        "0",
    ])
    .unwrap();
    assert_eq!(f.specs()[1].net.tcp_port, Some(0));
    assert_eq!(f.specs()[1].net.discovery_ports, Some(vec![0]));
    // Without an address the bases go to the server, as before.
    let f = from_flags(&["--tcp-port", "9000"]).unwrap();
    assert_eq!((f.tcp_base, f.http_base, f.udp_base), (9000, 0, 0));
    assert_eq!(f.specs()[0].net, Placement::default());
}

#[test]
fn the_example_farm_file_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/farm.toml");
    let f = Farm::load(&path, false).unwrap();
    let s = f.specs();
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].model, Model::Adventurer5MPro);
    assert_eq!(s[0].name, "Left 5M Pro");
    assert_eq!(s[0].check_code, "abcd1234");
    assert_eq!(s[0].net.discovery_ports, Some(vec![19000, 48899]));
    assert_eq!(s[0].net.camera_port, Some(8080));
    assert_eq!(s[1].check_code, "12345678");
    assert_eq!(s[1].job_duration, Duration::from_secs(1200));
    assert_eq!(s[1].speed, 10.0);
    assert_eq!(s[2].serial, "SNA30001-1");
    assert_eq!(s[3].name, "Shelf A3 #2");
    assert_eq!(s[3].net.bind, Some(v4("127.0.0.5")));
}

#[test]
fn a_farm_file_and_the_flags_give_the_same_specs() {
    let file = Farm::parse(
        "[[printer]]\nmodel = \"5m\"\nname = \"Rack\"\nserial = \"SN\"\nbind = \"127.0.0.10\"\ncount = 3\nspeed = 2\n",
        false,
    )
    .unwrap();
    let flags = from_flags(&[
        "-m",
        "5m",
        "--count",
        "3",
        "--name",
        "Rack",
        "--serial",
        "SN",
        "--bind-range",
        "127.0.0.10",
        "--speed",
        "2",
    ])
    .unwrap();
    let key = |f: &Farm| -> Vec<_> {
        f.specs()
            .into_iter()
            .map(|s| (s.name, s.serial, s.mac, s.net, s.speed.to_bits(), s.ip))
            .collect()
    };
    assert_eq!(key(&file), key(&flags));
}

#[test]
fn bad_farm_files_name_the_problem() {
    let p = |body: &str| err(Farm::parse(body, false));
    let e = p("[[printer]]\nmodel = \"5m\"\ncolour = \"red\"\n");
    assert!(
        e.contains("unknown field `colour`") && e.contains("line 3"),
        "{e}"
    );
    let e = p("speed = \"fast\"\n[[printer]]\nmodel = \"5m\"\n");
    assert!(e.contains("line 1") && e.contains("speed"), "{e}");
    let e = p("[[printer]]\nmodel = \"5m\"\ntcp_port = 70000\n");
    assert!(e.contains("line 3"), "{e}");
    let e = p("[[printer]]\nname = \"x\"\n");
    assert!(e.contains("missing field `model`"), "{e}");
    let e = p("");
    assert!(e.contains("no printers"), "{e}");
    let e = p("[[printer]]\nmodel = \"9x\"\n");
    assert!(
        e.contains("[[printer]] 1") && e.contains("unknown model `9x`"),
        "{e}"
    );
    let e = p("[[printer]]\nmodel = \"5m\"\nserial = \"S\"\n[[printer]]\nmodel = \"ad5x\"\nserial = \"S\"\n");
    assert!(
        e.contains("duplicate serial S")
            && e.contains("[[printer]] 1")
            && e.contains("[[printer]] 2"),
        "{e}"
    );
    let e = p("[[printer]]\nmodel = \"5m\"\nserial = \"A\"\nbind = \"127.0.77.1\"\n[[printer]]\nmodel = \"5m\"\nserial = \"B\"\nbind = \"127.0.77.1\"\n");
    assert!(
        e.contains("both use TCP 127.0.77.1:8899")
            && e.contains("serial A")
            && e.contains("serial B"),
        "{e}"
    );
    // The HTTP port of one and the TCP port of another are one TCP socket too.
    let e = p("[[printer]]\nmodel = \"5m\"\nserial = \"A\"\nbind = \"127.0.77.1\"\n[[printer]]\nmodel = \"a3\"\nserial = \"B\"\nbind = \"127.0.77.1\"\ntcp_port = 8898\ndiscovery_ports = [1]\n");
    assert!(e.contains("both use TCP 127.0.77.1:8898"), "{e}");
    let e = p("[[printer]]\nmodel = \"5m\"\nbind = \"192.168.0.9\"\n");
    assert!(e.contains("not a loopback address"), "{e}");
    let e = p("control = \"10.0.0.1:80\"\n[[printer]]\nmodel = \"5m\"\n");
    assert!(e.contains("control address"), "{e}");
    let e = p(
        "[[printer]]\nmodel = \"5m\"\ncount = 6000\n[[printer]]\nmodel = \"ad5x\"\ncount = 5000\n",
    );
    assert!(
        e.contains("11000 printers") && e.contains("at most 10000"),
        "{e}"
    );
    let e = p("[[printer]]\nmodel = \"5m\"\ncount = 0\n");
    assert!(e.contains("count must be at least 1"), "{e}");
    let e = p("[[printer]]\nmodel = \"5m\"\ntcp_port = 9000\n");
    assert!(e.contains("ports need `bind`"), "{e}");
    let e = p("[[printer]]\nmodel = \"5m\"\nspeed = -1\n");
    assert!(e.contains("speed -1"), "{e}");
    let e = p("[[printer]]\nmodel = \"5m\"\njob_seconds = 1e9\n");
    assert!(e.contains("job_seconds"), "{e}");
    let e = p("[[printer]]\nmodel = \"a3\"\na3_shape = \"c\"\n");
    assert!(e.contains("a3_shape"), "{e}");
}

#[test]
fn a_large_farm_is_cheap_to_resolve() {
    let f = Farm::parse(
        "[[printer]]\nmodel = \"5m\"\nbind = \"127.1.0.0\"\nserial = \"SN\"\ncount = 10000\n",
        false,
    )
    .unwrap();
    assert_eq!(f.printers.len(), 10_000);
    assert_eq!(f.specs()[9999].net.bind, Some(v4("127.1.39.15")));
}

#[test]
fn mac_addresses_parse() {
    assert_eq!(parse_mac("88:A9:A7:00:00:01"), Some(0x88A9_A700_0001));
    assert_eq!(parse_mac("88-a9-a7-00-00-01"), Some(0x88A9_A700_0001));
    assert_eq!(format_mac(0x88A9_A700_0001), "88:A9:A7:00:00:01");
    for bad in [
        "",
        "88:A9:A7:00:00",
        "88:A9:A7:00:00:001",
        "88:A9:A7:00:00:0g",
        "+8:A9:A7:00:00:01",
    ] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
}

#[test]
fn control_from_the_flag_overrides_the_files_and_farm_excludes_printer_flags() {
    let path =
        std::env::temp_dir().join(format!("flashforge-farm-unit-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "control = \"127.0.0.1:8000\"\n[[printer]]\nmodel = \"5m\"\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    assert_eq!(
        from_flags(&["--farm", p]).unwrap().control,
        Some("127.0.0.1:8000".parse().unwrap())
    );
    assert_eq!(
        from_flags(&["--farm", p, "--control", "127.0.0.1:9000"])
            .unwrap()
            .control,
        Some("127.0.0.1:9000".parse().unwrap())
    );
    assert_eq!(
        from_flags(&["--control", "127.0.0.1:7000"])
            .unwrap()
            .control
            .map(|c| c.port()),
        Some(7000)
    );
    assert_eq!(from_flags(&[]).unwrap().control, None);
    for flag in [
        &["--serial", "X"][..],
        &["-m", "a3"],
        &["--bind", "127.0.0.2"],
        &["--speed", "2"],
        &["--fault", "udp-drop"],
        &["--count", "2"],
    ] {
        let mut v = vec!["flashforge sim", "--farm", p];
        v.extend_from_slice(flag);
        let e = SimCli::try_parse_from(v).unwrap_err();
        assert_eq!(
            e.kind(),
            clap::error::ErrorKind::ArgumentConflict,
            "{flag:?}"
        );
    }
    std::fs::remove_file(&path).unwrap();
}
