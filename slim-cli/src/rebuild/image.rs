//! The minimal image around the layer: the source image's own config (built
//! with oci-spec types), loaded into the Docker engine as a docker-archive,
//! and optionally written as an OCI image layout.
use std::{collections::BTreeMap, io::Write, path::Path};

use anyhow::{anyhow, bail, Context, Result};
use bollard::{image::ImportImageOptions, models::ImageInspect, Docker};
use futures_util::StreamExt;
use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, Digest, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use sha2::{Digest as _, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// The image config JSON for a single layer with `diff_id`, copying the
/// source image's runtime config: entrypoint, cmd, env, user, workdir,
/// exposed ports, volumes, labels, stop signal, and Docker's healthcheck.
pub fn config_json(src: &ImageInspect, diff_id: &str) -> Result<Vec<u8>> {
    let c = src.config.clone().unwrap_or_default();
    let keys = |m: Option<std::collections::HashMap<String, std::collections::HashMap<(), ()>>>| {
        m.map(|m| {
            let mut v: Vec<String> = m.into_keys().collect();
            v.sort();
            v
        })
    };
    let mut cfg = ConfigBuilder::default();
    if let Some(v) = c.user.filter(|u| !u.is_empty()) {
        cfg = cfg.user(v);
    }
    if let Some(v) = keys(c.exposed_ports) {
        cfg = cfg.exposed_ports(v);
    }
    if let Some(v) = c.env {
        cfg = cfg.env(v);
    }
    if let Some(v) = c.entrypoint {
        cfg = cfg.entrypoint(v);
    }
    if let Some(v) = c.cmd {
        cfg = cfg.cmd(v);
    }
    if let Some(v) = keys(c.volumes) {
        cfg = cfg.volumes(v);
    }
    if let Some(v) = c.working_dir.filter(|w| !w.is_empty()) {
        cfg = cfg.working_dir(v);
    }
    if let Some(v) = c.labels {
        cfg = cfg.labels(v);
    }
    if let Some(v) = c.stop_signal {
        cfg = cfg.stop_signal(v);
    }
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(vec![diff_id.to_string()])
        .build()?;
    let mut history = HistoryBuilder::default()
        .created_by("slim build: minimal layer of the files the container used");
    let mut image = ImageConfigurationBuilder::default()
        .architecture(Arch::from(src.architecture.as_deref().unwrap_or("amd64")))
        .os(Os::from(src.os.as_deref().unwrap_or("linux")))
        .config(cfg.build()?)
        .rootfs(rootfs);
    // The source's creation time, not now: same input, same image ID.
    if let Some(created) = src.created.clone().filter(|c| !c.is_empty()) {
        history = history.created(created.clone());
        image = image.created(created);
    }
    let image = image.history(vec![history.build()?]).build()?;
    let mut value = serde_json::to_value(&image)?;
    // Docker's healthcheck is not part of the OCI config: carry it as Docker does.
    if let Some(hc) = c.healthcheck {
        value["config"]["Healthcheck"] = serde_json::to_value(hc)?;
    }
    Ok(serde_json::to_vec(&value)?)
}

fn append(tar: &mut tar::Builder<&mut Vec<u8>>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, name, data)?;
    Ok(())
}

/// A docker-archive (what `docker save` writes and `docker load` reads).
pub fn docker_archive(tag: &str, config: &[u8], layer: &[u8], diff_id: &str) -> Result<Vec<u8>> {
    let config_name = format!("{}.json", hex(&sha256(config)));
    let layer_name = format!("{}/layer.tar", hex(diff_id));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": [layer_name],
    }]);
    let mut out = Vec::with_capacity(layer.len() + config.len() + 8192);
    {
        let mut tar = tar::Builder::new(&mut out);
        append(&mut tar, &config_name, config)?;
        append(&mut tar, &layer_name, layer)?;
        append(&mut tar, "manifest.json", &serde_json::to_vec(&manifest)?)?;
        tar.finish()?;
    }
    Ok(out)
}

/// Loads a docker-archive into the engine.
pub async fn load(docker: &Docker, archive: Vec<u8>) -> Result<()> {
    let mut stream = docker.import_image(ImportImageOptions { quiet: true }, archive.into(), None);
    while let Some(item) = stream.next().await {
        let info = item.context("the Docker daemon refused the image")?;
        if let Some(err) = info.error {
            bail!("the Docker daemon refused the image: {err}");
        }
    }
    Ok(())
}

/// Writes an OCI image layout (oci-layout, index.json, blobs) to `dir`.
pub fn write_oci_layout(
    dir: &Path,
    tag: &str,
    config: &[u8],
    layer: &[u8],
    diff_id: &str,
) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("cannot create {}", blobs.display()))?;
    let put = |data: &[u8]| -> Result<String> {
        let d = sha256(data);
        std::fs::write(blobs.join(hex(&d)), data)?;
        Ok(d)
    };
    let digest =
        |d: &str| -> Result<Digest> { d.parse().map_err(|e| anyhow!("bad digest {d}: {e}")) };
    let config_d = put(config)?;
    let layer_d = put(layer)?;
    debug_assert_eq!(layer_d, diff_id);
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(
            DescriptorBuilder::default()
                .media_type(MediaType::ImageConfig)
                .digest(digest(&config_d)?)
                .size(config.len() as u64)
                .build()?,
        )
        .layers(vec![DescriptorBuilder::default()
            .media_type(MediaType::ImageLayer)
            .digest(digest(&layer_d)?)
            .size(layer.len() as u64)
            .build()?])
        .build()?;
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_d = put(&manifest_bytes)?;
    let annotations: BTreeMap<String, String> = [(
        "org.opencontainers.image.ref.name".to_string(),
        tag.to_string(),
    )]
    .into();
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(digest(&manifest_d)?)
            .size(manifest_bytes.len() as u64)
            .annotations(
                annotations
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            )
            .build()?])
        .build()?;
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    let mut f = std::fs::File::create(dir.join("oci-layout"))?;
    f.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_the_runtime_config_and_is_stable() {
        let src: ImageInspect = serde_json::from_value(serde_json::json!({
            "Architecture": "amd64", "Os": "linux", "Created": "2026-01-02T03:04:05Z",
            "Config": {
                "User": "app", "WorkingDir": "/srv", "Env": ["A=1"],
                "Entrypoint": ["/bin/app"], "Cmd": ["--serve"],
                "ExposedPorts": {"8080/tcp": {}, "80/tcp": {}},
                "Volumes": {"/data": {}}, "Labels": {"k": "v"}, "StopSignal": "SIGQUIT",
                "Healthcheck": {"Test": ["CMD", "/bin/app", "--check"], "Interval": 1000000000}
            }
        }))
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
