//! HTTP exchanges on `std::net::TcpStream`s: one kept-alive connection per lane, uploads on
//! their own connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flashforge_proto::client::{self, ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::http::{
    parse_response, Body, Credentials, ExchangeEvent, HttpExchange, Request, Response,
    ResponseKind, Upload, UploadSpec,
};
use flashforge_proto::HttpConfig;

use crate::tcp::read_some;
use crate::{Callback, Result};

const READ_BUF: usize = 64 * 1024;

/// A kept-alive connection slot of one lane.
#[derive(Default)]
pub(crate) struct Lane(Mutex<Option<TcpStream>>);

impl Lane {
    /// Drop the kept-alive connection.
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

pub(crate) struct Http<'a> {
    pub(crate) addr: SocketAddr,
    pub(crate) host: &'a str,
    pub(crate) creds: &'a Credentials,
    pub(crate) config: &'a HttpConfig,
    pub(crate) connect_timeout: Duration,
    pub(crate) callback: Option<&'a Callback>,
}

impl Http<'_> {
    fn connect(&self) -> Result<TcpStream> {
        let _span = tracing::debug_span!("http_connect", addr = %self.addr).entered();
        let sock = TcpStream::connect_timeout(&self.addr, self.connect_timeout)
            .map_err(|e| ClientError::unreachable(&e))?;
        let _ = sock.set_nodelay(true);
        self.event(ConnectionEvent::HttpConnected);
        Ok(sock)
    }

    fn event(&self, ev: ConnectionEvent) {
        if let Some(cb) = self.callback {
            cb(&ev);
        }
    }

    /// One request on the lane's connection (opened or reused), parsed into a typed body.
    pub(crate) fn request(&self, lane: &Lane, req: &Request) -> Result<Body> {
        let mut slot = lane.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut reused = slot.is_some();
        loop {
            let mut sock = match slot.take() {
                Some(s) => s,
                None => self.connect()?,
            };
            let mut ex =
                HttpExchange::new(req, self.host, self.creds, self.config, Instant::now())?;
            match drive(&mut ex, &mut sock, None) {
                Ok(resp) => {
                    if ex.connection_reusable(&resp) {
                        *slot = Some(sock);
                    } else {
                        self.event(ConnectionEvent::HttpClosed);
                    }
                    return Ok(parse_response(req.response_kind(), &resp)?);
                }
                Err(e) => {
                    self.event(ConnectionEvent::HttpClosed);
                    if let Failure::Http(h) = &e {
                        if client::retry_on_fresh_connection(reused, h, req) {
                            reused = false;
                            continue;
                        }
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// A streamed upload on a fresh connection.
    pub(crate) fn upload(
        &self,
        spec: &UploadSpec,
        reader: &mut dyn Read,
        chunk: usize,
        progress: &mut dyn FnMut(UploadProgress),
    ) -> Result<Body> {
        let mut sock = self.connect()?;
        let up = Upload::new(spec, self.host, self.creds)?;
        let mut ex = HttpExchange::upload(up, self.config, Instant::now());
        let mut body = BodySource {
            reader,
            chunk,
            total: spec.file_size,
            progress,
        };
        let r = drive(&mut ex, &mut sock, Some(&mut body));
        self.event(ConnectionEvent::HttpClosed);
        let resp = r?;
        Ok(parse_response(ResponseKind::Envelope, &resp)?)
    }
}

struct BodySource<'a> {
    reader: &'a mut dyn Read,
    chunk: usize,
    total: u64,
    progress: &'a mut dyn FnMut(UploadProgress),
}

enum Failure {
    Http(flashforge_proto::http::HttpError),
    Client(ClientError),
}

impl From<Failure> for ClientError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Http(h) => h.into(),
            Failure::Client(c) => c,
        }
    }
}

fn write_all(sock: &mut TcpStream, bytes: &[u8]) -> std::result::Result<(), Failure> {
    sock.write_all(bytes)
        .map_err(|e| Failure::Client(ClientError::io(&e)))
}

fn flush_transmits(
    ex: &mut HttpExchange,
    sock: &mut TcpStream,
) -> std::result::Result<(), Failure> {
    while let Some(tx) = ex.poll_transmit() {
        write_all(sock, &tx)?;
    }
    Ok(())
}

/// Run an exchange on a socket to its final response.
fn drive(
    ex: &mut HttpExchange,
    sock: &mut TcpStream,
    mut body: Option<&mut BodySource<'_>>,
) -> std::result::Result<Response, Failure> {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        flush_transmits(ex, sock)?;
        while let Some(ev) = ex.poll_event() {
            match ev {
                ExchangeEvent::SendBody => {
                    if let Some(src) = body.take() {
                        send_body(ex, sock, src, &mut buf)?;
                    }
                }
                ExchangeEvent::Done(r) => return r.map_err(Failure::Http),
            }
        }
        let now = Instant::now();
        let wait = ex
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        sock.set_read_timeout(Some(wait))
            .map_err(|e| Failure::Client(ClientError::io(&e)))?;
        match sock.read(&mut buf) {
            Ok(0) => ex.handle_eof(Instant::now()),
            Ok(n) => ex.handle_bytes(&buf[..n], Instant::now()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => ex.handle_eof(Instant::now()),
        }
        ex.handle_timeout(Instant::now());
    }
}

/// Stream the file: the core checks and counts each chunk, the bytes go from the caller's
/// buffer straight to the socket (never copied into the core).
fn send_body(
    ex: &mut HttpExchange,
    sock: &mut TcpStream,
    src: &mut BodySource<'_>,
    scratch: &mut [u8],
) -> std::result::Result<(), Failure> {
    let mut buf = vec![0u8; src.chunk];
    let mut sent = 0u64;
    while sent < src.total {
        let want = usize::try_from(src.total - sent)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = read_some(src.reader, &mut buf[..want]).map_err(Failure::Client)?;
        if n == 0 {
            break; // `finish_upload` reports the underrun.
        }
        flush_transmits(ex, sock)?;
        ex.upload_chunk(&buf[..n], Instant::now())
            .map_err(|e| Failure::Client(e.into()))?;
        write_all(sock, &buf[..n])?;
        sent += n as u64;
        (src.progress)(UploadProgress {
            sent,
            total: src.total,
        });
        // An early final answer (auth failure, busy) ends the upload: look without blocking.
        if early_answer(ex, sock, scratch)? {
            return Ok(());
        }
    }
    ex.finish_upload(Instant::now())
        .map_err(|e| Failure::Client(e.into()))?;
    flush_transmits(ex, sock)
}

fn early_answer(
    ex: &mut HttpExchange,
    sock: &mut TcpStream,
    buf: &mut [u8],
) -> std::result::Result<bool, Failure> {
    sock.set_nonblocking(true)
        .map_err(|e| Failure::Client(ClientError::io(&e)))?;
    let r = sock.read(buf);
    sock.set_nonblocking(false)
        .map_err(|e| Failure::Client(ClientError::io(&e)))?;
    match r {
        Ok(0) => ex.handle_eof(Instant::now()),
        Ok(n) => ex.handle_bytes(&buf[..n], Instant::now()),
        Err(_) => return Ok(false),
    }
    Ok(ex.is_done())
}
