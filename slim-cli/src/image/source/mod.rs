//! Image sources: where the image to slim comes from, by transport. Each
//! gives the image's metadata, a reference the engine can run, and its
//! layer filesystem for the rebuilder. Images from a registry, an archive
//! or a layout are unpacked through the layer [`cache::Cache`]; an image in
//! the engine is read in place from its overlay layer directories when
//! possible, or through its export stream and the same cache.
pub mod cache;
mod export;
pub use slim_image::unpack;

use anyhow::{bail, Context, Result};

use crate::{
    engine::{self, Engine},
    image::{
        archive::{self, BlobRef},
        layout,
        meta::ImageMeta,
        platform::Platform,
        registry,
    },
    rebuild::rootfs::LayerStack,
    session::Cleanup,
    transport::ImageName,
};

/// How to read an image the engine holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadLayers {
    /// In place when possible, else the export stream.
    Auto,
    /// The overlay layer directories, in place (fast, cost grows with what
    /// is kept).
    InPlace,
    /// The engine's export stream (any storage driver; reads the image).
    Export,
}

pub struct Source {
    pub name: ImageName,
    pub meta: ImageMeta,
    origin: Origin,
}

/// An image's layer blobs and config, with what keeps them readable.
pub struct LayerBlobs {
    pub layers: Vec<BlobRef>,
    pub config: ImageMeta,
    _export: Option<tempfile::NamedTempFile>,
}

enum Origin {
    /// In the engine, under this reference.
    Engine {
        reference: String,
        inspect: Box<bollard::models::ImageInspect>,
    },
    /// A config and its layer blobs, bottom first (a registry's, in the
    /// cache; a layout's; an archive's members).
    Blobs {
        config: Vec<u8>,
        layers: Vec<BlobRef>,
    },
}

/// Opens `name`: reads its metadata; a registry image's blobs are pulled
/// into the cache. `engine` is needed for an image in the engine only.
pub async fn open(name: &ImageName, engine: Option<&Engine>, tls_verify: bool) -> Result<Source> {
    open_platform(name, engine, tls_verify, None).await
}

/// The platforms `name`'s image index lists; `None` for a single-platform
/// image (an engine's or an archive's always are).
pub async fn platforms(name: &ImageName, tls_verify: bool) -> Result<Option<Vec<Platform>>> {
    match name {
        ImageName::Registry(reference) => {
            registry::platforms(reference, registry::Access { tls_verify }).await
        }
        ImageName::Oci { dir, tag } => {
            let (dir, tag) = (dir.clone(), tag.clone());
            tokio::task::spawn_blocking(move || {
                layout::platforms(
                    &dir,
                    tag.as_deref(),
                    &crate::image::limits::Limits::from_env()?,
                )
            })
            .await?
        }
        ImageName::Daemon(_) | ImageName::Archive(_) => Ok(None),
    }
}

/// [`open`], for `platform`: its manifest of an image index; any other
/// image must be of that platform.
pub async fn open_platform(
    name: &ImageName,
    engine: Option<&Engine>,
    tls_verify: bool,
    platform: Option<&Platform>,
) -> Result<Source> {
    let source = open_any(name, engine, tls_verify, platform).await?;
    if let Some(wanted) = platform {
        let has = source.meta.platform();
        if !wanted.matches(&has) {
            bail!("{name} is a {has} image, not {wanted}: it is not an image index with other platforms");
        }
    }
    Ok(source)
}

