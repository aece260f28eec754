//! The probe flags beyond the short forms, flattened into `ProbeArgs`.
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{crawl, file, openapi, Entry};

#[derive(Debug, Clone, Args)]
pub struct ScriptArgs {
    /// A probe file (YAML or JSON, docs/probes.md): http requests with
    /// headers, bodies and expectations, exec, host-exec and wait entries,
    /// run in order after the short-form probes.
    #[arg(long, value_name = "FILE")]
    pub probe_file: Option<PathBuf>,
    /// Follow same-origin links and assets (href, src, srcset, CSS url() and
    /// @import) of HTML and CSS answers, from every GET probe's path, or from
    /// / when there is none.
    #[arg(long)]
    pub http_crawl: bool,
    /// How many links deep --http-crawl goes from its start pages.
    #[arg(long, value_name = "N", default_value_t = crawl::DEFAULT_MAX_DEPTH,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub crawl_max_depth: u32,
    /// How many requests --http-crawl sends at most.
    #[arg(long, value_name = "N", default_value_t = crawl::DEFAULT_MAX_PAGES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100000))]
    pub crawl_max_pages: usize,
    /// One probe per operation of an OpenAPI 3.x or Swagger 2.0 document: a
    /// host FILE, or a PATH (starting with /) the app serves on its first
    /// exposed port, fetched once it answers.
    #[arg(long, value_name = "FILE|PATH")]
    pub openapi: Option<String>,
    /// Record failed probes in the report and go on, instead of failing
    /// (exit 8) without writing an image.
    #[arg(long)]
    pub accept_probe_failures: bool,
}

impl ScriptArgs {
    /// Whether probes were given that replace the default GET /.
    pub fn replaces_default(&self) -> bool {
        self.probe_file.is_some() || self.openapi.is_some()
    }

    /// The probe file's entries and those of an --openapi FILE, checked.
    pub fn entries(&self) -> Result<(Vec<Entry>, Option<String>)> {
        let mut entries = match &self.probe_file {
            Some(f) => file::load(f)?,
            None => Vec::new(),
        };
        let mut path = None;
        match &self.openapi {
            // An existing host file wins over a URL path of the same spelling.
            Some(o) if !o.starts_with('/') || std::path::Path::new(o).is_file() => {
                entries.extend(openapi::load(std::path::Path::new(o))?)
            }
            Some(o) => path = Some(o.clone()),
            None => {}
        }
        Ok((entries, path))
    }

    pub fn crawl(&self) -> Option<crawl::Limits> {
        self.http_crawl.then_some(crawl::Limits {
            max_depth: self.crawl_max_depth,
            max_pages: self.crawl_max_pages,
        })
    }
}
