//! The library's modules point one way: a test reads every source file under `index/src`, lists
//! which top-level module uses which (through `crate::` paths, doc comments aside), and fails on
//! any cycle, naming it. `cargo test --test layers -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules its code names through `crate::`.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line comments, doc comments and block comments):
/// an intra-doc link is not a dependency.
fn code_only(source: &str) -> String {
    let mut code = String::with_capacity(source.len());
    let mut rest = source;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
        } else if let Some(after) = rest.strip_prefix("r#\"") {
            // A raw string: kept whole, up to its closing quote and hash.
            let end = after.find("\"#").map_or(after.len(), |end| end + 2);
            code.push_str(&rest[..3 + end]);
            rest = &after[end..];
        } else if rest.starts_with("'\"'") || rest.starts_with("'\\\"'") {
            // A quote as a character literal does not open a string.
            let end = if rest.as_bytes()[1] == b'"' { 3 } else { 4 };
            code.push_str(&rest[..end]);
            rest = &rest[end..];
        } else if rest.starts_with('"') {
            // A string literal is kept whole (it may hold "//").
            let mut end = 1;
            let bytes = rest.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(rest.len());
            code.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap();
            code.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    code
}

/// The first path segment of every item a `crate::` path names, braces of `use` trees included
/// (`use crate::{analysis::Analyzer, dict::{A, B}}` names `analysis` and `dict`).
fn crate_modules(code: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `marketlounge_index::…`-like names ending in "crate"
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split at commas outside nested braces.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphabetic() || c == '_') => {
                        item_start = false;
                        let name: String =
                            group[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        modules.insert(name);
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                modules.insert(name);
            }
        }
    }
    modules
}

fn graph() -> Graph {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let top_level: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "lib")
        .collect();
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let module = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = module.trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let used = graph.entry(module.clone()).or_default();
        for name in crate_modules(&code) {
            if name != module && top_level.contains(&name) {
                used.insert(name);
            }
        }
    }
    graph
}

/// A cycle of the graph, if there is one (depth-first search with colours).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        state: &mut BTreeMap<String, bool>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => return None, // finished
            Some(false) => {
                let start = path.iter().position(|n| n == node).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        state.insert(node.to_owned(), false);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node.to_owned(), true);
        None
    }
    let mut state = BTreeMap::new();
    graph.keys().find_map(|node| visit(node, graph, &mut state, &mut Vec::new()))
}

#[test]
fn the_library_modules_form_no_cycle() {
    let graph = graph();
    for (module, used) in &graph {
        let used: Vec<&str> = used.iter().map(String::as_str).collect();
        println!("{module} -> {}", if used.is_empty() { "(nothing)".to_owned() } else { used.join(", ") });
    }
    assert!(graph.len() > 5, "the source tree was not found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("modules import each other in a cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_reader_sees_imports_and_ignores_comments() {
    let code = code_only(
        "use crate::{analysis::Analyzer, dict::{A, B}};\n/// [`crate::search::x`]\nlet s = \"// crate::engine\"; let q = '\"'; crate::segment::open();\nlet j = r#\"{\"a\": \"//\"}\"#; crate::record::x();\n/* crate::score */",
    );
    let found = crate_modules(&code);
    let expected: BTreeSet<String> = ["analysis", "dict", "engine", "record", "segment"].map(String::from).into();
    // "engine" is inside a string literal: kept as code, which errs on the side of a dependency.
    assert_eq!(found, expected);
    let mut cyclic = Graph::new();
    cyclic.entry("a".into()).or_default().insert("b".into());
    cyclic.entry("b".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&cyclic), Some(vec!["a".into(), "b".into(), "a".into()]));
    cyclic.get_mut("b").unwrap().clear();
    assert_eq!(find_cycle(&cyclic), None);
}
