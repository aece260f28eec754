//! What a kept executable or library needs to load, found the way ld.so
//! finds it (no ldd in the image): the ELF interpreter, DT_NEEDED libraries
//! searched through DT_RPATH/DT_RUNPATH (with $ORIGIN), the image's
//! /etc/ld.so.cache and the default directories; and `#!` interpreters.
use std::collections::HashMap;

/// What the loader will look for on behalf of one file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// RPATH or RUNPATH directories, `$ORIGIN` already expanded.
    pub search: Vec<String>,
    /// The ELF's e_machine: which architecture's directories ld.so
    /// searches (an arm64 image's files on an amd64 host are arm64's).
    pub machine: u16,
}

/// Parses `bytes` of the file at image path `path`; `None` if it is not ELF.
pub fn needs(path: &str, bytes: &[u8]) -> Option<Needs> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let origin = path
        .rsplit_once('/')
        .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    let expand = |p: &str| p.replace("${ORIGIN}", origin).replace("$ORIGIN", origin);
    // DT_RUNPATH, when present, replaces DT_RPATH.
    let paths = if elf.runpaths.is_empty() {
        &elf.rpaths
    } else {
        &elf.runpaths
    };
    let search = paths
        .iter()
        .flat_map(|p| p.split(':'))
        .filter(|p| !p.is_empty())
        .map(expand)
        .collect();
    Some(Needs {
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        search,
        machine: elf.header.e_machine,
    })
}

/// The interpreter of a `#!` script, if `bytes` starts with one.
pub fn shebang(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim();
    let interp = line.split_whitespace().next()?;
    interp.starts_with('/').then(|| interp.to_string())
}

/// Debian's multiarch tuple of each ELF machine (e_machine): the
/// directories under /lib and /usr/lib its glibc searches first.
const MULTIARCH: &[(u16, &str)] = &[
    (goblin::elf::header::EM_X86_64, "x86_64-linux-gnu"),
    (goblin::elf::header::EM_AARCH64, "aarch64-linux-gnu"),
    (goblin::elf::header::EM_ARM, "arm-linux-gnueabihf"),
    (goblin::elf::header::EM_386, "i386-linux-gnu"),
    (goblin::elf::header::EM_PPC64, "powerpc64le-linux-gnu"),
    (goblin::elf::header::EM_S390, "s390x-linux-gnu"),
    (goblin::elf::header::EM_RISCV, "riscv64-linux-gnu"),
];

/// Directories ld.so searches last for an object of ELF `machine`: its
/// multiarch directories, then the plain ones.
pub fn default_dirs(machine: u16) -> Vec<String> {
    let mut dirs = Vec::new();
    if let Some((_, tuple)) = MULTIARCH.iter().find(|(m, _)| *m == machine) {
        dirs.push(format!("/lib/{tuple}"));
        dirs.push(format!("/usr/lib/{tuple}"));
    }
    dirs.extend(["/lib64", "/usr/lib64", "/lib", "/usr/lib"].map(String::from));
    dirs
}

/// Library name -> paths, from a glibc `ld.so.cache` (the "glibc-ld.so.cache1.1"
/// format, possibly after the old "ld.so-1.7.0" one). Unknown formats give an
/// empty map: the default directories still apply.
pub fn parse_ld_so_cache(data: &[u8]) -> HashMap<String, Vec<String>> {
    const NEW: &[u8] = b"glibc-ld.so.cache1.1";
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let Some(start) = data.windows(NEW.len()).position(|w| w == NEW) else {
        return out;
    };
    let d = &data[start..];
    let u32_at = |o: usize| {
        d.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let Some(nlibs) = u32_at(20) else { return out };
    // Header: magic+version (20), nlibs, len_strings, flags+pad (4),
    // extension offset, 3 unused words = 48 bytes; entries are 24 bytes.
    let header = 48usize;
    let cstr = |off: u32| -> Option<String> {
        let s = d.get(off as usize..)?;
        let end = s.iter().position(|&b| b == 0)?;
        String::from_utf8(s[..end].to_vec()).ok()
    };
    for i in 0..nlibs as usize {
        let e = header + i * 24;
        let (Some(key), Some(value)) = (u32_at(e + 4), u32_at(e + 8)) else {
            break;
        };
        if let (Some(k), Some(v)) = (cstr(key), cstr(value)) {
            out.entry(k).or_default().push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interpreter_and_needed_of_a_real_binary() {
        let bytes = std::fs::read("/bin/ls").unwrap();
        let n = needs("/usr/bin/ls", &bytes).unwrap();
        assert!(n.interpreter.unwrap().contains("ld-linux"));
        assert!(
            n.needed.iter().any(|l| l.starts_with("libc.so")),
            "{:?}",
            n.needed
        );
        assert!(needs("/x", b"#!/bin/sh\n").is_none());
    }

    /// Issue #22: an arm64 image's libraries are found in arm64's
    /// directories whatever the host is.
    #[test]
    fn default_directories_follow_the_objects_machine() {
        // An ELF64 header alone, of an aarch64 executable.
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // 64-bit
        h[5] = 1; // little-endian
        h[6] = 1;
        h[16] = 2; // ET_EXEC
        h[18..20].copy_from_slice(&goblin::elf::header::EM_AARCH64.to_le_bytes());
        h[20] = 1;
        h[52] = 64; // e_ehsize
        let n = needs("/usr/sbin/app", &h).expect("a header-only ELF parses");
        assert_eq!(n.machine, goblin::elf::header::EM_AARCH64);
        let dirs = default_dirs(n.machine);
        assert_eq!(
            dirs[..2],
            ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
        );
        let host = needs("/usr/bin/ls", &std::fs::read("/bin/ls").unwrap()).unwrap();
        assert_eq!(
            default_dirs(host.machine)[0],
            format!("/lib/{}-linux-gnu", std::env::consts::ARCH)
        );
        assert_eq!(
            default_dirs(0xffff),
            ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
        );
    }

    #[test]
    fn shebang_lines() {
        assert_eq!(shebang(b"#!/bin/sh\necho"), Some("/bin/sh".into()));
        assert_eq!(
            shebang(b"#! /usr/bin/env python3 -u\n"),
            Some("/usr/bin/env".into())
        );
        assert_eq!(shebang(b"#!sh\n"), None);
        assert_eq!(shebang(b"\x7fELF"), None);
    }

    #[test]
    fn parses_the_hosts_ld_so_cache() {
        let data = std::fs::read("/etc/ld.so.cache").unwrap();
        let map = parse_ld_so_cache(&data);
        let libc = map.get("libc.so.6").expect("libc.so.6 in the cache");
        assert!(libc[0].ends_with("/libc.so.6"), "{libc:?}");
        assert!(parse_ld_so_cache(b"garbage").is_empty());
    }

    #[test]
    fn runpath_origin_expands_to_the_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (src, bin) = (dir.path().join("m.c"), dir.path().join("m"));
        std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
        let ok = std::process::Command::new("cc")
            .arg(&src)
            .arg("-o")
            .arg(&bin)
            .arg("-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
            .status()
            .unwrap()
            .success();
        assert!(ok, "cc failed");
        let n = needs("/opt/app/bin/m", &std::fs::read(&bin).unwrap()).unwrap();
        assert_eq!(n.search, ["/opt/app/bin/../lib"]);
    }
}
