//! slim's readers of untrusted images, apart from the rest of slim so that
//! they can be fuzzed on every CI run (fuzz/ builds this crate alone).
//!
//! An image arrives as a docker-archive ([`archive`]) or an OCI layout
//! ([`layout`]); either gives its config (parsed by [`meta`]) and its layers
//! as [`archive::BlobRef`]s, byte ranges that are read through a check of
//! their [`digest`]. A layer's tar is read by [`tarx`] within the
//! [`limits`], and [`unpack`] makes its files beneath a directory with the
//! [`confined`] (openat2) operations. [`fuzzing`] holds the entry points
//! the fuzz targets drive. Errors are `anyhow` errors whose message is the
//! one line slim shows: what was wrong with the image and what to raise.
#![deny(unsafe_code)]

pub mod archive;
pub mod confined;
pub mod digest;
pub mod fuzzing;
pub mod layout;
pub mod limits;
pub mod meta;
pub mod platform;
pub mod tarx;
pub mod unpack;

#[cfg(test)]
mod test_alloc;

pub use digest::sha256;
