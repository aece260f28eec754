//! The packages an image holds, read from its own databases: OS packages
//! (dpkg's status and file lists, apk's installed db) with version,
//! architecture and licence where known, and language packages (Python
//! dist-info, Node package.json) in the usual places. Matched against what
//! the slim image keeps, it says which packages the slim image still
//! carries (at least one file kept) and which it no longer does.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{packages::DirResolver, paths::resolve_path, rootfs::LayerStack};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    Deb,
    Apk,
    Pypi,
    Npm,
}

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub ecosystem: Ecosystem,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// As the package states it (Debian's names are not always SPDX ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Its paths as the image resolves them (directories included).
    #[serde(skip)]
    pub files: Vec<String>,
}

impl Package {
    /// The package URL (purl) of the package.
    pub fn purl(&self, distro: Option<&Distro>) -> String {
        let q = |arch: &Option<String>, distro: Option<&Distro>| {
            let mut q = Vec::new();
            if let Some(a) = arch {
                q.push(format!("arch={a}"));
            }
            if let Some(d) = distro {
                q.push(format!("distro={}-{}", d.id, d.version_id));
            }
            if q.is_empty() {
                String::new()
            } else {
                format!("?{}", q.join("&"))
            }
        };
        let enc = |s: &str| s.replace('@', "%40").replace('+', "%2B");
        // OS packages: the purl type, and the namespace when the image names
        // no distribution.
        let os = |kind: &str, default: &str| {
            format!(
                "pkg:{kind}/{}/{}@{}{}",
                distro.map_or(default, |d| d.id.as_str()),
                self.name,
                enc(&self.version),
                q(&self.arch, distro)
            )
        };
        match self.ecosystem {
            Ecosystem::Deb => os("deb", "debian"),
            Ecosystem::Apk => os("apk", "alpine"),
            Ecosystem::Pypi => format!(
                "pkg:pypi/{}@{}",
                self.name.to_lowercase().replace('_', "-"),
                enc(&self.version)
            ),
            Ecosystem::Npm => match self.name.strip_prefix('@') {
                Some(scoped) => format!("pkg:npm/%40{scoped}@{}", enc(&self.version)),
                None => format!("pkg:npm/{}@{}", self.name, enc(&self.version)),
            },
        }
    }
}

/// The distribution, from /etc/os-release.
#[derive(Debug, Clone, Serialize)]
pub struct Distro {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    pub distro: Option<Distro>,
    pub packages: Vec<Package>,
}

/// A text file of the image (links followed), if it is one.
pub(crate) fn read(fs: &LayerStack, path: &str) -> Option<String> {
    let found = fs.lookup(&resolve_path(fs, path)?)?;
    if !found.meta.is_file() {
        return None;
    }
    // Regular files only, and bounded: a FIFO, a device or a sparse
    // giant is not read whole.
    match fs.read_file(&found) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            tracing::warn!(path, error = %e, "not read from the image");
            None
        }
    }
}

