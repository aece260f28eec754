//! Reading tar streams from images within bounds. The tar crate reads a GNU
//! long name or a PAX header whole before it yields the entry it describes,
//! so its size is whatever the header claims: here every read the crate
//! makes between two entries is metered, and stopped past the header
//! limit, before anything large is allocated. Names and link targets are
//! bounded by PATH_MAX, entries per stream by the entries limit, and the
//! sizes entries claim are summed with checked arithmetic.
use std::{
    io::{self, Read, Seek, SeekFrom},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use anyhow::{bail, Result};

use crate::limits::{self, Limits, PATH_MAX};

/// Why a guarded stream stopped: the first limit hit, as the line to show.
#[derive(Default)]
pub struct Trip(Mutex<Option<String>>);

impl Trip {
    pub fn set(&self, why: String) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        t.get_or_insert(why);
    }

    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `e` in context, or the limit that caused it.
    pub fn explain(&self, e: impl Into<anyhow::Error>, what: &str) -> anyhow::Error {
        match self.get() {
            Some(why) => anyhow::anyhow!("{why}"),
            None => e.into().context(what.to_string()),
        }
    }
}

/// Counts what the tar crate reads while it looks for the next entry.
pub struct Meter {
    in_header: AtomicBool,
    used: AtomicU64,
    max: u64,
    what: String,
    pub trip: Arc<Trip>,
}

pub struct Metered<R> {
    inner: R,
    meter: Arc<Meter>,
}

impl<R> Metered<R> {
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.meter.in_header.load(Ordering::Relaxed) {
            let used = self.meter.used.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            if used > self.meter.max {
                self.meter.trip.set(format!(
                    "{}: a tar header (PAX or GNU long name) is larger than {} (raise {} if the image is trusted)",
                    self.meter.what,
                    limits::human(self.meter.max),
                    limits::HEADER_VAR
                ));
                return Err(io::Error::other("tar header too large"));
            }
        }
        Ok(n)
    }
}

impl<R: Seek> Seek for Metered<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Stops a stream once more than `max` bytes came through it.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    why: String,
    trip: Arc<Trip>,
}

impl<R> Bounded<R> {
    pub fn new(inner: R, max: u64, why: String, trip: Arc<Trip>) -> Self {
        Self {
            inner,
            left: max,
            why,
            trip,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => {
                self.trip.set(self.why.clone());
                Err(io::Error::other("stream too large"))
            }
        }
    }
}

/// A tar archive over `r`, with its meter; `what` names the stream in
/// messages (a layer, an archive).
pub fn archive<R: Read>(
    r: R,
    limits: &Limits,
    what: &str,
    trip: Arc<Trip>,
) -> (tar::Archive<Metered<R>>, Arc<Meter>) {
    let meter = Arc::new(Meter {
        in_header: AtomicBool::new(false),
        used: AtomicU64::new(0),
        // The entry's own header blocks count too.
        max: limits.header_bytes.saturating_add(4096),
        what: what.to_string(),
        trip,
    });
    let ar = tar::Archive::new(Metered {
        inner: r,
        meter: meter.clone(),
    });
    (ar, meter)
}

/// What a stream's entries claimed so far.
#[derive(Debug)]
pub struct Tally {
    pub entries: u64,
    /// The sum of the sizes entries claim (a sparse file its full size).
    pub bytes: u64,
    max_bytes: u64,
    var: &'static str,
}

impl Tally {
    /// For a layer: its files within the layer limit.
    pub fn layer(limits: &Limits) -> Self {
        Self::new(limits.layer_bytes, limits::LAYER_VAR)
    }

    /// For a docker-archive: its members within the image limit.
    pub fn archive(limits: &Limits) -> Self {
        Self::new(limits.image_bytes, limits::IMAGE_VAR)
    }

    fn new(max_bytes: u64, var: &'static str) -> Self {
        Self {
            entries: 0,
            bytes: 0,
            max_bytes,
            var,
        }
    }
}

/// The next entry, within the limits: `tally` adds it up. Over a stream
/// that cannot seek, read each entry to its end before asking for the
/// next: what the crate skips itself counts as header bytes.
pub fn next<'a, R: Read>(
    entries: &mut tar::Entries<'a, Metered<R>>,
    meter: &Meter,
    limits: &Limits,
    tally: &mut Tally,
) -> Result<Option<tar::Entry<'a, Metered<R>>>> {
    meter.used.store(0, Ordering::Relaxed);
    meter.in_header.store(true, Ordering::Relaxed);
    let e = entries.next();
    meter.in_header.store(false, Ordering::Relaxed);
    let e = match e {
        None => return Ok(None),
        Some(Err(e)) => {
            return Err(meter
                .trip
                .explain(e, &format!("{} is not a readable tar", meter.what)))
        }
        Some(Ok(e)) => e,
    };
    tally.entries += 1;
    if tally.entries > limits.layer_entries {
        bail!(
            "{} holds more than {} entries (raise {} if the image is trusted)",
            meter.what,
            limits.layer_entries,
            limits::ENTRIES_VAR
        );
    }
    if e.path_bytes().len() > PATH_MAX || e.link_name_bytes().is_some_and(|l| l.len() > PATH_MAX) {
        bail!(
            "{} holds a name or link target longer than PATH_MAX ({PATH_MAX} bytes)",
            meter.what
        );
    }
    tally.bytes = tally
        .bytes
        .checked_add(e.size())
        .filter(|b| *b <= tally.max_bytes)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: its files add up to more than {} (raise {} if the image is trusted)",
                meter.what,
                limits::human(tally.max_bytes),
                tally.var
            )
        })?;
    Ok(Some(e))
}
