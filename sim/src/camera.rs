//! The printer's camera: an MJPEG server as the printer runs it on port 8080 (`mjpg-streamer`,
//! `http://IP:8080/?action=stream`, `protocol/http.md` §10), with generated frames.
//!
//! * `GET /?action=stream`: `HTTP/1.0 200 OK`, `multipart/x-mixed-replace;boundary=…`, a
//!   320×240 JPEG (a mosaic of 8×8 blocks, see `jpeg.rs`) about every 100 ms until the client goes away, the camera is turned off or
//!   the server stops. A frame shows the printer's state: a bar sweeping across with time, the
//!   job's progress along the bottom, a status-coloured square, the nozzle heating up.
//! * `GET /?action=snapshot`: one `image/jpeg`.
//! * `HEAD` of either: the headers alone (the clients probe with `HEAD` first).
//! * Other paths: `404 Not Found`.
//! * Camera off (`SimPrinter::camera_on == false`, e.g. after `streamCtrl_cmd` `close`): `503
//!   Service Unavailable`. A real printer stops its streamer, so the port refuses connections;
//!   the simulator keeps the listener bound (the farm binds it once) and answers 503 instead,
//!   which the clients' probe treats the same way (not 200: no camera).
//!
//! Every write has a timeout, so a client that stops reading cannot hold a thread forever.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::printer::{SimPrinter, Status};
use crate::server::SimHandle;

/// Frame size.
pub const CAMERA_WIDTH: u16 = 320;
/// Frame size.
pub const CAMERA_HEIGHT: u16 = 240;
/// Time between frames (~10 fps).
pub const FRAME_INTERVAL: Duration = Duration::from_millis(100);
/// The multipart boundary (mjpg-streamer's).
pub const BOUNDARY: &str = "boundarydonotcross";

/// How long one write may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a blocked read looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Longest request head.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What a frame shows.
#[derive(Debug, Clone, Copy)]
struct Scene {
    status: Status,
    progress: f64,
    heat: f64,
    led: bool,
}

impl Scene {
    fn of(p: &SimPrinter) -> Self {
        let active = p.busy() || p.status == Status::Completed;
        let n = &p.nozzles[0];
        Self {
            status: p.status,
            progress: p
                .job
                .as_ref()
                .filter(|_| active)
                .map_or(0.0, |j| j.progress()),
            heat: ((n.current - crate::AMBIENT) / 200.0).clamp(0.0, 1.0),
            led: p.led,
        }
    }
}

/// One frame at `t` (time since the stream began) as a baseline JPEG ([`crate::jpeg`]).
fn frame(scene: Scene, t: Duration) -> Vec<u8> {
    let (w, h) = (usize::from(CAMERA_WIDTH), usize::from(CAMERA_HEIGHT));
    let base: u8 = if scene.led { 70 } else { 18 };
    let mut rgb = vec![0u8; w * h * 3];
    let sweep = (t.as_millis() as usize / 10) % w;
    let status = match scene.status {
        Status::Ready => [120, 120, 120],
        Status::Busy => [60, 120, 220],
        Status::Heating => [240, 140, 20],
        Status::Printing => [40, 200, 60],
        Status::Paused => [230, 210, 40],
        Status::Cancelled => [160, 60, 160],
        Status::Completed => [40, 160, 220],
        Status::Error => [220, 30, 30],
    };
    let done = (scene.progress * w as f64) as usize;
    for y in 0..h {
        for x in 0..w {
            let shade = base.saturating_add((y * 40 / h) as u8);
            let mut px = [shade, shade, shade.saturating_add(8)];
            // The bed, and the print growing on it with the progress.
            if (150..200).contains(&y) && (60..260).contains(&x) {
                px = [90, 90, 100];
            }
            let top = 150 - (scene.progress * 80.0) as usize;
            if (top..150).contains(&y) && (130..190).contains(&x) {
                px = [230, 230, 230];
            }
            // The nozzle, glowing with its temperature.
            if (top.saturating_sub(14)..top).contains(&y) && (150..170).contains(&x) {
                let g = (scene.heat * 200.0) as u8;
                px = [55 + g, 60, 60];
            }
            if x.abs_diff(sweep) < 3 {
                px = [250, 250, 250];
            }
            if y >= h - 12 {
                px = if x < done {
                    [40, 200, 60]
                } else {
                    [30, 30, 30]
                };
            }
            if y < 20 && x < 20 {
                px = status;
            }
            rgb[(y * w + x) * 3..][..3].copy_from_slice(&px);
        }
    }
    crate::jpeg::encode(&rgb, CAMERA_WIDTH, CAMERA_HEIGHT)
}

