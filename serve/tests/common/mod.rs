//! Shared by the serve tests: simulated printers, a server on 127.0.0.1, and a small HTTP/1.1
//! client written on `std::net` and `httparse` (independent of the server's own stack).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_serve::{Config, PrinterEntry, Server, Token};
use flashforge_sim::{PrinterSpec, SimHandle, SimServer};

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// The check codes the simulated printers use (never to appear in a response).
pub const CHECK_CODE: &str = "sEcReT42";

pub fn specs(models: &[Model]) -> Vec<PrinterSpec> {
    models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut s = PrinterSpec::numbered(*m, i as u32 + 1);
            s.check_code = format!("{CHECK_CODE}{i}");
            s
        })
        .collect()
}

/// The entry of a simulated printer.
pub fn entry(h: &SimHandle) -> PrinterEntry {
    let (name, model) = {
        let p = h.lock();
        (p.spec.name.clone(), p.spec.model)
    };
    let mut e = PrinterEntry::new(&name, h.endpoint(), h.credentials());
    e.model = Some(model);
    e
}

pub struct Farm {
    pub sims: SimServer,
    pub server: Server,
    pub addr: SocketAddr,
}

/// Simulated printers of `models` and a server polling them every `interval`.
pub async fn start(models: &[Model], interval: Duration, open_reads: bool) -> Farm {
    start_with(models, |c| {
        c.interval = interval;
        c.open_reads = open_reads;
    })
    .await
}

/// [`start`] with the config changed by `f` (after the printers are in it).
pub async fn start_with(models: &[Model], f: impl FnOnce(&mut Config)) -> Farm {
    let sims = SimServer::start(specs(models), &flashforge_sim::ServerConfig::default())
        .expect("simulated printers");
    let mut config = Config::new(Token::new(TOKEN).unwrap());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.printers = sims.printers().iter().map(entry).collect();
    f(&mut config);
    let server = Server::start(config).await.expect("server");
    let addr = server.local_addr();
    Farm { sims, server, addr }
}

impl Farm {
    /// Wait until every printer was polled online (at most `limit`).
    pub async fn wait_online(&self, limit: Duration) {
        let t0 = Instant::now();
        loop {
            let all = self
                .server
                .farm()
                .slots()
                .iter()
                .all(|s| s.snapshot().online);
            if all {
                return;
            }
            assert!(t0.elapsed() < limit, "printers not online after {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The printers' ids, in order.
    pub fn ids(&self) -> Vec<String> {
        self.server
            .farm()
            .slots()
            .iter()
            .map(|s| s.id.to_string())
            .collect()
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        self.sims.shutdown();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request (`Connection: close`), blocking; `auth` is the whole `Authorization` value.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Reply {
    request_with(addr, method, path, &[("Authorization", auth)], body)
}

pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, Option<&str>)],
    body: Option<(&str, &[u8])>,
) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        if let Some(v) = v {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    if let Some((ct, b)) = body {
        head.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    if let Some((_, b)) = body {
        s.write_all(b).unwrap();
    }
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read reply");
    parse_reply(&buf)
}

pub fn parse_reply(buf: &[u8]) -> Reply {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut hs);
    let n = match r.parse(buf).expect("HTTP reply") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("partial reply: {}", String::from_utf8_lossy(buf)),
    };
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let status = r.code.unwrap();
    let raw = &buf[n..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..eol])
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        raw = &raw[eol + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
    out
}

pub fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// An open event stream: reads `event:`/`data:` blocks as they come.
pub struct Events {
    s: TcpStream,
    buf: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl Events {
    pub fn open(addr: SocketAddr, path: &str, auth: Option<&str>) -> Self {
        Self::open_with(addr, path, auth, &[])
    }

    /// [`Events::open`] with more request headers.
    pub fn open_with(
        addr: SocketAddr,
        path: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Self {
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut head =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        if let Some(a) = auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).expect("event stream head");
            assert!(n > 0, "event stream closed before its head");
            buf.extend_from_slice(&chunk[..n]);
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("text/event-stream"),
            "{head}"
        );
        // The body is chunked: keep the raw bytes; `next` drops chunk framing lines.
        Self {
            s,
            buf: buf[end..].to_vec(),
        }
    }

    /// The next event (comments and keep-alives skipped) before `deadline`, else `None`.
    pub fn next(&mut self, deadline: Instant) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.take_event() {
                return Some(e);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut chunk = [0u8; 16384];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(e) => panic!("event stream: {e}"),
            }
        }
    }

    /// The next event for which `f` holds, before `deadline`.
    pub fn until(&mut self, deadline: Instant, f: impl Fn(&SseEvent) -> bool) -> Option<SseEvent> {
        while let Some(e) = self.next(deadline) {
            if f(&e) {
                return Some(e);
            }
        }
        None
    }

    fn take_event(&mut self) -> Option<SseEvent> {
        // Events end with a blank line; chunk-size lines (hex digits alone) are dropped.
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let lines: Vec<&str> = text.split('\n').collect();
        let mut consumed = 0usize;
        let mut ev = SseEvent {
            event: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut have = false;
        for (i, raw) in lines.iter().enumerate() {
            if i == lines.len() - 1 {
                break; // incomplete last line
            }
            consumed += raw.len() + 1;
            let l = raw.trim_end_matches('\r');
            if l.is_empty() {
                if have {
                    self.buf.drain(..consumed);
                    return Some(ev);
                }
                continue;
            }
            if l.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue; // chunk size
            }
            if let Some(v) = l.strip_prefix("event:") {
                ev.event = v.trim().to_owned();
                have = true;
            } else if let Some(v) = l.strip_prefix("data:") {
                if !ev.data.is_empty() {
                    ev.data.push('\n');
                }
                ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                have = true;
            } else if let Some(v) = l.strip_prefix("id:") {
                ev.id = Some(v.trim().to_owned());
            }
        }
        None
    }
}
