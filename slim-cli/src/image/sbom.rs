//! SBOMs of an image, from its inventory: CycloneDX 1.5 (cyclonedx-bom)
//! and SPDX 2.3 (spdx-rs) JSON. Each lists the packages the image carries
//! (OS and language packages, with version, purl and licence where known)
//! and the app's own files as one component.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cyclonedx_bom::{
    external_models::{normalized_string::NormalizedString, uri::Purl},
    models::{
        bom::Bom,
        component::{Classification, Component, Components},
        license::{LicenseChoice, Licenses},
        metadata::Metadata,
        property::{Properties, Property},
        tool::{Tool, Tools},
    },
};

use crate::rebuild::inventory::{Distro, Package};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Cyclonedx,
    Spdx,
}

impl Format {
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Cyclonedx => "sbom.cdx.json",
            Format::Spdx => "sbom.spdx.json",
        }
    }
}

/// What an SBOM describes.
pub struct Subject<'a> {
    /// The image's name (a tag or a transport name).
    pub image: &'a str,
    /// Its ID (config digest).
    pub id: &'a str,
    pub distro: Option<&'a Distro>,
    pub packages: Vec<&'a Package>,
    /// Files no package owns (the app's own): their count and bytes, when
    /// known.
    pub app: Option<(usize, u64)>,
}

/// Writes DIR/sbom.cdx.json or DIR/sbom.spdx.json; returns its path.
pub fn write(format: Format, subject: &Subject, dir: &Path) -> Result<PathBuf> {
    let path = dir.join(format.file_name());
    crate::atomic::write_atomically(&path, |out| match format {
        Format::Cyclonedx => {
            let bom = cyclonedx(subject)?;
            let mut buf = Vec::new();
            bom.output_as_json_v1_5(&mut buf)
                .map_err(|e| anyhow::anyhow!("cannot write the CycloneDX SBOM: {e}"))?;
            out.write_all(&buf)?;
            Ok(())
        }
        Format::Spdx => {
            serde_json::to_writer_pretty(out, &spdx(subject)?)?;
            Ok(())
        }
    })?;
    Ok(path)
}

fn app_name(image: &str) -> String {
    format!("{image} (application files)")
}

fn cyclonedx(s: &Subject) -> Result<Bom> {
    let mut components = Vec::new();
    for (i, p) in s.packages.iter().enumerate() {
        let mut c = Component::new(
            Classification::Library,
            &p.name,
            &p.version,
            Some(format!("pkg-{i}")),
        );
        c.purl = Some(
            p.purl(s.distro)
                .parse::<Purl>()
                .map_err(|()| anyhow::anyhow!("package {} has no valid package URL", p.name))?,
        );
        if let Some(l) = &p.license {
            c.licenses = Some(Licenses(vec![LicenseChoice::license(l)]));
        }
        components.push(c);
    }
    if let Some((files, bytes)) = s.app {
        let mut app = Component::new(
            Classification::Application,
            &app_name(s.image),
            "",
            Some("app".into()),
        );
        app.version = None;
        app.properties = Some(Properties(vec![
            Property::new("slim:files", &files.to_string()),
            Property::new("slim:bytes", &bytes.to_string()),
        ]));
        components.push(app);
    }
    let mut image = Component::new(Classification::Container, s.image, "", Some("image".into()));
    image.version = None;
    image.description = Some(NormalizedString::new(&format!("image ID {}", s.id)));
    let tool = Tool {
        vendor: None,
        name: Some(NormalizedString::new("slim")),
        version: Some(NormalizedString::new(env!("CARGO_PKG_VERSION"))),
        hashes: None,
        external_references: None,
    };
    Ok(Bom {
        serial_number: Some(cyclonedx_bom::models::bom::UrnUuid::generate()),
        metadata: Some(Metadata {
            timestamp: Some(
                cyclonedx_bom::external_models::date_time::DateTime::now()
                    .context("cannot read the clock")?,
            ),
            tools: Some(Tools::List(vec![tool])),
            component: Some(image),
            ..Default::default()
        }),
        components: Some(Components(components)),
        ..Default::default()
    })
}

fn spdx(s: &Subject) -> Result<spdx_rs::models::SPDX> {
    use spdx_rs::models::{
        ExternalPackageReference, ExternalPackageReferenceCategory, PackageInformation,
        Relationship, RelationshipType, SPDX,
    };
    let safe_name: String = s
        .image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut doc = SPDX::new(&safe_name);
    doc.document_creation_information.creation_info.creators =
        vec![format!("Tool: slim-{}", env!("CARGO_PKG_VERSION"))];
    // 2.3: licences and copyright text are optional, as they are unknown
    // for much of what images hold.
    doc.document_creation_information.spdx_version = "SPDX-2.3".into();
    // SPDX dates are to the second.
    doc.document_creation_information.creation_info.created =
        chrono::Timelike::with_nanosecond(&chrono::Utc::now(), 0).unwrap_or_else(chrono::Utc::now);
    let mut id = 0;
    let package = |name: &str, version: Option<&str>, id: &mut i32| {
        let mut p = PackageInformation::new(name, id);
        p.package_spdx_identifier = format!("SPDXRef-Package-{id}");
        p.package_version = version.map(str::to_string);
        p.package_download_location = "NOASSERTION".into();
        p.files_analyzed = Some(false);
        p
    };
    let mut root = package(s.image, None, &mut id);
    root.package_comment = Some(format!("container image, ID {}", s.id));
    let root_id = root.package_spdx_identifier.clone();
    doc.relationships.push(Relationship::new(
        "SPDXRef-DOCUMENT",
        &root_id,
        RelationshipType::Describes,
        None,
    ));
    doc.package_information.push(root);
    for p in &s.packages {
        let mut info = package(&p.name, Some(&p.version), &mut id);
        info.external_reference.push(ExternalPackageReference::new(
            ExternalPackageReferenceCategory::PackageManager,
            "purl".into(),
            p.purl(s.distro),
            None,
        ));
        // Debian's licence names are not always SPDX ids: stated, not asserted.
        if let Some(l) = &p.license {
            info.comments_on_license = Some(format!("as the package states it: {l}"));
        }
        contains(&mut doc, &root_id, info);
    }
    if let Some((files, bytes)) = s.app {
        let mut app = package(&app_name(s.image), None, &mut id);
        app.package_comment = Some(format!(
            "{files} files ({bytes} bytes) that no package owns"
        ));
        contains(&mut doc, &root_id, app);
    }
    Ok(doc)
}

/// Adds `package` to the document, contained in the image `root`.
fn contains(
    doc: &mut spdx_rs::models::SPDX,
    root: &str,
    package: spdx_rs::models::PackageInformation,
) {
    doc.relationships.push(spdx_rs::models::Relationship::new(
        root,
        &package.package_spdx_identifier,
        spdx_rs::models::RelationshipType::Contains,
        None,
    ));
    doc.package_information.push(package);
}
