//! Bounds on what reading an image may cost. Images are untrusted input: a
//! header may claim any size, a gzip stream may expand a thousandfold, a
//! layer may hold millions of entries. Each bound has a default that fits
//! real images and an environment variable that raises it (docs/security.md
//! lists them); a bound that is hit stops slim with one line naming it.
use anyhow::{anyhow, bail, Result};

/// The PATH_MAX of Linux: no entry name or link target is longer.
pub const PATH_MAX: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A manifest, config, index or docker manifest.json (the OCI
    /// convention for manifests is 4 MiB).
    pub metadata_bytes: u64,
    /// The uncompressed tar of one layer, and the sum of its files' sizes
    /// (sparse files count their full size).
    pub layer_bytes: u64,
    /// The same, summed over an image's layers.
    pub image_bytes: u64,
    /// How many times its compressed size a layer may expand to, once it
    /// is past [`RATIO_FLOOR`].
    pub layer_ratio: u64,
    /// Entries in one layer (or members in one archive).
    pub layer_entries: u64,
    /// PAX and GNU long-name headers of one entry, together.
    pub header_bytes: u64,
    /// A file of the image read whole by slim (dpkg status, ld.so.cache,
    /// package metadata, sources).
    pub read_bytes: u64,
}

/// Below this, a layer may expand by any ratio (small layers of zeros are
/// common and cheap).
pub const RATIO_FLOOR: u64 = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        Self {
            metadata_bytes: 4 << 20,
            layer_bytes: 16 << 30,
            image_bytes: 64 << 30,
            layer_ratio: 100,
            layer_entries: 500_000,
            header_bytes: 1 << 20,
            read_bytes: 64 << 20,
        }
    }
}

/// Each limit's environment variable, for the messages and the docs.
pub const METADATA_VAR: &str = "SLIM_MAX_METADATA_BYTES";
pub const LAYER_VAR: &str = "SLIM_MAX_LAYER_BYTES";
pub const IMAGE_VAR: &str = "SLIM_MAX_IMAGE_BYTES";
pub const RATIO_VAR: &str = "SLIM_MAX_LAYER_RATIO";
pub const ENTRIES_VAR: &str = "SLIM_MAX_LAYER_ENTRIES";
pub const HEADER_VAR: &str = "SLIM_MAX_HEADER_BYTES";
pub const READ_VAR: &str = "SLIM_MAX_READ_BYTES";

fn var(name: &str, default: u64, bytes: bool) -> Result<u64> {
    let Some(v) = std::env::var_os(name).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let v = v
        .into_string()
        .map_err(|_| anyhow!("{name} is not UTF-8"))?;
    let parsed = if bytes {
        v.parse::<bytesize::ByteSize>().map(|b| b.as_u64()).ok()
    } else {
        v.parse::<u64>().ok()
    };
    match parsed {
        Some(n) if n > 0 => Ok(n),
        _ => bail!(
            "{name}={v:?} is not a {} (e.g. {name}={})",
            if bytes { "size" } else { "positive number" },
            if bytes { "32GiB" } else { "1000" }
        ),
    }
}

impl Limits {
    /// The defaults, raised or lowered by the environment.
    pub fn from_env() -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            metadata_bytes: var(METADATA_VAR, d.metadata_bytes, true)?,
            layer_bytes: var(LAYER_VAR, d.layer_bytes, true)?,
            image_bytes: var(IMAGE_VAR, d.image_bytes, true)?,
            layer_ratio: var(RATIO_VAR, d.layer_ratio, false)?,
            layer_entries: var(ENTRIES_VAR, d.layer_entries, false)?,
            header_bytes: var(HEADER_VAR, d.header_bytes, true)?,
            read_bytes: var(READ_VAR, d.read_bytes, true)?,
        })
    }

    /// The uncompressed bytes a layer whose blob is `compressed` bytes may
    /// reach.
    pub fn layer_stream_bytes(&self, compressed: u64) -> u64 {
        self.layer_bytes
            .min(compressed.saturating_mul(self.layer_ratio).max(RATIO_FLOOR))
    }
}

/// `n` bytes, for messages.
pub fn human(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_bounds_large_layers_only() {
        let l = Limits::default();
        assert_eq!(l.layer_stream_bytes(1000), RATIO_FLOOR);
        assert_eq!(l.layer_stream_bytes(10 << 20), 1000 << 20);
        assert_eq!(l.layer_stream_bytes(u64::MAX), l.layer_bytes);
    }
}
