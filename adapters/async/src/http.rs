//! The core's [`HttpConnection`] bound to a runtime's TCP streams: the core decides when a
//! lane's connection is opened, reused, closed or tried again; this file owns the socket, the
//! timer and the drive loop. Uploads get a connection of their own.

use std::net::SocketAddr;
use std::time::Duration;

use async_lock::Mutex;
use flashforge_proto::client::{ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::driver::{HttpConnection, HttpEvent, Lanes};
use flashforge_proto::http::{Body, Credentials, Request, UploadSpec};
use flashforge_proto::HttpConfig;
use futures_lite::{AsyncRead, AsyncReadExt};

use crate::runtime::{read_into, try_read_into, until, write_bounded, Runtime};
use crate::{Callback, Result};

/// One lane: its connection machine and socket, one request at a time (the lock is the FIFO).
/// A cancelled call leaves its request unfinished; the machine closes that connection when the
/// next request starts. The link is boxed: a lane a printer never uses costs a pointer.
pub(crate) struct Lane<R: Runtime>(Mutex<Option<Box<Link<R>>>>);

impl<R: Runtime> Default for Lane<R> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<R: Runtime> Lane<R> {
    pub(crate) fn clear(&self) {
        if let Some(mut g) = self.0.try_lock() {
            g.take();
        }
    }
}

struct Link<R: Runtime> {
    conn: HttpConnection,
    sock: Option<R::Tcp>,
    /// Bound of every write without progress ([`HttpConfig::upload_stall_timeout`]).
    stall: Duration,
}

struct BodySource<'a> {
    reader: &'a mut (dyn AsyncRead + Unpin + Send),
    chunk: usize,
    progress: &'a mut (dyn FnMut(UploadProgress) + Send),
}

pub(crate) struct Http<'a, R: Runtime> {
    pub(crate) addr: SocketAddr,
    pub(crate) host: &'a str,
    pub(crate) creds: &'a Credentials,
    pub(crate) config: &'a HttpConfig,
    pub(crate) connect_timeout: Duration,
    pub(crate) callback: Option<&'a Callback>,
    pub(crate) runtime: std::marker::PhantomData<R>,
}