/// Reads the request head; `None` when the client goes away, the server stops, or the head is
/// too long or too slow.
fn read_head(s: &mut &TcpStream, stop: &AtomicBool) -> io::Result<Option<Vec<u8>>> {
    s.set_read_timeout(Some(POLL))?;
    let start = Instant::now();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if stop.load(Ordering::SeqCst) || start.elapsed() > HEAD_TIMEOUT {
            return Ok(None);
        }
        match s.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if memchr::memmem::find(&head, b"\r\n\r\n").is_some()
                    || memchr::memmem::find(&head, b"\n\n").is_some()
                {
                    return Ok(Some(head));
                }
                if head.len() > MAX_HEAD {
                    return Ok(None);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

fn status_only(s: &mut &TcpStream, status: &str) -> io::Result<()> {
    s.write_all(
        format!("HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    )
}

const NO_CACHE: &str = "Cache-Control: no-store, no-cache, must-revalidate, pre-check=0, post-check=0, max-age=0\r\nPragma: no-cache\r\nExpires: Mon, 3 Jan 2000 12:34:56 GMT\r\n";

/// Serves one camera connection of printer `h` until it is done, the client goes away or
/// `stop` is set.
pub(crate) fn serve_camera(
    mut stream: &TcpStream,
    h: &SimHandle,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    let result = serve(&mut stream, h, stop);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    match result {
        // The client going away is how a stream ends.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ) =>
        {
            Ok(())
        }
        r => r,
    }
}

fn serve(s: &mut &TcpStream, h: &SimHandle, stop: &AtomicBool) -> io::Result<()> {
    let Some(head) = read_head(s, stop)? else {
        return Ok(());
    };
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_ascii_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let what = match target {
        "/?action=stream" => "stream",
        "/?action=snapshot" => "snapshot",
        _ => "",
    };
    if !matches!(method, "GET" | "HEAD") || what.is_empty() {
        return status_only(s, "404 Not Found");
    }
    let on = {
        let mut p = h.lock();
        p.log(format!("camera {method} {target}"));
        p.camera_on
    };
    if !on {
        return status_only(s, "503 Service Unavailable");
    }
    let started = Instant::now();
    let scene = || {
        let mut p = h.lock();
        p.advance(Instant::now());
        (p.camera_on, Scene::of(&p))
    };
    if what == "snapshot" {
        let jpeg = frame(scene().1, started.elapsed());
        s.write_all(
            format!(
                "HTTP/1.0 200 OK\r\nConnection: close\r\nServer: MJPG-Streamer/0.2\r\n{NO_CACHE}Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpeg.len()
            )
            .as_bytes(),
        )?;
        if method == "GET" {
            s.write_all(&jpeg)?;
        }
        return Ok(());
    }
    s.write_all(
        format!(
            "HTTP/1.0 200 OK\r\nConnection: close\r\nServer: MJPG-Streamer/0.2\r\n{NO_CACHE}Content-Type: multipart/x-mixed-replace;boundary={BOUNDARY}\r\n\r\n--{BOUNDARY}\r\n"
        )
        .as_bytes(),
    )?;
    if method == "HEAD" {
        return Ok(());
    }
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let (on, sc) = scene();
        if !on {
            break;
        }
        let t = started.elapsed();
        let jpeg = frame(sc, t);
        let mut part = format!(
            "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}.{:06}\r\n\r\n",
            jpeg.len(),
            t.as_secs(),
            t.subsec_micros()
        )
        .into_bytes();
        part.extend_from_slice(&jpeg);
        part.extend_from_slice(format!("\r\n--{BOUNDARY}\r\n").as_bytes());
        s.write_all(&part)?;
        next += FRAME_INTERVAL;
        // Wait for the next frame in short steps, so a stop is seen at once.
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::sleep((next - now).min(POLL));
        }
    }
    Ok(())
}

/// Serves one camera connection (for tests and for a listener bound outside the crate).
#[doc(hidden)]
pub fn serve_camera_connection(
    stream: TcpStream,
    h: &SimHandle,
    stop: &AtomicBool,
) -> io::Result<()> {
    serve_camera(&stream, h, stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PrinterSpec, SimServer};
    use flashforge_proto::Model;
    use std::net::TcpListener;
    use std::sync::Arc;

    fn finish(server: SimServer, addr: std::net::SocketAddr, stop: &AtomicBool) {
        stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(addr); // wakes the test's accept loop
        server.shutdown();
    }

    fn start(model: Model) -> (SimServer, std::net::SocketAddr, Arc<AtomicBool>) {
        let server = SimServer::single(PrinterSpec::new(model)).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (server.printer().clone(), stop.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(c) = c else { continue };
                let (h, st) = (h.clone(), st.clone());
                std::thread::spawn(move || serve_camera(&c, &h, &st));
            }
        });
        (server, addr, stop)
    }

    fn request(addr: std::net::SocketAddr, req: &str) -> TcpStream {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(req.as_bytes()).unwrap();
        c
    }

    fn is_jpeg(b: &[u8]) -> bool {
        b.len() > 100 && b.starts_with(&[0xFF, 0xD8]) && b.ends_with(&[0xFF, 0xD9])
    }

    /// Reads until `n` complete parts have arrived; returns the head and the JPEGs.
    fn read_parts(c: &mut TcpStream, n: usize) -> (String, Vec<Vec<u8>>) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let k = c.read(&mut chunk).unwrap();
            assert!(k > 0, "stream ended early");
            buf.extend_from_slice(&chunk[..k]);
            let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end + 2]).into_owned();
            let mut frames = Vec::new();
            let mut rest = &buf[end + 4..];
            let open = format!("--{BOUNDARY}\r\n");
            assert!(rest.len() < open.len() || rest.starts_with(open.as_bytes()));
            while let Some(r) = rest.strip_prefix(open.as_bytes()) {
                let Some(he) = memchr::memmem::find(r, b"\r\n\r\n") else {
                    break;
                };
                let ph = String::from_utf8_lossy(&r[..he]).into_owned();
                assert!(ph.starts_with("Content-Type: image/jpeg\r\n"), "{ph}");
                let len: usize = ph
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                let body = &r[he + 4..];
                if body.len() < len + 2 {
                    break;
                }
                frames.push(body[..len].to_vec());
                assert_eq!(&body[len..len + 2], b"\r\n");
                rest = &body[len + 2..];
            }
            if frames.len() >= n {
                return (head, frames);
            }
        }
    }

    #[test]
    fn the_stream_is_multipart_jpeg_frames_that_change() {
        let (server, addr, stop) = start(Model::AD5X);
        let mut c = request(addr, "GET /?action=stream HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, frames) = read_parts(&mut c, 3);
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!(
                "Content-Type: multipart/x-mixed-replace;boundary={BOUNDARY}\r\n"
            )),
            "{head}"
        );
        assert!(frames.iter().all(|f| is_jpeg(f)), "FF D8 … FF D9");
        for f in &frames {
            let mut d = jpeg_decoder::Decoder::new(&f[..]);
            assert_eq!(d.decode().expect("decodes").len(), 320 * 240 * 3);
        }
        assert_ne!(frames[0], frames[2], "the picture moves");
        assert!(server
            .printer()
            .lock()
            .journal
            .iter()
            .any(|j| j == "camera GET /?action=stream"));
        // Turning the camera off ends the stream.
        server.printer().lock().camera_on = false;
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        finish(server, addr, &stop);
    }

    #[test]
    fn snapshot_head_not_found_and_camera_off() {
        let (server, addr, stop) = start(Model::Adventurer5MPro);
        let mut c = request(addr, "GET /?action=snapshot HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        let end = memchr::memmem::find(&out, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&out[..end + 2]).into_owned();
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: image/jpeg\r\n"));
        let jpeg = &out[end + 4..];
        assert!(head.contains(&format!("Content-Length: {}\r\n", jpeg.len())));
        assert!(is_jpeg(jpeg));

        let mut c = request(addr, "HEAD /?action=stream HTTP/1.1\r\n\r\n");
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(
            out.starts_with("HTTP/1.0 200 OK\r\n") && out.contains("multipart/x-mixed-replace")
        );

        let mut c = request(addr, "GET /other HTTP/1.1\r\n\r\n");
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.0 404 Not Found\r\n"), "{out}");

        server.printer().lock().camera_on = false;
        let mut c = request(addr, "GET /?action=stream HTTP/1.1\r\n\r\n");
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(
            out.starts_with("HTTP/1.0 503 Service Unavailable\r\n"),
            "{out}"
        );
        finish(server, addr, &stop);
    }

    #[test]
    fn detail_advertises_the_camera_port_of_the_spec() {
        let mut spec = PrinterSpec::new(Model::AD5X);
        let url = |spec: &PrinterSpec| {
            let p = SimPrinter::new(spec.clone(), Instant::now());
            crate::render_detail(&p)["cameraStreamUrl"].clone()
        };
        assert_eq!(url(&spec), "http://127.0.0.1:8080/?action=stream");
        spec.net.camera_port = Some(18_080);
        assert_eq!(url(&spec), "http://127.0.0.1:18080/?action=stream");
        assert_eq!(url(&PrinterSpec::new(Model::Adventurer5M)), "");
    }
}
