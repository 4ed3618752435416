//! The async client reads time only through `Runtime::now` (tokio's clock), so its deadlines
//! follow a paused clock: a printer that never answers fails the request after the configured
//! read deadline in virtual time, at once in real time.

use std::net::TcpListener;
use std::time::Duration;

use flashforge_tokio::{ClientOptions, Credentials, Endpoint, Error, Printer};

#[tokio::test(start_paused = true)]
async fn http_read_deadline_passes_on_the_paused_clock() {
    // A printer whose HTTP port accepts (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let endpoint = Endpoint::new(std::net::Ipv4Addr::LOCALHOST).with_ports(8899, port);
    let mut options = ClientOptions::default().connect_timeout(Duration::from_secs(3600));
    options.http.read_timeout = Duration::from_secs(120);
    let creds = Credentials::new("SN0001", "12345678").expect("credentials");

    let real = std::time::Instant::now();
    let virtual_start = tokio::time::Instant::now();
    let e = Printer::builder()
        .options(options)
        .connect(endpoint, creds)
        .await
        .expect_err("nobody answers /detail");
    assert!(matches!(e, Error::TimedOut), "{e:?}");
    // Two minutes passed on the runtime's clock: the deadline, not a moment earlier ...
    let waited = virtual_start.elapsed();
    assert!(waited >= Duration::from_secs(120), "{waited:?}");
    assert!(waited < Duration::from_secs(125), "{waited:?}");
    // ... and none on the wall clock.
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "{:?}",
        real.elapsed()
    );
}
