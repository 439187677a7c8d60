//! The walls of docs/architecture.md, checked on every test run: which crate may depend
//! on which (read from the manifests, transitively), no module cycles inside a crate,
//! and no function in the scenario engine longer than 150 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every workspace crate: package name -> directory.
fn crates() -> BTreeMap<String, PathBuf> {
    let manifest = read_toml(&root().join("Cargo.toml"));
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list");
    let mut out = BTreeMap::new();
    out.insert("camproof".to_string(), root());
    for m in members {
        let dir = root().join(m.as_str().expect("a member is a path"));
        let name = read_toml(&dir.join("Cargo.toml"))["package"]["name"]
            .as_str()
            .expect("package.name")
            .to_string();
        out.insert(name, dir);
    }
    out
}

fn read_toml(path: &Path) -> toml::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The workspace crates each crate depends on directly: (normal dependencies, every
/// section including dev and build dependencies).
type Graph = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

/// The workspace's dependency graph, from the manifests.
fn graph(crates: &BTreeMap<String, PathBuf>) -> Graph {
    let names = |manifest: &toml::Value, sections: &[&str]| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for section in sections {
            if let Some(table) = manifest.get(*section).and_then(|t| t.as_table()) {
                out.extend(table.keys().filter(|k| crates.contains_key(*k)).cloned());
            }
        }
        out
    };
    crates
        .iter()
        .map(|(name, dir)| {
            let m = read_toml(&dir.join("Cargo.toml"));
            let normal = names(&m, &["dependencies"]);
            let all = names(
                &m,
                &["dependencies", "dev-dependencies", "build-dependencies"],
            );
            (name.clone(), (normal, all))
        })
        .collect()
}

/// Every crate `name` reaches: its own direct dependencies (with dev and build ones if
/// `all`), then their normal dependencies, transitively.
fn reach(graph: &Graph, name: &str, all: bool) -> BTreeSet<String> {
    let first = graph.get(name).map(|(n, a)| if all { a } else { n });
    let mut todo: Vec<String> = first.into_iter().flatten().cloned().collect();
    let mut seen = BTreeSet::new();
    while let Some(c) = todo.pop() {
        if seen.insert(c.clone()) {
            todo.extend(
                graph
                    .get(&c)
                    .into_iter()
                    .flat_map(|(n, _)| n.iter().cloned()),
            );
        }
    }
    seen
}

/// The walls: a crate, whether its dev and build dependencies count, and the crates it
/// must not reach (`*`: any workspace crate but those listed with `!`).
const WALLS: [(&str, bool, &[&str]); 6] = [
    ("camproof-protocol", true, &["*"]),
    ("camproof-results", true, &["*", "!camproof-protocol"]),
    ("camproof-net", false, &["*", "!camproof-protocol"]),
    ("camproof-simulated-devices", true, &["camproof-platform"]),
    (
        "camproof-platform",
        true,
        &[
            "camproof-simulated-devices",
            "camproof-scenarios",
            "camproof-conformance",
            "camproof-reports",
            "camproof-bench",
        ],
    ),
    (
        "camproof-reports",
        false,
        &["camproof-platform", "camproof-scenarios"],
    ),
];

/// Each wall `graph` breaks: the crate and what it reaches that it must not.
fn broken_walls(graph: &Graph) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (name, all, banned) in WALLS {
        let allowed: Vec<&str> = banned.iter().filter_map(|b| b.strip_prefix('!')).collect();
        let bad: Vec<String> = reach(graph, name, all)
            .into_iter()
            .filter(|c| {
                !allowed.contains(&c.as_str())
                    && (banned.contains(&"*") || banned.contains(&c.as_str()))
            })
            .collect();
        if !bad.is_empty() {
            out.push((name.to_string(), bad));
        }
    }
    out
}

#[test]
fn crates_depend_only_downward() {
    let graph = graph(&crates());
    assert_eq!(broken_walls(&graph), Vec::new());
    // Planted: conformance on the platform (which reports then reaches), and the
    // platform on the scenario engine.
    let mut planted = graph.clone();
    if let Some((normal, _)) = planted.get_mut("camproof-conformance") {
        normal.insert("camproof-platform".into());
    }
    if let Some((normal, all)) = planted.get_mut("camproof-platform") {
        normal.insert("camproof-scenarios".into());
        all.insert("camproof-scenarios".into());
    }
    let broken: Vec<String> = broken_walls(&planted).into_iter().map(|(c, _)| c).collect();
    assert_eq!(broken, ["camproof-platform", "camproof-reports"]);
}

/// The modules a source file uses through `prefix` (`crate::`, `super::`): the first
/// name after it, or each first name of a `{...}` group; comments and test modules are
/// left out.
fn uses(text: &str, prefix: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        let names: Vec<String> = match rest.strip_prefix('{') {
            Some(group) => {
                let group = group.split('}').next().unwrap_or_default();
                group.split(',').map(ident).collect()
            }
            None => vec![ident(rest)],
        };
        out.extend(names.into_iter().filter(|n| !n.is_empty()));
    }
    out
}

