//! A token-level scanner for Python's import statements, many times faster
//! than building a syntax tree (the whole stdlib closure of a web service
//! is scanned in milliseconds, where rustpython-parser took most of a
//! second).
//!
//! It is sound for valid Python because `import` and `from` are hard
//! keywords: outside strings and comments, an `import` token only ever
//! starts an import statement or follows `from <module>` at the start of
//! one, and a statement starts after a newline outside brackets, a `;`, or
//! the `:` of a compound statement's header. So the scanner lexes exactly
//! what decides that (strings with every prefix, f-strings with nested
//! fields, comments, brackets, line continuations) and reads the
//! statements that start with `import` or `from`. Anything it does not
//! expect (an unterminated string, unbalanced brackets, an `import` in a
//! place it cannot stand) makes it give up, and the caller parses the file
//! with the full parser instead.

/// (level, module, names): `import a.b` is (0, "a.b", []), `from ..x
/// import y, z` is (2, "x", ["y", "z"]).
pub type Import = (u32, String, Vec<String>);

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Name(&'a str),
    /// A string literal, as written (prefix and quotes included).
    Str(&'a str),
    Dot,
    Comma,
    Star,
    Open,
    Close,
    Other,
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

const STRING_PREFIXES: [&str; 8] = ["r", "u", "b", "f", "br", "rb", "fr", "rf"];

/// The string prefix `word` is, when a quote follows it (`rb'..'`).
fn string_prefix(word: &str, next: Option<u8>) -> Option<String> {
    if word.len() > 2 || !matches!(next, Some(b'\'' | b'"')) {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    STRING_PREFIXES.contains(&lower.as_str()).then_some(lower)
}

impl<'a> Lexer<'a> {
    fn peek(&self, k: usize) -> Option<u8> {
        self.b.get(self.i + k).copied()
    }

    /// Skips a string literal whose opening quote is at `self.i`.
    fn string(&mut self, prefix: &str) -> Option<()> {
        let q = self.b[self.i];
        let triple = self.peek(1) == Some(q) && self.peek(2) == Some(q);
        self.i += if triple { 3 } else { 1 };
        let f = prefix.contains('f');
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'\\' => self.i += 2,
                b'\n' | b'\r' if !triple => return None,
                b'{' if f && self.peek(1) == Some(b'{') => self.i += 2,
                b'{' if f => {
                    self.i += 1;
                    self.field()?;
                }
                _ if c == q => {
                    if !triple {
                        self.i += 1;
                        return Some(());
                    }
                    if self.peek(1) == Some(q) && self.peek(2) == Some(q) {
                        self.i += 3;
                        return Some(());
                    }
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
    }

    /// Skips an f-string replacement field after its `{`, through its `}`:
    /// an expression (strings may nest), then a format spec after a `:`
    /// at the field's own level, which may hold fields of its own.
    fn field(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    self.i += 1;
                }
                b')' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.i += 1;
                }
                b'}' if depth == 0 => {
                    self.i += 1;
                    return Some(());
                }
                b'}' => {
                    depth -= 1;
                    self.i += 1;
                }
                b':' if depth == 0 => {
                    self.i += 1;
                    return self.format_spec();
                }
                b'\'' | b'"' => self.string("")?,
                b'#' => return None,
                _ if is_name_start(c) => {
                    let w = self.word();
                    if let Some(prefix) = string_prefix(w, self.peek(0)) {
                        self.string(&prefix)?;
                    }
                }
                _ => self.i += 1,
            }
        }
    }

    /// A format spec: literal text with nested fields, through the `}`
    /// that closes its field.
    fn format_spec(&mut self) -> Option<()> {
        loop {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'{' => self.field()?,
                b'}' => return Some(()),
                b'\n' | b'\r' => return None,
                _ => {}
            }
        }
    }

    fn word(&mut self) -> &'a str {
        let start = self.i;
        while self.peek(0).is_some_and(is_name_byte) {
            self.i += 1;
        }
        // Boundaries are ASCII, so this is a char boundary.
        self.src.get(start..self.i).unwrap_or("")
    }
}

