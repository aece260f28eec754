//! Platforms (`os/arch[/variant]`, as `docker --platform` spells them) and
//! how one is picked from an image index (an OCI index or a Docker manifest
//! list). Names are normalized the way containerd normalizes them
//! (x86_64 is amd64, aarch64 is arm64, arm64's default variant is v8), so
//! `linux/arm64` and `linux/arm64/v8` name one platform.
use std::{fmt, str::FromStr};

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// None: any variant (the architecture's default when one is written).
    pub variant: Option<String>,
}

/// Architecture aliases, to the names image indexes use (Go's GOARCH).
const ARCH_ALIASES: &[(&str, &str)] = &[
    ("x86_64", "amd64"),
    ("x86-64", "amd64"),
    ("aarch64", "arm64"),
    ("armhf", "arm"),
    ("armel", "arm"),
    ("i386", "386"),
    ("i686", "386"),
];

/// The variant an architecture has when none is written.
const DEFAULT_VARIANTS: &[(&str, &str)] = &[("arm64", "v8")];

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let arch = architecture.to_ascii_lowercase();
        let architecture = ARCH_ALIASES
            .iter()
            .find(|(alias, _)| *alias == arch)
            .map_or(arch, |(_, name)| name.to_string());
        let variant = variant
            .filter(|v| !v.is_empty())
            .map(|v| v.to_ascii_lowercase());
        Self {
            os,
            architecture,
            variant,
        }
    }

    /// The platform slim runs on (and so the kernel's).
    pub fn native() -> Self {
        Self::new("linux", std::env::consts::ARCH, None)
    }

    /// Whether this is the machine's own platform (runs without emulation).
    pub fn is_native(&self) -> bool {
        self.os == "linux" && self.architecture == Self::native().architecture
    }

    fn variant_or_default(&self) -> Option<&str> {
        self.variant.as_deref().or_else(|| {
            DEFAULT_VARIANTS
                .iter()
                .find(|(a, _)| *a == self.architecture)
                .map(|(_, v)| *v)
        })
    }

    /// Whether an image of platform `image` is what `self` asks for: the
    /// same os and architecture, and the same variant when `self` names one.
    pub fn matches(&self, image: &Platform) -> bool {
        self.os == image.os
            && self.architecture == image.architecture
            && (self.variant.is_none() || self.variant_or_default() == image.variant_or_default())
    }

    /// The artifacts subdirectory of this platform: `<os>-<arch>`, and
    /// `-<variant>` for a variant that is not the architecture's default.
    pub fn dir_name(&self) -> String {
        let default = DEFAULT_VARIANTS
            .iter()
            .find(|(a, _)| *a == self.architecture)
            .map(|(_, v)| *v);
        match self.variant.as_deref() {
            Some(v) if Some(v) != default => format!("{}-{}-{v}", self.os, self.architecture),
            _ => format!("{}-{}", self.os, self.architecture),
        }
    }

    /// Index entries that are not images (buildx's attestation manifests
    /// are listed as unknown/unknown).
    pub fn is_image(&self) -> bool {
        self.os != "unknown" && self.architecture != "unknown"
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Self::new(os, arch, None)),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => {
                Ok(Self::new(os, arch, Some(variant)))
            }
            _ => bail!(
                "{s:?} is not a platform: write OS/ARCH or OS/ARCH/VARIANT, such as linux/arm64"
            ),
        }
    }
}

impl From<&oci_spec::image::Platform> for Platform {
    fn from(p: &oci_spec::image::Platform) -> Self {
        Self::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    }
}

/// The platforms an index lists, in its order, without repeats and without
/// entries that are not images.
pub fn listed(platforms: &[Platform]) -> Vec<Platform> {
    let mut out: Vec<Platform> = Vec::new();
    for p in platforms {
        if p.is_image() && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// The first entry whose platform `wanted` matches. `what` names the index
/// in the error, which lists the platforms it has.
pub fn choose<'a, T>(
    wanted: &Platform,
    entries: &'a [(Option<Platform>, T)],
    what: &str,
) -> Result<&'a T> {
    if let Some((_, t)) = entries
        .iter()
        .find(|(p, _)| p.as_ref().is_some_and(|p| wanted.matches(p)))
    {
        return Ok(t);
    }
    let all: Vec<Platform> = entries.iter().filter_map(|(p, _)| p.clone()).collect();
    let have = listed(&all);
    let have: Vec<String> = have.iter().map(Platform::to_string).collect();
    if have.is_empty() {
        bail!("{what} is an image index that names no platform: it has no {wanted} image")
    }
    bail!(
        "{what} has no {wanted} image; its index lists {}: pick one with --platform",
        have.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalizes_like_containerd() {
        assert_eq!(p("linux/arm64"), Platform::new("linux", "arm64", None));
        assert_eq!(p("Linux/aarch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/x86_64").to_string(), "linux/amd64");
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/arm/v7/x",
            "linux/am d64",
            "",
        ] {
            let e = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(e.contains("is not a platform"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_variant_is_matched_only_when_asked_for() {
        let v8 = Platform::new("linux", "arm64", Some("v8"));
        assert!(p("linux/arm64").matches(&v8));
        assert!(p("linux/arm64/v8").matches(&v8));
        assert!(
            p("linux/arm64/v8").matches(&p("linux/arm64")),
            "v8 is arm64's default"
        );
        assert!(!p("linux/arm/v6").matches(&p("linux/arm/v7")));
        assert!(p("linux/arm").matches(&p("linux/arm/v7")));
        assert!(!p("linux/amd64").matches(&v8));
        assert!(!p("windows/amd64").matches(&p("linux/amd64")));
    }

    #[test]
    fn artifact_directories_leave_default_variants_out() {
        assert_eq!(p("linux/arm64/v8").dir_name(), "linux-arm64");
        assert_eq!(p("linux/amd64").dir_name(), "linux-amd64");
        assert_eq!(p("linux/arm/v7").dir_name(), "linux-arm-v7");
    }

    #[test]
    fn choosing_from_an_index_names_what_it_lists() {
        let entries = vec![
            (Some(p("linux/amd64")), "a"),
            (Some(Platform::new("linux", "arm64", Some("v8"))), "b"),
            (Some(p("unknown/unknown")), "attestation"),
            (None, "no platform"),
        ];
        assert_eq!(*choose(&p("linux/arm64"), &entries, "x").unwrap(), "b");
        assert_eq!(*choose(&p("linux/amd64"), &entries, "x").unwrap(), "a");
        let e = choose(&p("linux/riscv64"), &entries, "docker://r/app:1")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "docker://r/app:1 has no linux/riscv64 image; its index lists linux/amd64, linux/arm64/v8: pick one with --platform"
        );
        let none: Vec<(Option<Platform>, ())> = vec![(None, ())];
        assert!(choose(&p("linux/amd64"), &none, "x").is_err());
    }

    #[test]
    fn from_oci_descriptors() {
        let oci: oci_spec::image::Platform =
            serde_json::from_str(r#"{"architecture":"arm64","os":"linux","variant":"v8"}"#)
                .unwrap();
        assert_eq!(Platform::from(&oci).to_string(), "linux/arm64/v8");
        assert!(Platform::native().is_native());
    }
}
