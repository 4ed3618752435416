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
mod watch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    output::init_tracing(args.global.verbose, args.global.quiet);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::EXIT_OTHER);
        }
    };
    match rt.block_on(commands::run(args)) {
        Ok(()) => ExitCode::from(exit::EXIT_SUCCESS),
        Err(e) => {
            e.report();
            ExitCode::from(e.code())
        }
    }
}
