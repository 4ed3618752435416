//! The TCP session bound to a `std::net::TcpStream`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use flashforge_proto::client::{ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::{Command, CommandId, Config, ConnectionState, Event, Reply, Session};

use crate::{Callback, Result};

/// Bounded read buffer per connection.
const READ_BUF: usize = 64 * 1024;

pub(crate) struct TcpLink {
    session: Session,
    addr: SocketAddr,
    sock: Option<TcpStream>,
    connect_timeout: Duration,
    buf: Box<[u8]>,
    callback: Option<Callback>,
    /// Set when a connect attempt failed during the current call.
    connect_error: Option<ClientError>,
    replies: Vec<(
        CommandId,
        std::result::Result<Reply, flashforge_proto::CommandError>,
    )>,
    upload_ready: Option<CommandId>,
}

impl TcpLink {
    pub(crate) fn new(
        addr: SocketAddr,
        config: Config,
        connect_timeout: Duration,
        callback: Option<Callback>,
    ) -> Self {
        Self {
            session: Session::new(config, Instant::now()),
            addr,
            sock: None,
            connect_timeout,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            callback,
            connect_error: None,
            replies: Vec::new(),
            upload_ready: None,
        }
    }

    pub(crate) fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Whether the session gave up or was closed (the client starts a new one).
    pub(crate) fn is_finished(&self) -> bool {
        matches!(
            self.session.state(),
            ConnectionState::Closed | ConnectionState::Failed(_)
        )
    }

    /// Run one command to its reply.
    pub(crate) fn command(&mut self, command: Command) -> Result<Reply> {
        self.check_idle_socket();
        let id = self.session.submit(command, Instant::now())?;
        self.wait_reply(id)
    }

    fn wait_reply(&mut self, id: CommandId) -> Result<Reply> {
        self.connect_error = None;
        loop {
            if let ConnectionState::Failed(e) = self.session.state() {
                // The queue was cancelled because the session gave up: report why.
                self.replies.retain(|(r, _)| *r != id);
                return Err(e.into());
            }
            if let Some(i) = self.replies.iter().position(|(r, _)| *r == id) {
                return Ok(self.replies.swap_remove(i).1?);
            }
            if let Some(e) = self.connect_error.take() {
                // Unreachable: do not leave the command queued for a later reconnect.
                if self.session.cancel(id) {
                    return Err(e);
                }
            }
            self.step()?;
        }
    }

    /// A printer that dropped an idle connection shows up as EOF before the next command is
    /// written, so the session reconnects first instead of losing the command.
    fn check_idle_socket(&mut self) {
        let Some(sock) = self.sock.as_mut() else {
            return;
        };
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        let r = sock.read(&mut self.buf);
        let _ = sock.set_nonblocking(false);
        let now = Instant::now();
        match r {
            Ok(0) => self.session.handle_eof(now),
            Ok(n) => self.session.handle_bytes(&self.buf[..n], now),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.session.handle_eof(now),
        }
    }

    /// Drain outputs, then wait for bytes or the next deadline once.
    fn step(&mut self) -> Result<()> {
        self.drain();
        let now = Instant::now();
        let wait = self
            .session
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        match self.sock.as_mut() {
            Some(sock) => {
                sock.set_read_timeout(Some(wait))
                    .map_err(|e| ClientError::io(&e))?;
                match sock.read(&mut self.buf) {
                    Ok(0) => self.session.handle_eof(Instant::now()),
                    Ok(n) => self.session.handle_bytes(&self.buf[..n], Instant::now()),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => self.session.handle_eof(Instant::now()),
                }
            }
            // Waiting for a reconnect back-off.
            None => std::thread::sleep(wait),
        }
        self.session.handle_timeout(Instant::now());
        self.drain();
        Ok(())
    }

    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(tx) = self.session.poll_transmit() {
                progressed = true;
                let ok = self.sock.as_mut().is_some_and(|s| s.write_all(&tx).is_ok());
                if !ok {
                    self.session.handle_eof(Instant::now());
                }
            }
            while let Some(ev) = self.session.poll_event() {
                progressed = true;
                self.handle_event(ev);
            }
            if !progressed {
                break;
            }
        }
    }

    fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Connect => {
                let _span = tracing::debug_span!("tcp_connect", addr = %self.addr).entered();
                match TcpStream::connect_timeout(&self.addr, self.connect_timeout) {
                    Ok(sock) => {
                        let _ = sock.set_nodelay(true);
                        self.sock = Some(sock);
                        self.session.handle_connected(Instant::now());
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "connect failed");
                        self.connect_error = Some(ClientError::unreachable(&e));
                        self.session.handle_connect_failed(Instant::now());
                    }
                }
            }
            Event::Disconnect => {
                if let Some(mut s) = self.sock.take() {
                    let _ = s.flush();
                }
            }
            Event::State(state) => {
                tracing::debug!(?state, "tcp state");
                if let Some(cb) = &self.callback {
                    cb(&ConnectionEvent::Tcp(state));
                }
            }
            Event::Reply { id, result, .. } => self.replies.push((id, result)),
            Event::UploadReady { id } => self.upload_ready = Some(id),
            Event::KeepAlive(_) => {}
            _ => {}
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
        self.check_idle_socket();
        self.upload_ready = None;
        let id = self.session.start_upload(name, size, Instant::now())?;
        self.connect_error = None;
        while self.upload_ready != Some(id) {
            if let Some(i) = self.replies.iter().position(|(r, _)| *r == id) {
                // Refused before any byte was sent.
                self.replies.swap_remove(i).1?;
                return Err(ClientError::UnexpectedReply("upload acceptance"));
            }
            if let ConnectionState::Failed(e) = self.session.state() {
                return Err(e.into());
            }
            if let Some(e) = self.connect_error.take() {
                if self.session.cancel(id) {
                    return Err(e);
                }
            }
            self.step()?;
        }
        let mut buf = vec![0u8; chunk];
        let mut sent = 0u64;
        while sent < size {
            let want = usize::try_from(size - sent)
                .unwrap_or(usize::MAX)
                .min(chunk);
            let n = read_some(reader, &mut buf[..want])?;
            if n == 0 {
                // The reader ended early: the session cannot finish the upload honestly.
                self.session.close(Instant::now());
                self.drain();
                return Err(flashforge_proto::UsageError::UploadUnderrun {
                    missing: size - sent,
                }
                .into());
            }
            self.session.upload_chunk(&buf[..n], Instant::now())?;
            self.drain();
            if self.sock.is_none() {
                break;
            }
            sent += n as u64;
            progress(UploadProgress { sent, total: size });
        }
        if size == 0 {
            self.session.upload_chunk(&[], Instant::now())?;
        }
        self.wait_reply(id).map(drop)
    }

    pub(crate) fn close(&mut self) {
        self.session.close(Instant::now());
        let end = Instant::now() + Duration::from_secs(2);
        while !self.is_finished() && Instant::now() < end && self.sock.is_some() {
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
            Err(e) => return Err(ClientError::io(&e)),
        }
    }
}