/// `KEY: value` fields of one stanza (RFC 822 style; continuation lines
/// are skipped).
fn fields(stanza: &str) -> BTreeMap<&str, &str> {
    stanza
        .lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn os_release(fs: &LayerStack) -> Option<Distro> {
    let text = read(fs, "/etc/os-release").or_else(|| read(fs, "/usr/lib/os-release"))?;
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    Some(Distro {
        id: get("ID")?,
        version_id: get("VERSION_ID").unwrap_or_default(),
        pretty_name: get("PRETTY_NAME").unwrap_or_default(),
    })
}

/// The licences a Debian machine-readable copyright file names, joined.
fn debian_license(copyright: &str) -> Option<String> {
    let names: BTreeSet<&str> = copyright
        .lines()
        .filter_map(|l| l.strip_prefix("License:"))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    (!names.is_empty()).then(|| names.into_iter().collect::<Vec<_>>().join(", "))
}

/// Package paths as the image resolves them (directories too: whether a
/// path is a file is asked only of the few that are kept, in [`split`]).
fn resolve_all(r: &mut DirResolver, paths: impl Iterator<Item = String>) -> Vec<String> {
    paths.map(|p| r.resolve(&p)).collect()
}

fn dpkg(fs: &LayerStack, r: &mut DirResolver) -> Vec<Package> {
    let Some(status) = read(fs, "/var/lib/dpkg/status") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let f = fields(stanza);
        let (Some(name), Some(version)) = (f.get("Package"), f.get("Version")) else {
            continue;
        };
        if !f.get("Status").is_some_and(|s| s.ends_with(" installed")) {
            continue;
        }
        let arch = f.get("Architecture").map(|a| a.to_string());
        let list = read(fs, &format!("/var/lib/dpkg/info/{name}.list")).or_else(|| {
            let a = arch.as_deref()?;
            read(fs, &format!("/var/lib/dpkg/info/{name}:{a}.list"))
        });
        let files = resolve_all(
            r,
            list.iter()
                .flat_map(|l| l.lines())
                .filter(|l| l.starts_with('/') && *l != "/.")
                .map(str::to_string),
        );
        out.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            ecosystem: Ecosystem::Deb,
            arch,
            // Read for the packages that go in an SBOM (`add_licenses`).
            license: None,
            files,
        });
    }
    out
}

fn apk(fs: &LayerStack, r: &mut DirResolver) -> Vec<Package> {
    let Some(db) = read(fs, "/lib/apk/db/installed") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for stanza in db.split("\n\n") {
        let mut p = Package {
            name: String::new(),
            version: String::new(),
            ecosystem: Ecosystem::Apk,
            arch: None,
            license: None,
            files: Vec::new(),
        };
        let mut dir = String::new();
        let mut files = Vec::new();
        for line in stanza.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k {
                "P" => p.name = v.to_string(),
                "V" => p.version = v.to_string(),
                "A" => p.arch = Some(v.to_string()),
                "L" => p.license = Some(v.to_string()),
                "F" => dir = format!("/{v}"),
                "R" => files.push(format!("{dir}/{v}")),
                _ => {}
            }
        }
        if !p.name.is_empty() {
            p.files = resolve_all(r, files.into_iter());
            out.push(p);
        }
    }
    out
}

/// Python distributions: `*.dist-info` directories in the site directories.
fn python(fs: &LayerStack, r: &mut DirResolver) -> Vec<Package> {
    let mut sites = vec!["/usr/lib/python3/dist-packages".to_string()];
    for base in ["/usr/lib", "/usr/local/lib"] {
        for name in fs.read_dir(base) {
            if name.starts_with("python3") {
                sites.push(format!("{base}/{name}/site-packages"));
                sites.push(format!("{base}/{name}/dist-packages"));
            }
        }
    }
    sites.push("/usr/local/lib/python3/dist-packages".into());
    let sites: BTreeSet<String> = sites
        .into_iter()
        .filter_map(|s| resolve_path(fs, &s))
        .collect();
    let mut out = Vec::new();
    for site in sites {
        for d in fs.read_dir(&site) {
            if !d.ends_with(".dist-info") {
                continue;
            }
            let dir = format!("{site}/{d}");
            let Some(meta) = read(fs, &format!("{dir}/METADATA")) else {
                continue;
            };
            let head = meta.split("\n\n").next().unwrap_or_default();
            let f = fields(head);
            let (Some(name), Some(version)) = (f.get("Name"), f.get("Version")) else {
                continue;
            };
            let record = read(fs, &format!("{dir}/RECORD")).unwrap_or_default();
            let files = resolve_all(
                r,
                record
                    .lines()
                    .filter_map(|l| l.split(',').next())
                    .filter(|p| !p.is_empty() && !p.starts_with('/') && !p.starts_with(".."))
                    .map(|p| format!("{site}/{p}"))
                    .chain(std::iter::once(format!("{dir}/METADATA"))),
            );
            out.push(Package {
                name: name.to_string(),
                version: version.to_string(),
                ecosystem: Ecosystem::Pypi,
                arch: None,
                license: f
                    .get("License-Expression")
                    .or(f.get("License"))
                    .filter(|l| !l.is_empty() && **l != "UNKNOWN")
                    .map(|l| l.to_string()),
                files,
            });
        }
    }
    out
}

