//! Files written whole or not at all: into a temporary file beside the
//! destination, synced, then renamed over it.
use std::{io::Write, os::unix::fs::PermissionsExt, path::Path};

use anyhow::{Context, Result};

/// Writes `path` through `fill` into a temporary file beside it, renamed
/// into place only once everything was written and synced.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> Result<()> {
    let ctx = || format!("cannot write {}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".slim-")
        // As a plain create would make it (tempfile's default is 0600).
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(ctx)?;
    let mut out = std::io::BufWriter::new(tmp.as_file());
    fill(&mut out).with_context(ctx)?;
    out.flush().with_context(ctx)?;
    drop(out);
    tmp.as_file().sync_all().with_context(ctx)?;
    tmp.persist(path).map_err(|e| e.error).with_context(ctx)?;
    Ok(())
}
