//! A group's member list as CSV: one member per row, `name,id_type,id_number` (the id type may
//! be left out for resident IDs; a first row naming the columns — `name` or `姓名` — is a
//! header). Files come from spreadsheets: UTF-8 (with or without a byte-order mark) or GB18030
//! (what Excel in Chinese saves as "CSV"). Anything else is refused whole, as is a file over the
//! size or row limit; rows that are merely wrong are reported one by one.

use std::collections::HashMap;

use gatehouse_domain::identity::{IdDocument, IdKind, PersonName};
use jiff::civil::Date;

/// The most members one group books.
pub const MAX_MEMBERS: usize = gatehouse_domain::group::MAX_GROUP_MEMBERS;
/// The largest member file accepted (500 rows of long names fit many times over).
pub const MAX_CSV_BYTES: usize = 256 * 1024;

/// Why a whole file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvRefused {
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the file lists more than {max} members")]
    TooManyRows { max: usize },
    #[error("the file lists no members")]
    Empty,
    #[error("the file is neither UTF-8 nor GB18030 text; save it as CSV (UTF-8)")]
    NotText,
    #[error("line {line}: {message}")]
    Malformed { line: usize, message: String },
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// `name`, `id_type` or `id_number`, or `row` for the row as a whole.
    pub column: &'static str,
    /// A stable code: `columns`, `invalid_name`, `invalid_id_type`, `invalid_id_number`,
    /// `duplicate`.
    pub code: &'static str,
    pub message: String,
}

/// One row of the file, checked.
#[derive(Debug, Clone)]
pub struct MemberRow {
    /// The line in the file (1-based, counting the header).
    pub line: usize,
    /// The member, if the row is valid.
    pub member: Option<(PersonName, IdDocument)>,
    pub problems: Vec<RowProblem>,
}

fn problem(column: &'static str, code: &'static str, message: impl Into<String>) -> RowProblem {
    RowProblem {
        column,
        code,
        message: message.into(),
    }
}

/// Decodes the file's text: UTF-8 (a BOM is dropped), else GB18030 without a single bad byte.
fn decode(bytes: &[u8]) -> Result<String, CsvRefused> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(CsvRefused::NotText);
    }
    Ok(text.into_owned())
}

fn is_header(record: &csv::StringRecord) -> bool {
    record
        .get(0)
        .map(|c| c.trim().to_lowercase())
        .is_some_and(|c| c == "name" || c == "姓名")
}

fn id_kind(text: &str) -> Option<IdKind> {
    let t = text.trim().to_lowercase();
    IdKind::parse(&t).or(match t.as_str() {
        "身份证" | "居民身份证" => Some(IdKind::ResidentId),
        "护照" => Some(IdKind::Passport),
        "港澳通行证" => Some(IdKind::HkMacauPermit),
        "台胞证" => Some(IdKind::TaiwanPermit),
        _ => None,
    })
}

/// Reads and checks a member list. `today` dates the ID checks (birth dates in the future).
pub fn read_members(bytes: &[u8], today: Date) -> Result<Vec<MemberRow>, CsvRefused> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(CsvRefused::TooLarge { max: MAX_CSV_BYTES });
    }
    let text = decode(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    // Normalised ID number → the first line that names it.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 1;
        let record = record.map_err(|e| CsvRefused::Malformed {
            line,
            message: e.to_string(),
        })?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if index == 0 && is_header(&record) {
            continue;
        }
        if rows.len() == MAX_MEMBERS {
            return Err(CsvRefused::TooManyRows { max: MAX_MEMBERS });
        }
        rows.push(check_row(line, &record, today, &mut seen));
    }
    if rows.is_empty() {
        return Err(CsvRefused::Empty);
    }
    Ok(rows)
}

