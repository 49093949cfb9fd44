//! Transformations (`t:…`): what a value goes through before the operator sees it. They work on
//! bytes, because attacks arrive as invalid UTF-8 and broken encodings on purpose, and each
//! follows ModSecurity v3's behaviour (which the CRS regression suite was written against):
//! an encoding that does not decode is left as it is, never an error.

use std::borrow::Cow;

/// A transformation, by its SecLang name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformation {
    Base64Decode,
    CmdLine,
    CompressWhitespace,
    CssDecode,
    EscapeSeqDecode,
    HexEncode,
    HtmlEntityDecode,
    JsDecode,
    Length,
    Lowercase,
    NormalizePath,
    NormalizePathWin,
    RemoveCommentsChar,
    RemoveNulls,
    RemoveWhitespace,
    ReplaceComments,
    Sha1,
    Trim,
    UrlDecode,
    UrlDecodeUni,
    Uppercase,
    Utf8ToUnicode,
}

impl Transformation {
    /// The transformation a `t:` action names; `None` for `t:none` (which clears the list).
    pub fn named(name: &str) -> Result<Option<Self>, String> {
        use Transformation::*;
        let t = match name.to_ascii_lowercase().as_str() {
            "none" => return Ok(None),
            "base64decode" => Base64Decode,
            "cmdline" => CmdLine,
            "compresswhitespace" => CompressWhitespace,
            "cssdecode" => CssDecode,
            "escapeseqdecode" => EscapeSeqDecode,
            "hexencode" => HexEncode,
            "htmlentitydecode" => HtmlEntityDecode,
            "jsdecode" => JsDecode,
            "length" => Length,
            "lowercase" => Lowercase,
            "normalizepath" | "normalisepath" => NormalizePath,
            "normalizepathwin" | "normalisepathwin" => NormalizePathWin,
            "removecommentschar" => RemoveCommentsChar,
            "removenulls" => RemoveNulls,
            "removewhitespace" => RemoveWhitespace,
            "replacecomments" => ReplaceComments,
            "sha1" => Sha1,
            "trim" => Trim,
            "urldecode" => UrlDecode,
            "urldecodeuni" => UrlDecodeUni,
            "uppercase" => Uppercase,
            "utf8tounicode" => Utf8ToUnicode,
            _ => return Err(format!("unknown transformation t:{name}")),
        };
        Ok(Some(t))
    }

    /// Applies the transformation; borrows the input when nothing changes.
    pub fn apply<'a>(self, input: &'a [u8]) -> Cow<'a, [u8]> {
        use Transformation::*;
        match self {
            Base64Decode => Cow::Owned(base64_decode(input)),
            CmdLine => Cow::Owned(cmd_line(input)),
            CompressWhitespace => compress_whitespace(input),
            CssDecode => when_present(input, b'\\', css_decode),
            EscapeSeqDecode => when_present(input, b'\\', |v| backslash_decode(v, false)),
            HexEncode => Cow::Owned(hex(input).into_bytes()),
            HtmlEntityDecode => when_present(input, b'&', html_entity_decode),
            JsDecode => when_present(input, b'\\', |v| backslash_decode(v, true)),
            Length => Cow::Owned(input.len().to_string().into_bytes()),
            Lowercase => lowercase(input),
            NormalizePath => Cow::Owned(normalize_path(input)),
            NormalizePathWin => {
                let slashed: Vec<u8> = input
                    .iter()
                    .map(|&b| if b == b'\\' { b'/' } else { b })
                    .collect();
                Cow::Owned(normalize_path(&slashed))
            }
            RemoveCommentsChar => Cow::Owned(remove_comments_char(input)),
            RemoveNulls => filtered(input, |b| b != 0),
            RemoveWhitespace => filtered(input, |b| !is_space(b)),
            ReplaceComments => when_present(input, b'/', replace_comments),
            Sha1 => {
                use sha1::Digest;
                Cow::Owned(sha1::Sha1::digest(input).to_vec())
            }
            Trim => Cow::Borrowed(trim(input)),
            UrlDecode => when_present2(input, b'%', b'+', |i| url_decode(i, false)),
            UrlDecodeUni => when_present2(input, b'%', b'+', |i| url_decode(i, true)),
            Uppercase => {
                if input.iter().any(u8::is_ascii_lowercase) {
                    Cow::Owned(input.to_ascii_uppercase())
                } else {
                    Cow::Borrowed(input)
                }
            }
            Utf8ToUnicode => {
                if input.is_ascii() {
                    Cow::Borrowed(input)
                } else {
                    Cow::Owned(utf8_to_unicode(input))
                }
            }
        }
    }
}

