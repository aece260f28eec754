//! Hostile images for issue #19, made here with the tar crate (headers
//! written byte by byte where the crate would refuse a name), and what the
//! tests check around them: canary trees outside the cache that must not
//! change, the child's peak RSS, the cache's growth and modes.
use std::{
    collections::BTreeMap,
    io::Write,
    os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use crate::{slim_bin, TempDir};

pub fn sha256(b: &[u8]) -> String {
    let d = Sha256::digest(b);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// One tar entry to write.
pub struct E {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub mode: u32,
    pub data: Vec<u8>,
    /// The size the header claims, when it is not the data's.
    pub claim: Option<u64>,
    pub link: Option<Vec<u8>>,
    pub dev: (u32, u32),
    pub mtime: u64,
    pub pax: Vec<(String, Vec<u8>)>,
}

impl E {
    pub fn new(kind: tar::EntryType, name: impl AsRef<[u8]>) -> Self {
        Self {
            name: name.as_ref().to_vec(),
            kind,
            mode: 0o644,
            data: Vec::new(),
            claim: None,
            link: None,
            dev: (0, 0),
            mtime: 1_600_000_000,
            pax: Vec::new(),
        }
    }
    pub fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        let mut e = Self::new(tar::EntryType::Regular, name);
        e.data = data.as_ref().to_vec();
        e
    }
    pub fn dir(name: impl AsRef<[u8]>) -> Self {
        let mut e = Self::new(tar::EntryType::Directory, name);
        e.mode = 0o755;
        e
    }
    pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let mut e = Self::new(tar::EntryType::Symlink, name);
        e.link = Some(target.as_ref().to_vec());
        e.mode = 0o777;
        e
    }
    pub fn hardlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let mut e = Self::new(tar::EntryType::Link, name);
        e.link = Some(target.as_ref().to_vec());
        e
    }
    pub fn device(kind: tar::EntryType, name: impl AsRef<[u8]>, dev: (u32, u32)) -> Self {
        let mut e = Self::new(kind, name);
        e.dev = dev;
        e.mode = 0o666;
        e
    }
    pub fn mode(mut self, m: u32) -> Self {
        self.mode = m;
        self
    }
}

/// The raw header of `e` (names copied as bytes: `..` and `/` allowed).
fn header(e: &E) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(e.kind);
    h.set_mode(e.mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(e.mtime);
    h.set_size(e.claim.unwrap_or(e.data.len() as u64));
    let name = &mut h.as_old_mut().name;
    name[..e.name.len()].copy_from_slice(&e.name);
    if let Some(l) = &e.link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
    }
    if e.dev != (0, 0) {
        h.set_device_major(e.dev.0).unwrap();
        h.set_device_minor(e.dev.1).unwrap();
    }
    h.set_cksum();
    h
}

