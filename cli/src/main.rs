//! `flashforge`: find, watch and drive FlashForge printers on the LAN.

#![forbid(unsafe_code)]

mod args;
mod commands;
mod config;
mod demo;
mod exit;
mod output;
mod select;
mod sim;
mod term;
mod watch;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::Args::parse_env();
    output::init_tracing(args.global.verbose, args.global.quiet);
    let json = args.global.json;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            exit::Failure::new(exit::EXIT_OTHER, format!("cannot start the runtime: {e}"))
                .report(json);
            return ExitCode::from(exit::EXIT_OTHER);
        }
    };
    match rt.block_on(commands::run(args)) {
        Ok(()) => ExitCode::from(exit::EXIT_SUCCESS),
        Err(e) => {
            e.report(json);
            ExitCode::from(e.code())
        }
    }
}
