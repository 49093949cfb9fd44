//! Operators: what a rule tests each (transformed) value with. Compiled once when the rules
//! load — regular expressions, phrase automatons, byte tables, networks — so a request only
//! runs them. Semantics follow ModSecurity v3, which the CRS regression suite expects: `@rx` is
//! a byte-oriented regular expression with `.` matching newlines and `^`/`$` at line ends
//! (RE2-class, by the `regex` crate: no backtracking, linear time on any input); `@pm` matches
//! phrases without regard to case; numbers compare as C's `atoi` reads them.
//!
//! An operator whose argument holds a macro (`@ge %{tx.threshold}`) is compiled when the rule
//! runs, from the expanded text; see [`Operator::needs_expansion`].

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

use crate::libinjection::SqliData;

/// The most bytes of a regular expression's compiled program (the CRS's largest need a few MB).
const REGEX_SIZE_LIMIT: usize = 64 << 20;

/// A compiled operator.
#[derive(Debug, Clone)]
pub enum Operator {
    Rx(Regex),
    /// The automaton, and its phrases (for the proofs made at load).
    Pm(AhoCorasick, Vec<Vec<u8>>),
    BeginsWith(Vec<u8>),
    Contains(Vec<u8>),
    ContainsWord(Vec<u8>),
    EndsWith(Vec<u8>),
    Streq(Vec<u8>),
    Within(Vec<u8>),
    Eq(i64),
    Ge(i64),
    Gt(i64),
    Le(i64),
    Lt(i64),
    /// Matches when a byte falls outside the allowed ranges.
    ValidateByteRange(Box<[bool; 256]>),
    /// Matches an invalid percent-encoding.
    ValidateUrlEncoding,
    /// Matches bytes that are not valid UTF-8.
    ValidateUtf8Encoding,
    IpMatch(Vec<ipnet::IpNet>),
    UnconditionalMatch,
    NoMatch,
    /// libinjection's SQL injection detection; captures the fingerprint.
    DetectSqli(std::sync::Arc<SqliData>),
    /// libinjection's XSS detection.
    DetectXss,
}

/// What compiling an operator may need besides its argument.
pub struct Resources<'a> {
    /// Reads a data file (`@pmFromFile`) by name.
    pub read_data: &'a dyn Fn(&str) -> Result<String, String>,
    /// libinjection's tables, for `@detectSQLi`.
    pub sqli: Option<&'a std::sync::Arc<SqliData>>,
}

/// What matched, for `capture` (TX.0 … TX.9) and `MATCHED_VAR`-style logging.
pub type Captures = Vec<Vec<u8>>;

impl Operator {
    /// Whether the operator's argument must be expanded per transaction first.
    pub fn needs_expansion(argument: &str) -> bool {
        argument.contains("%{")
    }

