//! The run plan: everything a `slim profile` or `slim build` run is asked
//! to do, as plain data. The commands fill it from their arguments (env
//! files and probe files are read then, so a bad one fails before anything
//! starts); the pipeline's steps read it and nothing else of the command
//! line.
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::{
    engine::{self, EngineKind},
    gates,
    image::{platform::Platform, sbom, source::ReadLayers},
    rebuild::image::ConfigEdits,
    session,
    transport::ImageName,
};

/// What probing an image takes: `slim profile`, and the first half of
/// `slim build`.
#[derive(Debug, Clone)]
pub struct ProfilePlan {
    /// "profile" or "build", as report.json names the command.
    pub command: &'static str,
    pub source: ImageName,
    /// Where report.json, the profiles and the SBOMs go.
    pub artifacts: PathBuf,
    pub engine: EngineKind,
    /// false: registries over plain HTTP.
    pub tls_verify: bool,
    /// The probes, timeouts and run options of the watched run.
    pub session: session::Plan,
    /// Run the source as a compose service beside its dependencies.
    pub compose: Option<Compose>,
    pub seccomp: Seccomp,
    /// Use a trace with lost events instead of failing.
    pub accept_dropped: bool,
    /// No warnings about the compose file (--quiet).
    pub quiet: bool,
    /// --platform: the platform of an image index to use (a foreign one
    /// runs under emulation); None: this machine's, as without an index.
    pub platform: Option<Platform>,
}

/// `--compose-file FILE... --service NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    pub files: Vec<PathBuf>,
    pub service: String,
}

/// How the seccomp profile is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seccomp {
    /// Each observed syscall allows its family (else exactly the observed).
    pub families: bool,
    /// Argument filters where the probe saw the values.
    pub argument_filters: bool,
}

/// What `slim build` does after probing.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub profile: ProfilePlan,
    /// The engine tag of the slim image (no transport prefix).
    pub tag: String,
    /// Where else it goes (--output).
    pub outputs: Vec<ImageName>,
    pub read_layers: ReadLayers,
    pub keep: Keep,
    /// The slim image's config edits (--set-*, --unset-*).
    pub edits: ConfigEdits,
    pub sboms: Vec<sbom::Format>,
    /// Run the slim image under its profile and replay the probes.
    pub verify: bool,
    pub limits: gates::Limits,
}

/// What the slim image keeps beyond the trace.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    /// --keep safe (else minimal): all keep-rules, not only required ones.
    pub safe: bool,
    /// The language closure (safe mode only; --no-imports turns it off).
    pub imports: bool,
    /// --rules files, beside the built-in rules.
    pub rules: Vec<PathBuf>,
    pub include_paths: Vec<String>,
    pub include_bins: Vec<String>,
    pub include_shell: bool,
    pub excludes: Vec<String>,
}

impl Keep {
    /// The keep mode as report.json names it.
    pub fn mode(&self) -> &'static str {
        if self.safe {
            "safe"
        } else {
            "minimal"
        }
    }
}

/// `name` with Docker's defaults spelled out, to compare references.
fn canonical(name: &str) -> String {
    let name = name
        .strip_prefix("docker.io/")
        .unwrap_or(name)
        .trim_start_matches("library/");
    if engine::split_reference(name).1.is_some() || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Fails when TAG or an --output names `source`: slim never moves the
/// source's name or overwrites it.
pub fn check_outputs(source: &ImageName, tag: &str, outputs: &[ImageName]) -> Result<()> {
    let names_source = |name: &ImageName| match (name, source) {
        (ImageName::Daemon(out), ImageName::Daemon(src)) => canonical(out) == canonical(src),
        (out, src) => out == src,
    };
    if names_source(&ImageName::Daemon(tag.to_string())) {
        bail!(
            "--tag {} names the source image: slim would move that name off the original; \
             choose another tag, such as {}-slim",
            tag,
            tag.trim_end_matches(":latest")
        );
    }
    if let Some(out) = outputs.iter().find(|o| names_source(o)) {
        bail!("--output {out} names the source image, which slim never overwrites; choose another");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_compare_with_docker_defaults() {
        assert_eq!(canonical("nginx"), canonical("nginx:latest"));
        assert_eq!(canonical("docker.io/library/nginx:1"), canonical("nginx:1"));
        assert_ne!(canonical("nginx:1"), canonical("nginx:1-slim"));
        assert_eq!(canonical("localhost:5000/app"), "localhost:5000/app:latest");
    }

    #[test]
    fn no_output_may_name_the_source() {
        let src: ImageName = "docker.io/library/app".parse().unwrap();
        let e = check_outputs(&src, "app:latest", &[]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("--tag app:latest names the source image"));
        assert!(e.to_string().ends_with("such as app-slim"), "{e}");
        assert!(check_outputs(&src, "app:slim", &[]).is_ok());
        let out: ImageName = "docker-daemon:app".parse().unwrap();
        let e = check_outputs(&src, "app:slim", &[out]).unwrap_err();
        assert!(e.to_string().starts_with("--output "), "{e}");
        let archive: ImageName = "docker-archive:/tmp/a.tar".parse().unwrap();
        assert!(check_outputs(&archive.clone(), "app:slim", &[]).is_ok());
        assert!(check_outputs(&archive.clone(), "app:slim", &[archive]).is_err());
    }
}