fn when_present<'a>(input: &'a [u8], marker: u8, f: fn(&[u8]) -> Vec<u8>) -> Cow<'a, [u8]> {
    if input.contains(&marker) {
        Cow::Owned(f(input))
    } else {
        Cow::Borrowed(input)
    }
}

fn when_present2<'a>(input: &'a [u8], a: u8, b: u8, f: impl Fn(&[u8]) -> Vec<u8>) -> Cow<'a, [u8]> {
    if input.iter().any(|&c| c == a || c == b) {
        Cow::Owned(f(input))
    } else {
        Cow::Borrowed(input)
    }
}

fn filtered(input: &[u8], keep: impl Fn(u8) -> bool) -> Cow<'_, [u8]> {
    if input.iter().all(|&b| keep(b)) {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(input.iter().copied().filter(|&b| keep(b)).collect())
    }
}

/// C's `isspace` in the "C" locale, plus the no-break space ModSecurity also treats as space.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0)
}

fn lowercase(input: &[u8]) -> Cow<'_, [u8]> {
    if input.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(input.to_ascii_lowercase())
    } else {
        Cow::Borrowed(input)
    }
}

fn trim(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(input.len());
    let end = input
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    input.get(start..end).unwrap_or(&[])
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Two hex digits at `at`, as a byte.
fn hex_pair(input: &[u8], at: usize) -> Option<u8> {
    let hi = hex_value(*input.get(at)?)?;
    let lo = hex_value(*input.get(at + 1)?)?;
    Some(hi << 4 | lo)
}

fn hex(input: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(input.len() * 2);
    for b in input {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A `%uHHHH` or `\uHHHH` code as ModSecurity reduces it to a byte (no unicode map): the low
/// byte, except that full-width ASCII (U+FF01–U+FF5E) becomes the ASCII character.
fn unicode_byte(input: &[u8], at: usize) -> Option<u8> {
    let high = hex_pair(input, at)?;
    let low = hex_pair(input, at + 2)?;
    if high == 0xff && low > 0x00 && low < 0x5f {
        Some(low + 0x20)
    } else {
        Some(low)
    }
}

fn url_decode(input: &[u8], unicode: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            b'%' => {
                let u = input.get(i + 1).is_some_and(|&b| b == b'u' || b == b'U');
                if unicode && u {
                    if let Some(b) = unicode_byte(input, i + 2) {
                        out.push(b);
                        i += 6;
                        continue;
                    }
                } else if let Some(b) = hex_pair(input, i + 1) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
                i += 1;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn html_entity_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'&' {
            out.push(c);
            i += 1;
            continue;
        }
        if let Some((byte, used)) = entity(input, i + 1) {
            out.push(byte);
            i = i + 1 + used;
        } else {
            out.push(b'&');
            i += 1;
        }
    }
    out
}

/// The entity after an `&` at `at`: its byte and how many bytes it took (its `;` included).
fn entity(input: &[u8], at: usize) -> Option<(u8, usize)> {
    let rest = input.get(at..)?;
    let with_semicolon = |len: usize| len + usize::from(rest.get(len) == Some(&b';'));
    if rest.first() == Some(&b'#') {
        let hex_form = rest.get(1).is_some_and(|&b| b == b'x' || b == b'X');
        let start = if hex_form { 2 } else { 1 };
        let digits = rest
            .get(start..)?
            .iter()
            .take_while(|&&b| {
                if hex_form {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(rest.get(start..start + digits)?).ok()?;
        let radix = if hex_form { 16 } else { 10 };
        // As C's strtol then a cast to a byte: only the low byte counts.
        let value = text.bytes().fold(0u64, |acc, d| {
            acc.wrapping_mul(radix)
                .wrapping_add(u64::from(hex_value(d).unwrap_or(0)))
        });
        return Some(((value & 0xff) as u8, with_semicolon(start + digits)));
    }
    let name_len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let name = rest.get(..name_len)?;
    let byte = match name.to_ascii_lowercase().as_slice() {
        b"quot" => b'"',
        b"amp" => b'&',
        b"lt" => b'<',
        b"gt" => b'>',
        b"nbsp" => 0xa0,
        _ => return None,
    };
    Some((byte, with_semicolon(name_len)))
}

/// Backslash escapes as JavaScript (`javascript`: also `\uHHHH`, and any other escaped character
/// stands for itself) or as ANSI C (only the escapes C knows; otherwise the backslash stays).
fn backslash_decode(input: &[u8], javascript: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match input.get(i + 1).copied() {
            Some(b'u')
                if javascript
                    && input
                        .get(i + 2..i + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
            {
                out.push(unicode_byte(input, i + 2).unwrap_or(0));
                i += 6;
            }
            Some(b'x') if hex_pair(input, i + 2).is_some() => {
                out.push(hex_pair(input, i + 2).unwrap_or(0));
                i += 4;
            }
            Some(b'0'..=b'7') => {
                let (value, used) = octal(input, i + 1);
                out.push(value);
                i += 1 + used;
            }
            Some(n @ (b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v')) => {
                out.push(match n {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    _ => 0x0b,
                });
                i += 2;
            }
            Some(n) if javascript || matches!(n, b'\\' | b'?' | b'\'' | b'"') => {
                out.push(n);
                i += 2;
            }
            _ => {
                // A trailing backslash, or an escape C does not know: the backslash stays.
                out.push(b'\\');
                i += 1;
            }
        }
    }
    out
}

/// Up to three octal digits at `at` (a value over 0377 takes only two): the byte and digits used.
fn octal(input: &[u8], at: usize) -> (u8, usize) {
    let digits: Vec<u8> = input
        .get(at..)
        .unwrap_or(&[])
        .iter()
        .take(3)
        .take_while(|b| (b'0'..=b'7').contains(b))
        .map(|b| b - b'0')
        .collect();
    let value = |ds: &[u8]| ds.iter().fold(0u32, |acc, &d| acc * 8 + u32::from(d));
    let mut used = digits.len();
    if used == 3 && value(&digits) > 0o377 {
        used = 2;
    }
    let v = value(digits.get(..used).unwrap_or(&[]));
    ((v & 0xff) as u8, used)
}

fn css_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&next) = input.get(i + 1) else {
            // A lone backslash at the end is dropped.
            i += 1;
            continue;
        };
        let digits = input
            .get(i + 1..)
            .unwrap_or(&[])
            .iter()
            .take(6)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if digits > 0 {
            let hex_digits = input.get(i + 1..i + 1 + digits).unwrap_or(&[]);
            // The last two digits give the byte; full-width ASCII (FF01–FF5E) becomes ASCII.
            let low = if digits >= 2 {
                hex_pair(hex_digits, digits - 2).unwrap_or(0)
            } else {
                hex_value(*hex_digits.first().unwrap_or(&b'0')).unwrap_or(0)
            };
            let full_width = digits >= 4
                && hex_digits
                    .get(digits - 4..digits - 2)
                    .is_some_and(|h| h.eq_ignore_ascii_case(b"ff"))
                && hex_digits
                    .get(..digits - 4)
                    .is_some_and(|lead| lead.iter().all(|&d| d == b'0'))
                && low > 0x00
                && low < 0x5f;
            out.push(if full_width { low + 0x20 } else { low });
            i += 1 + digits;
            // One white-space character after a hex escape belongs to it.
            if input
                .get(i)
                .is_some_and(|&b| b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' || b == 0x0c)
            {
                i += 1;
            }
        } else if next == b'\n' {
            // An escaped newline is a line continuation: both go.
            i += 2;
        } else {
            out.push(next);
            i += 2;
        }
    }
    out
}

fn cmd_line(input: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut space = false;
    for &c in input {
        match c {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b' ' | b'\t' | b'\n' | b'\r' | b',' | b';' => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
            b'/' | b'(' => {
                // Spaces before a slash or a parenthesis go.
                if space {
                    out.pop();
                }
                space = false;
                out.push(c);
            }
            _ => {
                out.push(c.to_ascii_lowercase());
                space = false;
            }
        }
    }
    out
}

fn compress_whitespace(input: &[u8]) -> Cow<'_, [u8]> {
    let needs = input
        .windows(2)
        .any(|w| matches!(w, [a, b] if is_space(*a) && is_space(*b)))
        || input.iter().any(|&b| is_space(b) && b != b' ');
    if !needs {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut in_space = false;
    for &c in input {
        if is_space(c) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    Cow::Owned(out)
}

fn replace_comments(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'/' && input.get(i + 1) == Some(&b'*') {
            // Through the closing `*/`, or to the end when it never closes: one space.
            let close = input
                .get(i + 2..)
                .unwrap_or(&[])
                .windows(2)
                .position(|w| w == b"*/");
            out.push(b' ');
            match close {
                Some(at) => i = i + 2 + at + 2,
                None => break,
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn remove_comments_char(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        let next = input.get(i + 1).copied();
        match (c, next) {
            (b'/', Some(b'*')) | (b'*', Some(b'/')) | (b'-', Some(b'-')) => i += 2,
            (b'#', _) => i += 1,
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Removes `.` and `..` segments and repeated slashes, as ModSecurity's normalisePath does; a
/// `..` above the start of a relative path is kept.
fn normalize_path(input: &[u8]) -> Vec<u8> {
    if input.is_empty() {
        return Vec::new();
    }
    let absolute = input.first() == Some(&b'/');
    let trailing = input.last() == Some(&b'/')
        || input.ends_with(b"/.")
        || input.ends_with(b"/..")
        || input == b"."
        || input == b"..";
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in input.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => match segments.last() {
                Some(&last) if last != b".." => {
                    segments.pop();
                }
                _ if absolute => {}
                _ => segments.push(segment),
            },
            _ => segments.push(segment),
        }
    }
    let mut out = Vec::with_capacity(input.len());
    if absolute {
        out.push(b'/');
    }
    out.extend_from_slice(&segments.join(&b'/'));
    if trailing && !segments.is_empty() {
        out.push(b'/');
    }
    out
}

fn utf8_to_unicode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 2);
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        let len = match c {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 1,
        };
        let decoded = (len > 1)
            .then(|| input.get(i..i + len))
            .flatten()
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|s| s.chars().next());
        match decoded {
            Some(ch) => {
                out.extend_from_slice(format!("%u{:04x}", u32::from(ch)).as_bytes());
                i += len;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn base64_decode(input: &[u8]) -> Vec<u8> {
    // Lenient, as ModSecurity's: white space is skipped and decoding stops at the first byte
    // that is not base64 (or at padding).
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use Transformation::*;

    fn t(tr: Transformation, input: &str) -> String {
        String::from_utf8_lossy(&tr.apply(input.as_bytes())).into_owned()
    }

    #[test]
    fn url_decoding_leaves_broken_escapes_alone() {
        assert_eq!(t(UrlDecodeUni, "a%20b+c%2"), "a b c%2");
        assert_eq!(t(UrlDecodeUni, "%u0041%uff1c%zz%u12"), "A<%zz%u12");
        assert_eq!(t(UrlDecode, "%u0041%41"), "%u0041A");
        assert!(matches!(UrlDecodeUni.apply(b"plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn html_entities_numeric_and_named() {
        assert_eq!(
            t(
                HtmlEntityDecode,
                "&lt;script&gt;&#x61;&#98&quot;&amp;&bogus;&"
            ),
            "<script>ab\"&&bogus;&"
        );
        assert_eq!(t(HtmlEntityDecode, "&#X3C;&#0000060;"), "<<");
        assert_eq!(HtmlEntityDecode.apply(b"&nbsp;").as_ref(), &[0xa0]);
    }

    #[test]
    fn js_css_and_c_escapes() {
        assert_eq!(t(JsDecode, "\\x3cscript\\u003e\\141\\n\\q"), "<script>a\nq");
        assert_eq!(t(JsDecode, "\\uff1c"), "<");
        assert_eq!(t(CssDecode, "\\3c script\\3E \\\nx\\j"), "<script>xj");
        assert_eq!(t(CssDecode, "\\00003c"), "<");
        assert_eq!(t(EscapeSeqDecode, "a\\x41\\101\\n\\q"), "aAA\n\\q");
    }

    #[test]
    fn command_lines_and_white_space() {
        assert_eq!(
            t(CmdLine, "C:\\> DIR  /s,\"c:\\\";'Ex^ec' ("),
            "c:> dir/s c: exec("
        );
        assert_eq!(t(CompressWhitespace, "a \t\n b  c"), "a b c");
        assert_eq!(t(RemoveWhitespace, " a b\tc\n"), "abc");
        assert_eq!(t(Trim, " \t a b \n"), "a b");
        assert_eq!(t(RemoveNulls, "a\0b"), "ab");
    }

    #[test]
    fn comments_and_paths() {
        assert_eq!(t(ReplaceComments, "sel/*x*/ect/*open"), "sel ect ");
        assert_eq!(t(RemoveCommentsChar, "a/*b*/c--d#e"), "abcde");
        assert_eq!(
            t(NormalizePath, "/a/./b/../../../etc//passwd"),
            "/etc/passwd"
        );
        assert_eq!(t(NormalizePath, "../../x/./y/"), "../../x/y/");
        assert_eq!(t(NormalizePathWin, "c:\\a\\..\\b"), "c:/b");
    }

    #[test]
    fn encodings_and_digests() {
        assert_eq!(t(Utf8ToUnicode, "a\u{e9}\u{4e2d}"), "a%u00e9%u4e2d");
        assert_eq!(
            Utf8ToUnicode.apply(&[0x61, 0xff, 0xc3]).as_ref(),
            &[0x61, 0xff, 0xc3]
        );
        assert_eq!(t(Base64Decode, "YWRtaW46cGFzcw=="), "admin:pass");
        assert_eq!(t(HexEncode, "A\n"), "410a");
        assert_eq!(t(Length, "\u{4e2d}"), "3");
        assert_eq!(
            hex(&Sha1.apply(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(t(Lowercase, "AbC"), "abc");
        assert!(Transformation::named("urlDecodeUni").unwrap().is_some());
        assert!(Transformation::named("none").unwrap().is_none());
        assert!(Transformation::named("explode").is_err());
    }

    proptest::proptest! {
        /// Hostile bytes never panic any transformation, and nothing grows without bound.
        #[test]
        fn any_bytes_go_through_every_transformation(input in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            for tr in [Base64Decode, CmdLine, CompressWhitespace, CssDecode, EscapeSeqDecode, HexEncode,
                HtmlEntityDecode, JsDecode, Length, Lowercase, NormalizePath, NormalizePathWin,
                RemoveCommentsChar, RemoveNulls, RemoveWhitespace, ReplaceComments, Sha1, Trim,
                UrlDecode, UrlDecodeUni, Uppercase, Utf8ToUnicode] {
                let out = tr.apply(&input);
                proptest::prop_assert!(out.len() <= input.len() * 6 + 40, "{tr:?}");
            }
        }
    }
}
