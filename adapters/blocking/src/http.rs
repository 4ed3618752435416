//! The core's [`HttpConnection`] bound to `std::net::TcpStream`s: the core decides when a
//! lane's connection is opened, reused, closed or tried again; this file owns the socket and
//! the drive loop. Uploads get a connection of their own.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flashforge_proto::client::{ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::driver::{HttpConnection, HttpEvent, Lanes};
use flashforge_proto::http::{Body, Credentials, Request, UploadSpec};
use flashforge_proto::HttpConfig;

use crate::tcp::read_some;
use crate::{Callback, Result};

/// One lane: its connection machine and socket, one request at a time (the lock is the FIFO).
#[derive(Default)]
pub(crate) struct Lane(Mutex<Option<Box<Link>>>);

impl Lane {
    /// Drop the kept-alive connection.
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

struct Link {
    conn: HttpConnection,
    sock: Option<TcpStream>,
    /// Bound of every write without progress ([`HttpConfig::upload_stall_timeout`]).
    stall: Duration,
}

struct BodySource<'a> {
    reader: &'a mut dyn Read,
    chunk: usize,
    progress: &'a mut dyn FnMut(UploadProgress),
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
    /// One request on its lane's connection, parsed into a typed body.
    pub(crate) fn request(&self, lanes: &Lanes<Lane>, req: &Request) -> Result<Body> {
        let mut slot = lanes
            .for_request(req)
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let link = slot.get_or_insert_with(|| Box::new(self.link()));
        if link.conn.probe_before(req) {
            self.probe_idle(link);
        }
        link.conn
            .start(req, self.host, self.creds, Instant::now())?;
        self.drive(link, None)
    }

    /// A printer that closed the kept-alive connection while it sat idle shows up here as EOF
    /// (or a reset, or bytes nobody asked for), before the command is written
    /// ([`HttpConnection::probe_before`]): the command goes on a fresh connection.
    fn probe_idle(&self, link: &mut Link) {
        let Some(sock) = link.sock.as_mut() else {
            return;
        };
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        let r = crate::scratch::with(|buf| sock.read(buf));
        let _ = sock.set_nonblocking(false);
        match r {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            _ => {
                tracing::debug!("the printer closed the idle connection");
                link.conn.handle_eof(Instant::now());
                self.close(link);
            }
        }
    }

    /// A streamed upload on a connection of its own.
    pub(crate) fn upload(
        &self,
        spec: &UploadSpec,
        reader: &mut dyn Read,
        chunk: usize,
        progress: &mut dyn FnMut(UploadProgress),
    ) -> Result<Body> {
        let mut link = self.link();
        link.conn
            .start_upload(spec, self.host, self.creds, Instant::now())?;
        let body = Some(BodySource {
            reader,
            chunk,
            progress,
        });
        self.drive(&mut link, body)
    }

    fn link(&self) -> Link {
        Link {
            conn: HttpConnection::new(self.config),
            sock: None,
            stall: self.config.upload_stall_timeout,
        }
    }

    /// Run the lane's request to its outcome. A request left unfinished (a socket error) takes
    /// its socket with it; the machine starts the next one on a fresh connection.
    fn drive(&self, link: &mut Link, mut body: Option<BodySource<'_>>) -> Result<Body> {
        let r = self.run(link, &mut body);
        if link.conn.is_busy() {
            self.close(link);
        }
        r
    }

