//! The docs' result tables are the committed ones, row for row.
//!
//! A table in `docs/` that copies a collected table says so with a marker above it (blank
//! lines may separate them), `<!-- table from results/…/….md -->`. Every line of the marked table (its
//! header, rule and rows) must be a line of that file, so a table regenerated under
//! `results/` and not copied into the docs, or a number edited by hand in the docs, fails
//! here. The docs may copy a subset of the rows.

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

/// The rows of `table` that are not lines of its source file.
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
    Ok(table
        .rows
        .iter()
        .filter(|row| !lines.contains(&row.as_str()))
        .cloned()
        .collect())
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
    let subset = "<!-- table from t.md -->\n| a | b |\n|---|---|\n| 3 | 4 |\n";
    let tables = marked_tables("d.md", subset).unwrap();
    assert!(stale_rows(&dir, &tables[0]).unwrap().is_empty());
    assert!(marked_tables("d.md", "<!-- table from t.md -->\nno table\n").is_err());
    let missing = marked_tables("d.md", "<!-- table from nope.md -->\n| a |\n|---|\n| 1 |\n");
    assert!(stale_rows(&dir, &missing.unwrap()[0]).is_err());
    fs::remove_dir_all(&dir).unwrap();
}