fn check_row(
    line: usize,
    record: &csv::StringRecord,
    today: Date,
    seen: &mut HashMap<String, usize>,
) -> MemberRow {
    let mut row = MemberRow {
        line,
        member: None,
        problems: Vec::new(),
    };
    let (name, kind, number) = match record.len() {
        2 => (record.get(0), Some(IdKind::ResidentId), record.get(1)),
        3 => (
            record.get(0),
            record.get(1).and_then(id_kind),
            record.get(2),
        ),
        n => {
            row.problems.push(problem(
                "row",
                "columns",
                format!("has {n} columns; give name,id_type,id_number"),
            ));
            return row;
        }
    };
    let name = PersonName::parse(name.unwrap_or_default())
        .map_err(|m| row.problems.push(problem("name", "invalid_name", m)))
        .ok();
    let Some(kind) = kind else {
        row.problems.push(problem(
            "id_type",
            "invalid_id_type",
            "must be resident_id, passport, hk_macau_permit or taiwan_permit",
        ));
        return row;
    };
    let document = IdDocument::parse(kind, number.unwrap_or_default(), today)
        .map_err(|m| {
            row.problems
                .push(problem("id_number", "invalid_id_number", m))
        })
        .ok();
    if let Some(doc) = &document {
        let key = format!("{}:{}", doc.kind().as_str(), doc.normalised());
        if let Some(first) = seen.get(&key) {
            row.problems.push(problem(
                "id_number",
                "duplicate",
                format!("the same ID number as line {first}"),
            ));
            return row;
        }
        seen.insert(key, line);
    }
    if let (Some(name), Some(document)) = (name, document) {
        if row.problems.is_empty() {
            row.member = Some((name, document));
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_domain::identity::synthetic_resident_id;
    use proptest::prelude::*;

    fn today() -> Date {
        jiff::civil::date(2026, 11, 24)
    }

    #[test]
    fn a_list_is_checked_row_by_row() {
        let csv = format!(
            "姓名,证件类型,证件号码\n张三,resident_id,{a}\n李四,{b}\n\"王, 五\",passport,E12345678\n赵六,resident_id,110105194912310021\n钱七,身份证,{a}\n孙八,driving_licence,123\n,resident_id,{c}\n周九\n",
            a = synthetic_resident_id(1),
            b = synthetic_resident_id(2),
            c = synthetic_resident_id(3),
        );
        let rows = read_members(csv.as_bytes(), today()).unwrap();
        let codes: Vec<(usize, Vec<&str>)> = rows
            .iter()
            .map(|r| (r.line, r.problems.iter().map(|p| p.code).collect()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (2, vec![]),
                (3, vec![]),
                (4, vec![]),
                (5, vec!["invalid_id_number"]),
                (6, vec!["duplicate"]),
                (7, vec!["invalid_id_type"]),
                (8, vec!["invalid_name"]),
                (9, vec!["columns"]),
            ]
        );
        assert!(rows[2].member.is_some(), "a quoted comma stays in the name");
        assert_eq!(rows[4].problems[0].message, "the same ID number as line 2");
    }

    #[test]
    fn spreadsheet_encodings_are_read_and_anything_else_refused() {
        let utf8 = format!("张三,{}\n", synthetic_resident_id(1));
        let (gbk, _, _) = encoding_rs::GB18030.encode(&utf8);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), utf8.as_bytes()].concat();
        for bytes in [utf8.as_bytes(), &gbk, &with_bom] {
            let rows = read_members(bytes, today()).unwrap();
            assert!(rows[0].member.is_some(), "{bytes:?}");
        }
        assert_eq!(
            read_members(b"\xff\xfe\x00\x01\x80", today()).unwrap_err(),
            CsvRefused::NotText
        );
        assert_eq!(read_members(b"", today()).unwrap_err(), CsvRefused::Empty);
        assert_eq!(
            read_members(b"name,id\n\n", today()).unwrap_err(),
            CsvRefused::Empty
        );
    }

    #[test]
    fn huge_files_are_refused_whole() {
        let row = format!("张三,{}\n", synthetic_resident_id(1));
        let huge = row.repeat(100_000);
        assert_eq!(
            read_members(huge.as_bytes(), today()).unwrap_err(),
            CsvRefused::TooLarge { max: MAX_CSV_BYTES }
        );
        let many: String = (0..501)
            .map(|n| format!("张三,{}\n", synthetic_resident_id(n)))
            .collect();
        assert_eq!(
            read_members(many.as_bytes(), today()).unwrap_err(),
            CsvRefused::TooManyRows { max: 500 }
        );
        let ok: String = (0..500)
            .map(|n| format!("张三,{}\n", synthetic_resident_id(n)))
            .collect();
        assert_eq!(read_members(ok.as_bytes(), today()).unwrap().len(), 500);
    }

    proptest! {
        /// Any bytes at all get an answer, never a panic; every row reported names its line.
        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            if let Ok(rows) = read_members(&bytes, today()) {
                for r in rows {
                    prop_assert!(r.line >= 1);
                    prop_assert_eq!(r.member.is_some(), r.problems.is_empty());
                }
            }
        }

        /// Text shaped like CSV (quotes, commas, newlines, Chinese) too.
        #[test]
        fn any_csv_like_text_is_answered(text in "[a-z张三\",\\n\\r 0-9X]{0,400}") {
            if let Ok(rows) = read_members(text.as_bytes(), today()) {
                prop_assert!(rows.len() <= MAX_MEMBERS);
            }
        }
    }
}
