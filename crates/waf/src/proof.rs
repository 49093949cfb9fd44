//! Proofs, made once when the rules load, that a rule cannot match any value made only of
//! certain bytes. Most values real visitors send are plain: digits (a phone), letters and
//! digits (an ID number), a token (`b7c1-…`), Chinese text (a name). For each of a few such
//! byte classes, a rule is proven unable to match when its transformations cannot take a value
//! of the class outside some set of bytes, and its operator cannot match anything made of that
//! set (an `@rx` whose every way to match needs a byte the set lacks, an `@pm` whose every
//! phrase does, …). A new value of the class then starts out with those rules already marked as
//! not matching, as if it had been seen before (see `clean`).
//!
//! Every step over-approximates: a transformation's output bytes are a superset of what it can
//! produce, a regex "can match" unless its syntax tree shows otherwise. So a proof may be
//! missed, never made wrongly. Negated rules (`!@rx`) are never proven: for them a miss is a
//! match.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::operators::Operator;
use crate::rule::{Rule, RuleOperator};
use crate::transform::Transformation;

/// A set of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes([u64; 4]);

impl Bytes {
    pub const NONE: Self = Self([0; 4]);
    pub const ALL: Self = Self([u64::MAX; 4]);

    /// The bytes of `ranges` (inclusive).
    #[expect(
        clippy::indexing_slicing,
        reason = "const: `i` stays below the length and a byte over 64 is below 4"
    )]
    pub const fn of_ranges(ranges: &[(u8, u8)]) -> Self {
        let mut words = [0u64; 4];
        let mut i = 0;
        while i < ranges.len() {
            let (low, high) = ranges[i];
            let mut b = low as usize;
            while b <= high as usize {
                words[b / 64] |= 1 << (b % 64);
                b += 1;
            }
            i += 1;
        }
        Self(words)
    }

    /// The bytes `value` holds.
    pub fn of(value: &[u8]) -> Self {
        let mut set = Self::NONE;
        for &b in value {
            set.insert(b);
        }
        set
    }

    pub fn insert(&mut self, b: u8) {
        if let Some(w) = self.0.get_mut(usize::from(b / 64)) {
            *w |= 1 << (b % 64);
        }
    }

    pub fn contains(self, b: u8) -> bool {
        self.0
            .get(usize::from(b / 64))
            .is_some_and(|w| w & (1 << (b % 64)) != 0)
    }

    pub fn union(self, other: Self) -> Self {
        let mut out = self;
        for (w, o) in out.0.iter_mut().zip(other.0) {
            *w |= o;
        }
        out
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0.iter().zip(other.0).all(|(w, o)| w & !o == 0)
    }

    fn any_in(self, low: u8, high: u8) -> bool {
        (low..=high).any(|b| self.contains(b))
    }

    fn map(self, f: impl Fn(u8) -> u8) -> Self {
        let mut out = Self::NONE;
        for b in 0..=255u8 {
            if self.contains(b) {
                out.insert(f(b));
            }
        }
        out
    }
}

const DIGITS: (u8, u8) = (b'0', b'9');
const UPPER: (u8, u8) = (b'A', b'Z');
const LOWER: (u8, u8) = (b'a', b'z');
const NON_ASCII: (u8, u8) = (0x80, 0xff);

/// The classes of plain values, each a set of bytes. A value belongs to every class that holds
/// all its bytes.
pub const CLASSES: [Bytes; 7] = [
    // A phone number, a count, an id.
    Bytes::of_ranges(&[DIGITS]),
    // An ID number (`11010519491231002X`), a hex token.
    Bytes::of_ranges(&[DIGITS, UPPER, LOWER]),
    // A key or a date (`b7c1d2e3-4f56-…`, `2026-12-01`, `v1.2`).
    Bytes::of_ranges(&[DIGITS, UPPER, LOWER, (b'-', b'.'), (b'_', b'_')]),
    // A bearer credential, words (`Bearer v1.…`).
    Bytes::of_ranges(&[
        DIGITS,
        UPPER,
        LOWER,
        (b'-', b'.'),
        (b'_', b'_'),
        (b' ', b' '),
    ]),
    // A name or label in Chinese (`张三`, `7排12座`).
    Bytes::of_ranges(&[DIGITS, UPPER, LOWER, NON_ASCII]),
    // Text in any script with words and keys.
    Bytes::of_ranges(&[
        DIGITS,
        UPPER,
        LOWER,
        NON_ASCII,
        (b'-', b'.'),
        (b'_', b'_'),
        (b' ', b' '),
    ]),
    // A time or a media type (`09:00-10:00`, `application/json`).
    Bytes::of_ranges(&[
        DIGITS,
        UPPER,
        LOWER,
        (b'-', b'/'),
        (b'_', b'_'),
        (b':', b':'),
    ]),
];

