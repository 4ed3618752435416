//! What a runtime provides: sockets, a clock and timer, and file reads. Everything else — the protocol,
//! the drive loops, the client API — is written once in this crate.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

/// The I/O of one async runtime (`flashforge-tokio` and `flashforge-async-io` implement it).
///
/// Reads and writes must be cancel-safe in the usual sense: a `read` dropped before it
/// completes has consumed no bytes.
pub trait Runtime: Send + Sync + 'static {
    /// A connected TCP stream.
    type Tcp: Send + Sync + 'static;
    /// A bound UDP socket.
    type Udp: Send + Sync + 'static;
    /// A file opened for an upload.
    type File: futures_lite::AsyncRead + Unpin + Send + 'static;

    /// Open a TCP connection (with `TCP_NODELAY`).
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send;
    /// Read some bytes (0 = EOF).
    fn read<'a>(
        s: &'a mut Self::Tcp,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Write all bytes.
    fn write_all<'a>(
        s: &'a mut Self::Tcp,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
    /// Read without waiting (`WouldBlock` when nothing is there).
    fn try_read(s: &Self::Tcp, buf: &mut [u8]) -> io::Result<usize>;
    /// Write without waiting.
    fn try_write(s: &Self::Tcp, buf: &[u8]) -> io::Result<usize>;
    /// The runtime's clock. The client reads time only here, so a runtime whose clock can be
    /// paused (tokio's `start_paused`) drives every deadline of the client in tests.
    fn now() -> Instant;
    /// Resolve at `deadline` (an instant of [`Runtime::now`]'s clock).
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;
    /// Let the reactor record readiness that arrived while nobody polled (tokio needs a
    /// yield before a `try_read` can see a peer's close; a no-op elsewhere).
    fn refresh_readiness() -> impl Future<Output = ()> + Send;
    /// Bind a UDP socket; `broadcast` also allows broadcast and sets the multicast TTL.
    fn bind_udp(addr: SocketAddr, broadcast: Option<u32>) -> io::Result<Self::Udp>;
    /// Send one datagram.
    fn send_to<'a>(
        s: &'a Self::Udp,
        buf: &'a [u8],
        to: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Receive one datagram.
    fn recv_from<'a>(
        s: &'a Self::Udp,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a;
    /// Receive without waiting.
    fn try_recv_from(s: &Self::Udp, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    /// Open a file for reading, with its size.
    fn open(path: &Path) -> impl Future<Output = io::Result<(Self::File, u64)>> + Send;
}

/// `fut`, or `None` at `deadline`.
pub(crate) async fn until<R: Runtime, T>(
    deadline: Instant,
    fut: impl Future<Output = T>,
) -> Option<T> {
    use futures_lite::FutureExt;
    async { Some(fut.await) }
        .or(async {
            R::sleep_until(deadline).await;
            None
        })
        .await
}

/// Pieces a bounded write is cut into: each must be taken within the stall timeout, so the
/// bound is "no progress for that long", not "the whole buffer within it".
const WRITE_PIECE: usize = 64 * 1024;

/// Write all of `buf`, each [`WRITE_PIECE`] within `stall` of the previous one; otherwise
/// [`ClientError::Stalled`] (the printer stopped reading; drop the stream, it may hold half a
/// write). Other errors as [`ClientError::io`].
pub(crate) async fn write_bounded<R: Runtime>(
    s: &mut R::Tcp,
    buf: &[u8],
    stall: std::time::Duration,
) -> Result<(), flashforge_proto::client::ClientError> {
    use flashforge_proto::client::ClientError;
    for piece in buf.chunks(WRITE_PIECE) {
        match until::<R, _>(R::now() + stall, R::write_all(s, piece)).await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(ClientError::io(e)),
            None => return Err(ClientError::Stalled),
        }
    }
    Ok(())
}
