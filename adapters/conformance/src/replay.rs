//! Replay of real transcripts: every operation that has a capture, through an adapter, against
//! a [`ReplayPrinter`] answering with the emulator's captured bytes (`replay!`).
//!
//! The expected values are read off the captures themselves (the README table of
//! `sim/captures/emulator/` and the reply files), never from the core's parsers: temperatures
//! and identities are decoded here from the raw JSON and text with the rules of the protocol
//! notes (http.md §3.4, models.md §4, tcp.md §3.2), so a parser bug shows as a mismatch.
//!
//! Where the emulator differs from the protocol notes (its README lists the differences), the
//! assertions follow the notes' "accept both" rules: the plain-text `M661` list after the `ok`
//! and the untagged PNG after the `M662` `ok` (tcp.md §6.1, §6.2), the `-108` chamber sentinel,
//! job control ignored while heating, the 5M's discovery pid of the 5M Pro (discovery.md §6:
//! the pid decides), and no HTTP API (plain-text 404) on the Adventurer 3/4.

use flashforge_proto::client::{ClientOptions, Endpoint, Temps};
use flashforge_proto::http::Credentials;
use flashforge_proto::Model;
use serde_json::Value;

pub use flashforge_sim::replay::{Capture, Match, Phase, ReplayPrinter};

/// The PNG signature.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A replay of `model`'s captures on 127.0.0.1, timed as captured.
pub fn replay(model: Model) -> ReplayPrinter {
    ReplayPrinter::start(model).unwrap_or_else(|e| panic!("replay of {model}: {e}"))
}

/// The replay's endpoint. The Creator 5 series has no TCP listener (the emulator refused the
/// connection): its TCP port is one that was bound and closed again.
pub fn replay_endpoint(r: &ReplayPrinter) -> Endpoint {
    let tcp = r.tcp().map_or_else(
        || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port")
        },
        |a| a.port(),
    );
    Endpoint::new(r.http().ip()).with_ports(tcp, r.http().port())
}

/// The serial number and check code of the captures (README table: `SN-a5m` / `CC-a5m`, ...).
pub fn replay_credentials(r: &ReplayPrinter) -> Credentials {
    let (serial, code) = r.credentials().expect("credentials in the captures");
    Credentials::new(serial, code).expect("credentials")
}

/// The adapters' default options (production deadlines, which the captured ~500 ms gaps fit)
/// without the TCP keep-alive: an idle `~M27` is no part of the transcripts, and on a loaded
/// machine one could fall between two checked operations.
pub fn replay_options() -> ClientOptions {
    let mut o = ClientOptions::default();
    o.tcp.keepalive = false;
    o
}

/// The captures served since the last call, in order: the name, and how the request matched
/// when it was not exactly the captured request (`"tcp_M999_unknown (Synthesized)"`).
pub fn served(r: &ReplayPrinter) -> Vec<String> {
    r.take_served()
        .into_iter()
        .map(|s| {
            let name = s.capture.unwrap_or_else(|| "404".into());
            match s.matched {
                Match::Exact => name,
                m => format!("{name} ({m:?})"),
            }
        })
        .collect()
}

/// [`served`], waiting up to 10 s for `n` entries (a reply with no bytes, or a logout whose
/// reply the client does not wait for, is journaled a little later).
pub fn served_n(r: &ReplayPrinter, n: usize) -> Vec<String> {
    let t0 = std::time::Instant::now();
    while r.served().len() < n && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    served(r)
}

/// The capture `name` (panics when the model has none).
pub fn capture<'a>(r: &'a ReplayPrinter, name: &str) -> &'a Capture {
    r.captures()
        .get(name)
        .unwrap_or_else(|| panic!("{}: no capture {name}", r.model()))
}

/// A captured TCP reply as normalised lines (tcp.md §3.2: CRLF/CR to LF, lines trimmed, empty
/// lines dropped, a leading `echo:`/`ack:` removed, a surrounding quote pair removed; `ok`
/// lines kept), which is what a raw `gcode()` call returns.
pub fn reply_lines(r: &ReplayPrinter, name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&capture(r, name).response).replace("\r\n", "\n");
    text.replace('\r', "\n")
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let lower = l.to_ascii_lowercase();
            let l = ["echo:", "ack:"]
                .iter()
                .find(|p| lower.starts_with(**p))
                .map_or(l, |p| l[p.len()..].trim_start());
            let l = if l.len() >= 2 && l.starts_with('"') && l.ends_with('"') {
                &l[1..l.len() - 1]
            } else {
                l
            };
            l.to_owned()
        })
        .collect()
}

