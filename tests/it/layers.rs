//! The crate's layering, checked by reading `src/` as text.
//!
//! An *edge* is a path starting with `crate::`, `super::` or `self::` anywhere in a file's code (not
//! in comments, string literals or the trailing `#[cfg(test)] mod tests`), resolved to the deepest
//! module file that exists. `src/bin/` and `tests.rs` files are not read; `mod x;` is not an edge.
//! Three rules, one test each:
//!
//! 1. `layers_go_downward`: an edge between two top-level modules goes strictly down [`LAYERS`],
//!    and every top-level module is in that table.
//! 2. `no_file_cycles`: the file graph has no cycles.
//! 3. `no_folder_cycles`: in every folder, the children (files and subfolders) have no cycles.
//!
//! A failure lists every offending edge as `file:line: path`; a cycle also lists its members and
//! each `a -> b` step in it. Fix the import (move the item to the layer it belongs to) rather than
//! the table, unless the picture itself changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::Path;

/// The top-level modules (`src/NAME.rs` or `src/NAME/`) by rank, bottom up:
///
/// ```text
///  11  testing
///  10  web
///   9  mail
///   8  setup
///   7  error
///   6  config
///   5  accounts
///   4  token
///   3  engine
///   2  state   store            peers: neither imports the other
///   1  event
///   0  clock   crypto  hashing  leaves: import no other crate module
/// ```
///
/// A module's rank is its index here; it imports only modules of a strictly lower rank.
/// `src/lib.rs`, the crate's face, is exempt both ways.
const LAYERS: &[&[&str]] = &[
    &["clock", "crypto", "hashing"],
    &["event"],
    &["state", "store"],
    &["engine"],
    &["token"],
    &["accounts"],
    &["config"],
    &["error"],
    &["setup"],
    &["mail"],
    &["web"],
    &["testing"],
];

/// The imports on one line of `from` that resolve to `to`, spelled `paths`.
struct Edge {
    from: String,
    to: String,
    line: usize,
    paths: Vec<String>,
}

impl Edge {
    /// `file:line:` and the paths, each in backticks.
    fn at(&self) -> String {
        let paths: Vec<String> = self.paths.iter().map(|p| format!("`{p}`")).collect();
        format!("{}:{}: {}", self.from, self.line, paths.join(", "))
    }
}

/// Every file read (as `src/a/b.rs`) and every edge between two different files.
struct Scan {
    files: Vec<String>,
    edges: Vec<Edge>,
}

fn scan() -> Scan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rs_files(&root.join("src"), "src", &mut files);
    let modules: Modules = files.iter().map(|f| (module_of(f), f.clone())).collect();
    let all: Vec<(String, Vec<Ref>)> = files
        .iter()
        .map(|f| {
            let text = fs::read_to_string(root.join(f)).unwrap();
            (f.clone(), refs(&cut_unit_tests(&text)))
        })
        .collect();
    // What each module re-exports, resolved to the defining file; re-exports of re-exports
    // settle over a few rounds (the crate's chains are short).
    let mut reexports = Reexports::new();
    for _ in 0..4 {
        for (from, refs) in &all {
            let module = module_of(from);
            for r in refs {
                let Some(name) = &r.reexport else { continue };
                if let Some(to) = target(&module, r, &modules, &reexports) {
                    reexports.insert((module.clone(), name.clone()), to);
                }
            }
        }
    }
    let mut edges: Vec<Edge> = Vec::new();
    for (from, refs) in &all {
        let module = module_of(from);
        for r in refs.iter().filter(|r| r.reexport.is_none()) {
            let Some(to) = target(&module, r, &modules, &reexports).filter(|to| to != from) else {
                continue;
            };
            let path = r.path.join("::");
            match edges.last_mut() {
                Some(e) if (&e.from, &e.to, e.line) == (from, &to, r.line) => e.paths.push(path),
                _ => edges.push(Edge {
                    from: from.clone(),
                    to,
                    line: r.line,
                    paths: vec![path],
                }),
            }
        }
    }
    Scan { files, edges }
}

