//! The subcommands: `run` sends each to its module (`sim`, `demo`, `watch`, `decode`) or, for
//! one printer, selects it, connects and runs it here.

use std::io::Write;

use flashforge_proto::driver::Op;
use flashforge_proto::http::Rgb;
use flashforge_proto::Model;
use flashforge_tokio::{Axis, Error as ClientError, Heater, JobOptions, Printer, UploadOptions};

use crate::args::{Args, AxisArg, CameraAction, Cmd, Global, OnOff, TempAction};
use crate::exit::{Failure, Result, EXIT_ABORTED, EXIT_OTHER, EXIT_USAGE};
use crate::select::{connect, run_discovery, select, Selected};
use crate::{demo, output, serve, watch};

fn heater(name: &str) -> Result<Heater> {
    Heater::from_name(name).ok_or_else(|| {
        Failure::new(
            EXIT_USAGE,
            format!("unknown heater `{name}` (nozzle, tool0..tool3, bed, chamber)"),
        )
    })
}

fn color(s: &str) -> Result<Rgb> {
    let h = s.trim_start_matches('#');
    let bad = || Failure::new(EXIT_USAGE, format!("colour `{s}` is not #RRGGBB"));
    // ASCII first: the byte slices below must fall on character boundaries.
    if h.len() != 6 || !h.is_ascii() {
        return Err(bad());
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| bad());
    Ok(Rgb([byte(0)?, byte(2)?, byte(4)?]))
}

fn mapping(s: &str) -> Result<flashforge_proto::http::MaterialMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || {
        Failure::new(
            EXIT_USAGE,
            format!("material map `{s}` is not TOOL:SLOT:MATERIAL:#RRGGBB"),
        )
    };
    let [tool, slot, material, col] = parts.as_slice() else {
        return Err(bad());
    };
    let col = color(col)?;
    Ok(flashforge_proto::http::MaterialMapping {
        tool_id: tool.parse().map_err(|_| bad())?,
        slot_id: slot.parse().map_err(|_| bad())?,
        material_name: (*material).to_owned(),
        tool_color: col,
        slot_color: col,
    })
}

/// The size of the file to upload; a usage error (exit 2) when it is not a regular file.
fn upload_size(file: &std::path::Path) -> Result<u64> {
    let meta = std::fs::metadata(file)
        .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", file.display())))?;
    Ok(flashforge_proto::driver::check_regular_file(file, &meta)?)
}

