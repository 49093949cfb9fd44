//! The tidy test of personal data: it reads the workspace's sources and fails when a field of
//! the catalogue (`personal_data::CATALOGUE`) that must be encrypted is stored in clear (a
//! struct field or a database column of text holding it), or when personal data is logged in
//! clear (a log macro that exposes a value, or formats one by its name). A line that is right
//! to do so says why with `// personal-data: <reason>`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::path::{Path, PathBuf};

use gatehouse_domain::personal_data::{Protection, CATALOGUE};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("target" | "node_modules" | ".git")
            ) {
                files(&path, ext, out);
            }
        } else if path.extension().and_then(|e| e.to_str()) == Some(ext) {
            out.push(path);
        }
    }
}

/// The names of fields that must never be kept in clear.
fn protected_names() -> Vec<&'static str> {
    CATALOGUE
        .iter()
        .filter(|s| s.protection != Protection::Plain && s.protection != Protection::MaskedOnly)
        .flat_map(|s| s.identifiers.iter().copied())
        .collect()
}

/// Whether `ident` names a protected value (`id_number`, `visitor_id_number`), not its mask.
fn names_protected(ident: &str, names: &[&str]) -> bool {
    !ident.ends_with("_masked")
        && !ident.starts_with("masked_")
        && names
            .iter()
            .any(|n| ident == *n || ident.ends_with(&format!("_{n}")))
}

const CLEAR_TEXT_TYPES: [&str; 8] = [
    "String",
    "Zeroizing<String>",
    "Option<Zeroizing<String>>",
    "&str",
    "&'static str",
    "Option<String>",
    "Option<&str>",
    "Cow<'_, str>",
];

/// Struct fields of text holding a protected value, in the crates that keep data. A struct
/// named `Masked…` holds masks.
fn stored_in_clear(source: &str, names: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // The struct whose fields the lines are, while inside one.
    let mut inside: Option<(String, i32)> = None;
    for (i, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if inside.is_none() {
            if let Some(rest) = code.split("struct ").nth(1).filter(|_| code.contains('{')) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                inside = Some((name, 0));
            } else {
                continue;
            }
        }
        let Some((name, depth)) = inside.as_mut() else {
            continue;
        };
        *depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
        let masked = name.starts_with("Masked");
        if *depth <= 0 {
            inside = None;
        }
        if masked || line.contains("personal-data:") {
            continue;
        }
        let field = code
            .trim()
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        let Some((ident, rest)) = field.split_once(':') else {
            continue;
        };
        let ident = ident.trim();
        let ty = rest.trim().trim_end_matches(',').trim();
        if ident.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && names_protected(ident, names)
            && CLEAR_TEXT_TYPES.contains(&ty)
        {
            found.push((i + 1, line.trim().to_owned()));
        }
    }
    found
}

/// Columns of text holding a protected value.
fn columns_in_clear(sql: &str, names: &[&str]) -> Vec<(usize, String)> {
    sql.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let mut words = line.split_whitespace();
            let column = words.next()?;
            let ty = words.next()?.trim_end_matches(',').to_ascii_uppercase();
            (names_protected(column, names) && matches!(ty.as_str(), "TEXT" | "VARCHAR"))
                .then(|| (i + 1, line.trim().to_owned()))
        })
        .collect()
}

const LOG_MACROS: [&str; 8] = [
    "trace!(",
    "debug!(",
    "info!(",
    "warn!(",
    "error!(",
    "event!(",
    "println!(",
    "eprintln!(",
];

/// Log macros that expose a value or format a protected one by name.
fn logged_in_clear(source: &str, names: &[&str]) -> Vec<(usize, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if !LOG_MACROS.iter().any(|m| line.contains(m)) || line.trim_start().starts_with("//") {
            i += 1;
            continue;
        }
        // The whole invocation: up to the line that closes it.
        let start = i;
        let mut text = String::new();
        let mut depth = 0i32;
        loop {
            let l = lines.get(i).copied().unwrap_or("");
            text.push_str(l);
            text.push('\n');
            depth += l.matches('(').count() as i32 - l.matches(')').count() as i32;
            i += 1;
            if depth <= 0 || i >= lines.len() {
                break;
            }
        }
        if text.contains("personal-data:") {
            continue;
        }
        let exposes = text.contains(".expose()");
        let formats_by_name = names.iter().any(|n| {
            [
                format!("%{n}"),
                format!("= %{n}"),
                format!("?{n},"),
                format!("?{n})"),
                format!("?{n}\n"),
                format!("{{{n}}}"),
                format!("{{{n}:?}}"),
                format!("{n}.as_str()"),
                format!("{n}.normalised()"),
            ]
            .iter()
            .any(|p| text.contains(p.as_str()))
        });
        if exposes || formats_by_name {
            found.push((start + 1, text.trim().to_owned()));
        }
    }
    found
}