async fn open_any(
    name: &ImageName,
    engine: Option<&Engine>,
    tls_verify: bool,
    platform: Option<&Platform>,
) -> Result<Source> {
    let (meta, origin) = match name {
        ImageName::Daemon(reference) => {
            let Some(engine) = engine else {
                bail!("{name} is in an engine, and none is connected");
            };
            let inspect =
                engine::api::inspect_image(engine, reference, engine.kind.store()).await?;
            let meta = meta_of_inspect(&inspect)?;
            let origin = Origin::Engine {
                reference: reference.clone(),
                inspect: Box::new(inspect),
            };
            (meta, origin)
        }
        ImageName::Registry(reference) => {
            let blobs = cache::Cache::open()?.blobs();
            let access = registry::Access { tls_verify };
            let pulled = registry::pull_platform(reference, access, &blobs, platform).await?;
            blobs_origin(pulled.config, pulled.layers)?
        }
        ImageName::Oci { dir, tag } => {
            let (dir, tag, platform) = (dir.clone(), tag.clone(), platform.cloned());
            let l = tokio::task::spawn_blocking(move || {
                let limits = crate::image::limits::Limits::from_env()?;
                layout::read_platform(&dir, tag.as_deref(), platform.as_ref(), &limits)
            })
            .await??;
            blobs_origin(l.config, l.layers)?
        }
        ImageName::Archive(path) => {
            let path = path.clone();
            let a = tokio::task::spawn_blocking(move || archive::read(&path)).await??;
            blobs_origin(a.config, a.layers)?
        }
    };
    Ok(Source {
        name: name.clone(),
        meta,
        origin,
    })
}

fn blobs_origin(config: Vec<u8>, layers: Vec<BlobRef>) -> Result<(ImageMeta, Origin)> {
    let size = layers
        .iter()
        .try_fold(0u64, |a, l| a.checked_add(l.len))
        .context("the image's layer sizes add up past 2^64")?;
    let meta = ImageMeta::from_config_json(&config, size)?;
    if meta.diff_ids().len() != layers.len() {
        bail!(
            "the image's config lists {} layers but its manifest {}",
            meta.diff_ids().len(),
            layers.len()
        );
    }
    Ok((meta, Origin::Blobs { config, layers }))
}

/// The engine's inspection as an OCI config.
fn meta_of_inspect(i: &bollard::models::ImageInspect) -> Result<ImageMeta> {
    let mut value = serde_json::json!({
        "architecture": i.architecture.as_deref().unwrap_or("amd64"),
        "os": i.os.as_deref().unwrap_or("linux"),
        "config": i.config,
        "rootfs": {
            "type": "layers",
            "diff_ids": i.root_fs.as_ref().and_then(|r| r.layers.clone()).unwrap_or_default(),
        },
    });
    if let Some(created) = i.created.as_deref().filter(|c| !c.is_empty()) {
        value["created"] = created.into();
    }
    ImageMeta::from_value(
        value,
        i.id.clone().unwrap_or_default(),
        i.size.unwrap_or(0).max(0) as u64,
    )
}

impl Source {
    /// Whether the engine holds it under its name already.
    pub fn in_engine(&self) -> bool {
        matches!(self.origin, Origin::Engine { .. })
    }

    /// A reference the engine can run. An image from elsewhere is loaded
    /// into the engine unless it already holds it (by ID); what slim loads
    /// is removed when the command ends, as its containers are. Its layers
    /// go through the cache first: the engine is given only layers that
    /// match their diff IDs and fit the limits (a sparse terabyte or a
    /// compression bomb is refused here, not left to the engine), and the
    /// rebuilder finds them unpacked.
    pub async fn runnable(&mut self, engine: &Engine, cleanup: &Cleanup) -> Result<String> {
        let (config, layers) = match &self.origin {
            Origin::Engine { reference, .. } => return Ok(reference.clone()),
            Origin::Blobs { config, layers } => (config.clone(), layers.clone()),
        };
        let id = self.meta.id.clone();
        if engine::api::image_id(engine, &id).await.is_none() {
            self.cached(layers.clone()).await?;
            cleanup.register_image(&id);
            engine::api::load(engine, engine.kind.name(), move |out| {
                archive::write(out, &[], &config, &layers)
            })
            .await
            .with_context(|| format!("cannot load {} into {}", self.name, engine.kind.name()))?;
        }
        // The engine knows the unpacked size.
        if let Ok(i) = engine::api::inspect_image(engine, &id, engine.kind.store()).await {
            self.meta.size_bytes = i.size.unwrap_or(0).max(0) as u64;
        }
        Ok(id)
    }

