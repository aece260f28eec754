//! Which syscalls name files, and in which arguments. Numbers are per
//! architecture; user space names them with a maintained table, this side only
//! needs to know where the paths are.

/// `Spec::path` of a call about its fd alone (getdents64 lists the
/// directory `dirfd` refers to): the fd's path is the path.
pub const FD_ONLY: u8 = 255;

/// Where a file syscall keeps its path(s). `dirfd: -1` means relative paths
/// resolve against the cwd; `path2: -1` means there is no second path.
#[derive(Clone, Copy)]
pub struct Spec {
    pub dirfd: i8,
    pub path: u8,
    pub dirfd2: i8,
    pub path2: i8,
    /// Index of a flags argument worth reporting (open flags, AT_*), or -1.
    pub flags: i8,
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

/// Bit `nr` is set when `classify(nr)` knows the syscall. Tested first on
/// every syscall exit of the machine: one load instead of a compare chain.
static FILE_SYSCALLS: [u64; 8] = file_syscalls();

const fn file_syscalls() -> [u64; 8] {
    let mut bits = [0u64; 8];
    let mut nr = 0;
    while nr < 512 {
        if classify(nr as u64).is_some() {
            bits[nr / 64] |= 1 << (nr % 64);
        }
        nr += 1;
    }
    bits
}

#[inline(always)]
pub fn is_file_syscall(nr: u64) -> bool {
    nr < 512 && FILE_SYSCALLS[(nr >> 6) as usize & 7] & (1 << (nr & 63)) != 0
}

/// Whether a successful call returns a new fd for a file it opened by path
/// (open, openat, openat2, creat).
#[cfg(bpf_target_arch = "x86_64")]
#[inline(always)]
pub const fn opens_file(nr: u64) -> bool {
    matches!(nr, 2 | 257 | 437 | 85)
}

#[cfg(bpf_target_arch = "aarch64")]
#[inline(always)]
pub const fn opens_file(nr: u64) -> bool {
    matches!(nr, 56 | 437)
}

#[cfg(bpf_target_arch = "x86_64")]
pub const EXECVE: u64 = 59;
#[cfg(bpf_target_arch = "x86_64")]
pub const EXECVEAT: u64 = 322;

#[cfg(bpf_target_arch = "x86_64")]
#[inline(always)]
pub const fn classify(nr: u64) -> Option<Spec> {
    Some(match nr {
        2 => one(-1, 0, 1),              // open
        257 => one(0, 1, 2),             // openat
        437 => one(0, 1, -1),            // openat2
        85 => one(-1, 0, -1),            // creat
        59 => one(-1, 0, -1),            // execve
        322 => one(0, 1, 4),             // execveat
        4 | 6 => one(-1, 0, -1),         // stat, lstat
        262 => one(0, 1, 3),             // newfstatat
        332 => one(0, 1, 2),             // statx
        21 => one(-1, 0, -1),            // access
        269 => one(0, 1, -1),            // faccessat
        439 => one(0, 1, 3),             // faccessat2
        89 => one(-1, 0, -1),            // readlink
        267 => one(0, 1, -1),            // readlinkat
        80 => one(-1, 0, -1),            // chdir
        161 => one(-1, 0, -1),           // chroot
        83 => one(-1, 0, -1),            // mkdir
        258 => one(0, 1, -1),            // mkdirat
        133 => one(-1, 0, -1),           // mknod
        259 => one(0, 1, -1),            // mknodat
        87 | 84 => one(-1, 0, -1),       // unlink, rmdir
        263 => one(0, 1, 2),             // unlinkat
        82 => two(-1, 0, -1, 1),         // rename
        264 | 316 => two(0, 1, 2, 3),    // renameat, renameat2
        88 => one(-1, 1, -1),            // symlink(target, linkpath): the target is content
        266 => one(1, 2, -1),            // symlinkat(target, newdirfd, linkpath)
        86 => two(-1, 0, -1, 1),         // link
        265 => two(0, 1, 2, 3),          // linkat
        76 => one(-1, 0, -1),            // truncate
        90 => one(-1, 0, -1),            // chmod
        268 | 452 => one(0, 1, -1),      // fchmodat, fchmodat2
        92 | 94 => one(-1, 0, -1),       // chown, lchown
        260 => one(0, 1, 4),             // fchownat
        280 => one(0, 1, 3),             // utimensat
        137 => one(-1, 0, -1),           // statfs
        191 | 192 => one(-1, 0, -1),     // getxattr, lgetxattr
        217 | 78 => one(0, FD_ONLY, -1), // getdents64, getdents: a listing
        _ => return None,
    })
}

#[cfg(bpf_target_arch = "aarch64")]
pub const EXECVE: u64 = 221;
#[cfg(bpf_target_arch = "aarch64")]
pub const EXECVEAT: u64 = 281;

// aarch64 has only the *at() forms. Not yet exercised on an aarch64 kernel.
#[cfg(bpf_target_arch = "aarch64")]
#[inline(always)]
pub const fn classify(nr: u64) -> Option<Spec> {
    Some(match nr {
        56 => one(0, 1, 2),          // openat
        437 => one(0, 1, -1),        // openat2
        221 => one(-1, 0, -1),       // execve
        281 => one(0, 1, 4),         // execveat
        79 => one(0, 1, 3),          // newfstatat
        291 => one(0, 1, 2),         // statx
        48 => one(0, 1, -1),         // faccessat
        439 => one(0, 1, 3),         // faccessat2
        78 => one(0, 1, -1),         // readlinkat
        49 => one(-1, 0, -1),        // chdir
        51 => one(-1, 0, -1),        // chroot
        34 => one(0, 1, -1),         // mkdirat
        33 => one(0, 1, -1),         // mknodat
        35 => one(0, 1, 2),          // unlinkat
        38 | 276 => two(0, 1, 2, 3), // renameat, renameat2
        36 => one(1, 2, -1),         // symlinkat
        37 => two(0, 1, 2, 3),       // linkat
        45 => one(-1, 0, -1),        // truncate
        53 | 452 => one(0, 1, -1),   // fchmodat, fchmodat2
        54 => one(0, 1, 4),          // fchownat
        88 => one(0, 1, 3),          // utimensat
        43 => one(-1, 0, -1),        // statfs
        8 | 9 => one(-1, 0, -1),     // getxattr, lgetxattr
        61 => one(0, FD_ONLY, -1),   // getdents64: a listing
        _ => return None,
    })
}
