//! The docs' result tables are the committed ones, row for row.
//!
//! A table in `docs/` that copies a collected table says so with a marker above it (blank
//! lines may separate them), `<!-- table from results/…/….md -->`. The marked table (its
//! header, rule and rows) must be one whole table of that file, line for line and in order,
//! so a table regenerated under `results/` and not copied into the docs, a number edited by
//! hand, or a row added, dropped or reordered fails here. The tables one doc copies from one
//! file must be distinct tables of it, in the file's order, so two tables with the same
//! header (the discrete targets) cannot swap bodies unnoticed.

use std::fs;
use std::path::Path;

const MARKER: &str = "<!-- table from ";

/// A marked table in a doc: where it starts, the file it names and its lines.
struct Marked {
    doc: String,
    line: usize,
    source: String,
    rows: Vec<String>,
}

/// The marked tables of one doc; an error names a marker with no table under it.
fn marked_tables(doc: &str, text: &str) -> Result<Vec<Marked>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix(MARKER) else {
            continue;
        };
        let source = rest.trim_end_matches("-->").trim().to_string();
        let rows: Vec<String> = lines[i + 1..]
            .iter()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.to_string())
            .collect();
        if rows.len() < 3 {
            return Err(format!("{doc}:{}: marker with no table under it", i + 1));
        }
        found.push(Marked {
            doc: doc.to_string(),
            line: i + 1,
            source,
            rows,
        });
    }
    Ok(found)
}

/// What checking one marked table against its source found.
#[derive(Debug, PartialEq)]
enum Found {
    /// One whole table of the source, in order, starting at this line (from 0).
    At(usize),
    /// The rows that are not lines of the source; when every row is one, a note saying why
    /// the table still does not match.
    Stale(Vec<String>),
}

/// Checks `table` against its source, where it must be a whole table starting at line
/// `from` or later: the tables a doc copies from one file come in that file's order.
fn check(root: &Path, table: &Marked, from: usize) -> Result<Found, String> {
    let path = root.join(&table.source);
    let source = fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}:{}: cannot read {}: {e}",
            table.doc,
            table.line,
            path.display()
        )
    })?;
    let lines: Vec<&str> = source.lines().collect();
    let missing: Vec<String> = table
        .rows
        .iter()
        .filter(|row| !lines.contains(&row.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Ok(Found::Stale(missing));
    }
    if let Some(k) = whole_table_at(&lines, &table.rows, from) {
        return Ok(Found::At(k));
    }
    let note = if whole_table_at(&lines, &table.rows, 0).is_some() {
        "(a whole table of the source, but out of order: an earlier marked table from the same file copies a later table of it)"
    } else {
        "(every row is in the source, but not as one whole table in order)"
    };
    Ok(Found::Stale(vec![note.into()]))
}

/// Where, at line `from` or later, `rows` are in order all the lines of one table of `lines`.
fn whole_table_at(lines: &[&str], rows: &[String], from: usize) -> Option<usize> {
    let n = rows.len();
    let is_row = |k: usize| lines.get(k).is_some_and(|l| l.starts_with('|'));
    (from..lines.len().saturating_sub(n - 1)).find(|&k| {
        lines[k..k + n]
            .iter()
            .zip(rows)
            .all(|(l, r)| *l == r.as_str())
            && (k == 0 || !is_row(k - 1))
            && !is_row(k + n)
    })
}

/// Every problem with `tables` (in doc order), one message each.
fn problems(root: &Path, tables: &[Marked]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut next = std::collections::HashMap::new();
    for table in tables {
        let from = next.entry((&table.doc, &table.source)).or_insert(0);
        match check(root, table, *from) {
            Ok(Found::At(k)) => *from = k + table.rows.len(),
            Ok(Found::Stale(rows)) => problems.push(format!(
                "{}:{} (from {}): {} rows not in the source:\n{}",
                table.doc,
                table.line,
                table.source,
                rows.len(),
                rows.join("\n")
            )),
            Err(e) => problems.push(e),
        }
    }
    problems
}

#[test]
fn every_marked_docs_table_is_the_committed_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tables = Vec::new();
    for entry in fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let doc = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
            let text = fs::read_to_string(&path).unwrap();
            tables.extend(marked_tables(&doc, &text).unwrap());
        }
    }
    assert!(
        tables.len() >= 5,
        "only {} marked tables in docs/",
        tables.len()
    );
    let problems = problems(root, &tables);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn a_changed_cell_is_caught() {
    let dir = std::env::temp_dir().join(format!("amortise-docs-tables-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("t.md"),
        "| a | b |\n|---|---|\n| 1 | 2.50 |\n| 3 | 4 |\n",
    )
    .unwrap();
    let doc = "text\n<!-- table from t.md -->\n| a | b |\n|---|---|\n| 1 | 2.5 |\n\nmore\n";
    let tables = marked_tables("d.md", doc).unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].source, "t.md");
    assert_eq!(
        check(&dir, &tables[0], 0).unwrap(),
        Found::Stale(vec!["| 1 | 2.5 |".into()])
    );
    let whole = "<!-- table from t.md -->\n| a | b |\n|---|---|\n| 1 | 2.50 |\n| 3 | 4 |\n";
    let tables = marked_tables("d.md", whole).unwrap();
    assert_eq!(check(&dir, &tables[0], 0).unwrap(), Found::At(0));
    for partial in [
        "<!-- table from t.md -->\n| a | b |\n|---|---|\n| 3 | 4 |\n",
        "<!-- table from t.md -->\n| a | b |\n|---|---|\n| 3 | 4 |\n| 1 | 2.50 |\n",
    ] {
        let tables = marked_tables("d.md", partial).unwrap();
        let found = check(&dir, &tables[0], 0).unwrap();
        assert!(
            matches!(found, Found::Stale(ref r) if r.len() == 1),
            "{partial}"
        );
    }
    assert!(marked_tables("d.md", "<!-- table from t.md -->\nno table\n").is_err());
    let missing = marked_tables("d.md", "<!-- table from nope.md -->\n| a |\n|---|\n| 1 |\n");
    assert!(check(&dir, &missing.unwrap()[0], 0).is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tables_from_one_file_in_the_wrong_order_are_caught() {
    let dir = std::env::temp_dir().join(format!("amortise-docs-order-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let first = "| m | v |\n|---|---|\n| a | 1 |\n";
    let second = "| m | v |\n|---|---|\n| a | 2 |\n";
    fs::write(
        dir.join("t.md"),
        format!("one:\n\n{first}\ntwo:\n\n{second}"),
    )
    .unwrap();
    let doc = |x: &str, y: &str| {
        format!("<!-- table from t.md -->\n{x}\ntext\n\n<!-- table from t.md -->\n{y}")
    };
    let in_order = marked_tables("d.md", &doc(first, second)).unwrap();
    assert!(problems(&dir, &in_order).is_empty());
    let swapped = marked_tables("d.md", &doc(second, first)).unwrap();
    let found = problems(&dir, &swapped);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("out of order"), "{}", found[0]);
    let twice = marked_tables("d.md", &doc(first, first)).unwrap();
    assert_eq!(problems(&dir, &twice).len(), 1);
    fs::remove_dir_all(&dir).unwrap();
}
