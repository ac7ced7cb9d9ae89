//! The module graph has no cycles, in `src/` or in `wal/src/`.
//!
//! Dependencies point one way (`main` -> subcommands -> domain modules -> `wal`), so that a
//! module can be read, tested and changed with only what lies below it in mind. This test reads
//! the source of both crates, finds every path a module names (`use` trees, `crate::…`,
//! `super::…`, `self::…`, a child module's name, a name a `use` bound to a module), resolves it
//! to the deepest module it reaches, and fails with the cycle when the graph has one.
//!
//! Declaring a child (`mod x;`) is not an import; code under `#[cfg(test)]` is left out, since
//! tests sit beside the code they test. A parent that only re-exports its children is fine; a
//! child that reaches back through `super::` into a parent that also calls it is a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

/// One crate's modules: each module's path, the file that holds it, and its direct children.
struct Crate {
    files: BTreeMap<ModPath, PathBuf>,
}

fn load_crate(root_file: &Path) -> Crate {
    let mut files = BTreeMap::new();
    let mut todo = vec![(Vec::new(), root_file.to_path_buf())];
    while let Some((path, file)) = todo.pop() {
        let source = std::fs::read_to_string(&file).unwrap();
        let code = strip(&source);
        let dir = module_dir(&path, &file);
        for (child, _) in child_modules(&code) {
            let a = dir.join(format!("{child}.rs"));
            let b = dir.join(&child).join("mod.rs");
            let child_file = if a.exists() { a } else { b };
            assert!(
                child_file.exists(),
                "module {child} of {} has no file",
                file.display()
            );
            let mut child_path = path.clone();
            child_path.push(child);
            todo.push((child_path, child_file));
        }
        files.insert(path, file);
    }
    Crate { files }
}

/// Where the files of `path`'s children live.
fn module_dir(path: &ModPath, file: &Path) -> PathBuf {
    let parent = file.parent().unwrap().to_path_buf();
    let name = file.file_stem().unwrap().to_str().unwrap();
    if path.is_empty() || name == "mod" {
        parent
    } else {
        parent.join(name)
    }
}

