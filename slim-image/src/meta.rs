//! What slim knows of an image before it runs it, whatever transport it
//! came from: its OCI config (runtime config, architecture, layers' diff
//! IDs), Docker's healthcheck (not part of the OCI config), its ID and size.
use anyhow::{Context, Result};
use oci_spec::image::{Config, ImageConfiguration};

#[derive(Debug, Clone)]
pub struct ImageMeta {
    /// The config's digest: the image ID Docker and Podman give it.
    pub id: String,
    /// The unpacked size, as the engine counts it (or the layers' sizes).
    pub size_bytes: u64,
    pub config: ImageConfiguration,
    pub healthcheck: Option<serde_json::Value>,
}

impl ImageMeta {
    /// From an image config JSON as registries, layouts and archives carry
    /// it (the OCI format, which Docker's is a superset of).
    pub fn from_config_json(raw: &[u8], size_bytes: u64) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_slice(raw).context("the image config is not JSON")?;
        Self::from_value(value, crate::digest::sha256(raw), size_bytes)
    }

    pub fn from_value(value: serde_json::Value, id: String, size_bytes: u64) -> Result<Self> {
        let healthcheck = value
            .pointer("/config/Healthcheck")
            .filter(|h| !h.is_null())
            .cloned();
        let config: ImageConfiguration =
            serde_json::from_value(value).context("the image config is not a valid OCI config")?;
        // Diff IDs name cache directories: digests, or nothing.
        for d in config.rootfs().diff_ids() {
            crate::digest::checked_hex(d).context("the image config's rootfs.diff_ids")?;
        }
        Ok(Self {
            id,
            size_bytes,
            config,
            healthcheck,
        })
    }

    /// The platform the config names.
    pub fn platform(&self) -> crate::platform::Platform {
        crate::platform::Platform::new(
            &self.config.os().to_string(),
            &self.config.architecture().to_string(),
            self.config.variant().as_deref(),
        )
    }

    /// The runtime config (entrypoint, env, ...); empty when there is none.
    pub fn runtime(&self) -> Config {
        self.config.config().clone().unwrap_or_default()
    }

    /// Exposed TCP ports, sorted.
    pub fn tcp_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .runtime()
            .exposed_ports()
            .iter()
            .flatten()
            .filter_map(|p| {
                // "80/tcp", or "80" (tcp is the default protocol)
                match p.split_once('/') {
                    Some((n, "tcp")) => n.parse().ok(),
                    Some(_) => None,
                    None => p.parse().ok(),
                }
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The layers' diff IDs, bottom first.
    pub fn diff_ids(&self) -> &[String] {
        self.config.rootfs().diff_ids()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_configs_read_as_oci_with_the_healthcheck_aside() {
        let raw = br#"{"architecture":"amd64","os":"linux",
            "config":{"Hostname":"","ExposedPorts":{"80/tcp":{},"53/udp":{},"8080":{}},
              "Env":["A=1"],"Entrypoint":["/app"],"Healthcheck":{"Test":["CMD","true"]}},
            "rootfs":{"type":"layers","diff_ids":["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"]},
            "history":[{"created_by":"x","empty_layer":true}]}"#;
        let m = ImageMeta::from_config_json(raw, 7).unwrap();
        assert_eq!(m.tcp_ports(), [80, 8080]);
        assert_eq!(
            m.runtime().entrypoint().as_deref(),
            Some(&["/app".to_string()][..])
        );
        assert_eq!(m.healthcheck.as_ref().unwrap()["Test"][1], "true");
        assert_eq!(m.diff_ids()[1], format!("sha256:{}", "b".repeat(64)));
        let bad = br#"{"architecture":"amd64","os":"linux",
            "rootfs":{"type":"layers","diff_ids":["sha256:../../x"]}}"#;
        assert!(ImageMeta::from_config_json(bad, 0).is_err());
        assert!(m.id.starts_with("sha256:"));
    }
}
