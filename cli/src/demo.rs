//! `flashforge demo`: the main job, end to end, against printers simulated in-process.

use std::time::{Duration, Instant};

use flashforge_proto::Model;
use flashforge_tokio::{DiscoverOptions, Printer, UploadOptions};

use crate::args::{Global, SimArgs};
use crate::exit::{Failure, Result, EXIT_OTHER};
use crate::output::{self, emit};
use crate::select::options;
use crate::sim;

fn step(t0: Instant, what: &str) {
    emit("");
    emit(&format!(
        "── {what}  (+{:.1} s)",
        t0.elapsed().as_secs_f64()
    ));
}

pub(crate) async fn run(speed: f64, g: &Global) -> Result {
    let t0 = Instant::now();
    let models = vec![
        Model::Adventurer5MPro,
        Model::AD5X,
        Model::Creator5Pro,
        Model::Adventurer3,
    ];
    let args = SimArgs {
        models: models.clone(),
        speed: Some(speed),
        ..SimArgs::default()
    };
    let server = sim::start(&args)?;
    emit(&format!(
        "flashforge demo: {} simulated printers on 127.0.0.1 (jobs run {speed}× faster)",
        models.len()
    ));

    step(t0, "discover (unicast probes on loopback)");
    let targets: Vec<_> = server.printers().iter().map(|h| h.udp).collect();
    let found = flashforge_tokio::discover(
        &DiscoverOptions::unicast(targets).timeout(Duration::from_secs(3)),
    )
    .await?;
    output::discovered(&found, false, false);

    step(t0, "status of every printer");
    let mut printers = Vec::new();
    for h in server.printers() {
        let model = h.lock().spec.model;
        let b = Printer::builder().options(options(g));
        let p = match h.credentials() {
            Some(creds) => b.connect(h.endpoint(), creds).await?,
            None => b.connect_legacy(h.endpoint()).await?.into_inner(),
        };
        output::status(model.name(), &p.status().await?, false);
        printers.push(p);
    }

    let ad5x = &printers[1];
    step(
        t0,
        "upload a 4 MiB G-code file to the AD5X and start printing",
    );
    let gcode = demo_gcode(4 << 20);
    let bar = output::progress_bar(gcode.len() as u64, g.quiet);
    ad5x.upload(
        "demo-cube.gcode",
        gcode.len() as u64,
        gcode.as_slice(),
        UploadOptions::default().start(true),
        |p| {
            bar.set_position(p.sent);
            // Slow enough to see the bar move; the upload itself takes milliseconds.
            std::thread::sleep(Duration::from_millis(15));
        },
    )
    .await?;
    bar.finish_and_clear();
    emit("uploaded demo-cube.gcode (4 MiB), print started");

    step(t0, "watch the AD5X for a few seconds");
    for _ in 0..4 {
        output::status("AD5X", &ad5x.status().await?, false);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    step(t0, "pause, resume, cancel");
    ad5x.pause().await?;
    emit(&format!("paused   → {}", ad5x.status().await?.state.name()));
    ad5x.resume().await?;
    emit(&format!("resumed  → {}", ad5x.status().await?.state.name()));
    ad5x.cancel().await?;
    emit(&format!("cancel   → {}", ad5x.status().await?.state.name()));
    ad5x.clear_platform().await?;
    emit(&format!("cleared  → {}", ad5x.status().await?.state.name()));

    step(t0, "thumbnail of the uploaded file");
    let thumb = ad5x.thumbnail("demo-cube.gcode").await?;
    let path = std::env::temp_dir().join("flashforge-demo-thumbnail.png");
    std::fs::write(&path, &thumb.image)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", path.display())))?;
    emit(&format!(
        "saved {} ({} bytes, {}×{})",
        path.display(),
        thumb.image.len(),
        thumb.width.unwrap_or(0),
        thumb.height.unwrap_or(0)
    ));

    for p in &printers {
        p.close().await;
    }
    drop(printers);
    server.shutdown();
    emit("");
    emit(&format!(
        "demo finished in {:.1} s. Next: `flashforge sim` to keep printers running, then `flashforge --printer ADDR status`.",
        t0.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Plausible G-code of `size` bytes, with a slicer's embedded thumbnail (a 96×96 square),
/// which the printer serves back for it.
fn demo_gcode(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    out.extend_from_slice(b"; flashforge demo\n");
    let png = flashforge_sim::solid_png(96, 96, [0xF2, 0x8C, 0x28]);
    out.extend_from_slice(flashforge_sim::thumbnail_block(&png, 96, 96).as_bytes());
    out.extend_from_slice(b"G28\nM104 S210\nM140 S60\n");
    let mut i = 0u64;
    while out.len() < size {
        let x = 50.0 + (i % 100) as f64 * 0.5;
        let y = 50.0 + (i / 100 % 100) as f64 * 0.5;
        out.extend_from_slice(
            format!("G1 X{x:.2} Y{y:.2} E{:.4} F3000\n", i as f64 * 0.01).as_bytes(),
        );
        i += 1;
    }
    out.truncate(size);
    out
}
