//! The `slim` binary: parses arguments, sets up logging, dispatches to a
//! subcommand, and turns any error into one line on stderr and exit status 1.
mod cli;
mod commands;
mod docker;
mod probes;
mod progress;
mod rebuild;
mod report;
mod seccomp;
mod session;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("slim: error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Containers are registered here so they are removed whatever
        // happens, Ctrl-C included (the command's future is then dropped).
        let cleanup = session::Cleanup::default();
        let command = async {
            match cli.command {
                Command::Build(args) => commands::build::run(args, cleanup.clone()).await,
                Command::Profile(args) => commands::profile::run(args, cleanup.clone()).await,
                Command::Rules(args) => commands::rules::run(args),
            }
        };
        let result = tokio::select! {
            r = command => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (Ctrl-C); containers removed")),
        };
        cleanup.run().await;
        result
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined, what failed and why.
            eprintln!("slim: error: {}", format!("{e:#}").replace('\n', " | "));
            std::process::ExitCode::FAILURE
        }
    }
}
