//! `flashforge serve` as a user runs it: the demo farm answering its API, the token file
//! created private on first start and printed once, usage errors as exit 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_sim::{PrinterSpec, SimServer};

fn cmd(args: &[&str], config_home: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flashforge"));
    c.args(args)
        .env_remove("FLASHFORGE_SERIAL")
        .env_remove("FLASHFORGE_CHECK_CODE")
        .env_remove("FLASHFORGE_PRINTER")
        .env_remove("FLASHFORGE_SERVE_TOKEN")
        .env("XDG_CONFIG_HOME", config_home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ff-serve-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Kills the server if the test fails before it ends.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server's stdout lines until the `metrics:` line (its banner), with a deadline.
fn banner(child: &mut Child) -> Vec<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    while let Ok(l) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        let last = l.contains("Ctrl-C");
        lines.push(l);
        if last {
            break;
        }
    }
    assert!(lines.iter().any(|l| l.contains("dashboard:")), "{lines:?}");
    lines
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[test]
fn demo_serves_every_model_behind_its_token() {
    let home = temp_dir("demo");
    let mut g = Guard(
        cmd(
            &[
                "serve",
                "--demo",
                "--listen",
                "127.0.0.1:0",
                "--duration",
                "60",
            ],
            &home,
        )
        .spawn()
        .unwrap(),
    );
    let lines = banner(&mut g.0);
    let dash = lines.iter().find(|l| l.contains("dashboard:")).unwrap();
    let url = dash.split_whitespace().last().unwrap();
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, token) = rest.split_once("/#token=").unwrap();
    let addr: SocketAddr = addr.parse().unwrap();
    assert_eq!(token.len(), 64);
    assert_eq!(get(addr, "/api/v1/printers", None).0, 401);
    assert_eq!(get(addr, "/", None).0, 200);
    let t0 = Instant::now();
    loop {
        let (status, body) = get(addr, "/api/v1/printers", Some(token));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let printers = v["printers"].as_array().unwrap();
        assert_eq!(printers.len(), Model::ALL.len());
        let online = printers.iter().filter(|p| p["online"] == true).count();
        let printing = printers
            .iter()
            .filter(|p| p["status"]["state"] == "Printing" || p["status"]["state"] == "Heating")
            .count();
        if online == printers.len() && printing >= 2 {
            let models: std::collections::BTreeSet<_> =
                printers.iter().map(|p| p["model"].to_string()).collect();
            assert_eq!(models.len(), Model::ALL.len(), "every model: {models:?}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The demo never writes a token file.
    assert!(!home.join("flashforge/serve-token").exists());
    drop(g);
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn the_token_file_is_created_private_and_printed_once() {
    let home = temp_dir("token");
    let sim = SimServer::single(PrinterSpec::new(Model::Adventurer3)).unwrap();
    let tcp = sim.printer().tcp.unwrap();
    let printer = format!("{}:{}:8898", tcp.ip(), tcp.port());
    let run = || {
        let o = cmd(
            &[
                "serve",
                "-p",
                &printer,
                "--listen",
                "127.0.0.1:0",
                "--duration",
                "0.5",
            ],
            &home,
        )
        .output()
        .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (out1, err1) = run();
    let path = home.join("flashforge/serve-token");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert_eq!(token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(err1.contains(&token), "printed on first start: {err1}");
    assert!(!out1.contains(&token), "not in the banner: {out1}");
    let (out2, err2) = run();
    assert!(
        !err2.contains(&token) && !out2.contains(&token),
        "printed once only"
    );
    assert!(err2.contains("serve-token"), "{err2}");
    // A token file others can read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = cmd(
            &[
                "serve",
                "-p",
                &printer,
                "--listen",
                "127.0.0.1:0",
                "--duration",
                "0.5",
            ],
            &home,
        )
        .output()
        .unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"));
    }
    sim.shutdown();
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    let home = temp_dir("usage");
    for args in [
        vec!["serve", "--listen", "127.0.0.1:0"],
        vec![
            "serve",
            "--token",
            "short",
            "-p",
            "127.0.0.1",
            "--listen",
            "127.0.0.1:0",
        ],
        vec!["serve", "--demo-printers", "3"],
        vec!["serve", "--demo", "--interval", "0"],
        vec!["serve", "--demo", "-p", "127.0.0.1"],
        vec!["serve", "--demo", "--cors-origin", "evil"],
        vec![
            "serve",
            "-p",
            "127.0.0.1:1:1",
            "-p",
            "127.0.0.2",
            "--serial",
            "S",
            "--check-code",
            "C",
        ],
    ] {
        let o = cmd(&args, &home).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A config whose [serve] table names a profile that is not there.
    let cfg = home.join("c.toml");
    std::fs::write(
        &cfg,
        "[printers.a]\naddress = \"127.0.0.1\"\n[serve]\nprinters = [\"b\"]\n",
    )
    .unwrap();
    let o = cmd(&["serve", "--config", cfg.to_str().unwrap()], &home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no profile `b`"));
    std::fs::write(&cfg, "[serve]\nlisten = \"127.0.0.1:0\"\nbogus = 1\n").unwrap();
    let o = cmd(&["serve", "--config", cfg.to_str().unwrap()], &home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "unknown keys are refused");
    std::fs::remove_dir_all(&home).unwrap();
}

/// Printers from the config's profiles, a listen address from its `[serve]` table.
#[test]
fn config_profiles_become_the_farm() {
    let home = temp_dir("profiles");
    let sim = SimServer::start(
        vec![
            PrinterSpec::new(Model::Adventurer4),
            PrinterSpec::new(Model::Adventurer5M),
        ],
        &flashforge_sim::ServerConfig::default(),
    )
    .unwrap();
    let a4 = sim.printers()[0].tcp.unwrap();
    let m5 = &sim.printers()[1];
    let cfg = home.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[printers.old]\naddress = \"{}:{}:8898\"\n\n[printers.new]\naddress = \"{}:{}:{}\"\nserial = \"{}\"\ncheck_code = \"{}\"\n\n[serve]\nlisten = \"127.0.0.1:0\"\ninterval = 0.2\n",
            a4.ip(), a4.port(),
            m5.http.unwrap().ip(), m5.tcp.unwrap().port(), m5.http.unwrap().port(),
            m5.serial(), m5.check_code(),
        ),
    )
    .unwrap();
    let mut g = Guard(
        cmd(
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--token",
                "a-long-enough-token-123",
                "--duration",
                "60",
            ],
            &home,
        )
        .spawn()
        .unwrap(),
    );
    let lines = banner(&mut g.0);
    assert!(lines[0].contains("2 printers"), "{lines:?}");
    let dash = lines.iter().find(|l| l.contains("dashboard:")).unwrap();
    let addr: SocketAddr = dash
        .split_whitespace()
        .last()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let (_, body) = get(addr, "/api/v1/printers", Some("a-long-enough-token-123"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let ids: Vec<_> = v["printers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["new", "old"]);
        if v["printers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["online"] == true)
        {
            assert!(!body.contains(&m5.check_code()));
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(g);
    sim.shutdown();
    std::fs::remove_dir_all(&home).unwrap();
}
