//! `flashforge watch`: a live view of one or several printers, polled together.

use std::io::IsTerminal;
use std::time::Duration;

use crate::args::Global;
use crate::exit::Result;
use crate::output;
use crate::select::{connect, select, Conn};

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
    // A printer that cannot be reached shows as an error row and is retried every frame;
    // it does not end the watch of the others.
    let mut conns: Vec<Option<Conn>> = selected.iter().map(|_| None).collect();
    let tty = std::io::stdout().is_terminal() && !g.json;
    let every = Duration::from_secs_f64(interval.clamp(0.1, 3600.0));
    let mut tick = tokio::time::interval(every);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let missing: Vec<bool> = conns.iter().map(Option::is_none).collect();
        let connects = selected
            .iter()
            .zip(missing)
            .map(|(s, missing)| async move {
                if missing {
                    Some(connect(g, s).await)
                } else {
                    None
                }
            })
            .collect();
        let connected = join_all(connects).await;
        let mut errors: Vec<Option<String>> = Vec::new();
        for (slot, r) in conns.iter_mut().zip(connected) {
            errors.push(match r {
                Some(Ok(c)) => {
                    *slot = Some(c);
                    None
                }
                Some(Err(e)) => Some(e.message().to_owned()),
                None => None,
            });
        }
        // All printers at once: a slow or silent one does not hold back the others' rows.
        let polls = conns
            .iter()
            .map(|c| async move {
                match c {
                    Some(p) => Some(p.status().await),
                    None => None,
                }
            })
            .collect();
        let results = join_all(polls).await;
        let frame: Vec<_> = selected
            .iter()
            .zip(results.into_iter().zip(errors))
            .map(|(s, (r, err))| {
                let row = match (r, err) {
                    (Some(Ok(st)), _) => Ok(st),
                    (Some(Err(e)), _) => Err(e.to_string()),
                    (None, Some(e)) => Err(e),
                    (None, None) => Err("not connected".to_owned()),
                };
                (s.label.clone(), row)
            })
            .collect();
        output::watch_frame(&frame, g.json, tty);
        n += 1;
        if count.is_some_and(|c| n >= c) {
            break;
        }
    }
    for p in conns.iter().flatten() {
        p.close().await;
    }
    Ok(())
}