/// The PNG in a capture: the raw body of `GET /thumb` / `/getThum`, the base64 `imageData` of
/// `/gcodeThumb`, or everything from the PNG signature on in a TCP `M662` reply.
pub fn captured_png(r: &ReplayPrinter, name: &str) -> Vec<u8> {
    let c = capture(r, name);
    if c.command.is_some() {
        let at = memmem(&c.response, PNG).unwrap_or_else(|| panic!("{name}: no PNG"));
        return c.response[at..].to_vec();
    }
    if c.body().starts_with(PNG) {
        return c.body().to_vec();
    }
    let j: Value = serde_json::from_slice(c.body()).expect("JSON body");
    let b64 = j["imageData"].as_str().expect("imageData");
    flashforge_proto::printer::base64_decode(b64.as_bytes()).expect("base64")
}

/// The thumbnail embedded in a G-code file (the base64 lines between `; thumbnail begin` and
/// `; thumbnail end`).
pub fn embedded_thumbnail(gcode: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(gcode);
    let b64: String = text
        .lines()
        .skip_while(|l| l.trim() != "; thumbnail begin")
        .skip(1)
        .take_while(|l| l.trim() != "; thumbnail end")
        .map(|l| l.trim_start_matches(';').trim())
        .collect();
    flashforge_proto::printer::base64_decode(b64.as_bytes()).expect("embedded thumbnail")
}

/// The G-code file the captures uploaded (`cap_test.gcode`, 1152 bytes).
pub fn captured_upload(r: &ReplayPrinter) -> (String, Vec<u8>) {
    capture(r, "http_POST_uploadGcode")
        .uploaded_file()
        .expect("multipart file in the upload capture")
}

fn memmem(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `detail` object of a captured `/detail` reply.
pub fn detail(r: &ReplayPrinter, name: &str) -> Value {
    let j: Value = serde_json::from_slice(capture(r, name).body()).expect("JSON /detail");
    j["detail"].clone()
}

/// One heater as (reading, target).
pub type Heat = (Option<f64>, Option<f64>);

/// Temperatures as plain tuples: (tools, bed, chamber).
pub type TempView = (Vec<Heat>, Option<Heat>, Option<Heat>);

/// The client's [`Temps`] as a [`TempView`].
pub fn view(t: &Temps) -> TempView {
    let h = |x: &flashforge_proto::http::Temperature| (x.current, x.target);
    (
        t.tools.iter().map(h).collect(),
        t.bed.as_ref().map(h),
        t.chamber.as_ref().map(h),
    )
}

/// The temperatures of a captured `/detail`, by the protocol notes: a reading ≤ −50 °C is an
/// absent sensor (http.md §3.4), a target of 0 is "off"; the tools are `nozzleTemps[i]` /
/// `nozzleTargetTemps[i]` when that array is non-empty, else the one extruder
/// (`rightTemp`/`rightTargetTemp`, models.md §4); the chamber is absent when its reading is.
pub fn detail_temps(d: &Value) -> TempView {
    let reading = |v: &Value| v.as_f64().filter(|t| *t > -50.0);
    let target = |v: &Value| v.as_f64().filter(|t| *t > 0.0);
    let tools = match d["nozzleTemps"].as_array() {
        Some(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, c)| (reading(c), target(&d["nozzleTargetTemps"][i])))
            .collect(),
        _ => vec![(reading(&d["rightTemp"]), target(&d["rightTargetTemp"]))],
    };
    let bed = Some((reading(&d["platTemp"]), target(&d["platTargetTemp"])));
    let chamber = reading(&d["chamberTemp"]).map(|c| (Some(c), target(&d["chamberTargetTemp"])));
    (tools, bed, chamber)
}

/// The temperatures of a captured `~M105` reply (`T<n>:c/t` per tool in the order listed,
/// `B:c/t`; the A3's `ok T0:…` form included), target 0 = off.
pub fn m105_temps(r: &ReplayPrinter, name: &str) -> TempView {
    let mut tools = Vec::new();
    let mut bed = None;
    for line in reply_lines(r, name) {
        for tok in line.split_whitespace() {
            let Some((tag, v)) = tok.split_once(':') else {
                continue;
            };
            let Some((c, t)) = v.split_once('/') else {
                continue;
            };
            let (Ok(c), Ok(t)) = (c.parse::<f64>(), t.parse::<f64>()) else {
                continue;
            };
            let h = (Some(c), Some(t).filter(|t| *t > 0.0));
            if tag == "B" {
                bed = Some(h);
            } else if tag.starts_with('T') {
                tools.push(h);
            }
        }
    }
    (tools, bed, None)
}

/// A reader over bytes for every adapter's upload (std, tokio and futures-io).
#[derive(Debug, Clone)]
pub struct Bytes {
    data: Vec<u8>,
    at: usize,
}

impl Bytes {
    /// Reads `data`.
    pub fn new(data: Vec<u8>) -> Self {
        Self { data, at: 0 }
    }

    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        n
    }
}

readers!(Bytes);

