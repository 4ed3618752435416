//! The client raises the soft descriptor limit to the hard one before its first connection, so
//! a farm larger than the common 1,024 default fits. (Its own test binary: the limit belongs
//! to the process.)

use flashforge_blocking::Printer;
use flashforge_conformance::{credentials, endpoint};
use flashforge_proto::Model;
use flashforge_sim::{PrinterSpec, SimServer};

#[test]
fn connecting_raises_the_soft_limit_so_more_printers_fit_than_it_allowed() {
    let sim = SimServer::single(PrinterSpec::new(Model::Adventurer5M)).unwrap();
    let h = sim.printer().clone();
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let low = 128;
    if hard < 2 * low + 64 {
        eprintln!("SKIP: the hard descriptor limit ({hard}) is too low for this test");
        return;
    }
    rlimit::setrlimit(rlimit::Resource::NOFILE, low, hard).unwrap();
    // 200 printers hold 200 client and 200 simulator descriptors: three times the low limit.
    let printers: Vec<_> = (0..200)
        .map(|i| {
            Printer::connect(endpoint(&h), credentials(&h))
                .unwrap_or_else(|e| panic!("printer {i}: {e}"))
        })
        .collect();
    for p in &printers {
        p.status().unwrap();
    }
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    assert_eq!(soft, hard, "the soft limit was raised to the hard limit");
}
