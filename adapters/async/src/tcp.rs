//! The core's [`TcpCalls`] bound to a runtime's TCP stream: sockets and timers only.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt};

use crate::runtime::{read_into, try_read_into, until, write_bounded, Runtime};

use flashforge_proto::client::{ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::driver::{TcpCalls, TcpEvent};
use flashforge_proto::{Command, Config, Reply};

use crate::{Callback, Result};

pub(crate) struct TcpLink<R: Runtime> {
    pub(crate) calls: TcpCalls,
    addr: SocketAddr,
    sock: Option<R::Tcp>,
    connect_timeout: Duration,
    callback: Option<Callback>,
    /// Last successful read or write: a connection used this recently is not probed for a
    /// silent close before the next command (saves the syscalls on hot paths).
    last_io: Instant,
    /// Bound of every write without progress ([`Config::upload_stall_timeout`]).
    write_timeout: Duration,
    /// A write hit its bound since the current call began: the call fails with
    /// [`ClientError::Stalled`] (the session has dropped the connection).
    stalled: bool,
}

/// Connections idle for longer than this are probed for EOF before a command is written.
const PROBE_AFTER_IDLE: Duration = Duration::from_millis(500);

impl<R: Runtime> TcpLink<R> {
    pub(crate) fn new(
        addr: SocketAddr,
        config: Config,
        connect_timeout: Duration,
        callback: Option<Callback>,
    ) -> Self {
        Self {
            write_timeout: config.upload_stall_timeout,
            stalled: false,
            calls: TcpCalls::new(config, R::now()),
            addr,
            sock: None,
            connect_timeout,
            callback,
            last_io: R::now(),
        }
    }

    pub(crate) async fn command(&mut self, command: Command) -> Result<Reply> {
        self.stalled = false;
        let r = self.command_inner(command).await;
        self.stall_outcome(r)
    }

    /// A call during which a write stalled fails with [`ClientError::Stalled`], whatever the
    /// session made of the dropped connection.
    fn stall_outcome<T>(&mut self, r: Result<T>) -> Result<T> {
        if std::mem::take(&mut self.stalled) {
            return Err(ClientError::Stalled);
        }
        r
    }

    async fn command_inner(&mut self, command: Command) -> Result<Reply> {
        self.check_idle_socket().await;
        let id = self.calls.submit(command, R::now())?;
        loop {
            // Act on what submitting produced first: a command with no reply (A3 motion) has
            // its outcome as soon as it is written.
            self.drain().await;
            if let Some(r) = self.calls.outcome(id, R::now()) {
                return r;
            }
            self.step().await;
        }
    }

    /// A printer that dropped an idle connection shows up as EOF before the next command is
    /// written, so the session reconnects first instead of losing the command.
    async fn check_idle_socket(&mut self) {
        if R::now().saturating_duration_since(self.last_io) < PROBE_AFTER_IDLE
            || self.sock.is_none()
        {
            return;
        }
        R::refresh_readiness().await;
        let Some(sock) = self.sock.as_ref() else {
            return;
        };
        let calls = &mut self.calls;
        match try_read_into::<R>(sock, |b| calls.handle_bytes(b, R::now())) {
            Ok(0) => self.calls.handle_eof(R::now()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.calls.handle_eof(R::now()),
        }
    }

    /// Act on the core's outputs, then wait once for bytes or the next deadline.
    async fn step(&mut self) {
        self.drain().await;
        let deadline = self
            .calls
            .poll_timeout()
            .unwrap_or_else(|| R::now() + Duration::from_millis(100));
        match self.sock.as_ref() {
            Some(sock) => {
                let (calls, last_io) = (&mut self.calls, &mut self.last_io);
                let read = read_into::<R>(sock, deadline, |b| {
                    *last_io = R::now();
                    calls.handle_bytes(b, *last_io);
                });
                match read.await {
                    Some(Ok(0)) | Some(Err(_)) => self.calls.handle_eof(R::now()),
                    Some(Ok(_)) | None => {}
                }
            }
            None => {
                R::sleep_until(deadline).await;
            }
        }
        self.calls.handle_timeout(R::now());
        self.drain().await;
    }

    async fn drain(&mut self) {
        while let Some(event) = self.calls.poll_event() {
            match event {
                TcpEvent::Write(bytes) => {
                    let r = match self.sock.as_mut() {
                        Some(s) => write_bounded::<R>(s, &bytes, self.write_timeout).await,
                        None => Err(ClientError::Closed),
                    };
                    if let Err(e) = r {
                        if e == ClientError::Stalled {
                            tracing::debug!("write stalled: the printer stopped reading");
                            self.stalled = true;
                        }
                        // The stream may hold half a write: never use it again.
                        self.sock = None;
                        self.calls.handle_eof(R::now());
                    }
                }
                TcpEvent::Connect => {
                    tracing::debug!(addr = %self.addr, "tcp connect");
                    let deadline = R::now() + self.connect_timeout;
                    let r = until::<R, _>(deadline, R::connect(self.addr))
                        .await
                        .unwrap_or_else(|| Err(ErrorKind::TimedOut.into()));
                    match r {
                        Ok(sock) => {
                            self.last_io = R::now();
                            self.sock = Some(sock);
                            self.calls.handle_connected(R::now());
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "connect failed");
                            self.calls
                                .handle_connect_failed(ClientError::unreachable(e), R::now());
                        }
                    }
                }
                TcpEvent::Disconnect => self.sock = None,
                TcpEvent::State(state) => self.report(state),
                _ => {}
            }
        }
    }

    fn report(&self, state: flashforge_proto::ConnectionState) {
        tracing::debug!(?state, "tcp state");
        if let Some(cb) = &self.callback {
            cb(&ConnectionEvent::Tcp(state));
        }
    }

    /// Legacy `~M28`/`~M29` upload streamed from `reader`.
    pub(crate) async fn upload(
        &mut self,
        name: &str,
        size: u64,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        chunk: usize,
        progress: &mut (dyn FnMut(UploadProgress) + Send),
    ) -> Result<()> {
        self.stalled = false;
        let r = self.upload_inner(name, size, reader, chunk, progress).await;
        self.stall_outcome(r)
    }

    async fn upload_inner(
        &mut self,
        name: &str,
        size: u64,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        chunk: usize,
        progress: &mut (dyn FnMut(UploadProgress) + Send),
    ) -> Result<()> {
        self.check_idle_socket().await;
        let id = self.calls.start_upload(name, size, R::now())?;
        loop {
            if let Some(r) = self.calls.upload_accepted(id, R::now()) {
                r?;
                break;
            }
            self.step().await;
        }
        // The core sizes each chunk and stops when the file is sent or the connection is lost.
        let mut buf = vec![0u8; chunk];
        while let Some(want) = self.calls.next_chunk_len(chunk) {
            let n = reader
                .read(&mut buf[..want])
                .await
                .map_err(ClientError::io)?;
            self.calls.upload_chunk(&buf[..n], R::now())?;
            self.drain().await;
            if let Some(p) = self.calls.chunk_progress() {
                progress(p);
            }
        }
        loop {
            // Act on what submitting produced first: a command with no reply (A3 motion) has
            // its outcome as soon as it is written.
            self.drain().await;
            if let Some(r) = self.calls.outcome(id, R::now()) {
                return r.map(drop);
            }
            self.step().await;
        }
    }

    /// Best effort from `Drop`: write the logout without waiting.
    pub(crate) fn logout_now(&mut self) {
        if let Some(s) = self.sock.as_ref() {
            let _ = R::try_write(s, b"~M602\n");
        }
    }

    pub(crate) async fn close(&mut self) {
        self.calls.close(R::now());
        let end = R::now() + Duration::from_secs(2);
        while !self.calls.is_finished() && R::now() < end && self.sock.is_some() {
            self.step().await;
        }
        self.sock = None;
    }
}
