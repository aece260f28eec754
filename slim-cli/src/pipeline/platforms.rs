//! `--all-platforms` (issue #22): the pipeline once per platform of the
//! source's image index, each into DIR/<os>-<arch>/ (a foreign one under
//! emulation), then one slim image index, one slim manifest per platform,
//! to every --output. The engine gets the native platform's slim image
//! under TAG (the first platform's when the index has no native one), and
//! each other platform's under TAG's tag with `-<os>-<arch>` appended, which
//! is what --verify runs.
use std::{path::PathBuf, time::Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::plan::{BuildPlan, ProfilePlan};
use crate::{
    image::{
        index::{self, PlatformImage},
        platform::Platform,
        registry, source,
    },
    progress::Steps,
    report::Report,
    session::Cleanup,
    transport::ImageName,
};

/// One platform's run.
pub struct Run {
    pub platform: Platform,
    pub artifacts: PathBuf,
    pub report: Report,
    pub seconds: f64,
}

/// DIR/platforms.json: what each platform gave, and the index written.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// The digest of the slim image index pushed or written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    pub platforms: Vec<PlatformSummary>,
}

#[derive(Debug, Serialize)]
pub struct PlatformSummary {
    pub platform: String,
    /// Its report and profiles: DIR/<this>/.
    pub artifacts: String,
    pub emulated: bool,
    /// The slim image in the engine (build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    pub seccomp_verified: bool,
    /// Wall time of this platform's run.
    pub seconds: f64,
}

/// The platforms of the source's index; `None` for a single-platform
/// source, which is then slimmed as without --all-platforms.
pub async fn listed(plan: &ProfilePlan) -> Result<Option<Vec<Platform>>> {
    if plan.compose.is_some() {
        bail!("--all-platforms does not go with --service: a compose service runs on one platform");
    }
    let platforms = source::platforms(&plan.source, plan.tls_verify).await?;
    if let Some(p) = &platforms {
        if p.is_empty() {
            bail!("{} is an image index that names no platform", plan.source);
        }
    }
    Ok(platforms)
}

/// The engine tag of a platform's slim image that is not TAG's.
pub fn platform_tag(tag: &str, platform: &Platform) -> String {
    let (name, t) = crate::engine::split_reference(tag);
    format!("{name}:{}-{}", t.unwrap_or("latest"), platform.dir_name())
}

/// The --output kinds that can hold an image index.
pub fn check_outputs(outputs: &[ImageName]) -> Result<()> {
    for o in outputs {
        if matches!(o, ImageName::Daemon(_) | ImageName::Archive(_)) {
            bail!(
                "--output {o} holds one platform: with --all-platforms write the index to oci:DIR or docker://REF"
            );
        }
    }
    Ok(())
}

fn sub_profile(plan: &ProfilePlan, p: &Platform) -> ProfilePlan {
    ProfilePlan {
        platform: Some(p.clone()),
        artifacts: plan.artifacts.join(p.dir_name()),
        ..plan.clone()
    }
}

fn announce(quiet: bool, p: &Platform, i: usize, n: usize) {
    if !quiet {
        let how = if p.is_native() {
            ""
        } else {
            " (under emulation)"
        };
        eprintln!("slim: platform {p} ({} of {n}){how}", i + 1);
    }
}

