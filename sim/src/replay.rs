//! A replay printer: a loopback server that answers every command with the bytes an
//! independent printer implementation sent for it, in the chunks and at the times they arrived.
//!
//! The bundled captures ([`EMULATOR_CAPTURES`], one folder per model, see its `README.md`) were
//! taken from the FlashForge emulator (`GhostTypes/flashforge-emulator-v2` v0.2.0). Every
//! exchange has a `.req` (the exact request), a `.resp` (the exact reply) and an entry in
//! `index.json` with the arrival time and size of every received chunk (`chunks_ms_len`).
//!
//! [`ReplayPrinter`] serves one model's folder on 127.0.0.1 (ephemeral ports):
//!
//! * **TCP** (not on the Creator 5 series, whose emulator binds no TCP port): each received line
//!   is matched, with or without its `~`, to the capture whose request it is, and that
//!   capture's reply is sent chunk by chunk at the captured offsets (so the ~500 ms gap before
//!   the emulator's `M661`/`M662` payload is reproduced). Where the captures need state, the
//!   replay keeps it: before `~M601` every command gets `tcp_M115_before_login`
//!   (`Control failed.`); after `~M23` the `~M119` reply is `tcp_M119_after_M23`, after `~M26`
//!   `tcp_M119_after_cancel`, and in the [`Phase::Printing`] snapshot the `_printing` replies.
//!   Arguments are also matched with the `/data/` and `0:/user/` prefixes stripped (the
//!   emulator does the same), a thumbnail of an unknown file gets the `_missing` reply, and an
//!   unknown command gets the `tcp_M999_unknown` shape (`CMD <code as sent> Received.\nok\n`).
//! * **HTTP** (every model; the Adventurer 3/4 captures are the emulator's plain-text 404s):
//!   method and path select the captures, then the request picks one: wrong credentials the
//!   `_badauth` reply, `/detail` the one of the current [`Phase`], `/gcodeList` the `_empty`
//!   one until an upload succeeded, `Expect: 100-continue` the `_expect100` upload (whose
//!   interim `100 Continue` is sent as soon as the head is in), and JSON bodies (`/control`
//!   commands and their arguments, `/gcodeThumb` file names) the capture whose request body
//!   agrees with them. Request bodies are read in full (uploads are discarded after the first
//!   MiB) before the reply is sent; the connection closes after it (`Connection: close`).
//! * **UDP** discovery: any datagram to [`ReplayPrinter::udp`] gets the captured unicast
//!   reply (which names the emulator's ports, not the replay's).
//!
//! Every answer is journaled ([`ReplayPrinter::served`]) with the capture that produced it and
//! how the request matched, so a test can check that a client sent exactly what the capture's
//! request was.
//!
//! ```
//! use flashforge_proto::Model;
//! use flashforge_sim::replay::ReplayPrinter;
//! use std::io::{Read, Write};
//!
//! let replay = ReplayPrinter::start(Model::Adventurer4).unwrap();
//! let mut tcp = std::net::TcpStream::connect(replay.tcp().unwrap()).unwrap();
//! tcp.write_all(b"~M601 S1\n").unwrap();
//! let mut reply = vec![0u8; 47];
//! tcp.read_exact(&mut reply).unwrap();
//! assert_eq!(reply, b"CMD M601 Received.\nok\nControl Success V2.1.\nok\n");
//! assert_eq!(replay.served()[0].capture.as_deref(), Some("tcp_M601_S1"));
//! replay.shutdown();
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::server::{join_all, lock, spawn};

/// The bundled emulator captures: one folder per model ([`emulator_folder`]).
pub const EMULATOR_CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/emulator");

/// How often blocked threads look at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// Longest request line or HTTP head the replay accepts.
const MAX_HEAD: usize = 64 * 1024;
/// Request bodies above this are counted and discarded instead of kept.
const MAX_KEPT_BODY: usize = 1 << 20;
/// The emulator closes a TCP connection after this long without traffic.
const IDLE_CLOSE: Duration = Duration::from_secs(30);

/// The folder of `model` under [`EMULATOR_CAPTURES`] (the emulator's `--model` id).
pub fn emulator_folder(model: Model) -> Option<&'static str> {
    Some(match model {
        Model::Adventurer3 => "adventurer-3",
        Model::Adventurer4 => "adventurer-4",
        Model::Adventurer5M => "adventurer-5m",
        Model::Adventurer5MPro => "adventurer-5m-pro",
        Model::AD5X => "adventurer-5x",
        Model::Creator5 => "creator-5",
        Model::Creator5Pro => "creator-5-pro",
        _ => return None,
    })
}

/// The channel of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The TCP command session (port 8899).
    Tcp,
    /// The HTTP API (port 8898).
    Http,
    /// UDP discovery.
    Udp,
}

