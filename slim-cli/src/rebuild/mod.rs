//! The rebuilder: from the trace to a minimal image.
//!
//! `rootfs` reads the image's layers in place (`export` unpacks them from
//! the engine's export stream where that is not possible); `closure`
//! selects what to keep (touched paths, symlinks, parents, ELF and `#!`
//! dependencies, includes, excludes) together with the keep-`rules` (data
//! in `rules/builtin.toml`), the `packages` database (what no OS package
//! owns is the app and its state) and the language resolvers in
//! `imports`; `layer` writes it as one deterministic tar; `image` wraps it
//! in the source's config and loads it into Docker.
pub mod closure;
pub mod elf;
pub mod export;
pub mod image;
pub mod imports;
pub mod layer;
pub mod packages;
pub mod rootfs;
pub mod rules;
