//! The core's [`TcpCalls`] bound to a `std::net::TcpStream`: sockets and read timeouts only.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use flashforge_proto::client::{ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::driver::{TcpCalls, TcpEvent};
use flashforge_proto::{Command, Config, Reply};

use crate::{Callback, Result};

pub(crate) struct TcpLink {
    pub(crate) calls: TcpCalls,
    addr: SocketAddr,
    sock: Option<TcpStream>,
    connect_timeout: Duration,
    callback: Option<Callback>,
    /// Last successful read or write: a connection used this recently is not probed for a
    /// silent close before the next command (saves the syscalls on hot paths).
    last_io: Instant,
    read_timeout: Option<Duration>,
    /// Bound of every write ([`Config::upload_stall_timeout`]).
    write_timeout: Duration,
    /// A write hit its bound since the current call began: the call fails with
    /// [`ClientError::Stalled`] (the session has dropped the connection).
    stalled: bool,
}

/// Connections idle for longer than this are probed for EOF before a command is written.
const PROBE_AFTER_IDLE: Duration = Duration::from_millis(500);

impl TcpLink {
    pub(crate) fn new(
        addr: SocketAddr,
        config: Config,
        connect_timeout: Duration,
        callback: Option<Callback>,
    ) -> Self {
        let write_timeout = config.upload_stall_timeout;
        Self {
            write_timeout,
            stalled: false,
            calls: TcpCalls::new(config, Instant::now()),
            addr,
            sock: None,
            connect_timeout,
            callback,
            last_io: Instant::now(),
            read_timeout: None,
        }
    }

    pub(crate) fn command(&mut self, command: Command) -> Result<Reply> {
        self.stalled = false;
        let r = self.command_inner(command);
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

    fn command_inner(&mut self, command: Command) -> Result<Reply> {
        self.check_idle_socket();
        let id = self.calls.submit(command, Instant::now())?;
        loop {
            // Act on what submitting produced first: a command with no reply (A3 motion) has
            // its outcome as soon as it is written.
            self.drain();
            if let Some(r) = self.calls.outcome(id, Instant::now()) {
                return r;
            }
            self.step()?;
        }
    }

    /// A printer that dropped an idle connection shows up as EOF before the next command is
    /// written, so the session reconnects first instead of losing the command.
    fn check_idle_socket(&mut self) {
        if self.last_io.elapsed() < PROBE_AFTER_IDLE {
            return;
        }
        let Some(sock) = self.sock.as_mut() else {
            return;
        };
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        let calls = &mut self.calls;
        let r = crate::scratch::with(|buf| {
            let n = sock.read(buf)?;
            if n > 0 {
                calls.handle_bytes(&buf[..n], Instant::now());
            }
            Ok::<_, std::io::Error>(n)
        });
        let _ = sock.set_nonblocking(false);
        match r {
            Ok(0) => self.calls.handle_eof(Instant::now()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.calls.handle_eof(Instant::now()),
        }
    }

    /// Act on the core's outputs, then wait once for bytes or the next deadline.
    fn step(&mut self) -> Result<()> {
        self.drain();
        let now = Instant::now();
        let wait = self
            .calls
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        match self.sock.as_mut() {
            Some(sock) => {
                // Keep the socket's timeout while it is at most 1/8 shorter than the wait (a
                // short read timeout only costs a loop): one syscall less per command.
                let keep = self
                    .read_timeout
                    .is_some_and(|t| t <= wait && t >= wait - wait / 8);
                if !keep {
                    sock.set_read_timeout(Some(wait)).map_err(ClientError::io)?;
                    self.read_timeout = Some(wait);
                }
                let (calls, last_io) = (&mut self.calls, &mut self.last_io);
                let r = crate::scratch::with(|buf| {
                    let n = sock.read(buf)?;
                    if n > 0 {
                        *last_io = Instant::now();
                        calls.handle_bytes(&buf[..n], *last_io);
                    }
                    Ok::<_, std::io::Error>(n)
                });
                match r {
                    Ok(0) => self.calls.handle_eof(Instant::now()),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                        ) => {}
                    Err(_) => self.calls.handle_eof(Instant::now()),
                }
            }
            // Waiting out a reconnect back-off.
            None => std::thread::sleep(wait),
        }
        self.calls.handle_timeout(Instant::now());
        self.drain();
        Ok(())
    }

    fn drain(&mut self) {
        while let Some(event) = self.calls.poll_event() {
            match event {
                TcpEvent::Write(bytes) => {
                    let r = match self.sock.as_mut() {
                        Some(s) => crate::http::write_bounded(s, &bytes, self.write_timeout),
                        None => Err(ErrorKind::NotConnected.into()),
                    };
                    if let Err(e) = r {
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                            tracing::debug!("write stalled: the printer stopped reading");
                            self.stalled = true;
                        }
                        // The stream may hold half a write: never use it again.
                        self.sock = None;
                        self.calls.handle_eof(Instant::now());
                    }
                }
                TcpEvent::Connect => {
                    let _span = tracing::debug_span!("tcp_connect", addr = %self.addr).entered();
                    match TcpStream::connect_timeout(&self.addr, self.connect_timeout) {
                        Ok(sock) => {
                            let _ = sock.set_nodelay(true);
                            let _ = sock.set_write_timeout(Some(crate::http::write_slice(
                                self.write_timeout,
                            )));
                            self.read_timeout = None;
                            self.last_io = Instant::now();
                            self.sock = Some(sock);
                            self.calls.handle_connected(Instant::now());
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "connect failed");
                            self.calls
                                .handle_connect_failed(ClientError::unreachable(e), Instant::now());
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
    pub(crate) fn upload(
        &mut self,
        name: &str,
        size: u64,
        reader: &mut dyn Read,
        chunk: usize,
        progress: &mut dyn FnMut(UploadProgress),
    ) -> Result<()> {
        self.stalled = false;
        let r = self.upload_inner(name, size, reader, chunk, progress);
        self.stall_outcome(r)
    }

    fn upload_inner(
        &mut self,
        name: &str,
        size: u64,
        reader: &mut dyn Read,
        chunk: usize,
        progress: &mut dyn FnMut(UploadProgress),
    ) -> Result<()> {
        self.check_idle_socket();
        let id = self.calls.start_upload(name, size, Instant::now())?;
        loop {
            if let Some(r) = self.calls.upload_accepted(id, Instant::now()) {
                r?;
                break;
            }
            self.step()?;
        }
        // The core sizes each chunk and stops when the file is sent or the connection is lost.
        let mut buf = vec![0u8; chunk];
        while let Some(want) = self.calls.next_chunk_len(chunk) {
            let n = read_some(reader, &mut buf[..want])?;
            self.calls.upload_chunk(&buf[..n], Instant::now())?;
            self.drain();
            if let Some(p) = self.calls.chunk_progress() {
                progress(p);
            }
        }
        loop {
            // Act on what submitting produced first: a command with no reply (A3 motion) has
            // its outcome as soon as it is written.
            self.drain();
            if let Some(r) = self.calls.outcome(id, Instant::now()) {
                return r.map(drop);
            }
            self.step()?;
        }
    }

    pub(crate) fn close(&mut self) {
        self.calls.close(Instant::now());
        let end = Instant::now() + Duration::from_secs(2);
        while !self.calls.is_finished() && Instant::now() < end && self.sock.is_some() {
            if self.step().is_err() {
                break;
            }
        }
        self.sock = None;
    }
}

/// One read, retried on `Interrupted`.
pub(crate) fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(ClientError::io(e)),
        }
    }
}