    fn run(&self, link: &mut Link, body: &mut Option<BodySource<'_>>) -> Result<Body> {
        loop {
            flush(link)?;
            if let Some(ev) = link.conn.poll_event() {
                match ev {
                    HttpEvent::Connect => {
                        link.sock = Some(self.connect()?);
                        link.conn.handle_connected(Instant::now());
                    }
                    HttpEvent::Close => self.close(link),
                    HttpEvent::SendBody => {
                        if let Some(src) = body.take() {
                            send_body(link, src)?;
                        }
                    }
                    HttpEvent::Done(r) => return Ok(r?),
                    _ => {}
                }
                continue;
            }
            let Some(sock) = link.sock.as_mut() else {
                return Err(ClientError::Closed);
            };
            let now = Instant::now();
            let wait = link
                .conn
                .poll_timeout()
                .map_or(Duration::from_millis(100), |t| {
                    t.saturating_duration_since(now)
                })
                .clamp(Duration::from_millis(1), Duration::from_secs(1));
            sock.set_read_timeout(Some(wait)).map_err(ClientError::io)?;
            let conn = &mut link.conn;
            let r = crate::scratch::with(|buf| {
                let n = sock.read(buf)?;
                if n > 0 {
                    conn.handle_bytes(&buf[..n], Instant::now());
                }
                Ok::<_, std::io::Error>(n)
            });
            match r {
                Ok(0) => link.conn.handle_eof(Instant::now()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => link.conn.handle_eof(Instant::now()),
            }
            link.conn.handle_timeout(Instant::now());
        }
    }

    fn connect(&self) -> Result<TcpStream> {
        let _span = tracing::debug_span!("http_connect", addr = %self.addr).entered();
        let sock = TcpStream::connect_timeout(&self.addr, self.connect_timeout)
            .map_err(ClientError::unreachable)?;
        let _ = sock.set_nodelay(true);
        // Every write is bounded: a printer that stops reading (a stalled upload body) makes
        // the write fail after the stall timeout without progress instead of blocking forever.
        sock.set_write_timeout(Some(write_slice(self.config.upload_stall_timeout)))
            .map_err(ClientError::io)?;
        self.event(ConnectionEvent::HttpConnected);
        Ok(sock)
    }

    fn close(&self, link: &mut Link) {
        if link.sock.take().is_some() {
            self.event(ConnectionEvent::HttpClosed);
        }
    }

    fn event(&self, ev: ConnectionEvent) {
        if let Some(cb) = self.callback {
            cb(&ev);
        }
    }
}

fn write(link: &mut Link, bytes: &[u8]) -> Result<()> {
    let stall = link.stall;
    let sock = link.sock.as_mut().ok_or(ClientError::Closed)?;
    write_bounded(sock, bytes, stall).map_err(write_error)
}

/// The socket's write timeout for a stall timeout of `stall`: a quarter of it, so that a
/// write that blocks after some progress (the kernel then returns the partial count only when
/// the timeout ends) is noticed within `stall` plus a quarter.
pub(crate) fn write_slice(stall: Duration) -> Duration {
    nonzero(stall / 4)
}

/// Write all of `buf` on a socket whose write timeout is [`write_slice`]`(stall)`; fails with
/// `TimedOut` once no byte was taken for `stall`.
pub(crate) fn write_bounded(
    sock: &mut TcpStream,
    mut buf: &[u8],
    stall: Duration,
) -> std::io::Result<()> {
    let mut progress = Instant::now();
    while !buf.is_empty() {
        match sock.write(buf) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                progress = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if progress.elapsed() >= stall {
                    return Err(ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A write's error: the socket's write timeout (no progress for the stall timeout) is
/// [`ClientError::Stalled`]; the caller drops the connection.
pub(crate) fn write_error(e: std::io::Error) -> ClientError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ClientError::Stalled,
        _ => ClientError::io(e),
    }
}

/// `set_write_timeout` refuses a zero duration (it would mean "no timeout").
pub(crate) fn nonzero(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

fn flush(link: &mut Link) -> Result<()> {
    while let Some(tx) = link.conn.poll_transmit() {
        write(link, &tx)?;
    }
    Ok(())
}

/// Stream the file while the core wants it: the core checks and counts each chunk, the bytes go
/// from the caller's buffer straight to the socket (never copied into the core).
fn send_body(link: &mut Link, src: BodySource<'_>) -> Result<()> {
    let mut buf = vec![0u8; src.chunk];
    while let Some(want) = link.conn.next_chunk_len(buf.len()) {
        let n = read_some(src.reader, &mut buf[..want])?;
        if n == 0 {
            break; // `finish_upload` reports the underrun.
        }
        flush(link)?;
        link.conn.upload_chunk(&buf[..n], Instant::now())?;
        write(link, &buf[..n])?;
        if let Some((sent, total)) = link.conn.upload_progress() {
            (src.progress)(UploadProgress { sent, total });
        }
        // An early final answer (auth failure, busy) ends the body: look without blocking.
        peek(link)?;
    }
    link.conn.finish_upload(Instant::now())?;
    flush(link)
}

fn peek(link: &mut Link) -> Result<()> {
    let Some(sock) = link.sock.as_mut() else {
        return Ok(());
    };
    sock.set_nonblocking(true).map_err(ClientError::io)?;
    let conn = &mut link.conn;
    let r = crate::scratch::with(|buf| {
        let n = sock.read(buf)?;
        if n > 0 {
            conn.handle_bytes(&buf[..n], Instant::now());
        }
        Ok::<_, std::io::Error>(n)
    });
    sock.set_nonblocking(false).map_err(ClientError::io)?;
    if let Ok(0) = r {
        link.conn.handle_eof(Instant::now());
    }
    Ok(())
}
