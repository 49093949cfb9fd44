//! The multipart/form-data body processor. Parts become `ARGS_POST` (fields) or `FILES` and
//! `FILES_NAMES` (uploads: the field name and the file name), every part header line goes to
//! `MULTIPART_PART_HEADERS` under its part's name, and the irregularities ModSecurity names get
//! their flags (`MULTIPART_LF_LINE`, `MULTIPART_DATA_BEFORE`, … and `MULTIPART_STRICT_ERROR`
//! for any of them). A body that is not multipart at all — no boundary, no final boundary, a
//! part without a name — is an error. Parts and header lines are bounded.

use crate::request::Pair;

/// The most parts one body may have.
pub const MAX_PARTS: usize = 1_000;
/// The most header lines one part may have.
const MAX_PART_HEADERS: usize = 64;

/// Every flag a multipart body may raise (`MULTIPART_<flag>`).
pub const FLAGS: [&str; 14] = [
    "BOUNDARY_QUOTED",
    "BOUNDARY_WHITESPACE",
    "CRLF_LF_LINES",
    "DATA_AFTER",
    "DATA_BEFORE",
    "FILE_LIMIT_EXCEEDED",
    "HEADER_FOLDING",
    "INVALID_HEADER_FOLDING",
    "INVALID_PART",
    "INVALID_QUOTING",
    "LF_LINE",
    "MISSING_SEMICOLON",
    "STRICT_ERROR",
    "UNMATCHED_BOUNDARY",
];

/// What a multipart body gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Multipart {
    pub args: Vec<Pair>,
    /// (field name, file name).
    pub files: Vec<Pair>,
    /// (part name, header line as sent).
    pub part_headers: Vec<Pair>,
    pub file_sizes: Vec<usize>,
    pub flags: Vec<&'static str>,
}

/// Reads `body` as multipart with the boundary from `content_type`.
pub fn parse(content_type: &[u8], body: &[u8]) -> Result<Multipart, String> {
    let mut out = Multipart::default();
    let boundary = boundary(content_type, &mut out.flags)?;
    let delimiter = [b"--".as_slice(), &boundary].concat();
    let lines = split_lines(body, &mut out.flags);
    let mut at = 0;
    // Anything before the first boundary.
    while let Some((line, _)) = lines.get(at) {
        if line.starts_with(&delimiter) {
            break;
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.flags.push("DATA_BEFORE");
        }
        at += 1;
    }
    let mut finished = false;
    while let Some((line, _)) = lines.get(at) {
        let rest = line.get(delimiter.len()..).unwrap_or(&[]);
        if rest.starts_with(b"--") {
            finished = true;
            at += 1;
            break;
        }
        if !rest.iter().all(|b| *b == b' ' || *b == b'\t') {
            out.flags.push("UNMATCHED_BOUNDARY");
        }
        at += 1;
        if out.args.len() + out.files.len() >= MAX_PARTS {
            return Err(format!("Multipart: more than {MAX_PARTS} parts"));
        }
        at = part(&lines, at, &delimiter, &mut out)?;
    }
    if !finished {
        return Err("Multipart: final boundary missing".into());
    }
    if lines
        .get(at..)
        .unwrap_or(&[])
        .iter()
        .any(|(l, _)| !l.iter().all(u8::is_ascii_whitespace))
    {
        out.flags.push("DATA_AFTER");
    }
    if !out.flags.is_empty() {
        out.flags.push("STRICT_ERROR");
    }
    out.flags.sort_unstable();
    out.flags.dedup();
    Ok(out)
}