fn confirm(question: &str) -> Result<bool> {
    // The question names the printer, whose name the printer chose.
    eprint!("{} [y/N] ", crate::term::clean(question));
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

pub(crate) async fn run(args: Args) -> Result {
    let g = &args.global;
    match &args.command {
        Cmd::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut crate::args::completion_command(),
                "flashforge",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        Cmd::Decode {
            parser,
            command,
            file,
        } => return output::decode(parser.as_deref(), command.as_deref(), file),
        Cmd::Sim(_) => {
            return Err(Failure::new(
                EXIT_USAGE,
                "`flashforge sim` takes its own options after `sim` (see `flashforge sim --help`)",
            ))
        }
        Cmd::Demo { speed } => return demo::run(*speed, g).await,
        Cmd::Serve(a) => return serve::run(a, g).await,
        Cmd::Discover {
            seconds,
            max_printers,
        } => {
            let found = run_discovery(g, *seconds, *max_printers as usize).await?;
            output::discovered(&found.printers, found.stats.truncated, g.json);
            return Ok(());
        }
        Cmd::Watch { interval, count } => return watch::run(g, *interval, *count).await,
        _ => {}
    }
    if let Cmd::Upload { file, .. } = &args.command {
        // Before the printer is looked up or logged into: a path that is not a regular file
        // sends nothing (and a FIFO is never opened).
        upload_size(file)?;
    }
    let s = select(g, g.printer.first().map(String::as_str)).await?;
    check_ranges(&args.command, &s)?;
    let p = connect(g, &s).await?;
    let r = command(&args.command, g, &s, &p).await;
    p.close().await;
    r
}

fn axis(a: AxisArg) -> Axis {
    match a {
        AxisArg::X => Axis::X,
        AxisArg::Y => Axis::Y,
        AxisArg::Z => Axis::Z,
    }
}

/// The core's range checks before connecting, so nothing (not even the login) is sent for a
/// value out of range: for the model when it is known before connecting (`--printer-model`,
/// the profile, discovery), else with the widest bounds of any model. The planner checks
/// again against the model the printer reports.
fn check_ranges(cmd: &Cmd, s: &Selected) -> Result {
    let op = match cmd {
        Cmd::Temp {
            action: TempAction::Set { heater: h, celsius },
        } => Op::SetTemperature(heater(h)?, Some(*celsius)),
        Cmd::Move { axis: a, mm } => Op::Jog(axis(*a), *mm),
        Cmd::Fan { percent } => Op::Fan(*percent),
        _ => return Ok(()),
    };
    op.check_ranges(s.model.unwrap_or(Model::Unknown))
        .map_err(|e| ClientError::Usage(e).into())
}

async fn command(cmd: &Cmd, g: &Global, s: &Selected, p: &Printer) -> Result {
    let ok = |what: &str| {
        output::done(what, g.json);
        Ok(())
    };
    match cmd {
        Cmd::Status => output::status(&s.label, &p.status().await?, g.json),
        Cmd::Info => output::info(&p.info().await?, &p.capabilities(), g.json),
        Cmd::Temps => output::temps(&p.temperatures().await?, g.json),
        Cmd::Temp { action } => match action {
            TempAction::Set { heater: h, celsius } => {
                p.set_temperature(heater(h)?, *celsius).await?;
                return ok(&format!("{h} target {celsius} °C"));
            }
            TempAction::Off { heater: h } if h == "all" => {
                p.temperatures_off().await?;
                return ok("all heaters off");
            }
            TempAction::Off { heater: h } => {
                p.heater_off(heater(h)?).await?;
                return ok(&format!("{h} off"));
            }
        },
        Cmd::Files => {
            let full = match p.files().await {
                Ok(f) => Some(f),
                Err(ClientError::Unsupported { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let recent = match p.recent_files().await {
                Ok(f) => Some(f),
                Err(ClientError::Unsupported { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            output::files(full.as_deref(), recent.as_deref(), g.json);
        }
        Cmd::Thumb { file, output: out } => {
            let t = p.thumbnail(file).await?;
            std::fs::write(out, &t.image)
                .map_err(|e| Failure::new(EXIT_OTHER, format!("{}: {e}", out.display())))?;
            return ok(&format!(
                "thumbnail of {file} saved to {} ({} bytes)",
                out.display(),
                t.image.len()
            ));
        }
        Cmd::Upload {
            file,
            print,
            level,
            material_map,
        } => {
            let mut job = JobOptions {
                leveling: *level,
                ..JobOptions::default()
            };
            for m in material_map {
                job.mappings.push(mapping(m)?);
            }
            let size = upload_size(file)?;
            let bar = output::progress_bar(size, g.quiet || g.json);
            let opts = UploadOptions::default().start(*print).job(job);
            p.upload_file(file, opts, |pr| bar.set_position(pr.sent))
                .await?;
            bar.finish_and_clear();
            return ok(&format!(
                "uploaded {} ({size} bytes){}",
                file.display(),
                if *print { ", printing" } else { "" }
            ));
        }
        Cmd::Print { file, level } => {
            let job = JobOptions {
                leveling: *level,
                ..JobOptions::default()
            };
            p.start(file, job).await?;
            return ok(&format!("printing {file}"));
        }
        Cmd::Pause => {
            p.pause().await?;
            return ok("paused");
        }
        Cmd::Resume => {
            p.resume().await?;
            return ok("resumed");
        }
        Cmd::Cancel { yes } => {
            if !yes && !confirm(&format!("Cancel the job on {}?", s.label))? {
                return Err(Failure::new(EXIT_ABORTED, "not cancelled"));
            }
            p.cancel().await?;
            return ok("cancelled");
        }
        Cmd::Clear => {
            p.clear_platform().await?;
            return ok("platform cleared");
        }
        Cmd::Led { state } => {
            p.led(matches!(state, OnOff::On)).await?;
            return ok(&format!(
                "LED {}",
                if matches!(state, OnOff::On) {
                    "on"
                } else {
                    "off"
                }
            ));
        }
        Cmd::Home => {
            p.home().await?;
            return ok("homed");
        }
        Cmd::Move { axis: a, mm } => {
            p.jog(axis(*a), *mm).await?;
            return ok(&format!("moved {a:?} by {mm} mm"));
        }
        Cmd::Fan { percent } => {
            p.fan(*percent).await?;
            return ok(&format!("fan {percent} %"));
        }
        Cmd::Filtration { state } => {
            p.filtration(matches!(state, OnOff::On)).await?;
            return ok("filtration set");
        }
        Cmd::Camera { action } => match action {
            CameraAction::Url => output::line(&p.camera_url().await?, "url", g.json),
            CameraAction::On | CameraAction::Off => {
                p.camera(matches!(action, CameraAction::On)).await?;
                return ok("camera set");
            }
        },
        Cmd::Slots {
            set,
            material,
            color: col,
        } => match (set, material, col) {
            (Some(slot), Some(m), Some(c)) => {
                p.configure_slot(*slot, m, color(c)?).await?;
                return ok(&format!("slot {slot}: {m} {c}"));
            }
            _ => {
                let st = p.status().await?;
                let Some(station) = st.material_station else {
                    return Err(ClientError::Unsupported {
                        operation: "material station",
                        model: p.model(),
                    }
                    .into());
                };
                output::slots(&station, g.json);
            }
        },
        Cmd::Gcode { line } => {
            for l in p.gcode(line).await? {
                output::line(&l, "line", g.json);
            }
        }
        Cmd::Discover { .. }
        | Cmd::Watch { .. }
        | Cmd::Decode { .. }
        | Cmd::Sim(_)
        | Cmd::Demo { .. }
        | Cmd::Serve(_)
        | Cmd::Completions { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod colour_tests {
    use super::*;

    #[test]
    fn colours_are_hex_or_usage_errors() {
        assert_eq!(color("#FF8000").unwrap().0, [0xFF, 0x80, 0x00]);
        assert_eq!(color("00ff7f").unwrap().0, [0x00, 0xFF, 0x7F]);
        // Six bytes with a character across a byte pair once panicked.
        for bad in ["aé123", "#ééé", "#12345", "#1234567", "#GG0000", ""] {
            assert!(color(bad).is_err(), "{bad:?}");
        }
    }
}
