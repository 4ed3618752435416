//! `flashforge watch`: a live view of one or several printers, polled together.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::Duration;

use flashforge_tokio::Status;

use crate::args::Global;
use crate::exit::{Failure, Result, EXIT_UNREACHABLE};
use crate::output;
use crate::select::{connect, select, Conn, Selected};

/// Poll every future to completion concurrently on the current task (no spawning).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// One printer's latest row and how many polls have ended since the watch began.
struct Row {
    /// The status, or why the latest poll failed with its exit code.
    latest: std::result::Result<Status, (u8, String)>,
    polls: u64,
}

/// Connect for a watch: as any command does, except that a printer whose HTTP port refuses
/// the connection is watched over TCP (an Adventurer 3 or 4 named by address beside a 5M
/// that `--serial`/`--check-code` were given for: it is never asked over HTTP every frame).
async fn connect_watched(g: &Global, s: &Selected) -> Result<Conn> {
    match connect(g, s).await {
        Err(e) if !s.legacy && e.code() == EXIT_UNREACHABLE => {
            let legacy = Selected {
                legacy: true,
                ..s.clone()
            };
            connect(g, &legacy).await.map_err(|_| e)
        }
        r => r,
    }
}

/// Poll one printer on its own schedule, forever, writing each result into `row`. A printer
/// that is slow or silent only delays its own row.
async fn poll_printer(
    g: &Global,
    s: &Selected,
    row: &RefCell<Row>,
    conn: &RefCell<Option<Conn>>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let taken = conn.borrow_mut().take();
        let result = match taken {
            Some(c) => Ok(c),
            None => connect_watched(g, s).await,
        };
        let latest = match result {
            Ok(c) => {
                let r = c.status().await.map_err(Failure::from);
                // A failed poll keeps the connection: the client reconnects on its own.
                *conn.borrow_mut() = Some(c);
                r
            }
            // Unreachable: an error row, tried again next time.
            Err(e) => Err(e),
        };
        let mut r = row.borrow_mut();
        r.latest = latest.map_err(|f| (f.code(), f.message()));
        r.polls += 1;
    }
}

/// Draw a frame every interval from each printer's latest row. The first frame waits, at
/// most one interval, for every printer's first answer. Returns the failures of the last
/// frame when every printer's row in it was an error.
async fn render(
    g: &Global,
    labels: &[String],
    rows: &[RefCell<Row>],
    every: Duration,
    count: Option<u64>,
) -> Option<Vec<(String, (u8, String))>> {
    let tty = std::io::stdout().is_terminal() && !g.json;
    let first_by = tokio::time::Instant::now() + every;
    while tokio::time::Instant::now() < first_by && rows.iter().any(|r| r.borrow().polls == 0) {
        tokio::time::sleep(Duration::from_millis(10).min(every)).await;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let frame: Vec<_> = labels
            .iter()
            .zip(rows)
            .map(|(label, r)| {
                let row = r.borrow().latest.clone().map_err(|(_, message)| message);
                (label.clone(), row)
            })
            .collect();
        output::watch_frame(&frame, g.json, tty);
        n += 1;
        if count.is_some_and(|c| n >= c) {
            let failures: Vec<_> = labels
                .iter()
                .zip(rows)
                .filter_map(|(l, r)| r.borrow().latest.clone().err().map(|f| (l.clone(), f)))
                .collect();
            return (failures.len() == labels.len()).then_some(failures);
        }
    }
}

pub(crate) async fn run(g: &Global, interval: f64, count: Option<u64>) -> Result {
    let names: Vec<Option<&str>> = if g.printer.is_empty() {
        vec![None]
    } else {
        g.printer.iter().map(|p| Some(p.as_str())).collect()
    };
    let mut selected = Vec::new();
    for n in names {
        selected.push(select(g, n).await?);
    }
    let every = Duration::from_secs_f64(interval.max(0.1));
    // Each printer is polled on its own schedule; frames are drawn on theirs. A printer that
    // cannot be reached is an error row and is retried every interval; it never holds back
    // the others' rows.
    let rows: Vec<RefCell<Row>> = selected
        .iter()
        .map(|_| {
            RefCell::new(Row {
                latest: Err((EXIT_UNREACHABLE, "no answer yet".to_owned())),
                polls: 0,
            })
        })
        .collect();
    let conns: Vec<RefCell<Option<Conn>>> = selected.iter().map(|_| RefCell::new(None)).collect();
    let labels: Vec<String> = selected.iter().map(|s| s.label.clone()).collect();
    let pollers = selected
        .iter()
        .zip(rows.iter().zip(&conns))
        .map(|(s, (row, conn))| poll_printer(g, s, row, conn, every))
        .collect();
    let all_failed = tokio::select! {
        failed = render(g, &labels, &rows, every, count) => failed,
        _ = join_all(pollers) => None,
    };
    for c in &conns {
        let taken = c.borrow_mut().take();
        if let Some(p) = taken {
            p.close().await;
        }
    }
    match all_failed {
        // Scripts can tell a watch that saw nothing: the first printer's error decides the
        // exit code (3 unreachable, 4 credentials, 9 no answer, …).
        Some(failures) => {
            let (label, (code, message)) = &failures[0];
            let others: Vec<&str> = failures[1..].iter().map(|(l, _)| l.as_str()).collect();
            let also = if others.is_empty() {
                String::new()
            } else {
                format!(" (and {} failed too)", others.join(", "))
            };
            Err(Failure::new(
                *code,
                format!("every printer failed its last update; {label}: {message}{also}"),
            ))
        }
        None => Ok(()),
    }
}
