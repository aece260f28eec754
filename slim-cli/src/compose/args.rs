//! The compose flags of `slim build` and `slim profile`.
use std::path::PathBuf;

use anyhow::Result;

/// Run the image as a service of a compose file, beside its dependencies.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ComposeArgs {
    /// A compose file (repeatable: later files override earlier ones, as with
    /// `docker compose -f`); `.env` beside the first one is read.
    #[arg(long = "compose-file", value_name = "FILE", requires = "service")]
    pub compose_file: Vec<PathBuf>,
    /// The service of --compose-file to probe: its dependencies (depends_on,
    /// transitively) are started first on the file's networks, it runs
    /// from its definition (SOURCE replaces its image), and all are
    /// removed afterwards.
    #[arg(long, value_name = "NAME", requires = "compose_file")]
    pub service: Option<String>,
}

impl ComposeArgs {
    /// The project, when a service is asked for.
    pub fn load(&self) -> Result<Option<super::Project>> {
        match &self.service {
            Some(name) => super::load(&self.compose_file, name).map(Some),
            None => Ok(None),
        }
    }
}
