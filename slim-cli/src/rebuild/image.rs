//! The minimal image around the layer: the layer written once to a
//! temporary file, hashed on the way, and the source image's own config
//! (built with oci-spec types) pointing at it. Where the image goes (an
//! engine, a layout, an archive, a registry) is `image::sink`'s business.
use std::io::Write;

use anyhow::{anyhow, Context, Result};
use oci_spec::image::{ConfigBuilder, HistoryBuilder, ImageConfigurationBuilder, RootFsBuilder};

use crate::image::{archive::BlobRef, digest::Hashing, meta::ImageMeta};

/// The layer, written once to a temporary file (removed on drop) with its
/// digest computed on the way: memory stays flat whatever the image holds.
pub struct LayerFile {
    _file: tempfile::NamedTempFile,
    pub info: LayerInfo,
}

/// Where the layer is and what it is.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub path: std::path::PathBuf,
    /// sha256 of the tar: its diff ID (and, uncompressed, its blob digest).
    pub digest: String,
    pub size: u64,
}

impl LayerInfo {
    pub fn blob(&self) -> BlobRef {
        BlobRef {
            path: self.path.clone(),
            offset: 0,
            len: self.size,
            root: None,
            expect: None,
        }
    }
}

/// Writes a layer with `write` into a temporary file, hashing it.
pub fn layer_file<T>(write: impl FnOnce(&mut dyn Write) -> Result<T>) -> Result<(LayerFile, T)> {
    let file =
        tempfile::NamedTempFile::new().context("cannot create a temporary file for the layer")?;
    let mut out = Hashing::new(std::io::BufWriter::with_capacity(1 << 20, file.reopen()?));
    let value = write(&mut out)?;
    let (buf, digest, size) = out.finish();
    buf.into_inner()
        .map_err(|e| {
            anyhow!(
                "cannot write the layer to {}: {}",
                file.path().display(),
                e.error()
            )
        })?
        .sync_all()
        .ok();
    let info = LayerInfo {
        path: file.path().to_path_buf(),
        digest,
        size,
    };
    Ok((LayerFile { _file: file, info }, value))
}

/// Changes to the slim image's config (`slim build --set-*/--unset-*`);
/// the default changes nothing. Unsets apply before sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEdits {
    pub set_env: Vec<(String, String)>,
    pub unset_env: Vec<String>,
    pub set_labels: Vec<(String, String)>,
    pub unset_labels: Vec<String>,
    /// Empty: cleared.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// Empty: cleared (root).
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `PORT/PROTO` keys.
    pub expose: Vec<String>,
    pub unexpose: Vec<String>,
    pub volumes: Vec<String>,
    pub unvolumes: Vec<String>,
}

impl ConfigEdits {
    fn env(&self, env: Option<Vec<String>>) -> Option<Vec<String>> {
        if self.set_env.is_empty() && self.unset_env.is_empty() {
            return env;
        }
        let name = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_string();
        let mut out: Vec<String> = env
            .unwrap_or_default()
            .into_iter()
            .filter(|kv| !self.unset_env.contains(&name(kv)))
            .collect();
        for (k, v) in &self.set_env {
            let kv = format!("{k}={v}");
            match out.iter_mut().find(|e| name(e) == *k) {
                Some(e) => *e = kv,
                None => out.push(kv),
            }
        }
        Some(out)
    }

    /// A set of keys (ports, volumes) with `add` added and `remove` removed.
    fn keys(v: Option<Vec<String>>, add: &[String], remove: &[String]) -> Option<Vec<String>> {
        if add.is_empty() && remove.is_empty() {
            return v;
        }
        let mut set: std::collections::BTreeSet<String> =
            v.unwrap_or_default().into_iter().collect();
        set.retain(|k| !remove.contains(k));
        set.extend(add.iter().cloned());
        (!set.is_empty()).then(|| set.into_iter().collect())
    }
}

/// The label on a slim image naming the image ID it was made from.
pub const SOURCE_LABEL: &str = "io.slim.source";