impl<R: Runtime> Http<'_, R> {
    /// One request on its lane's connection, parsed into a typed body.
    pub(crate) async fn request(&self, lanes: &Lanes<Lane<R>>, req: &Request) -> Result<Body> {
        let mut slot = lanes.for_request(req).0.lock().await;
        let link = slot.get_or_insert_with(|| Box::new(self.link()));
        if link.conn.probe_before(req) {
            self.probe_idle(link).await;
        }
        link.conn.start(req, self.host, self.creds, R::now())?;
        self.drive(link, None).await
    }

    /// A printer that closed the kept-alive connection while it sat idle shows up here as EOF
    /// (or a reset, or bytes nobody asked for), before the command is written
    /// ([`HttpConnection::probe_before`]): the command goes on a fresh connection.
    async fn probe_idle(&self, link: &mut Link<R>) {
        R::refresh_readiness().await;
        let Some(sock) = link.sock.as_ref() else {
            return;
        };
        match try_read_into::<R>(sock, |_| {}) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => {
                tracing::debug!("the printer closed the idle connection");
                link.conn.handle_eof(R::now());
                self.close(link);
            }
        }
    }

    /// A streamed upload on a connection of its own.
    pub(crate) async fn upload(
        &self,
        spec: &UploadSpec,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        chunk: usize,
        progress: &mut (dyn FnMut(UploadProgress) + Send),
    ) -> Result<Body> {
        let mut link = self.link();
        link.conn
            .start_upload(spec, self.host, self.creds, R::now())?;
        let body = Some(BodySource {
            reader,
            chunk,
            progress,
        });
        self.drive(&mut link, body).await
    }

    fn link(&self) -> Link<R> {
        Link {
            conn: HttpConnection::new(self.config),
            sock: None,
            stall: self.config.upload_stall_timeout,
        }
    }

    /// Run the lane's request to its outcome. A request left unfinished (a socket error) takes
    /// its socket with it; the machine starts the next one on a fresh connection.
    async fn drive(&self, link: &mut Link<R>, mut body: Option<BodySource<'_>>) -> Result<Body> {
        let r = self.run(link, &mut body).await;
        if link.conn.is_busy() {
            self.close(link);
        }
        r
    }

    async fn run(&self, link: &mut Link<R>, body: &mut Option<BodySource<'_>>) -> Result<Body> {
        loop {
            flush(link).await?;
            if let Some(ev) = link.conn.poll_event() {
                match ev {
                    HttpEvent::Connect => {
                        link.sock = Some(self.connect().await?);
                        link.conn.handle_connected(R::now());
                    }
                    HttpEvent::Close => self.close(link),
                    HttpEvent::SendBody => {
                        if let Some(src) = body.take() {
                            send_body(link, src).await?;
                        }
                    }
                    HttpEvent::Done(r) => return Ok(r?),
                    _ => {}
                }
                continue;
            }
            let Some(sock) = link.sock.as_ref() else {
                return Err(ClientError::Closed);
            };
            let deadline = link
                .conn
                .poll_timeout()
                .unwrap_or_else(|| R::now() + Duration::from_millis(100));
            let conn = &mut link.conn;
            match read_into::<R>(sock, deadline, |b| conn.handle_bytes(b, R::now())).await {
                Some(Ok(0)) | Some(Err(_)) => link.conn.handle_eof(R::now()),
                Some(Ok(_)) | None => {}
            }
            link.conn.handle_timeout(R::now());
        }
    }

    async fn connect(&self) -> Result<R::Tcp> {
        tracing::debug!(addr = %self.addr, "http connect");
        let deadline = R::now() + self.connect_timeout;
        let sock = match until::<R, _>(deadline, R::connect(self.addr)).await {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(ClientError::unreachable(e)),
            None => {
                return Err(ClientError::unreachable(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )))
            }
        };
        self.event(ConnectionEvent::HttpConnected);
        Ok(sock)
    }

    fn close(&self, link: &mut Link<R>) {
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

/// Every write is bounded by the stall timeout: a printer that stops reading (a stalled
/// upload body) fails the call with [`ClientError::Stalled`] instead of blocking it forever.
async fn write<R: Runtime>(link: &mut Link<R>, bytes: &[u8]) -> Result<()> {
    let stall = link.stall;
    let sock = link.sock.as_mut().ok_or(ClientError::Closed)?;
    write_bounded::<R>(sock, bytes, stall).await
}

async fn flush<R: Runtime>(link: &mut Link<R>) -> Result<()> {
    while let Some(tx) = link.conn.poll_transmit() {
        write(link, &tx).await?;
    }
    Ok(())
}

/// Stream the file while the core wants it; each chunk goes from the caller's buffer to the
/// socket.
async fn send_body<R: Runtime>(link: &mut Link<R>, src: BodySource<'_>) -> Result<()> {
    let mut buf = vec![0u8; src.chunk];
    while let Some(want) = link.conn.next_chunk_len(buf.len()) {
        let n = src
            .reader
            .read(&mut buf[..want])
            .await
            .map_err(ClientError::io)?;
        if n == 0 {
            break; // `finish_upload` reports the underrun.
        }
        flush(link).await?;
        link.conn.upload_chunk(&buf[..n], R::now())?;
        write(link, &buf[..n]).await?;
        if let Some((sent, total)) = link.conn.upload_progress() {
            (src.progress)(UploadProgress { sent, total });
        }
        // An early final answer ends the body.
        if let Some(sock) = link.sock.as_ref() {
            let conn = &mut link.conn;
            if let Ok(0) = try_read_into::<R>(sock, |b| conn.handle_bytes(b, R::now())) {
                link.conn.handle_eof(R::now());
            }
        }
    }
    link.conn.finish_upload(R::now())?;
    flush(link).await
}
