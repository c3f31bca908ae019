//! The docs' result tables are the committed ones, row for row.
//!
//! A table in `docs/` that copies a collected table says so with a marker above it (blank
//! lines may separate them), `<!-- table from results/…/….md -->`. The marked table (its
//! header, rule and rows) must be one whole table of that file, line for line and in order,
//! so a table regenerated under `results/` and not copied into the docs, a number edited by
//! hand, or a row added, dropped or reordered fails here.

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

/// The rows of `table` that are not lines of its source file; when every row is one, but
/// not as a whole table of it in order, a note saying so.
fn stale_rows(root: &Path, table: &Marked) -> Result<Vec<String>, String> {
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
    if !missing.is_empty() || is_whole_table(&lines, &table.rows) {
        return Ok(missing);
    }
    Ok(vec![
        "(every row is in the source, but not as one whole table in order)".into(),
    ])
}

/// Whether `rows` are, in order, all the lines of one table of `lines`.
fn is_whole_table(lines: &[&str], rows: &[String]) -> bool {
    let n = rows.len();
    let is_row = |k: usize| lines.get(k).is_some_and(|l| l.starts_with('|'));
    (0..lines.len().saturating_sub(n - 1)).any(|k| {
        lines[k..k + n]
            .iter()
            .zip(rows)
            .all(|(l, r)| *l == r.as_str())
            && (k == 0 || !is_row(k - 1))
            && !is_row(k + n)
    })
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
    let mut problems = Vec::new();
    for table in &tables {
        match stale_rows(root, table) {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => problems.push(format!(
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
    assert_eq!(stale_rows(&dir, &tables[0]).unwrap(), vec!["| 1 | 2.5 |"]);
    let whole = "<!-- table from t.md -->\n| a | b |\n|---|---|\n| 1 | 2.50 |\n| 3 | 4 |\n";
    let tables = marked_tables("d.md", whole).unwrap();
    assert!(stale_rows(&dir, &tables[0]).unwrap().is_empty());
    for partial in [
        "<!-- table from t.md -->\n| a | b |\n|---|---|\n| 3 | 4 |\n",
        "<!-- table from t.md -->\n| a | b |\n|---|---|\n| 3 | 4 |\n| 1 | 2.50 |\n",
    ] {
        let tables = marked_tables("d.md", partial).unwrap();
        assert_eq!(stale_rows(&dir, &tables[0]).unwrap().len(), 1, "{partial}");
    }
    assert!(marked_tables("d.md", "<!-- table from t.md -->\nno table\n").is_err());
    let missing = marked_tables("d.md", "<!-- table from nope.md -->\n| a |\n|---|\n| 1 |\n");
    assert!(stale_rows(&dir, &missing.unwrap()[0]).is_err());
    fs::remove_dir_all(&dir).unwrap();
}
