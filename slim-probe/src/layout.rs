//! Fills [`Layout`]: the kernel struct offsets the eBPF programs walk (from the
//! running kernel's BTF, since Rust eBPF has no CO-RE relocations) and the
//! tracepoint field offsets (from tracefs `format` files, which differ between
//! kernels: `sched_process_fork` has `__data_loc` comms on newer ones).
use std::path::{Path, PathBuf};

use btf_rs::{Backend, Btf, Type};
use slim_ebpf_common::Layout;

use crate::ProbeError;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Reads every offset the programs need from this kernel.
pub(crate) fn kernel_layout() -> Result<Layout, ProbeError> {
    let btf = kernel_btf()?;
    let off = |s: &str, path: &str| member_offset(&btf, s, path);
    let tracefs = tracefs_root()?;
    let field = |event: &str, name: &str| tracepoint_field(&tracefs, event, name);
    let regs_args = syscall_arg_offsets(&btf)?;
    Ok(Layout {
        task_nsproxy: off("task_struct", "nsproxy")?,
        task_fs: off("task_struct", "fs")?,
        task_files: off("task_struct", "files")?,
        task_seccomp_mode: off("task_struct", "seccomp.mode")?,
        task_comm: off("task_struct", "comm")?,
        task_pid: off("task_struct", "pid")?,
        task_tgid: off("task_struct", "tgid")?,
        nsproxy_mnt_ns: off("nsproxy", "mnt_ns")?,
        nsproxy_uts_ns: off("nsproxy", "uts_ns")?,
        uts_nodename: off("uts_namespace", "name.nodename")?,
        mnt_ns_inum: off("mnt_namespace", "ns.inum")?,
        fs_root: off("fs_struct", "root")?,
        fs_pwd: off("fs_struct", "pwd")?,
        path_mnt: off("path", "mnt")?,
        path_dentry: off("path", "dentry")?,
        dentry_parent: off("dentry", "d_parent")?,
        dentry_name: off("dentry", "d_name.name")?,
        vfsmount_mnt_root: off("vfsmount", "mnt_root")?,
        mount_mnt: off("mount", "mnt")?,
        mount_parent: off("mount", "mnt_parent")?,
        mount_mountpoint: off("mount", "mnt_mountpoint")?,
        files_fdt: off("files_struct", "fdt")?,
        fdt_max_fds: off("fdtable", "max_fds")?,
        fdt_fd: off("fdtable", "fd")?,
        file_f_path: off("file", "f_path")?,
        regs_args,
        regs_nr: syscall_nr_offset(&btf)?,
        tp_exec_filename: field("sched/sched_process_exec", "filename")?,
        tp_fork_parent_pid: field("sched/sched_process_fork", "parent_pid")?,
        tp_fork_child_pid: field("sched/sched_process_fork", "child_pid")?,
        tp_exit_pid: field("sched/sched_process_exit", "pid")?,
    })
}

/// The kernel's BTF, mapped where the kernel allows it (recent kernels):
/// only the types asked for are decoded, about 25 ms here instead of 150 ms
/// to parse all of it, which older kernels still need.
fn kernel_btf() -> Result<Btf, ProbeError> {
    Btf::from_file_with_backend(VMLINUX, Backend::Mmap)
        .or_else(|_| Btf::from_file(VMLINUX))
        .map_err(|e| ProbeError::Btf {
            what: VMLINUX.into(),
            reason: e.to_string(),
        })
}

/// Where `struct pt_regs` keeps the syscall number. Read as 32 bits: that is
/// its width on arm64, and the low half of x86's `orig_ax`.
fn syscall_nr_offset(btf: &Btf) -> Result<u64, ProbeError> {
    if cfg!(target_arch = "aarch64") {
        member_offset(btf, "pt_regs", "syscallno")
    } else {
        member_offset(btf, "pt_regs", "orig_ax")
    }
}

/// Where the six syscall arguments are in `struct pt_regs` when the syscall
/// returns: the kernel leaves the argument registers as the caller set them.
fn syscall_arg_offsets(btf: &Btf) -> Result<[u64; 6], ProbeError> {
    let mut out = [0u64; 6];
    if cfg!(target_arch = "aarch64") {
        // arm64: x0..x5 are regs[0..5], but x0 holds the result by then and
        // the first argument is kept in orig_x0.
        let regs = member_offset(btf, "pt_regs", "regs")?;
        for (i, o) in out.iter_mut().enumerate() {
            *o = regs + 8 * i as u64;
        }
        out[0] = member_offset(btf, "pt_regs", "orig_x0")?;
    } else {
        for (o, reg) in out.iter_mut().zip(["di", "si", "dx", "r10", "r8", "r9"]) {
            *o = member_offset(btf, "pt_regs", reg)?;
        }
    }
    Ok(out)
}

