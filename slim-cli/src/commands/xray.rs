//! `slim xray`: static analysis of an image's layers (no container runs),
//! printed as tables or JSON, and gated with dive's CI rules.
use anyhow::{Context, Result};
use serde::Serialize;

use crate::{
    cli::XrayArgs,
    engine,
    exit::{self, Exit},
    image::{
        analysis::{self, Analysis, Entry, LayerStats},
        archive::BlobRef,
        dive_ci::{self, RuleResult, Status},
        sbom,
        source::{
            self,
            unpack::{layer_reader, Budget},
        },
        tarx::{self, Tally},
    },
    rebuild::inventory,
    transport::ImageName,
};

#[derive(Serialize)]
struct XrayReport<'a> {
    schema_version: u32,
    image: String,
    id: &'a str,
    #[serde(flatten)]
    analysis: &'a Analysis,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ci: Vec<RuleResult>,
}

pub async fn run(args: XrayArgs) -> Result<()> {
    // Rules first: a bad rule fails before any reading.
    let rules = if args.ci { Some(rules(&args)?) } else { None };
    let engine = match &args.image {
        ImageName::Daemon(_) => Some(engine::connect(args.engine.engine).await?),
        _ => None,
    };
    let src = source::open(&args.image, engine.as_ref(), args.engine.tls_verify).await?;
    let blobs = src.layer_blobs(engine.as_ref()).await?;
    let history: Vec<Option<String>> = blobs
        .config
        .config
        .history()
        .iter()
        .flatten()
        .filter(|h| !h.empty_layer().unwrap_or(false))
        .map(|h| h.created_by().clone())
        .collect();
    let diff_ids = src.meta.diff_ids().to_vec();
    let top = args.top;
    let analysis = tokio::task::spawn_blocking(move || -> Result<Analysis> {
        let budget = Budget::from_env()?;
        let mut layers = Vec::new();
        for (i, (blob, diff_id)) in blobs.layers.iter().zip(&diff_ids).enumerate() {
            let stats = LayerStats {
                index: i,
                digest: diff_id.clone(),
                // History may not line up when an image was rewritten.
                created_by: if history.len() == diff_ids.len() {
                    history[i].clone()
                } else {
                    None
                },
                ..Default::default()
            };
            layers.push((stats, entries(blob, diff_id, &budget)?));
        }
        analysis::analyze(&layers, top)
    })
    .await??;
    let ci = rules.map(|r| r.evaluate(&analysis)).unwrap_or_default();
    let report = XrayReport {
        schema_version: 1,
        image: src.name.to_string(),
        id: &src.meta.id,
        analysis: &analysis,
        ci,
    };
    if args.json {
        super::stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        super::stdout(&tables(&report))?;
    }
    if !args.sbom.is_empty() {
        // The SBOM needs the files, not only the tar headers: the layers
        // go through the cache.
        let fs = src
            .layers(engine.as_ref(), source::ReadLayers::Auto)
            .await?;
        let app_dirs: Vec<String> = src.meta.runtime().working_dir().iter().cloned().collect();
        let inv =
            tokio::task::spawn_blocking(move || inventory::read_image(&fs, &app_dirs)).await?;
        std::fs::create_dir_all(&args.sbom_dir)
            .with_context(|| format!("cannot create {}", args.sbom_dir.display()))?;
        for format in &args.sbom {
            let subject = sbom::Subject {
                image: &report.image,
                id: &src.meta.id,
                distro: inv.distro.as_ref(),
                packages: inv.packages.iter().collect(),
                app: None,
            };
            let path = sbom::write(*format, &subject, &args.sbom_dir)?;
            if !args.json {
                eprintln!("slim: wrote {}", path.display());
            }
        }
    }
    if let Some(failed) = report.ci.iter().find(|r| r.status == Status::Fail) {
        return Err(Exit::new(
            exit::XRAY_CI,
            format!(
                "xray --ci: {} failed: {}",
                failed.rule,
                failed.reason.as_deref().unwrap_or_default()
            ),
        )
        .into());
    }
    Ok(())
}

