//! The compose flags of `slim build` and `slim profile`.
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};

use crate::transport::ImageName;

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
    /// The image to probe: SOURCE when given, else the service's `image`.
    pub fn source(&self, given: Option<&ImageName>) -> Result<ImageName> {
        if let Some(name) = given {
            return Ok(name.clone());
        }
        let project = self
            .load()?
            .context("SOURCE is missing (required without --service)")?;
        let image = project.target.image.with_context(|| {
            format!(
                "service {} has no image in the compose file: name the image to probe as SOURCE",
                project.target.name
            )
        })?;
        image.parse().map_err(|e| {
            anyhow!(
                "the image {image:?} of service {}: {e}",
                project.target.name
            )
        })
    }

    /// The project, when a service is asked for.
    pub fn load(&self) -> Result<Option<super::Project>> {
        match &self.service {
            Some(name) => super::load(&self.compose_file, name).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args)
    }

    #[test]
    fn source_may_be_left_out_with_a_service_only() {
        let cli = parse(&[
            "slim",
            "build",
            "app:1",
            "--tag",
            "t",
            "--artifacts",
            "d",
            "--compose-file",
            "c.yml",
            "--service",
            "app",
        ])
        .unwrap();
        let Command::Build(b) = cli.command else {
            panic!("not build")
        };
        assert!(b.image.is_some());
        assert_eq!(b.probe.compose.service.as_deref(), Some("app"));
        let cli = parse(&[
            "slim",
            "profile",
            "--artifacts",
            "d",
            "--compose-file",
            "a.yml",
            "--compose-file",
            "b.yml",
            "--service",
            "app",
        ])
        .unwrap();
        let Command::Profile(p) = cli.command else {
            panic!("not profile")
        };
        assert!(p.image.is_none());
        assert_eq!(p.probe.compose.compose_file.len(), 2);
        assert!(parse(&["slim", "build", "--tag", "t", "--artifacts", "d"]).is_err());
        assert!(parse(&[
            "slim",
            "build",
            "x",
            "--tag",
            "t",
            "--artifacts",
            "d",
            "--service",
            "app"
        ])
        .is_err());
        assert!(parse(&[
            "slim",
            "build",
            "x",
            "--tag",
            "t",
            "--artifacts",
            "d",
            "--compose-file",
            "c.yml"
        ])
        .is_err());
    }
}
