//! The engine's export stream (what `docker save` writes) into a temporary
//! file: the fallback way to read an image whose layer store cannot be read
//! in place (another storage driver, an engine on another host). It costs a
//! full read of the image; the layers then go through the cache.
use anyhow::{Context, Result};
use bollard::Docker;
use futures_util::StreamExt;
use std::io::Write;

pub async fn save(docker: &Docker, image: &str, engine: &str) -> Result<tempfile::NamedTempFile> {
    let file = tempfile::Builder::new()
        .prefix("slim-export-")
        .suffix(".tar")
        .tempfile()
        .context("cannot create a temporary file for the image's export")?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file.reopen()?);
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("cannot export {image} from {engine}"))?;
        out.write_all(&chunk)
            .with_context(|| format!("cannot write {}", file.path().display()))?;
    }
    out.flush()?;
    Ok(file)
}