/// A cycle in `edges`, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == v) {
            let mut c = path[i..].to_vec();
            c.push(v.to_string());
            return Some(c);
        }
        if !done.insert(v.to_string()) {
            return None;
        }
        path.push(v.to_string());
        for w in edges.get(v).into_iter().flatten() {
            if let Some(c) = visit(w, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|v| visit(v, edges, &mut Vec::new(), &mut done))
}

/// The modules of one directory (a crate's `src/` or a directory module), each with the
/// sibling modules it uses through `prefix` (`crate::`, `crate::store::`) or `super::`.
fn module_edges(dir: &Path, prefix: &str, nested: bool) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if ["lib", "main", "mod"].contains(&stem) {
            continue;
        }
        if path.is_dir() {
            let all = walk(&path);
            files.entry(stem.to_string()).or_default().extend(all);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.entry(stem.to_string()).or_default().push(path);
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    files
        .into_iter()
        .map(|(m, paths)| {
            let mut used = BTreeSet::new();
            for p in paths {
                let text = std::fs::read_to_string(&p).expect("source");
                used.extend(uses(&text, prefix));
                if nested && p.parent() == Some(dir) {
                    used.extend(uses(&text, "super::"));
                }
            }
            let used = used
                .into_iter()
                .filter(|u| names.contains(u) && *u != m)
                .collect();
            (m, used)
        })
        .collect()
}

/// Every `.rs` file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn no_module_uses_itself_through_a_circle() {
    for (name, dir) in crates() {
        let src = dir.join("src");
        let edges = module_edges(&src, "crate::", false);
        assert_eq!(cycle(&edges), None, "module cycle in {name}");
        for entry in std::fs::read_dir(&src).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                let module = path
                    .file_name()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                let edges = module_edges(&path, &format!("crate::{module}::"), true);
                assert_eq!(cycle(&edges), None, "module cycle in {name}::{module}");
            }
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.insert("a".into(), ["b".to_string()].into());
    edges.insert("b".into(), ["c".to_string()].into());
    edges.insert("c".into(), BTreeSet::new());
    assert_eq!(cycle(&edges), None);
    edges.insert("c".into(), ["a".to_string()].into());
    assert_eq!(
        cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let text = "use crate::{plan::Plan, spec};\n// crate::world\nuse crate::tap::Tap;\n";
    assert_eq!(
        uses(text, "crate::"),
        ["plan", "spec", "tap"].map(String::from).into()
    );
}

/// The change in brace depth over `line`, outside string and char literals and line
/// comments; `in_str` carries an open string literal over to the next line.
fn depth_change(line: &str, in_str: &mut bool) -> (i64, bool) {
    let (mut delta, mut opened) = (0i64, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if *in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => *in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => *in_str = true,
            '/' if chars.peek() == Some(&'/') => break,
            '\'' => {
                // A char literal ('{', '\'', '\\') is skipped; a lifetime is not one.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            '{' => {
                delta += 1;
                opened = true;
            }
            '}' => delta -= 1,
            _ => {}
        }
    }
    (delta, opened)
}

/// The longest function in `text`: (lines, first line, name). A function runs from
/// its `fn` line to the line where its braces balance.
fn longest_fn(text: &str) -> Option<(usize, usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut best: Option<(usize, usize, String)> = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let t = t.strip_prefix("async ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened, mut in_str) = (0i64, false, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            let (delta, opens) = depth_change(l, &mut in_str);
            depth += delta;
            opened |= opens;
            let declared = !opened
                && l.split("//")
                    .next()
                    .unwrap_or_default()
                    .trim_end()
                    .ends_with(';');
            if (opened && depth <= 0) || declared {
                let len = j - i + 1;
                if best.as_ref().is_none_or(|b| len > b.0) {
                    best = Some((len, i + 1, name.clone()));
                }
                break;
            }
        }
    }
    best
}

#[test]
fn no_function_of_the_scenario_engine_is_longer_than_150_lines() {
    for path in walk(&root().join("scenarios/src")) {
        let text = std::fs::read_to_string(&path).expect("source");
        if let Some((len, line, name)) = longest_fn(&text) {
            assert!(
                len <= 150,
                "{}:{line}: fn {name} is {len} lines",
                path.display()
            );
        }
    }
    let planted = format!("fn long() {{\n{}}}\n", "    let _ = 1;\n".repeat(151));
    assert_eq!(longest_fn(&planted).map(|b| b.0), Some(153));
    let braces_in_strings = "fn f() {\n    let _ = \"{{ {\";\n    let _ = '{';\n}\nfn g() {}\n";
    assert_eq!(longest_fn(braces_in_strings).map(|b| b.0), Some(4));
}