/// One captured exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Its name (`tcp_M115`, `http_POST_detail`, ...).
    pub name: String,
    /// Its channel.
    pub channel: Channel,
    /// TCP: the command line as sent (`~M115`).
    pub command: Option<String>,
    /// HTTP: the method.
    pub method: Option<String>,
    /// HTTP: the path.
    pub path: Option<String>,
    /// UDP: where the probe went (`127.0.0.1:48899`, `225.0.0.9:19000`, ...).
    pub dest: Option<String>,
    /// The exact request bytes.
    pub request: Vec<u8>,
    /// The exact response bytes (HTTP: an interim `100 Continue` first when there was one).
    pub response: Vec<u8>,
    /// Length of the interim response at the start of [`Capture::response`].
    pub interim_len: usize,
    /// When each chunk arrived after the request was sent, and its size (the interim response
    /// is not in this list).
    pub chunks: Vec<(Duration, usize)>,
    /// The capture's note.
    pub note: String,
}

impl Capture {
    /// HTTP: the final response's body (after its head).
    pub fn body(&self) -> &[u8] {
        after_head(&self.response[self.interim_len..])
    }

    /// HTTP: the request's body (after its head).
    pub fn request_body(&self) -> &[u8] {
        after_head(&self.request)
    }

    /// HTTP: the request body as JSON, when it is JSON.
    pub fn request_json(&self) -> Option<Value> {
        serde_json::from_slice(self.request_body()).ok()
    }

    /// HTTP upload: the multipart file's name and bytes in the request.
    pub fn uploaded_file(&self) -> Option<(String, Vec<u8>)> {
        let head = parse_head(&self.request)?;
        match multipart_file(head.header("Content-Type"), self.request_body()) {
            (Some(name), Some(file)) => Some((name, file)),
            _ => None,
        }
    }

    /// TCP: the command without `~` and surrounding spaces.
    fn bare_command(&self) -> Option<&str> {
        self.command.as_deref().map(bare)
    }
}

fn after_head(bytes: &[u8]) -> &[u8] {
    memchr::memmem::find(bytes, b"\r\n\r\n").map_or(&[][..], |i| &bytes[i + 4..])
}

fn bare(line: &str) -> &str {
    let t = line.trim();
    t.strip_prefix('~').unwrap_or(t).trim()
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Every capture of one model's folder, checked against `index.json` (sizes and SHA-256).
#[derive(Debug, Clone)]
pub struct CaptureSet {
    /// The model (from the index's `model` id).
    pub model: Model,
    /// Where the captures were read from.
    pub folder: PathBuf,
    captures: Vec<Capture>,
}

impl CaptureSet {
    /// The bundled captures of `model`.
    pub fn emulator(model: Model) -> io::Result<Self> {
        let folder = emulator_folder(model)
            .ok_or_else(|| invalid(format!("no emulator captures for {model}")))?;
        Self::load(Path::new(EMULATOR_CAPTURES).join(folder))
    }

    /// Read a folder: `index.json` plus the `.req`/`.resp` files it names.
    pub fn load(folder: impl AsRef<Path>) -> io::Result<Self> {
        let folder = folder.as_ref().to_path_buf();
        let index: Value = serde_json::from_slice(&std::fs::read(folder.join("index.json"))?)
            .map_err(|e| invalid(format!("{}: {e}", folder.display())))?;
        let id = index["model"].as_str().unwrap_or_default();
        let model = Model::ALL
            .iter()
            .copied()
            .find(|&m| emulator_folder(m) == Some(id))
            .ok_or_else(|| invalid(format!("unknown model id {id:?}")))?;
        let entries = index["captures"]
            .as_array()
            .ok_or_else(|| invalid("index.json without captures".into()))?;
        let mut captures = Vec::with_capacity(entries.len());
        for e in entries {
            captures.push(load_capture(&folder, e)?);
        }
        Ok(Self {
            model,
            folder,
            captures,
        })
    }

    /// The capture called `name`.
    pub fn get(&self, name: &str) -> Option<&Capture> {
        self.captures.iter().find(|c| c.name == name)
    }

    /// Every capture, in the order they were taken.
    pub fn captures(&self) -> &[Capture] {
        &self.captures
    }

    /// The serial number and check code the captures authenticated with (from the body of
    /// `http_POST_detail`).
    pub fn credentials(&self) -> Option<(String, String)> {
        let j = self.get("http_POST_detail")?.request_json()?;
        Some((
            j["serialNumber"].as_str()?.to_owned(),
            j["checkCode"].as_str()?.to_owned(),
        ))
    }

    /// Whether the capture set has a TCP session (the Creator 5 series refused the connection).
    pub fn has_tcp(&self) -> bool {
        self.captures
            .iter()
            .any(|c| c.channel == Channel::Tcp && c.command.is_some())
    }
}

fn load_capture(folder: &Path, e: &Value) -> io::Result<Capture> {
    let s = |k: &str| e[k].as_str().map(str::to_owned);
    let name = s("name").ok_or_else(|| invalid("capture without a name".into()))?;
    let channel = match e["kind"].as_str() {
        Some("tcp") => Channel::Tcp,
        Some("http") => Channel::Http,
        Some("udp") => Channel::Udp,
        other => return Err(invalid(format!("{name}: kind {other:?}"))),
    };
    let read = |k: &str| -> io::Result<Vec<u8>> {
        match e[k].as_str() {
            Some(f) => std::fs::read(folder.join(f)),
            None => Ok(Vec::new()),
        }
    };
    let request = read("request_file")?;
    let response = read("response_file")?;
    let len = |k: &str| e[k].as_u64().map(|n| n as usize);
    if len("request_len").is_some_and(|n| n != request.len())
        || len("response_len").is_some_and(|n| n != response.len())
    {
        return Err(invalid(format!("{name}: size differs from index.json")));
    }
    if let Some(want) = e["response_sha256"].as_str() {
        let got: String = Sha256::digest(&response)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != want {
            return Err(invalid(format!("{name}: SHA-256 differs from index.json")));
        }
    }
    let chunks = e["chunks_ms_len"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let ms = c.get(0)?.as_f64()?;
                    let n = c.get(1)?.as_u64()?;
                    Some((Duration::from_secs_f64(ms.max(0.0) / 1000.0), n as usize))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Capture {
        name,
        channel,
        command: s("command"),
        method: s("method"),
        path: s("path"),
        dest: s("dest"),
        request,
        response,
        interim_len: len("interim_response_len").unwrap_or(0),
        chunks,
        note: s("note").unwrap_or_default(),
    })
}

/// The job state the replay answers for (the captures were taken in each of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// No job (the plain captures).
    #[default]
    Idle,
    /// A job was started (`~M23`, `/printGcode`, an upload with `printNow`): the emulator was
    /// still heating (`tcp_M119_after_M23`, `http_POST_detail_after_printGcode`).
    Started,
    /// Paused after a start (`http_POST_detail_paused`; the emulator ignored the pause while
    /// heating, so that reply still says `heating`).
    Paused,
    /// Cancelled (`tcp_M119_after_cancel`, `http_POST_detail_cancelled`).
    Cancelled,
    /// The emulator's frozen mid-print snapshot (the `_printing` captures: 47 %, layer
    /// 113/240). Only [`ReplayPrinter::set_phase`] enters it.
    Printing,
}