/// The classes `value` belongs to, one bit each.
pub fn classes_of(value: &[u8]) -> u8 {
    let bytes = Bytes::of(value);
    CLASSES
        .iter()
        .enumerate()
        .filter(|(_, class)| bytes.is_subset_of(**class))
        .fold(0, |mask, (i, _)| mask | (1 << i))
}

/// The bytes a transformation can give, for input made of `input`'s bytes.
fn after(t: Transformation, input: Bytes) -> Bytes {
    use Transformation as T;
    let decoded_when = |marker: u8| {
        if input.contains(marker) {
            Bytes::ALL
        } else {
            input
        }
    };
    let space = Bytes::of_ranges(&[(b' ', b' ')]);
    match t {
        T::Base64Decode | T::Sha1 => Bytes::ALL,
        T::CmdLine => input.map(|b| b.to_ascii_lowercase()).union(space),
        T::CompressWhitespace => input.union(space),
        T::CssDecode | T::EscapeSeqDecode | T::JsDecode => decoded_when(b'\\'),
        T::HtmlEntityDecode => decoded_when(b'&'),
        T::HexEncode => Bytes::of_ranges(&[DIGITS, (b'a', b'f'), (b'A', b'F')]),
        T::Length => Bytes::of_ranges(&[DIGITS]),
        T::Lowercase => input.map(|b| b.to_ascii_lowercase()),
        T::Uppercase => input.map(|b| b.to_ascii_uppercase()),
        T::NormalizePath | T::NormalizePathWin => input.union(Bytes::of_ranges(&[(b'/', b'/')])),
        T::RemoveCommentsChar | T::RemoveNulls | T::RemoveWhitespace | T::Trim => input,
        T::ReplaceComments => input.union(space),
        T::UrlDecode | T::UrlDecodeUni => {
            if input.contains(b'%') {
                Bytes::ALL
            } else if input.contains(b'+') {
                input.union(space)
            } else {
                input
            }
        }
        T::Utf8ToUnicode => {
            if input.any_in(0x80, 0xff) {
                input.union(Bytes::of_ranges(&[
                    (b'%', b'%'),
                    (b'u', b'u'),
                    DIGITS,
                    (b'a', b'f'),
                    (b'A', b'F'),
                ]))
            } else {
                input
            }
        }
    }
}

/// Whether the regex could match some text made only of `bytes` (true when unsure).
fn regex_can_match(hir: &Hir, bytes: Bytes) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(literal) => literal.0.iter().all(|&b| bytes.contains(b)),
        HirKind::Class(Class::Bytes(class)) => class
            .ranges()
            .iter()
            .any(|r| bytes.any_in(r.start(), r.end())),
        HirKind::Class(Class::Unicode(class)) => class.ranges().iter().any(|r| {
            let (start, end) = (u32::from(r.start()), u32::from(r.end()));
            // An ASCII character is its byte; any other is bytes of 0x80 and up.
            let ascii = start < 0x80
                && bytes.any_in(
                    u8::try_from(start).unwrap_or(0x7f),
                    u8::try_from(end.min(0x7f)).unwrap_or(0x7f),
                );
            ascii || (end >= 0x80 && bytes.any_in(0x80, 0xff))
        }),
        HirKind::Repetition(rep) => rep.min == 0 || regex_can_match(&rep.sub, bytes),
        HirKind::Capture(capture) => regex_can_match(&capture.sub, bytes),
        HirKind::Concat(parts) => parts.iter().all(|p| regex_can_match(p, bytes)),
        HirKind::Alternation(parts) => parts.iter().any(|p| regex_can_match(p, bytes)),
    }
}

/// The pattern's syntax tree, read as `operators` compiles it (bytes first, Unicode if needed).
fn syntax(pattern: &str) -> Option<Hir> {
    let parse = |unicode: bool| {
        regex_syntax::ParserBuilder::new()
            .unicode(unicode)
            .utf8(false)
            .dot_matches_new_line(true)
            .multi_line(true)
            .build()
            .parse(pattern)
            .ok()
    };
    parse(false).or_else(|| parse(true))
}

/// Whether `needle` could be found in text made only of `bytes`.
fn needle_fits(needle: &[u8], bytes: Bytes) -> bool {
    needle.iter().all(|&b| bytes.contains(b))
}

