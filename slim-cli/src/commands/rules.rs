//! `slim rules`: the keep-rules slim applies, built-in and from `--rules`
//! files (checked as `slim build` would).
use anyhow::Result;

use crate::{cli::RulesArgs, rebuild::rules};

pub fn run(args: RulesArgs) -> Result<()> {
    let all = rules::load(&args.rules)?;
    if args.json {
        super::stdout(&(serde_json::to_string_pretty(&all)? + "\n"))?;
    } else {
        super::stdout(&rules::describe(&all))?;
    }
    Ok(())
}