    /// Compiles operator `name` with its (expanded) `argument`. `read_data` reads a
    /// `@pmFromFile` list by its file name.
    pub fn compile(
        name: &str,
        argument: &str,
        read_data: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Self, String> {
        Self::compile_with(
            name,
            argument,
            &Resources {
                read_data,
                sqli: None,
            },
        )
    }

    /// [`Operator::compile`] with everything operators may need (libinjection's data).
    pub fn compile_with(name: &str, argument: &str, res: &Resources<'_>) -> Result<Self, String> {
        let read_data = res.read_data;
        let bytes = || argument.as_bytes().to_vec();
        let op = match name {
            "detectXSS" => Operator::DetectXss,
            "detectSQLi" => Operator::DetectSqli(
                res.sqli
                    .cloned()
                    .ok_or("@detectSQLi needs libinjection's data (waf.libinjection_dir)")?,
            ),
            "rx" => Operator::Rx(regex(argument)?),
            "pm" => phrases(argument.split_whitespace())?,
            "pmFromFile" | "pmf" => {
                let mut all = Vec::new();
                for file in argument.split_whitespace() {
                    all.push(read_data(file)?);
                }
                phrases(all.iter().flat_map(|text| {
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                }))?
            }
            "beginsWith" => Operator::BeginsWith(bytes()),
            "contains" => Operator::Contains(bytes()),
            "containsWord" => Operator::ContainsWord(bytes()),
            "endsWith" => Operator::EndsWith(bytes()),
            "streq" => Operator::Streq(bytes()),
            "within" => Operator::Within(bytes()),
            "eq" => Operator::Eq(atoi(argument.as_bytes())),
            "ge" => Operator::Ge(atoi(argument.as_bytes())),
            "gt" => Operator::Gt(atoi(argument.as_bytes())),
            "le" => Operator::Le(atoi(argument.as_bytes())),
            "lt" => Operator::Lt(atoi(argument.as_bytes())),
            "validateByteRange" => Operator::ValidateByteRange(byte_ranges(argument)?),
            "validateUrlEncoding" => Operator::ValidateUrlEncoding,
            "validateUtf8Encoding" => Operator::ValidateUtf8Encoding,
            "ipMatch" => Operator::IpMatch(networks(argument)?),
            "unconditionalMatch" => Operator::UnconditionalMatch,
            "noMatch" => Operator::NoMatch,
            other => return Err(format!("operator @{other} is not supported")),
        };
        Ok(op)
    }

    /// Tests `value`. When it matches and `captures` is given, fills it (the whole match first,
    /// then a regular expression's groups, at most ten in all).
    pub fn matches(&self, value: &[u8], captures: Option<&mut Captures>) -> bool {
        match self {
            Operator::Rx(re) => match captures {
                None => re.is_match(value),
                // Most values do not match: the cheap search first, groups only for a match.
                Some(_) if !re.is_match(value) => false,
                Some(out) => match re.captures(value) {
                    None => false,
                    Some(caps) => {
                        out.clear();
                        out.extend(
                            caps.iter()
                                .take(10)
                                .map(|m| m.map_or_else(Vec::new, |m| m.as_bytes().to_vec())),
                        );
                        true
                    }
                },
            },
            Operator::Pm(ac, _) => match ac.find(value) {
                None => false,
                Some(m) => {
                    if let Some(out) = captures {
                        out.clear();
                        out.push(value.get(m.range()).unwrap_or(&[]).to_vec());
                    }
                    true
                }
            },
            Operator::BeginsWith(p) => value.starts_with(p),
            Operator::Contains(p) => find(value, p).is_some(),
            Operator::ContainsWord(p) => contains_word(value, p),
            Operator::EndsWith(p) => value.ends_with(p),
            Operator::Streq(p) => value == p.as_slice(),
            Operator::Within(haystack) => find(haystack, value).is_some(),
            Operator::Eq(n) => atoi(value) == *n,
            Operator::Ge(n) => atoi(value) >= *n,
            Operator::Gt(n) => atoi(value) > *n,
            Operator::Le(n) => atoi(value) <= *n,
            Operator::Lt(n) => atoi(value) < *n,
            Operator::ValidateByteRange(allowed) => value
                .iter()
                .any(|&b| !allowed.get(usize::from(b)).copied().unwrap_or(false)),
            Operator::ValidateUrlEncoding => invalid_url_encoding(value),
            Operator::ValidateUtf8Encoding => std::str::from_utf8(value).is_err(),
            Operator::IpMatch(nets) => std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse::<std::net::IpAddr>().ok())
                .is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
            Operator::UnconditionalMatch => true,
            Operator::NoMatch => false,
            Operator::DetectXss => {
                let hit = crate::libinjection::detect_xss(value);
                if hit {
                    if let Some(out) = captures {
                        out.clear();
                        out.push(value.to_vec());
                    }
                }
                hit
            }
            Operator::DetectSqli(data) => match crate::libinjection::detect_sqli(value, data) {
                None => false,
                Some(fingerprint) => {
                    if let Some(out) = captures {
                        out.clear();
                        out.push(fingerprint);
                    }
                    true
                }
            },
        }
    }
}

