//! ARCHITECTURE.md's structural promises, checked on the source: no import
//! circles between the modules of either crate, no module of snapkeep uses
//! a higher layer than its own (the list in ARCHITECTURE.md's "Layers (who
//! may use whom)", read from the file), and no production module of
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

/// The file's production code with line numbers kept: comments blanked (a
/// doc naming a module is not a use of it) and every inline
/// `#[cfg(test)] mod name { … }` block blanked to its matching brace, so
/// production code after such a block is still read.
fn production_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable source");
    strip_tests(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Which bytes of `text` are code: comments blanked to spaces (newlines
/// kept), and per byte whether it lies outside string and char literals.
fn lex(text: &str) -> (Vec<u8>, Vec<bool>) {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut code = vec![true; b.len()];
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let prev_ident = i > 0 && ident(b[i - 1]);
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if !prev_ident && (b[i] == b'r' || b[i..].starts_with(b"br")) && {
            let r = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[r..].iter().take_while(|&&c| c == b'#').count();
            b.get(r + hashes) == Some(&b'"')
        } {
            // A raw string: r"…", r#"…"#, br"…".
            let r = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[r..].iter().take_while(|&&c| c == b'#').count();
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = r + hashes + 1;
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |n| body + n + close.len());
            code[i..end].iter_mut().for_each(|c| *c = false);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            code[i..end].iter_mut().for_each(|c| *c = false);
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('{', '\'', '\u{7b}') or a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 3.min(b.len() - i)..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|n| i + 3 + n + 1)
            } else {
                let len = text[i + 1..].chars().next().map_or(0, char::len_utf8);
                (len > 0 && b.get(i + 1 + len) == Some(&b'\'')).then_some(i + len + 2)
            };
            match end {
                Some(end) => {
                    code[i..end].iter_mut().for_each(|c| *c = false);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    (out, code)
}

/// `text` without comments and inline test modules, newlines kept.
fn strip_tests(text: &str) -> Result<String, String> {
    let (mut out, code) = lex(text);
    let marker = b"#[cfg(test)]";
    let mut from = 0;
    while let Some(at) = out[from..]
        .windows(marker.len())
        .position(|w| w == marker)
        .map(|n| from + n)
    {
        from = at + marker.len();
        if !code[at] {
            continue;
        }
        // `mod name {` after the attribute, other attributes and a
        // visibility (a `mod name;` is a file of its own).
        let mut rest = std::str::from_utf8(&out[from..])
            .expect("utf-8")
            .trim_start();
        while rest.starts_with("#[") {
            let mut depth = 0usize;
            let end = rest.find(|c: char| {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ => return false,
                }
                depth == 0
            });
            rest = end.map_or("", |e| rest[e + 1..].trim_start());
        }
        if let Some(r) = rest.strip_prefix("pub") {
            let r = r.trim_start();
            rest = match r.strip_prefix('(') {
                Some(r) => r.split_once(')').map_or("", |(_, r)| r),
                None => r,
            };
        }
        let Some(rest) = rest.trim_start().strip_prefix("mod") else {
            continue;
        };
        let name_len = rest
            .trim_start()
            .find(|c: char| !(c.is_alphanumeric() || c == '_'));
        let after_name = rest.trim_start();
        let Some(after_name) = name_len.map(|n| after_name[n..].trim_start()) else {
            continue;
        };
        if !after_name.starts_with('{') {
            continue;
        }
        let open = out.len() - after_name.len();
        let mut depth = 0usize;
        let mut close = None;
        for (j, &c) in out.iter().enumerate().skip(open) {
            if !code[j] {
                continue;
            }
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close = close.ok_or_else(|| {
            let line = text[..at].lines().count() + 1;
            format!("the test module at line {line} has no closing brace")
        })?;
        for c in &mut out[at..=close] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = close + 1;
    }
    Ok(String::from_utf8(out).expect("only ASCII was blanked"))
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

/// One path into the crate in a module's code.
#[derive(Debug, Clone, PartialEq)]
struct Use {
    /// The module path used, from the crate root (`crate::api::Client` →
    /// [api, Client]; `super::` resolved).
    path: Vec<String>,
    /// 1-based line in the file.
    line: usize,
}

/// Where the code of module `module` (its path from the crate root) uses
/// the crate: `crate::a::b`, `crate::{a, b::c}`, and `super::` (resolved
/// against `module`).
fn uses(text: &str, module: &[String]) -> Vec<Use> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ident_path = |rest: &str| -> Vec<String> {
        let mut path = Vec::new();
        let mut rest = rest;
        loop {
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            path.push(rest[..end].to_owned());
            match rest[end..].strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        path
    };
    let mut found = Vec::new();
    for (prefix, base) in [
        ("crate::", &[][..]),
        ("super::", &module[..module.len().saturating_sub(1)]),
    ] {
        for (at, _) in text.match_indices(prefix) {
            // `crate::` itself, not the tail of `snapkeep_crate::`; a
            // `super::` after `super::` was resolved with the first.
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let line = text[..at].matches('\n').count() + 1;
            let mut base = base.to_vec();
            let mut rest = &text[at + prefix.len()..];
            while let Some(r) = rest.strip_prefix("super::").filter(|_| prefix == "super::") {
                base.pop();
                rest = r;
            }
            let tails = match rest.strip_prefix('{') {
                // A group: each item's path, up to the group's end.
                Some(group) => {
                    let mut depth = 0usize;
                    let end = group
                        .find(|c: char| {
                            match c {
                                '{' => depth += 1,
                                '}' if depth == 0 => return true,
                                '}' => depth -= 1,
                                _ => {}
                            }
                            false
                        })
                        .unwrap_or(group.len());
                    let mut items = Vec::new();
                    let mut depth = 0usize;
                    let mut start = 0;
                    for (j, c) in group[..end].char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                items.push(group[start..j].trim());
                                start = j + 1;
                            }
                            _ => {}
                        }
                    }
                    items.push(group[start..end].trim());
                    items.into_iter().map(ident_path).collect()
                }
                None => vec![ident_path(rest)],
            };
            for tail in tails.into_iter().filter(|t| !t.is_empty()) {
                if tail[0] == "self" {
                    continue;
                }
                let mut path = base.clone();
                path.extend(tail);
                found.push(Use { path, line });
            }
        }
    }
    found.sort_by_key(|u| u.line);
    found
}

