//! Paths in the image: joining and splitting them, and resolving them
//! through the image's own symlinks. The one module below everything that
//! reads the image (the closure, the language resolvers, the package
//! database, the inventory), so none of them imports another for these.
use std::collections::VecDeque;

use super::rootfs::{Found, LayerStack};

/// `/a/b/../c/./d` -> `/a/c/d`; never above `/`. A relative value (a
/// command name looked up in PATH) stays as it is.
pub fn normalize(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

const MAX_SYMLINKS: u32 = 40;

/// `dir/name` for one plain component (no `.` or `..`).
fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory holding `path` (`/` for `/` itself).
pub fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    }
}

/// `dir/name` with `.` and `..` applied.
pub fn join(dir: &str, name: &str) -> String {
    normalize(&format!("{dir}/{name}"))
}

fn components(path: &str) -> VecDeque<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// What resolving a path met on the way.
pub(super) enum Step {
    Symlink(String),
    Dir(String),
}

/// Resolves `path` in the image, following every symlink; returns the final
/// path and what is there if it exists, and the symlinks and directories
/// met on the way.
pub(super) fn walk(fs: &LayerStack, path: &str) -> (Option<(String, Found)>, Vec<Step>) {
    let mut steps = Vec::new();
    let mut pending = components(path);
    let mut cur = String::from("/");
    let mut hops = 0;
    while let Some(comp) = pending.pop_front() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                cur = parent(&cur).to_string();
                continue;
            }
            _ => {}
        }
        let next = child(&cur, &comp);
        let Some(found) = fs.lookup(&next) else {
            return (None, steps);
        };
        if found.meta.file_type().is_symlink() {
            steps.push(Step::Symlink(next.clone()));
            hops += 1;
            let target = match fs.read_link(&found) {
                Ok(t) if hops <= MAX_SYMLINKS => t,
                _ => return (None, steps),
            };
            let target = target.to_string_lossy();
            let mut rest = components(&target);
            rest.extend(pending.drain(..));
            pending = rest;
            if target.starts_with('/') {
                cur = "/".into();
            }
            continue;
        }
        if pending.is_empty() {
            return (Some((next, found)), steps);
        }
        if !found.meta.is_dir() {
            return (None, steps);
        }
        steps.push(Step::Dir(next.clone()));
        cur = next;
    }
    // A path ending at a directory through `.`, `..` or `/` itself.
    let found = fs.lookup(&cur);
    (found.map(|f| (cur, f)), steps)
}

/// What is at `path` in the image, through symlinks, if anything.
pub fn find(fs: &LayerStack, path: &str) -> Option<Found> {
    walk(fs, path).0.map(|(_, f)| f)
}

/// Where `path` leads in the image, if it exists.
pub fn resolve_path(fs: &LayerStack, path: &str) -> Option<String> {
    walk(fs, path).0.map(|(p, _)| p)
}
