//! The server's top-level modules import each other without a cycle
//! (ARCHITECTURE.md, "Layers"): the account unit (`hub`) does not import
//! `conversations`, `notify`, `limits` or the cluster node's wiring, which
//! meet in `node`. Read from the source, so a new `use crate::…` that closes
//! a cycle fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a source file belongs to (`http/me.rs` → `http`).
fn module_of(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.strip_suffix(".rs").unwrap_or(&first).to_owned()
}

/// Child modules that live in a file of their own but belong to a parent
/// (`#[path]`): their imports are the parent's.
const CHILDREN: &[(&str, &str)] = &[("account", "hub")];

/// `crate::name` mentions outside comments.
fn imports(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src");
            let mut module = module_of(relative);
            if let Some((_, parent)) = CHILDREN.iter().find(|(child, _)| *child == module) {
                module = (*parent).to_owned();
            }
            // The crate root and the binary sit above every module.
            if module == "lib" || module == "main" {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("read a source file");
            let edges = graph.entry(module.clone()).or_default();
            for import in imports(&source) {
                let import = CHILDREN
                    .iter()
                    .find(|(child, _)| *child == import)
                    .map_or(import.clone(), |(_, parent)| (*parent).to_owned());
                if import != module {
                    edges.insert(import);
                }
            }
        }
    }
    graph
}

/// A cycle through `from`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_owned()];
    let mut seen = BTreeSet::new();
    walk(graph, from, from, &mut path, &mut seen).then_some(path)
}

#[test]
fn the_modules_import_each_other_without_a_cycle() {
    let graph = graph();
    for module in [
        "hub",
        "conversations",
        "limits",
        "notify",
        "cluster",
        "node",
    ] {
        assert!(
            graph.contains_key(module),
            "no module {module} in {graph:?}"
        );
    }
    let cycles: Vec<_> = graph.keys().filter_map(|m| cycle(&graph, m)).collect();
    assert!(
        cycles.is_empty(),
        "import cycles: {}",
        cycles
            .iter()
            .map(|c| c.join(" → "))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
        ("d".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(
        cycle(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle(&graph, "d"), None);
    assert_eq!(
        imports("use crate::hub::Hub; // crate::notify\nlet x = crate::sse::json(&y);"),
        BTreeSet::from(["hub".to_owned(), "sse".to_owned()])
    );
}