/// Every operation that has a capture, on each of the seven models, through one adapter.
///
/// `$ff` is the adapter crate, `$run` turns what a `Printer` method returns into its result
/// (identity for blocking, `block_on` for async adapters).
#[macro_export]
macro_rules! replay {
    ($ff:ident, $run:path) => {
        mod replay_suite {
            use std::time::Duration;

            use $crate::flashforge_proto::http::MachineState;
            use $crate::replay::{
                capture, captured_png, captured_upload, detail, detail_temps, embedded_thumbnail,
                m105_temps, replay, replay_credentials, replay_endpoint, replay_options,
                reply_lines, served, served_n, view, Bytes, Phase, ReplayPrinter,
            };
            use $ff::{Error, Heater, JobOptions, Model, Printer, UploadOptions};

            fn unsupported<T: std::fmt::Debug>(r: Result<T, Error>, what: &str, model: Model) {
                match r {
                    Err(Error::Unsupported { .. }) => {}
                    other => panic!("{model} {what}: want Unsupported, got {other:?}"),
                }
            }

            /// A raw line and its captured reply, as normalised lines.
            fn raw(p: &Printer, r: &ReplayPrinter, name: &str) {
                let model = r.model();
                let line = capture(r, name).command.clone().expect("a TCP capture");
                let lines = $run(p.gcode(&line)).unwrap_or_else(|e| panic!("{model} {line}: {e}"));
                assert_eq!(lines, reply_lines(r, name), "{model} {line}");
                assert_eq!(served(r), [name], "{model} {line}");
            }

            /// The Adventurer 3 and 4: TCP only (`LegacyPrinter`).
            fn legacy(model: Model) {
                let a3 = model == Model::Adventurer3;
                let r = replay(model);
                let b = Printer::builder().options(replay_options());
                let p = $run(b.connect_legacy(replay_endpoint(&r)))
                    .unwrap_or_else(|e| panic!("connect {model}: {e} ({:?})", served(&r)))
                    .into_inner();
                assert_eq!(p.model(), model);
                assert_eq!(served(&r), ["tcp_M601_S1", "tcp_M115"], "{model}");

                // Identity: tcp_M115.resp.
                let info = $run(p.info()).expect("info");
                assert_eq!(served(&r), ["tcp_M115"], "{model}");
                assert_eq!(info.model, model);
                if a3 {
                    // "echo: Machine Type: FlashForge Adventurer III", "Serial Number:", MAC
                    // with colons, no `ok`.
                    assert_eq!(info.name, "Emu a3");
                    assert_eq!(info.firmware, "v1.4.0");
                    assert_eq!(info.serial.as_deref(), Some("SN-a3"));
                    assert_eq!(info.mac.as_deref(), Some("00:11:22:33:44:55"));
                    assert_eq!(info.build_volume, Some((150.0, 150.0, 150.0)));
                } else {
                    assert_eq!(info.name, "Emu a4");
                    assert_eq!(info.firmware, "v2.0.0");
                    assert_eq!(info.serial.as_deref(), Some("SN-a4"));
                    assert_eq!(info.mac.as_deref(), Some("001122334455"));
                    assert_eq!(info.build_volume, Some((220.0, 220.0, 250.0)));
                }
                assert_eq!(info.tool_count, Some(1));
                assert_eq!(info.detail, None);

                // Idle status: M119 (A3 `MachineStatus: IDLE`, `LEDStatus: off`; A4 `READY`,
                // `LED: 0`), M105, M27 (`SD printing byte 0/100`).
                let st = $run(p.status()).expect("status");
                assert_eq!(served(&r), ["tcp_M119", "tcp_M105", "tcp_M27"], "{model}");
                assert_eq!(st.model, model);
                assert_eq!(st.state, MachineState::Ready, "{model}");
                assert_eq!(st.state_raw, if a3 { "IDLE" } else { "READY" });
                assert_eq!(st.progress, None);
                assert_eq!(st.file, None);
                assert_eq!(st.lights_on, Some(false));
                assert_eq!(view(&st.temperatures), m105_temps(&r, "tcp_M105"));
                // A3 `ok T0:13/0 B:19/0`; A4 `T0:13/0 T1:0/0 B:19/0`.
                let idle_tools = if a3 {
                    vec![(Some(13.0), None)]
                } else {
                    vec![(Some(13.0), None), (Some(0.0), None)]
                };
                assert_eq!(
                    view(&st.temperatures),
                    (idle_tools.clone(), Some((Some(19.0), None)), None),
                    "{model}"
                );
                let temps = $run(p.temperatures()).expect("temperatures");
                assert_eq!(served(&r), ["tcp_M105"]);
                assert_eq!(view(&temps), (idle_tools, Some((Some(19.0), None)), None));

                // Files: A3 text form (`info_list.size: 1`); A4 the emulator's plain
                // `/data/cap_test.gcode` 500 ms after the `ok` (no tags, no terminator).
                let files = $run(p.files()).expect("files");
                assert_eq!(served(&r), ["tcp_M661"], "{model}");
                assert_eq!(files, ["cap_test.gcode"], "{model}");

                // Thumbnail: A3 bare name, tagged `A2 A2 2A 2A` + length + PNG; A4 `/data/`
                // path, the raw PNG 500 ms after the `ok`.
                let thumb = $run(p.thumbnail("cap_test.gcode")).expect("thumbnail");
                let name = if a3 { "tcp_M662" } else { "tcp_M662_datapath" };
                assert_eq!(served(&r), [name], "{model}");
                let png = captured_png(&r, name);
                assert_eq!(thumb.image, png, "{model}");
                assert_eq!(png, embedded_thumbnail(&captured_upload(&r).1));
                assert_eq!((thumb.width, thumb.height), (Some(4), Some(4)));
                let e = $run(p.thumbnail("nope.gcode")).expect_err("missing thumbnail");
                let missing = if a3 {
                    "tcp_M662_missing"
                } else {
                    // `~M662 /data/nope.gcode`: the emulator strips `/data/`.
                    "tcp_M662_missing (Normalized)"
                };
                assert_eq!(served(&r), [missing], "{model}");
                // The captured text (A3 `Error: File not exists`, A4 `Error: File not found`);
                // tcp.md §6.2 treats both as "no thumbnail", and the client names them alike.
                let text = if a3 { "File not exists" } else { "File not found" };
                assert!(
                    matches!(&e, Error::Printer(m) if m == text || m == "File not found"),
                    "{model}: {e:?}"
                );

                // LED: A3 `~M146 1`/`0` → `ack: "M146 1"`; A4 RGB form.
                $run(p.led(true)).expect("led on");
                assert_eq!(served(&r), ["tcp_M146_on"], "{model}");
                $run(p.led(false)).expect("led off");
                assert_eq!(served(&r), ["tcp_M146_off"], "{model}");

                // Home: the A3 sends no reply to G28 (fire-and-forget).
                $run(p.home()).expect("home");
                assert_eq!(served_n(&r, 1), ["tcp_G28"], "{model}");

                // Heaters.
                $run(p.heater_off(Heater::Tool(0))).expect("nozzle off");
                assert_eq!(served(&r), ["tcp_M104_S0"], "{model}");
                $run(p.set_temperature(Heater::Tool(0), 0)).expect("nozzle 0");
                assert_eq!(served(&r), ["tcp_M104_S0"], "{model}");
                // (`temperatures_off` also sends `~M140 S0`, which has no capture.)

                // Raw lines of the text captures.
                for name in [
                    "tcp_M115",
                    "tcp_M105",
                    "tcp_M119",
                    "tcp_M27",
                    "tcp_M114",
                    "tcp_M104_S0",
                    "tcp_M999_unknown",
                ] {
                    raw(&p, &r, name);
                }

                // A job: A3 `~M23 /data/…` (select) + `~M24`; A4 `~M23 0:/user/…`.
                // The state is read first (the Adventurer 3 acknowledges a start while it
                // prints, and ignores it).
                $run(p.start("cap_test.gcode", JobOptions::default())).expect("start");
                if a3 {
                    assert_eq!(
                        served(&r),
                        ["tcp_M119", "tcp_M105", "tcp_M27", "tcp_M23_start", "tcp_M24_resume"]
                    );
                } else {
                    assert_eq!(
                        served(&r),
                        ["tcp_M119", "tcp_M105", "tcp_M27", "tcp_M23_start"],
                        "{model}"
                    );
                }
                let st = $run(p.status()).expect("status after start");
                assert_eq!(
                    served(&r),
                    ["tcp_M119_after_M23", "tcp_M105", "tcp_M27"],
                    "{model}"
                );
                assert_eq!(st.state, MachineState::Busy, "{model}: MachineStatus: BUSY");
                assert_eq!(st.state_raw, "BUSY");
                assert_eq!(st.file.as_deref(), Some("cap_test.gcode"));
                // Pause and resume read the state first too: `BUSY` (heating) lets both through.
                $run(p.pause()).expect("pause");
                assert_eq!(
                    served(&r),
                    ["tcp_M119_after_M23", "tcp_M105", "tcp_M27", "tcp_M25_pause"],
                    "{model}"
                );
                $run(p.resume()).expect("resume");
                assert_eq!(
                    served(&r),
                    ["tcp_M119_after_M23", "tcp_M105", "tcp_M27", "tcp_M24_resume"],
                    "{model}"
                );
                $run(p.cancel()).expect("cancel");
                assert_eq!(
                    served(&r),
                    ["tcp_M119_after_M23", "tcp_M105", "tcp_M27", "tcp_M26_cancel"],
                    "{model}"
                );
                let st = $run(p.status()).expect("status after cancel");
                assert_eq!(
                    served(&r),
                    ["tcp_M119_after_cancel", "tcp_M105", "tcp_M27"],
                    "{model}"
                );
                assert_eq!(st.state, MachineState::Ready, "{model}");
                assert_eq!(st.file.as_deref(), Some("cap_test.gcode"));

                // The frozen mid-print snapshot: `BUILDING_FROM_SD`, 47/100, layer 113/240
                // (no Layer line on the A3), 220/220 and 60/60, LED on.
                r.set_phase(Phase::Printing);
                let st = $run(p.status()).expect("status printing");
                assert_eq!(
                    served(&r),
                    ["tcp_M119_printing", "tcp_M105_printing", "tcp_M27_printing"],
                    "{model}"
                );
                assert_eq!(st.state, MachineState::Printing, "{model}");
                assert_eq!(st.state_raw, "BUILDING_FROM_SD");
                assert_eq!(st.progress, Some(0.47));
                if a3 {
                    assert_eq!((st.layer, st.total_layers), (None, None));
                } else {
                    assert_eq!((st.layer, st.total_layers), (Some(113), Some(240)));
                }
                assert_eq!(st.lights_on, Some(true));
                assert_eq!(st.file.as_deref(), Some("cap_test.gcode"));
                let mut tools = vec![(Some(220.0), Some(220.0))];
                if !a3 {
                    tools.push((Some(0.0), None));
                }
                assert_eq!(
                    view(&st.temperatures),
                    (tools, Some((Some(60.0), Some(60.0))), None),
                    "{model}"
                );
                for name in ["tcp_M27_printing", "tcp_M119_printing", "tcp_M114_printing"] {
                    raw(&p, &r, name);
                }

                // No HTTP API on the Adventurer 3/4: nothing is sent.
                unsupported($run(p.recent_files()), "recent files", model);
                unsupported($run(p.clear_platform()), "clear platform", model);
                assert_eq!(served(&r), Vec::<String>::new());

                // Logout.
                $run(p.close());
                assert_eq!(served_n(&r, 1), ["tcp_M602"], "{model}");
                drop(p);
                r.shutdown();
            }

            /// 5M, 5M Pro, AD5X, Creator 5, Creator 5 Pro: HTTP, plus TCP on the 5M family.
            fn modern(model: Model) {
                let tcp = !matches!(model, Model::Creator5 | Model::Creator5Pro);
                let c5 = !tcp;
                let r = replay(model);
                let b = Printer::builder().options(replay_options());
                let p = $run(b.connect(replay_endpoint(&r), replay_credentials(&r)))
                    .unwrap_or_else(|e| panic!("connect {model}: {e} ({:?})", served(&r)));
                assert_eq!(p.model(), model);
                assert_eq!(served(&r), ["http_POST_detail"], "{model}");

                // Identity: http_POST_detail.body.
                let idle = detail(&r, "http_POST_detail");
                let info = $run(p.info()).expect("info");
                assert_eq!(served(&r), ["http_POST_detail"], "{model}");
                assert_eq!(info.model, model);
                let (name, firmware, volume, nozzles) = match model {
                    Model::Adventurer5M => ("Emu a5m", "v3.1.3", 220.0, 1),
                    Model::Adventurer5MPro => ("Emu a5mpro", "v3.1.5", 220.0, 1),
                    Model::AD5X => ("Emu ad5x", "v3.1.3", 220.0, 2),
                    Model::Creator5 => ("Emu c5", "1.7.8-1.1.7", 256.0, 4),
                    _ => ("Emu c5pro", "1.9.4-1.2.6", 256.0, 4),
                };
                // The emulator's AD5X reports `nozzleCnt: 2` (a "left" path); the real AD5X
                // reports 1 and has one nozzle (models.md note 7): one tool, the raw count kept.
                let tools = if model == Model::AD5X { 1 } else { nozzles };
                assert_eq!(info.name, name);
                assert_eq!(info.firmware, firmware);
                assert_eq!(info.mac.as_deref(), Some("00:11:22:33:44:55"));
                assert_eq!(info.ip.as_deref(), Some("127.0.0.1"));
                assert_eq!(info.build_volume, Some((volume, volume, volume)));
                assert_eq!(info.tool_count, Some(tools), "{model}");
                let raw_count = info.detail.as_ref().map(|d| d.nozzle_count);
                assert_eq!(raw_count, Some(nozzles), "{model}: nozzleCnt");
                let pid = match model {
                    Model::Adventurer5M => 35,
                    Model::Adventurer5MPro => 36,
                    Model::AD5X => 38,
                    Model::Creator5 => 40,
                    _ => 41,
                };
                assert_eq!(idle["pid"].as_u64(), Some(pid), "{model}");

                // Idle status and temperatures.
                let st = $run(p.status()).expect("status");
                assert_eq!(served(&r), ["http_POST_detail"]);
                assert_eq!(st.state, MachineState::Ready, "{model}");
                assert_eq!(st.state_raw, "ready");
                assert_eq!(st.progress, None);
                assert_eq!(st.file, None);
                assert_eq!(st.lights_on, Some(false));
                assert_eq!(st.speed_percent, Some(100.0));
                assert_eq!(view(&st.temperatures), detail_temps(&idle), "{model}");
                if model == Model::Creator5 {
                    // `chamberTemp: -108`: no sensor.
                    assert_eq!(st.temperatures.chamber, None);
                    assert_eq!(st.temperatures.tools.len(), 4);
                }
                let temps = $run(p.temperatures()).expect("temperatures");
                assert_eq!(served(&r), ["http_POST_detail"]);
                assert_eq!(view(&temps), detail_temps(&idle));
                if let Some(url) = idle["cameraStreamUrl"].as_str().filter(|u| !u.is_empty()) {
                    let got = $run(p.camera_url()).expect("camera url");
                    assert_eq!(served(&r), ["http_POST_detail"]);
                    assert_eq!(got, url, "{model}");
                }

                // Files before and after the upload of the captured file.
                let recent = $run(p.recent_files()).expect("recent files");
                assert_eq!(served(&r), ["http_POST_gcodeList_empty"], "{model}");
                assert!(recent.is_empty(), "{model}: {recent:?}");
                let (file_name, gcode) = captured_upload(&r);
                let size = gcode.len() as u64;
                let mut progress = Vec::new();
                $run(p.upload(
                    &file_name,
                    size,
                    Bytes::new(gcode.clone()),
                    UploadOptions::default(),
                    |pr: $ff::UploadProgress| progress.push(pr.sent),
                ))
                .expect("upload");
                // The adapters send `Expect: 100-continue` by default.
                assert_eq!(served(&r), ["http_POST_uploadGcode_expect100"], "{model}");
                assert_eq!(progress.last(), Some(&size));
                let up = r.uploads().pop().expect("an upload");
                assert_eq!(up.file_name.as_deref(), Some("cap_test.gcode"));
                assert_eq!(up.file.as_ref(), Some(&gcode), "{model}: byte-exact");
                let header = |k: &str| {
                    up.headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v.clone())
                };
                assert_eq!(header("fileSize").as_deref(), Some("1152"));
                assert_eq!(header("printNow").as_deref(), Some("false"));
                assert_eq!(header("serialNumber"), r.credentials().map(|c| c.0));
                let recent = $run(p.recent_files()).expect("recent files");
                assert_eq!(served(&r), ["http_POST_gcodeList"], "{model}");
                let names: Vec<&str> = recent.iter().map(|f| f.name.as_str()).collect();
                assert_eq!(names, ["cap_test.gcode", "cap_test_expect.gcode"], "{model}");
                for f in &recent {
                    // 5M family: `gcodeListDetail` with `printingTime: 60`; Creator 5: names.
                    let want = if c5 { 0 } else { 60 };
                    assert_eq!(f.printing_time, Duration::from_secs(want), "{model}");
                }

                // Thumbnail: base64 `imageData`, the PNG embedded in the file.
                let thumb = $run(p.thumbnail("cap_test.gcode")).expect("thumbnail");
                assert_eq!(served(&r), ["http_POST_gcodeThumb"], "{model}");
                let png = captured_png(&r, "http_POST_gcodeThumb");
                assert_eq!(thumb.image, png, "{model}");
                assert_eq!(png, embedded_thumbnail(&gcode));
                if !c5 {
                    // `GET /thumb/cap_test.gcode`; the Creator 5's `GET /getThum` names no file
                    // and got the emulator's 1×1 placeholder.
                    assert_eq!(png, captured_png(&r, "http_GET_thumb_file"));
                }
                assert_eq!((thumb.width, thumb.height), (Some(4), Some(4)));
                let e = $run(p.thumbnail("nope.gcode")).expect_err("missing thumbnail");
                assert_eq!(served(&r), ["http_POST_gcodeThumb_missing"], "{model}");
                assert_eq!(
                    e,
                    Error::Refused {
                        code: Some(4),
                        message: "Not found".into()
                    },
                    "{model}"
                );

                // LED.
                $run(p.led(true)).expect("led on");
                assert_eq!(served(&r), ["http_POST_control_light_on"], "{model}");
                $run(p.led(false)).expect("led off");
                assert_eq!(served(&r), ["http_POST_control_light_off"], "{model}");

                // TCP on the 5M family: the emulator's plain-text M661 list, G28, raw lines.
                if tcp {
                    let files = $run(p.files()).expect("files");
                    assert_eq!(served(&r), ["tcp_M601_S1", "tcp_M661"], "{model}");
                    assert_eq!(files, ["cap_test.gcode", "cap_test_expect.gcode"]);
                    for name in [
                        "tcp_M115",
                        "tcp_M105",
                        "tcp_M119",
                        "tcp_M27",
                        "tcp_M114",
                        "tcp_M104_S0",
                        "tcp_M146_on",
                        "tcp_M146_off",
                        "tcp_M999_unknown",
                    ] {
                        raw(&p, &r, name);
                    }
                } else {
                    unsupported($run(p.files()), "files", model);
                    unsupported($run(p.gcode("~M115")), "gcode", model);
                }

                // Home: `homingCtrl_cmd` over HTTP on the AD5X (the emulator acknowledges it
                // as an unimplemented command, `code 0`), `~G28` on the 5M and 5M Pro, none on
                // the Creator 5 series.
                match model {
                    Model::AD5X => {
                        $run(p.home()).expect("home");
                        assert_eq!(served(&r), ["http_POST_control_unknown_cmd"]);
                    }
                    Model::Adventurer5M | Model::Adventurer5MPro => {
                        $run(p.home()).expect("home");
                        assert_eq!(served(&r), ["tcp_G28"], "{model}");
                    }
                    _ => unsupported($run(p.home()), "home", model),
                }

                // A job: started, paused (ignored while heating), resumed, cancelled, cleared.
                // Start, pause, resume and cancel read the state (`/detail`) first.
                let read_then = |what: &str| {
                    let s = served(&r);
                    assert_eq!(s.len(), 2, "{model} {what}: {s:?}");
                    assert!(s[0].starts_with("http_POST_detail"), "{model} {what}: {s:?}");
                    s[1].clone()
                };
                $run(p.start("cap_test.gcode", JobOptions::default())).expect("start");
                let s = read_then("start");
                assert!(
                    s == "http_POST_printGcode" || s == "http_POST_printGcode (Normalized)",
                    "{model}: {s:?}"
                );
                let heating = |name: &str| {
                    let st = $run(p.status()).expect("status");
                    assert_eq!(served(&r), [name], "{model}");
                    let d = detail(&r, name);
                    assert_eq!(st.state, MachineState::Heating, "{model} {name}");
                    assert_eq!(st.state_raw, "heating");
                    assert_eq!(st.file.as_deref(), Some("cap_test.gcode"));
                    assert_eq!(st.progress, Some(0.0));
                    assert_eq!((st.layer, st.total_layers), (Some(0), Some(240)));
                    assert_eq!(view(&st.temperatures), detail_temps(&d), "{model} {name}");
                };
                heating("http_POST_detail_after_printGcode");
                $run(p.pause()).expect("pause");
                assert_eq!(read_then("pause"), "http_POST_control_job_pause", "{model}");
                // The emulator ignores job control while heating: still `heating`.
                heating("http_POST_detail_paused");
                $run(p.resume()).expect("resume");
                assert_eq!(read_then("resume"), "http_POST_control_job_continue", "{model}");
                $run(p.cancel()).expect("cancel");
                assert_eq!(read_then("cancel"), "http_POST_control_job_cancel", "{model}");
                let st = $run(p.status()).expect("status");
                assert_eq!(served(&r), ["http_POST_detail_cancelled"], "{model}");
                assert_eq!(st.state, MachineState::Cancelled, "{model}");
                assert_eq!(st.state_raw, "cancelled");
                assert_eq!(st.file.as_deref(), Some("cap_test.gcode"));
                let d = detail(&r, "http_POST_detail_cancelled");
                assert_eq!(view(&st.temperatures), detail_temps(&d), "{model}");
                $run(p.clear_platform()).expect("clear platform");
                assert_eq!(served(&r), ["http_POST_control_clear_platform"], "{model}");
                let st = $run(p.status()).expect("status");
                assert_eq!(served(&r), ["http_POST_detail"], "{model}");
                assert_eq!(st.state, MachineState::Ready, "{model}");

                // The frozen mid-print snapshot.
                r.set_phase(Phase::Printing);
                let st = $run(p.status()).expect("status printing");
                assert_eq!(served(&r), ["http_POST_detail_printing"], "{model}");
                let d = detail(&r, "http_POST_detail_printing");
                assert_eq!(st.state, MachineState::Printing, "{model}");
                assert_eq!(st.progress, Some(0.47));
                assert_eq!((st.layer, st.total_layers), (Some(113), Some(240)));
                assert_eq!(st.elapsed, Some(Duration::from_secs(1980)));
                assert_eq!(st.file.as_deref(), Some("cap_test.gcode"));
                assert_eq!(st.lights_on, Some(true));
                assert_eq!(st.cooling_fan_percent, Some(85));
                assert_eq!(st.chamber_fan_percent, d["chamberFanSpeed"].as_i64());
                assert_eq!(view(&st.temperatures), detail_temps(&d), "{model}");
                if tcp {
                    for name in [
                        "tcp_M27_printing",
                        "tcp_M119_printing",
                        "tcp_M105_printing",
                        "tcp_M114_printing",
                    ] {
                        raw(&p, &r, name);
                    }
                }

                $run(p.close());
                if tcp {
                    assert_eq!(served_n(&r, 1), ["tcp_M602"], "{model}");
                }
                drop(p);
                r.shutdown();
            }

            #[test]
            fn adventurer_3() {
                legacy(Model::Adventurer3);
            }
            #[test]
            fn adventurer_4() {
                legacy(Model::Adventurer4);
            }
            #[test]
            fn adventurer_5m() {
                modern(Model::Adventurer5M);
            }
            #[test]
            fn adventurer_5m_pro() {
                modern(Model::Adventurer5MPro);
            }
            #[test]
            fn ad5x() {
                modern(Model::AD5X);
            }
            #[test]
            fn creator_5() {
                modern(Model::Creator5);
            }
            #[test]
            fn creator_5_pro() {
                modern(Model::Creator5Pro);
            }

            /// `{"code":3,"message":"Unauthorized"}` (HTTP 200) for a wrong check code.
            #[test]
            fn wrong_check_code_is_unauthorized() {
                for model in [Model::Adventurer5M, Model::Creator5] {
                    let r = replay(model);
                    let (serial, _) = r.credentials().unwrap();
                    let creds = $ff::Credentials::new(serial, "WRONG").unwrap();
                    let e = $run(
                        Printer::builder()
                            .options(replay_options())
                            .connect(replay_endpoint(&r), creds),
                    )
                    .expect_err("wrong check code");
                    assert_eq!(served(&r), ["http_POST_detail_badauth"], "{model}");
                    assert_eq!(e, Error::Unauthorized, "{model}");
                }
            }

            /// The emulator serves no printer HTTP API for the Adventurer 3/4 (plain-text
            /// 404): connecting over HTTP fails, with a typed error, not a hang.
            #[test]
            fn legacy_models_have_no_http_api() {
                for model in [Model::Adventurer3, Model::Adventurer4] {
                    let r = replay(model);
                    let e = $run(
                        Printer::builder()
                            .options(replay_options())
                            .connect(replay_endpoint(&r), replay_credentials(&r)),
                    )
                    .expect_err("no HTTP API");
                    assert_eq!(served(&r), ["http_POST_detail"], "{model}");
                    // The captured `HTTP/1.1 404 Not Found`, as a typed error.
                    assert!(
                        matches!(
                            &e,
                            Error::Protocol($crate::flashforge_proto::client::ProtocolCause::Http(
                                $crate::flashforge_proto::http::HttpError::Status(404)
                            ))
                        ),
                        "{model}: {e:?}"
                    );
                    assert!(e.to_string().contains("404"), "{model}: {e}");
                }
            }

            /// The captured discovery replies, by unicast: name, serial, the emulator's ports
            /// (30021/30022, ...), and the model the pid says (discovery.md §6) — the 5M's
            /// reply carries the 5M Pro's pid `0x0024` (emulator bug; `/detail` says 35).
            #[test]
            fn discovery_replies_decode() {
                for (i, model) in Model::ALL.into_iter().enumerate() {
                    let r = replay(model);
                    let opts = $ff::DiscoverOptions::unicast([r.udp()])
                        .timeout(Duration::from_secs(5));
                    let found = $run($ff::discover(&opts)).expect("discover");
                    assert_eq!(found.len(), 1, "{model}: {found:?}");
                    let f = &found[0].reply;
                    let short = ["a3", "a4", "a5m", "a5mpro", "ad5x", "c5", "c5pro"][i];
                    assert_eq!(f.name, format!("Emu {short}"), "{model}");
                    let base = 30001 + 10 * i as u16;
                    assert_eq!(f.command_port, base, "{model}");
                    let legacy = i < 2;
                    if legacy {
                        assert_eq!(f.serial_number, None);
                        assert_eq!(f.event_port, None);
                        assert_eq!(f.product_id, [0x0008, 0x001E][i]);
                    } else {
                        assert_eq!(f.serial_number.as_deref(), Some(&*format!("SN-{short}")));
                        assert_eq!(f.event_port, Some(base + 1), "{model}");
                        assert_eq!(f.product_id, [0x24, 0x24, 0x26, 0x28, 0x29][i - 2]);
                    }
                    let want = if model == Model::Adventurer5M {
                        Model::Adventurer5MPro
                    } else {
                        model
                    };
                    assert_eq!(f.model, want, "{model}");
                }
            }
        }
    };
}
