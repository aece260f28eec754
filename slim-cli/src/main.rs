//! The `slim` binary: parses arguments, sets up logging, dispatches to a
//! subcommand, and turns any error into one line on stderr and exit status 1.
use std::io::Write;

use clap::Parser;

use slim_cli::{
    cli::{Cli, Command},
    commands, session, signals,
};

fn main() -> std::process::ExitCode {
    // One line, not a backtrace: where and what, and that it is slim's bug.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        // Not eprintln!: a panic here, on a closed stderr, would abort
        // before the containers are removed.
        let _ = writeln!(
            std::io::stderr(),
            "slim: bug{at}: {what} (please report it)"
        );
    }));
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
                Command::Build(args) => commands::build::run(*args, cleanup.clone()).await,
                Command::Profile(args) => commands::profile::run(*args, cleanup.clone()).await,
                Command::Learn(args) => commands::learn::run(args).await,
                Command::Rules(args) => commands::rules::run(args),
                Command::Xray(args) => commands::xray::run(args).await,
                Command::Debug(args) => commands::debug::run(args, cleanup.clone()).await,
                Command::Completions { shell } => commands::shell::completions(shell),
                Command::Man { dir } => commands::shell::man(&dir),
            }
        };
        // A panic is a bug, but it must not leak containers either: it
        // unwinds to here and cleanup runs as for any error.
        let command = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(command));
        let result = tokio::select! {
            r = command => r.unwrap_or_else(|_| Err(anyhow::anyhow!("internal error (see the line above); containers removed"))),
            signal = signals::interrupted() => Err(anyhow::anyhow!("interrupted ({signal}); containers removed")),
        };
        cleanup.run().await;
        result
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined, what failed and why
            // (none for a status passed on, as slim debug's command's).
            let line = format!("{e:#}");
            if !line.is_empty() {
                let _ = writeln!(
                    std::io::stderr(),
                    "slim: error: {}",
                    line.replace('\n', " | ")
                );
            }
            std::process::ExitCode::from(slim_cli::exit::code_of(&e))
        }
    }
}
