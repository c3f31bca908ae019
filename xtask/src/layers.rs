//! The kernel's layer rule, checked on its source: lower layers never depend on higher ones.
//!
//! [`LAYERS`] places every kernel module in a layer; it mirrors the layer map of
//! `kernel/src/lib.rs` (and [`lib_table_problems`] checks that the two agree). Every
//! `crate::…` path of a kernel file, `use` or inline, grouped (`crate::{a, b::c}`) or not,
//! names a module; a path into a higher layer than the file's own is an error reported with
//! `file:line` and both layers. Same-layer and downward paths are allowed. Items under
//! `#[cfg(test)]` (the `mod tests` at the bottom of each file, and shared test helpers such
//! as `targets::testutil`) are skipped, as are comments and string literals. A file or path
//! in a module the table does not place is an error too, so a new module must be given a
//! layer here and in `lib.rs`.

use std::path::Path;

/// One placed module.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Placement {
    /// Module path below the crate root, `::`-separated (`samplers::diffusion`).
    pub module: &'static str,
    /// Its layer, 0 (lowest) to 4.
    pub layer: u8,
    /// Whether `kernel/src/lib.rs`'s layer map lists it (private modules, re-exports and
    /// the `samplers` root are placed here only).
    pub in_lib_map: bool,
}

const fn place(module: &'static str, layer: u8, in_lib_map: bool) -> Placement {
    Placement {
        module,
        layer,
        in_lib_map,
    }
}

/// Every kernel module's layer: the layer map of `kernel/src/lib.rs`, plus the private
/// `arena`, the root re-export `Error` and the `samplers` root module (whose children each
/// need their own row).
pub(crate) const LAYERS: &[Placement] = &[
    place("error", 0, true),
    place("math", 0, true),
    place("rng", 0, true),
    place("checksum", 0, true),
    place("arena", 0, false),
    place("Error", 0, false),
    place("nn", 1, true),
    place("optim", 1, true),
    place("targets", 1, true),
    place("metrics", 1, true),
    place("smc", 2, true),
    place("buffer", 2, true),
    place("samplers", 3, false),
    place("samplers::diffusion", 3, true),
    place("samplers::gflownet", 3, true),
    place("samplers::vgs", 3, true),
    place("teacher", 4, true),
    place("ebm", 4, true),
];

/// The placement of the module path `segs`: the longest placed prefix. When that prefix has
/// placed children (as `samplers` has), the next segment must be one of them, except that
/// with `last_may_be_item` a final segment is taken as an item of the prefix module
/// (`crate::samplers::Foo`).
fn placement_of(
    segs: &[&str],
    table: &[Placement],
    last_may_be_item: bool,
) -> Result<Placement, String> {
    for k in (1..=segs.len()).rev() {
        let key = segs[..k].join("::");
        let Some(p) = table.iter().find(|p| p.module == key) else {
            continue;
        };
        let child_prefix = format!("{key}::");
        let split = table.iter().any(|q| q.module.starts_with(&child_prefix));
        let item = last_may_be_item && k + 1 == segs.len();
        if k < segs.len() && split && !item {
            return Err(format!(
                "module `{key}::{}` has no layer in xtask/src/layers.rs",
                segs[k]
            ));
        }
        return Ok(*p);
    }
    Err(format!(
        "module `{}` has no layer in xtask/src/layers.rs",
        segs.first().copied().unwrap_or("")
    ))
}

/// The module path of a file below `kernel/src` (`smc/annealed.rs` → `smc::annealed`,
/// `smc/mod.rs` → `smc`); `None` for the crate root `lib.rs`, which may name every module.
pub(crate) fn module_of(rel: &Path) -> Option<String> {
    let mut segs: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = segs.pop()?;
    let stem = last.strip_suffix(".rs").unwrap_or(&last);
    if segs.is_empty() && (stem == "lib" || stem == "main") {
        return None;
    }
    if stem != "mod" {
        segs.push(stem.to_string());
    }
    Some(segs.join("::"))
}

