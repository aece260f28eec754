//! Perl: `use`, `no` and `require` of module names (and the lists of `use
//! parent`, `use base` and `use if`), `require 'Path/File.pm'`, and `use
//! lib` directories, in kept `.pm`/`.pl` files, resolved through the
//! image's @INC as Debian's perl and the official images lay it out
//! (`/etc/perl`, site, vendor and core directories with their arch
//! directories). A module from an arch directory has its XS shared object
//! and autosplit files under `auto/Module/Path/`: all of that directory is
//! kept, and the closure brings the object's libraries.
//!
//! No maintained Perl parser exists as a Rust crate (and only perl parses
//! Perl), so this is a light tokenizer: POD, comments and `__END__` are
//! skipped, and the statements after `use`/`no`/`require` are read for
//! barewords and quoted words. A `use` inside a string or a heredoc may be
//! read as one: that keeps a module too many, never one too few.
use super::{dirs::expand, is_dir, is_file, join, parent, read_text, Imports, Resolver};
use crate::rebuild::rootfs::LayerStack;

/// @INC in perl's order (`[0-9]*` is a version directory).
const INC: &[&str] = &[
    "/etc/perl",
    "/usr/local/lib/*-linux*/perl/[0-9]*",
    "/usr/local/share/perl/[0-9]*",
    "/usr/lib/*-linux*/perl5/[0-9]*",
    "/usr/share/perl5",
    "/usr/lib/*-linux*/perl-base",
    "/usr/lib/*-linux*/perl/[0-9]*",
    "/usr/share/perl/[0-9]*",
    "/usr/local/lib/site_perl",
    // Source builds (the official perl images).
    "/usr/local/lib/perl5/site_perl/[0-9]*/*-linux*",
    "/usr/local/lib/perl5/site_perl/[0-9]*",
    "/usr/local/lib/perl5/vendor_perl/[0-9]*/*-linux*",
    "/usr/local/lib/perl5/vendor_perl/[0-9]*",
    "/usr/local/lib/perl5/[0-9]*/*-linux*",
    "/usr/local/lib/perl5/[0-9]*",
];

/// Words after `use` that are not modules: `use 5.010`, `use v5.36`.
fn is_version(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
        || (word.starts_with('v') && word[1..].starts_with(|c: char| c.is_ascii_digit()))
}

#[derive(Default)]
pub struct Perl {
    /// @INC as the image has it, found on first use.
    inc: Option<Vec<String>>,
    /// Directories `use lib` added (they apply to the whole program).
    libs: Vec<String>,
}

/// What one file loads.
#[derive(Debug, Default, PartialEq)]
struct Found {
    /// Module names (`Foo::Bar`) and required files (`Foo/Bar.pm`).
    modules: Vec<String>,
    /// `use lib` directories, as written.
    libs: Vec<String>,
}

/// The code of `source` without POD, comments and what follows `__END__`.
fn code(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut pod = false;
    for line in source.lines() {
        if pod {
            pod = !line.starts_with("=cut");
            out.push('\n');
            continue;
        }
        if line.starts_with('=') && line[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            pod = !line.starts_with("=cut");
            out.push('\n');
            continue;
        }
        if line == "__END__" || line == "__DATA__" {
            break;
        }
        out.push_str(strip_comment(line));
        out.push('\n');
    }
    out
}

/// `line` up to a `#` that starts a comment (outside quotes, not `$#`).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    let mut quote = None;
    for (i, &c) in b.iter().enumerate() {
        match (quote, c) {
            (Some(q), _) if c == q && (i == 0 || b[i - 1] != b'\\') => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b'#') if i == 0 || !matches!(b[i - 1], b'$' | b'\\') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The quoted words of a statement: `'a'`, `"b"`, `qw(c d)` (any
/// delimiter), `q(e)`.
fn words(stmt: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = stmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (start, close) = if c == b'\'' || c == b'"' {
            (i + 1, c)
        } else if stmt[i..].starts_with("qw") || stmt[i..].starts_with("q") {
            let skip = if stmt[i..].starts_with("qw") { 2 } else { 1 };
            let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
            let j = i + skip;
            match b.get(j) {
                Some(&o)
                    if !word_before
                        && matches!(o, b'(' | b'[' | b'{' | b'<' | b'/' | b'|' | b'!') =>
                {
                    let close = match o {
                        b'(' => b')',
                        b'[' => b']',
                        b'{' => b'}',
                        b'<' => b'>',
                        o => o,
                    };
                    (j + 1, close)
                }
                _ => {
                    i += 1;
                    continue;
                }
            }
        } else {
            i += 1;
            continue;
        };
        let end = stmt[start..]
            .bytes()
            .position(|x| x == close)
            .map_or(b.len(), |p| start + p);
        out.extend(stmt[start..end].split_whitespace().map(str::to_string));
        i = end + 1;
    }
    out
}

fn is_module_name(w: &str) -> bool {
    !w.is_empty()
        && w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The modules and `use lib` directories of `source`.
fn scan(source: &str) -> Found {
    let text = code(source);
    let mut found = Found::default();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        let kw = ["use", "no", "require"].into_iter().find(|k| {
            rest.starts_with(k)
                && !rest[k.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        });
        let boundary = i == 0
            || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b';' | b'{' | b'}' | b'(')
                && !text[..i].trim_end().ends_with("->");
        let Some(kw) = kw.filter(|_| boundary) else {
            i += 1;
            continue;
        };
        let after = &rest[kw.len()..];
        let stmt_end = after.find(';').unwrap_or(after.len());
        let stmt = &after[..stmt_end];
        let arg = stmt.trim_start();
        let word: String = arg
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':' || *c == '.')
            .collect();
        if kw == "require" && arg.starts_with(['\'', '"']) {
            // require 'Foo/Bar.pm': a file relative to @INC.
            if let Some(w) = words(arg).into_iter().next() {
                found.modules.push(w);
            }
        } else if !word.is_empty() && !is_version(&word) && is_module_name(&word) {
            let tail = &arg[word.len()..];
            match (kw, word.as_str()) {
                ("use", "lib") => found.libs.extend(words(tail)),
                ("use" | "no", "parent" | "base" | "if") => {
                    found.modules.push(word.clone());
                    found.modules.extend(words(tail).into_iter().filter(|w| {
                        is_module_name(w)
                            && (w.contains(|c: char| c.is_ascii_uppercase()) || w.contains("::"))
                    }));
                }
                _ => found.modules.push(word.clone()),
            }
        }
        i += kw.len();
    }
    found
}

