//! `--http-crawl`: the links and assets of HTML and CSS answers, so a site's
//! pages, stylesheets, scripts and images are requested (and their files
//! seen) without listing them. HTML is parsed with `scraper` (html5ever);
//! CSS is scanned for `url(...)` and `@import`. Only links of the page's own
//! origin (scheme, host and port) are followed, fragments dropped, query
//! strings kept.
use std::collections::BTreeSet;

use reqwest::Url;
use scraper::{Html, Selector};
use serde::Serialize;

/// How far the crawler goes: links from the start pages are depth 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: u32,
    /// Requests in all, start pages included.
    pub max_pages: usize,
}

pub const DEFAULT_MAX_DEPTH: u32 = 5;
pub const DEFAULT_MAX_PAGES: usize = 200;

/// What the crawler visited, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub max_depth: u32,
    pub max_pages: usize,
    pub pages: Vec<Page>,
    /// Whether it stopped at max_pages with links left to visit.
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The path with its query string.
    pub path: String,
    pub port: u16,
    /// The answer's status, -1 for none.
    pub status: i64,
    pub depth: u32,
}

/// The same-origin links of an answer at `base` (path and query of each,
/// in document order, without duplicates), if it is HTML or CSS.
pub fn links(base: &Url, content_type: &str, body: &str) -> Vec<String> {
    let ct = content_type.to_ascii_lowercase();
    let path = base.path().to_ascii_lowercase();
    let found = if ct.contains("html")
        || (ct.is_empty()
            && (path.ends_with(".html") || path.ends_with(".htm") || path.ends_with('/')))
    {
        html_links(base, body)
    } else if ct.contains("css") || (ct.is_empty() && path.ends_with(".css")) {
        css_urls(body)
            .into_iter()
            .filter_map(|u| base.join(&u).ok())
            .collect()
    } else {
        Vec::new()
    };
    let mut seen = BTreeSet::new();
    found
        .into_iter()
        .filter(|u| u.origin() == base.origin())
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// Every URL an HTML document refers to: href, src, srcset, inline styles
/// and <style> blocks, resolved against <base href> or the page.
pub fn html_links(page: &Url, html: &str) -> Vec<Url> {
    let doc = Html::parse_document(html);
    let sel = |s: &str| Selector::parse(s).expect("a valid selector");
    let base = doc
        .select(&sel("base[href]"))
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| page.join(h).ok())
        .unwrap_or_else(|| page.clone());
    let mut raw: Vec<String> = Vec::new();
    for el in doc.select(&sel("[href], [src], [srcset], [style], style")) {
        let v = el.value();
        if v.name() != "base" {
            raw.extend(v.attr("href").map(str::to_string));
        }
        raw.extend(v.attr("src").map(str::to_string));
        if let Some(set) = v.attr("srcset") {
            raw.extend(srcset(set));
        }
        if let Some(style) = v.attr("style") {
            raw.extend(css_urls(style));
        }
        if v.name() == "style" {
            raw.extend(css_urls(&el.text().collect::<String>()));
        }
    }
    raw.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .filter_map(|s| base.join(s).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .collect()
}

/// The URLs of a srcset: each candidate is a URL and an optional
/// descriptor ("480w", "2x").
pub fn srcset(set: &str) -> Vec<String> {
    set.split(',')
        .filter_map(|c| c.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `url(...)` (quoted or not) and `@import "..."` in CSS, `data:` left out.
pub fn css_urls(css: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = css.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find("url(") {
        let start = at + i + 4;
        let Some(len) = css[start..].find(')') else {
            break;
        };
        out.push(unquote(&css[start..start + len]));
        at = start + len;
    }
    let mut at = 0;
    while let Some(i) = lower[at..].find("@import") {
        let rest = css[at + i + 7..].trim_start();
        if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            if let Some(end) = rest[1..].find(q) {
                out.push(rest[1..1 + end].to_string());
            }
        }
        at += i + 7;
    }
    out.retain(|u| !u.is_empty() && !u.to_ascii_lowercase().starts_with("data:"));
    out
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix(['"', '\''])
        .and_then(|t| t.strip_suffix(['"', '\'']))
        .unwrap_or(s);
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("http://127.0.0.1:8080/docs/index.html").unwrap()
    }

    #[test]
    fn html_links_are_resolved_and_filtered_to_the_origin() {
        let html = r##"<!doctype html><html><head>
            <link rel="stylesheet" href="css/site.css">
            <script src="/js/app.js?v=2"></script>
            <style>body { background: url('/img/bg.png') }</style>
          </head><body>
            <a href="page2.html#top">2</a>
            <a href="../about.html?x=1&amp;y=2">about</a>
            <a href="#local">here</a>
            <a href="http://other.example/x">other</a>
            <a href="https://127.0.0.1:8080/tls">other scheme</a>
            <a href="http://127.0.0.1:9090/p">other port</a>
            <a href="mailto:a@b">mail</a>
            <img src="img/a.png" srcset="img/a-480.png 480w, img/a-800.png 800w , /img/a@2x.png 2x">
            <div style="background-image: url(img/div.png)"></div>
            <a href="page2.html">again</a>
          </body></html>"##;
        let got = links(&page(), "text/html; charset=utf-8", html);
        assert_eq!(
            got,
            [
                "/docs/css/site.css",
                "/js/app.js?v=2",
                "/img/bg.png",
                "/docs/page2.html",
                "/about.html?x=1&y=2",
                "/docs/img/a.png",
                "/docs/img/a-480.png",
                "/docs/img/a-800.png",
                "/img/a@2x.png",
                "/docs/img/div.png",
            ]
        );
    }

    #[test]
    fn base_href_changes_the_base() {
        let got = links(
            &page(),
            "text/html",
            r#"<html><head><base href="/v2/"></head><body><a href="x.html">x</a></body></html>"#,
        );
        assert_eq!(got, ["/v2/x.html"]);
    }

    #[test]
    fn css_urls_with_and_without_quotes_and_imports() {
        let css = r#"@import "base.css"; @import url('print.css') print;
            .a { background: url("../img/a.png") } .b { background: URL( img/b.png ) }
            .c { background: url(data:image/png;base64,AAAA) }"#;
        let base = Url::parse("http://127.0.0.1:8080/css/site.css").unwrap();
        assert_eq!(
            links(&base, "text/css", css),
            [
                "/css/print.css",
                "/img/a.png",
                "/css/img/b.png",
                "/css/base.css"
            ]
        );
    }

    #[test]
    fn other_answers_have_no_links() {
        assert!(links(&page(), "application/json", r#"{"href": "/x"}"#).is_empty());
        assert!(links(&page(), "image/png", "url(/x)").is_empty());
    }

    #[test]
    fn srcset_candidates() {
        assert_eq!(srcset("a.png 1x,b.png 2x"), ["a.png", "b.png"]);
        assert_eq!(srcset(" c.png "), ["c.png"]);
    }
}
