//! `flashforge serve`: one long-running process that watches every printer of a farm, shows
//! them on a web page, lets tools act on them and feeds monitoring.
//!
//! * Every printer keeps one client (HTTP and TCP keep-alive) and is polled every
//!   [`Config::interval`] (2 s by default) by its own task; changes become [`events`]. A
//!   printer that goes away is shown offline and retried with back-off (up to
//!   [`farm::MAX_BACKOFF`]); it never stalls the others.
//! * A JSON API under `/api/v1` (the OpenAPI document is at `/api/v1/openapi.json`): printers
//!   and their status, info, files and thumbnails; pause, resume, cancel, clear, LED,
//!   temperatures, fan, print a stored file, upload (streamed to the printer, never held
//!   whole); Server-Sent Events of status changes and job transitions at `/api/v1/events`.
//! * A dashboard at `/` (static files embedded in the binary), live through the events.
//! * Prometheus metrics at `/metrics`.
//! * Secure by default: it listens on 127.0.0.1 unless told otherwise; every action and
//!   upload needs the bearer token, and reads too unless [`Config::open_reads`]; check codes
//!   never appear in a response, page, log or metric; bodies and uploads are size-limited;
//!   no CORS headers unless an origin is allowed ([`Config::cors_origin`]).
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use flashforge_serve::{Config, PrinterEntry, Server, Token};
//! use flashforge_tokio::Credentials;
//!
//! let mut config = Config::new(Token::generate()?);
//! config.printers.push(PrinterEntry::new(
//!     "workshop",
//!     "192.168.1.20".parse()?,
//!     Some(Credentials::new("SNMOMC9900728", "e5c2bf77")?),
//! ));
//! let server = Server::start(config).await?;
//! println!("dashboard: http://{}/", server.local_addr());
//! server.wait().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod api;
pub mod auth;
pub mod conn;
pub mod events;
pub mod farm;
pub mod metrics;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use flashforge_tokio::{ClientOptions, Credentials, DiscoverOptions, Endpoint, Model};

pub use api::{OPENAPI, ROUTES};
pub use auth::{Token, TokenError};
pub use farm::{ErrorBody, Farm, Slot, Snapshot};

/// The port `flashforge serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8870;
/// The default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// The default bound of an upload (2 GiB).
pub const DEFAULT_MAX_UPLOAD: u64 = 2 << 30;
/// The bound of a JSON request body.
pub const MAX_JSON_BODY: usize = 16 * 1024;
/// The longest printer id.
pub const MAX_ID_LEN: usize = 64;

/// One printer of the farm.
#[derive(Debug, Clone)]
pub struct PrinterEntry {
    /// The id in URLs: `[a-z0-9._-]`, at most [`MAX_ID_LEN`] (see [`slug`]).
    pub id: String,
    /// The display name.
    pub name: String,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// Serial number and check code (5M family, AD5X, Creator 5); `None` for an Adventurer
    /// 3/4 (TCP only).
    pub credentials: Option<Credentials>,
    /// The model, when known before connecting (picks the Adventurer 3's dialect).
    pub model: Option<Model>,
}

impl PrinterEntry {
    /// A printer named `name` (its id is [`slug`]`(name)`).
    pub fn new(name: &str, endpoint: Endpoint, credentials: Option<Credentials>) -> Self {
        Self {
            id: slug(name),
            name: name.to_owned(),
            endpoint,
            credentials,
            model: None,
        }
    }
}

