//! Python distributions as a site directory holds them: which installed
//! distribution a file belongs to (its `*.dist-info`/`*.egg-info` RECORD or
//! top_level.txt), and what a distribution declares it needs at run time
//! (`Requires-Dist` of METADATA, `requires.txt` of an egg-info), with
//! environment markers evaluated for the image's interpreter.
use std::collections::{BTreeSet, HashMap};

use super::{is_dir, join, read_text};
use crate::rebuild::rootfs::LayerStack;

/// Marker variables with one value on every Linux CPython; others
/// (`platform_machine`, `platform_release`, ...) are unknown, and a
/// requirement whose marker depends on them is kept.
const MARKER_ENV: &[(&str, &str)] = &[
    ("os_name", "posix"),
    ("sys_platform", "linux"),
    ("platform_system", "Linux"),
    ("implementation_name", "cpython"),
    ("platform_python_implementation", "CPython"),
];

/// Where a distribution's metadata file is, by the kind of its directory.
const METADATA_FILES: &[(&str, &str)] = &[(".dist-info", "METADATA"), (".egg-info", "PKG-INFO")];

/// The PEP 503 normalized form of a distribution name (`Foo.Bar_baz` ->
/// `foo-bar-baz`).
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// One installed distribution.
#[derive(Debug)]
pub struct Dist {
    /// Its metadata directory (or single-file egg-info).
    pub dir: String,
    /// Top-level modules and packages it installs.
    pub tops: BTreeSet<String>,
}

/// The distributions of one site directory.
#[derive(Debug, Default)]
pub struct Site {
    pub dists: Vec<Dist>,
    /// Top-level name -> distributions providing it.
    pub by_top: HashMap<String, Vec<usize>>,
    /// Path relative to the site (as RECORD lists it) -> distribution.
    by_file: HashMap<String, usize>,
    /// Normalized distribution name -> distribution.
    pub by_name: HashMap<String, usize>,
}

/// The distribution name and version of a metadata directory's name
/// (`Foo_Bar-1.0.dist-info`).
fn dir_name(entry: &str) -> &str {
    entry.split('-').next().unwrap_or(entry)
}

impl Site {
    pub fn read(fs: &LayerStack, site: &str) -> Site {
        let mut s = Site::default();
        for d in fs.read_dir(site) {
            if !(d.ends_with(".dist-info") || d.ends_with(".egg-info")) {
                continue;
            }
            let dir = join(site, &d);
            let i = s.dists.len();
            let mut tops: BTreeSet<String> = BTreeSet::new();
            if let Some(t) = read_text(fs, &join(&dir, "top_level.txt")) {
                tops.extend(
                    t.lines()
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty()),
                );
            }
            if let Some(r) = read_text(fs, &join(&dir, "RECORD")) {
                for line in r.lines() {
                    let file = line.split(',').next().unwrap_or("");
                    let first = file.split('/').next().unwrap_or("");
                    // `six.py`, `_cffi_backend.cpython-311-x86_64-linux-gnu.so`
                    let first = match first.split_once('.') {
                        Some((m, _)) if !first.contains("-info") => m,
                        _ => first,
                    };
                    if !first.is_empty()
                        && !first.contains("-info")
                        && first != "__pycache__"
                        && first != ".."
                    {
                        tops.insert(first.to_string());
                    }
                    if !file.is_empty() {
                        s.by_file.insert(file.to_string(), i);
                    }
                }
            }
            // The distribution's own name, as a module name.
            tops.insert(dir_name(&d).to_lowercase().replace(['-', '.'], "_"));
            for t in &tops {
                s.by_top.entry(t.clone()).or_default().push(i);
            }
            s.by_name.insert(normalize(dir_name(&d)), i);
            s.dists.push(Dist { dir, tops });
        }
        s
    }

    /// The distributions `rel` (a path relative to the site) belongs to:
    /// the one whose RECORD lists it, else those whose top-level names
    /// include its first component.
    pub fn owners(&self, rel: &str) -> Vec<usize> {
        if let Some(i) = self.by_file.get(rel) {
            return vec![*i];
        }
        let first = rel.split('/').next().unwrap_or(rel);
        let first = first.split('.').next().unwrap_or(first);
        self.by_top.get(first).cloned().unwrap_or_default()
    }
}

