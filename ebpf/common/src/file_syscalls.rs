//! The file syscalls slim records: one table, read by the eBPF programs
//! (where a call's paths are, per architecture number) and by user space
//! (what kind of access it is). slim-probe tests every number against the
//! maintained tables of the `syscalls` crate.

/// How a file was used: the kind of each file syscall of the table, and in
/// the report. User space refines `Open` with the open flags into `Create`
/// or `Write`. (The order is the report's order.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "user",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
#[repr(u8)]
pub enum AccessKind {
    Open,
    Create,
    /// Opened for writing (never in the table: an `Open` with write flags).
    Write,
    Exec,
    Stat,
    Access,
    Readlink,
    Chdir,
    Chroot,
    Mkdir,
    Mknod,
    Unlink,
    Rename,
    Link,
    Symlink,
    Truncate,
    Chmod,
    Chown,
    Utime,
    Statfs,
    Xattr,
    /// The directory's entries were read (getdents64).
    List,
}

/// Where a file syscall keeps its path(s). `dirfd: -1` means relative paths
/// resolve against the cwd; `path2: -1` means there is no second path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub dirfd: i8,
    pub path: u8,
    pub dirfd2: i8,
    pub path2: i8,
    /// Index of a flags argument worth reporting (open flags, AT_*), or -1.
    pub flags: i8,
}

/// `Spec::path` of a call about its fd alone (getdents64 lists the
/// directory `dirfd` refers to): the fd's path is the path.
pub const FD_ONLY: u8 = 255;

/// A syscall an architecture does not have.
pub const NONE: u16 = u16::MAX;

/// Numbers below this are looked up in per-architecture arrays.
pub const MAX_NR: usize = 512;

#[derive(Clone, Copy, Debug)]
pub struct FileSyscall {
    pub name: &'static str,
    pub x86_64: u16,
    pub aarch64: u16,
    pub spec: Spec,
    pub access: AccessKind,
}

const fn one(dirfd: i8, path: u8, flags: i8) -> Spec {
    Spec {
        dirfd,
        path,
        dirfd2: -1,
        path2: -1,
        flags,
    }
}

const fn two(dirfd: i8, path: u8, dirfd2: i8, path2: i8) -> Spec {
    Spec {
        dirfd,
        path,
        dirfd2,
        path2,
        flags: -1,
    }
}

const fn row(
    name: &'static str,
    x86_64: u16,
    aarch64: u16,
    spec: Spec,
    access: AccessKind,
) -> FileSyscall {
    FileSyscall {
        name,
        x86_64,
        aarch64,
        spec,
        access,
    }
}

use AccessKind as A;

