//! The minimal image around the layer: the source image's own config (built
//! with oci-spec types), loaded into the Docker engine as a docker-archive,
//! and optionally written as an OCI image layout.
use std::{collections::BTreeMap, io::Write, path::Path};

use anyhow::{anyhow, Context, Result};
use bollard::{image::ImportImageOptions, models::ImageInspect, Docker};
use futures_util::StreamExt;
use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, Digest, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};
use sha2::{Digest as _, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    digest_hex(Sha256::digest(bytes).as_slice())
}

fn digest_hex(d: &[u8]) -> String {
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

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

/// A writer that hashes and counts what passes through it.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            digest_hex(self.hasher.finalize().as_slice()),
            self.size,
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
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

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, name, data)?;
    Ok(())
}

/// Writes a docker-archive (what `docker save` writes and `docker load`
/// reads) of one layer to `out`, the layer read from its file.
pub fn write_docker_archive(
    out: impl Write,
    tag: &str,
    config: &[u8],
    layer: &LayerInfo,
) -> Result<()> {
    let config_name = format!("{}.json", hex(&sha256(config)));
    let layer_name = format!("{}/layer.tar", hex(&layer.digest));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": [layer_name],
    }]);
    let mut tar = tar::Builder::new(out);
    append(&mut tar, &config_name, config)?;
    let mut h = tar::Header::new_gnu();
    h.set_size(layer.size);
    h.set_mode(0o644);
    h.set_mtime(0);
    let file = std::fs::File::open(&layer.path)?;
    tar.append_data(
        &mut h,
        &layer_name,
        std::io::BufReader::with_capacity(1 << 20, file),
    )?;
    append(&mut tar, "manifest.json", &serde_json::to_vec(&manifest)?)?;
    tar.into_inner()?.flush()?;
    Ok(())
}

/// A `Write` that sends what it is given, in chunks, down a bounded
/// channel: the archive is produced on a blocking thread while the engine
/// reads it, never whole in memory.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    buf: Vec<u8>,
}

const CHUNK: usize = 1 << 20;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the engine stopped reading")
        })
    }
}

/// Loads the image (config + layer file) into the engine as TAG, streaming.
pub async fn load(docker: &Docker, tag: &str, config: &[u8], layer: &LayerFile) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let (tag, config, info) = (tag.to_string(), config.to_vec(), layer.info.clone());
    let producer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        write_docker_archive(&mut w, &tag, &config, &info)?;
        w.flush()?;
        Ok(())
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut stream = docker.import_image_stream(ImportImageOptions { quiet: true }, body, None);
    let mut refused = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(err) = info.error {
                    refused = Some(anyhow!("the Docker daemon refused the image: {err}"));
                }
            }
            Err(e) => refused = Some(anyhow!(e).context("the Docker daemon refused the image")),
        }
    }
    let produced = producer.await?;
    if let Some(e) = refused {
        return Err(e);
    }
    produced.context("cannot stream the image to the Docker daemon")
}

/// Writes an OCI image layout (oci-layout, index.json, blobs) to `dir`.
/// Built in a temporary directory beside `dir` and renamed into place, so a
/// failure (a full disk) never leaves a layout whose blobs do not match
/// their digests; an existing layout at `dir` is replaced.
pub fn write_oci_layout(dir: &Path, tag: &str, config: &[u8], layer: &LayerInfo) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".slim-oci-")
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    fill_oci_layout(tmp.path(), tag, config, layer)
        .with_context(|| format!("cannot write the OCI layout {}", dir.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot write {}", dir.display()))?;
    Ok(())
}

fn fill_oci_layout(dir: &Path, tag: &str, config: &[u8], layer: &LayerInfo) -> Result<()> {
    let diff_id = &layer.digest;
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
    std::fs::copy(&layer.path, blobs.join(hex(diff_id)))?;
    let layer_d = diff_id.clone();
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
            .size(layer.size)
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