/// How a request matched the capture that answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The request is the capture's request (TCP: the same line, `~` optional; HTTP: the same
    /// method, path and JSON body apart from the credentials).
    Exact,
    /// Equal after the emulator's normalisation (`/data/` and `0:/user/` stripped from TCP
    /// arguments), or a JSON body that agrees with the capture's where both have a field.
    Normalized,
    /// No capture of this request: the emulator's documented answer for such requests
    /// (`Control failed.` before login, `_missing` thumbnails, `Unauthorized`, the `/control`
    /// acknowledgement of an unknown command, the only capture of that path).
    Fallback,
    /// Built by the replay: the `tcp_M999_unknown` shape for an unknown command, or a 404.
    Synthesized,
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Where it arrived.
    pub channel: Channel,
    /// TCP: the line as received; HTTP: method, path and (for `/control`) the command;
    /// UDP: the payload size.
    pub request: String,
    /// The capture that answered (`None` for a synthesized 404).
    pub capture: Option<String>,
    /// How the request matched it.
    pub matched: Match,
}

/// One upload the replay received (`/uploadGcode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The request headers, `checkCode` left out.
    pub headers: Vec<(String, String)>,
    /// Bytes of request body received.
    pub body_len: u64,
    /// The multipart file name.
    pub file_name: Option<String>,
    /// The file's bytes, when the body was small enough to keep (1 MiB).
    pub file: Option<Vec<u8>>,
    /// The capture that answered.
    pub capture: String,
}

/// Replay settings.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// Multiplies every captured chunk time (1.0: as captured; 0.0: send everything at once).
    pub time_scale: f64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self { time_scale: 1.0 }
    }
}

#[derive(Debug, Default)]
struct State {
    phase: Phase,
    uploaded: bool,
    served: Vec<Served>,
    uploads: Vec<Upload>,
}

#[derive(Debug)]
struct Shared {
    set: CaptureSet,
    credentials: Option<(String, String)>,
    options: ReplayOptions,
    state: Mutex<State>,
    stop: AtomicBool,
}

/// What to send for one request.
struct Answer<'a> {
    capture: Option<&'a Capture>,
    bytes: Vec<u8>,
    interim_len: usize,
    chunks: Vec<(Duration, usize)>,
    matched: Match,
}