/// Reads one statement's tokens, if it is an import.
fn statement(toks: &[Tok<'_>], out: &mut Vec<Import>) -> Option<()> {
    let dotted = |toks: &[Tok<'_>], mut k: usize| -> (String, usize) {
        let mut s = String::new();
        while let Some(t) = toks.get(k) {
            match t {
                Tok::Name(n) if *n != "import" && *n != "as" => s.push_str(n),
                Tok::Dot => s.push('.'),
                _ => break,
            }
            k += 1;
        }
        (s, k)
    };
    match toks.first() {
        Some(Tok::Name("import")) => {
            let mut k = 1;
            loop {
                let (name, next) = dotted(toks, k);
                if name.is_empty() {
                    return None;
                }
                out.push((0, name, Vec::new()));
                k = next;
                if toks.get(k) == Some(&Tok::Name("as")) {
                    k += 2;
                }
                match toks.get(k) {
                    Some(Tok::Comma) => k += 1,
                    None => return Some(()),
                    Some(_) => return None,
                }
            }
        }
        Some(Tok::Name("from")) => {
            let mut k = 1;
            let mut level = 0;
            while toks.get(k) == Some(&Tok::Dot) {
                level += 1;
                k += 1;
            }
            let (module, next) = dotted(toks, k);
            k = next;
            if toks.get(k) != Some(&Tok::Name("import")) {
                return None;
            }
            let mut names = Vec::new();
            for t in &toks[k + 1..] {
                match t {
                    Tok::Name(n) => names.push((*n).to_string()),
                    Tok::Star => names.push("*".into()),
                    _ => {}
                }
            }
            // `a as b` lists b too: harmless, b is looked for and not found
            // only when a is a submodule. Drop the aliases themselves.
            let mut clean = Vec::new();
            let mut skip = false;
            for n in names {
                if skip {
                    skip = false;
                } else if n == "as" {
                    skip = true;
                } else {
                    clean.push(n);
                }
            }
            out.push((level, module, clean));
            Some(())
        }
        _ => {
            // `import` anywhere else is not Python this scanner knows.
            if toks.contains(&Tok::Name("import")) {
                return None;
            }
            Some(())
        }
    }
}

/// Whether a statement is `if __name__ == "__main__"` (either way round).
fn is_main_guard(toks: &[Tok<'_>]) -> bool {
    let main = |t: &Tok<'_>| matches!(t, Tok::Str("'__main__'" | "\"__main__\""));
    let name = |t: &Tok<'_>| *t == Tok::Name("__name__");
    matches!(toks, [Tok::Name("if"), a, Tok::Other, Tok::Other, b]
        if (name(a) && main(b)) || (main(a) && name(b)))
}

/// What [`scan`] found: imports, and those under a top-level `if __name__
/// == "__main__":`, which run only when the file is the program itself.
#[derive(Debug, Default, PartialEq)]
pub struct Scanned {
    pub imports: Vec<Import>,
    pub main_only: Vec<Import>,
    /// Indices into `imports` of those in a function body (`def`, at any
    /// depth): they run only when that function is called.
    pub in_functions: Vec<usize>,
}

/// Where the scanner stands in the block structure.
#[derive(Default)]
struct Blocks {
    /// Under a top-level `if __name__ == "__main__":`.
    in_main: bool,
    /// The indentation of each enclosing `def` header, outermost first.
    defs: Vec<usize>,
    /// The indentation of the current logical line.
    indent: usize,
}

impl Blocks {
    /// A logical line starts at column `col`: the blocks it dedents out
    /// of end.
    fn line_at(&mut self, col: usize) {
        self.indent = col;
        while self.defs.last().is_some_and(|&d| d >= col) {
            self.defs.pop();
        }
        if col == 0 {
            self.in_main = false;
        }
    }
}

/// Reads the statement in `toks` into `out` and starts the next one.
fn end_statement(
    toks: &mut Vec<Tok<'_>>,
    stmt_col0: bool,
    blocks: &mut Blocks,
    out: &mut Scanned,
) -> Option<()> {
    if blocks.in_main {
        statement(toks, &mut out.main_only)?;
    } else {
        let before = out.imports.len();
        statement(toks, &mut out.imports)?;
        if !blocks.defs.is_empty() {
            out.in_functions.extend(before..out.imports.len());
        }
    }
    if stmt_col0 && is_main_guard(toks) {
        blocks.in_main = true;
    }
    if matches!(
        toks.as_slice(),
        [Tok::Name("def"), ..] | [Tok::Name("async"), Tok::Name("def"), ..]
    ) {
        blocks.defs.push(blocks.indent);
    }
    toks.clear();
    Some(())
}

/// The import statements of `source`, or `None` where the scanner cannot
/// vouch for the answer (the full parser decides then).
pub fn scan(source: &str) -> Option<Scanned> {
    let mut lx = Lexer {
        src: source,
        b: source.as_bytes(),
        i: 0,
    };
    let mut out = Scanned::default();
    let mut toks: Vec<Tok<'_>> = Vec::new();
    let mut depth = 0usize;
    // Indentation: where the current physical line starts, whether its
    // first token is still to come, and whether a statement began on it.
    let mut line_start = 0usize;
    let mut at_line_start = true;
    let mut first_on_line = true;
    let mut stmt_col0 = false;
    let mut blocks = Blocks::default();
    while let Some(c) = lx.peek(0) {
        if at_line_start && !matches!(c, b' ' | b'\t' | b'\x0c' | b'\n' | b'\r' | b'#') {
            // The first token of a line outside brackets: a dedent ends
            // the blocks above it (a `__main__` block at column 0).
            at_line_start = false;
            if depth == 0 {
                blocks.line_at(lx.i - line_start);
            }
        }
        if toks.is_empty()
            && !matches!(
                c,
                b' ' | b'\t' | b'\x0c' | b'\n' | b'\r' | b'#' | b';' | b':'
            )
        {
            stmt_col0 = first_on_line && depth == 0 && lx.i == line_start;
        }
        match c {
            b' ' | b'\t' | b'\x0c' => lx.i += 1,
            b'\\' if matches!(lx.peek(1), Some(b'\n' | b'\r')) => {
                lx.i += 2;
                if lx.peek(0) == Some(b'\n') && lx.b[lx.i - 1] == b'\r' {
                    lx.i += 1;
                }
            }
            b'\n' | b'\r' if depth == 0 => {
                lx.i += 1;
                end_statement(&mut toks, stmt_col0, &mut blocks, &mut out)?;
                line_start = lx.i;
                at_line_start = true;
                first_on_line = true;
            }
            b';' | b':' if depth == 0 => {
                lx.i += 1;
                end_statement(&mut toks, stmt_col0, &mut blocks, &mut out)?;
                first_on_line = false;
            }
            b'\n' | b'\r' => lx.i += 1,
            b'#' => {
                while lx.peek(0).is_some_and(|c| c != b'\n' && c != b'\r') {
                    lx.i += 1;
                }
            }
            b'\'' | b'"' => {
                let start = lx.i;
                lx.string("")?;
                toks.push(Tok::Str(&source[start..lx.i]));
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                lx.i += 1;
                toks.push(Tok::Open);
            }
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                lx.i += 1;
                toks.push(Tok::Close);
            }
            b'.' => {
                lx.i += 1;
                toks.push(Tok::Dot);
            }
            b',' => {
                lx.i += 1;
                toks.push(Tok::Comma);
            }
            b'*' => {
                lx.i += 1;
                toks.push(Tok::Star);
            }
            b'0'..=b'9' => {
                while lx.peek(0).is_some_and(|c| is_name_byte(c) || c == b'.') {
                    lx.i += 1;
                }
                toks.push(Tok::Other);
            }
            _ if is_name_start(c) => {
                let start = lx.i;
                let w = lx.word();
                match string_prefix(w, lx.peek(0)) {
                    Some(prefix) => {
                        lx.string(&prefix)?;
                        toks.push(Tok::Str(&source[start..lx.i]));
                    }
                    None => toks.push(Tok::Name(w)),
                }
            }
            _ => {
                lx.i += 1;
                toks.push(Tok::Other);
            }
        }
    }
    if depth != 0 {
        return None;
    }
    end_statement(&mut toks, stmt_col0, &mut blocks, &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(src: &str) -> Vec<(u32, String, Vec<String>)> {
        let s = scan(src).expect("scanned");
        assert!(s.main_only.is_empty(), "{:?}", s.main_only);
        s.imports
    }

    #[test]
    fn statements_anywhere_and_every_form() {
        let src = "import os, a.b as c\nfrom x import y\n\ndef f():\n    import lazy\n\ntry: import fast\nexcept ImportError:\n    fast = None\nif TYPE_CHECKING:\n    from typing_only import T\nclass K:\n    def m(self):\n        from . import sib\n        from ..up import (z,\n   w as v)\nx = 1; import semi\nfrom .mod import *\n";
        assert_eq!(
            modules(src),
            [
                (0, "os".into(), vec![]),
                (0, "a.b".into(), vec![]),
                (0, "x".into(), vec!["y".into()]),
                (0, "lazy".into(), vec![]),
                (0, "fast".into(), vec![]),
                (0, "typing_only".into(), vec!["T".into()]),
                (1, "".into(), vec!["sib".into()]),
                (2, "up".into(), vec!["z".into(), "w".into()]),
                (0, "semi".into(), vec![]),
                (1, "mod".into(), vec!["*".into()]),
            ]
        );
    }

    #[test]
    fn strings_and_comments_hide_imports() {
        let src = r####"
s = "import nope1"  # import nope2
t = '''
import nope3
'''
u = rb'\'import nope4'
v = f"{x!r:>{width}} import nope5 {d['k']} {'import nope6'}"
w = f'{a:%H:%M}'
raise E from e
yield_ = (yield from g) if 0 else 0
lam = lambda: 0
if (n := 3): import yes1
d = {1: 2,
     3: 4}
import yes2 \
    , yes3
"####;
        let names: Vec<String> = modules(src).into_iter().map(|m| m.1).collect();
        assert_eq!(names, ["yes1", "yes2", "yes3"]);
    }

    #[test]
    fn imports_under_the_main_guard_are_told_apart() {
        let src = "import a\nif x:\n    import b\nif __name__ == '__main__':\n    import doctest\n\n    if y:\n        import pdb\n# comment at column 0\n    import more\nimport after\nif \"__main__\" == __name__: import inline\n";
        let s = scan(src).unwrap();
        let names = |v: &[Import]| v.iter().map(|m| m.1.clone()).collect::<Vec<_>>();
        assert_eq!(names(&s.imports), ["a", "b", "after"]);
        assert_eq!(names(&s.main_only), ["doctest", "pdb", "more", "inline"]);
        let nested = scan("def f():\n    if __name__ == '__main__':\n        import x\n").unwrap();
        assert_eq!(
            names(&nested.imports),
            ["x"],
            "only the top-level guard counts"
        );
    }

    #[test]
    fn imports_in_function_bodies_are_marked() {
        let src = "import top\ndef f(x):\n    import lazy\n    if x:\n        from deep import y\n\n# comment\n    import still\nclass K:\n    import attr\n    async def m(self): import inline\n    @deco\n    def n(self):\n        def inner():\n            import innermost\n        import after_inner\n    import class_level\nimport last\n";
        let s = scan(src).unwrap();
        let marked: Vec<&str> = s
            .in_functions
            .iter()
            .map(|&i| s.imports[i].1.as_str())
            .collect();
        assert_eq!(
            marked,
            [
                "lazy",
                "deep",
                "still",
                "inline",
                "innermost",
                "after_inner"
            ]
        );
        assert_eq!(s.imports.len(), 10);
    }

    #[test]
    fn what_it_cannot_vouch_for_goes_to_the_parser() {
        assert_eq!(scan("s = 'open\nimport x\n"), None, "unterminated string");
        assert_eq!(scan("f(\n"), None, "unbalanced");
        assert_eq!(scan("x = import y\n"), None, "an import where none can be");
    }
}

/// The scanner against the parser over a real tree of Python files (on
/// Debian's 3.11 stdlib and CPython 3.12 and 3.13's, tests included, it
/// finds every import the parser does, and those in `match` cases the
/// parser's visitor misses):
/// `SLIM_PY_TREE=/usr/lib/python3.11 cargo test -p slim-cli --lib
/// agrees_with_the_parser -- --ignored`.
#[cfg(test)]
mod agreement {
    use std::collections::BTreeSet;

    #[test]
    #[ignore = "needs SLIM_PY_TREE, a directory of Python files"]
    fn agrees_with_the_parser() {
        let root = std::env::var("SLIM_PY_TREE").expect("SLIM_PY_TREE");
        let (mut files, mut fallbacks, mut differ) = (0, 0, Vec::new());
        let mut stack = vec![std::path::PathBuf::from(root)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "py") {
                    let Ok(src) = std::fs::read_to_string(&p) else {
                        continue;
                    };
                    files += 1;
                    let parsed = super::super::python::parse_with_parser(&src, "x.py", true);
                    let Some(s) = super::scan(&src) else {
                        fallbacks += 1;
                        continue;
                    };
                    if parsed.is_empty() {
                        continue; // not Python 3 the parser knows
                    }
                    // Each import with whether it stands in a function:
                    // the scanner's indentation against the parser's tree.
                    let in_fn: BTreeSet<usize> = s.in_functions.iter().copied().collect();
                    let a: BTreeSet<_> = s
                        .imports
                        .into_iter()
                        .enumerate()
                        .map(|(i, m)| (m, in_fn.contains(&i)))
                        .chain(s.main_only.into_iter().map(|m| (m, false)))
                        .collect();
                    let b: BTreeSet<_> = parsed.into_iter().collect();
                    // The scanner may see more: rustpython's visitor does
                    // not enter `match` cases.
                    if !b.is_subset(&a) {
                        differ.push(format!(
                            "{}: scan-only {:?} parser-only {:?}",
                            p.display(),
                            a.difference(&b).collect::<Vec<_>>(),
                            b.difference(&a).collect::<Vec<_>>()
                        ));
                    }
                }
            }
        }
        eprintln!(
            "{files} files, {fallbacks} to the parser, {} differ",
            differ.len()
        );
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }
}
