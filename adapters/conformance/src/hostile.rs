//! The hostile-printer table: every misbehaviour the simulator can be switched to, run through
//! one adapter, each with its expected outcome, a time bound and a memory check, and the next
//! call on the same client.
//!
//! [`hostile!`](crate::hostile) writes one test, `hostile_printers`, which runs every [`Case`]
//! of [`cases`] and prints one row per case (`cargo test --test hostile -- --nocapture` shows
//! the table):
//!
//! ```text
//! HOSTILE | case | adapter | outcome | ms | rss+KiB
//! ```
//!
//! A case passes when the call ends with the expected outcome before `bound` (the deadline the
//! case runs under plus a slack stated with the case, generous for a loaded machine), the
//! process grew by less than [`MAX_RSS_GROWTH_KIB`], and the next call on the same client
//! succeeds.

use std::time::Duration;

use flashforge_proto::client::ClientError;
use flashforge_proto::Model;
use flashforge_sim::{HttpFault, SimHandle, TcpFault};

/// What a case calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `status()`.
    Status,
    /// `info()`.
    Info,
}

/// What the call must end with.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Success.
    Ok,
    /// Success or a typed error other than `Usage`/`Unsupported` (a harmless misbehaviour
    /// the client may absorb or report).
    Either,
    /// An error the predicate accepts.
    Err(fn(&ClientError) -> bool),
}

/// One misbehaving printer.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Its name in the table.
    pub name: &'static str,
    /// The printer model simulated.
    pub model: Model,
    /// Switch the fault on (once: the next reply misbehaves).
    pub fault: fn(&SimHandle),
    /// The call made under the fault.
    pub call: Call,
    /// Its expected outcome.
    pub expect: Expect,
    /// The time it must end within: the case's deadline plus slack.
    pub bound: Duration,
}

/// How much the process may grow over one case, in KiB (a 1 MiB endless line is read and
/// dropped; nothing may be kept).
pub const MAX_RSS_GROWTH_KIB: u64 = 32 * 1024;

fn timed_out(e: &ClientError) -> bool {
    matches!(e, ClientError::TimedOut)
}
fn protocol(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Protocol(_) | ClientError::UnexpectedReply(_)
    )
}
fn protocol_or_cut(e: &ClientError) -> bool {
    protocol(e)
        || matches!(
            e,
            ClientError::Incomplete { .. } | ClientError::Disconnected
        )
}
fn unauthorized(e: &ClientError) -> bool {
    matches!(e, ClientError::Unauthorized)
}
fn busy(e: &ClientError) -> bool {
    matches!(e, ClientError::Busy(_))
}
fn lan_mode_off(e: &ClientError) -> bool {
    matches!(e, ClientError::LanModeOff)
}

/// Reply deadline of [`crate::options`] (1.5 s) plus 6 s slack for a loaded machine.
const DEADLINE: Duration = Duration::from_millis(7500);
/// A case that should end at once (a typed refusal, a broken reply): 5 s of slack.
const AT_ONCE: Duration = Duration::from_secs(5);

