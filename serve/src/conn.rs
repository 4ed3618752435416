//! The accept loop: a bounded number of connections, each served by hyper's HTTP/1.1 with a
//! deadline on the request head and on every write, closed on shutdown. When every slot is
//! taken, the oldest connection with no request in progress makes room for the new one, so
//! that idle or half-open connections (anybody's, no token needed to open them) can never lock
//! out a client that has something to ask.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tower::Service;

/// The bounds of the server's own connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once (default 1024). One more closes the oldest connection that
    /// has no request in progress (idle between requests, or still sending its head); when
    /// every connection has one (event streams, uploads), the new one is closed at once.
    pub max_connections: usize,
    /// A request's head must arrive within this (default 10 s).
    pub head_timeout: Duration,
    /// A write to a client, or a read of an upload's body, that makes no progress for this
    /// long fails the connection: a client that stopped reading an event stream, or stopped
    /// sending its upload (answered 408). Any other request's body must arrive whole within
    /// it (408 too). Default 30 s.
    pub stall: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            head_timeout: Duration::from_secs(10),
            stall: Duration::from_secs(30),
        }
    }
}

/// A socket whose writes fail with `TimedOut` after [`Limits::stall`] without progress.
struct StallIo<T> {
    inner: T,
    stall: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> StallIo<T> {
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let stall = self.stall;
        let t = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match t.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            r => {
                self.timer = None;
                r
            }
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            r => {
                self.timer = None;
                r
            }
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The open connections in the order they came, with how many requests each has in progress
/// (a request counts until its response body has been sent or dropped).
#[derive(Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Open>,
}

struct Open {
    busy: Arc<AtomicUsize>,
    abort: Option<AbortHandle>,
}

impl Registry {
    /// Close the oldest connection with no request in progress; whether there was one.
    fn evict_idle(&mut self) -> bool {
        let idle = self.open.iter().find_map(|(&id, o)| {
            (o.busy.load(Ordering::Acquire) == 0 && o.abort.is_some()).then_some(id)
        });
        let Some(id) = idle else { return false };
        if let Some(Open { abort: Some(a), .. }) = self.open.remove(&id) {
            a.abort();
        }
        true
    }
}

/// Removes its connection from the registry when the connection's task ends or is aborted.
struct Registered {
    registry: Arc<Mutex<Registry>>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = self.registry.lock() {
            r.open.remove(&self.id);
        }
    }
}

/// One request in progress on its connection, from its head to the end of its response.
struct InProgress(Arc<AtomicUsize>);

impl InProgress {
    fn new(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(busy.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its request's [`InProgress`] until hyper is done with it.
struct Tracked {
    inner: Body,
    _busy: InProgress,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serve `app` on `listener` until `stop` changes, then close every connection (open requests
/// get `grace` to end; event streams never end by themselves).
pub(crate) async fn serve(
    listener: TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    limits: Limits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Mutex::new(Registry::default()));
    let refused_log = crate::api::WarnLimiter::new(Duration::from_secs(10));
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors (or another transient accept error): wait, do not spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let evicted = registry.lock().is_ok_and(|mut r| r.evict_idle());
                // The evicted task gives its slot back as soon as the runtime drops it.
                let permit = match evicted {
                    true => {
                        tokio::time::timeout(Duration::from_secs(1), slots.clone().acquire_owned())
                            .await
                            .ok()
                            .and_then(Result::ok)
                    }
                    false => None,
                };
                match permit {
                    Some(p) => {
                        tracing::debug!("an idle connection closed to make room");
                        p
                    }
                    None => {
                        // A flood is one WARN every 10 s with its count, not one per socket.
                        match refused_log.note(std::time::Instant::now()) {
                            Some(n) => tracing::warn!(
                                max = limits.max_connections,
                                refused = n,
                                "connections refused: every connection has a request in progress"
                            ),
                            None => tracing::debug!("connection refused: every slot busy"),
                        }
                        drop(stream);
                        continue;
                    }
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let busy = Arc::new(AtomicUsize::new(0));
        let registered = match registry.lock() {
            Ok(mut r) => {
                let id = r.next;
                r.next += 1;
                r.open.insert(
                    id,
                    Open {
                        busy: busy.clone(),
                        abort: None,
                    },
                );
                Registered {
                    registry: registry.clone(),
                    id,
                }
            }
            Err(_) => continue,
        };
        let id = registered.id;
        let app = app.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let busy = InProgress::new(&busy);
            let mut app = app.clone();
            async move {
                use futures_util::FutureExt;
                let call = std::panic::AssertUnwindSafe(app.call(req.map(Body::new)));
                let resp = match call.catch_unwind().await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => match e {},
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(panic = %what, "a request handler panicked");
                        crate::api::internal_error()
                    }
                };
                Ok::<_, Infallible>(resp.map(|inner| Tracked { inner, _busy: busy }))
            }
        });
        let mut stop = stop.clone();
        let abort = conns.spawn(async move {
            let _permit = permit;
            let _registered = registered;
            let io = TokioIo::new(StallIo {
                inner: stream,
                stall: limits.stall,
                timer: None,
            });
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(limits.head_timeout)
                .keep_alive(true);
            let conn = b.serve_connection(io, svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(grace, conn).await;
                }
            }
        });
        if let Ok(mut r) = registry.lock() {
            // Unless the connection has already ended (and removed itself).
            if let Some(o) = r.open.get_mut(&id) {
                o.abort = Some(abort);
            }
        }
    }
    // Stop: every connection was told; give them the grace period, then drop the rest.
    let _ = tokio::time::timeout(grace + Duration::from_millis(100), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A peer that never reads: the write fails after the stall time instead of waiting for
    /// ever (virtual time).
    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_fails_after_the_stall_time() {
        let (a, _b) = tokio::io::duplex(64);
        let mut io = StallIo {
            inner: a,
            stall: Duration::from_secs(30),
            timer: None,
        };
        let t0 = tokio::time::Instant::now();
        let e = io.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_secs(30) && took < Duration::from_secs(31),
            "{took:?}"
        );
    }

    /// A handler that panics (a bug) answers a typed 500 and the connection serves on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_answers_500_and_the_server_goes_on() {
        use tokio::io::AsyncReadExt;
        let app = axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async { panic!("a bug") as &'static str }),
            )
            .route("/ok", axum::routing::get(|| async { "fine" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop) = watch::channel(false);
        let server = tokio::spawn(serve(
            listener,
            app,
            stop,
            Duration::from_secs(1),
            Limits::default(),
        ));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
            .await
            .expect("answered")
            .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 500"), "{text}");
        assert!(text.contains(r#""kind":"other""#), "{text}");
        assert!(
            text.contains("fine"),
            "the next request was not served: {text}"
        );
        stop_tx.send(true).unwrap();
        server.await.unwrap();
    }

    /// Progress resets the deadline: a slow reader that keeps reading is not cut off.
    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_not_cut_off() {
        use tokio::io::AsyncReadExt;
        let (a, mut b) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut n = 0;
            while n < 4096 {
                tokio::time::sleep(Duration::from_secs(10)).await;
                n += b.read(&mut buf).await.unwrap();
            }
            n
        });
        let mut io = StallIo {
            inner: a,
            stall: Duration::from_secs(30),
            timer: None,
        };
        io.write_all(&[7u8; 4096]).await.unwrap();
        assert!(reader.await.unwrap() >= 4096);
    }
}