impl<'a> Answer<'a> {
    fn of(c: &'a Capture, matched: Match) -> Self {
        Self {
            capture: Some(c),
            bytes: c.response.clone(),
            interim_len: c.interim_len,
            chunks: c.chunks.clone(),
            matched,
        }
    }
}

/// A loopback printer answering from one model's captures. Dropping it shuts it down.
#[derive(Debug)]
pub struct ReplayPrinter {
    shared: Arc<Shared>,
    tcp: Option<SocketAddr>,
    http: SocketAddr,
    udp: SocketAddr,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ReplayPrinter {
    /// Replays the bundled emulator captures of `model`, timed as captured.
    pub fn start(model: Model) -> io::Result<Self> {
        Self::with_options(CaptureSet::emulator(model)?, ReplayOptions::default())
    }

    /// Replays `set` on 127.0.0.1 (TCP only when the set has a TCP session).
    pub fn with_options(set: CaptureSet, options: ReplayOptions) -> io::Result<Self> {
        let ip = Ipv4Addr::LOCALHOST;
        let tcp = if set.has_tcp() {
            Some(TcpListener::bind((ip, 0))?)
        } else {
            None
        };
        let http = TcpListener::bind((ip, 0))?;
        let udp = UdpSocket::bind((ip, 0))?;
        udp.set_read_timeout(Some(POLL))?;
        let shared = Arc::new(Shared {
            credentials: set.credentials(),
            set,
            options,
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
        });
        let threads = Arc::new(Mutex::new(Vec::new()));
        let me = Self {
            tcp: tcp.as_ref().map(TcpListener::local_addr).transpose()?,
            http: http.local_addr()?,
            udp: udp.local_addr()?,
            shared: shared.clone(),
            threads: threads.clone(),
        };
        if let Some(l) = tcp {
            let (s, t) = (shared.clone(), threads.clone());
            spawn(&threads, "replay-tcp".into(), STACK, move || {
                accept(&l, &s, &t, serve_tcp)
            })?;
        }
        let (s, t) = (shared.clone(), threads.clone());
        spawn(&threads, "replay-http".into(), STACK, move || {
            accept(&http, &s, &t, serve_http)
        })?;
        spawn(&threads, "replay-udp".into(), STACK, move || {
            serve_udp(&udp, &shared)
        })?;
        Ok(me)
    }

    /// The TCP command address (`None` for the Creator 5 series).
    pub fn tcp(&self) -> Option<SocketAddr> {
        self.tcp
    }

    /// The HTTP address.
    pub fn http(&self) -> SocketAddr {
        self.http
    }

    /// The UDP discovery address.
    pub fn udp(&self) -> SocketAddr {
        self.udp
    }

    /// The model of the captures.
    pub fn model(&self) -> Model {
        self.shared.set.model
    }

    /// The captures being replayed.
    pub fn captures(&self) -> &CaptureSet {
        &self.shared.set
    }

    /// The serial number and check code of the captures.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.shared.credentials.clone()
    }

    /// The job state the replay answers for.
    pub fn phase(&self) -> Phase {
        lock(&self.shared.state).phase
    }

    /// Switch the job state (e.g. to the [`Phase::Printing`] snapshot, which the emulator
    /// entered through its own `/__scenario` route).
    pub fn set_phase(&self, phase: Phase) {
        lock(&self.shared.state).phase = phase;
    }

    /// Every answered request so far, in order.
    pub fn served(&self) -> Vec<Served> {
        lock(&self.shared.state).served.clone()
    }

    /// The answered requests since the last call (or the start).
    pub fn take_served(&self) -> Vec<Served> {
        std::mem::take(&mut lock(&self.shared.state).served)
    }

    /// Every upload received.
    pub fn uploads(&self) -> Vec<Upload> {
        lock(&self.shared.state).uploads.clone()
    }

    /// Stops every thread; returns when they have ended.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        let wake: Vec<SocketAddr> = self.tcp.iter().copied().chain([self.http]).collect();
        join_all(&self.threads, &wake);
    }
}