#[test]
fn no_protected_personal_field_is_stored_or_logged_in_clear() {
    let names = protected_names();
    assert!(names.contains(&"id_number") && names.contains(&"contact_phone"));
    let root = workspace();
    let mut sources = Vec::new();
    files(&root.join("crates"), "rs", &mut sources);
    assert!(
        sources.len() > 100,
        "the workspace's sources were not found"
    );
    let mut problems = Vec::new();
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        // Tests may hold and print clear values on purpose; this test itself names them.
        if rel.contains("/tests/") || rel.ends_with("tidy.rs") {
            continue;
        }
        let keeps_data = [
            "domain", "store", "booking", "identity", "payments", "gates", "groups",
        ]
        .iter()
        .any(|c| rel.starts_with(&format!("crates/{c}/")));
        if keeps_data {
            for (line, code) in stored_in_clear(&text, &names) {
                problems.push(format!("{rel}:{line}: stored in clear: {code}"));
            }
        }
        for (line, code) in logged_in_clear(&text, &names) {
            problems.push(format!("{rel}:{line}: logged in clear: {code}"));
        }
    }
    let mut migrations = Vec::new();
    files(
        &root.join("crates/store/migrations"),
        "sql",
        &mut migrations,
    );
    assert!(!migrations.is_empty());
    for path in &migrations {
        let text = std::fs::read_to_string(path).unwrap();
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        for (line, code) in columns_in_clear(&text, &names) {
            problems.push(format!("{rel}:{line}: a column of text: {code}"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_tidy_rules_catch_what_they_are_for() {
    let names = ["id_number", "contact_phone"];
    let held = |fields: &str| {
        stored_in_clear(&format!("pub struct Visitor {{\n{fields}\n}}"), &names).len()
    };
    assert_eq!(held("    pub id_number: String,"), 1);
    assert_eq!(held("    visitor_id_number: Option<String>,"), 1);
    assert_eq!(held("    id_number: Zeroizing<String>,"), 1);
    assert_eq!(held("    pub id_number: Sealed,"), 0);
    assert_eq!(held("    pub id_number: Sensitive,"), 0);
    assert_eq!(held("    pub id_number_masked: String,"), 0);
    assert_eq!(
        held("    pub id_number: String, // personal-data: the request as typed"),
        0
    );
    assert!(
        stored_in_clear(
            "pub struct MaskedVisitor {\n    pub id_number: String,\n}",
            &names
        )
        .is_empty(),
        "masks"
    );
    assert!(
        stored_in_clear("fn f(\n    id_number: &str,\n) {}", &names).is_empty(),
        "parameters are not stored"
    );
    assert_eq!(
        columns_in_clear("    contact_phone TEXT NOT NULL,", &names).len(),
        1
    );
    assert!(columns_in_clear("    contact_phone BLOB NOT NULL,", &names).is_empty());
    assert_eq!(
        logged_in_clear("tracing::info!(phone = %contact_phone, \"x\");", &names).len(),
        1
    );
    assert_eq!(
        logged_in_clear(
            "tracing::warn!(\n    v = value.expose(),\n    \"x\"\n);",
            &names
        )
        .len(),
        1
    );
    assert_eq!(logged_in_clear("info!(\"{id_number}\");", &names).len(), 1);
    assert_eq!(
        logged_in_clear("debug!(phone = ?contact_phone, \"x\");", &names).len(),
        1
    );
    assert!(logged_in_clear("tracing::info!(phone = ?phone.masked(), \"x\");", &names).is_empty());
}