/// Node packages: `package.json` one level into the global module
/// directories and into `node_modules` under `app_dirs`.
fn node(fs: &LayerStack, app_dirs: &[String]) -> Vec<Package> {
    let mut roots: Vec<String> = [
        "/usr/lib/node_modules",
        "/usr/local/lib/node_modules",
        "/usr/share/nodejs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    roots.extend(
        app_dirs
            .iter()
            .map(|d| format!("{}/node_modules", d.trim_end_matches('/'))),
    );
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for root in roots {
        let mut dirs = Vec::new();
        for name in fs.read_dir(&root) {
            if name.starts_with('@') {
                for inner in fs.read_dir(&format!("{root}/{name}")) {
                    dirs.push(format!("{root}/{name}/{inner}"));
                }
            } else if !name.starts_with('.') {
                dirs.push(format!("{root}/{name}"));
            }
        }
        for dir in dirs {
            let manifest = format!("{dir}/package.json");
            let Some(text) = read(fs, &manifest) else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let (Some(name), Some(version)) = (v["name"].as_str(), v["version"].as_str()) else {
                continue;
            };
            let Some(real) = resolve_path(fs, &manifest) else {
                continue;
            };
            if !seen.insert(real.clone()) {
                continue;
            }
            out.push(Package {
                name: name.to_string(),
                version: version.to_string(),
                ecosystem: Ecosystem::Npm,
                arch: None,
                license: v["license"].as_str().map(str::to_string),
                // The manifest stands for the package: the import closure
                // keeps it whenever the package is used.
                files: vec![real],
            });
        }
    }
    out
}

/// Everything the image holds; `app_dirs` (WORKDIR, the entrypoint's
/// directory) are where an app's own node_modules live.
pub fn read_image(fs: &LayerStack, app_dirs: &[String]) -> Inventory {
    let mut r = DirResolver::new(fs);
    let mut packages = dpkg(fs, &mut r);
    if packages.is_empty() {
        packages = apk(fs, &mut r);
    }
    packages.extend(python(fs, &mut r));
    packages.extend(node(fs, app_dirs));
    packages.sort_by(|a, b| {
        (a.ecosystem, &a.name, &a.version).cmp(&(b.ecosystem, &b.name, &b.version))
    });
    Inventory {
        distro: os_release(fs),
        packages,
    }
}

/// The packages with at least one file kept, and the names of those with
/// none; the app's own kept files (no package owns them) and their bytes.
/// Fills in the licences Debian keeps in copyright files, for the packages
/// at `indices` (reading every package's would cost more than the rest).
pub fn add_licenses(fs: &LayerStack, inv: &mut Inventory, indices: &[usize]) {
    for &i in indices {
        let p = &mut inv.packages[i];
        if p.ecosystem == Ecosystem::Deb && p.license.is_none() {
            p.license = read(fs, &format!("/usr/share/doc/{}/copyright", p.name))
                .and_then(|c| debian_license(&c));
        }
    }
}

/// Whether `path` is a file in the image, links followed.
pub fn is_file(fs: &LayerStack, path: &str) -> bool {
    resolve_path(fs, path)
        .and_then(|r| fs.lookup(&r))
        .is_some_and(|f| !f.meta.is_dir())
}

pub struct Split {
    /// Indices into the inventory's packages.
    pub kept: Vec<usize>,
    pub removed: Vec<usize>,
    pub app_files: Vec<String>,
}

