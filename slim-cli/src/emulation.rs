//! Foreign platforms under user-mode emulation (issue #22). An image whose
//! platform is not this machine's runs through the binfmt_misc handler of
//! its architecture (Debian's qemu-user-static, registered with the F flag
//! so nothing is needed in the image); [`for_platform`] checks the handler
//! and says what to install when it is missing.
//!
//! A traced emulated process shows the guest's own file accesses as a
//! native one's, plus the emulator's: a lookup under its interp prefix
//! before every guest path, and its own start-up files. [`Emulation::apply`]
//! takes those out of the trace, by the table in `rules/emulators.toml`,
//! and turns the syscalls seen (the emulator's host syscalls) into the
//! guest architecture's names, saying what it renamed, dropped and added.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use slim_probe::{Arch, Trace};

use crate::image::platform::Platform;

const EMULATORS: &str = include_str!("../rules/emulators.toml");

/// Where the kernel lists binfmt_misc handlers.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The profile --verify uses under emulation: the emulator's host
/// syscalls, as observed (DIR/seccomp.json is the foreign platform's).
pub const EMULATED_PROFILE: &str = "seccomp-emulated.json";

/// Why a foreign platform's profile is not verified, as the report says.
pub const UNVERIFIED: &str = "drawn under user-mode emulation: the probe saw the emulator's host \
     syscalls, named here in the guest's table; a syscall the emulator makes differently, or \
     answers itself, may be missing or extra. Run the image under it on a real host of the \
     platform (docs/platforms.md)";

#[derive(Debug, Deserialize)]
struct Table {
    emulator: Vec<Emulator>,
    renames: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Emulator {
    name: String,
    install: String,
    own_files: Vec<String>,
    unseen_guest_syscalls: Vec<String>,
    target: Vec<Target>,
}

#[derive(Debug, Clone, Deserialize)]
struct Target {
    architecture: String,
    binfmt: String,
    prefixes: Vec<String>,
    seccomp_arch: String,
}

fn table() -> Table {
    // Checked by a unit test: the shipped table always parses.
    toml::from_str(EMULATORS).expect("rules/emulators.toml parses")
}

/// A binfmt_misc handler as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handler {
    enabled: bool,
    interpreter: String,
    flags: String,
}

fn parse_handler(text: &str) -> Handler {
    let mut h = Handler {
        enabled: false,
        interpreter: String::new(),
        flags: String::new(),
    };
    for line in text.lines() {
        match line.split_once(' ') {
            _ if line == "enabled" => h.enabled = true,
            Some(("interpreter", v)) => h.interpreter = v.trim().to_string(),
            Some(("flags:", v)) => h.flags = v.trim().to_string(),
            _ => {}
        }
    }
    h
}

/// How a foreign platform runs here.
#[derive(Debug, Clone)]
pub struct Emulation {
    pub platform: Platform,
    emulator: Emulator,
    target: Target,
    handler: Handler,
    guest: Arch,
    renames: BTreeMap<String, String>,
}

/// The emulation of `platform`, checked; `None` for this machine's own.
pub fn for_platform(platform: &Platform) -> Result<Option<Emulation>> {
    for_platform_in(platform, Path::new(BINFMT_DIR))
}

fn for_platform_in(platform: &Platform, binfmt: &Path) -> Result<Option<Emulation>> {
    if platform.is_native() {
        return Ok(None);
    }
    if platform.os != "linux" {
        bail!("{platform} images cannot run here: slim runs linux images only");
    }
    let table = table();
    let Some((emulator, target)) = table.emulator.iter().find_map(|e| {
        e.target
            .iter()
            .find(|t| t.architecture == platform.architecture)
            .map(|t| (e.clone(), t.clone()))
    }) else {
        let known: Vec<String> = table
            .emulator
            .iter()
            .flat_map(|e| e.target.iter().map(|t| format!("linux/{}", t.architecture)))
            .filter(|p| !p.parse::<Platform>().is_ok_and(|p| p.is_native()))
            .collect();
        bail!(
            "slim cannot slim {platform} images on this machine: it runs and names the syscalls of {} under emulation only",
            known.join(", ")
        );
    };
    let guest = Arch::from_seccomp(&target.seccomp_arch)
        .with_context(|| format!("rules/emulators.toml: unknown {}", target.seccomp_arch))?;
    if !binfmt.join("register").exists() {
        bail!(
            "{platform} runs under user-mode emulation, and binfmt_misc is not mounted at {}: \
             mount -t binfmt_misc binfmt_misc {} (scripts/setup.sh does), with {}",
            binfmt.display(),
            binfmt.display(),
            emulator.install
        );
    }
    let path: PathBuf = binfmt.join(&target.binfmt);
    let Ok(text) = std::fs::read_to_string(&path) else {
        bail!(
            "{platform} runs under user-mode emulation, and no {} handler is registered with binfmt_misc: {}",
            target.binfmt,
            emulator.install
        );
    };
    let handler = parse_handler(&text);
    if !handler.enabled {
        bail!(
            "{platform} runs under user-mode emulation, and the {} binfmt_misc handler is disabled: update-binfmts --enable {}",
            target.binfmt,
            target.binfmt
        );
    }
    if !handler.flags.contains('F') {
        bail!(
            "the {} binfmt_misc handler is registered without the F (fix-binary) flag, so {platform} \
             containers would need {} inside the image: register Debian's qemu-user-static handler ({})",
            target.binfmt,
            handler.interpreter,
            emulator.install
        );
    }
    Ok(Some(Emulation {
        platform: platform.clone(),
        emulator,
        target,
        handler,
        guest,
        renames: table.renames,
    }))
}

