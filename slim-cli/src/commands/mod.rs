//! One module per subcommand.
pub mod build;
pub mod debug;
pub mod learn;
pub mod profile;
pub mod rules;
pub mod shell;
pub mod xray;

use std::{path::Path, time::Instant};

use anyhow::Result;

use crate::report::{self, Report};

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
        println!(
            "{}",
            serde_json::to_string_pretty(&report::scrubbed(report)?)?
        );
    } else if !quiet {
        eprintln!("{}", report::summary(report, dir, started.elapsed()));
    }
    Ok(())
}