/// `is_file` says whether a kept path is a file (not a directory, links
/// followed): lists name directories too, some of them symlinks now
/// (merged /usr's /lib), and a package is carried only by a file.
pub fn split(
    inv: &Inventory,
    kept_paths: &BTreeSet<String>,
    is_file: impl Fn(&str) -> bool,
) -> Split {
    let kept_files: BTreeSet<&str> = kept_paths
        .iter()
        .map(String::as_str)
        .filter(|p| is_file(p))
        .collect();
    let mut owned = BTreeSet::new();
    let (mut kept, mut removed) = (Vec::new(), Vec::new());
    for (i, p) in inv.packages.iter().enumerate() {
        owned.extend(p.files.iter().map(String::as_str));
        if p.files.iter().any(|f| kept_files.contains(f.as_str())) {
            kept.push(i);
        } else {
            removed.push(i);
        }
    }
    let app_files = kept_files
        .iter()
        .filter(|f| !owned.contains(*f))
        .map(|f| f.to_string())
        .collect();
    Split {
        kept,
        removed,
        app_files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn dpkg_python_and_node_packages_are_read_and_split() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("var/lib/dpkg/info")).unwrap();
        fs::create_dir_all(r.join("usr/share/doc/zlib1g")).unwrap();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        fs::write(
            r.join("var/lib/dpkg/status"),
            "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n\n\
             Package: gone\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n\n\
             Package: removed-conf\nStatus: deinstall ok config-files\nVersion: 2\n",
        )
        .unwrap();
        fs::write(
            r.join("var/lib/dpkg/info/zlib1g:amd64.list"),
            "/.\n/usr/lib\n/usr/lib/libz.so.1\n",
        )
        .unwrap();
        fs::write(r.join("var/lib/dpkg/info/gone.list"), "/usr/bin/gone\n").unwrap();
        fs::write(r.join("usr/lib/libz.so.1"), "z").unwrap();
        fs::write(r.join("usr/bin/gone"), "g").unwrap();
        fs::write(r.join("usr/bin/app"), "a").unwrap();
        fs::write(
            r.join("usr/share/doc/zlib1g/copyright"),
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: Zlib\n",
        )
        .unwrap();
        let site = r.join("usr/lib/python3/dist-packages/six-1.16.0.dist-info");
        fs::create_dir_all(&site).unwrap();
        fs::write(
            site.join("METADATA"),
            "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\nbody",
        )
        .unwrap();
        fs::write(
            site.join("RECORD"),
            "six.py,sha256=x,1\nsix-1.16.0.dist-info/METADATA,,\n",
        )
        .unwrap();
        fs::write(r.join("usr/lib/python3/dist-packages/six.py"), "").unwrap();
        let nm = r.join("srv/node_modules/@scope/pkg");
        fs::create_dir_all(&nm).unwrap();
        fs::write(
            nm.join("package.json"),
            r#"{"name":"@scope/pkg","version":"2.0.0","license":"ISC"}"#,
        )
        .unwrap();

        let stack = LayerStack::new(vec![r.to_path_buf()]);
        let mut inv = read_image(&stack, &["/srv".into()]);
        add_licenses(&stack, &mut inv, &[1]);
        let names: Vec<&str> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["gone", "zlib1g", "six", "@scope/pkg"]);
        let z = &inv.packages[1];
        assert_eq!(z.license.as_deref(), Some("Zlib"));
        assert!(z.files.contains(&"/usr/lib/libz.so.1".to_string()));
        let d = inv.distro.as_ref();
        assert_eq!(
            z.purl(d),
            "pkg:deb/debian/zlib1g@1:1.2.13?arch=amd64&distro=debian-12"
        );
        assert_eq!(inv.packages[3].purl(d), "pkg:npm/%40scope/pkg@2.0.0");

        let kept: BTreeSet<String> = [
            "/usr/lib/libz.so.1",
            "/usr/bin/app",
            "/usr/lib/python3/dist-packages/six.py",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = split(&inv, &kept, |p| is_file(&stack, p));
        let name = |i: &usize| inv.packages[*i].name.as_str();
        let k: Vec<&str> = s.kept.iter().map(name).collect();
        let gone: Vec<&str> = s.removed.iter().map(name).collect();
        assert_eq!(k, ["zlib1g", "six"]);
        assert_eq!(gone, ["gone", "@scope/pkg"]);
        assert_eq!(s.app_files, ["/usr/bin/app"]);
    }
}
