//! slim as a library: the `slim` binary (main.rs) is a thin shell over it.
//!
//! Data flows one way: an image [`image::source`] (named by a
//! [`transport`]) gives metadata and a layer filesystem; a [`session`] runs
//! it on a container [`engine`] under the eBPF probe and drives the
//! [`probes`]; the [`rebuild`]er selects and writes the minimal layer; the
//! image goes to [`image::sink`]s, the profile to [`seccomp`], the facts to
//! the [`report`]. Only [`cli`] and [`commands`] know about arguments.
pub mod atomic;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod config_args;
pub mod engine;
pub mod exit;
pub mod gates;
pub mod image;
pub mod probes;
pub mod progress;
pub mod rebuild;
pub mod report;
pub mod run_args;
pub mod seccomp;
pub mod session;
pub mod signals;
pub mod surroundings;
pub mod transport;
