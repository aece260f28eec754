//! Image sinks: where the slim image goes, by transport: the engine (`docker
//! load`), an OCI layout, a docker-archive, a registry. Each writes all or
//! nothing: files are written under a temporary name and renamed, the
//! engine's tag is pointed back where it was if the run fails afterwards.
use std::path::PathBuf;

use anyhow::{Context, Result};
use futures_util::future::BoxFuture;

use crate::{
    engine::{self, Engine},
    image::{archive, digest::sha256, layout, registry},
    rebuild::image::LayerInfo,
    transport::ImageName,
};

/// The slim image, ready to be written: its config and its one layer.
pub struct Built {
    /// The name it carries where a format has one (RepoTags, ref name).
    pub tag: String,
    pub config: Vec<u8>,
    pub layer: LayerInfo,
    /// The seccomp profile (JSON), attached to a registry output as an OCI
    /// referrer of its manifest.
    pub seccomp: Option<Vec<u8>>,
}

pub trait ImageSink: Send + Sync {
    /// The destination, as the user wrote it.
    fn describe(&self) -> String;
    fn write<'a>(&'a mut self, image: &'a Built) -> BoxFuture<'a, Result<()>>;
    /// Takes back what `write` did, when a later step fails.
    fn undo(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The sink for `name`; `engine` is where docker-daemon: names go.
pub fn open<'e>(name: &ImageName, engine: &'e Engine, tls_verify: bool) -> Box<dyn ImageSink + 'e> {
    match name {
        ImageName::Daemon(reference) => Box::new(EngineSink {
            engine,
            reference: reference.clone(),
            previous: None,
            written: false,
        }),
        ImageName::Oci { dir, tag } => Box::new(OciSink {
            dir: dir.clone(),
            tag: tag.clone(),
        }),
        ImageName::Archive(file) => Box::new(ArchiveSink { file: file.clone() }),
        ImageName::Registry(reference) => Box::new(RegistrySink {
            reference: reference.clone(),
            access: registry::Access { tls_verify },
        }),
    }
}

struct EngineSink<'e> {
    engine: &'e Engine,
    reference: String,
    /// What the reference named before, to point it back on undo.
    previous: Option<String>,
    written: bool,
}

impl ImageSink for EngineSink<'_> {
    fn describe(&self) -> String {
        format!("{} in {}", self.reference, self.engine.kind.name())
    }

    fn write<'a>(&'a mut self, image: &'a Built) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.previous = engine::api::image_id(self.engine, &self.reference).await;
            let (tags, config, layer) = (
                vec![self.reference.clone()],
                image.config.clone(),
                image.layer.blob(),
            );
            engine::api::load(self.engine, self.engine.kind.name(), move |out| {
                archive::write(out, &tags, &config, &[layer])
            })
            .await?;
            self.written = true;
            Ok(())
        })
    }

    fn undo(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if !self.written {
                return Ok(());
            }
            engine::api::restore_tag(self.engine, &self.reference, self.previous.as_deref()).await
        })
    }
}

struct OciSink {
    dir: PathBuf,
    tag: Option<String>,
}

impl ImageSink for OciSink {
    fn describe(&self) -> String {
        ImageName::Oci {
            dir: self.dir.clone(),
            tag: self.tag.clone(),
        }
        .to_string()
    }

    fn write<'a>(&'a mut self, image: &'a Built) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let dir = self.dir.clone();
            let tag = self.tag.clone().unwrap_or_else(|| image.tag.clone());
            let (config, layer, diff_id) = (
                image.config.clone(),
                image.layer.blob(),
                image.layer.digest.clone(),
            );
            tokio::task::spawn_blocking(move || {
                layout::write(&dir, &tag, &config, &layer, &diff_id)
            })
            .await?
        })
    }
}

struct ArchiveSink {
    file: PathBuf,
}

impl ImageSink for ArchiveSink {
    fn describe(&self) -> String {
        ImageName::Archive(self.file.clone()).to_string()
    }

    fn write<'a>(&'a mut self, image: &'a Built) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let file = self.file.clone();
            let (tags, config, layer) = (
                vec![image.tag.clone()],
                image.config.clone(),
                image.layer.blob(),
            );
            tokio::task::spawn_blocking(move || {
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                crate::atomic::write_atomically(&file, |out| {
                    archive::write(out, &tags, &config, &[layer])
                })
            })
            .await?
        })
    }
}

struct RegistrySink {
    reference: String,
    access: registry::Access,
}

impl ImageSink for RegistrySink {
    fn describe(&self) -> String {
        format!("docker://{}", self.reference)
    }

    fn write<'a>(&'a mut self, image: &'a Built) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let manifest =
                layout::manifest_json(&image.config, image.layer.size, &image.layer.digest)?;
            registry::push(
                &self.reference,
                self.access,
                &image.config,
                &sha256(&image.config),
                &image.layer.blob(),
                &image.layer.digest,
                &manifest,
            )
            .await?;
            if let Some(profile) = &image.seccomp {
                registry::push_referrer(
                    &self.reference,
                    self.access,
                    &crate::seccomp::oci_artifact(profile),
                )
                .await?;
            }
            Ok(())
        })
    }
}
