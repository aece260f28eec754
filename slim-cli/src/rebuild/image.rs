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

/// The image config JSON for a single layer with `diff_id`, copying the
/// source image's runtime config: entrypoint, cmd, env, user, workdir,
/// exposed ports, volumes, labels, stop signal, and Docker's healthcheck.
pub fn config_json(src: &ImageMeta, diff_id: &str) -> Result<Vec<u8>> {
    let c = src.runtime();
    let sorted = |v: &Option<Vec<String>>| {
        v.clone().map(|mut v| {
            v.sort();
            v
        })
    };
    let mut cfg = ConfigBuilder::default();
    if let Some(v) = c.user().clone().filter(|u| !u.is_empty()) {
        cfg = cfg.user(v);
    }
    if let Some(v) = sorted(c.exposed_ports()) {
        cfg = cfg.exposed_ports(v);
    }
    if let Some(v) = c.env().clone() {
        cfg = cfg.env(v);
    }
    if let Some(v) = c.entrypoint().clone() {
        cfg = cfg.entrypoint(v);
    }
    if let Some(v) = c.cmd().clone() {
        cfg = cfg.cmd(v);
    }
    if let Some(v) = sorted(c.volumes()) {
        cfg = cfg.volumes(v);
    }
    if let Some(v) = c.working_dir().clone().filter(|w| !w.is_empty()) {
        cfg = cfg.working_dir(v);
    }
    if let Some(v) = c.labels().clone() {
        cfg = cfg.labels(v);
    }
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
        let a = config_json(&src, "sha256:00").unwrap();
        assert_eq!(a, config_json(&src, "sha256:00").unwrap(), "deterministic");
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
}