/// One part, from its first header line at `at`; returns where the next boundary line is.
fn part(
    lines: &[(&[u8], bool)],
    mut at: usize,
    delimiter: &[u8],
    out: &mut Multipart,
) -> Result<usize, String> {
    let mut headers: Vec<Vec<u8>> = Vec::new();
    loop {
        let Some((line, _)) = lines.get(at) else {
            return Err("Multipart: a part's headers never end".into());
        };
        at += 1;
        if line.is_empty() {
            break;
        }
        if line.starts_with(delimiter) {
            return Err("Multipart: a part has no body".into());
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            out.flags.push("HEADER_FOLDING");
            match headers.last_mut() {
                Some(last) => last.extend_from_slice(line),
                None => out.flags.push("INVALID_HEADER_FOLDING"),
            }
            continue;
        }
        if headers.len() >= MAX_PART_HEADERS {
            return Err("Multipart: too many part headers".into());
        }
        headers.push(line.to_vec());
    }
    let disposition = headers
        .iter()
        .find_map(|h| {
            let (name, value) = split_header(h)?;
            name.eq_ignore_ascii_case(b"content-disposition")
                .then_some(value)
        })
        .ok_or("Multipart: a part has no Content-Disposition")?;
    let (name, filename) = disposition_params(disposition, &mut out.flags)?;
    // The content runs to the next boundary line; the line break before it belongs to it.
    let mut content: Vec<u8> = Vec::new();
    let mut first = true;
    while let Some((line, crlf)) = lines.get(at) {
        if line.starts_with(delimiter) {
            break;
        }
        if !first {
            content.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
        content.extend_from_slice(line);
        first = false;
        at += 1;
    }
    for h in &headers {
        out.part_headers.push((name.clone(), h.clone()));
    }
    match filename {
        Some(f) => {
            out.file_sizes.push(content.len());
            out.files.push((name, f));
        }
        None => out.args.push((name, content)),
    }
    Ok(at)
}

fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let value = line.get(colon + 1..)?;
    let start = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    Some((line.get(..colon)?, value.get(start..)?))
}

/// `form-data; name="a"; filename="b.txt"`: the name and the file name.
fn disposition_params(
    value: &[u8],
    flags: &mut Vec<&'static str>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let (kind, mut rest) = match value.iter().position(|&b| b == b';') {
        Some(i) => (
            value.get(..i).unwrap_or(&[]),
            value.get(i + 1..).unwrap_or(&[]),
        ),
        None => (value, &[][..]),
    };
    if !kind.trim_ascii().eq_ignore_ascii_case(b"form-data") {
        return Err("Multipart: Content-Disposition is not form-data".into());
    }
    let (mut name, mut filename) = (None, None);
    loop {
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            break;
        }
        let eq = rest
            .iter()
            .position(|&b| b == b'=')
            .ok_or("Multipart: a Content-Disposition parameter has no value")?;
        let key = rest
            .get(..eq)
            .unwrap_or(&[])
            .trim_ascii()
            .to_ascii_lowercase();
        rest = rest.get(eq + 1..).unwrap_or(&[]).trim_ascii_start();
        let value;
        if rest.first() == Some(&b'"') {
            let mut v = Vec::new();
            let mut i = 1;
            let mut closed = false;
            while let Some(&c) = rest.get(i) {
                match c {
                    // A backslash escapes a quote or a backslash; before anything else it is
                    // kept (Windows paths in file names), as ModSecurity reads it.
                    b'\\' if matches!(rest.get(i + 1), Some(b'"' | b'\\')) => {
                        flags.push("INVALID_QUOTING");
                        if let Some(&n) = rest.get(i + 1) {
                            v.push(n);
                        }
                        i += 2;
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    _ => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                flags.push("INVALID_QUOTING");
            }
            value = v;
            rest = rest.get(i..).unwrap_or(&[]);
        } else {
            // An unquoted value ends at white space too, so a parameter hidden behind a
            // missing semicolon is still read (and flagged).
            let end = rest
                .iter()
                .position(|&b| b == b';' || b.is_ascii_whitespace())
                .unwrap_or(rest.len());
            let raw = rest.get(..end).unwrap_or(&[]).trim_ascii();
            if raw.contains(&b'\'') || raw.contains(&b'"') {
                flags.push("INVALID_QUOTING");
            }
            value = raw.to_vec();
            rest = rest.get(end..).unwrap_or(&[]);
        }
        rest = rest.trim_ascii_start();
        match rest.first() {
            Some(b';') => rest = rest.get(1..).unwrap_or(&[]),
            Some(_) => flags.push("MISSING_SEMICOLON"),
            None => {}
        }
        match key.as_slice() {
            b"name" => name = Some(value),
            b"filename" | b"filename*" => filename = Some(value),
            _ => {}
        }
    }
    let name = name.ok_or("Multipart: a part has no name")?;
    Ok((name, filename))
}

