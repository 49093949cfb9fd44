//! Member selectors written as regular expressions (`TX:/^header_name_920450_/`,
//! `TX:/MULTIPART_HEADERS_CONTENT_TYPES_*/`), as they run. They are tried on every member of a
//! collection — a TX selector on every one of the hundred-odd CRS variables — and most are a
//! plain word, anchored at the start or not, so an ASCII name is compared directly; anything
//! else (a non-ASCII name, a pattern with more than a word) goes to the compiled expression.
//! Names compare without regard to case, as ModSecurity's do.

use regex_syntax::hir::{HirKind, Look};

/// How a plain pattern is tried on an ASCII name.
#[derive(Debug, Clone)]
enum Plain {
    /// `^word`.
    Prefix(Box<[u8]>),
    /// `word`.
    Contains(Box<[u8]>),
}

/// A compiled `/regex/` selector.
#[derive(Debug, Clone)]
pub struct NamePattern {
    plain: Option<Plain>,
    regex: regex::bytes::Regex,
}

impl NamePattern {
    /// Compiles `pattern` (case-insensitive).
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        let regex = regex::bytes::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()?;
        Ok(Self {
            plain: plain(pattern),
            regex,
        })
    }

    /// Whether the member name `name` is selected.
    pub fn is_match(&self, name: &[u8]) -> bool {
        match &self.plain {
            // Case-insensitive matching of an ASCII word differs from ASCII case folding only
            // on non-ASCII text (the Kelvin sign matches `k`), so only ASCII names go here.
            Some(Plain::Prefix(word)) if name.is_ascii() => name
                .get(..word.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(word)),
            Some(Plain::Contains(word)) if name.is_ascii() => name
                .windows(word.len())
                .any(|w| w.eq_ignore_ascii_case(word)),
            _ => self.regex.is_match(name),
        }
    }
}

/// The word a pattern is, when it is one: an ASCII literal, perhaps anchored at the start,
/// perhaps followed by repetitions that may match nothing (which cannot change whether an
/// unanchored search finds a match).
fn plain(pattern: &str) -> Option<Plain> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let parts: Vec<&regex_syntax::hir::Hir> = match hir.kind() {
        HirKind::Concat(parts) => parts.iter().collect(),
        _ => vec![&hir],
    };
    let (anchored, rest) = match parts.split_first() {
        Some((first, rest)) if matches!(first.kind(), HirKind::Look(Look::Start)) => (true, rest),
        _ => (false, &parts[..]),
    };
    let (word, tail) = rest.split_first()?;
    let HirKind::Literal(literal) = word.kind() else {
        return None;
    };
    let optional =
        |h: &&regex_syntax::hir::Hir| matches!(h.kind(), HirKind::Repetition(r) if r.min == 0);
    if literal.0.is_empty() || !literal.0.is_ascii() || !tail.iter().all(optional) {
        return None;
    }
    let word = literal.0.clone();
    Some(if anchored {
        Plain::Prefix(word)
    } else {
        Plain::Contains(word)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_words_are_compared_directly_and_answer_as_the_regex_does() {
        let patterns = [
            "^header_name_920450_",
            "MULTIPART_HEADERS_CONTENT_TYPES_*",
            "^__utm",
            "session",
            "^Sess",
            "^x-(forwarded|real)",
            "id$",
            "^$",
            "k",
            "^[a-z]+_id",
            "ſ",
        ];
        let names: [&[u8]; 14] = [
            b"header_name_920450_host",
            b"HEADER_NAME_920450_X",
            b"x_header_name_920450_",
            b"multipart_headers_content_types_0",
            b"MULTIPART_HEADERS_CONTENT_TYPE",
            b"__utmz",
            b"my_session",
            b"Session",
            b"x-forwarded-for",
            b"slot_id",
            b"",
            "\u{212a}ey".as_bytes(),
            "\u{17f}ession".as_bytes(),
            b"K",
        ];
        let mut plain_seen = 0;
        for p in patterns {
            let compiled = NamePattern::new(p).unwrap();
            plain_seen += usize::from(compiled.plain.is_some());
            let regex = regex::bytes::RegexBuilder::new(p)
                .case_insensitive(true)
                .build()
                .unwrap();
            for n in names {
                assert_eq!(
                    compiled.is_match(n),
                    regex.is_match(n),
                    "/{p}/ on {:?}",
                    String::from_utf8_lossy(n)
                );
            }
        }
        // The CRS's two kinds, a prefix and a word with an optional tail, take the fast path.
        assert!(matches!(
            NamePattern::new("^header_name_920450_").unwrap().plain,
            Some(Plain::Prefix(_))
        ));
        assert!(matches!(
            NamePattern::new("MULTIPART_HEADERS_CONTENT_TYPES_*").unwrap().plain,
            Some(Plain::Contains(ref w)) if &**w == b"MULTIPART_HEADERS_CONTENT_TYPES"
        ));
        assert!(NamePattern::new("^[a-z]+_id").unwrap().plain.is_none());
        assert!(NamePattern::new("id$").unwrap().plain.is_none());
        assert!(plain_seen >= 5, "{plain_seen}");
    }
}
