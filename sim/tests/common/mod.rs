//! Small blocking drivers of the core's state machines over real loopback sockets (the real
//! adapters come with their own crates; these only exist to test the simulator and the core).

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use flashforge_proto::discovery::{
    Destination, DestinationKind, DiscoveredPrinter, Discovery, DiscoveryConfig,
};
use flashforge_proto::gcode::Reply;
use flashforge_proto::http::{
    Credentials, ExchangeEvent, HttpError, HttpExchange, Request, Response, Upload, UploadSpec,
};
use flashforge_proto::{Command, CommandError, Config, Event, HttpConfig, Session};

/// A `Session` bound to a TCP socket.
pub(crate) struct Tcp {
    pub(crate) s: Session,
    addr: SocketAddr,
    sock: Option<TcpStream>,
    pub(crate) events: Vec<Event>,
}

impl Tcp {
    pub(crate) fn connect(addr: SocketAddr, config: Config) -> Self {
        let mut t = Self {
            s: Session::new(config, Instant::now()),
            addr,
            sock: None,
            events: Vec::new(),
        };
        t.run(Duration::from_secs(10), |s, _| {
            s.state() == flashforge_proto::ConnectionState::Ready
        });
        assert_eq!(t.s.state(), flashforge_proto::ConnectionState::Ready);
        t
    }

    /// Drives I/O until `done` or the time limit.
    pub(crate) fn run(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Session, &[Event]) -> bool,
    ) {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(tx) = self.s.poll_transmit() {
                if let Some(sock) = self.sock.as_mut() {
                    if sock.write_all(&tx).is_err() {
                        self.s.handle_eof(Instant::now());
                    }
                }
            }
            while let Some(ev) = self.s.poll_event() {
                match ev {
                    Event::Connect => match TcpStream::connect(self.addr) {
                        Ok(sock) => {
                            sock.set_nodelay(true).unwrap();
                            self.sock = Some(sock);
                            self.s.handle_connected(Instant::now());
                        }
                        Err(_) => self.s.handle_connect_failed(Instant::now()),
                    },
                    Event::Disconnect => self.sock = None,
                    other => self.events.push(other),
                }
            }
            if done(&self.s, &self.events) || Instant::now() >= end {
                return;
            }
            let now = Instant::now();
            let wake = self
                .s
                .poll_timeout()
                .unwrap_or(now + Duration::from_millis(50));
            let wait = wake
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            match self.sock.as_mut() {
                Some(sock) => {
                    sock.set_read_timeout(Some(wait)).unwrap();
                    match sock.read(&mut buf) {
                        Ok(0) => self.s.handle_eof(Instant::now()),
                        Ok(n) => self.s.handle_bytes(&buf[..n], Instant::now()),
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => self.s.handle_eof(Instant::now()),
                    }
                }
                None => std::thread::sleep(wait),
            }
            let now = Instant::now();
            if self.s.poll_timeout().is_some_and(|t| t <= now) {
                self.s.handle_timeout(now);
            }
        }
    }

    /// Sends one command and waits for its reply.
    pub(crate) fn cmd(&mut self, command: Command) -> Result<Reply, CommandError> {
        let id = self.s.submit(command, Instant::now()).expect("submit");
        self.wait(id)
    }

    pub(crate) fn wait(&mut self, id: flashforge_proto::CommandId) -> Result<Reply, CommandError> {
        self.run(Duration::from_secs(15), |_, evs| {
            evs.iter()
                .any(|e| matches!(e, Event::Reply { id: i, .. } if *i == id))
        });
        let i = self
            .events
            .iter()
            .position(|e| matches!(e, Event::Reply { id: i, .. } if *i == id))
            .expect("reply within 15 s");
        match self.events.remove(i) {
            Event::Reply { result, .. } => result,
            _ => unreachable!(),
        }
    }

    /// Legacy upload through the session.
    pub(crate) fn upload(&mut self, name: &str, data: &[u8]) -> Result<Reply, CommandError> {
        let id = self
            .s
            .start_upload(name, data.len() as u64, Instant::now())
            .expect("start upload");
        self.run(Duration::from_secs(10), |_, evs| {
            evs.iter()
                .any(|e| matches!(e, Event::UploadReady { .. } | Event::Reply { .. }))
        });
        if self
            .events
            .iter()
            .any(|e| matches!(e, Event::UploadReady { id: i } if *i == id))
        {
            for chunk in data.chunks(16 * 1024) {
                self.s.upload_chunk(chunk, Instant::now()).expect("chunk");
                while let Some(tx) = self.s.poll_transmit() {
                    self.sock.as_mut().unwrap().write_all(&tx).unwrap();
                }
            }
            if data.is_empty() {
                self.s.upload_chunk(&[], Instant::now()).expect("empty");
            }
        }
        self.wait(id)
    }

    pub(crate) fn close(mut self) {
        self.s.close(Instant::now());
        self.run(Duration::from_secs(5), |s, _| {
            s.state() == flashforge_proto::ConnectionState::Closed
        });
    }
}

