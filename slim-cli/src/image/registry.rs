//! Registries, over the OCI distribution API (oci-client): pull an image's
//! config and layer blobs into the cache, push a one-layer image. Credentials
//! come from the Docker CLI's config (auths and credential helpers); token
//! and basic auth are oci-client's.
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use futures_util::StreamExt;
use oci_client::{
    client::{ClientConfig, ClientProtocol},
    manifest::{OciDescriptor, OciImageManifest, OciManifest},
    secrets::RegistryAuth,
    Client, Reference,
};
use tokio::io::AsyncReadExt;

use super::{
    archive::BlobRef,
    digest::{checked_hex, sha256, Expect, Hashing},
    limits::Limits,
    platform::{self, Platform},
};

/// How to reach registries.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// false: plain HTTP (and any certificate), for registries on localhost.
    pub tls_verify: bool,
}

fn client(access: Access) -> Client {
    // reqwest's rustls needs a process-wide crypto provider; ring is the
    // one linked in. A second install is refused and harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientConfig {
        protocol: if access.tls_verify {
            ClientProtocol::Https
        } else {
            ClientProtocol::Http
        },
        accept_invalid_certificates: !access.tls_verify,
        ..Default::default()
    })
}

fn parse(reference: &str) -> Result<Reference> {
    reference
        .parse()
        .map_err(|e| anyhow!("{reference:?} is not a registry reference: {e}"))
}

/// Credentials for `registry` from ~/.docker/config.json (or DOCKER_CONFIG),
/// its credential helpers included; anonymous when there are none.
fn auth(registry: &str) -> RegistryAuth {
    let server = if registry == "docker.io" || registry == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    match docker_credential::get_credential(server) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => {
            RegistryAuth::Basic(u, p)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(_)) => {
            tracing::warn!(
                registry,
                "identity tokens are not supported; pulling anonymously"
            );
            RegistryAuth::Anonymous
        }
        Err(_) => RegistryAuth::Anonymous,
    }
}

/// A client that may write to `reference`'s repository (credentials
/// stored for its registry), with the parsed reference and registry name.
async fn writer(reference: &str, access: Access) -> Result<(Reference, Client, String)> {
    let r = parse(reference)?;
    let client = client(access);
    client
        .store_auth_if_needed(r.resolve_registry(), &auth(r.resolve_registry()))
        .await;
    let registry = r.resolve_registry().to_string();
    Ok((r, client, registry))
}

/// An error from the registry, with what to do when it refused access.
fn refused(
    what: String,
    e: oci_client::errors::OciDistributionError,
    registry: &str,
) -> anyhow::Error {
    let text = e.to_string();
    if text.contains("401") || text.contains("403") || text.contains("nauthorized") {
        anyhow!(
            "{what}: {text}; the registry refused the credentials slim has for {registry} \
             (from ~/.docker/config.json or DOCKER_CONFIG): log in with `docker login {registry}`"
        )
    } else {
        anyhow!("{what}: {e}")
    }
}

/// What a pull gives: the config's bytes and the layer blobs in the cache.
pub struct Pulled {
    pub config: Vec<u8>,
    pub layers: Vec<BlobRef>,
}

/// A descriptor's size, which must be known and within `limit` (the
/// variable `var` raises it).
fn size_of(d: &OciDescriptor, what: &str, limit: u64, var: &str) -> Result<u64> {
    let size =
        u64::try_from(d.size).map_err(|_| anyhow!("{what} has a negative size in its manifest"))?;
    if size > limit {
        anyhow::bail!(
            "{what} is {}, more than {} (raise {var} if the image is trusted)",
            super::limits::human(size),
            super::limits::human(limit)
        );
    }
    Ok(size)
}

/// Streams blob `d` (of `size` bytes) of `r` into `out`, checked as the
/// bytes arrive: past its size the pull stops, so a registry cannot make
/// slim store more than the manifest promised; at the end the size and
/// the digest must be the descriptor's. Nothing calls `out` done before.
async fn fetch<W: tokio::io::AsyncWrite + Unpin>(
    client: &Client,
    r: &Reference,
    d: &OciDescriptor,
    size: u64,
    out: &mut W,
    what: &str,
    registry: &str,
) -> Result<()> {
    use std::io::Write as _;
    use tokio::io::AsyncWriteExt as _;
    let mut blob = client
        .pull_blob_stream(r, d)
        .await
        .map_err(|e| refused(format!("cannot pull {what}"), e, registry))?;
    if let Some(n) = blob.content_length.filter(|n| *n > size) {
        anyhow::bail!(
            "{what}: the registry sends {n} bytes, not the {size} of its descriptor: refused"
        );
    }
    let mut hash = Hashing::new(std::io::sink());
    let altered = |digest: String| {
        anyhow!(
            "{what} does not match its digest {} (read {digest}): the registry sent something else",
            d.digest
        )
    };
    while let Some(chunk) = blob.stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            // The client's own check fails after the last byte: say so
            // as for any other blob.
            Err(_) if hash.bytes() == size => return Err(altered(hash.finish().1)),
            Err(e) => anyhow::bail!(
                "{what}: the registry sent {} bytes, not the {size} of its descriptor ({e})",
                hash.bytes()
            ),
        };
        hash.write_all(&chunk)?;
        if hash.bytes() > size {
            anyhow::bail!(
                "{what}: the registry sends more than the {size} bytes of its descriptor: refused"
            );
        }
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    let (_, digest, n) = hash.finish();
    if n != size {
        anyhow::bail!("{what}: the registry sent {n} bytes, not the {size} of its descriptor");
    }
    if digest != d.digest {
        return Err(altered(digest));
    }
    Ok(())
}