/// Every file syscall slim records. aarch64 has only the *at() forms.
pub const FILE_SYSCALLS: &[FileSyscall] = &[
    row("open", 2, NONE, one(-1, 0, 1), A::Open),
    row("openat", 257, 56, one(0, 1, 2), A::Open),
    row("openat2", 437, 437, one(0, 1, -1), A::Open),
    row("creat", 85, NONE, one(-1, 0, -1), A::Create),
    row("execve", 59, 221, one(-1, 0, -1), A::Exec),
    row("execveat", 322, 281, one(0, 1, 4), A::Exec),
    row("stat", 4, NONE, one(-1, 0, -1), A::Stat),
    row("lstat", 6, NONE, one(-1, 0, -1), A::Stat),
    row("newfstatat", 262, NONE, one(0, 1, 3), A::Stat),
    // aarch64's number 79 is the same call, named fstatat in its table.
    row("fstatat", NONE, 79, one(0, 1, 3), A::Stat),
    row("statx", 332, 291, one(0, 1, 2), A::Stat),
    row("access", 21, NONE, one(-1, 0, -1), A::Access),
    row("faccessat", 269, 48, one(0, 1, -1), A::Access),
    row("faccessat2", 439, 439, one(0, 1, 3), A::Access),
    row("readlink", 89, NONE, one(-1, 0, -1), A::Readlink),
    row("readlinkat", 267, 78, one(0, 1, -1), A::Readlink),
    row("chdir", 80, 49, one(-1, 0, -1), A::Chdir),
    row("chroot", 161, 51, one(-1, 0, -1), A::Chroot),
    row("mkdir", 83, NONE, one(-1, 0, -1), A::Mkdir),
    row("mkdirat", 258, 34, one(0, 1, -1), A::Mkdir),
    row("mknod", 133, NONE, one(-1, 0, -1), A::Mknod),
    row("mknodat", 259, 33, one(0, 1, -1), A::Mknod),
    row("unlink", 87, NONE, one(-1, 0, -1), A::Unlink),
    row("rmdir", 84, NONE, one(-1, 0, -1), A::Unlink),
    row("unlinkat", 263, 35, one(0, 1, 2), A::Unlink),
    row("rename", 82, NONE, two(-1, 0, -1, 1), A::Rename),
    row("renameat", 264, 38, two(0, 1, 2, 3), A::Rename),
    row("renameat2", 316, 276, two(0, 1, 2, 3), A::Rename),
    // symlink(target, linkpath): the target is content, the link the path.
    row("symlink", 88, NONE, one(-1, 1, -1), A::Symlink),
    row("symlinkat", 266, 36, one(1, 2, -1), A::Symlink),
    row("link", 86, NONE, two(-1, 0, -1, 1), A::Link),
    row("linkat", 265, 37, two(0, 1, 2, 3), A::Link),
    row("truncate", 76, 45, one(-1, 0, -1), A::Truncate),
    row("chmod", 90, NONE, one(-1, 0, -1), A::Chmod),
    row("fchmodat", 268, 53, one(0, 1, -1), A::Chmod),
    row("fchmodat2", 452, 452, one(0, 1, -1), A::Chmod),
    row("chown", 92, NONE, one(-1, 0, -1), A::Chown),
    row("lchown", 94, NONE, one(-1, 0, -1), A::Chown),
    row("fchownat", 260, 54, one(0, 1, 4), A::Chown),
    row("utimensat", 280, 88, one(0, 1, 3), A::Utime),
    row("statfs", 137, 43, one(-1, 0, -1), A::Statfs),
    row("getxattr", 191, 8, one(-1, 0, -1), A::Xattr),
    row("lgetxattr", 192, 9, one(-1, 0, -1), A::Xattr),
    // A listing: the path is the directory the fd refers to.
    row("getdents64", 217, 61, one(0, FD_ONLY, -1), A::List),
    row("getdents", 78, NONE, one(0, FD_ONLY, -1), A::List),
];

/// The architectures the table has numbers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableArch {
    X86_64,
    Aarch64,
}

const fn number(s: &FileSyscall, arch: TableArch) -> u16 {
    match arch {
        TableArch::X86_64 => s.x86_64,
        TableArch::Aarch64 => s.aarch64,
    }
}

/// Bit `nr` set for every call of `arch` whose access is one of `kinds`
/// (none: every file syscall), e.g. a filter tested on every syscall exit.
pub const fn bits(arch: TableArch, kinds: &[AccessKind]) -> [u64; MAX_NR / 64] {
    let mut bits = [0u64; MAX_NR / 64];
    let mut i = 0;
    while i < FILE_SYSCALLS.len() {
        let s = &FILE_SYSCALLS[i];
        let nr = number(s, arch) as usize;
        let mut wanted = kinds.is_empty();
        let mut k = 0;
        while k < kinds.len() {
            wanted |= kinds[k] as u8 == s.access as u8;
            k += 1;
        }
        if wanted && nr < MAX_NR {
            bits[nr / 64] |= 1 << (nr % 64);
        }
        i += 1;
    }
    bits
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The number of `name` on `arch` ([`NONE`] if absent), at compile time.
pub const fn number_of(name: &str, arch: TableArch) -> u16 {
    let mut i = 0;
    while i < FILE_SYSCALLS.len() {
        if same(FILE_SYSCALLS[i].name, name) {
            return number(&FILE_SYSCALLS[i], arch);
        }
        i += 1;
    }
    NONE
}

/// The row of syscall `name`.
pub fn by_name(name: &str) -> Option<&'static FileSyscall> {
    FILE_SYSCALLS.iter().find(|s| s.name == name)
}