/// A production file of the crate under `root`: its module path and text.
fn production_files(root: &Path) -> Vec<(PathBuf, Vec<String>, String)> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|f| !test_only(f))
        .map(|f| {
            let module = module_path(root, &f);
            let text = production_text(&f);
            (f, module, text)
        })
        .collect()
}

/// Which top-level module uses which, in the production code under `root`.
fn module_graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, module, text) in production_files(root) {
        let Some(top) = module.first() else { continue };
        for used in uses(&text, &module) {
            let Some(target) = used.path.first() else {
                continue;
            };
            if target != top {
                graph.entry(top.clone()).or_default().insert(target.clone());
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

/// The layers of ARCHITECTURE.md's "Layers (who may use whom)": each
/// numbered item's modules, as the names in backticks outside parentheses
/// (`commands/*` → `commands`; `daemon/retry` is a submodule listed itself),
/// with the item's number.
fn layer_table(markdown: &str) -> Result<BTreeMap<String, usize>, String> {
    let heading = "## Layers (who may use whom)";
    let section = markdown
        .split_once(heading)
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .ok_or_else(|| format!("no section {heading:?}"))?;
    let mut items: Vec<(usize, String)> = Vec::new();
    for line in section.lines() {
        let number = line
            .split_once(". ")
            .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)));
        match number {
            Some((n, rest)) if !line.starts_with(' ') => items.push((n, rest.to_owned())),
            _ if line.starts_with("   ") && !items.is_empty() => {
                let last = items.last_mut().expect("an item");
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            _ => {}
        }
    }
    if items.is_empty() {
        return Err(format!("no numbered layers under {heading:?}"));
    }
    let mut table = BTreeMap::new();
    for (n, text) in items {
        let mut depth = 0usize;
        let mut in_name = None;
        for (j, c) in text.char_indices() {
            match (c, in_name) {
                ('`', Some(start)) => {
                    in_name = None;
                    if depth == 0 {
                        let name = text[start..j]
                            .trim_end_matches("/*")
                            .trim_end_matches(".rs")
                            .replace("::", "/");
                        if let Some(was) = table.insert(name.clone(), n) {
                            return Err(format!("`{name}` is in layers {was} and {n}"));
                        }
                    }
                }
                ('`', None) => in_name = Some(j + 1),
                ('(', None) => depth += 1,
                (')', None) => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(table)
}

/// The entry of `table` a module path belongs to: the longest listed
/// prefix (a submodule belongs to its top module unless listed itself).
fn table_entry(table: &BTreeMap<String, usize>, path: &[String]) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("/"))
        .find(|name| table.contains_key(name))
}

/// Every use of a higher layer in `files` (path shown, module path, text),
/// and every module the table lacks.
fn layer_violations(
    table: &BTreeMap<String, usize>,
    files: &[(String, Vec<String>, String)],
) -> Vec<String> {
    let mut found = Vec::new();
    for (shown, module, text) in files {
        if module.is_empty() {
            continue; // the crate root
        }
        let Some(from) = table_entry(table, module) else {
            found.push(format!(
                "{} ({shown}) is in no layer: add it to ARCHITECTURE.md's layers",
                module.join("/")
            ));
            continue;
        };
        let from_layer = table[&from];
        for used in uses(text, module) {
            // A path that names no module is the crate root's own item.
            let Some(to) = table_entry(table, &used.path) else {
                continue;
            };
            let to_layer = table[&to];
            if to_layer > from_layer {
                found.push(format!(
                    "{from} (layer {from_layer}) uses {to} (layer {to_layer}): {shown}:{}",
                    used.line
                ));
            }
        }
    }
    found
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn snapkeep_modules_form_no_import_circle() {
    let graph = module_graph(&repo().join("src"));
    assert!(graph.contains_key("job"), "the graph saw the sources");
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

#[test]
fn no_module_uses_a_higher_layer() {
    let markdown =
        std::fs::read_to_string(repo().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let table = layer_table(&markdown).unwrap_or_else(|e| panic!("ARCHITECTURE.md: {e}"));
    let root = repo().join("src");
    let mut problems: Vec<String> = table
        .keys()
        .filter(|name| {
            let file = root.join(format!("{name}.rs"));
            !file.exists() && !root.join(name).is_dir()
        })
        .map(|name| format!("ARCHITECTURE.md's layers name `{name}`, which is no file in src/"))
        .collect();
    let files: Vec<_> = production_files(&root)
        .into_iter()
        .map(|(file, module, text)| {
            let shown = file.strip_prefix(repo()).expect("under the repo");
            (shown.to_string_lossy().replace('\\', "/"), module, text)
        })
        .collect();
    assert!(
        files.iter().any(|(f, ..)| f == "src/job.rs"),
        "the check saw the sources"
    );
    problems.extend(layer_violations(&table, &files));
    assert!(problems.is_empty(), "layers:\n{}", problems.join("\n"));
}

#[test]
fn the_layer_check_finds_a_use_of_a_higher_layer() {
    let markdown = "# A\n\n## Layers (who may use whom)\n\nFrom the bottom:\n\n\
        1. `clock` (used by `app`), `retry`\n\
        2. `api`, then `daemon/timetable` (pure)\n\
        3. `daemon`, `telemetry`;\n   `cli` (the `app` parser)\n\n## Names\n\n1. `app`\n";
    let table = layer_table(markdown).expect("a table");
    let expected: BTreeMap<String, usize> = [
        ("clock", 1),
        ("retry", 1),
        ("api", 2),
        ("daemon/timetable", 2),
        ("daemon", 3),
        ("telemetry", 3),
        ("cli", 3),
    ]
    .into_iter()
    .map(|(n, l)| (n.to_owned(), l))
    .collect();
    assert_eq!(table, expected);
    let file = |path: &str, text: &str| {
        let module: Vec<String> = path
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        (
            format!("src/{path}"),
            module,
            strip_tests(text).expect("braces match"),
        )
    };
    let files = [
        // Allowed: its own layer, a lower one, its own submodule.
        file(
            "daemon.rs",
            "use crate::api::Client;\nuse crate::{clock, telemetry::x};\nuse self::timetable::T;",
        ),
        file(
            "api.rs",
            "// uses crate::daemon\n/// [`crate::cli`]\nfn f() -> crate::clock::Now {}",
        ),
        // Not allowed, also after a test module and in a group.
        file(
            "clock.rs",
            "#[cfg(test)]\nmod tests {\n    const C: char = '}';\n    use crate::cli;\n}\nuse crate::{retry, api::Client};",
        ),
        // A listed submodule is held to its own layer; `super::` is its parent.
        file(
            "daemon/timetable.rs",
            "use super::Fleet;\nuse crate::daemon::timetable::x;",
        ),
        file("status.rs", "use crate::clock;"),
    ];
    assert_eq!(
        layer_violations(&table, &files),
        [
            "clock (layer 1) uses api (layer 2): src/clock.rs:6",
            "daemon/timetable (layer 2) uses daemon (layer 3): src/daemon/timetable.rs:1",
            "status (src/status.rs) is in no layer: add it to ARCHITECTURE.md's layers",
        ]
    );
}

#[test]
fn production_text_blanks_comments_and_test_modules_only() {
    let text = "use crate::a; // crate::b\n/* crate::c */\n#[cfg(test)]\nmod tests {\n    \
        fn f() { let s = \"}}\"; let r = r#\"}\"#; let c = '\\''; }\n    fn g<'a>(x: &'a str) {}\n}\n\
        #[cfg(test)]\nmod other;\nuse crate::d;\n\
        #[cfg(test)]\n#[allow(dead_code)]\npub(crate) mod more {\n    use crate::e;\n}\n";
    let stripped = strip_tests(text).expect("braces match");
    assert_eq!(stripped.lines().count(), text.lines().count(), "lines kept");
    let found: Vec<(String, usize)> = uses(&stripped, &["m".to_owned()])
        .into_iter()
        .map(|u| (u.path.join("::"), u.line))
        .collect();
    assert_eq!(found, [("a".to_owned(), 1), ("d".to_owned(), 10)]);
    assert!(strip_tests("#[cfg(test)]\nmod tests {\n").is_err());
}
