//! libinjection, in Rust: SQL injection detection by fingerprint (`@detectSQLi`), and XSS
//! detection over an HTML5 tokenizer (`@detectXSS`, in `xss.rs`). The input is
//! tokenized and folded as plain text, then as if it followed a single quote and a double quote
//! (the places an application pastes it into), each time in ANSI and, when comments suggest
//! it, MySQL dialect; it is SQL injection when a fingerprint is in libinjection's list and
//! survives its false-positive checks. libinjection's own test vectors check every step.

pub mod data;
pub mod fold;
pub mod html5;
pub mod tokens;
pub mod xss;

pub use data::SqliData;
pub use xss::detect_xss;

use tokens::{Flags, Token, Tokenizer, BAREWORD, COMMENT, EVIL, KEYWORD, NUMBER, UNION};

/// A fingerprint and the tokens it was made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub text: Vec<u8>,
    pub tokens: Vec<Token>,
    /// Tokens the tokenizer read for it (before folding).
    pub stats_tokens: usize,
    stats_comment_ddx: usize,
    stats_comment_hash: usize,
}

/// The fingerprint of `input` read with `flags`.
pub fn fingerprint(input: &[u8], flags: Flags, data: &SqliData) -> Fingerprint {
    let mut tk = Tokenizer::new(input, flags, data);
    let mut tokens = fold::fold(&mut tk, data);
    // PHP's backquote comment: an empty, unclosed backticked word at the end.
    if tokens.len() > 2 {
        if let Some(last) = tokens.last_mut() {
            if last.kind == BAREWORD
                && last.str_open == b'`'
                && last.val.is_empty()
                && last.str_close == 0
            {
                last.kind = COMMENT;
            }
        }
    }
    let mut text: Vec<u8> = tokens.iter().map(|t| t.kind).collect();
    if text.contains(&EVIL) {
        text = vec![EVIL];
        tokens = vec![Token {
            kind: EVIL,
            val: vec![EVIL],
            ..Token::default()
        }];
    }
    Fingerprint {
        text,
        tokens,
        stats_tokens: tk.stats_tokens,
        stats_comment_ddx: tk.stats_comment_ddx,
        stats_comment_hash: tk.stats_comment_hash,
    }
}

/// SQL injection in `input`: its fingerprint, if so.
pub fn detect_sqli(input: &[u8], data: &SqliData) -> Option<Vec<u8>> {
    if input.is_empty() {
        return None;
    }
    let passes: [(u8, bool, bool); 3] =
        [(0, true, true), (b'\'', true, true), (b'"', false, false)];
    for (quote, ansi_first, mysql_retry) in passes {
        if quote != 0 && !input.contains(&quote) {
            continue;
        }
        let first = Flags {
            quote,
            mysql: !ansi_first,
        };
        let fp = fingerprint(input, first, data);
        if is_sqli(&fp, input, data) {
            return Some(fp.text);
        }
        if mysql_retry && (fp.stats_comment_ddx > 0 || fp.stats_comment_hash > 0) {
            let fp = fingerprint(input, Flags { quote, mysql: true }, data);
            if is_sqli(&fp, input, data) {
                return Some(fp.text);
            }
        }
    }
    None
}

fn is_sqli(fp: &Fingerprint, input: &[u8], data: &SqliData) -> bool {
    !fp.text.is_empty() && data.is_fingerprint(&fp.text) && not_whitelisted(fp, input)
}

/// libinjection's checks that keep short fingerprints from flagging ordinary text.
fn not_whitelisted(fp: &Fingerprint, input: &[u8]) -> bool {
    let text = fp.text.as_slice();
    let tok = |i: usize| fp.tokens.get(i);
    let kind = |i: usize| tok(i).map_or(0, |t| t.kind);
    let first_byte = |i: usize| tok(i).and_then(|t| t.val.first().copied()).unwrap_or(0);
    if text.len() > 1
        && text.last() == Some(&COMMENT)
        && input.windows(11).any(|w| w == b"sp_password")
    {
        return true;
    }
    match text.len() {
        2 => {
            if text.get(1) == Some(&UNION) {
                return fp.stats_tokens != 2;
            }
            if first_byte(1) == b'#' {
                return false;
            }
            if kind(0) == BAREWORD && kind(1) == COMMENT && first_byte(1) != b'/' {
                return false;
            }
            if kind(0) == NUMBER && kind(1) == COMMENT && first_byte(1) == b'/' {
                return true;
            }
            if kind(0) == NUMBER && kind(1) == COMMENT {
                if fp.stats_tokens > 2 {
                    return true;
                }
                let n = tok(0).map_or(0, |t| t.val.len());
                let at = |i: usize| input.get(i).copied().unwrap_or(0);
                let ch = at(n);
                // libinjection reads the byte as signed: anything from 0x80 counts as space.
                return ch <= 32
                    || ch >= 0x80
                    || (ch == b'/' && at(n + 1) == b'*')
                    || (ch == b'-' && at(n + 1) == b'-');
            }
            if tok(1).is_some_and(|t| t.val.len() > 2) && first_byte(1) == b'-' {
                return false;
            }
            true
        }
        3 => {
            if text == b"sos" || text == b"s&s" {
                let (a, c) = (tok(0), tok(2));
                return a.is_some_and(|a| a.str_open == 0)
                    && c.is_some_and(|c| c.str_close == 0)
                    && a.map(|a| a.str_close) == c.map(|c| c.str_open);
            }
            if [&b"s&n"[..], b"n&1", b"1&1", b"1&v", b"1&s"].contains(&text) {
                return fp.stats_tokens != 3;
            }
            if kind(1) == KEYWORD {
                let v = tok(1).map_or(&[][..], |t| t.val.as_slice());
                return v.len() >= 5 && v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"INTO"));
            }
            true
        }
        _ => true,
    }
}