/// `Foo::Bar` -> `Foo/Bar.pm`; a file name stays as it is.
fn module_file(name: &str) -> String {
    if name.ends_with(".pm") || name.ends_with(".pl") || name.contains('/') {
        name.to_string()
    } else {
        format!("{}.pm", name.replace("::", "/"))
    }
}

impl Perl {
    fn inc(&mut self, fs: &LayerStack) -> Vec<String> {
        let base = self
            .inc
            .get_or_insert_with(|| INC.iter().flat_map(|p| expand(fs, p)).collect());
        self.libs.iter().chain(base.iter()).cloned().collect()
    }
}

impl Resolver for Perl {
    fn language(&self) -> &'static str {
        "perl"
    }

    fn wants(&self, path: &str) -> bool {
        path.ends_with(".pm") || path.ends_with(".pl")
    }

    fn imports(&mut self, fs: &LayerStack, path: &str) -> Imports {
        let mut out = Imports::default();
        let Some(source) = read_text(fs, path) else {
            return out;
        };
        let found = scan(&source);
        let here = parent(path);
        for lib in found.libs {
            // FindBin's directory is the script's own.
            let lib = lib
                .replace("${FindBin::Bin}", here)
                .replace("$FindBin::RealBin", here)
                .replace("$FindBin::Bin", here);
            let dir = if lib.starts_with('/') {
                lib
            } else {
                join(here, &lib)
            };
            if is_dir(fs, &dir) && !self.libs.contains(&dir) {
                self.libs.insert(0, dir);
            }
        }
        let inc = self.inc(fs);
        for name in found.modules {
            let file = module_file(&name);
            let Some(dir) = inc.iter().find(|d| is_file(fs, &join(d, &file))) else {
                out.missing.push(name);
                continue;
            };
            out.kept.push(join(dir, &file));
            // XS objects and autosplit files: auto/Foo/Bar/ in any @INC dir.
            let auto = format!("auto/{}", file.trim_end_matches(".pm"));
            for d in &inc {
                let a = join(d, &auto);
                if is_dir(fs, &a) {
                    out.kept.extend(
                        fs.read_dir(&a)
                            .into_iter()
                            .map(|n| join(&a, &n))
                            .filter(|p| is_file(fs, p)),
                    );
                }
            }
        }
        out.sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::tree;
    use super::*;

    #[test]
    fn statements_of_every_kind_are_found() {
        let src = r#"#!/usr/bin/perl
use strict;
use 5.010;
use v5.36;
use lib '/srv/lib', "$FindBin::Bin/lib";
use parent -norequire, 'Local::Base';
use base qw(Exporter);
use if $] < 5.020, 'Legacy::Thing';
no warnings 'once';
my %h = (a => 1); # use Commented::Out;
sub lazy { require JSON::PP; require 'Foo/Bar.pm'; $obj->require(Not::This); }
$x = $#list;
=head1 NAME

use Pod::Only;

=cut
require POSIX;
__END__
use After::End;
"#;
        let f = scan(src);
        assert_eq!(f.libs, ["/srv/lib", "$FindBin::Bin/lib"]);
        assert_eq!(
            f.modules,
            [
                "strict",
                "parent",
                "Local::Base",
                "base",
                "Exporter",
                "if",
                "Legacy::Thing",
                "warnings",
                "JSON::PP",
                "Foo/Bar.pm",
                "POSIX"
            ]
        );
    }

    #[test]
    fn modules_resolve_through_inc_with_their_shared_objects() {
        let (_t, fs) = tree(&[
            (
                "/srv/app/app.pl",
                "use lib 'lib';\nuse Greeting;\nrequire Digest::SHA;\nrequire JSON::PP;\nuse Nope::Missing;\n",
            ),
            ("/srv/app/lib/Greeting.pm", "1;"),
            ("/usr/share/perl/5.36/JSON/PP.pm", "1;"),
            ("/usr/lib/x86_64-linux-gnu/perl/5.36/Digest/SHA.pm", "1;"),
            (
                "/usr/lib/x86_64-linux-gnu/perl/5.36/auto/Digest/SHA/SHA.so",
                "",
            ),
        ]);
        let mut p = Perl::default();
        let got = p.imports(&fs, "/srv/app/app.pl");
        assert_eq!(
            got.kept,
            [
                "/srv/app/lib/Greeting.pm",
                "/usr/lib/x86_64-linux-gnu/perl/5.36/Digest/SHA.pm",
                "/usr/lib/x86_64-linux-gnu/perl/5.36/auto/Digest/SHA/SHA.so",
                "/usr/share/perl/5.36/JSON/PP.pm",
            ]
        );
        assert_eq!(got.missing, ["Nope::Missing"]);
    }
}