/// Pulls `reference`'s manifest and config (this machine's platform of a
/// multi-platform image) and every layer blob not yet in `blobs`. Every
/// blob is verified as it streams (size, then digest) and a layer becomes
/// visible in `blobs` only once verified; the descriptors' sizes are
/// checked against the limits before anything is pulled.
pub async fn pull(reference: &str, access: Access, blobs: &Path) -> Result<Pulled> {
    pull_platform(reference, access, blobs, None).await
}

/// An index entry's platform, in slim's terms.
fn platform_of(p: &oci_client::manifest::Platform) -> Platform {
    Platform::new(
        &p.os.to_string(),
        &p.architecture.to_string(),
        p.variant.as_deref(),
    )
}

/// The platforms `reference`'s index lists, in its order; `None` for a
/// single-platform image.
pub async fn platforms(reference: &str, access: Access) -> Result<Option<Vec<Platform>>> {
    let r = parse(reference)?;
    let registry = r.resolve_registry().to_string();
    let (manifest, _) = client(access)
        .pull_manifest(&r, &auth(&registry))
        .await
        .map_err(|e| {
            refused(
                format!("cannot pull the manifest of {reference}"),
                e,
                &registry,
            )
        })?;
    Ok(match manifest {
        OciManifest::Image(_) => None,
        OciManifest::ImageIndex(index) => {
            let all: Vec<Platform> = index
                .manifests
                .iter()
                .filter_map(|e| e.platform.as_ref().map(platform_of))
                .collect();
            Some(platform::listed(&all))
        }
    })
}

/// [`pull`]: of an index, the manifest of `platform` (this machine's when
/// `None`); a single-platform image whatever `platform` says (the caller
/// checks its config's platform).
pub async fn pull_platform(
    reference: &str,
    access: Access,
    blobs: &Path,
    platform: Option<&Platform>,
) -> Result<Pulled> {
    let r = parse(reference)?;
    let client = client(access);
    let registry = r.resolve_registry().to_string();
    let auth = auth(&registry);
    let pull_failed = |e| {
        refused(
            format!("cannot pull the manifest of {reference}"),
            e,
            &registry,
        )
    };
    let manifest = match client
        .pull_manifest(&r, &auth)
        .await
        .map_err(pull_failed)?
        .0
    {
        OciManifest::Image(m) => m,
        OciManifest::ImageIndex(index) => {
            let entries: Vec<_> = index
                .manifests
                .iter()
                .map(|e| (e.platform.as_ref().map(platform_of), e.digest.clone()))
                .collect();
            let native = Platform::native();
            let what = format!("docker://{reference}");
            let digest = platform::choose(platform.unwrap_or(&native), &entries, &what)?;
            checked_hex(digest).context("a manifest digest of the index")?;
            let at =
                Reference::with_digest(r.registry().into(), r.repository().into(), digest.clone());
            client
                .pull_image_manifest(&at, &auth)
                .await
                .map_err(pull_failed)?
                .0
        }
    };
    let limits = Limits::from_env()?;
    // The config is the image's ID: it must be the digest the manifest names.
    checked_hex(&manifest.config.digest).context("the manifest's config digest")?;
    let what = format!("the config of {reference}");
    let size = size_of(
        &manifest.config,
        &what,
        limits.metadata_bytes,
        super::limits::METADATA_VAR,
    )?;
    let mut config = Vec::new();
    fetch(
        &client,
        &r,
        &manifest.config,
        size,
        &mut config,
        &what,
        &registry,
    )
    .await?;
    // Every layer's size before any is pulled: the whole pull is bounded.
    let mut total = 0u64;
    let mut sizes = Vec::new();
    for layer in &manifest.layers {
        // Validated before it names a file.
        checked_hex(&layer.digest).context("a layer digest of the manifest")?;
        let what = format!("layer {} of {reference}", layer.digest);
        let size = size_of(layer, &what, limits.layer_bytes, super::limits::LAYER_VAR)?;
        total = total
            .checked_add(size)
            .filter(|t| *t <= limits.image_bytes)
            .ok_or_else(|| {
                anyhow!(
                    "the layers of {reference} add up to more than {} (raise {} if the image is trusted)",
                    super::limits::human(limits.image_bytes),
                    super::limits::IMAGE_VAR
                )
            })?;
        sizes.push(size);
    }
    std::fs::create_dir_all(blobs).with_context(|| format!("cannot create {}", blobs.display()))?;
    let mut layers = Vec::new();
    for (layer, size) in manifest.layers.iter().zip(sizes) {
        let hex = checked_hex(&layer.digest)?;
        let expect = Expect {
            digest: layer.digest.clone(),
            size: Some(size),
        };
        let path = blobs.join(hex);
        if std::fs::symlink_metadata(&path).is_err() {
            tracing::info!(digest = %layer.digest, size = layer.size, "pulling a layer");
            let what = format!("layer {} of {reference}", layer.digest);
            // A temporary name in the cache, renamed to the digest only
            // once the bytes are verified; removed if they are not.
            let tmp = tempfile::NamedTempFile::new_in(blobs)?;
            let mut out = tokio::io::BufWriter::with_capacity(
                1 << 20,
                tokio::fs::File::from_std(tmp.reopen()?),
            );
            fetch(&client, &r, layer, size, &mut out, &what, &registry).await?;
            out.into_inner().sync_all().await?;
            tmp.persist(&path)
                .with_context(|| format!("cannot store {}", path.display()))?;
        }
        let mut blob = BlobRef::file(path)?;
        blob.expect = Some(expect);
        layers.push(blob);
    }
    Ok(Pulled { config, layers })
}

