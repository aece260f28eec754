//! The audit-to-enforce loop (`slim learn`), as library code: the slim
//! image ran under DIR/seccomp-audit.json (what its profile does not allow
//! is allowed and logged by the kernel, SCMP_ACT_LOG); a learn reads those
//! records and adds the syscalls they show to DIR/seccomp.json.
//!
//! Data flows one way: [`apply::Artifacts`] reads DIR; a [`logs::Source`]
//! gives a [`logs::Log`] of lines (seccomp::audit parses them);
//! [`attribution`] names the containers whose records count
//! ([`attribution::scopes`]) and decides per record; [`learn`] sorts the
//! records into an [`Outcome`] and merges them into the profile
//! (seccomp::learn); [`apply::write`] writes the new profile and what
//! follows from it, and [`diff::render`] says the change in words.
pub mod apply;
pub mod attribution;
pub mod diff;
pub mod logs;
pub mod outcome;
pub mod time;

pub use outcome::{learn, Counts, Options, Outcome, Row};
