//! ARCHITECTURE.md's structural promises, checked on the source: no import
//! circles between the modules of either crate, and no production module of
//! snapkeep uses the simulator crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files that only build under `cfg(test)` (their imports are not the
/// production structure).
fn test_only(path: &Path) -> bool {
    let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("");
    name == "tests" || name == "testkit" || name == "chaos" || name.ends_with("_tests")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's production code: up to its inline `#[cfg(test)] mod tests {`,
/// without comment lines (a doc naming a module is not a use of it).
fn production_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable source");
    let code = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => &text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file under `root` (`api/client.rs` → [api, client]).
fn module_path(root: &Path, path: &Path) -> Vec<String> {
    let rel = path
        .strip_prefix(root)
        .expect("under root")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Identifiers after `prefix` in `text` (`crate::api::Client` → `api`).
fn targets<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.match_indices(prefix)
        .filter(|(at, _)| {
            // `crate::` itself, not the tail of `snapkeep_crate::`.
            !text[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// Which top-level module uses which, in the production code under `root`.
fn module_graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| !test_only(f)) {
        let path = module_path(root, file);
        let Some(top) = path.first() else { continue };
        let text = production_text(file);
        let mut uses = targets(&text, "crate::");
        if path.len() == 1 {
            // In a top-level module `super::` is the crate root.
            uses.extend(targets(&text, "super::"));
        }
        for used in uses {
            if used != top {
                graph
                    .entry(top.clone())
                    .or_default()
                    .insert(used.to_owned());
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one (as the modules along it).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn snapkeep_modules_form_no_import_circle() {
    let graph = module_graph(&repo().join("src"));
    assert!(graph.contains_key("rotation"), "the graph saw the sources");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn simulator_modules_form_no_import_circle() {
    let graph = module_graph(&repo().join("crates/sim/src"));
    assert!(graph.contains_key("routes"), "the graph saw the sources");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_cycle_finder_finds_a_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph
        .entry("app".into())
        .or_default()
        .insert("commands".into());
    graph
        .entry("commands".into())
        .or_default()
        .insert("daemon".into());
    graph
        .entry("daemon".into())
        .or_default()
        .insert("app".into());
    assert_eq!(
        find_cycle(&graph).expect("a circle"),
        ["app", "commands", "daemon", "app"]
    );
    graph.get_mut("daemon").expect("node").clear();
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn no_production_module_uses_the_simulator() {
    // Only the commands that exist to run it (demo, sim) and the argument
    // parser that embeds `sim`'s options may.
    let allowed = ["commands/demo.rs", "commands/sim.rs", "cli.rs"];
    let root = repo().join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !test_only(f)) {
        let rel = file.strip_prefix(&root).expect("under src");
        let rel = rel.to_string_lossy().replace('\\', "/");
        if allowed.contains(&rel.as_str()) {
            continue;
        }
        if production_text(file).contains("snapkeep_sim") {
            offenders.push(rel);
        }
    }
    assert!(
        offenders.is_empty(),
        "production modules using the simulator: {offenders:?}"
    );
}