/// A URL-safe id from a name: lower-case ASCII letters and digits, `.`, `_` and `-`, other
/// characters as `-`, at most [`MAX_ID_LEN`] bytes; `printer` when nothing is left.
pub fn slug(name: &str) -> String {
    let mut s = String::with_capacity(name.len().min(MAX_ID_LEN));
    for c in name.chars() {
        if s.len() >= MAX_ID_LEN {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_') {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_owned();
    if s.is_empty() || s == "." || s == ".." {
        "printer".to_owned()
    } else {
        s
    }
}

/// Periodic discovery: printers that answer and are not in the farm are added. An Adventurer
/// 3/4 is added as it is; an HTTP printer only when [`Discovery::credentials`] holds its
/// serial number (else it is logged and skipped: it cannot be polled without its check code).
#[derive(Debug, Clone)]
pub struct Discovery {
    /// How often to search.
    pub every: Duration,
    /// What to search (unicast targets, or the LAN).
    pub options: DiscoverOptions,
    /// Credentials by serial number for printers found.
    pub credentials: Vec<Credentials>,
    /// At most this many printers are added by discovery over the server's life (forged
    /// replies on the LAN must not grow the farm without bound).
    pub max_added: usize,
}

impl Discovery {
    /// Search with `options` every `every`; printers with these credentials; at most 256
    /// added.
    pub fn new(every: Duration, options: DiscoverOptions, credentials: Vec<Credentials>) -> Self {
        Self {
            every,
            options,
            credentials,
            max_added: 256,
        }
    }
}

/// What the server does.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (default `127.0.0.1:8870`).
    pub listen: SocketAddr,
    /// The bearer token.
    pub token: Token,
    /// Reads (GET) without the token. Actions and uploads always need it.
    pub open_reads: bool,
    /// The printers.
    pub printers: Vec<PrinterEntry>,
    /// Time between two polls of one printer.
    pub interval: Duration,
    /// The clients' options (deadlines, bounds).
    pub client: ClientOptions,
    /// The largest upload accepted, in bytes.
    pub max_upload: u64,
    /// Periodic discovery, when on.
    pub discovery: Option<Discovery>,
    /// An origin allowed to call the API from a browser (CORS); none by default.
    pub cors_origin: Option<String>,
    /// Bounds of the server's own connections (count, head and stall deadlines).
    pub limits: conn::Limits,
}

impl Config {
    /// Defaults: `127.0.0.1:8870`, reads need the token, 2 s polls, 2 GiB uploads, no
    /// printers, no discovery, no CORS.
    pub fn new(token: Token) -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            token,
            open_reads: false,
            printers: Vec::new(),
            interval: DEFAULT_INTERVAL,
            client: ClientOptions::default(),
            max_upload: DEFAULT_MAX_UPLOAD,
            discovery: None,
            cors_origin: None,
            limits: conn::Limits::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Two printers have one id.
    #[error("two printers have the id `{0}`: give them different names")]
    DuplicateId(String),
    /// An id with characters other than `[a-z0-9._-]`, or too long.
    #[error("printer id `{0}` is not 1 to 64 of a-z 0-9 . _ -")]
    BadId(String),
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    farm: Arc<Farm>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id != "."
        && id != ".."
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

impl Server {
    /// Bind, start every poller, and serve until [`Server::shutdown`].
    pub async fn start(config: Config) -> Result<Self, ServeError> {
        let mut seen = std::collections::HashSet::new();
        for p in &config.printers {
            if !valid_id(&p.id) {
                return Err(ServeError::BadId(p.id.clone()));
            }
            if !seen.insert(p.id.as_str()) {
                return Err(ServeError::DuplicateId(p.id.clone()));
            }
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut limits = config.limits;
        // Client connections must not take the descriptors the pollers need: at most a
        // quarter of the limit (raised to the hard limit first, as the clients do).
        if let Ok(nofile) = flashforge_tokio::raise_fd_limit() {
            let room = usize::try_from(nofile / 4).unwrap_or(usize::MAX).max(16);
            if room < limits.max_connections {
                tracing::info!(
                    nofile,
                    max_connections = room,
                    "connections bounded by the descriptor limit"
                );
                limits.max_connections = room;
            }
        }
        let farm = Arc::new(Farm::new(config.interval, config.client.clone()));
        let n = config.printers.len().max(1) as u32;
        for (i, p) in config.printers.iter().enumerate() {
            // Spread the first polls over one interval.
            let delay = config.interval / n * i as u32;
            farm.add(p.clone(), delay);
        }
        if let Some(d) = config.discovery.clone() {
            tokio::spawn(discovery_loop(farm.clone(), d));
        }
        let app = api::router(farm.clone(), &config, addr, limits.max_connections);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(conn::serve(
            listener,
            app,
            rx,
            Duration::from_secs(2),
            limits,
        ));
        tracing::info!(%addr, printers = config.printers.len(), "serving");
        Ok(Self {
            addr,
            farm,
            stop: tx,
            task,
        })
    }

    /// The bound address (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The printers.
    pub fn farm(&self) -> &Arc<Farm> {
        &self.farm
    }

    /// Stop accepting, let open requests end (event streams are closed), stop the pollers.
    pub async fn shutdown(mut self) {
        self.farm.shutdown();
        let _ = self.stop.send(true);
        // Open requests get 2 s (event streams never end by themselves), then are dropped.
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.task).await;
        self.task.abort();
    }

    /// Serve until the task ends (it does not, unless the listener fails).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    /// A server dropped without [`Server::shutdown`] still stops its pollers and its
    /// listener (the connections end with the runtime).
    fn drop(&mut self) {
        self.farm.shutdown();
        let _ = self.stop.send(true);
    }
}

async fn discovery_loop(farm: Arc<Farm>, d: Discovery) {
    let mut added = 0usize;
    while !farm.is_stopping() {
        let found = tokio::select! {
            r = flashforge_tokio::discover(&d.options) => r,
            () = farm.stopped() => break,
        };
        match found {
            Ok(found) => {
                for p in found {
                    if added >= d.max_added {
                        tracing::warn!(
                            max = d.max_added,
                            "discovery: the bound of printers it may add is reached"
                        );
                        break;
                    }
                    let serial = p.reply.serial_number.clone();
                    let mut ep = Endpoint::new(p.ip);
                    ep = ep.with_ports(
                        p.reply.command_port,
                        p.reply
                            .event_port
                            .unwrap_or(flashforge_proto::client::HTTP_PORT),
                    );
                    if farm.knows(serial.as_deref(), &ep) {
                        continue;
                    }
                    let creds = match (&serial, p.reply.model.is_http()) {
                        (_, false) => None,
                        (Some(s), true) => match d.credentials.iter().find(|c| c.serial() == s) {
                            Some(c) => Some(c.clone()),
                            None => {
                                tracing::info!(serial = %s, ip = %p.ip, "found a printer without credentials in the config: skipped");
                                continue;
                            }
                        },
                        (None, true) => continue,
                    };
                    let name = if p.reply.name.is_empty() {
                        serial.clone().unwrap_or_else(|| p.ip.to_string())
                    } else {
                        p.reply.name.clone()
                    };
                    let mut entry = PrinterEntry::new(&name, ep, creds);
                    entry.model = (p.reply.model != Model::Unknown).then_some(p.reply.model);
                    let slot = farm.add(entry, Duration::ZERO);
                    added += 1;
                    tracing::info!(id = %slot.id, ip = %p.ip, "printer found by discovery");
                    farm.hub.publish(
                        Some(&slot.id),
                        "added",
                        &serde_json::json!({"type": "added", "printer": slot.snapshot()}),
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "discovery failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(d.every) => {}
            () = farm.stopped() => break,
        }
    }
}

/// `text` with every secret replaced by `<hidden>`: a printer's error text could echo a check
/// code back. A secret of 4 bytes or more is hidden wherever it occurs; a shorter one (a check
/// code of 1 to 3 characters) wherever it stands as a whole word, not glued to a letter or
/// digit, so that the error stays readable and the code still never shows on its own.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if !out.contains(*s) {
            continue;
        }
        if s.len() >= 4 {
            out = out.replace(*s, "<hidden>");
            continue;
        }
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let mut kept = String::with_capacity(out.len());
        let mut rest = out.as_str();
        let mut last = None;
        while let Some(i) = rest.find(*s) {
            let (before, after) = (&rest[..i], &rest[i + s.len()..]);
            // The character before is the original text's, also after an earlier occurrence.
            let prev = before.chars().next_back().or(last);
            // Part of a longer word: a letter or digit touches it where it has one itself.
            let glued = word(prev) && word(s.chars().next())
                || word(after.chars().next()) && word(s.chars().next_back());
            kept.push_str(before);
            kept.push_str(if glued { s } else { "<hidden>" });
            last = s.chars().next_back();
            rest = after;
        }
        kept.push_str(rest);
        out = kept;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slug("Workshop 5M Pro #2"), "workshop-5m-pro-2");
        assert_eq!(slug("  ../etc/passwd"), "..-etc-passwd");
        assert_eq!(slug("…"), "printer");
        assert_eq!(slug(".."), "printer");
        assert_eq!(slug(&"a".repeat(100)).len(), MAX_ID_LEN);
        for s in ["a b", "ÄÖÜ x", "x/y?z#w", "A.b_c-D"] {
            assert!(valid_id(&slug(s)), "{s}");
        }
    }

    #[test]
    fn redact_hides_secrets() {
        assert_eq!(
            redact("bad code 12345678!", &["12345678"]),
            "bad code <hidden>!"
        );
        // Short codes: hidden as words, kept inside longer words (the text stays readable).
        assert_eq!(redact("abc", &["ab"]), "abc");
        assert_eq!(redact("code ab: wrong", &["ab"]), "code <hidden>: wrong");
        assert_eq!(redact("ab", &["ab"]), "<hidden>");
        assert_eq!(redact("x=7;7", &["7"]), "x=<hidden>;<hidden>");
        assert_eq!(redact("error 17 (7)", &["7"]), "error 17 (<hidden>)");
        assert_eq!(redact("é7é", &["7"]), "é7é");
        assert_eq!(redact("77 7", &["7"]), "77 <hidden>");
        assert_eq!(redact("a-b", &["-"]), "a<hidden>b");
        assert_eq!(redact("anything", &[""]), "anything");
        // Every occurrence, also of several secrets.
        assert_eq!(
            redact("12345678 and 12345678 / ab", &["12345678", "ab"]),
            "<hidden> and <hidden> / <hidden>"
        );
    }
}