impl Drop for ReplayPrinter {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Replay threads need little stack.
const STACK: usize = 256 * 1024;

fn accept(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    threads: &Arc<Mutex<Vec<JoinHandle<()>>>>,
    serve: fn(&Shared, TcpStream),
) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(POLL));
        let s = shared.clone();
        let _ = spawn(threads, "replay-conn".into(), STACK, move || {
            serve(&s, stream)
        });
    }
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn journal(&self, channel: Channel, request: String, a: &Answer<'_>) {
        lock(&self.state).served.push(Served {
            channel,
            request,
            capture: a.capture.map(|c| c.name.clone()),
            matched: a.matched,
        });
    }

    fn find(&self, name: &str) -> Option<&Capture> {
        self.set.get(name)
    }

    /// Write `a` in its captured chunks, each no earlier than its offset after `t0`.
    fn send(
        &self,
        out: &mut TcpStream,
        a: &Answer<'_>,
        t0: Instant,
        skip: usize,
    ) -> io::Result<()> {
        let mut off = skip;
        for &(at, len) in &a.chunks {
            let due = t0 + at.mul_f64(self.options.time_scale.max(0.0));
            while let Some(wait) = due.checked_duration_since(Instant::now()) {
                if self.stopped() {
                    return Ok(());
                }
                thread::sleep(wait.min(POLL));
            }
            let end = (off + len).min(a.bytes.len());
            out.write_all(&a.bytes[off..end])?;
            off = end;
        }
        if off < a.bytes.len() {
            out.write_all(&a.bytes[off..])?;
        }
        out.flush()
    }

    // ---- TCP ------------------------------------------------------------------------------

    fn answer_tcp(&self, line: &str, logged_in: &mut bool) -> Answer<'_> {
        let cmd = bare(line);
        let code = cmd
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let tcp = || {
            self.set
                .captures
                .iter()
                .filter(|c| c.channel == Channel::Tcp && c.command.is_some())
        };
        if code != "M601" && !*logged_in {
            if let Some(c) = tcp().find(|c| c.name.ends_with("_before_login")) {
                let exact = c.bare_command() == Some(cmd);
                return Answer::of(c, if exact { Match::Exact } else { Match::Fallback });
            }
        }
        let phase = lock(&self.state).phase;
        let exact: Vec<&Capture> = tcp()
            .filter(|c| c.bare_command() == Some(cmd) && !c.name.ends_with("_before_login"))
            .collect();
        let answer = if !exact.is_empty() {
            Answer::of(pick_tcp_variant(&exact, phase), Match::Exact)
        } else {
            let norm = normalize_args(cmd);
            let close: Vec<&Capture> = tcp()
                .filter(|c| {
                    c.bare_command().map(normalize_args).as_deref() == Some(norm.as_str())
                        && !c.name.ends_with("_before_login")
                })
                .collect();
            if !close.is_empty() {
                Answer::of(pick_tcp_variant(&close, phase), Match::Normalized)
            } else if let Some(c) = tcp().find(|c| {
                c.name.ends_with("_missing")
                    && c.bare_command()
                        .and_then(|b| b.split_whitespace().next())
                        .is_some_and(|b| b.eq_ignore_ascii_case(&code))
            }) {
                Answer::of(c, Match::Fallback)
            } else {
                self.unknown_tcp(line)
            }
        };
        let mut st = lock(&self.state);
        match code.as_str() {
            "M601" => *logged_in = true,
            "M602" => *logged_in = false,
            "M23" => st.phase = Phase::Started,
            "M25" if matches!(st.phase, Phase::Started | Phase::Printing) => {
                st.phase = Phase::Paused;
            }
            "M24" if st.phase == Phase::Paused => st.phase = Phase::Started,
            "M26" if st.phase != Phase::Idle => st.phase = Phase::Cancelled,
            _ => {}
        }
        answer
    }

    /// `tcp_M999_unknown` with the received command in place of `~M999`: its first word as
    /// sent (`~` kept, arguments dropped — every captured echo names the code only).
    fn unknown_tcp(&self, line: &str) -> Answer<'_> {
        let word = line.split_whitespace().next().unwrap_or_default();
        let Some(c) = self.find("tcp_M999_unknown") else {
            return Answer {
                capture: None,
                bytes: format!("CMD {word} Received.\nok\n").into_bytes(),
                interim_len: 0,
                chunks: Vec::new(),
                matched: Match::Synthesized,
            };
        };
        let captured = String::from_utf8_lossy(&c.response);
        let sent = c.command.as_deref().unwrap_or("~M999").trim();
        let bytes = captured.replacen(sent, word, 1).into_bytes();
        Answer {
            capture: Some(c),
            chunks: vec![(
                c.chunks.first().map_or(Duration::ZERO, |x| x.0),
                bytes.len(),
            )],
            bytes,
            interim_len: 0,
            matched: Match::Synthesized,
        }
    }

    // ---- HTTP -----------------------------------------------------------------------------

    fn credentials_ok(&self, head: &Head, json: Option<&Value>) -> bool {
        let Some((serial, code)) = &self.credentials else {
            return true;
        };
        let (s, c) = match json {
            Some(j) if j.get("serialNumber").is_some() || j.get("checkCode").is_some() => (
                j["serialNumber"].as_str().map(str::to_owned),
                j["checkCode"].as_str().map(str::to_owned),
            ),
            _ => (
                head.header("serialNumber").map(str::to_owned),
                head.header("checkCode").map(str::to_owned),
            ),
        };
        match (s, c) {
            (None, None) => true,
            (s, c) => s.as_deref() == Some(serial.as_str()) && c.as_deref() == Some(code.as_str()),
        }
    }

    fn http_candidates(&self, head: &Head) -> Vec<&Capture> {
        self.set
            .captures
            .iter()
            .filter(|c| {
                c.channel == Channel::Http
                    && c.method.as_deref() == Some(head.method.as_str())
                    && c.path.as_deref() == Some(head.path.as_str())
            })
            .collect()
    }

    /// The answer decided by the head alone (uploads), so the interim `100 Continue` can go
    /// out before the body.
    fn answer_http_head(&self, head: &Head) -> Option<Answer<'_>> {
        if head.path != "/uploadGcode" {
            return None;
        }
        let cands = self.http_candidates(head);
        if cands.is_empty() {
            return None;
        }
        if !self.credentials_ok(head, None) {
            return self.unauthorized(&cands);
        }
        let cands: Vec<&Capture> = cands
            .into_iter()
            .filter(|c| !c.name.ends_with("_badauth"))
            .collect();
        let want = if head.expects_continue() {
            "_expect100"
        } else {
            ""
        };
        Some(pick_suffix(&cands, want, &["_expect100"]).map_or_else(
            || Answer::of(cands[0], Match::Fallback),
            |c| Answer::of(c, Match::Exact),
        ))
    }

    fn unauthorized<'a>(&'a self, cands: &[&'a Capture]) -> Option<Answer<'a>> {
        if let Some(c) = cands.iter().find(|c| c.name.ends_with("_badauth")) {
            return Some(Answer::of(c, Match::Exact));
        }
        self.set
            .captures
            .iter()
            .find(|c| c.channel == Channel::Http && c.name.ends_with("_badauth"))
            .map(|c| Answer::of(c, Match::Fallback))
    }

    fn answer_http(&self, head: &Head, body: &[u8]) -> Answer<'_> {
        let cands = self.http_candidates(head);
        if cands.is_empty() {
            return self.not_found(head);
        }
        let json: Option<Value> = serde_json::from_slice(body).ok();
        if !self.credentials_ok(head, json.as_ref()) {
            if let Some(a) = self.unauthorized(&cands) {
                return a;
            }
        }
        let cands: Vec<&Capture> = cands
            .into_iter()
            .filter(|c| !c.name.ends_with("_badauth"))
            .collect();
        if cands.is_empty() {
            return self.not_found(head);
        }
        let st = lock(&self.state);
        let by_state = match head.path.as_str() {
            "/detail" => Some((
                match st.phase {
                    Phase::Idle => "",
                    Phase::Started => "_after_printGcode",
                    Phase::Paused => "_paused",
                    Phase::Cancelled => "_cancelled",
                    Phase::Printing => "_printing",
                },
                &["_after_printGcode", "_paused", "_cancelled", "_printing"][..],
            )),
            "/gcodeList" => Some((if st.uploaded { "" } else { "_empty" }, &["_empty"][..])),
            _ => None,
        };
        drop(st);
        if let Some((want, variants)) = by_state {
            return pick_suffix(&cands, want, variants).map_or_else(
                || Answer::of(cands[0], Match::Fallback),
                |c| Answer::of(c, Match::Exact),
            );
        }
        let Some(req) = json else {
            return Answer::of(cands[0], Match::Exact);
        };
        let req = without_credentials(&req);
        if let Some(c) = cands
            .iter()
            .find(|c| c.request_json().map(|j| without_credentials(&j)).as_ref() == Some(&req))
        {
            return Answer::of(c, Match::Exact);
        }
        let mut best: Option<(&Capture, usize)> = None;
        for c in &cands {
            let Some(j) = c.request_json() else { continue };
            if let Some(n) = agreement(&req, &without_credentials(&j)) {
                if best.map_or(true, |(_, b)| n > b) {
                    best = Some((c, n));
                }
            }
        }
        if let Some((c, _)) = best {
            return Answer::of(c, Match::Normalized);
        }
        let fallback = cands
            .iter()
            .find(|c| c.name.ends_with("_missing") || c.name.ends_with("_unknown_cmd"))
            .unwrap_or(&cands[0]);
        Answer::of(fallback, Match::Fallback)
    }

    /// A 404: the emulator's plain text on the Adventurer 3/4, Express's on the others.
    fn not_found(&self, head: &Head) -> Answer<'_> {
        let legacy = matches!(self.set.model, Model::Adventurer3 | Model::Adventurer4);
        let body = if legacy {
            format!(
                "No HTTP endpoint: {} {} (legacy TCP-only model)",
                head.method, head.path
            )
        } else {
            format!("Cannot {} {}", head.method, head.path)
        };
        let bytes = format!(
            "HTTP/1.1 404 Not Found\r\nX-Powered-By: Express\r\nContent-Type: text/plain; \
             charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        Answer {
            capture: None,
            chunks: vec![(Duration::ZERO, bytes.len())],
            bytes,
            interim_len: 0,
            matched: Match::Synthesized,
        }
    }

    /// The state a successful HTTP answer leaves.
    fn after_http(&self, head: &Head, a: &Answer<'_>) {
        let Some(c) = a.capture else { return };
        if !c.response[c.interim_len..].starts_with(b"HTTP/1.1 200") || c.name.contains("badauth") {
            return;
        }
        let mut st = lock(&self.state);
        let n = c.name.as_str();
        if n.starts_with("http_POST_uploadGcode") {
            st.uploaded = true;
            if head
                .header("printNow")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                st.phase = Phase::Started;
            }
        } else if n == "http_POST_printGcode" {
            st.phase = Phase::Started;
        } else if n.ends_with("_job_pause") {
            if matches!(st.phase, Phase::Started | Phase::Printing) {
                st.phase = Phase::Paused;
            }
        } else if n.ends_with("_job_continue") {
            if st.phase == Phase::Paused {
                st.phase = Phase::Started;
            }
        } else if n.ends_with("_job_cancel") {
            if st.phase != Phase::Idle {
                st.phase = Phase::Cancelled;
            }
        } else if n.ends_with("_clear_platform") {
            st.phase = Phase::Idle;
        }
    }

    // ---- UDP ------------------------------------------------------------------------------

    fn answer_udp(&self, payload: &[u8]) -> Option<&Capture> {
        let unicast = || {
            self.set.captures.iter().filter(|c| {
                c.channel == Channel::Udp
                    && c.dest
                        .as_deref()
                        .is_some_and(|d| d.starts_with("127.0.0.1:"))
            })
        };
        unicast()
            .find(|c| c.request == payload)
            .or_else(|| unicast().find(|c| c.request.is_empty()))
            .or_else(|| unicast().next())
    }
}