/// Streams a file to the registry in chunks, never whole in memory.
fn file_stream(
    path: PathBuf,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::once(async move { tokio::fs::File::open(path).await })
        .map(|opened| {
            let chunks = match opened {
                Ok(file) => futures_util::stream::unfold(Some(file), |file| async move {
                    let mut file = file?;
                    let mut buf = vec![0u8; 1 << 20];
                    match file.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok(bytes::Bytes::from(buf)), Some(file)))
                        }
                        Err(e) => Some((Err(e.into()), None)),
                    }
                })
                .boxed(),
                Err(e) => futures_util::stream::once(async move { Err(e.into()) }).boxed(),
            };
            chunks
        })
        .flatten()
}

/// Pushes a one-layer image (config, the layer file, manifest) as
/// `reference`; returns the manifest's URL.
pub async fn push(
    reference: &str,
    access: Access,
    config: &[u8],
    config_digest: &str,
    layer: &BlobRef,
    layer_digest: &str,
    manifest: &[u8],
) -> Result<String> {
    let (r, client, registry) = writer(reference, access).await?;
    let failed = |what: &str, e: oci_client::errors::OciDistributionError| {
        refused(format!("cannot push {what} of {reference}"), e, &registry)
    };
    if !client
        .blob_exists(&r, layer_digest)
        .await
        .map_err(|e| failed("the layer", e))?
    {
        client
            .push_blob_stream(
                &r,
                file_stream(layer.path.clone()),
                layer_digest,
                Some(layer.len),
            )
            .await
            .map_err(|e| failed("the layer", e))?;
    }
    client
        .push_blob(&r, config.to_vec(), config_digest)
        .await
        .map_err(|e| failed("the config", e))?;
    let manifest: OciImageManifest = serde_json::from_slice(manifest)?;
    client
        .push_manifest(&r, &manifest.into())
        .await
        .map_err(|e| failed("the manifest", e))
}

/// An artifact to attach to an image through OCI 1.1 referrers.
pub struct Referrer<'a> {
    pub artifact_type: &'a str,
    pub config: &'a [u8],
    pub config_type: &'a str,
    pub layer: &'a [u8],
    pub layer_type: &'a str,
    /// `org.opencontainers.image.title` of the layer.
    pub title: &'a str,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Pushes `artifact` into `reference`'s repository with the manifest