/// Every case, TCP (Adventurer 4) and HTTP (Adventurer 5M Pro).
pub fn cases() -> Vec<Case> {
    let tcp = |name, fault, call, expect, bound| Case {
        name,
        model: Model::Adventurer4,
        fault,
        call,
        expect,
        bound,
    };
    let http = |name, fault, expect, bound| Case {
        name,
        model: Model::Adventurer5MPro,
        fault,
        call: Call::Status,
        expect,
        bound,
    };
    vec![
        tcp(
            "tcp: silent (never answers)",
            |h| h.faults.push_tcp(TcpFault::Stall),
            Call::Info,
            Expect::Err(timed_out),
            DEADLINE,
        ),
        tcp(
            "tcp: closes without a reply (query asked again once)",
            |h| h.faults.push_tcp(TcpFault::Close),
            Call::Info,
            Expect::Ok,
            DEADLINE,
        ),
        tcp(
            "tcp: closes mid-reply (query asked again once)",
            |h| h.faults.push_tcp(TcpFault::CloseMidReply),
            Call::Info,
            Expect::Ok,
            DEADLINE,
        ),
        tcp(
            "tcp: drips one byte per ms",
            |h| h.faults.push_tcp(TcpFault::Drip(Duration::from_millis(1))),
            Call::Info,
            Expect::Ok,
            DEADLINE,
        ),
        tcp(
            "tcp: 2 s pause inside ~M115",
            |h| {
                h.faults
                    .push_tcp(TcpFault::PauseAfter(40, Duration::from_secs(2)))
            },
            Call::Info,
            Expect::Either,
            DEADLINE,
        ),
        tcp(
            "tcp: garbage instead of the reply",
            |h| h.faults.push_tcp(TcpFault::Garbage),
            Call::Info,
            Expect::Either,
            DEADLINE,
        ),
        tcp(
            "tcp: 1 MiB line without an end",
            |h| h.faults.push_tcp(TcpFault::Oversize),
            Call::Info,
            Expect::Err(protocol_or_cut),
            DEADLINE,
        ),
        tcp(
            "tcp: unsolicited lines first",
            |h| h.faults.push_tcp(TcpFault::Unsolicited),
            Call::Info,
            Expect::Either,
            DEADLINE,
        ),
        tcp(
            "tcp: an extra ok after the reply",
            |h| h.faults.push_tcp(TcpFault::ExtraOk),
            Call::Status,
            Expect::Ok,
            DEADLINE,
        ),
        http(
            "http: 500",
            |h| h.faults.push_http(HttpFault::Status(500)),
            Expect::Err(protocol),
            AT_ONCE,
        ),
        http(
            "http: 401 (credentials)",
            |h| h.faults.push_http(HttpFault::Status(401)),
            Expect::Err(unauthorized),
            AT_ONCE,
        ),
        http(
            "http: 403 (credentials)",
            |h| h.faults.push_http(HttpFault::Status(403)),
            Expect::Err(unauthorized),
            AT_ONCE,
        ),
        http(
            "http: truncated body then close",
            |h| h.faults.push_http(HttpFault::TruncatedBody),
            Expect::Err(protocol_or_cut),
            DEADLINE,
        ),
        http(
            "http: HTML instead of JSON",
            |h| h.faults.push_http(HttpFault::NonJson),
            Expect::Err(protocol),
            AT_ONCE,
        ),
        http(
            "http: every value of the wrong type",
            |h| h.faults.push_http(HttpFault::WrongTypes),
            Expect::Either,
            AT_ONCE,
        ),
        http(
            "http: silent (never answers)",
            |h| h.faults.push_http(HttpFault::Stall),
            Expect::Err(timed_out),
            DEADLINE,
        ),
        http(
            "http: closes a kept-alive connection (read asked again once)",
            |h| h.faults.push_http(HttpFault::Close),
            Expect::Ok,
            DEADLINE,
        ),
        // A few KiB of `/detail` at a byte per ms is close to the 1.5 s deadline: either
        // outcome, but within the deadline.
        http(
            "http: drips one byte per ms",
            |h| {
                h.faults
                    .push_http(HttpFault::Drip(Duration::from_millis(1)))
            },
            Expect::Either,
            DEADLINE,
        ),
        http(
            "http: refuses with code 3 (credentials)",
            |h| h.faults.push_http(HttpFault::Refuse(3)),
            Expect::Err(unauthorized),
            AT_ONCE,
        ),
        http(
            "http: refuses with code 5 (busy)",
            |h| h.faults.push_http(HttpFault::Refuse(5)),
            Expect::Err(busy),
            AT_ONCE,
        ),
        http(
            "http: refuses with code -2 (LAN mode off)",
            |h| h.faults.push_http(HttpFault::Refuse(-2)),
            Expect::Err(lan_mode_off),
            AT_ONCE,
        ),
    ]
}

/// Whether `r` is what `expect` asks for.
pub fn outcome_ok<T>(expect: Expect, r: &Result<T, ClientError>) -> bool {
    match (expect, r) {
        (Expect::Ok, Ok(_)) | (Expect::Either, Ok(_)) => true,
        (Expect::Either, Err(e)) => {
            !matches!(e, ClientError::Usage(_) | ClientError::Unsupported { .. })
        }
        (Expect::Err(f), Err(e)) => f(e),
        _ => false,
    }
}

/// The hostile-printer table through one adapter (see the [module docs](crate::hostile)).
/// Arguments as for [`suite!`](crate::suite).
#[macro_export]
macro_rules! hostile {
    ($ff:ident, $run:path) => {
        #[test]
        fn hostile_printers() {
            use std::time::Instant;
            use $crate::hostile::{cases, outcome_ok, Call, MAX_RSS_GROWTH_KIB};
            use $ff::{Model, Printer};

            let adapter = stringify!($ff);
            let mut failures = Vec::new();
            println!("HOSTILE | case | adapter | outcome | ms | rss+KiB");
            for case in cases() {
                let server = $crate::sim(case.model);
                let h = server.printer();
                let b = Printer::builder().options($crate::options());
                let legacy;
                let modern;
                let p: &Printer = if case.model.is_tcp_only() {
                    legacy = $run(b.connect_legacy($crate::endpoint(h))).expect("connect");
                    &legacy
                } else {
                    modern = $run(b.connect($crate::endpoint(h), $crate::credentials(h)))
                        .expect("connect");
                    &modern
                };
                $run(p.status()).expect("status before the fault");
                let rss0 = $crate::rss_kib().unwrap_or(0);
                (case.fault)(h);
                let t0 = Instant::now();
                let r = match case.call {
                    Call::Status => $run(p.status()).map(|_| ()),
                    Call::Info => $run(p.info()).map(|_| ()),
                };
                let took = t0.elapsed();
                let grew = $crate::rss_kib().unwrap_or(0).saturating_sub(rss0);
                h.faults.clear();
                let next = $run(p.status());
                let outcome = match &r {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => format!("{e:?}"),
                };
                println!(
                    "HOSTILE | {} | {adapter} | {outcome} | {} | {grew}",
                    case.name,
                    took.as_millis()
                );
                if !outcome_ok(case.expect, &r) {
                    failures.push(format!("{}: unexpected outcome {outcome}", case.name));
                }
                if took > case.bound {
                    failures.push(format!("{}: took {took:?} > {:?}", case.name, case.bound));
                }
                if grew > MAX_RSS_GROWTH_KIB {
                    failures.push(format!("{}: grew {grew} KiB", case.name));
                }
                if let Err(e) = next {
                    failures.push(format!("{}: the next call failed: {e}", case.name));
                }
                let _: Model = case.model;
            }
            assert!(failures.is_empty(), "{failures:#?}");
        }
    };
}