/// `/data/x` and `0:/user/x` arguments as the emulator sees them (`x`).
fn normalize_args(cmd: &str) -> String {
    cmd.split_whitespace()
        .map(|w| {
            let w = w.strip_prefix("0:").unwrap_or(w);
            w.strip_prefix("/data/")
                .or_else(|| w.strip_prefix("/user/"))
                .unwrap_or(w)
        })
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
}

const TCP_VARIANTS: [&str; 3] = ["_after_M23", "_after_cancel", "_printing"];

fn pick_tcp_variant<'a>(cands: &[&'a Capture], phase: Phase) -> &'a Capture {
    let want = match phase {
        Phase::Idle => "",
        Phase::Started | Phase::Paused => "_after_M23",
        Phase::Cancelled => "_after_cancel",
        Phase::Printing => "_printing",
    };
    pick_suffix(cands, want, &TCP_VARIANTS).unwrap_or(cands[0])
}

/// The candidate named with `want` (`""`: the one without any of `variants`), else the one
/// without any variant.
fn pick_suffix<'a>(cands: &[&'a Capture], want: &str, variants: &[&str]) -> Option<&'a Capture> {
    let base = || {
        cands
            .iter()
            .copied()
            .find(|c| !variants.iter().any(|v| c.name.ends_with(v)))
    };
    if want.is_empty() {
        return base();
    }
    cands
        .iter()
        .copied()
        .find(|c| c.name.ends_with(want))
        .or_else(base)
}

