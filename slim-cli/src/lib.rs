//! slim as a library: the `slim` binary (main.rs) is a thin shell over it.
//!
//! Data flows one way, through the [`pipeline`]'s steps: an image
//! [`image::source`] (named by a [`transport`]) is opened on a container
//! [`engine`] (`pipeline::open`); a [`session`] runs it under the eBPF
//! probe, in its [`surroundings`] (a [`compose`] service's dependencies),
//! and drives the [`probes`] (`pipeline::observe`, which writes the
//! [`report`] and the [`seccomp`] profile); the [`rebuild`]er selects the
//! minimal layer (`pipeline::select`) and writes it, and the image goes to
//! [`image::sink`]s (`pipeline::write`); `pipeline::verify` replays the
//! probes on it. A run is asked for by a `pipeline::plan` of plain data:
//! only [`cli`] and [`commands`] know about arguments, and the commands do
//! no more than fill the plan, call the pipeline and print. `slim learn`,
//! which extends a written profile from the kernel's audit records, is
//! [`learn`].
// Results go through commands::stdout, which takes a closed stdout
// (`| head`) quietly; print!/println! panic on it.
#![deny(clippy::print_stdout)]
pub mod atomic;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod config_args;
pub mod emulation;
pub mod engine;
pub mod exit;
pub mod gates;
pub mod image;
pub mod learn;
pub mod pipeline;
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
