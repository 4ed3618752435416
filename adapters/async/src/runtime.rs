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
    /// Resolve when `s` may have bytes (or EOF) to read: the client then reads with
    /// [`Runtime::try_read`] into its thread's buffer, so no connection holds a read buffer
    /// of its own. A spurious wake-up is fine (`try_read` says `WouldBlock`).
    fn readable(s: &Self::Tcp) -> impl Future<Output = io::Result<()>> + Send + '_;
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

/// Bytes one read takes at most.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

std::thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's read buffer ([`READ_CHUNK`] bytes, allocated on first use). A
/// read's bytes go to the core before the next `await`, so connections hold no read buffer
/// of their own: an idle printer costs none, and ten thousand polled from one thread share
/// that thread's one (a 64 KiB buffer per connection, and another per HTTP request, made
/// memory per printer worse than the Python client's and zeroed fresh pages on every poll).
pub(crate) fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut b) => {
            if b.is_empty() {
                b.resize(READ_CHUNK, 0);
            }
            f(&mut b)
        }
        // Only if a read were ever nested in another: a buffer of its own.
        Err(_) => f(&mut vec![0; READ_CHUNK]),
    })
}

/// Read what `s` has without waiting and hand it to `f`: `Ok(0)` is EOF, `WouldBlock` means
/// nothing yet.
pub(crate) fn try_read_into<R: Runtime>(s: &R::Tcp, f: impl FnOnce(&[u8])) -> io::Result<usize> {
    with_scratch(|buf| {
        let n = R::try_read(s, buf)?;
        if n > 0 {
            f(&buf[..n]);
        }
        Ok(n)
    })
}

/// Wait for bytes until `deadline` and hand them to `f`: `None` at the deadline, `Some(Ok(0))`
/// at EOF.
pub(crate) async fn read_into<R: Runtime>(
    s: &R::Tcp,
    deadline: Instant,
    mut f: impl FnMut(&[u8]),
) -> Option<io::Result<usize>> {
    loop {
        match until::<R, _>(deadline, R::readable(s)).await? {
            Ok(()) => {}
            Err(e) => return Some(Err(e)),
        }
        match try_read_into::<R>(s, &mut f) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            r => return Some(r),
        }
    }
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
    // A socket with room takes a request at once: no timer to arm and cancel (most writes).
    let buf = match R::try_write(s, buf) {
        Ok(n) => &buf[n..],
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => buf,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => buf,
        Err(e) => return Err(ClientError::io(e)),
    };
    for piece in buf.chunks(WRITE_PIECE) {
        match until::<R, _>(R::now() + stall, R::write_all(s, piece)).await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(ClientError::io(e)),
            None => return Err(ClientError::Stalled),
        }
    }
    Ok(())
}
