//! What every fuzz target links besides slim-image: an allocator that stops
//! the run on any single allocation past [`CAP`]. The readers must never
//! allocate from a size an input claims; under the fuzzing limits nothing
//! legitimate comes near the cap, so a larger request is a bug to report,
//! even when the memory would never be touched (and so never show in RSS,
//! which is all libFuzzer's -rss_limit_mb sees without a sanitizer).
use std::{
    alloc::{GlobalAlloc, Layout, System},
    io::Write,
};

/// 8 MiB: half the fuzzing limit of a layer (slim-image's
/// `fuzzing::limits`), four times any buffer or metadata limit there: an
/// entry's data kept whole in memory passes it.
pub const CAP: usize = 8 << 20;

pub struct Capped;

#[cold]
fn too_big() -> ! {
    // No allocation here: stderr is unbuffered and the text is static.
    let _ = std::io::stderr().write_all(
        b"==slim-fuzz== one allocation of more than 8 MiB: a size taken from the input, or data kept whole?\n",
    );
    // libFuzzer takes the abort for a crash and saves the input.
    std::process::abort()
}

// SAFETY: every call is passed to System unchanged, or never returns.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > CAP {
            too_big()
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(l) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.size() > CAP {
            too_big()
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if new_size > CAP {
            too_big()
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(p, l, new_size) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;