/// A tar of `entries`, with its end blocks.
pub fn tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.pax.is_empty() {
            b.append_pax_extensions(e.pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        let h = header(e);
        b.append(&h, e.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A GNU sparse entry: `real` bytes long, `data` stored at `at`.
pub fn sparse(name: &str, real: u64, at: u64, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    h.set_path(name).unwrap();
    h.set_uid(0);
    h.set_gid(0);
    let stored = data.len().div_ceil(512) * 512;
    h.set_size(stored as u64);
    let g = h.as_gnu_mut().unwrap();
    g.set_real_size(real);
    g.sparse[0].set_offset(at);
    g.sparse[0].set_length(stored as u64);
    if at + (stored as u64) < real {
        // A trailing hole: an empty block at the end.
        g.sparse[1].set_offset(real);
        g.sparse[1].set_length(0);
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(512 + stored, 0);
    out
}

/// Ends a tar made of raw pieces.
pub fn end(mut t: Vec<u8>) -> Vec<u8> {
    t.extend_from_slice(&[0u8; 1024]);
    t
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A layer blob and the diff ID its config gives (its uncompressed digest
/// unless a test lies).
pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: String,
}

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Self {
        Self {
            diff_id: sha256(&tar),
            blob: tar,
        }
    }
    pub fn gz(tar: Vec<u8>) -> Self {
        Self {
            diff_id: sha256(&tar),
            blob: gzip(&tar),
        }
    }
}

pub fn config(diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// A docker-archive of `layers` with `config` (or one naming their diff IDs).
pub fn docker_archive(path: &Path, layers: &[Layer], config_json: Option<Vec<u8>>) {
    let config_json = config_json
        .unwrap_or_else(|| config(&layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()));
    let cname = format!("{}.json", &sha256(&config_json)[7..]);
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cname, "RepoTags": ["hostile:1"], "Layers": names}
    ]))
    .unwrap();
    let mut entries = vec![E::file(&cname, &config_json)];
    for (n, l) in names.iter().zip(layers) {
        entries.push(E::file(n, &l.blob));
    }
    entries.push(E::file("manifest.json", &manifest));
    std::fs::write(path, tar(&entries)).unwrap();
}

/// An OCI layout at `dir`: one image of `layers`; returns the paths of the
/// config, manifest and layer blobs (for tests that alter them).
pub struct Oci {
    pub config: PathBuf,
    pub manifest: PathBuf,
    pub layers: Vec<PathBuf>,
}

pub fn oci_layout(dir: &Path, layers: &[Layer], sizes: Option<Vec<u64>>) -> Oci {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = sha256(b);
        let p = blobs.join(&d[7..]);
        std::fs::write(&p, b).unwrap();
        (d, p)
    };
    let cfg = config(&layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>());
    let (cd, cp) = put(&cfg);
    let mut descs = Vec::new();
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let (d, p) = put(&l.blob);
        let size = sizes.as_ref().map_or(l.blob.len() as u64, |s| s[i]);
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": d, "size": size}));
        paths.push(p);
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cd, "size": cfg.len()},
        "layers": descs,
    }))
    .unwrap();
    let (md, mp) = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": md, "size": manifest.len()}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    Oci {
        config: cp,
        manifest: mp,
        layers: paths,
    }
}

/// What a path on the host is: type, mode, owner, mtime, device, content.
#[derive(Debug, PartialEq, Eq)]
pub struct Stat {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    rdev: u64,
    content: Vec<u8>,
}

/// A tree outside the cache that hostile images aim at.
pub struct Canary {
    pub dir: TempDir,
}

impl Canary {
    pub fn new() -> Self {
        let dir = TempDir::new("canary");
        let d = &dir.0;
        std::fs::write(d.join("victim"), "canary\n").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/file"), "inner\n").unwrap();
        std::fs::write(
            d.join("status"),
            "Package: hostleak\nStatus: install ok installed\nVersion: 6.6.6\nArchitecture: amd64\n\n",
        )
        .unwrap();
        std::fs::create_dir_all(d.join("var/lib/dpkg")).unwrap();
        std::fs::copy(d.join("status"), d.join("var/lib/dpkg/status")).unwrap();
        // An old mtime, so that a touch shows.
        for p in [
            "victim",
            "sub/file",
            "sub",
            "status",
            "var/lib/dpkg/status",
            "var/lib/dpkg",
            "var/lib",
            "var",
            "",
        ] {
            let t = std::ffi::CString::new(d.join(p).to_str().unwrap()).unwrap();
            let times = [libc::timespec {
                tv_sec: 1_000_000_000,
                tv_nsec: 0,
            }; 2];
            unsafe { libc::utimensat(libc::AT_FDCWD, t.as_ptr(), times.as_ptr(), 0) };
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir.0
    }

    /// Every path below the canary (itself included), by type, mode,
    /// owner, mtime, device and content.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Stat> {
        let mut out = BTreeMap::new();
        walk(&self.dir.0, &mut out);
        out
    }
}

impl Default for Canary {
    fn default() -> Self {
        Self::new()
    }
}

fn walk(p: &Path, out: &mut BTreeMap<PathBuf, Stat>) {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return;
    };
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else {
        "file"
    };
    let content = if ft.is_file() {
        std::fs::read(p).unwrap_or_default()
    } else if ft.is_symlink() {
        std::fs::read_link(p)
            .map(|t| t.into_os_string().into_encoded_bytes())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    out.insert(
        p.to_path_buf(),
        Stat {
            kind: kind.into(),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            mtime: (m.mtime(), m.mtime_nsec()),
            rdev: m.rdev(),
            content,
        },
    );
    if ft.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            walk(&e.path(), out);
        }
    }
}

