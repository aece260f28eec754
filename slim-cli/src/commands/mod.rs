//! One module per subcommand.
pub mod build;
pub mod debug;
pub mod learn;
pub mod profile;
pub mod rules;
pub mod shell;
pub mod xray;

use std::{path::Path, time::Instant};

use anyhow::{Context, Result};

use crate::report::{self, Report};

/// --all-platforms: DIR/platforms.json on stdout (--json), or each
/// platform's summary on stderr, with its time (unless --quiet).
fn print_platforms(
    runs: &[crate::pipeline::platforms::Run],
    summary: &crate::pipeline::platforms::Summary,
    json: bool,
    quiet: bool,
) -> Result<()> {
    if json {
        stdout(&(serde_json::to_string_pretty(summary)? + "\n"))?;
    } else if !quiet {
        for r in runs {
            eprintln!("== {} ({:.1} s)", r.platform, r.seconds);
            let took = std::time::Duration::from_secs_f64(r.seconds);
            eprintln!("{}", report::summary(&r.report, &r.artifacts, took));
        }
        if let Some(d) = &summary.index_digest {
            eprintln!(
                "slim image index {d} ({} platforms) written to {}",
                runs.len(),
                summary.outputs.join(", ")
            );
        }
    }
    Ok(())
}

/// Prints the report as JSON on stdout (--json) or the summary on stderr
/// (unless --quiet).
fn print_report(
    report: &Report,
    dir: &Path,
    json: bool,
    quiet: bool,
    started: Instant,
) -> Result<()> {
    if json {
        stdout(&(serde_json::to_string_pretty(&report::scrubbed(report)?)? + "\n"))?;
    } else if !quiet {
        eprintln!("{}", report::summary(report, dir, started.elapsed()));
    }
    Ok(())
}

/// Writes results to stdout: every command's output goes through here.
///
/// Rust ignores SIGPIPE, so a reader that went away (`slim ... | head`)
/// is an EPIPE error, on which `println!` panics. Here it is no error: the
/// rest of the output is dropped and the run goes on (containers are
/// removed, files written, gates checked) and exits with the status it
/// would have had, 0 when all went well, without a word, as ripgrep does.
pub fn stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}