/// `reference` names as its subject, and makes it a referrer of that
/// manifest: a registry with the referrers API lists it by itself; for one
/// without (distribution 2.8), the referrers tag `sha256-<hex>` is pointed
/// at an index listing it. Returns the artifact's digest.
pub async fn push_referrer(
    reference: &str,
    access: Access,
    artifact: &Referrer<'_>,
) -> Result<String> {
    use oci_client::manifest::ImageIndexEntry;
    let (r, client, registry) = writer(reference, access).await?;
    let failed = |what: &str, e: oci_client::errors::OciDistributionError| {
        refused(format!("cannot attach {what} to {reference}"), e, &registry)
    };
    let digest = |b: &[u8]| super::digest::sha256(b);
    for blob in [artifact.config, artifact.layer] {
        client
            .push_blob(&r, blob.to_vec(), &digest(blob))
            .await
            .map_err(|e| failed("a blob", e))?;
    }
    // The manifest as the registry holds it: its digest is what the
    // subject must name (a client may re-serialize what it pushes).
    let (subject, subject_digest) = client
        .pull_manifest_raw(
            &r,
            &auth(r.resolve_registry()),
            &[
                OCI_MANIFEST,
                "application/vnd.docker.distribution.manifest.v2+json",
            ],
        )
        .await
        .map_err(|e| failed("the image manifest", e))?;
    let subject_type = serde_json::from_slice::<serde_json::Value>(&subject)?["mediaType"]
        .as_str()
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact.artifact_type,
        "config": {
            "mediaType": artifact.config_type,
            "digest": digest(artifact.config),
            "size": artifact.config.len(),
        },
        "layers": [{
            "mediaType": artifact.layer_type,
            "digest": digest(artifact.layer),
            "size": artifact.layer.len(),
            "annotations": { "org.opencontainers.image.title": artifact.title },
        }],
        "subject": {
            "mediaType": subject_type,
            "digest": subject_digest,
            "size": subject.len(),
        },
    }))?;
    let manifest_digest = digest(&manifest);
    let at = |d: &str| Reference::with_digest(r.registry().into(), r.repository().into(), d.into());
    client
        .push_manifest_raw(
            &at(&manifest_digest),
            manifest.clone(),
            OCI_MANIFEST.parse().expect("a valid header value"),
        )
        .await
        .map_err(|e| failed("the artifact manifest", e))?;
    // What the registry lists now: its referrers API, or the tag schema.
    let mut index = client
        .pull_referrers(&at(&subject_digest), None)
        .await
        .map_err(|e| failed("the referrers list", e))?;
    if index.manifests.iter().any(|m| m.digest == manifest_digest) {
        return Ok(manifest_digest);
    }
    index.manifests.push(ImageIndexEntry {
        media_type: OCI_MANIFEST.into(),
        digest: manifest_digest.clone(),
        size: manifest.len() as i64,
        platform: None,
        annotations: None,
        artifact_type: Some(artifact.artifact_type.into()),
    });
    index.media_type = Some(OCI_INDEX.into());
    let value = serde_json::to_value(&index)?;
    let tag = subject_digest.replacen(':', "-", 1);
    client
        .push_manifest_raw(
            &Reference::with_tag(r.registry().into(), r.repository().into(), tag),
            serde_json::to_vec(&value)?,
            OCI_INDEX.parse().expect("a valid header value"),
        )
        .await
        .map_err(|e| failed("the referrers tag", e))?;
    Ok(manifest_digest)
}

/// Pushes each platform's slim image by its manifest's digest (with its
/// seccomp profile as a referrer), then the index of them all as
/// `reference`; returns the index's digest.
pub async fn push_index(
    reference: &str,
    access: Access,
    images: &[super::index::PlatformImage],
) -> Result<String> {
    let (r, client, registry) = writer(reference, access).await?;
    let failed = |what: &str, e: oci_client::errors::OciDistributionError| {
        refused(format!("cannot push {what} of {reference}"), e, &registry)
    };
    for image in images {
        let digest = image.manifest_digest();
        let at = Reference::with_digest(r.registry().into(), r.repository().into(), digest.clone());
        if !client
            .blob_exists(&r, &image.diff_id)
            .await
            .map_err(|e| failed("a layer", e))?
        {
            client
                .push_blob_stream(
                    &r,
                    file_stream(image.layer.path.clone()),
                    &image.diff_id,
                    Some(image.layer.len),
                )
                .await
                .map_err(|e| failed("a layer", e))?;
        }
        client
            .push_blob(&r, image.config.clone(), &sha256(&image.config))
            .await
            .map_err(|e| failed("a config", e))?;
        // The bytes the index names, not a client's re-serialization.
        client
            .push_manifest_raw(
                &at,
                image.manifest.clone(),
                OCI_MANIFEST.parse().expect("a valid header value"),
            )
            .await
            .map_err(|e| failed(&format!("the {} manifest", image.platform), e))?;
        if let Some(profile) = &image.seccomp {
            push_referrer(
                &at.to_string(),
                access,
                &crate::seccomp::oci_artifact(profile),
            )
            .await?;
        }
    }
    let index = super::index::index_json(images)?;
    client
        .push_manifest_raw(
            &r,
            index.clone(),
            OCI_INDEX.parse().expect("a valid header value"),
        )
        .await
        .map_err(|e| failed("the image index", e))?;
    Ok(sha256(&index))
}