fn drive(
    ex: &mut HttpExchange,
    sock: &mut TcpStream,
    body: Option<&[u8]>,
) -> Result<Response, HttpError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent_body = false;
    loop {
        while let Some(tx) = ex.poll_transmit() {
            sock.write_all(&tx).unwrap();
        }
        while let Some(ev) = ex.poll_event() {
            match ev {
                ExchangeEvent::SendBody if !sent_body => {
                    sent_body = true;
                    // The core frames; the file bytes go from the caller straight to the socket.
                    for chunk in body.unwrap_or(&[]).chunks(64 * 1024) {
                        while let Some(tx) = ex.poll_transmit() {
                            sock.write_all(&tx).unwrap();
                        }
                        ex.upload_chunk(chunk, Instant::now()).unwrap();
                        sock.write_all(chunk).unwrap();
                    }
                    ex.finish_upload(Instant::now()).unwrap();
                    while let Some(tx) = ex.poll_transmit() {
                        sock.write_all(&tx).unwrap();
                    }
                }
                ExchangeEvent::SendBody => {}
                ExchangeEvent::Done(r) => return r,
            }
        }
        let now = Instant::now();
        let wait = ex
            .poll_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        sock.set_read_timeout(Some(wait)).unwrap();
        match sock.read(&mut buf) {
            Ok(0) => ex.handle_eof(Instant::now()),
            Ok(n) => ex.handle_bytes(&buf[..n], Instant::now()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => ex.handle_eof(Instant::now()),
        }
        let now = Instant::now();
        if ex.poll_timeout().is_some_and(|t| t <= now) {
            ex.handle_timeout(now);
        }
    }
}

/// One HTTP request on a fresh connection.
pub(crate) fn http(
    addr: SocketAddr,
    creds: &Credentials,
    req: &Request,
) -> Result<Response, HttpError> {
    let mut sock = TcpStream::connect(addr).unwrap();
    let mut ex = HttpExchange::new(
        req,
        &addr.to_string(),
        creds,
        &HttpConfig::default(),
        Instant::now(),
    )
    .expect("request");
    drive(&mut ex, &mut sock, None)
}

/// One streamed upload on a fresh connection.
pub(crate) fn upload(
    addr: SocketAddr,
    creds: &Credentials,
    spec: &UploadSpec,
    data: &[u8],
) -> Result<Response, HttpError> {
    let mut sock = TcpStream::connect(addr).unwrap();
    let up = Upload::new(spec, &addr.to_string(), creds).expect("upload spec");
    let mut ex = HttpExchange::upload(up, &HttpConfig::default(), Instant::now());
    drive(&mut ex, &mut sock, Some(data))
}

/// Discovery by unicast probes to the given loopback addresses.
pub(crate) fn discover(targets: &[SocketAddr], config: DiscoveryConfig) -> Vec<DiscoveredPrinter> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dests = targets
        .iter()
        .map(|&addr| {
            assert!(addr.ip().is_loopback(), "tests only probe loopback");
            Destination {
                addr,
                kind: DestinationKind::Unicast,
            }
        })
        .collect();
    let mut d = Discovery::new(config, dests, Instant::now());
    let mut buf = [0u8; 2048];
    while !d.is_finished() {
        while let Some(t) = d.poll_transmit() {
            assert!(t.destination.ip().is_loopback());
            sock.send_to(t.payload, t.destination).unwrap();
            // Read while sending, so a farm's replies do not overflow the receive buffer.
            sock.set_nonblocking(true).unwrap();
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = d.handle_datagram(from, &buf[..n], Instant::now());
            }
            sock.set_nonblocking(false).unwrap();
        }
        let now = Instant::now();
        let wait = d
            .poll_timeout()
            .map_or(Duration::from_millis(10), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        sock.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = d.handle_datagram(from, &buf[..n], Instant::now());
        }
        d.handle_timeout(Instant::now());
        while d.poll_event().is_some() {}
    }
    d.into_printers()
}
