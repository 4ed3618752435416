//! `flashforge`: find, watch and drive FlashForge printers on the LAN.

#![forbid(unsafe_code)]

mod args;
mod commands;
mod config;
mod demo;
mod exit;
mod farm;
mod output;
mod select;
mod sim;
mod term;
mod watch;

use std::process::ExitCode;

fn main() -> ExitCode {
    let invocation = args::Args::parse_env();
    let (verbose, quiet, json) = match &invocation {
        args::Invocation::Client(a) => (a.global.verbose, a.global.quiet, a.global.json),
        args::Invocation::Sim(s) => (s.verbose, s.quiet, s.json),
    };
    output::init_tracing(verbose, quiet);
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
    let result = rt.block_on(async {
        match invocation {
            args::Invocation::Client(a) => commands::run(*a).await,
            args::Invocation::Sim(s) => sim::run(&s.sim, s.json).await,
        }
    });
    match result {
        Ok(()) => ExitCode::from(exit::EXIT_SUCCESS),
        Err(e) => {
            e.report(json);
            ExitCode::from(e.code())
        }
    }
}
