//! The async-io runtime of the FlashForge client, shared by `flashforge-smol` and the
//! deprecated `flashforge-async-std`: `async_io::Async` sockets and `async_io::Timer` under the
//! runtime-generic [`flashforge_async`] client. It spawns no tasks, so any executor that drives
//! async-io runs it.
//!
//! ```no_run
//! use flashforge_async_io::{Credentials, Printer};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let creds = Credentials::new("SNMOMC9900728", "e5c2bf77")?; // from the printer's screen
//! let printer = Printer::connect("192.168.1.20".parse::<std::net::IpAddr>()?, creds).await?;
//! let status = printer.status().await?;
//! println!("{} is {}", printer.model(), status.state.name());
//! printer.close().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Instant;

use async_io::{Async, Timer};
use futures_lite::AsyncWriteExt;

pub use flashforge_async::{raise_fd_limit, Result, Runtime, KEEP_FD_LIMIT_ENV};
pub use flashforge_proto::client::ClientError as Error;
pub use flashforge_proto::prelude::*;

/// The async-io [`Runtime`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIo;

/// A connected printer.
pub type Printer = flashforge_async::Printer<AsyncIo>;
/// An Adventurer 3/4.
pub type LegacyPrinter = flashforge_async::LegacyPrinter<AsyncIo>;
/// Options, then `connect`.
pub type Builder = flashforge_async::Builder<AsyncIo>;

/// Find printers (see [`flashforge_async::discover`]).
pub async fn discover(options: &DiscoverOptions) -> Result<Vec<DiscoveredPrinter>> {
    flashforge_async::discover::<AsyncIo>(options).await
}

/// Find printers, with the counters (see [`flashforge_async::discover_with_stats`]).
pub async fn discover_with_stats(options: &DiscoverOptions) -> Result<DiscoveryResult> {
    flashforge_async::discover_with_stats::<AsyncIo>(options).await
}

impl Runtime for AsyncIo {
    type Tcp = Async<TcpStream>;
    type Udp = Async<UdpSocket>;
    type File = futures_lite::io::BufReader<blocking::Unblock<std::fs::File>>;

    async fn connect(addr: SocketAddr) -> io::Result<Async<TcpStream>> {
        let s = Async::<TcpStream>::connect(addr).await?;
        s.get_ref().set_nodelay(true)?;
        Ok(s)
    }

    fn readable(s: &Async<TcpStream>) -> impl Future<Output = io::Result<()>> + Send + '_ {
        s.readable()
    }

    fn write_all<'a>(
        s: &'a mut Async<TcpStream>,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        s.write_all(buf)
    }

    fn try_read(s: &Async<TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
        // `Async` keeps the socket non-blocking: a plain read never waits.
        (&mut s.get_ref()).read(buf)
    }

    fn try_write(s: &Async<TcpStream>, buf: &[u8]) -> io::Result<usize> {
        (&mut s.get_ref()).write(buf)
    }

    fn now() -> Instant {
        Instant::now()
    }

    async fn sleep_until(deadline: Instant) {
        Timer::at(deadline).await;
    }

    async fn refresh_readiness() {}

    fn bind_udp(addr: SocketAddr, broadcast: Option<u32>) -> io::Result<Async<UdpSocket>> {
        let s = Async::<UdpSocket>::bind(addr)?;
        // Room for a farm's burst of replies (best effort: capped by net.core.rmem_max).
        let _ = socket2::SockRef::from(s.get_ref()).set_recv_buffer_size(1 << 20);
        if let Some(ttl) = broadcast {
            s.get_ref().set_broadcast(true)?;
            s.get_ref().set_multicast_ttl_v4(ttl)?;
        }
        Ok(s)
    }

    fn send_to<'a>(
        s: &'a Async<UdpSocket>,
        buf: &'a [u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        s.send_to(buf, to)
    }

    fn recv_from<'a>(
        s: &'a Async<UdpSocket>,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a {
        s.recv_from(buf)
    }

    fn try_recv_from(s: &Async<UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        s.get_ref().recv_from(buf)
    }

    async fn open(path: &Path) -> io::Result<(Self::File, u64)> {
        // async-io has no file type: `blocking` moves the reads off the executor.
        let f = std::fs::File::open(path)?;
        let size = f.metadata()?.len();
        let reader =
            futures_lite::io::BufReader::with_capacity(256 * 1024, blocking::Unblock::new(f));
        Ok((reader, size))
    }
}
