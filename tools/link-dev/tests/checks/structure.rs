//! The shared crate's shape: no import circle among its files (no module
//! imports one that imports it back, directly or through others), and the
//! domain model (`shared/src/model/`) imports nothing above it: only itself and
//! the leaves `ids` and `time`.
//!
//! A file's imports are the paths it names outside comments and its unit tests:
//! `use` declarations (their brace groups expanded) and paths in code
//! (`crate::…`, `super::…`, a child module's `child::…`), each resolved to the
//! deepest module file it reaches (`super::Store` from `store/attempts.rs` is
//! `store/mod.rs`; `super::item::s` is `store/item.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::{root, rust_files};

/// A module path (`["store", "item"]`; the crate root is empty) and its file.
type Modules = BTreeMap<Vec<String>, String>;

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, string literals' contents and its
/// `#[cfg(test)] mod tests { … }` block.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        // String literals may hold `::` (log text, URLs): blank their contents.
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
                out.push('"');
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// `use a::{b, c::{d, e}};` as `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    fn go(prefix: &str, tree: &str, out: &mut Vec<String>) {
        match tree.find('{') {
            None => out.push(format!("{prefix}{tree}")),
            Some(open) => {
                let head = &tree[..open];
                let inner = &tree[open + 1..tree.len() - 1];
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            go(&format!("{prefix}{head}"), &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                if start < inner.len() {
                    go(&format!("{prefix}{head}"), &inner[start..], out);
                }
            }
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

/// Every path a file's code names: `use` trees expanded, and paths in code.
fn paths_in(code: &str, children: &BTreeSet<String>) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    // `use` declarations (`pub use`, `pub(crate) use` too).
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = after.find(';') else { break };
        let tree = &after[..end];
        if tree.contains('(') || tree.contains('=') {
            continue; // not a declaration
        }
        paths.extend(expand_use(tree));
    }
    // Paths in code.
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let start_ok = i == 0
            || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        if start_ok && (bytes[i].is_ascii_lowercase() || bytes[i] == '_') {
            let mut j = i;
            while j < bytes.len()
                && (bytes[j].is_alphanumeric() || bytes[j] == '_' || bytes[j] == ':')
            {
                j += 1;
            }
            let word: String = bytes[i..j].iter().collect();
            let head = word.split("::").next().unwrap_or("");
            // (A word ending in `::` opens a `use` group, expanded above.)
            if word.contains("::")
                && !word.ends_with("::")
                && (head == "crate" || head == "super" || children.contains(head))
            {
                paths.push(word);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
}

/// The module file a path from `module` reaches.
fn resolve(module: &[String], path: &str, modules: &Modules) -> Option<String> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut at: Vec<String> = match segs.first()? {
        &"crate" => Vec::new(),
        &"self" => module.to_vec(),
        &"super" => {
            let mut m = module.to_vec();
            m.pop();
            m
        }
        child => {
            let mut m = module.to_vec();
            m.push(child.to_string());
            if !modules.contains_key(&m) {
                return None; // an external crate or a local item
            }
            m
        }
    };
    for seg in segs.iter().skip(1) {
        if *seg == "super" {
            at.pop();
            continue;
        }
        let mut next = at.clone();
        next.push(seg.to_string());
        if modules.contains_key(&next) {
            at = next;
        } else {
            break;
        }
    }
    modules.get(&at).cloned()
}

/// Each file of `shared/src` and the files it imports.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("shared/src");
    let files = rust_files(&src);
    let modules: Modules = files
        .iter()
        .map(|f| {
            let name = f.strip_prefix(&src).unwrap().display().to_string();
            (module_of(&src, f), name)
        })
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        if name.ends_with("/tests.rs") {
            continue; // a module's unit tests
        }
        let module = module_of(&src, file);
        let children: BTreeSet<String> = modules
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(&module))
            .map(|m| m.last().unwrap().clone())
            .collect();
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let deps: BTreeSet<String> = paths_in(&code, &children)
            .iter()
            .filter_map(|p| resolve(&module, p, &modules))
            .filter(|d| *d != name)
            .collect();
        graph.insert(name, deps);
    }
    graph
}

/// The strongly connected components with more than one file (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_import_circle_among_the_shared_crates_files() {
    let graph = import_graph();
    assert!(graph.len() > 50, "{} files", graph.len());
    // The checker sees imports: the store's modules import the table.
    assert!(
        graph["store/attempts.rs"].contains("store/table.rs"),
        "{:?}",
        graph["store/attempts.rs"]
    );
    assert!(graph["reconcile/mod.rs"].contains("reconcile/run.rs"));
    let found = circles(&graph);
    let edges: Vec<String> = found
        .iter()
        .flat_map(|c| {
            c.iter().flat_map(|f| {
                graph[f]
                    .iter()
                    .filter(|d| c.contains(d))
                    .map(move |d| format!("{f} -> {d}"))
            })
        })
        .collect();
    assert!(
        found.is_empty(),
        "import circles: {found:#?}, through {edges:#?}"
    );
}

#[test]
fn the_model_imports_nothing_above_it() {
    let graph = import_graph();
    let mut model = 0;
    for (file, deps) in &graph {
        if !file.starts_with("model/") {
            continue;
        }
        model += 1;
        for d in deps {
            assert!(
                d.starts_with("model/") || d == "ids.rs" || d == "time.rs",
                "{file} imports {d}"
            );
        }
    }
    assert!(model >= 4, "{model} model files");
    for leaf in ["ids.rs", "time.rs"] {
        assert!(graph[leaf].is_empty(), "{leaf} imports {:?}", graph[leaf]);
    }
}

#[test]
fn the_checker_finds_a_circle_and_expands_use_trees() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a.rs", &["b.rs"][..]),
        ("b.rs", &["c.rs"]),
        ("c.rs", &["a.rs"]),
        ("d.rs", &["a.rs"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
    .collect();
    assert_eq!(circles(&g), vec![vec!["a.rs", "b.rs", "c.rs"]]);
    assert_eq!(
        expand_use("super::{error::StoreError, item::{s, n}}"),
        vec![
            "super::error::StoreError",
            "super::item::s",
            "super::item::n"
        ]
    );
}
