//! `rolebook`: the command line, wiring the crates and the library's HTTP
//! API (`rolebook::http`) together. Machine-readable output is JSON on
//! stdout; logs go to stderr.

mod app;
mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system's allocator: rebuilds, catch-ups and
/// exports allocate per event and per row, and with glibc's malloc the
/// allocator was a fifth of a rebuild's CPU time (BENCHMARKS.md, issue 5).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rolebook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rolebook: {e:#}");
            ExitCode::FAILURE
        }
    }
}
