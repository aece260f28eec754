//! Step four: write what was decided. The seccomp profiles (DIR/seccomp.json
//! and its companions, for `slim profile` too), the slim image's one layer,
//! its config carrying the profile as a label, and the image itself to TAG
//! and every --output, undone in reverse when a later step fails.
use std::{collections::BTreeMap, path::Path};

use anyhow::Result;

use super::select::Selected;
use crate::{
    engine::Engine,
    image::{
        meta::ImageMeta,
        sink::{self, Built, ImageSink},
    },
    progress::Steps,
    rebuild::{
        closure::Selection,
        image::{self, ConfigEdits, LayerFile},
        layer::{self, LayerStats},
    },
    report::{self, Report},
    seccomp,
    transport::ImageName,
};

/// Draws the profile from the observed syscalls plus `by_rule` (syscalls
/// that fired keep-rules add, name -> rule), writes DIR/seccomp.json,
/// DIR/seccomp-audit.json and, for Kubernetes, DIR/seccomp-profile.yaml
/// with DIR/profile-binding.yaml binding it to `image`; records it in the
/// report, and returns the JSON.
pub fn profiles(
    dir: &Path,
    report: &mut Report,
    by_rule: &BTreeMap<String, String>,
    image: &str,
) -> Result<String> {
    let mut wanted = report.syscalls.clone();
    wanted.extend(by_rule.keys().cloned());
    let families = report.seccomp.mode == "families";
    // A value the kernel could not record (its map was full) might be one
    // the app needs: then names only, and the report's lost events say why.
    let complete = !report
        .events
        .dropped_by_reason
        .contains_key(slim_probe::ARG_MAP_FULL);
    // Under emulation the values seen are the emulator's: the foreign
    // profile allows names only.
    let arguments = (report.seccomp.argument_filters && complete && report.emulation.is_none())
        .then_some(&report.seccomp.seen_arguments);
    let drawn = seccomp::profile(&wanted, arguments, report.seccomp.arch, families);
    let json = serde_json::to_string_pretty(&drawn.profile)?;
    crate::atomic::write_atomically(&dir.join("seccomp.json"), |out| {
        out.write_all(json.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    report::write_json(dir, "seccomp-audit.json", &drawn.profile.audit())?;
    for (name, text) in [
        (
            "seccomp-profile.yaml",
            seccomp::spo::seccomp_profile(&drawn.profile, image)?,
        ),
        (
            "profile-binding.yaml",
            seccomp::spo::profile_binding(image)?,
        ),
    ] {
        crate::atomic::write_atomically(&dir.join(name), |out| {
            if report.emulation.is_some() && name == "seccomp-profile.yaml" {
                writeln!(out, "# UNVERIFIED: {}", crate::emulation::UNVERIFIED)?;
            }
            out.write_all(text.as_bytes())?;
            Ok(())
        })?;
    }
    if let Some(e) = &report.emulation {
        // The profile the image runs under here, under emulation: the
        // emulator's host syscalls as seen (--verify uses it).
        let mut host = e.host_syscalls.clone();
        host.extend(by_rule.keys().cloned());
        let args = (report.seccomp.argument_filters && complete).then_some(&e.host_arguments);
        let drawn = seccomp::profile(&host, args, e.host_arch, families);
        let text = serde_json::to_string_pretty(&drawn.profile)?;
        crate::atomic::write_atomically(&dir.join(e.emulated_profile), |out| {
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
            Ok(())
        })?;
    }
    report.seccomp.allowed = drawn.profile.allowed();
    report.seccomp.by_family = drawn.by_family;
    report.seccomp.arguments = drawn.arguments;
    report.seccomp.by_rule = by_rule
        .iter()
        .filter(|(s, _)| !report.syscalls.contains(s))
        .map(|(s, r)| (s.clone(), r.clone()))
        .collect();
    Ok(json)
}

/// The profile the slim image runs under on this machine (--verify):
/// `profile` (DIR/seccomp.json's), or under emulation the host profile
/// written beside it.
pub fn run_profile(dir: &Path, report: &Report, profile: &str) -> Result<String> {
    match &report.emulation {
        Some(e) => {
            let path = dir.join(e.emulated_profile);
            std::fs::read_to_string(&path)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))
        }
        None => Ok(profile.to_string()),
    }
}

/// The layer of `selected`, written to a temporary file (on a blocking
/// thread); the selection goes to the writer's thread and comes back in
/// `selected`: no copy of a map that holds every kept path.
pub async fn layer_step(
    selected: Selected,
    steps: &mut Steps,
) -> Result<(LayerFile, LayerStats, Selected)> {
    steps.step("layer", "writing the layer");
    tokio::task::spawn_blocking(move || {
        layer_of(&selected.fs, &selected.selection).map(|(file, stats)| (file, stats, selected))
    })
    .await?
}

/// The layer of `selection` over `fs`.
pub fn layer_of(
    fs: &crate::rebuild::rootfs::LayerStack,
    selection: &Selection,
) -> Result<(LayerFile, LayerStats)> {
    image::layer_file(|out| layer::write(fs, &selection.kept, &selection.placeholders, out))
}

/// The slim image: the source's config over the one layer with `edits`
/// applied, carrying `profile` (DIR/seccomp.json's text) as its label.
pub fn built(
    tag: &str,
    meta: &ImageMeta,
    layer: &LayerFile,
    edits: &ConfigEdits,
    profile: &str,
) -> Result<Built> {
    let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(profile)?)?;
    Ok(Built {
        tag: tag.to_string(),
        config: image::with_label(
            &image::config_json(meta, &layer.info.digest, edits)?,
            seccomp::IMAGE_LABEL,
            &compact,
        )?,
        layer: layer.info.clone(),
        // Byte for byte DIR/seccomp.json.
        seccomp: Some(format!("{profile}\n").into_bytes()),
    })
}

/// TAG in the engine, then every --output, in order.
pub struct Outputs<'e> {
    sinks: Vec<Box<dyn ImageSink + 'e>>,
}

impl<'e> Outputs<'e> {
    pub fn open(engine: &'e Engine, tag: &str, outputs: &[ImageName], tls_verify: bool) -> Self {
        let mut sinks: Vec<Box<dyn ImageSink + 'e>> = vec![sink::open(
            &ImageName::Daemon(tag.to_string()),
            engine,
            tls_verify,
        )];
        sinks.extend(outputs.iter().map(|o| sink::open(o, engine, tls_verify)));
        Self { sinks }
    }

    /// Writes `built` to each, one progress step each.
    pub async fn write(&mut self, built: &Built, steps: &mut Steps) -> Result<()> {
        for s in self.sinks.iter_mut() {
            steps.step("write", &format!("writing {}", s.describe()));
            s.write(built).await?;
        }
        Ok(())
    }

    /// Takes back what was written, the last first; a failure to is a
    /// warning (the run's own error is what the user sees).
    pub async fn undo(&self) {
        for s in self.sinks.iter().rev() {
            if let Err(e) = s.undo().await {
                eprintln!("slim: warning: {e:#}");
            }
        }
    }
}