/// How a run of slim went.
#[derive(Debug)]
pub struct Run {
    /// The exit status, or 128 + the signal that ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub max_rss_mb: f64,
    pub secs: f64,
}

impl Run {
    /// What every hostile input must leave true: the canary outside slim's
    /// directories is as it was (`before`), and slim stayed under its
    /// 200 MB memory bound.
    pub fn assert_contained(&self, name: &str, canary: &Canary, before: &BTreeMap<PathBuf, Stat>) {
        assert_eq!(canary.snapshot(), *before, "{name}: the canary changed");
        assert!(
            self.max_rss_mb < 200.0,
            "{name}: peak RSS {:.1} MB",
            self.max_rss_mb
        );
    }
}

/// The high-water RSS of process `pid` (VmHWM), in MB.
fn hwm_mb(pid: libc::pid_t) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Runs slim with `args` and `env`, measuring the child's peak RSS, killed
/// after `timeout`. The peak is read from /proc/PID/status (VmHWM, the
/// exec'd program's own high-water mark) until the child exits; wait4's
/// ru_maxrss would count the test process's RSS at fork.
pub fn run_measured(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    let out = TempDir::new("hostile-out");
    let so = std::fs::File::create(out.0.join("stdout")).unwrap();
    let se = std::fs::File::create(out.0.join("stderr")).unwrap();
    let start = Instant::now();
    // SLIM_HOSTILE_BIN: another slim to measure (an older build, say).
    let bin = std::env::var_os("SLIM_HOSTILE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(slim_bin);
    // Reaped below by wait4, which std's Child does not know of.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(so)
        .stderr(se)
        .spawn()
        .expect("run slim");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut peak = 0f64;
    loop {
        // Read before reaping: a zombie has no memory left to show.
        if let Some(mb) = hwm_mb(pid) {
            peak = peak.max(mb);
        }
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if start.elapsed() > timeout {
            // SIGTERM first: slim removes its containers and images.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let stop = Instant::now();
            while unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) } != pid {
                if stop.elapsed() > Duration::from_secs(20) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("slim {args:?} ran past {timeout:?}: stopped");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Run {
        code,
        stdout: std::fs::read_to_string(out.0.join("stdout")).unwrap_or_default(),
        stderr: std::fs::read_to_string(out.0.join("stderr")).unwrap_or_default(),
        max_rss_mb: peak,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// Bytes the tree at `p` takes on disk (blocks, so holes cost nothing).
pub fn disk_usage(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    let mut n = m.blocks() * 512;
    if m.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            n += disk_usage(&e.path());
        }
    }
    n
}

/// What in the cache would give power on the host: devices, FIFOs,
/// setuid/setgid files, file capabilities; and whether the root is 0700.
pub fn powers_in(cache: &Path) -> Vec<String> {
    let mut found = Vec::new();
    // Only once slim has opened it (made its subdirectories).
    if let Some(m) = std::fs::metadata(cache)
        .ok()
        .filter(|_| cache.join("unpacked").exists())
    {
        if m.permissions().mode() & 0o077 != 0 {
            found.push(format!(
                "{} is mode {:o}",
                cache.display(),
                m.mode() & 0o7777
            ));
        }
    }
    fn go(p: &Path, found: &mut Vec<String>) {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return;
        };
        let ft = m.file_type();
        if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() || ft.is_socket() {
            found.push(format!("special file {}", p.display()));
        }
        if !ft.is_symlink() && m.mode() & 0o6000 != 0 {
            found.push(format!("setuid/setgid {}", p.display()));
        }
        if !ft.is_symlink() {
            let name = std::ffi::CString::new("security.capability").unwrap();
            let path = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
            let n =
                unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
            if n >= 0 {
                found.push(format!("file capabilities on {}", p.display()));
            }
        }
        if ft.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                go(&e.path(), found);
            }
        }
    }
    go(cache, &mut found);
    found
}