fn rs_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap();
        let rel = format!("{rel}/{name}");
        if path.is_dir() && rel != "src/bin" {
            rs_files(&path, &rel, out);
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(rel);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `src/lib.rs` is the root.
fn module_of(file: &str) -> Vec<String> {
    let stem = file
        .strip_prefix("src/")
        .unwrap()
        .strip_suffix(".rs")
        .unwrap();
    let mut module: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if module.last().is_some_and(|m| m == "mod") || module == ["lib"] {
        module.pop();
    }
    module
}

/// The top-level module a file belongs to; `None` for `src/lib.rs`.
fn top(file: &str) -> Option<&str> {
    let first = file.strip_prefix("src/")?.split('/').next()?;
    Some(first.strip_suffix(".rs").unwrap_or(first)).filter(|m| *m != "lib")
}

/// The text before a line starting `#[cfg(test)]` with `mod tests` on it or on the next line.
fn cut_unit_tests(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let declares_tests = |line: &str| {
        let mut after = line.split("mod tests").skip(1);
        after.any(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    };
    let end = (0..lines.len()).find(|&i| {
        lines[i].starts_with("#[cfg(test)]")
            && (declares_tests(lines[i]) || lines.get(i + 1).is_some_and(|l| declares_tests(l)))
    });
    lines[..end.unwrap_or(lines.len())].join("\n")
}

/// The tokens of `code` with their lines: words, `::` and single punctuation characters. Comments,
/// string literals (also raw and byte strings) and char literals are skipped.
fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let at = |k: usize, ch: char| c.get(k) == Some(&ch);
    let word = |k: usize| {
        c.get(k)
            .is_some_and(|&ch| ch.is_alphanumeric() || ch == '_')
    };
    let (mut toks, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        let start = i;
        let mut keep = false;
        if at(i, '/') && at(i + 1, '/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i, '/') && at(i + 1, '*') {
            let mut depth = 0; // block comments nest
            while i < c.len() {
                if at(i, '/') && at(i + 1, '*') {
                    (depth, i) = (depth + 1, i + 2);
                } else if at(i, '*') && at(i + 1, '/') {
                    (depth, i) = (depth - 1, i + 2);
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if at(i, '"') {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if at(i, 'r')
            && (!word(i.wrapping_sub(1))
                || (matches!(c[i - 1], 'b' | 'c') && !word(i.wrapping_sub(2))))
            && c[i + 1..].iter().find(|&&ch| ch != '#') == Some(&'"')
        {
            // r"..", r#".."#, br"..", cr".."
            let hashes = c[i + 1..].iter().take_while(|&&ch| ch == '#').count();
            i += hashes + 2;
            while i < c.len() && !(at(i, '"') && (1..=hashes).all(|k| at(i + k, '#'))) {
                i += 1;
            }
            i += hashes + 1;
        } else if at(i, '\'') && at(i + 1, '\\') {
            i += 3; // '\n', '\'', '\u{..}'
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if at(i, '\'') && at(i + 2, '\'') {
            i += 3; // 'x'; a lifetime 'a is a token
        } else if word(i) {
            while word(i) {
                i += 1;
            }
            keep = true;
        } else {
            i += if at(i, ':') && at(i + 1, ':') { 2 } else { 1 };
            keep = !c[start].is_whitespace();
        }
        let end = i.min(c.len());
        if keep {
            toks.push((c[start..end].iter().collect(), line));
        }
        line += c[start..end].iter().filter(|&&ch| ch == '\n').count();
    }
    toks
}

/// Module path -> its file.
type Modules = HashMap<Vec<String>, String>;
/// A token and its line.
type Tok = (String, usize);
/// A path (its segments), the line of its last segment, and the name it is imported as when
/// renamed (`as`).
type Leaf = (Vec<String>, usize, Option<String>);

/// A path as written (`crate::a::B`, `super::c`), with the inline `mod` blocks it sits in.
struct Ref {
    line: usize,
    path: Vec<String>,
    scope: Vec<String>,
    /// In a `pub use` (any `pub(..)` too): the module re-exports the item under `name`; that
    /// names it, it does not use it, so it makes no edge (see [`scan`]).
    reexport: Option<String>,
}

/// Every `crate::`/`super::`/`self::` path in `code`, and every path through a child module
/// the file declares (`mod x;` then `x::Y`, which is `self::x::Y`), grouped `use` trees expanded
/// to leaves.
fn refs(code: &str) -> Vec<Ref> {
    let toks = tokens(code);
    let text = |i: usize| toks.get(i).map_or("", |t| t.0.as_str());
    let children: Vec<&str> = (1..toks.len())
        .filter(|&i| text(i - 1) == "mod" && text(i + 1) == ";")
        .map(&text)
        .collect();
    let (mut out, mut scope, mut depth, mut i) = (Vec::new(), Vec::<(String, usize)>::new(), 0, 0);
    // Whether the `use` item being read is a `pub use` (set at `use`, cleared at `;`).
    let mut in_pub_use = false;
    let is_pub_use = |i: usize| {
        text(i) == "use" && (text(i.wrapping_sub(1)) == "pub" || text(i.wrapping_sub(1)) == ")")
    };
    while i < toks.len() {
        if text(i) == "use" {
            in_pub_use = is_pub_use(i);
        } else if text(i) == ";" {
            in_pub_use = false;
        }
        match text(i) {
            "{" => {
                depth += 1;
                if i >= 2 && text(i - 2) == "mod" {
                    scope.push((text(i - 1).to_owned(), depth));
                }
            }
            "}" => {
                if scope.last().is_some_and(|s| s.1 == depth) {
                    scope.pop();
                }
                depth = usize::saturating_sub(depth, 1);
            }
            "crate" | "super" | "self"
                if text(i + 1) == "::" && (i == 0 || text(i - 1) != "::") =>
            {
                let mut leaves = Vec::new();
                i = use_tree(&toks, i, Vec::new(), &mut leaves);
                out.extend(scoped(leaves, &scope, in_pub_use));
                continue;
            }
            child
                if children.contains(&child)
                    && text(i + 1) == "::"
                    && (i == 0 || text(i - 1) != "::") =>
            {
                let mut leaves = Vec::new();
                i = use_tree(&toks, i, vec!["self".to_owned()], &mut leaves);
                out.extend(scoped(leaves, &scope, in_pub_use));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The refs of `leaves` read inside the inline modules `scope`, re-exported when `reexport`.
fn scoped(leaves: Vec<Leaf>, scope: &[(String, usize)], reexport: bool) -> Vec<Ref> {
    let names: Vec<String> = scope.iter().map(|s| s.0.clone()).collect();
    leaves
        .into_iter()
        .map(|(path, line, alias)| Ref {
            reexport: reexport.then(|| alias.or_else(|| path.last().cloned()).unwrap_or_default()),
            line,
            path,
            scope: names.clone(),
        })
        .collect()
}

/// Parses the path or use tree at `toks[i]` below `path`, pushing each leaf with its line; returns
/// the index after it. A path ends before `as`, a turbofish or anything that is not a segment.
fn use_tree(toks: &[Tok], mut i: usize, mut path: Vec<String>, leaves: &mut Vec<Leaf>) -> usize {
    let text = |i: usize| toks.get(i).map_or("", |t| t.0.as_str());
    let segment = |t: &str| t.starts_with(|c: char| c.is_alphabetic() || c == '_');
    loop {
        let line = toks.get(i).map_or(0, |t| t.1);
        match text(i) {
            "{" => {
                i += 1;
                while !matches!(text(i), "}" | "") {
                    let before = i;
                    i = use_tree(toks, i, path.clone(), leaves);
                    if text(i) == "," || i == before {
                        i += 1;
                    }
                }
                return i + 1;
            }
            "*" => {
                leaves.push((path, line, Some("*".to_owned())));
                return i + 1;
            }
            t if segment(t) => {
                if t != "self" || path.is_empty() {
                    path.push(t.to_owned());
                }
                let next = text(i + 2);
                if text(i + 1) == "::" && (segment(next) || next == "{" || next == "*") {
                    i += 2;
                    continue;
                }
                if text(i + 1) == "as" {
                    leaves.push((path, line, Some(text(i + 2).to_owned())));
                    return i + 3;
                }
                leaves.push((path, line, None));
                return i + 1;
            }
            _ => {
                leaves.extend((!path.is_empty()).then_some((path, line, None)));
                return i;
            }
        }
    }
}

/// The absolute module path `r` names, seen from a file of module `module`.
fn absolute(module: &[String], r: &Ref) -> Option<Vec<String>> {
    let (first, rest) = r.path.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        _ => module.iter().chain(&r.scope).cloned().collect(),
    };
    let supers = rest.iter().take_while(|s| *s == "super").count();
    for _ in 0..supers + usize::from(first == "super") {
        base.pop()?;
    }
    base.extend(rest[supers..].iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// Items a module re-exports, by (module path, exported name): the file that defines each, as
/// far as it resolves (a glob re-export is recorded under `*`).
type Reexports = HashMap<(Vec<String>, String), String>;

/// The file of the deepest existing module along the path `r` names, followed through the
/// re-exports of that module when the path goes on to an item it re-exports: `crate::store::
/// SledStore` is `src/store/sled_store.rs`, where it is defined, not `src/store/mod.rs`.
fn target(module: &[String], r: &Ref, modules: &Modules, reexports: &Reexports) -> Option<String> {
    let path = absolute(module, r)?;
    resolve(&path, modules, reexports, 0)
}

fn resolve(path: &[String], modules: &Modules, reexports: &Reexports, hops: u8) -> Option<String> {
    let k = (0..=path.len())
        .rev()
        .find(|&k| modules.contains_key(&path[..k]))?;
    let file = modules.get(&path[..k])?.clone();
    let Some(item) = path.get(k) else {
        return Some(file);
    };
    let key = (path[..k].to_vec(), item.clone());
    match reexports.get(&key) {
        Some(defined) if hops < 8 && *defined != file => Some(defined.clone()),
        _ => Some(file),
    }
}

/// The cycles of the graph whose nodes are `node(file)` and whose arcs are the edges between two
/// different nodes; each described by its members, its arcs and the edges that make them.
fn cycles(edges: &[Edge], node: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut arcs: BTreeMap<(String, String), Vec<&Edge>> = BTreeMap::new();
    for e in edges {
        if let (Some(a), Some(b)) = (node(&e.from), node(&e.to))
            && a != b
        {
            arcs.entry((a, b)).or_default().push(e);
        }
    }
    let names: BTreeSet<&String> = arcs.keys().flat_map(|(a, b)| [a, b]).collect();
    let names: Vec<&String> = names.into_iter().collect();
    let n = names.len();
    let index = |name: &String| names.binary_search(&name).unwrap();
    let mut adj = vec![Vec::new(); n];
    for (a, b) in arcs.keys() {
        adj[index(a)].push(index(b));
    }
    let reach: Vec<Vec<bool>> = (0..n)
        .map(|s| {
            let (mut seen, mut todo) = (vec![false; n], vec![s]);
            while let Some(v) = todo.pop() {
                for &w in &adj[v] {
                    if !std::mem::replace(&mut seen[w], true) {
                        todo.push(w);
                    }
                }
            }
            seen
        })
        .collect();
    let (mut out, mut done) = (Vec::new(), vec![false; n]);
    for v in 0..n {
        if done[v] || !reach[v][v] {
            continue;
        }
        let inside = |name: &String| reach[v][index(name)] && reach[index(name)][v];
        let members: Vec<&str> = names
            .iter()
            .filter(|m| inside(m))
            .map(|m| m.as_str())
            .collect();
        (0..n)
            .filter(|&k| inside(names[k]))
            .for_each(|k| done[k] = true);
        let mut msg = format!("cycle among {}:", members.join(", "));
        for ((a, b), es) in arcs.iter().filter(|((a, b), _)| inside(a) && inside(b)) {
            msg.push_str(&format!("\n    {a} -> {b}"));
            for e in es {
                msg.push_str(&format!("\n        {}", e.at()));
            }
        }
        out.push(msg);
    }
    out
}

fn report(what: &str, bad: &[String]) {
    assert!(
        bad.is_empty(),
        "{} {what}:\n{}\n",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn layers_go_downward() {
    let scan = scan();
    let rank = |m: &str| LAYERS.iter().position(|layer| layer.contains(&m));
    let found: BTreeSet<&str> = scan.files.iter().filter_map(|f| top(f)).collect();
    let mut bad: Vec<String> = (found.into_iter().filter(|m| rank(m).is_none()))
        .map(|m| {
            format!("src/{m}: top-level module `{m}` is not in LAYERS; add it to the layer table")
        })
        .collect();
    for e in &scan.edges {
        let (Some(a), Some(b)) = (top(&e.from), top(&e.to)) else {
            continue;
        };
        let (Some(ra), Some(rb)) = (rank(a), rank(b)) else {
            continue;
        };
        if a != b && rb >= ra {
            let why = if ra == rb { "a peer" } else { "a higher layer" };
            bad.push(format!(
                "{}: {a} (rank {ra}) imports {b} (rank {rb}), {why}",
                e.at()
            ));
        }
    }
    report("layer violations", &bad);
}

#[test]
fn no_file_cycles() {
    report(
        "file cycles",
        &cycles(&scan().edges, |f| Some(f.to_owned())),
    );
}

#[test]
fn no_folder_cycles() {
    let scan = scan();
    let folders: BTreeSet<&str> = scan
        .files
        .iter()
        .flat_map(|f| f.match_indices('/').map(|(k, _)| &f[..k]))
        .collect();
    let mut bad = Vec::new();
    for folder in folders {
        // `x.rs` and `x/` beside it are one child `x`; a subfolder stands for everything below it.
        let child = |f: &str| {
            let first = f
                .strip_prefix(folder)?
                .strip_prefix('/')?
                .split('/')
                .next()?;
            Some(first.strip_suffix(".rs").unwrap_or(first).to_owned())
        };
        bad.extend(
            cycles(&scan.edges, child)
                .iter()
                .map(|c| format!("in {folder}/: {c}")),
        );
    }
    report("folder cycles", &bad);
}

#[test]
fn scan_sees_the_tree() {
    let Scan { files, edges } = scan();
    assert!(
        files.len() > 30 && edges.len() > 50,
        "{} files, {} edges",
        files.len(),
        edges.len()
    );
    assert!(files.iter().any(|f| f == "src/lib.rs"));
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with("src/bin/") || f.ends_with("/tests.rs"))
    );
}

/// `line:path` of every reference in `text`, space-separated.
fn paths(text: &str) -> String {
    let refs = refs(&cut_unit_tests(text));
    refs.iter()
        .map(|r| format!("{}:{}", r.line, r.path.join("::")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn re_exports_name_but_do_not_use() {
    let text = "mod a;\npub use a::{X, Y as Z};\npub(crate) use crate::b::W;\nuse a::V;";
    let reexported: Vec<Option<String>> = refs(text).into_iter().map(|r| r.reexport).collect();
    let names = |n: &[&str]| n.iter().map(|s| Some((*s).to_owned())).collect::<Vec<_>>();
    let mut want = names(&["X", "Z", "W"]);
    want.push(None);
    assert_eq!(reexported, want);
}

#[test]
fn paths_through_declared_child_modules_count() {
    let text = "mod writer;\nuse writer::W;\nfn f() { writer::run(); other::x(); a::writer::y(); }";
    assert_eq!(paths(text), "2:self::writer::W 3:self::writer::run");
}

#[test]
fn parses_grouped_use_trees() {
    let text = "pub(crate) use crate::{a::X, b::{c, d as e, self}, f::*};\nuse super::{g, h::{I}};";
    let want =
        "1:crate::a::X 1:crate::b::c 1:crate::b::d 1:crate::b 1:crate::f 2:super::g 2:super::h::I";
    assert_eq!(paths(text), want);
    let multi = "use crate::token::strategy::{\n    Resolved,\n    resolve,\n};";
    assert_eq!(
        paths(multi),
        "2:crate::token::strategy::Resolved 3:crate::token::strategy::resolve"
    );
}

#[test]
fn finds_paths_inline_in_code() {
    let text = "let b = crate::crypto::random_bytes::<8>();\n\
                let t = crate::clock::Clock::now(&crate::clock::SystemClock);\n\
                fn f(x: super::super::A) -> Self { Self::new() }";
    let want =
        "1:crate::crypto::random_bytes 2:crate::clock::Clock::now 2:crate::clock::SystemClock";
    assert_eq!(paths(text), format!("{want} 3:super::super::A"));
}

#[test]
fn ignores_comments_and_literals() {
    let text = r##"// use crate::a;
/// [`crate::b`]
//! crate::c
/* crate::d /* nested */ crate::e */ let s = "crate::f \" crate::g";
let r = r#"crate::h " crate::i"#; let b = b"crate::j"; let q = '"'; let x: &'static str = "";
fn f<'a>(x: &'a str) -> char { '\'' } use crate::k;
"##;
    assert_eq!(paths(text), "6:crate::k");
}

#[test]
fn cuts_the_trailing_unit_tests() {
    let text = "use crate::a;\n    #[cfg(test)]\n    fn helper() { crate::b::f() }\n\
                #[cfg(test)]\nmod tests {\n    use crate::c;\n}\n";
    assert_eq!(paths(text), "1:crate::a 3:crate::b::f");
    assert_eq!(
        paths("use crate::a;\n#[cfg(test)] pub(crate) mod tests;\nuse crate::b;"),
        "1:crate::a"
    );
}

#[test]
fn resolves_to_the_deepest_module_file() {
    assert_eq!(module_of("src/a/b/mod.rs"), module_of("src/a/b.rs"));
    assert_eq!(module_of("src/a/b.rs"), ["a", "b"]);
    assert!(module_of("src/lib.rs").is_empty());
    let files = [
        "src/lib.rs",
        "src/a/mod.rs",
        "src/a/b.rs",
        "src/a/b/c.rs",
        "src/d.rs",
    ];
    let modules: Modules = files.map(|f| (module_of(f), f.to_owned())).into();
    let reexports = Reexports::from([(
        (vec!["a".to_owned()], "R".to_owned()),
        "src/a/b.rs".to_owned(),
    )]);
    let resolve = |file: &str, text: &str| -> Vec<String> {
        refs(text)
            .iter()
            .map(|r| target(&module_of(file), r, &modules, &reexports).unwrap())
            .collect()
    };
    // A re-exported item resolves to the file that defines it.
    assert_eq!(
        resolve("src/d.rs", "use crate::a::R; use crate::a::S;"),
        ["src/a/b.rs", "src/a/mod.rs"]
    );
    // `super` means `a` from both `a/b.rs` and `a/b/mod.rs`.
    assert_eq!(resolve("src/a/b.rs", "use super::X;"), ["src/a/mod.rs"]);
    assert_eq!(resolve("src/a/b/mod.rs", "use super::X;"), ["src/a/mod.rs"]);
    let supers = "use super::X; use super::super::Y;";
    assert_eq!(
        resolve("src/a/b/c.rs", supers),
        ["src/a/b.rs", "src/a/mod.rs"]
    );
    assert_eq!(resolve("src/a/b.rs", "use self::c::Z;"), ["src/a/b/c.rs"]);
    let deepest = "use crate::a::b::c; use crate::a::b::Q::r; use crate::Engine;";
    assert_eq!(
        resolve("src/d.rs", deepest),
        ["src/a/b/c.rs", "src/a/b.rs", "src/lib.rs"]
    );
    // An inline `mod inner { .. }` is one more level for `super`/`self`.
    let inline = "mod inner {\n    use super::c::Z;\n}\nuse super::d;";
    assert_eq!(
        resolve("src/a/b.rs", inline),
        ["src/a/b/c.rs", "src/a/mod.rs"]
    );
}

#[test]
fn finds_every_cycle_and_only_cycles() {
    let edge = |from: &str, to: &str, line| Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        line,
        paths: vec![format!("crate::{to}")],
    };
    let arcs = [
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("c", "d"),
        ("d", "e"),
        ("e", "d"),
    ];
    let edges: Vec<Edge> = (arcs.iter().enumerate())
        .map(|(k, (a, b))| edge(a, b, k + 1))
        .collect();
    let found = cycles(&edges, |f| Some(f.to_owned()));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("cycle among a, b, c:\n    a -> b\n        a:1: `crate::b`"));
    assert!(!found[0].contains("-> d") && found[1].starts_with("cycle among d, e:"));
}