/// The rules: flags over --ci-config (or ./.dive-ci) over dive's defaults.
fn rules(args: &XrayArgs) -> Result<dive_ci::Rules> {
    let local = std::path::Path::new(".dive-ci");
    let mut rules = match &args.ci_config {
        Some(path) => dive_ci::Rules::from_file(path)?,
        None if local.exists() => dive_ci::Rules::from_file(local)?,
        None => dive_ci::Rules::default(),
    };
    if let Some(v) = &args.lowest_efficiency {
        rules.lowest_efficiency = v.clone();
    }
    if let Some(v) = &args.highest_wasted_bytes {
        rules.highest_wasted_bytes = v.clone();
    }
    if let Some(v) = &args.highest_user_wasted_percent {
        rules.highest_user_wasted_percent = v.clone();
    }
    rules.check()?;
    Ok(rules)
}

/// The entries of one layer tarball, read within the limits and checked
/// against its diff ID to the last byte: what is not the image's is not
/// analysed.
pub fn entries(blob: &BlobRef, diff_id: &str, budget: &Budget) -> Result<Vec<Entry>> {
    let mut layer = layer_reader(blob, diff_id, budget)?;
    let limits = budget.limits;
    let mut out = Vec::new();
    {
        let mut it = layer.archive.entries().map_err(|e| {
            layer
                .trip
                .explain(e, &format!("layer {diff_id} is not a tar"))
        })?;
        let mut tally = Tally::layer(&limits);
        while let Some(mut e) = tarx::next(&mut it, &layer.meter, &limits, &mut tally)? {
            let path = e.path()?.to_string_lossy().into_owned();
            let is_dir = e.header().entry_type().is_dir();
            if let Some(entry) = Entry::from_tar(&path, is_dir, e.size()) {
                out.push(entry);
            }
            // Read through (it is hashed), not skipped inside the next
            // header's read, which is bounded.
            std::io::copy(&mut e, &mut std::io::sink()).map_err(|err| {
                layer
                    .trip
                    .explain(err, &format!("layer {diff_id} is truncated"))
            })?;
        }
    }
    layer.finish(budget)?;
    Ok(out)
}

fn mb(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.1} MB", b as f64 / 1e6)
    } else if b >= 1000 {
        format!("{:.1} kB", b as f64 / 1e3)
    } else {
        format!("{b} B")
    }
}

fn tables(r: &XrayReport) -> String {
    let a = r.analysis;
    let mut s = format!("{} ({})\n\nlayers:\n", r.image, r.id);
    s.push_str(&format!(
        "  {:>3}  {:>9}  {:>6}  {:>7}  {:>7}  {}\n",
        "#", "size", "added", "changed", "removed", "created by"
    ));
    for l in &a.layers {
        let by = l.created_by.as_deref().unwrap_or("");
        let by: String = by.split_whitespace().collect::<Vec<_>>().join(" ");
        let by = if by.chars().count() > 70 {
            format!("{}...", by.chars().take(67).collect::<String>())
        } else {
            by
        };
        s.push_str(&format!(
            "  {:>3}  {:>9}  {:>6}  {:>7}  {:>7}  {by}\n",
            l.index,
            mb(l.size_bytes),
            l.added,
            l.changed,
            l.removed
        ));
    }
    s.push_str(&format!(
        "\ntotal {}, of which {} in layers above the first; wasted {} ({:.1}% of those); efficiency {:.2}%\n",
        mb(a.size_bytes),
        mb(a.user_size_bytes),
        mb(a.wasted_bytes),
        a.user_wasted_percent * 100.0,
        a.efficiency * 100.0
    ));
    let list = |title: &str, rows: Vec<(String, String)>, s: &mut String| {
        if rows.is_empty() {
            return;
        }
        s.push_str(&format!("\n{title}:\n"));
        for (size, what) in rows {
            s.push_str(&format!("  {size:>9}  {what}\n"));
        }
    };
    list(
        "wasted (paths in more than one layer)",
        a.inefficiencies
            .iter()
            .map(|w| (mb(w.bytes), format!("{} ({} layers)", w.path, w.layers)))
            .collect(),
        &mut s,
    );
    list(
        "largest files",
        a.largest_files
            .iter()
            .map(|f| (mb(f.bytes), f.path.clone()))
            .collect(),
        &mut s,
    );
    list(
        "largest directories",
        a.largest_dirs
            .iter()
            .map(|f| (mb(f.bytes), f.path.clone()))
            .collect(),
        &mut s,
    );
    if !r.ci.is_empty() {
        s.push_str("\nci:\n");
        for c in &r.ci {
            let status = match c.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            s.push_str(&format!(
                "  {status}  {}: {}{}\n",
                c.rule,
                c.configured,
                c.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
    }
    s
}
