//! Image names with the transports skopeo and podman users know:
//! `docker-daemon:REF` (the engine's store; a bare REF means this),
//! `docker://REF` (a registry), `oci:DIR[:TAG]` (an OCI image layout) and
//! `docker-archive:FILE` (what `docker save` writes).
use std::{fmt, path::PathBuf, str::FromStr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageName {
    /// In the engine that runs the probe (Docker or Podman).
    Daemon(String),
    /// In a registry: `host[:port]/path:tag` or `...@sha256:...`.
    Registry(String),
    /// An OCI image layout directory, and the `org.opencontainers.image.ref.name`
    /// to pick (or to write) in its index.
    Oci { dir: PathBuf, tag: Option<String> },
    /// A docker-archive tarball.
    Archive(PathBuf),
}

impl ImageName {
    /// The transport's name, as the prefix users write.
    pub fn transport(&self) -> &'static str {
        match self {
            ImageName::Daemon(_) => "docker-daemon",
            ImageName::Registry(_) => "docker",
            ImageName::Oci { .. } => "oci",
            ImageName::Archive(_) => "docker-archive",
        }
    }
}

impl FromStr for ImageName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let nonempty = |rest: &str, what: &str| {
            if rest.is_empty() {
                Err(format!("{s:?} names no {what}"))
            } else {
                Ok(rest.to_string())
            }
        };
        if let Some(rest) = s.strip_prefix("docker://") {
            return nonempty(rest, "image").map(ImageName::Registry);
        }
        if let Some(rest) = s.strip_prefix("docker-daemon:") {
            return nonempty(rest, "image").map(ImageName::Daemon);
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            return nonempty(rest, "file").map(|f| ImageName::Archive(f.into()));
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            // oci:DIR[:TAG], as skopeo: the tag follows the last colon
            // unless what follows it is a path.
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
                    (dir, Some(tag.to_string()).filter(|t| !t.is_empty()))
                }
                _ => (rest, None),
            };
            let dir = nonempty(dir, "directory")?;
            return Ok(ImageName::Oci {
                dir: dir.into(),
                tag,
            });
        }
        if let Some((prefix, _)) = s.split_once(':') {
            // `host:5000/app` and `app:tag` are references; a word followed
            // by a colon and no slash before it, like `containers-storage:`,
            // is a transport slim does not read.
            let known_shape = prefix.contains(['.', '/']) || prefix == "localhost";
            let rest = &s[prefix.len() + 1..];
            if !known_shape && rest.contains('/') && !rest.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!(
                    "unknown transport {prefix:?} in {s:?}: use docker-daemon:, docker://, oci: or docker-archive:"
                ));
            }
        }
        nonempty(s, "image").map(ImageName::Daemon)
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageName::Daemon(r) => write!(f, "{r}"),
            ImageName::Registry(r) => write!(f, "docker://{r}"),
            ImageName::Oci { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            ImageName::Oci { dir, tag: Some(t) } => write!(f, "oci:{}:{t}", dir.display()),
            ImageName::Archive(p) => write!(f, "docker-archive:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageName {
        s.parse().unwrap()
    }

    #[test]
    fn transports_parse_as_skopeo_writes_them() {
        assert_eq!(p("nginx:1"), ImageName::Daemon("nginx:1".into()));
        assert_eq!(p("docker-daemon:app"), ImageName::Daemon("app".into()));
        assert_eq!(
            p("localhost:5000/team/app:v1"),
            ImageName::Daemon("localhost:5000/team/app:v1".into())
        );
        assert_eq!(
            p("docker://localhost:5000/app:v1"),
            ImageName::Registry("localhost:5000/app:v1".into())
        );
        assert_eq!(
            p("oci:/tmp/layout:v1"),
            ImageName::Oci {
                dir: "/tmp/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            p("oci:out/layout"),
            ImageName::Oci {
                dir: "out/layout".into(),
                tag: None
            }
        );
        assert_eq!(
            p("docker-archive:/tmp/a.tar"),
            ImageName::Archive("/tmp/a.tar".into())
        );
    }

    #[test]
    fn names_print_back_as_given() {
        for s in [
            "app:1",
            "docker://localhost:5000/app:v1",
            "oci:/tmp/l:v1",
            "oci:/tmp/l",
            "docker-archive:/a.tar",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
    }

    #[test]
    fn empty_and_unknown_transports_are_refused() {
        for bad in [
            "oci:",
            "docker://",
            "docker-archive:",
            "containers-storage:/var/x",
            "",
        ] {
            assert!(bad.parse::<ImageName>().is_err(), "{bad}");
        }
    }
}