/// Whether `op` could match some text made only of `bytes` (true when unsure).
fn operator_can_match(op: &Operator, bytes: Bytes, tree: Option<&Hir>) -> bool {
    match op {
        Operator::Rx(_) => tree.is_none_or(|hir| regex_can_match(hir, bytes)),
        // Phrases compare without regard to ASCII case.
        Operator::Pm(_, phrases) => phrases.iter().any(|p| {
            p.iter().all(|&b| {
                bytes.contains(b)
                    || bytes.contains(b.to_ascii_lowercase())
                    || bytes.contains(b.to_ascii_uppercase())
            })
        }),
        Operator::BeginsWith(n)
        | Operator::Contains(n)
        | Operator::ContainsWord(n)
        | Operator::EndsWith(n)
        | Operator::Streq(n) => needle_fits(n, bytes),
        Operator::ValidateByteRange(allowed) => (0..=255u8)
            .any(|b| bytes.contains(b) && !allowed.get(usize::from(b)).copied().unwrap_or(false)),
        Operator::ValidateUrlEncoding => bytes.contains(b'%'),
        Operator::ValidateUtf8Encoding => bytes.any_in(0x80, 0xff),
        Operator::NoMatch => false,
        _ => true,
    }
}

/// The classes (one bit each) whose every value `rule` itself (not its chain) cannot match.
pub fn classes_never_matched(rule: &Rule) -> u8 {
    let RuleOperator::Compiled(op) = &rule.operator else {
        return 0;
    };
    if rule.negated {
        return 0;
    }
    let tree = match op {
        Operator::Rx(re) => match syntax(re.as_str()) {
            Some(hir) => Some(hir),
            None => return 0,
        },
        _ => None,
    };
    let mut proven = 0u8;
    for (i, class) in CLASSES.iter().enumerate() {
        let mut bytes = *class;
        // multiMatch tests the value at every step; otherwise only the last counts.
        let mut can = rule.multi_match && operator_can_match(op, bytes, tree.as_ref());
        for &t in &rule.transformations {
            bytes = after(t, bytes);
            if rule.multi_match {
                can = can || operator_can_match(op, bytes, tree.as_ref());
            }
        }
        if !rule.multi_match {
            can = operator_can_match(op, bytes, tree.as_ref());
        }
        if !can {
            proven |= 1 << i;
        }
    }
    proven
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ruleset::Loader;

    fn proven(rule: &str) -> u8 {
        let mut l = Loader::new();
        l.text(rule, "t.conf", std::path::Path::new(".")).unwrap();
        let set = l.finish().unwrap();
        let rule = set.rules().next().unwrap();
        classes_never_matched(rule)
    }

    #[test]
    fn values_belong_to_the_classes_holding_their_bytes() {
        assert_eq!(classes_of(b"13812345678"), 0b111_1111);
        assert_eq!(classes_of(b"11010519491231002X") & 1, 0);
        assert_ne!(classes_of(b"11010519491231002X") & 0b10, 0);
        assert_eq!(classes_of("张三".as_bytes()), 0b011_0000);
        assert_eq!(classes_of(b"a<b"), 0);
    }

    #[test]
    fn proofs_follow_the_operator_and_the_transformations() {
        // Needs a quote: nothing plain can match, whatever the transformations keep.
        assert_eq!(
            proven(r#"SecRule ARGS "@rx ['\"]\s*or" "id:1,phase:2,t:none,t:lowercase""#),
            0b111_1111
        );
        // A URL decode can make a quote of a plain value only with a `%`: still proven.
        assert_eq!(
            proven(r#"SecRule ARGS "@rx '" "id:1,phase:2,t:none,t:urlDecodeUni""#),
            0b111_1111
        );
        // Chinese text through utf8toUnicode and urlDecodeUni can become anything.
        let p =
            proven(r#"SecRule ARGS "@rx '" "id:1,phase:2,t:none,t:utf8toUnicode,t:urlDecodeUni""#);
        assert_eq!(p & 0b011_0000, 0, "{p:b}");
        assert_eq!(p & 0b000_0001, 1);
        // Matches letters: no proof for classes with letters; digits are proven.
        assert_eq!(
            proven(r#"SecRule ARGS "@rx (?i)select" "id:1,phase:2""#),
            0b000_0001
        );
        // Can match the empty string: never proven.
        assert_eq!(proven(r#"SecRule ARGS "@rx x*" "id:1,phase:2""#), 0);
        // Negated: a miss is a match.
        assert_eq!(proven(r#"SecRule ARGS "!@rx '" "id:1,phase:2""#), 0);
        // Phrases ignore case; a byte range proves what it allows.
        assert_eq!(
            proven(r#"SecRule ARGS "@pm <script onerror=" "id:1,phase:2""#),
            0b111_1111
        );
        assert_eq!(
            proven(r#"SecRule ARGS "@pm SELECT" "id:1,phase:2""#),
            0b000_0001
        );
        assert_eq!(
            proven(r#"SecRule ARGS "@validateByteRange 1-255" "id:1,phase:2""#),
            0b111_1111
        );
        assert_eq!(
            proven(r#"SecRule ARGS "@validateByteRange 32-126" "id:1,phase:2""#),
            0b100_1111
        );
        // libinjection is not analysed.
        assert_eq!(proven(r#"SecRule ARGS "@detectXSS" "id:1,phase:2""#), 0);
    }
}
