//! The TCP session bound to an `async_io::Async<TcpStream>`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use flashforge_proto::client::{ClientError, ConnectionEvent, UploadProgress};
use flashforge_proto::{Command, CommandId, Config, ConnectionState, Event, Reply, Session};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWriteExt, FutureExt};

use crate::{Callback, Result};

const READ_BUF: usize = 64 * 1024;

fn now() -> Instant {
    Instant::now()
}

/// `fut`, or `None` at `deadline`.
pub(crate) async fn until<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    async { Some(fut.await) }
        .or(async {
            Timer::at(deadline).await;
            None
        })
        .await
}

pub(crate) struct TcpLink {
    session: Session,
    addr: SocketAddr,
    sock: Option<Async<TcpStream>>,
    connect_timeout: Duration,
    buf: Box<[u8]>,
    callback: Option<Callback>,
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
            session: Session::new(config, now()),
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

    pub(crate) fn is_finished(&self) -> bool {
        matches!(
            self.session.state(),
            ConnectionState::Closed | ConnectionState::Failed(_)
        )
    }

    pub(crate) async fn command(&mut self, command: Command) -> Result<Reply> {
        self.check_idle_socket().await;
        let id = self.session.submit(command, now())?;
        self.wait_reply(id).await
    }

    async fn wait_reply(&mut self, id: CommandId) -> Result<Reply> {
        self.connect_error = None;
        loop {
            if let ConnectionState::Failed(e) = self.session.state() {
                self.replies.retain(|(r, _)| *r != id);
                return Err(e.into());
            }
            if let Some(i) = self.replies.iter().position(|(r, _)| *r == id) {
                return Ok(self.replies.swap_remove(i).1?);
            }
            if let Some(e) = self.connect_error.take() {
                if self.session.cancel(id) {
                    return Err(e);
                }
            }
            self.step().await;
        }
    }

    /// See the blocking adapter: an idle connection the printer dropped shows up as EOF
    /// before the next command is written.
    async fn check_idle_socket(&mut self) {
        if self.sock.is_none() {
            return;
        }
        let Some(sock) = self.sock.as_ref() else {
            return;
        };
        // `Async` keeps the socket non-blocking: a plain read never waits.
        match (&mut sock.get_ref()).read(&mut self.buf) {
            Ok(0) => self.session.handle_eof(now()),
            Ok(n) => self.session.handle_bytes(&self.buf[..n], now()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.session.handle_eof(now()),
        }
    }

    async fn step(&mut self) {
        self.drain().await;
        let deadline = self
            .session
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(100));
        match self.sock.as_mut() {
            Some(sock) => match until(deadline, sock.read(&mut self.buf)).await {
                Some(Ok(0)) | Some(Err(_)) => self.session.handle_eof(now()),
                Some(Ok(n)) => self.session.handle_bytes(&self.buf[..n], now()),
                None => {}
            },
            None => {
                Timer::at(deadline).await;
            }
        }
        self.session.handle_timeout(now());
        self.drain().await;
    }

    async fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(tx) = self.session.poll_transmit() {
                progressed = true;
                let ok = match self.sock.as_mut() {
                    Some(s) => s.write_all(&tx).await.is_ok(),
                    None => false,
                };
                if !ok {
                    self.session.handle_eof(now());
                }
            }
            while let Some(ev) = self.session.poll_event() {
                progressed = true;
                self.handle_event(ev).await;
            }
            if !progressed {
                break;
            }
        }
    }

    async fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Connect => {
                tracing::debug!(addr = %self.addr, "tcp connect");
                let deadline = Instant::now() + self.connect_timeout;
                let r = until(deadline, Async::<TcpStream>::connect(self.addr)).await;
                match r.ok_or(()) {
                    Ok(Ok(sock)) => {
                        let _ = sock.get_ref().set_nodelay(true);
                        self.sock = Some(sock);
                        self.session.handle_connected(now());
                    }
                    Ok(Err(e)) => {
                        self.connect_error = Some(ClientError::unreachable(&e));
                        self.session.handle_connect_failed(now());
                    }
                    Err(_) => {
                        self.connect_error =
                            Some(ClientError::Unreachable("connect timed out".into()));
                        self.session.handle_connect_failed(now());
                    }
                }
            }
            Event::Disconnect => {
                if let Some(mut s) = self.sock.take() {
                    let _ = s.flush().await;
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
            _ => {}
        }
    }

    pub(crate) async fn upload(
        &mut self,
        name: &str,
        size: u64,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        chunk: usize,
        progress: &mut (dyn FnMut(UploadProgress) + Send),
    ) -> Result<()> {
        self.check_idle_socket().await;
        self.upload_ready = None;
        let id = self.session.start_upload(name, size, now())?;
        self.connect_error = None;
        while self.upload_ready != Some(id) {
            if let Some(i) = self.replies.iter().position(|(r, _)| *r == id) {
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
            self.step().await;
        }
        let mut buf = vec![0u8; chunk];
        let mut sent = 0u64;
        while sent < size {
            let want = usize::try_from(size - sent)
                .unwrap_or(usize::MAX)
                .min(chunk);
            let n = reader
                .read(&mut buf[..want])
                .await
                .map_err(|e| ClientError::io(&e))?;
            if n == 0 {
                self.session.close(now());
                self.drain().await;
                return Err(flashforge_proto::UsageError::UploadUnderrun {
                    missing: size - sent,
                }
                .into());
            }
            self.session.upload_chunk(&buf[..n], now())?;
            self.drain().await;
            if self.sock.is_none() {
                break;
            }
            sent += n as u64;
            progress(UploadProgress { sent, total: size });
        }
        if size == 0 {
            self.session.upload_chunk(&[], now())?;
        }
        self.wait_reply(id).await.map(drop)
    }

    pub(crate) async fn close(&mut self) {
        self.session.close(now());
        let end = Instant::now() + Duration::from_secs(2);
        while !self.is_finished() && Instant::now() < end && self.sock.is_some() {
            self.step().await;
        }
        self.sock = None;
    }

    /// Best effort from `Drop`: write the logout without waiting.
    pub(crate) fn logout_now(&mut self) {
        if let Some(s) = self.sock.as_ref() {
            let _ = (&mut s.get_ref()).write(b"~M602\n");
        }
    }
}
