//! HTTP exchanges on a runtime's TCP streams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_lock::Mutex;
use flashforge_proto::client::{self, ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::http::{
    parse_response, Body, Credentials, ExchangeEvent, HttpError, HttpExchange, Request, Response,
    ResponseKind, Upload, UploadSpec,
};
use flashforge_proto::HttpConfig;
use futures_lite::{AsyncRead, AsyncReadExt};

use crate::runtime::{until, Runtime};
use crate::{Callback, Result};

const READ_BUF: usize = 64 * 1024;

fn now() -> Instant {
    Instant::now()
}

/// A kept-alive connection slot of one lane.
pub(crate) struct Lane<R: Runtime>(Mutex<Option<R::Tcp>>);

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

pub(crate) struct Http<'a, R: Runtime> {
    pub(crate) addr: SocketAddr,
    pub(crate) host: &'a str,
    pub(crate) creds: &'a Credentials,
    pub(crate) config: &'a HttpConfig,
    pub(crate) connect_timeout: Duration,
    pub(crate) callback: Option<&'a Callback>,
    pub(crate) runtime: std::marker::PhantomData<R>,
}

enum Failure {
    Http(HttpError),
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

fn io(e: std::io::Error) -> Failure {
    Failure::Client(ClientError::io(&e))
}

impl<R: Runtime> Http<'_, R> {
    async fn connect(&self) -> Result<R::Tcp> {
        tracing::debug!(addr = %self.addr, "http connect");
        let deadline = Instant::now() + self.connect_timeout;
        let sock = match until::<R, _>(deadline, R::connect(self.addr)).await {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(ClientError::unreachable(&e)),
            None => return Err(ClientError::Unreachable("connect timed out".into())),
        };
        self.event(ConnectionEvent::HttpConnected);
        Ok(sock)
    }

    fn event(&self, ev: ConnectionEvent) {
        if let Some(cb) = self.callback {
            cb(&ev);
        }
    }

    pub(crate) async fn request(&self, lane: &Lane<R>, req: &Request) -> Result<Body> {
        let mut slot = lane.0.lock().await;
        let mut reused = slot.is_some();
        loop {
            let mut sock = match slot.take() {
                Some(s) => s,
                None => self.connect().await?,
            };
            let mut ex = HttpExchange::new(req, self.host, self.creds, self.config, now())?;
            match drive::<R>(&mut ex, &mut sock, None).await {
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

    pub(crate) async fn upload(
        &self,
        spec: &UploadSpec,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        chunk: usize,
        progress: &mut (dyn FnMut(UploadProgress) + Send),
    ) -> Result<Body> {
        let mut sock = self.connect().await?;
        let up = Upload::new(spec, self.host, self.creds)?;
        let mut ex = HttpExchange::upload(up, self.config, now());
        let mut body = BodySource {
            reader,
            chunk,
            total: spec.file_size,
            progress,
        };
        let r = drive::<R>(&mut ex, &mut sock, Some(&mut body)).await;
        self.event(ConnectionEvent::HttpClosed);
        let resp = r?;
        Ok(parse_response(ResponseKind::Envelope, &resp)?)
    }
}

struct BodySource<'a> {
    reader: &'a mut (dyn AsyncRead + Unpin + Send),
    chunk: usize,
    total: u64,
    progress: &'a mut (dyn FnMut(UploadProgress) + Send),
}

async fn flush<R: Runtime>(
    ex: &mut HttpExchange,
    sock: &mut R::Tcp,
) -> std::result::Result<(), Failure> {
    while let Some(tx) = ex.poll_transmit() {
        R::write_all(sock, &tx).await.map_err(io)?;
    }
    Ok(())
}

async fn drive<R: Runtime>(
    ex: &mut HttpExchange,
    sock: &mut R::Tcp,
    mut body: Option<&mut BodySource<'_>>,
) -> std::result::Result<Response, Failure> {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        flush::<R>(ex, sock).await?;
        while let Some(ev) = ex.poll_event() {
            match ev {
                ExchangeEvent::SendBody => {
                    if let Some(src) = body.take() {
                        send_body::<R>(ex, sock, src, &mut buf).await?;
                    }
                }
                ExchangeEvent::Done(r) => return r.map_err(Failure::Http),
            }
        }
        let deadline = ex
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(100));
        match until::<R, _>(deadline, R::read(sock, &mut buf)).await {
            Some(Ok(0)) | Some(Err(_)) => ex.handle_eof(now()),
            Some(Ok(n)) => ex.handle_bytes(&buf[..n], now()),
            None => {}
        }
        ex.handle_timeout(now());
    }
}

async fn send_body<R: Runtime>(
    ex: &mut HttpExchange,
    sock: &mut R::Tcp,
    src: &mut BodySource<'_>,
    scratch: &mut [u8],
) -> std::result::Result<(), Failure> {
    let mut buf = vec![0u8; src.chunk];
    let mut sent = 0u64;
    while sent < src.total {
        let want = usize::try_from(src.total - sent)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = src.reader.read(&mut buf[..want]).await.map_err(io)?;
        if n == 0 {
            break;
        }
        flush::<R>(ex, sock).await?;
        ex.upload_chunk(&buf[..n], now())
            .map_err(|e| Failure::Client(e.into()))?;
        R::write_all(sock, &buf[..n]).await.map_err(io)?;
        sent += n as u64;
        (src.progress)(UploadProgress {
            sent,
            total: src.total,
        });
        // An early final answer ends the upload.
        match R::try_read(sock, scratch) {
            Ok(0) => ex.handle_eof(now()),
            Ok(n) => ex.handle_bytes(&scratch[..n], now()),
            Err(_) => {}
        }
        if ex.is_done() {
            return Ok(());
        }
    }
    ex.finish_upload(now())
        .map_err(|e| Failure::Client(e.into()))?;
    flush::<R>(ex, sock).await
}
