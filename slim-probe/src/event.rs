//! Decodes ring-buffer records ([`EventHeader`] + data) into owned events.
use slim_ebpf_common::{EventHeader, EventKind, HEADER_SIZE};

/// One kernel event, decoded.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub kind: EventKind,
    pub nr: u32,
    pub ret: i64,
    pub tgid: u32,
    pub tid: u32,
    pub mntns: u64,
    pub arg: u64,
    pub ppid: u32,
    pub flags: u32,
    /// Which of the call's paths this is (`ROLE_OPENED`: the opened file).
    pub role: u32,
    pub comm: String,
    pub uts: String,
    /// The path as the task passed it (or the kernel's exec filename).
    pub path: Option<String>,
    /// Directory names of the base of a relative path, innermost first.
    pub base: Vec<String>,
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Decodes one record; `None` when it is too short or of an unknown kind.
pub(crate) fn decode(rec: &[u8]) -> Option<Event> {
    if rec.len() < HEADER_SIZE {
        return None;
    }
    // SAFETY: EventHeader is repr(C) plain data and rec holds HEADER_SIZE bytes.
    let h: EventHeader = unsafe { std::ptr::read_unaligned(rec.as_ptr().cast()) };
    let kind = EventKind::from_u32(h.kind)?;
    let data = &rec[HEADER_SIZE..];
    let path_len = (h.path_len as usize).min(data.len());
    let base_end = (path_len + h.base_len as usize).min(data.len());
    let path = (path_len > 0).then(|| cstr(&data[..path_len]));
    let base = data[path_len..base_end]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    Some(Event {
        kind,
        nr: h.nr,
        ret: h.ret,
        tgid: h.tgid,
        tid: h.tid,
        mntns: h.mntns,
        arg: h.arg,
        ppid: h.ppid,
        flags: h.flags,
        role: h.role,
        comm: cstr(&h.comm),
        uts: cstr(&h.uts),
        path,
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &[u8], base: &[u8]) -> Vec<u8> {
        let mut h: EventHeader = unsafe { std::mem::zeroed() };
        h.kind = EventKind::Path as u32;
        h.nr = 257;
        h.ret = -2;
        h.path_len = path.len() as u32;
        h.base_len = base.len() as u32;
        h.comm[..3].copy_from_slice(b"cat");
        let mut v = unsafe {
            std::slice::from_raw_parts((&h as *const EventHeader).cast::<u8>(), HEADER_SIZE)
        }
        .to_vec();
        v.extend_from_slice(path);
        v.extend_from_slice(base);
        v
    }

    #[test]
    fn decodes_path_and_base_components() {
        let ev = decode(&record(b"motd\0", b"base-files\0share\0usr\0")).unwrap();
        assert_eq!(ev.path.as_deref(), Some("motd"));
        assert_eq!(ev.base, ["base-files", "share", "usr"]);
        assert_eq!(ev.comm, "cat");
        assert_eq!(ev.ret, -2);
    }

    #[test]
    fn short_or_unknown_records_are_rejected() {
        assert!(decode(&[0u8; 10]).is_none());
        let mut r = record(b"/x\0", b"");
        r[0] = 99;
        assert!(decode(&r).is_none());
    }

    #[test]
    fn lengths_beyond_the_record_are_clamped() {
        let mut r = record(b"/etc/passwd\0", b"");
        r.truncate(HEADER_SIZE + 4);
        let ev = decode(&r).unwrap();
        assert_eq!(ev.path.as_deref(), Some("/etc"));
    }
}
