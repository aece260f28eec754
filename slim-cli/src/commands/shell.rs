//! `slim completions` and `slim man`: generated from the clap definitions,
//! so they never drift from the flags.
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics when a write fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "slim", &mut script);
    super::stdout(&String::from_utf8_lossy(&script))
}

/// slim.1, and slim-SUBCOMMAND.1 for each subcommand.
pub fn man(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cmd = Cli::command();
    let write = |name: &str, cmd: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        crate::atomic::write_atomically(&path, |out| {
            clap_mangen::Man::new(cmd).render(out)?;
            Ok(())
        })
    };
    write("slim", cmd.clone())?;
    for sub in cmd.get_subcommands() {
        let name = format!("slim-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("slim {}", sub.get_name()));
        write(&name, page)?;
    }
    Ok(())
}
