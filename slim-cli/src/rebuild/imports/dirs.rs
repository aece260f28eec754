//! Search directories named by patterns: the load paths of interpreters
//! whose directories carry version numbers (`/usr/lib/ruby/3.1.0`,
//! `/usr/share/perl/5.36`), listed from the image instead of asking its
//! interpreter (which never runs on the host).
use globset::GlobBuilder;

use super::{is_dir, join};
use crate::rebuild::{
    paths::{find, resolve_path},
    rootfs::LayerStack,
};

/// Paths of the image matching `pattern` (absolute, `*` within one
/// component), through symlinked directories.
pub fn expand(fs: &LayerStack, pattern: &str) -> Vec<String> {
    let mut found = vec!["/".to_string()];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            if !comp.contains(['*', '[', '?']) {
                let p = join(dir, comp);
                if find(fs, &p).is_some() {
                    next.push(p);
                }
                continue;
            }
            let Ok(g) = GlobBuilder::new(comp).build() else {
                return Vec::new();
            };
            let m = g.compile_matcher();
            let real = resolve_path(fs, dir).unwrap_or(dir.clone());
            for name in fs.read_dir(&real) {
                if m.is_match(&name) {
                    next.push(join(dir, &name));
                }
            }
        }
        found = next;
    }
    found.into_iter().filter(|d| is_dir(fs, d)).collect()
}