/// The source with comments, string and char literals, and `#[cfg(test)]` items removed, so
/// that what remains is code that builds outside tests.
fn strip(source: &str) -> String {
    let b = source.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#"))
            && !ident_byte_before(b, i)
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while j < b.len() && b[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if j < b.len() && b[j] == b'"' {
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                j += 1;
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            } else {
                out.push(b[i] as char);
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): skip only the former.
            let rest = &b[i + 1..];
            let len = if rest.first() == Some(&b'\\') {
                rest.iter().position(|&c| c == b'\'').map(|p| p + 1)
            } else if rest.get(1) == Some(&b'\'') {
                Some(2)
            } else {
                let ch = source[i + 1..].chars().next();
                ch.filter(|c| !c.is_ascii()).and_then(|c| {
                    (rest.get(c.len_utf8()) == Some(&b'\'')).then(|| c.len_utf8() + 1)
                })
            };
            match len {
                Some(n) => {
                    i += 1 + n;
                    out.push_str("' '");
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = source[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    remove_test_items(&out)
}

fn ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Drops every item under `#[cfg(test)]`: up to its matching `}` or to its `;`.
fn remove_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let mut depth = 0usize;
        let mut end = item.len();
        for (k, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(code[i..end].to_string());
        } else if c == ':' && chars.peek().map(|p| p.1) == Some(':') {
            chars.next();
            out.push("::".into());
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

/// `mod x;` declarations (not inline `mod x { … }` blocks), with the token index after them.
fn child_modules(code: &str) -> Vec<(String, usize)> {
    let t = tokens(code);
    (0..t.len().saturating_sub(2))
        .filter(|&k| t[k] == "mod" && t[k + 2] == ";")
        .map(|k| (t[k + 1].clone(), k + 3))
        .collect()
}

/// Every path the code names, as written: from `use` trees (expanded) and from `a::b::c`
/// sequences elsewhere.
fn named_paths(t: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < t.len() {
        if t[k] == "use" {
            let end = (k..t.len()).find(|&j| t[j] == ";").unwrap_or(t.len());
            expand_use(&t[k + 1..end], Vec::new(), &mut out);
            k = end + 1;
            continue;
        }
        if is_ident(&t[k])
            && t.get(k + 1).is_some_and(|s| s == "::")
            && (k == 0 || t[k - 1] != "::")
        {
            let mut path = vec![t[k].clone()];
            let mut j = k + 1;
            while j + 1 < t.len() && t[j] == "::" && is_ident(&t[j + 1]) {
                path.push(t[j + 1].clone());
                j += 2;
            }
            out.push(path);
            k = j;
            continue;
        }
        k += 1;
    }
    out
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn expand_use(t: &[String], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut k = 0;
    while k < t.len() {
        match t[k].as_str() {
            "::" | "pub" => k += 1,
            "{" => {
                let mut depth = 0;
                let mut start = k + 1;
                for j in k..t.len() {
                    match t[j].as_str() {
                        "{" => depth += 1,
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                expand_use(&t[start..j], path.clone(), out);
                                return;
                            }
                        }
                        "," if depth == 1 => {
                            expand_use(&t[start..j], path.clone(), out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            "as" => break,
            s if is_ident(s) => {
                path.push(s.to_string());
                k += 1;
            }
            _ => k += 1,
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The module `path`, named from module `from`, reaches: the deepest known module along it.
fn resolve(
    krate: &Crate,
    from: &ModPath,
    path: &[String],
    aliases: &BTreeMap<String, ModPath>,
) -> Option<ModPath> {
    let mut at: ModPath;
    let mut rest = path;
    match rest.first()?.as_str() {
        "crate" => {
            at = Vec::new();
            rest = &rest[1..];
        }
        "self" => {
            at = from.clone();
            rest = &rest[1..];
        }
        "super" => {
            at = from.clone();
            while rest.first().is_some_and(|s| s == "super") {
                at.pop()?;
                rest = &rest[1..];
            }
        }
        first => {
            let mut child = from.clone();
            child.push(first.to_string());
            at = if krate.files.contains_key(&child) {
                child
            } else {
                aliases.get(first)?.clone()
            };
            rest = &rest[1..];
        }
    }
    for seg in rest {
        let mut next = at.clone();
        next.push(seg.clone());
        if krate.files.contains_key(&next) {
            at = next;
        } else {
            break;
        }
    }
    Some(at)
}

fn edges(krate: &Crate) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut graph = BTreeMap::new();
    for (module, file) in &krate.files {
        let code = strip(&std::fs::read_to_string(file).unwrap());
        let t = tokens(&code);
        let paths = named_paths(&t);
        // Names a `use` binds to a whole module (`use crate::crash;`, `use super::model as m;`).
        let mut aliases = BTreeMap::new();
        for p in &paths {
            if let Some(m) = resolve(krate, module, p, &BTreeMap::new()) {
                if m.last() == p.last() && !m.is_empty() {
                    aliases.insert(p.last().unwrap().clone(), m);
                }
            }
        }
        let mut out = BTreeSet::new();
        for p in &paths {
            if let Some(m) = resolve(krate, module, p, &aliases) {
                if &m != module {
                    out.insert(m);
                }
            }
        }
        graph.insert(module.clone(), out);
    }
    graph
}

fn find_cycle(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Option<Vec<ModPath>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&ModPath, Mark> = graph.keys().map(|k| (k, Mark::New)).collect();
    fn visit<'a>(
        n: &'a ModPath,
        graph: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        mark: &mut BTreeMap<&'a ModPath, Mark>,
        stack: &mut Vec<&'a ModPath>,
    ) -> Option<Vec<ModPath>> {
        mark.insert(n, Mark::Open);
        stack.push(n);
        for m in graph.get(n).into_iter().flatten() {
            match mark.get(m).copied().unwrap_or(Mark::Done) {
                Mark::Open => {
                    let at = stack.iter().position(|s| *s == m).unwrap();
                    let mut cycle: Vec<ModPath> =
                        stack[at..].iter().map(|s| (*s).clone()).collect();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(m, graph, mark, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        mark.insert(n, Mark::Done);
        None
    }
    let keys: Vec<&ModPath> = graph.keys().collect();
    for k in keys {
        if mark[k] == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(k, graph, &mut mark, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn all_cycles(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    // Report every cycle once, by breaking the first edge of each found and searching again.
    let mut g = graph.clone();
    let mut found = Vec::new();
    while let Some(c) = find_cycle(&g) {
        g.get_mut(&c[c.len() - 2]).unwrap().remove(&c[c.len() - 1]);
        found.push(c);
    }
    found
}

fn show(krate_name: &str, cycle: &[ModPath]) -> String {
    let names: Vec<String> = cycle
        .iter()
        .map(|m| {
            if m.is_empty() {
                krate_name.to_string()
            } else {
                m.join("::")
            }
        })
        .collect();
    names.join(" -> ")
}

fn check(krate_name: &str, root: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(root);
    let krate = load_crate(&root);
    let graph = edges(&krate);
    if std::env::var_os("PM_SHOW_IMPORTS").is_some() {
        for (m, to) in &graph {
            let to: Vec<String> = to.iter().map(|t| t.join("::")).collect();
            eprintln!("{} -> {}", m.join("::"), to.join(", "));
        }
    }
    let cycles = all_cycles(&graph);
    let text: Vec<String> = cycles.iter().map(|c| show(krate_name, c)).collect();
    assert!(
        cycles.is_empty(),
        "import cycles in {krate_name}:\n  {}",
        text.join("\n  ")
    );
}

#[test]
fn the_binary_crate_has_no_import_cycle() {
    check("portability-matrix", "src/main.rs");
}

#[test]
fn the_wal_crate_has_no_import_cycle() {
    check("wal", "wal/src/lib.rs");
}

#[test]
fn the_checker_finds_a_cycle_through_super_and_a_child() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(
        src.join("main.rs"),
        "mod a;\nmod b;\nfn main() { b::go(); }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "mod x;\npub struct T;\npub fn f() { x::g() }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/x.rs"),
        "// crate::b::nothing in a comment\nuse super::T;\npub fn g() {}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("b.rs"),
        "#[cfg(test)]\nmod tests { use crate::a::T; }\npub fn go() { let _ = \"crate::a\"; }\n",
    )
    .unwrap();
    let krate = load_crate(&src.join("main.rs"));
    let graph = edges(&krate);
    let cycles: Vec<String> = all_cycles(&graph).iter().map(|c| show("t", c)).collect();
    assert_eq!(cycles, vec!["a -> a::x -> a".to_string()]);
    // Comments, strings and test-only code import nothing.
    assert!(
        graph[&vec!["b".to_string()]].is_empty(),
        "{:?}",
        graph[&vec!["b".to_string()]]
    );
}
