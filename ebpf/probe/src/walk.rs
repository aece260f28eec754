//! The base directory of a relative path, walked up to the task's root.
use core::ffi::c_void;

use aya_ebpf::helpers::{bpf_probe_read_kernel, gen::bpf_probe_read_kernel_str};
use slim_ebpf_common::{
    EventBuf, AT_FDCWD, DATA_LIMIT, DATA_MASK, FLAG_BASE, FLAG_BASE_FAILED, FLAG_BASE_OUTSIDE_ROOT,
    FLAG_BASE_TRUNCATED, MAX_DEPTH, NAME_MAX,
};

#[inline(always)]
pub(crate) fn read<T>(addr: u64) -> Result<T, i64> {
    // SAFETY: bpf_probe_read_kernel copes with any address.
    unsafe { bpf_probe_read_kernel(addr as *const T) }
}

/// Writes the names of the base directory of a relative path (the cwd, or
/// the dirfd's directory) into the data after the path, innermost first, each
/// NUL-terminated, up to the task's root. Sets `base_len`; returns flags.
#[inline(always)]
pub(crate) fn resolve_base(task: u64, dirfd: i32, buf: &mut EventBuf, start: usize) -> u32 {
    let Ok((dentry, vfsmnt, root_dentry, root_mnt)) = base_and_root(task, dirfd) else {
        return FLAG_BASE_FAILED;
    };
    walk(buf, start, dentry, vfsmnt, root_dentry, root_mnt)
}

#[inline(always)]
pub(crate) fn base_and_root(task: u64, dirfd: i32) -> Result<(u64, u64, u64, u64), i64> {
    let fs: u64 = read(task + layout!(task_fs))?;
    let root = fs + layout!(fs_root);
    let root_dentry: u64 = read(root + layout!(path_dentry))?;
    let root_mnt: u64 = read(root + layout!(path_mnt))?;
    let base = if dirfd == AT_FDCWD {
        fs + layout!(fs_pwd)
    } else {
        let files: u64 = read(task + layout!(task_files))?;
        let fdt: u64 = read(files + layout!(files_fdt))?;
        let max_fds: u32 = read(fdt + layout!(fdt_max_fds))?;
        if dirfd < 0 || dirfd as u32 >= max_fds {
            return Err(-1);
        }
        let fds: u64 = read(fdt + layout!(fdt_fd))?;
        let file: u64 = read(fds + dirfd as u64 * 8)?;
        if file == 0 {
            return Err(-1);
        }
        file + layout!(file_f_path)
    };
    let dentry: u64 = read(base + layout!(path_dentry))?;
    let mnt: u64 = read(base + layout!(path_mnt))?;
    Ok((dentry, mnt, root_dentry, root_mnt))
}

/// The bytes written so far live in `base_len`, in map memory, not in a
/// register: the verifier then sees an unknown (masked) offset each round
/// instead of tracking every possible value, which keeps a 64-level walk far
/// below its instruction budget.
#[inline(always)]
pub(crate) fn walk(
    buf: &mut EventBuf,
    start: usize,
    mut dentry: u64,
    mut vfsmnt: u64,
    root_dentry: u64,
    root_mnt: u64,
) -> u32 {
    let data = buf.data.as_mut_ptr();
    let written = &mut buf.header.base_len as *mut u32;
    // SAFETY: a field of the per-CPU scratch.
    unsafe { core::ptr::write_volatile(written, 0) };
    let mount_mnt = layout!(mount_mnt);
    let mut mnt = vfsmnt.wrapping_sub(mount_mnt);
    for _ in 0..MAX_DEPTH {
        if dentry == root_dentry && vfsmnt == root_mnt {
            return FLAG_BASE;
        }
        let Ok(mnt_root) = read::<u64>(vfsmnt + layout!(vfsmount_mnt_root)) else {
            return FLAG_BASE_FAILED;
        };
        if dentry == mnt_root {
            // At the root of a mount: continue from where it is mounted.
            let Ok(parent) = read::<u64>(mnt + layout!(mount_parent)) else {
                return FLAG_BASE_FAILED;
            };
            if parent == mnt {
                return FLAG_BASE_OUTSIDE_ROOT;
            }
            let Ok(mountpoint) = read::<u64>(mnt + layout!(mount_mountpoint)) else {
                return FLAG_BASE_FAILED;
            };
            dentry = mountpoint;
            mnt = parent;
            vfsmnt = parent + mount_mnt;
            continue;
        }
        let Ok(parent) = read::<u64>(dentry + layout!(dentry_parent)) else {
            return FLAG_BASE_FAILED;
        };
        if parent == dentry {
            return FLAG_BASE_OUTSIDE_ROOT;
        }
        let Ok(name) = read::<u64>(dentry + layout!(dentry_name)) else {
            return FLAG_BASE_FAILED;
        };
        // SAFETY: as above.
        let done = unsafe { core::ptr::read_volatile(written) } as usize;
        let pos = start + done;
        if pos >= DATA_LIMIT - 1 {
            return FLAG_BASE_TRUNCATED;
        }
        // SAFETY: pos is masked below DATA_LIMIT and data has NAME_MAX more bytes.
        let n = unsafe {
            bpf_probe_read_kernel_str(
                data.add(pos & DATA_MASK) as *mut c_void,
                NAME_MAX as u32,
                name as *const c_void,
            )
        };
        if n <= 0 {
            return FLAG_BASE_FAILED;
        }
        let done = done + (n as usize & (NAME_MAX * 2 - 1));
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(written, done as u32) };
        dentry = parent;
    }
    FLAG_BASE_TRUNCATED
}
