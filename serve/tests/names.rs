//! File names a printer would show differently than they are: refused on every protocol
//! before anything is sent.

mod common;

use std::time::Duration;

use common::*;
use flashforge_proto::Model;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_spaces_at_either_end_are_refused_everywhere() {
    let f = start(
        &[Model::Adventurer3, Model::Adventurer5MPro],
        Duration::from_millis(300),
        false,
    )
    .await;
    f.wait_online(Duration::from_secs(20)).await;
    let addr = f.addr;
    let ids = f.ids();
    let sims: Vec<_> = f.sims.printers().to_vec();
    tokio::task::spawn_blocking(move || {
        for (id, h) in ids.iter().zip(&sims) {
            for q in ["%20ws.gcode", "ws.gcode%20", "%20", "%E3%80%80ws.gcode"] {
                let r = request(
                    addr,
                    "PUT",
                    &format!("/api/v1/printers/{id}/files/{q}"),
                    Some(&bearer()),
                    Some(("application/octet-stream", b"G28\n")),
                );
                assert_eq!(r.status, 400, "{id} {q}: {}", r.text());
                assert_eq!(r.json()["kind"], "usage", "{id} {q}");
            }
            assert!(h.lock().file("ws.gcode").is_none(), "{id}");
            // Nor may such a name be printed or asked for its thumbnail: the Adventurer 3 trims
            // the name it is sent, so ` ws.gcode` would print (or show) `ws.gcode`.
            let up = request(
                addr,
                "PUT",
                &format!("/api/v1/printers/{id}/files/ws.gcode"),
                Some(&bearer()),
                Some(("application/octet-stream", b"G28\n")),
            );
            assert_eq!(up.status, 201, "{id}: {}", up.text());
            for q in ["%20ws.gcode", "ws.gcode%20"] {
                let r = request(
                    addr,
                    "GET",
                    &format!("/api/v1/printers/{id}/files/{q}/thumbnail"),
                    Some(&bearer()),
                    None,
                );
                assert_eq!(r.status, 400, "{id} {q}: {}", r.text());
                let name = q.replace("%20", " ");
                let body = serde_json::json!({ "file": name }).to_string();
                let r = request(
                    addr,
                    "POST",
                    &format!("/api/v1/printers/{id}/print"),
                    Some(&bearer()),
                    Some(("application/json", body.as_bytes())),
                );
                assert_eq!(r.status, 400, "{id} {q}: {}", r.text());
            }
        }
    })
    .await
    .unwrap();
    f.stop().await;
}
