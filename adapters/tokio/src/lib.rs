//! A tokio client for FlashForge 3D printers: `tokio::net` sockets and timers driving the
//! sans-IO [`flashforge_proto`] core, through the runtime-generic [`flashforge_async`] client.
//! It spawns no tasks: a call drives its own connection.
//!
//! ```no_run
//! use flashforge_tokio::{Credentials, Printer};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let creds = Credentials::new("SNMOMC9900728", "e5c2bf77")?; // from the printer's screen
//! let printer = Printer::connect("192.168.1.20".parse::<std::net::IpAddr>()?, creds).await?;
//! let status = printer.status().await?;
//! println!("{} is {}", printer.model(), status.state.name());
//! printer.led(true).await?;
//! printer.close().await;
//! # Ok(()) }
//! ```
//!
//! [`Printer`] methods take `&self` and the printer is `Send + Sync`: share it in an `Arc`
//! across tasks. HTTP commands, HTTP reads, uploads and the TCP session each use their own
//! connection, so a long upload never delays `pause` or `cancel`. Keep-alive, reconnect with
//! back-off and re-login happen inside calls; `Builder::on_connection_event` and
//! `Builder::connection_events` (a bounded stream) report them.
//!
//! Uploads read a `futures_io::AsyncRead` (`&[u8]`, files through
//! [`Printer::upload_file`](flashforge_async::Printer::upload_file)); wrap a tokio reader in
//! [`Compat`].

#![forbid(unsafe_code)]

/// The README's Rust snippets, compiled as doc tests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};

pub use flashforge_async::{raise_fd_limit, Result, Runtime, KEEP_FD_LIMIT_ENV};
pub use flashforge_proto::client::ClientError as Error;
pub use flashforge_proto::prelude::*;

/// The tokio [`Runtime`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// A connected printer on tokio.
pub type Printer = flashforge_async::Printer<Tokio>;
/// An Adventurer 3/4 on tokio.
pub type LegacyPrinter = flashforge_async::LegacyPrinter<Tokio>;
/// Options, then `connect`.
pub type Builder = flashforge_async::Builder<Tokio>;

/// Find printers (see [`flashforge_async::discover`]).
pub async fn discover(options: &DiscoverOptions) -> Result<Vec<DiscoveredPrinter>> {
    flashforge_async::discover::<Tokio>(options).await
}

/// Find printers, with the counters (see [`flashforge_async::discover_with_stats`]).
pub async fn discover_with_stats(options: &DiscoverOptions) -> Result<DiscoveryResult> {
    flashforge_async::discover_with_stats::<Tokio>(options).await
}

/// A tokio reader as the `futures_io::AsyncRead` uploads take.
#[derive(Debug)]
pub struct Compat<T>(pub T);

impl<T: AsyncRead + Unpin> futures_lite::AsyncRead for Compat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.get_mut().0).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Runtime for Tokio {
    type Tcp = TcpStream;
    type Udp = UdpSocket;
    type File = Compat<tokio::io::BufReader<tokio::fs::File>>;

    async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn readable(s: &TcpStream) -> impl Future<Output = io::Result<()>> + Send + '_ {
        s.readable()
    }

    fn write_all<'a>(
        s: &'a mut TcpStream,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        s.write_all(buf)
    }

    fn try_read(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        s.try_read(buf)
    }

    fn try_write(s: &TcpStream, buf: &[u8]) -> io::Result<usize> {
        s.try_write(buf)
    }

    fn now() -> Instant {
        // tokio's clock, which tests can pause and advance.
        tokio::time::Instant::now().into_std()
    }

    async fn sleep_until(deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await;
    }

    async fn refresh_readiness() {
        // tokio caches readiness; a yield lets the driver record a peer's close.
        tokio::task::yield_now().await;
    }

    fn bind_udp(addr: SocketAddr, broadcast: Option<u32>) -> io::Result<UdpSocket> {
        let s = std::net::UdpSocket::bind(addr)?;
        // Room for a farm's burst of replies (best effort: capped by net.core.rmem_max).
        let _ = socket2::SockRef::from(&s).set_recv_buffer_size(1 << 20);
        if let Some(ttl) = broadcast {
            s.set_broadcast(true)?;
            s.set_multicast_ttl_v4(ttl)?;
        }
        s.set_nonblocking(true)?;
        UdpSocket::from_std(s)
    }

    fn send_to<'a>(
        s: &'a UdpSocket,
        buf: &'a [u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        s.send_to(buf, to)
    }

    fn recv_from<'a>(
        s: &'a UdpSocket,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a {
        s.recv_from(buf)
    }

    fn try_recv_from(s: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        s.try_recv_from(buf)
    }

    async fn open(path: &Path) -> io::Result<(Self::File, u64)> {
        let f = tokio::fs::File::open(path).await?;
        let size = f.metadata().await?.len();
        Ok((
            Compat(tokio::io::BufReader::with_capacity(256 * 1024, f)),
            size,
        ))
    }
}