/// `text` with comments and the contents of string and character literals replaced by
/// spaces (newlines kept, so byte offsets and line numbers stay valid).
fn blank_non_code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if rest.starts_with(b"r\"") || rest.starts_with(b"r#") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes)).into_bytes();
            let start = i + 2 + hashes;
            let end = b[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| start + p);
            blank(&mut out, start, end);
            i = (end + close.len()).min(b.len());
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(b.len());
            blank(&mut out, i + 1, end);
            i = end + 1;
        } else if rest[0] == b'\'' {
            // A character literal ('x', '\n', '\u{..}'), or else a lifetime ('a).
            let end = if rest.get(1) == Some(&b'\\') {
                rest.get(3..)
                    .and_then(|r| r.iter().position(|&c| c == b'\''))
                    .map(|p| i + 3 + p)
            } else {
                let ch = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(i + 1 + ch)
            };
            match end {
                Some(e) => {
                    blank(&mut out, i + 1, e);
                    i = e + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Blanks every item under a `#[cfg(test)]` line (rustfmt layout: the item's closing brace
/// is the first later line with the attribute's indentation and `}`). Returns an error line
/// number when such an item never closes.
fn blank_test_items(code: &str) -> Result<String, usize> {
    let lines: Vec<&str> = code.split('\n').collect();
    let mut keep = vec![true; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "#[cfg(test)]" {
            i += 1;
            continue;
        }
        let indent = &lines[i][..lines[i].len() - lines[i].trim_start().len()];
        let mut j = i + 1;
        while j < lines.len() && lines[j].trim_start().starts_with("#[") {
            j += 1;
        }
        let end = if lines.get(j).is_some_and(|l| l.trim_end().ends_with(';')) {
            j
        } else {
            (j..lines.len())
                .find(|&k| lines[k].trim_end() == format!("{indent}}}"))
                .ok_or(i + 1)?
        };
        keep[i..=end].iter_mut().for_each(|k| *k = false);
        i = end + 1;
    }
    Ok(lines
        .iter()
        .zip(&keep)
        .map(|(l, &k)| if k { *l } else { "" })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Skips whitespace from `i`.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Parses the path continuing at `i` (just after a `::`) with the segments `prefix`;
/// pushes every full path it names with the byte offset where it starts.
fn parse_tree(b: &[u8], i: usize, prefix: &[String], out: &mut Vec<(usize, Vec<String>)>) {
    let mut segs = prefix.to_vec();
    let mut i = skip_ws(b, i);
    let entry = i;
    loop {
        if b.get(i) == Some(&b'{') {
            // A group: comma-separated subtrees.
            let mut j = i + 1;
            loop {
                j = skip_ws(b, j);
                match b.get(j) {
                    None | Some(b'}') => return,
                    Some(b',') => j += 1,
                    _ => {
                        parse_tree(b, j, &segs, out);
                        // Move past this subtree: to the next top-level comma or the close.
                        let mut depth = 0usize;
                        while let Some(&c) = b.get(j) {
                            match c {
                                b'{' => depth += 1,
                                b'}' if depth == 0 => break,
                                b'}' => depth -= 1,
                                b',' if depth == 0 => break,
                                _ => {}
                            }
                            j += 1;
                        }
                    }
                }
            }
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        if i == start {
            // `*` (a glob) or nothing: the prefix itself.
            out.push((entry, segs));
            return;
        }
        let seg = String::from_utf8_lossy(&b[start..i]).into_owned();
        if seg != "self" {
            segs.push(seg);
        }
        let j = skip_ws(b, i);
        if b[j..].starts_with(b"::") {
            i = skip_ws(b, j + 2);
        } else {
            out.push((entry, segs));
            return;
        }
    }
}

/// Every `crate::…` path of `code` (already blanked), with its 1-based line.
fn crate_paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("crate::") {
        let at = from + p;
        from = at + "crate::".len();
        if at > 0 && is_ident(b[at - 1]) {
            continue;
        }
        let mut paths = Vec::new();
        parse_tree(b, from, &[], &mut paths);
        for (off, segs) in paths {
            let line = 1 + b[..off.min(b.len())]
                .iter()
                .filter(|&&c| c == b'\n')
                .count();
            found.push((line, segs));
        }
    }
    found
}

/// The layer problems of one kernel file: `rel` is its path as printed, `module` its module
/// path ([`module_of`]; `None` for the crate root), `text` its source. Each problem is one
/// line starting `rel:line:`.
pub(crate) fn check_file(
    rel: &str,
    module: Option<&str>,
    text: &str,
    table: &[Placement],
) -> Vec<String> {
    let Some(module) = module else {
        return Vec::new();
    };
    let segs: Vec<&str> = module.split("::").collect();
    let own = match placement_of(&segs, table, false) {
        Ok(p) => p,
        Err(e) => {
            return vec![format!(
                "{rel}:1: {e}; place it there and in kernel/src/lib.rs"
            )];
        }
    };
    let code = match blank_test_items(&blank_non_code(text)) {
        Ok(c) => c,
        Err(line) => {
            return vec![format!(
                "{rel}:{line}: #[cfg(test)] item without a closing brace at its indentation"
            )];
        }
    };
    let mut problems = Vec::new();
    for (line, path) in crate_paths(&code) {
        let path_segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let shown = format!("crate::{}", path.join("::"));
        match placement_of(&path_segs, table, true) {
            Ok(t) if t.layer > own.layer => problems.push(format!(
                "{rel}:{line}: layer {} (`{}`) uses layer {} (`{}`) through `{shown}`",
                own.layer, own.module, t.layer, t.module
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("{rel}:{line}: `{shown}`: {e}")),
        }
    }
    problems
}

/// Disagreements between `table` and the layer map of `kernel/src/lib.rs` (`lib_text`): its
/// rows `//! | N | [`module`] | …`.
pub(crate) fn lib_table_problems(lib_text: &str, table: &[Placement]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut listed = Vec::new();
    for line in lib_text.lines().filter(|l| l.starts_with("//! |")) {
        let cells: Vec<&str> = line.trim_start_matches("//!").split('|').collect();
        let (Some(layer), Some(name)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Ok(layer) = layer.trim().parse::<u8>() else {
            continue;
        };
        let name = name.trim().trim_start_matches("[`").trim_end_matches("`]");
        listed.push(name.to_string());
        match table.iter().find(|p| p.module == name) {
            Some(p) if p.layer == layer && p.in_lib_map => {}
            Some(p) => problems.push(format!(
                "kernel/src/lib.rs puts `{name}` in layer {layer}, xtask/src/layers.rs in layer {}{}",
                p.layer,
                if p.in_lib_map {
                    ""
                } else {
                    " (and says lib.rs does not list it)"
                }
            )),
            None => problems.push(format!(
                "kernel/src/lib.rs lists `{name}` (layer {layer}), xtask/src/layers.rs does not"
            )),
        }
    }
    for p in table.iter().filter(|p| p.in_lib_map) {
        if !listed.iter().any(|n| n == p.module) {
            problems.push(format!(
                "xtask/src/layers.rs places `{}` in layer {}, kernel/src/lib.rs's layer map does not list it",
                p.module, p.layer
            ));
        }
    }
    problems
}

/// `cargo xtask` step: every kernel file's `crate::` paths go down or sideways, never up,
/// and [`LAYERS`] agrees with `kernel/src/lib.rs`.
pub(crate) fn layer_rules() -> Result<(), String> {
    println!("==> kernel layer rules");
    let root = crate::root();
    let src = root.join("kernel/src");
    let mut files = Vec::new();
    crate::collect_rs(&src, &mut files);
    files.sort();
    let read =
        |f: &Path| std::fs::read_to_string(f).map_err(|e| format!("reading {}: {e}", f.display()));
    let mut problems = lib_table_problems(&read(&src.join("lib.rs"))?, LAYERS);
    for f in &files {
        let text = read(f)?;
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let module = module_of(f.strip_prefix(&src).unwrap_or(f));
        problems.extend(check_file(&rel, module.as_deref(), &text, LAYERS));
    }
    if problems.is_empty() {
        println!("    kernel layer rules: ok ({} files)", files.len());
        Ok(())
    } else {
        Err(format!(
            "kernel layer rules broken (lower layers never depend on higher ones):\n  {}",
            problems.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(module: &str, text: &str) -> Vec<String> {
        check_file("f.rs", Some(module), text, LAYERS)
    }

    #[test]
    fn an_upward_use_is_reported_with_both_layers() {
        let p = check(
            "smc::annealed",
            "use crate::math;\n\nfn f() -> f32 {\n    crate::samplers::diffusion::reference::g(1.0)\n}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("f.rs:4: layer 2 (`smc`) uses layer 3 (`samplers::diffusion`)"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn downward_and_same_layer_uses_are_allowed() {
        let text = "use crate::error::{Error, check_len};\nuse crate::smc::resample::{self, Scheme};\n\
                    use crate::samplers::gflownet::env::DiscreteEnv;\nuse crate::Error as E;\n";
        assert!(check("samplers::diffusion::train", text).is_empty());
        assert!(check("teacher", text).is_empty());
    }

    #[test]
    fn test_modules_comments_and_strings_are_ignored() {
        let text = "use crate::math;\n// crate::teacher in a comment\n/// [`crate::ebm`]\n\
                    const S: &str = \"crate::teacher::x\";\n\n#[cfg(test)]\nmod tests {\n    \
                    use crate::teacher::Teacher;\n    fn f() {\n        crate::ebm::g();\n    }\n}\n";
        assert!(check("math", text).is_empty(), "{:?}", check("math", text));
    }

    #[test]
    fn code_after_a_test_helper_module_is_still_checked() {
        let text = "#[cfg(test)]\npub(crate) mod testutil {\n    use crate::ebm::X;\n}\n\n\
                    fn f() {\n    crate::ebm::g();\n}\n";
        let p = check("targets", text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("f.rs:7: layer 1"), "{}", p[0]);
    }

    #[test]
    fn grouped_uses_are_split() {
        let p = check(
            "nn::mlp",
            "use crate::{\n    math,\n    buffer::Cursor,\n    rng::{self, Rng},\n};\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("f.rs:3: layer 1 (`nn`) uses layer 2 (`buffer`)"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn unplaced_modules_are_errors() {
        assert!(check("newmod", "")[0].contains("`newmod` has no layer"));
        assert!(check("samplers::mcmc::hmc", "")[0].contains("`samplers::mcmc` has no layer"));
        assert!(check("samplers", "").is_empty());
        let p = check("smc", "use crate::newmod::X;\n");
        assert!(p[0].contains("`newmod` has no layer"), "{p:?}");
        assert!(check("teacher", "use crate::samplers::SomeRootItem;\n").is_empty());
    }

    #[test]
    fn file_paths_map_to_modules() {
        assert_eq!(
            module_of(Path::new("smc/annealed.rs")).as_deref(),
            Some("smc::annealed")
        );
        assert_eq!(module_of(Path::new("smc/mod.rs")).as_deref(), Some("smc"));
        assert_eq!(module_of(Path::new("math.rs")).as_deref(), Some("math"));
        assert_eq!(module_of(Path::new("lib.rs")), None);
    }

    #[test]
    fn lifetimes_and_char_literals_do_not_confuse_the_scanner() {
        let text = "fn f<'a>(x: &'a [f32]) -> char {\n    let _ = '\"';\n    crate::ebm::g(x);\n    '{'\n}\n";
        let p = check("math", text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("f.rs:3:"), "{}", p[0]);
    }

    #[test]
    fn the_table_matches_the_kernel_layer_map() {
        let lib = std::fs::read_to_string(crate::root().join("kernel/src/lib.rs")).unwrap();
        assert_eq!(lib_table_problems(&lib, LAYERS), Vec::<String>::new());
        let moved = lib.replace("| 2 | [`buffer`]", "| 1 | [`buffer`]");
        assert_eq!(lib_table_problems(&moved, LAYERS).len(), 1);
    }
}