/// What emulation changed in a trace, for report.json's `emulation`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub platform: String,
    pub emulator: String,
    /// The binfmt_misc handler, its interpreter and flags.
    pub binfmt: String,
    pub interpreter: String,
    pub flags: String,
    /// Paths of the emulator's own taken out of `files`.
    pub filtered_paths: usize,
    /// The seccomp architecture the syscalls were seen in (the host's).
    pub host_arch: &'static str,
    /// The syscalls seen: the emulator's host syscalls.
    pub host_syscalls: Vec<String>,
    /// Host names the guest's table lacks, by the guest's call.
    pub renamed: BTreeMap<String, String>,
    /// Host syscalls with no guest equivalent (left out of seccomp.json).
    pub without_equivalent: Vec<String>,
    /// Guest syscalls the emulator answers itself, so never seen, added.
    pub added: Vec<String>,
    /// The host profile --verify runs the image under here.
    pub emulated_profile: &'static str,
    /// Argument values seen (the emulator's), for the host profile only.
    #[serde(skip)]
    pub host_arguments: BTreeMap<String, BTreeSet<u64>>,
}

impl Emulation {
    /// The guest architecture's seccomp name (SCMP_ARCH_AARCH64).
    pub fn seccomp_arch(&self) -> &'static str {
        self.guest.seccomp_arch()
    }

    /// Takes the emulator's own paths out of `trace` and names its
    /// syscalls in the guest's table.
    pub fn apply(&self, trace: &mut Trace) -> Summary {
        let filtered_paths = self.filter(trace);
        let host_syscalls = std::mem::take(&mut trace.syscalls);
        let (names, renamed, without_equivalent) = self.translate(&host_syscalls);
        let mut names: BTreeSet<String> = names;
        let added: Vec<String> = self
            .emulator
            .unseen_guest_syscalls
            .iter()
            .filter(|s| self.guest.knows(s) && !names.contains(*s))
            .cloned()
            .collect();
        names.extend(added.iter().cloned());
        trace.syscalls = names.into_iter().collect();
        trace.syscall_numbers.clear();
        let host_arch = trace.arch;
        trace.arch = self.guest.seccomp_arch();
        Summary {
            platform: self.platform.to_string(),
            emulator: self.emulator.name.clone(),
            binfmt: self.target.binfmt.clone(),
            interpreter: self.handler.interpreter.clone(),
            flags: self.handler.flags.clone(),
            filtered_paths,
            host_arch,
            host_syscalls,
            renamed,
            without_equivalent,
            added,
            emulated_profile: EMULATED_PROFILE,
            host_arguments: std::mem::take(&mut trace.arguments),
        }
    }

    /// Removes the emulator's lookups under its prefixes (failed ones: a
    /// found file means the image has that directory) and its own files;
    /// returns how many paths went.
    fn filter(&self, trace: &mut Trace) -> usize {
        let before = trace.files.len();
        let under = |path: &str, dir: &str| {
            path == dir
                || path
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        trace.files.retain(|f| {
            let probe = !f.ok && self.target.prefixes.iter().any(|p| under(&f.path, p));
            let own = self.emulator.own_files.contains(&f.path);
            !(probe || own)
        });
        before - trace.files.len()
    }

    /// Host syscall names as the guest's table names them: the same name
    /// when the guest has it, else the rename; else none.
    fn translate(
        &self,
        host: &[String],
    ) -> (BTreeSet<String>, BTreeMap<String, String>, Vec<String>) {
        let mut names = BTreeSet::new();
        let mut renamed = BTreeMap::new();
        let mut without = Vec::new();
        for s in host {
            if self.guest.knows(s) {
                names.insert(s.clone());
            } else if let Some(r) = self.renames.get(s).filter(|r| self.guest.knows(r)) {
                names.insert(r.clone());
                renamed.insert(s.clone(), r.clone());
            } else {
                without.push(s.clone());
            }
        }
        (names, renamed, without)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::record;
    use slim_probe::Access;

    fn arm64() -> Platform {
        "linux/arm64".parse().unwrap()
    }

    /// A binfmt_misc directory as the kernel shows it, with `handler`.
    fn binfmt(handler: Option<&str>) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("register"), "").unwrap();
        if let Some(h) = handler {
            std::fs::write(d.path().join("qemu-aarch64"), h).unwrap();
        }
        d
    }

    const DEBIAN: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c46\nmask ffffffff\n";

    #[test]
    fn the_shipped_table_parses() {
        let t = table();
        assert!(t.emulator[0]
            .target
            .iter()
            .any(|t| t.architecture == "arm64"));
        for r in t.renames.values() {
            assert!(Arch::Aarch64.knows(r), "{r} is not an aarch64 syscall");
        }
    }

    #[test]
    fn the_handler_must_be_registered_enabled_and_fixed() {
        if !Platform::native().matches(&"linux/amd64".parse().unwrap()) {
            return; // the table's foreign half is tested on amd64 hosts
        }
        let ok = binfmt(Some(DEBIAN));
        let e = for_platform_in(&arm64(), ok.path()).unwrap().unwrap();
        assert_eq!(e.seccomp_arch(), "SCMP_ARCH_AARCH64");
        assert!(for_platform_in(&"linux/amd64".parse().unwrap(), ok.path())
            .unwrap()
            .is_none());
        let err =
            |d: &tempfile::TempDir| for_platform_in(&arm64(), d.path()).unwrap_err().to_string();
        let missing = err(&binfmt(None));
        assert!(
            missing.contains("no qemu-aarch64 handler is registered"),
            "{missing}"
        );
        assert!(
            missing.contains("apt-get install qemu-user-static"),
            "{missing}"
        );
        let off = err(&binfmt(Some(&DEBIAN.replace("enabled\n", "disabled\n"))));
        assert!(
            off.contains("update-binfmts --enable qemu-aarch64"),
            "{off}"
        );
        let no_f = err(&binfmt(Some(&DEBIAN.replace("flags: PF", "flags: P"))));
        assert!(no_f.contains("without the F (fix-binary) flag"), "{no_f}");
        let unmounted = tempfile::tempdir().unwrap();
        assert!(err(&unmounted).contains("binfmt_misc is not mounted"));
        let e = for_platform_in(&"linux/mips64".parse().unwrap(), ok.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux/arm64"), "{e}");
    }

    /// What the lead measured on an arm64 nginx here: qemu's interp-prefix
    /// probes and own files among the guest's.
    #[test]
    fn the_emulators_paths_leave_the_trace_and_syscalls_get_guest_names() {
        if !Platform::native().matches(&"linux/amd64".parse().unwrap()) {
            return;
        }
        let dir = binfmt(Some(DEBIAN));
        let e = for_platform_in(&arm64(), dir.path()).unwrap().unwrap();
        let mut trace = Trace {
            files: vec![
                record("/etc/qemu-binfmt/aarch64", &[Access::Access], false),
                record(
                    "/etc/qemu-binfmt/aarch64/lib/ld-linux-aarch64.so.1",
                    &[Access::Access],
                    false,
                ),
                record(
                    "/etc/qemu-binfmt/aarch64/etc/nginx/nginx.conf",
                    &[Access::Access],
                    false,
                ),
                record("/etc/qemu-binfmt/aarch64x/other", &[Access::Open], false),
                record("/lib/ld-linux-aarch64.so.1", &[Access::Open], true),
                record("/proc/sys/vm/mmap_min_addr", &[Access::Open], true),
                record("/proc/self/exe", &[Access::Readlink], true),
                record("/usr/sbin/nginx", &[Access::Open, Access::Exec], true),
            ],
            syscalls: [
                "arch_prctl",
                "open",
                "openat",
                "read",
                "epoll_wait",
                "access",
            ]
            .map(String::from)
            .to_vec(),
            arch: "SCMP_ARCH_X86_64",
            ..Default::default()
        };
        trace.arguments.insert("socket".into(), [2].into());
        let s = e.apply(&mut trace);
        let paths: Vec<&str> = trace.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/qemu-binfmt/aarch64x/other",
                "/lib/ld-linux-aarch64.so.1",
                "/usr/sbin/nginx"
            ]
        );
        assert_eq!(s.filtered_paths, 5);
        assert_eq!(trace.arch, "SCMP_ARCH_AARCH64");
        for name in &trace.syscalls {
            assert!(Arch::Aarch64.knows(name), "{name}");
        }
        assert!(trace.syscalls.contains(&"openat".to_string()));
        assert!(trace.syscalls.contains(&"epoll_pwait".to_string()));
        assert!(trace.syscalls.contains(&"faccessat".to_string()));
        assert!(
            trace.syscalls.contains(&"brk".to_string()),
            "qemu answers brk itself"
        );
        assert_eq!(s.renamed["open"], "openat");
        assert_eq!(s.without_equivalent, ["arch_prctl"]);
        assert!(s.added.contains(&"brk".to_string()));
        assert_eq!(s.host_syscalls.len(), 6);
        assert_eq!(s.host_arch, "SCMP_ARCH_X86_64");
        assert!(trace.arguments.is_empty(), "the emulator's argument values");
        assert_eq!(s.host_arguments["socket"], [2].into());
    }

    #[test]
    fn handlers_parse_as_the_kernel_lists_them() {
        let h = parse_handler(DEBIAN);
        assert!(h.enabled);
        assert_eq!(h.interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
        assert_eq!(h.flags, "PF");
        assert!(!parse_handler("disabled\nflags: F\n").enabled);
    }
}
