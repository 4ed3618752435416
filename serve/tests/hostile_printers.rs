//! Printers that misbehave on the wire, through the server: garbage, a reply cut short, a
//! connection reset mid-reply, a stall, a drip, wrong JSON. Each shows offline with a typed
//! kind (never stale data as if fresh), the other printers stay online, and the printer
//! comes back once it behaves.

mod common;

use std::time::{Duration, Instant};

use common::*;
use flashforge_proto::Model;
use flashforge_sim::FaultRule;

async fn wait(f: &Farm, what: &str, cond: impl Fn(&[flashforge_serve::Snapshot]) -> bool) {
    let t0 = Instant::now();
    loop {
        let snaps: Vec<_> = f
            .server
            .farm()
            .slots()
            .iter()
            .map(|s| s.snapshot())
            .collect();
        if cond(&snaps) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "{what}: {:#?}",
            snaps
                .iter()
                .map(|s| (&s.id, s.online, &s.error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_printers_go_offline_typed_and_come_back() {
    // The 5M is polled over HTTP (/detail), the Adventurer 4 over TCP; the Creator 5 stays
    // well-behaved throughout.
    let f = start_with(
        &[Model::Adventurer5M, Model::Adventurer4, Model::Creator5],
        |c| {
            c.interval = Duration::from_millis(200);
            c.client = flashforge_tokio::ClientOptions::default()
                .reply_timeout(Duration::from_millis(700))
                .connect_timeout(Duration::from_millis(700))
                .call_wait_limit(Duration::from_millis(700));
        },
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let codes: Vec<String> = f.sims.printers().iter().map(|h| h.check_code()).collect();
    let cases: [(usize, &str, &[&str]); 9] = [
        (
            0,
            "http-truncated@/detail",
            &["incomplete", "protocol", "timeout"],
        ),
        (0, "http-non-json@/detail", &["protocol"]),
        (
            0,
            "http-close@/detail",
            &["timeout", "incomplete", "protocol"],
        ),
        (0, "http-stall@/detail", &["timeout"]),
        (0, "http-500@/detail", &["other", "protocol"]),
        (1, "tcp-garbage", &["protocol", "timeout", "incomplete"]),
        (
            1,
            "tcp-close-mid-reply",
            &["incomplete", "timeout", "protocol"],
        ),
        (1, "tcp-stall", &["timeout"]),
        (1, "tcp-oversize", &["protocol", "incomplete", "timeout"]),
    ];
    for (i, rule, kinds) in cases {
        let h = &f.sims.printers()[i];
        h.faults.inject(rule.parse::<FaultRule>().unwrap());
        wait(&f, &format!("{rule}: offline"), |s| {
            !s[i].online && s[i].error.as_ref().is_some_and(|e| kinds.contains(&e.kind))
        })
        .await;
        let e = f.server.farm().slots()[i].snapshot().error.unwrap();
        for c in &codes {
            assert!(
                !e.error.contains(c.as_str()),
                "{rule}: check code in the error"
            );
        }
        // The well-behaved printer kept being polled.
        let before = f.server.farm().slots()[2].snapshot().polls;
        wait(&f, &format!("{rule}: the others polled"), |s| {
            s[2].online && s[2].polls >= before + 2
        })
        .await;
        h.clear_faults();
        wait(&f, &format!("{rule}: back online"), |s| {
            s[i].online && s[i].error.is_none()
        })
        .await;
    }
    // A drip (one byte at a time) is slow, not wrong: the printer stays online or, when
    // the drip outlasts the deadline, is a timeout; never wrong data.
    let h = &f.sims.printers()[0];
    h.faults
        .inject("http-drip-1@/detail".parse::<FaultRule>().unwrap());
    let polls = f.server.farm().slots()[0].snapshot().polls;
    wait(&f, "drip: polled or timed out", |s| {
        s[0].polls > polls || s[0].error.as_ref().is_some_and(|e| e.kind == "timeout")
    })
    .await;
    let st = f.server.farm().slots()[0].snapshot();
    if st.online {
        assert_eq!(st.status.unwrap().state.name(), "Ready");
    }
    h.clear_faults();
    wait(&f, "drip: back online", |s| s[0].online).await;
    f.stop().await;
}