/// `slim profile --all-platforms`.
pub async fn profile(
    plan: &ProfilePlan,
    platforms: &[Platform],
    cleanup: &Cleanup,
    quiet: bool,
) -> Result<(Vec<Run>, Summary)> {
    let mut runs = Vec::new();
    for (i, p) in platforms.iter().enumerate() {
        announce(quiet, p, i, platforms.len());
        let sub = sub_profile(plan, p);
        let started = Instant::now();
        let mut steps = Steps::new(quiet);
        let report = super::profile(&sub, cleanup, &mut steps)
            .await
            .with_context(|| format!("platform {p}"))?;
        runs.push(Run {
            platform: p.clone(),
            artifacts: sub.artifacts,
            report,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let summary = Summary {
        source: plan.source.to_string(),
        tag: None,
        outputs: Vec::new(),
        index_digest: None,
        platforms: runs
            .iter()
            .map(|r| platform_summary(r, None, None))
            .collect(),
    };
    crate::report::write_json(&plan.artifacts, "platforms.json", &summary)?;
    Ok((runs, summary))
}

fn platform_summary(r: &Run, tag: Option<String>, digest: Option<String>) -> PlatformSummary {
    PlatformSummary {
        platform: r.platform.to_string(),
        artifacts: r.platform.dir_name(),
        emulated: r.report.emulation.is_some(),
        tag,
        size_bytes: r.report.result.as_ref().map(|x| x.size_bytes),
        manifest_digest: digest,
        seccomp_verified: r.report.seccomp.verified.unwrap_or(true),
        seconds: (r.seconds * 10.0).round() / 10.0,
    }
}

/// `slim build --all-platforms`: each platform built (its gates and
/// --verify its own), then the index written to every --output.
pub async fn build(
    plan: &BuildPlan,
    platforms: &[Platform],
    cleanup: &Cleanup,
    quiet: bool,
) -> Result<(Vec<Run>, Summary)> {
    let dir = &plan.profile.artifacts;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Each platform's slim image as a one-image layout, gathered after.
    let work = tempfile::Builder::new()
        .prefix(".slim-platforms-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot create a temporary directory in {}", dir.display()))?;
    let main = platforms.iter().position(Platform::is_native).unwrap_or(0);
    let mut runs = Vec::new();
    let mut tags = Vec::new();
    for (i, p) in platforms.iter().enumerate() {
        announce(quiet, p, i, platforms.len());
        let tag = if i == main {
            plan.tag.clone()
        } else {
            platform_tag(&plan.tag, p)
        };
        let sub = BuildPlan {
            profile: sub_profile(&plan.profile, p),
            tag: tag.clone(),
            outputs: vec![ImageName::Oci {
                dir: work.path().join(p.dir_name()),
                tag: None,
            }],
            ..plan.clone()
        };
        let started = Instant::now();
        let mut steps = Steps::new(quiet);
        let report = super::build(&sub, cleanup, &mut steps)
            .await
            .with_context(|| format!("platform {p}"))?;
        runs.push(Run {
            platform: p.clone(),
            artifacts: sub.profile.artifacts,
            report,
            seconds: started.elapsed().as_secs_f64(),
        });
        tags.push(tag);
    }
    let mut images = Vec::new();
    for r in &runs {
        let profile = std::fs::read(r.artifacts.join("seccomp.json")).ok();
        images.push(PlatformImage::from_layout(
            r.platform.clone(),
            &work.path().join(r.platform.dir_name()),
            profile,
        )?);
    }
    let mut index_digest = None;
    for out in &plan.outputs {
        if !quiet {
            eprintln!(
                "slim: writing the index of {} platforms to {out}",
                images.len()
            );
        }
        match out {
            ImageName::Oci { dir, tag } => {
                let tag = tag.clone().unwrap_or_else(|| plan.tag.clone());
                index::write_layout(dir, &tag, &images)?;
                index_digest = Some(crate::image::sha256(&index::index_json(&images)?));
            }
            ImageName::Registry(reference) => {
                let access = registry::Access {
                    tls_verify: plan.profile.tls_verify,
                };
                index_digest = Some(registry::push_index(reference, access, &images).await?);
            }
            other => bail!("--output {other} cannot hold an image index"),
        }
    }
    let summary = Summary {
        source: plan.profile.source.to_string(),
        tag: Some(plan.tag.clone()),
        outputs: plan.outputs.iter().map(|o| o.to_string()).collect(),
        index_digest,
        platforms: runs
            .iter()
            .zip(&tags)
            .zip(&images)
            .map(|((r, t), i)| platform_summary(r, Some(t.clone()), Some(i.manifest_digest())))
            .collect(),
    };
    crate::report::write_json(dir, "platforms.json", &summary)?;
    // Each report names where its image went: the index's outputs, not
    // the temporary layout it was gathered from.
    for r in &mut runs {
        r.report.outputs = summary.outputs.clone();
        crate::report::write_report(&r.artifacts, &r.report)?;
    }
    Ok((runs, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_platforms_get_a_suffixed_tag() {
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(platform_tag("app:1-slim", &arm), "app:1-slim-linux-arm64");
        assert_eq!(
            platform_tag("localhost:5000/app", &arm),
            "localhost:5000/app:latest-linux-arm64"
        );
    }

    #[test]
    fn single_platform_outputs_are_refused() {
        let ok: Vec<ImageName> = vec![
            "oci:/tmp/x".parse().unwrap(),
            "docker://r/a:1".parse().unwrap(),
        ];
        assert!(check_outputs(&ok).is_ok());
        let e = check_outputs(&["docker-archive:/tmp/a.tar".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds one platform"), "{e}");
    }
}
