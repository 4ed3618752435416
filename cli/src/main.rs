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
mod serve;
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
    let rt = match build_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            // Out of descriptors or memory before anything else ran: this machine's limit.
            let (code, hint) = match e.raw_os_error() {
                Some(12 | 23 | 24) => (
                    exit::EXIT_RESOURCE,
                    " (a limit of this machine: raise `ulimit -n` or free memory)",
                ),
                _ => (exit::EXIT_OTHER, ""),
            };
            exit::Failure::new(code, format!("cannot start the runtime: {e}{hint}")).report(json);
            return ExitCode::from(code);
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

/// The runtime, or the reason it could not start. tokio's signal driver panics when it cannot
/// create its pipe (no descriptor left): that is reported as the error it is, not a panic.
fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let build = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(build);
    std::panic::set_hook(hook);
    r.unwrap_or_else(|_| {
        // The driver's only panic at start-up: its pipe could not be created.
        Err(std::io::Error::from_raw_os_error(24))
    })
}