/// PCRE without UTF mode reads `\x{e2}` as the byte 0xE2; the `regex` crate reads the braced
/// form as a code point (so U+00E2, two bytes in UTF-8). Up to 0xFF the braces are dropped.
fn byte_escapes(pattern: &str) -> std::borrow::Cow<'_, str> {
    if !pattern.contains("\\x{") {
        return std::borrow::Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('x') if chars.peek() == Some(&'{') => {
                let rest: String = chars.clone().skip(1).take_while(|d| *d != '}').collect();
                let short =
                    (1..=2).contains(&rest.len()) && rest.chars().all(|d| d.is_ascii_hexdigit());
                if short {
                    out.push_str("\\x");
                    if rest.len() == 1 {
                        out.push('0');
                    }
                    out.push_str(&rest);
                    for _ in 0..rest.len() + 2 {
                        chars.next();
                    }
                } else {
                    out.push_str("\\x");
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn regex(pattern: &str) -> Result<Regex, String> {
    let pattern = &*byte_escapes(pattern);
    let build = |unicode: bool| {
        RegexBuilder::new(pattern)
            .dot_matches_new_line(true)
            .multi_line(true)
            .unicode(unicode)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT / 4)
            .build()
    };
    // Bytes first, as PCRE without UTF mode reads them; a pattern that needs Unicode classes
    // gets them.
    build(false)
        .or_else(|_| build(true))
        .map_err(|e| format!("@rx does not compile: {e}"))
}

fn phrases<'a>(list: impl Iterator<Item = &'a str>) -> Result<Operator, String> {
    let list: Vec<&str> = list.collect();
    if list.is_empty() {
        return Err("@pm needs at least one phrase".into());
    }
    let automaton = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostFirst)
        .build(&list)
        .map_err(|e| format!("@pm does not build: {e}"))?;
    Ok(Operator::Pm(
        automaton,
        list.iter().map(|p| p.as_bytes().to_vec()).collect(),
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    memchr::memmem::find(haystack, needle)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn contains_word(value: &[u8], word: &[u8]) -> bool {
    if word.is_empty() {
        return true;
    }
    let mut from = 0;
    while let Some(at) = value.get(from..).and_then(|rest| find(rest, word)) {
        let start = from + at;
        let end = start + word.len();
        let before = start == 0 || value.get(start - 1).is_some_and(|&b| !is_word(b));
        let after = value.get(end).is_none_or(|&b| !is_word(b));
        if before && after {
            return true;
        }
        from = start + 1;
    }
    false
}

/// C's `atoi`: leading white space, a sign, digits; anything else ends it (no digits: 0).
pub fn atoi(text: &[u8]) -> i64 {
    let mut bytes = text
        .iter()
        .skip_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .peekable();
    let negative = match bytes.peek() {
        Some(b'-') => {
            bytes.next();
            true
        }
        Some(b'+') => {
            bytes.next();
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    for b in bytes.take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative {
        -n
    } else {
        n
    }
}

fn byte_ranges(argument: &str) -> Result<Box<[bool; 256]>, String> {
    let mut allowed = Box::new([false; 256]);
    for part in argument.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<u8>()
                .map_err(|_| format!("@validateByteRange: {part:?} is not a byte or range"))
        };
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if from > to {
            return Err(format!("@validateByteRange: {part:?} is an empty range"));
        }
        for b in from..=to {
            if let Some(slot) = allowed.get_mut(usize::from(b)) {
                *slot = true;
            }
        }
    }
    Ok(allowed)
}

fn invalid_url_encoding(value: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&c) = value.get(i) {
        if c == b'%' {
            let ok = value
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

fn networks(argument: &str) -> Result<Vec<ipnet::IpNet>, String> {
    argument
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("@ipMatch: {s:?} is not an address or network"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn op(name: &str, arg: &str) -> Operator {
        Operator::compile(name, arg, &|f| match f {
            "words.data" => Ok("# a comment\n\nselect\nunion all\n".into()),
            _ => Err(format!("no file {f}")),
        })
        .unwrap()
    }

    #[test]
    fn rx_reads_bytes_across_lines_and_captures() {
        let rx = op("rx", "(?i)^(union)\\s+select");
        let mut caps = Vec::new();
        assert!(rx.matches(b"x\nUNION  SELECT", Some(&mut caps)));
        assert_eq!(caps, vec![b"UNION  SELECT".to_vec(), b"UNION".to_vec()]);
        assert!(
            op("rx", "a.b").matches(b"a\nb", None),
            "dot matches newline"
        );
        assert!(
            op("rx", "[\\x80-\\xff]").matches(&[0x41, 0xe9], None),
            "bytes, not chars"
        );
        assert!(Operator::compile("rx", "(", &|_| Err(String::new())).is_err());
        // PCRE's byte escapes: \x{e2}\x80\x99 is U+2019 in UTF-8, byte by byte.
        let quote = op("rx", r"\x{e2}\x80[\x98\x99]");
        assert!(quote.matches("1\u{2019}".as_bytes(), None));
        assert!(
            !op("rx", r"\x{e2}").matches("\u{e2}".as_bytes(), None),
            "a byte, not a code point"
        );
        assert!(
            op("rx", r"\\x\{e2\}").matches(br"\x{e2}", None),
            "escaped backslashes stay"
        );
        assert_eq!(
            byte_escapes(r"a\x{2019}"),
            r"a\x{2019}",
            "code points above 0xFF stay"
        );
    }

    #[test]
    fn phrases_ignore_case_and_come_from_files() {
        let pm = op("pm", "select insert");
        let mut caps = Vec::new();
        assert!(pm.matches(b"a SeLeCt b", Some(&mut caps)));
        assert_eq!(caps, vec![b"SeLeCt".to_vec()]);
        let file = op("pmFromFile", "words.data");
        assert!(file.matches(b"1 UNION ALL 2", None));
        assert!(
            !file.matches(b"# a comment", None),
            "comments are not phrases"
        );
        assert!(Operator::compile("pmFromFile", "missing.data", &|f| Err(f.into())).is_err());
    }

    #[test]
    fn strings_numbers_and_bytes() {
        assert!(op("within", "GET HEAD POST").matches(b"HEAD", None));
        assert!(!op("within", "GET HEAD POST").matches(b"PUT", None));
        assert!(op("containsWord", "exec").matches(b"x; exec(1)", None));
        assert!(!op("containsWord", "exec").matches(b"execute", None));
        assert!(op("eq", "0").matches(b"", None), "no number reads as 0");
        assert!(op("ge", "5").matches(b" 7abc", None));
        assert!(op("lt", "-1").matches(b"-2", None));
        let range = op("validateByteRange", "9,10,13,32-126");
        assert!(!range.matches(b"plain text\r\n", None));
        assert!(range.matches(&[0x41, 0x00], None));
        assert!(op("validateUrlEncoding", "").matches(b"a%2", None));
        assert!(!op("validateUrlEncoding", "").matches(b"a%2F", None));
        assert!(
            op("validateUtf8Encoding", "").matches(&[0xc0, 0xaf], None),
            "overlong"
        );
        assert!(op("ipMatch", "10.0.0.0/8,192.168.1.1,::1").matches(b"10.2.3.4", None));
        assert!(!op("ipMatch", "10.0.0.0/8").matches(b"11.0.0.1", None));
        assert!(Operator::compile("validateByteRange", "9-1", &|_| Err(String::new())).is_err());
        assert!(Operator::needs_expansion("%{tx.threshold}"));
    }
}
