//! Images as slim reads and writes them, apart from any engine's API:
//! their metadata, digests, the docker-archive and OCI layout formats (the
//! readers of untrusted bytes live in the `slim-image` crate, re-exported
//! here), the registry client, and the [`source`]s and [`sink`]s named by
//! transport.
pub mod analysis;
pub mod dive_ci;
pub mod index;
pub mod registry;
pub mod sbom;
pub mod sink;
pub mod source;

pub use slim_image::{
    archive, confined, digest, fuzzing, layout, limits, meta, platform, sha256, tarx,
};