/// The metadata file of a distribution's directory (a single-file
/// egg-info is itself one).
pub fn metadata_file(fs: &LayerStack, dir: &str) -> String {
    if !is_dir(fs, dir) {
        return dir.to_string();
    }
    METADATA_FILES
        .iter()
        .find(|(ext, _)| dir.ends_with(ext))
        .map_or_else(|| join(dir, "METADATA"), |(_, f)| join(dir, f))
}

/// One declared requirement the image's interpreter needs (its marker, if
/// any, holds), by its name as written.
#[derive(Debug, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
}

/// The runtime requirements a distribution declares: METADATA's
/// `Requires-Dist` headers (not those under an `extra` marker, nor those
/// whose marker is false here), or an egg-info's `requires.txt` (lines
/// before any `[extra]` section; `[:marker]` sections by their marker).
pub fn requirements(fs: &LayerStack, dir: &str, python: Option<&str>) -> Vec<Requirement> {
    let meta = read_text(fs, &metadata_file(fs, dir)).unwrap_or_default();
    let mut lines: Vec<String> = headers(&meta, "Requires-Dist");
    if lines.is_empty() && is_dir(fs, dir) {
        let mut section_ok = true;
        for line in read_text(fs, &join(dir, "requires.txt"))
            .unwrap_or_default()
            .lines()
        {
            let line = line.trim();
            if let Some(sec) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                // `[extra]` and `[extra:marker]` are extras; `[:marker]` is not.
                section_ok = match sec.split_once(':') {
                    Some(("", marker)) => marker_allows(marker, python),
                    _ => false,
                };
                continue;
            }
            if section_ok && !line.is_empty() && !line.starts_with('#') {
                lines.push(line.to_string());
            }
        }
    }
    lines
        .iter()
        .filter_map(|l| requirement(l, python))
        .collect()
}

/// The values of header `key` in an RFC 822-style metadata file (the
/// headers end at the first empty line; the body is the description).
fn headers(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().to_string())
        })
        .collect()
}

/// A PEP 508 requirement line, if the image's interpreter needs it.
pub fn requirement(line: &str, python: Option<&str>) -> Option<Requirement> {
    let (spec, marker) = match line.split_once(';') {
        Some((s, m)) => (s, Some(m.trim())),
        None => (line, None),
    };
    let spec = spec.trim();
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..end];
    if name.is_empty() {
        return None;
    }
    if let Some(m) = marker {
        if tokens(m).iter().any(|t| t == "extra") || !marker_allows(m, python) {
            return None;
        }
    }
    Some(Requirement {
        name: name.to_string(),
    })
}

/// A marker's tokens: names, quoted strings (kept with their quote),
/// operators and parentheses.
fn tokens(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = marker.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::from("'");
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
                s.push(d);
            }
            out.push(s);
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
        } else if "<>=!~".contains(c) {
            let mut s = String::new();
            while let Some(&d) = chars.peek().filter(|d| "<>=!~".contains(**d)) {
                s.push(d);
                chars.next();
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&d) = chars
                .peek()
                .filter(|d| !d.is_whitespace() && !"()<>=!~'\"".contains(**d))
            {
                s.push(d);
                chars.next();
            }
            out.push(s);
        }
    }
    out
}

/// Whether a marker holds for the image's interpreter (`python` is its
/// `X.Y` version when known). When unsure (an unknown variable or
/// operator, a marker that does not parse), it holds: a requirement too
/// many is kept, never one too few.
pub fn marker_allows(marker: &str, python: Option<&str>) -> bool {
    let t = tokens(marker);
    let mut p = MarkerParser {
        t: &t,
        at: 0,
        python,
    };
    match p.or() {
        Some(v) if p.at == t.len() => v != Some(false),
        _ => true,
    }
}

/// Recursive descent over marker tokens; values are three-valued
/// (`None`: unknown).
struct MarkerParser<'a> {
    t: &'a [String],
    at: usize,
    python: Option<&'a str>,
}

type Tri = Option<bool>;