/// The image config JSON for a single layer with `diff_id`, copying the
/// source image's runtime config (entrypoint, cmd, env, user, workdir,
/// exposed ports, volumes, labels, stop signal, and Docker's healthcheck)
/// with `edits` applied, plus [`SOURCE_LABEL`]. The probe's run options
/// never reach it.
pub fn config_json(src: &ImageMeta, diff_id: &str, edits: &ConfigEdits) -> Result<Vec<u8>> {
    let c = src.runtime();
    let sorted = |v: Option<Vec<String>>| {
        v.map(|mut v| {
            v.sort();
            v
        })
    };
    let mut cfg = ConfigBuilder::default();
    let user = edits.user.clone().or_else(|| c.user().clone());
    if let Some(v) = user.filter(|u| !u.is_empty()) {
        cfg = cfg.user(v);
    }
    let ports = ConfigEdits::keys(c.exposed_ports().clone(), &edits.expose, &edits.unexpose);
    if let Some(v) = sorted(ports) {
        cfg = cfg.exposed_ports(v);
    }
    if let Some(v) = edits.env(c.env().clone()) {
        cfg = cfg.env(v);
    }
    let entrypoint = edits.entrypoint.clone().or_else(|| c.entrypoint().clone());
    if let Some(v) = entrypoint.filter(|v| !v.is_empty()) {
        cfg = cfg.entrypoint(v);
    }
    let cmd = edits.cmd.clone().or_else(|| c.cmd().clone());
    if let Some(v) = cmd.filter(|v| !v.is_empty() || edits.cmd.is_none()) {
        cfg = cfg.cmd(v);
    }
    let volumes = ConfigEdits::keys(c.volumes().clone(), &edits.volumes, &edits.unvolumes);
    if let Some(v) = sorted(volumes) {
        cfg = cfg.volumes(v);
    }
    let workdir = edits.workdir.clone().or_else(|| c.working_dir().clone());
    if let Some(v) = workdir.filter(|w| !w.is_empty()) {
        cfg = cfg.working_dir(v);
    }
    let mut labels = c.labels().clone().unwrap_or_default();
    labels.retain(|k, _| !edits.unset_labels.contains(k));
    labels.extend(edits.set_labels.iter().cloned());
    // The source's ID, for `slim debug`'s default image (the tools the
    // slim image lacks are in the image it came from).
    labels.insert(SOURCE_LABEL.to_string(), src.id.clone());
    cfg = cfg.labels(labels);
    if let Some(v) = c.stop_signal().clone() {
        cfg = cfg.stop_signal(v);
    }
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(vec![diff_id.to_string()])
        .build()?;
    let mut history = HistoryBuilder::default()
        .created_by("slim build: minimal layer of the files the container used");
    let mut image = ImageConfigurationBuilder::default()
        .architecture(src.config.architecture().clone())
        .os(src.config.os().clone())
        .config(cfg.build()?)
        .rootfs(rootfs);
    if let Some(v) = src.config.variant().clone() {
        image = image.variant(v);
    }
    // The source's creation time, not now: same input, same image ID.
    if let Some(created) = src.config.created().clone().filter(|c| !c.is_empty()) {
        history = history.created(created.clone());
        image = image.created(created);
    }
    let image = image.history(vec![history.build()?]).build()?;
    // Through a Value: its maps are sorted, so labels and ports serialize
    // the same in every run.
    let mut value = serde_json::to_value(&image)?;
    // Docker's healthcheck is not part of the OCI config: carry it as Docker does.
    if let Some(hc) = &src.healthcheck {
        value["config"]["Healthcheck"] = hc.clone();
    }
    Ok(serde_json::to_vec(&value)?)
}

/// `config` (an image config JSON) with label `key` set to `value`.
pub fn with_label(config: &[u8], key: &str, value: &str) -> Result<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(config)?;
    let labels = &mut v["config"]["Labels"];
    if !labels.is_object() {
        *labels = serde_json::json!({});
    }
    labels[key] = value.into();
    Ok(serde_json::to_vec(&v)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_the_runtime_config_and_is_stable() {
        let src = ImageMeta::from_value(
            serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {
                "User": "app", "WorkingDir": "/srv", "Env": ["A=1"],
                "Entrypoint": ["/bin/app"], "Cmd": ["--serve"],
                "ExposedPorts": {"8080/tcp": {}, "80/tcp": {}},
                "Volumes": {"/data": {}}, "Labels": {"k": "v"}, "StopSignal": "SIGQUIT",
                "Healthcheck": {"Test": ["CMD", "/bin/app", "--check"], "Interval": 1000000000}
            }
            }),
            "sha256:11".into(),
            0,
        )
        .unwrap();
        let none = ConfigEdits::default();
        let a = config_json(&src, "sha256:00", &none).unwrap();
        assert_eq!(
            a,
            config_json(&src, "sha256:00", &none).unwrap(),
            "deterministic"
        );
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        let c = &v["config"];
        assert_eq!(c["User"], "app");
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["Entrypoint"][0], "/bin/app");
        assert_eq!(
            c["ExposedPorts"],
            serde_json::json!({"80/tcp": {}, "8080/tcp": {}})
        );
        assert_eq!(c["StopSignal"], "SIGQUIT");
        assert_eq!(c["Healthcheck"]["Test"][2], "--check");
        assert_eq!(v["rootfs"]["diff_ids"][0], "sha256:00");
        assert_eq!(v["created"], "2026-01-02T03:04:05Z");
    }

    #[test]
    fn edits_change_only_what_they_name() {
        let src = ImageMeta::from_value(
            serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {
                "User": "app", "Env": ["A=1", "B=2", "PATH=/bin"],
                "Entrypoint": ["/bin/app"], "Cmd": ["--serve"],
                "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
                "Volumes": {"/data": {}}, "Labels": {"k": "v", "old": "x"}
            }
            }),
            "sha256:11".into(),
            0,
        )
        .unwrap();
        let edits = ConfigEdits {
            set_env: vec![("B".into(), "3".into()), ("C".into(), "4".into())],
            unset_env: vec!["A".into()],
            set_labels: vec![("new".into(), "y".into())],
            unset_labels: vec!["old".into()],
            cmd: Some(vec![]),
            user: Some(String::new()),
            workdir: Some("/srv".into()),
            expose: vec!["8080/tcp".into()],
            unexpose: vec!["443/tcp".into()],
            volumes: vec!["/cache".into()],
            unvolumes: vec!["/data".into()],
            ..Default::default()
        };
        let v: serde_json::Value =
            serde_json::from_slice(&config_json(&src, "sha256:00", &edits).unwrap()).unwrap();
        let c = &v["config"];
        assert_eq!(c["Env"], serde_json::json!(["B=3", "PATH=/bin", "C=4"]));
        // The source label is slim's own, for `slim debug`.
        assert_eq!(
            c["Labels"],
            serde_json::json!({"k": "v", "new": "y", SOURCE_LABEL: "sha256:11"})
        );
        assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/app"]), "kept");
        assert!(c.get("Cmd").is_none_or(|x| x.is_null()), "cleared: {c}");
        assert!(c.get("User").is_none_or(|x| x.is_null()), "cleared: {c}");
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(
            c["ExposedPorts"],
            serde_json::json!({"80/tcp": {}, "8080/tcp": {}})
        );
        assert_eq!(c["Volumes"], serde_json::json!({"/cache": {}}));
    }
}
