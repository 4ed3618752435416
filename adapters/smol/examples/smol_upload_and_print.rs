//! Upload a file with a progress line and start printing it.
//! `cargo run -p flashforge-smol --example smol_upload_and_print [ADDR SERIAL CHECK_CODE [FILE]]`

use std::io::Write;

use flashforge_smol::{Model, Printer, UploadOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let t = flashforge_conformance::example::target(Model::AD5X);
    let creds = t
        .credentials
        .ok_or("this example needs SERIAL and CHECK_CODE")?;
    let printer = Printer::connect(t.endpoint, creds).await?;
    let progress = |p: flashforge_smol::UploadProgress| {
        eprint!("\r{:>5.1} %", p.sent as f64 * 100.0 / p.total.max(1) as f64);
        let _ = std::io::stderr().flush();
    };
    match std::env::args().nth(4) {
        Some(path) => {
            printer
                .upload_file(&path, UploadOptions::default().start(true), progress)
                .await?
        }
        None => {
            let gcode = "G28\nM104 S200\nG1 X10 Y10 F3000\n".repeat(20_000);
            let opts = UploadOptions::default().start(true);
            printer
                .upload(
                    "example.gcode",
                    gcode.len() as u64,
                    gcode.as_bytes(),
                    opts,
                    progress,
                )
                .await?;
        }
    }
    eprintln!();
    println!("printing: {}", printer.status().await?.state.name());
    Ok(())
}
