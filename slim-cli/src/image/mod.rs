//! Images as slim reads and writes them, apart from any engine's API:
//! their metadata, digests, the docker-archive and OCI layout formats, the
//! registry client, and the [`source`]s and [`sink`]s named by transport.
pub mod analysis;
pub mod archive;
pub mod confined;
pub mod digest;
pub mod dive_ci;
pub mod fuzzing;
pub mod layout;
pub mod limits;
pub mod meta;
pub mod registry;
pub mod sbom;
pub mod sink;
pub mod source;
pub mod tarx;

pub use digest::sha256;