/// Byte offset of `path` (dot-separated members) inside `struct name`,
/// looking through anonymous structs and unions as C does.
fn member_offset(btf: &Btf, name: &str, path: &str) -> Result<u64, ProbeError> {
    let missing = || ProbeError::Btf {
        what: format!("struct {name}.{path}"),
        reason: "not found in the kernel's BTF".into(),
    };
    let mut ty = btf
        .resolve_types_by_name(name)
        .map_err(|_| missing())?
        .into_iter()
        .find(|t| matches!(t, Type::Struct(_)))
        .ok_or_else(missing)?;
    let mut offset = 0u64;
    for part in path.split('.') {
        let (bits, member_ty) = find_member(btf, &ty, part).ok_or_else(missing)?;
        offset += bits / 8;
        ty = member_ty;
    }
    Ok(offset)
}

/// Finds `name` among the members of a struct or union; returns its bit
/// offset and its type with typedefs and qualifiers stripped.
fn find_member(btf: &Btf, ty: &Type, name: &str) -> Option<(u64, Type)> {
    let members = match ty {
        Type::Struct(s) | Type::Union(s) => &s.members,
        _ => return None,
    };
    for m in members {
        let mname = btf.resolve_name(m).unwrap_or_default();
        let mty = strip(btf, btf.resolve_chained_type(m).ok()?)?;
        if mname == name {
            return Some((m.bit_offset() as u64, mty));
        }
        if mname.is_empty() {
            if let Some((bits, found)) = find_member(btf, &mty, name) {
                return Some((m.bit_offset() as u64 + bits, found));
            }
        }
    }
    None
}

fn strip(btf: &Btf, mut ty: Type) -> Option<Type> {
    loop {
        ty = match &ty {
            Type::Typedef(t) => btf.resolve_chained_type(t).ok()?,
            Type::Const(t) | Type::Volatile(t) | Type::Restrict(t) => {
                btf.resolve_chained_type(t).ok()?
            }
            Type::TypeTag(t) => btf.resolve_chained_type(t).ok()?,
            _ => return Some(ty),
        };
    }
}

fn tracefs_root() -> Result<PathBuf, ProbeError> {
    TRACEFS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
        .ok_or(ProbeError::Tracefs)
}

fn tracepoint_field(root: &Path, event: &str, name: &str) -> Result<u64, ProbeError> {
    let file = root.join("events").join(event).join("format");
    let text = std::fs::read_to_string(&file).map_err(|e| ProbeError::Format {
        event: event.into(),
        reason: e.to_string(),
    })?;
    parse_format_offset(&text, name).ok_or_else(|| ProbeError::Format {
        event: event.into(),
        reason: format!("no field named {name}"),
    })
}

/// Parses `field:TYPE NAME[N];\toffset:O;...` lines of a format file.
fn parse_format_offset(format: &str, name: &str) -> Option<u64> {
    format.lines().find_map(|line| {
        let line = line.trim();
        let decl = line.strip_prefix("field:")?.split(';').next()?;
        let last = decl.split_whitespace().last()?;
        let field = last.split('[').next()?;
        if field != name {
            return None;
        }
        let off = line
            .split(';')
            .find_map(|p| p.trim().strip_prefix("offset:"))?;
        off.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORK: &str = "name: sched_process_fork\nID: 1\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n\
\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n\
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n";

    #[test]
    fn format_fields_by_name() {
        assert_eq!(parse_format_offset(FORK, "parent_pid"), Some(12));
        assert_eq!(parse_format_offset(FORK, "parent_comm"), Some(8));
        assert_eq!(parse_format_offset(FORK, "args"), Some(16));
        assert_eq!(parse_format_offset(FORK, "pid"), None);
    }

    /// The registers as this kernel's BTF places them: arguments and the
    /// syscall number, read with plain loads by the programs.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn syscall_registers_from_kernel_btf() {
        let btf = Btf::from_file(VMLINUX).expect("kernel BTF");
        // di, si, dx, r10, r8, r9 in struct pt_regs.
        assert_eq!(
            syscall_arg_offsets(&btf).unwrap(),
            [112, 104, 96, 56, 72, 64]
        );
        assert_eq!(syscall_nr_offset(&btf).unwrap(), 120);
    }

    /// The mapped BTF (decoded on demand) and the fully parsed one give the
    /// same offsets; where the kernel refuses the mapping, the fallback works.
    #[test]
    fn mapped_and_parsed_btf_agree() {
        let parsed = Btf::from_file(VMLINUX).expect("kernel BTF");
        let Ok(mapped) = Btf::from_file_with_backend(VMLINUX, Backend::Mmap) else {
            kernel_btf().expect("the parsed fallback");
            return;
        };
        for (name, path) in [
            ("task_struct", "nsproxy"),
            ("task_struct", "seccomp.mode"),
            ("nsproxy", "uts_ns"),
            ("uts_namespace", "name.nodename"),
            ("dentry", "d_name.name"),
            ("mount", "mnt_parent"),
        ] {
            assert_eq!(
                member_offset(&mapped, name, path).unwrap(),
                member_offset(&parsed, name, path).unwrap(),
                "{name}.{path}"
            );
        }
    }
}