fn without_credentials(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("serialNumber");
        o.remove("checkCode");
    }
    v
}

fn leaves(v: &Value, prefix: String, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                leaves(x, format!("{prefix}/{k}"), out);
            }
        }
        other => {
            out.insert(prefix, other.clone());
        }
    }
}

/// How many leaves `a` and `b` share with equal values, or `None` when a shared leaf differs.
fn agreement(a: &Value, b: &Value) -> Option<usize> {
    let (mut la, mut lb) = (BTreeMap::new(), BTreeMap::new());
    leaves(a, String::new(), &mut la);
    leaves(b, String::new(), &mut lb);
    let mut n = 0;
    for (k, v) in &la {
        match lb.get(k) {
            Some(w) if w == v => n += 1,
            Some(_) => return None,
            None => {}
        }
    }
    Some(n)
}

// ---- connections ----------------------------------------------------------------------------

/// Read more bytes; `Ok(false)` on EOF, idle timeout or shutdown.
fn fill(shared: &Shared, s: &mut TcpStream, buf: &mut Vec<u8>, idle: &mut Instant) -> bool {
    let mut tmp = [0u8; 16 * 1024];
    loop {
        if shared.stopped() {
            return false;
        }
        match s.read(&mut tmp) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                *idle = Instant::now();
                return true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if idle.elapsed() > IDLE_CLOSE {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn serve_tcp(shared: &Shared, mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut idle = Instant::now();
    let mut logged_in = false;
    loop {
        while let Some(i) = memchr::memchr(b'\n', &buf) {
            let t0 = Instant::now();
            let raw: Vec<u8> = buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let a = shared.answer_tcp(line, &mut logged_in);
            shared.journal(Channel::Tcp, line.to_owned(), &a);
            if shared.send(&mut s, &a, t0, 0).is_err() {
                return;
            }
        }
        if buf.len() > MAX_HEAD {
            buf.clear();
        }
        if !fill(shared, &mut s, &mut buf, &mut idle) {
            let _ = s.shutdown(Shutdown::Both);
            return;
        }
    }
}

struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> u64 {
        self.header("Content-Length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    fn expects_continue(&self) -> bool {
        self.header("Expect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }

    fn describe(&self, json: Option<&Value>) -> String {
        match json.and_then(|j| j["payload"]["cmd"].as_str()) {
            Some(cmd) => format!("{} {} {cmd}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

fn parse_head(bytes: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(bytes), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let target = req.path?;
    Some(Head {
        method: req.method?.to_owned(),
        path: target.split('?').next().unwrap_or(target).to_owned(),
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect(),
    })
}

/// The file part of a `multipart/form-data` body.
fn multipart_file(content_type: Option<&str>, body: &[u8]) -> (Option<String>, Option<Vec<u8>>) {
    let Some(boundary) = content_type
        .and_then(|t| t.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_owned())
    else {
        return (None, None);
    };
    let delim = format!("--{boundary}");
    let Some(start) = memchr::memmem::find(body, delim.as_bytes()) else {
        return (None, None);
    };
    let part = &body[start + delim.len()..];
    let Some(h_end) = memchr::memmem::find(part, b"\r\n\r\n") else {
        return (None, None);
    };
    let part_head = String::from_utf8_lossy(&part[..h_end]);
    let name = part_head
        .split("filename=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(str::to_owned);
    let content = &part[h_end + 4..];
    let end = memchr::memmem::find(content, format!("\r\n{delim}").as_bytes());
    (name, end.map(|e| content[..e].to_vec()))
}

fn serve_http(shared: &Shared, mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut idle = Instant::now();
    let head_end = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD || !fill(shared, &mut s, &mut buf, &mut idle) {
            return;
        }
    };
    let t0 = Instant::now();
    let Some(head) = parse_head(&buf[..head_end]) else {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        return;
    };
    let early = shared.answer_http_head(&head);
    if let Some(a) = &early {
        if head.expects_continue()
            && a.interim_len > 0
            && s.write_all(&a.bytes[..a.interim_len]).is_err()
        {
            return;
        }
    }
    // The body, by Content-Length: kept up to a bound, counted beyond it.
    let want = head.content_length();
    let mut body: Vec<u8> = buf.split_off(head_end);
    let mut got = body.len() as u64;
    while got < want {
        let mut more = Vec::new();
        if !fill(shared, &mut s, &mut more, &mut idle) {
            return;
        }
        got += more.len() as u64;
        if body.len() < MAX_KEPT_BODY {
            body.extend_from_slice(&more);
        }
    }
    let kept_all = got as usize == body.len();
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let a = match early {
        Some(a) => a,
        None => shared.answer_http(&head, &body),
    };
    shared.journal(Channel::Http, head.describe(json.as_ref()), &a);
    if head.path == "/uploadGcode" {
        if let Some(c) = a.capture {
            let (file_name, file) = multipart_file(head.header("Content-Type"), &body);
            lock(&shared.state).uploads.push(Upload {
                headers: head
                    .headers
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("checkCode"))
                    .cloned()
                    .collect(),
                body_len: got,
                file_name,
                file: file.filter(|_| kept_all),
                capture: c.name.clone(),
            });
        }
    }
    shared.after_http(&head, &a);
    // The interim part went out before the body, or is not sent at all.
    let skip = a.interim_len;
    if shared.send(&mut s, &a, t0, skip).is_err() {
        return;
    }
    let _ = s.shutdown(Shutdown::Write);
    // Let the client read to EOF before the socket goes (no reset on unread bytes).
    let mut sink = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && fill(shared, &mut s, &mut sink, &mut idle) {
        sink.clear();
    }
}

fn serve_udp(sock: &UdpSocket, shared: &Shared) {
    let mut buf = [0u8; 2048];
    while !shared.stopped() {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if let Some(c) = shared.answer_udp(&buf[..n]) {
            let a = Answer::of(
                c,
                if c.request == buf[..n] {
                    Match::Exact
                } else {
                    Match::Fallback
                },
            );
            shared.journal(Channel::Udp, format!("{n}-byte probe"), &a);
            let _ = sock.send_to(&c.response, from);
        }
    }
}