impl MarkerParser<'_> {
    fn next(&mut self) -> Option<&str> {
        let s = self.t.get(self.at)?;
        self.at += 1;
        Some(s)
    }

    fn peek(&self) -> Option<&str> {
        self.t.get(self.at).map(String::as_str)
    }

    fn or(&mut self) -> Option<Tri> {
        let mut v = self.and()?;
        while self.peek() == Some("or") {
            self.at += 1;
            let r = self.and()?;
            v = match (v, r) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
        }
        Some(v)
    }

    fn and(&mut self) -> Option<Tri> {
        let mut v = self.atom()?;
        while self.peek() == Some("and") {
            self.at += 1;
            let r = self.atom()?;
            v = match (v, r) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
        }
        Some(v)
    }

    fn atom(&mut self) -> Option<Tri> {
        if self.peek() == Some("(") {
            self.at += 1;
            let v = self.or()?;
            return (self.next()? == ")").then_some(v);
        }
        let left = self.value()?;
        let mut op = self.next()?.to_string();
        if op == "not" {
            if self.next()? != "in" {
                return None;
            }
            op = "not in".into();
        }
        let right = self.value()?;
        let (Some(l), Some(r)) = (left, right) else {
            return Some(None);
        };
        Some(compare(&l, &op, &r))
    }

    /// A quoted string, or a variable's value (None when unknown).
    fn value(&mut self) -> Option<Option<String>> {
        let python = self.python;
        let tok = self.next()?;
        if let Some(s) = tok.strip_prefix('\'') {
            return Some(Some(s.to_string()));
        }
        if !tok
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return None;
        }
        Some(match tok {
            // Only `X.Y` is known (from the stdlib's directory), so
            // `python_full_version` stays unknown.
            "python_version" => python.map(str::to_string),
            _ => MARKER_ENV
                .iter()
                .find(|(k, _)| *k == tok)
                .map(|(_, v)| v.to_string()),
        })
    }
}

/// `l op r` for marker values: versions compare by their numeric parts,
/// other strings as strings.
fn compare(l: &str, op: &str, r: &str) -> Tri {
    let version = |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.parse().ok()).collect() };
    match op {
        "in" => return Some(r.contains(l)),
        "not in" => return Some(!r.contains(l)),
        _ => {}
    }
    let ord = match (version(l), version(r)) {
        (Some(mut a), Some(mut b)) => {
            let n = a.len().max(b.len());
            a.resize(n, 0);
            b.resize(n, 0);
            a.cmp(&b)
        }
        _ if matches!(op, "==" | "!=" | "===") => l.cmp(r),
        _ => return None,
    };
    use std::cmp::Ordering::*;
    Some(match op {
        "==" | "===" => ord == Equal,
        "!=" => ord != Equal,
        "<" => ord == Less,
        "<=" => ord != Greater,
        ">" => ord == Greater,
        ">=" => ord != Less,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_per_pep_503() {
        assert_eq!(normalize("Greet.Plugin"), "greet-plugin");
        assert_eq!(normalize("a__b-_c"), "a-b-c");
    }

    #[test]
    fn markers_are_evaluated_conservatively() {
        let py = Some("3.11");
        for (m, want) in [
            ("sys_platform == 'win32'", false),
            ("sys_platform == \"linux\"", true),
            ("python_version < \"3.8\"", false),
            ("python_version >= '3.8' and os_name == 'posix'", true),
            (
                "platform_system == 'Windows' or python_version < '3'",
                false,
            ),
            (
                "(sys_platform == 'darwin' or sys_platform == 'win32') and python_version > '3'",
                false,
            ),
            ("platform_machine == 'aarch64'", true),
            (
                "platform_machine == 'aarch64' and sys_platform == 'win32'",
                false,
            ),
            ("'linux' in sys_platform", true),
            ("python_version ~= '3.11'", true),
            ("this does not parse ((", true),
        ] {
            assert_eq!(marker_allows(m, py), want, "{m}");
        }
        assert!(
            marker_allows("python_version < '3.8'", None),
            "unknown version"
        );
        assert!(
            marker_allows("python_full_version < '3.11.2'", py),
            "X.Y only"
        );
    }

    #[test]
    fn requirement_lines() {
        let py = Some("3.11");
        let name = |l: &str| requirement(l, py).map(|r| r.name);
        assert_eq!(name("Greet.Plugin (>=1.0)"), Some("Greet.Plugin".into()));
        assert_eq!(
            name("requests[socks]>=2; python_version>'3'"),
            Some("requests".into())
        );
        assert_eq!(name("greet-fancy ; extra == 'fancy'"), None);
        assert_eq!(name("pywin32; sys_platform == 'win32'"), None);
        assert_eq!(name("pkg @ file:///x"), Some("pkg".into()));
    }
}
