//! The rebuilder: from the trace to a minimal image.
//!
//! `rootfs` reads the image's layer directories (from `image::source`);
//! `closure`
//! selects what to keep (touched paths, symlinks, parents, ELF and `#!`
//! dependencies, includes, excludes) together with the keep-`rules` (data
//! in `rules/builtin.toml`), the `packages` database (what no OS package
//! owns is the app and its state) and the language resolvers in
//! `imports`; `layer` writes it as one deterministic tar; `image` wraps it
//! in the source's config; `paths` (joining, splitting and resolving image
//! paths through the image's symlinks) sits below all of them. Nothing here
//! knows of engines or arguments.
pub mod closure;
pub mod elf;
pub mod image;
pub mod imports;
pub mod inventory;
pub mod layer;
pub mod packages;
pub mod paths;
pub mod rootfs;
pub mod rules;