/// The boundary from `multipart/form-data; boundary=…`.
fn boundary(content_type: &[u8], flags: &mut Vec<&'static str>) -> Result<Vec<u8>, String> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower
        .windows(8)
        .position(|w| w == b"boundary")
        .ok_or("Multipart: boundary not found")?;
    let mut rest = content_type.get(at + 8..).unwrap_or(&[]);
    if rest.first().is_some_and(u8::is_ascii_whitespace) {
        flags.push("BOUNDARY_WHITESPACE");
        rest = rest.trim_ascii_start();
    }
    rest = rest
        .strip_prefix(b"=")
        .ok_or("Multipart: the boundary has no value")?;
    if rest.first().is_some_and(u8::is_ascii_whitespace) {
        flags.push("BOUNDARY_WHITESPACE");
        rest = rest.trim_ascii_start();
    }
    let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
    let mut value = rest.get(..end).unwrap_or(&[]).trim_ascii_end();
    if let Some(inner) = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
    {
        flags.push("BOUNDARY_QUOTED");
        value = inner;
    }
    if value.is_empty() || value.len() > 70 || value.iter().any(|b| !(0x20..0x7f).contains(b)) {
        return Err("Multipart: the boundary is invalid".into());
    }
    Ok(value.to_vec())
}

/// The body's lines without their endings, each with whether it ended in CRLF.
fn split_lines<'a>(body: &'a [u8], flags: &mut Vec<&'static str>) -> Vec<(&'a [u8], bool)> {
    let mut out = Vec::new();
    let (mut lf, mut crlf) = (false, false);
    let mut rest = body;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = rest.get(..i).unwrap_or(&[]);
                let (line, is_crlf) = match line.strip_suffix(b"\r") {
                    Some(l) => (l, true),
                    None => (line, false),
                };
                if is_crlf {
                    crlf = true;
                } else {
                    lf = true;
                }
                out.push((line, is_crlf));
                rest = rest.get(i + 1..).unwrap_or(&[]);
            }
            None => {
                out.push((rest, false));
                break;
            }
        }
    }
    if lf {
        flags.push("LF_LINE");
    }
    if lf && crlf {
        flags.push("CRLF_LF_LINES");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CT: &[u8] = b"multipart/form-data; boundary=----b0und";

    fn body(parts: &str) -> Vec<u8> {
        parts.replace('\n', "\r\n").into_bytes()
    }

    #[test]
    fn fields_and_files_and_their_headers() {
        let b = body(
            "------b0und\nContent-Disposition: form-data; name=\"comment\"\n\nline one\nline two\n------b0und\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.php\"\nContent-Type: text/plain\n\n<?php ?>\n------b0und--\n",
        );
        let m = parse(CT, &b).unwrap();
        assert_eq!(
            m.args,
            vec![(b"comment".to_vec(), b"line one\r\nline two".to_vec())]
        );
        assert_eq!(m.files, vec![(b"upload".to_vec(), b"a.php".to_vec())]);
        assert_eq!(m.file_sizes, vec![8]);
        assert_eq!(m.part_headers.len(), 3);
        assert_eq!(
            m.part_headers[2],
            (b"upload".to_vec(), b"Content-Type: text/plain".to_vec())
        );
        assert!(m.flags.is_empty(), "{:?}", m.flags);
    }

    #[test]
    fn irregular_bodies_raise_flags_and_broken_ones_errors() {
        let lf = b"junk\n------b0und\nContent-Disposition: form-data; name=a filename=\"x\"\n\nv\n------b0und--\ntrailing";
        let m = parse(b"multipart/form-data; boundary=\"----b0und\"", lf).unwrap();
        for flag in [
            "BOUNDARY_QUOTED",
            "DATA_BEFORE",
            "DATA_AFTER",
            "LF_LINE",
            "MISSING_SEMICOLON",
            "STRICT_ERROR",
        ] {
            assert!(m.flags.contains(&flag), "{flag} in {:?}", m.flags);
        }
        assert!(parse(b"multipart/form-data", b"x")
            .unwrap_err()
            .contains("boundary"));
        let open = body("------b0und\nContent-Disposition: form-data; name=\"a\"\n\nv\n");
        assert!(parse(CT, &open).unwrap_err().contains("final boundary"));
        let nameless = body("------b0und\nContent-Disposition: form-data\n\nv\n------b0und--\n");
        assert!(parse(CT, &nameless).is_err());
    }

    proptest::proptest! {
        /// Any bytes after a valid start: an answer, never a panic, within the bounds.
        #[test]
        fn hostile_bodies_are_bounded(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut b = body("------b0und\nContent-Disposition: form-data; name=\"a\"\n\n");
            b.extend_from_slice(&tail);
            if let Ok(m) = parse(CT, &b) {
                proptest::prop_assert!(m.args.len() + m.files.len() <= MAX_PARTS);
            }
        }
    }
}