    /// The image's files, for the rebuilder.
    pub async fn layers(&self, engine: Option<&Engine>, read: ReadLayers) -> Result<LayerStack> {
        match &self.origin {
            Origin::Blobs { layers, .. } => self.cached(layers.clone()).await,
            Origin::Engine { reference, inspect } => {
                let engine = engine.context("no engine to read the image from")?;
                let in_place = || in_place(inspect);
                let exported = || async {
                    // The export file lives until its layers are in the cache.
                    let (a, _saved) = export(engine, reference).await?;
                    self.cached(a.layers).await
                };
                match read {
                    ReadLayers::InPlace => in_place(),
                    ReadLayers::Export => exported().await,
                    ReadLayers::Auto => match in_place() {
                        Ok(stack) => Ok(stack),
                        Err(e) => {
                            tracing::info!(reason = %e, "reading the image from its export stream");
                            exported().await
                        }
                    },
                }
            }
        }
    }

    /// The layer blobs, bottom first, and the image's own config (the
    /// engine's inspection lacks the history). An image in the engine is
    /// exported to the returned temporary file, which the blobs point into.
    pub async fn layer_blobs(&self, engine: Option<&Engine>) -> Result<LayerBlobs> {
        match &self.origin {
            Origin::Blobs { layers, config } => Ok(LayerBlobs {
                layers: layers.clone(),
                config: ImageMeta::from_config_json(config, self.meta.size_bytes)?,
                _export: None,
            }),
            Origin::Engine { reference, .. } => {
                let engine = engine.context("no engine to export the image from")?;
                let (a, saved) = export(engine, reference).await?;
                Ok(LayerBlobs {
                    layers: a.layers,
                    config: ImageMeta::from_config_json(&a.config, self.meta.size_bytes)?,
                    _export: Some(saved),
                })
            }
        }
    }

    /// Each layer's directory in the cache (unpacked now if needed).
    async fn cached(&self, layers: Vec<BlobRef>) -> Result<LayerStack> {
        let diff_ids = self.meta.diff_ids().to_vec();
        tokio::task::spawn_blocking(move || {
            let cache = cache::Cache::open()?;
            let budget = unpack::Budget::from_env()?;
            let mut dirs = layers
                .iter()
                .zip(&diff_ids)
                .map(|(blob, diff_id)| {
                    let l = cache.layer(blob, diff_id, &budget)?;
                    Ok((l.dir, l.unpacked.specials))
                })
                .collect::<Result<Vec<_>>>()?;
            dirs.reverse();
            Ok(LayerStack::unpacked(dirs))
        })
        .await?
    }
}

/// The engine's export of `reference` in a temporary file, indexed as a
/// docker-archive whose layers point into it.
async fn export(
    engine: &Engine,
    reference: &str,
) -> Result<(archive::Archive, tempfile::NamedTempFile)> {
    let saved = export::save(engine, reference, engine.kind.name()).await?;
    let path = saved.path().to_path_buf();
    let a = tokio::task::spawn_blocking(move || archive::read(&path)).await??;
    Ok((a, saved))
}

/// The overlay layer directories the engine names, read in place.
fn in_place(src: &bollard::models::ImageInspect) -> Result<LayerStack> {
    let driver = src
        .graph_driver
        .as_ref()
        .context("the engine did not say how the image is stored")?;
    // Docker's overlay2 and Podman's overlay keep the same on-disk form.
    if driver.name != "overlay2" && driver.name != "overlay" {
        bail!(
            "the image is stored by the {} driver; only overlay is read in place",
            driver.name
        );
    }
    let data = &driver.data;
    LayerStack::from_overlay(
        data.get("UpperDir").map(String::as_str),
        data.get("LowerDir").map(String::as_str),
    )
}
