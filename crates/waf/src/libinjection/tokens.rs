//! libinjection's SQL tokenizer: the input (as if it followed a quote, or not) becomes tokens
//! whose one-letter types make up a fingerprint — `k` keyword, `U` union, `E` select-like, `f`
//! function, `n` bare word, `1` number, `s` string, `v` variable, `o` operator, `&` logic,
//! `c` comment, `X` evil, and the punctuation as itself. Each byte's class (from libinjection's
//! data) chooses the parser; every rule below reproduces libinjection's reading, which its test
//! vectors check, down to the 31-byte limit of a token's text.

use super::data::{CharClass, SqliData};

/// The most bytes of a token's text that are kept.
pub const TOKEN_TEXT: usize = 31;

pub const NUMBER: u8 = b'1';
pub const STRING: u8 = b's';
pub const BAREWORD: u8 = b'n';
pub const OPERATOR: u8 = b'o';
pub const LOGIC: u8 = b'&';
pub const COMMENT: u8 = b'c';
pub const VARIABLE: u8 = b'v';
pub const FUNCTION: u8 = b'f';
pub const KEYWORD: u8 = b'k';
pub const UNION: u8 = b'U';
pub const GROUP: u8 = b'B';
pub const EXPRESSION: u8 = b'E';
pub const SQLTYPE: u8 = b't';
pub const COLLATE: u8 = b'A';
pub const TSQL: u8 = b'T';
pub const EVIL: u8 = b'X';
pub const UNKNOWN: u8 = b'?';
pub const LEFTPARENS: u8 = b'(';
pub const RIGHTPARENS: u8 = b')';
pub const LEFTBRACE: u8 = b'{';
pub const RIGHTBRACE: u8 = b'}';
pub const DOT: u8 = b'.';
pub const COMMA: u8 = b',';
pub const COLON: u8 = b':';
pub const SEMICOLON: u8 = b';';
pub const BACKSLASH: u8 = b'\\';

/// One token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Token {
    /// Its type letter; 0 while nothing was read.
    pub kind: u8,
    pub pos: usize,
    /// Its text, at most [`TOKEN_TEXT`] bytes.
    pub val: Vec<u8>,
    /// The quote that opened or closed a string (0: none).
    pub str_open: u8,
    pub str_close: u8,
    /// For variables: how many `@` came first.
    pub count: u8,
}

impl Token {
    fn assign(&mut self, kind: u8, pos: usize, text: &[u8]) {
        self.kind = kind;
        self.pos = pos;
        self.val = text
            .get(..text.len().min(TOKEN_TEXT))
            .unwrap_or(text)
            .to_vec();
    }

    fn assign_char(&mut self, kind: u8, pos: usize, ch: u8) {
        self.kind = kind;
        self.pos = pos;
        self.val = vec![ch];
    }

    pub fn is_unary_op(&self) -> bool {
        self.kind == OPERATOR
            && (matches!(self.val.as_slice(), b"+" | b"-" | b"!" | b"~" | b"!!")
                || self.val.eq_ignore_ascii_case(b"NOT"))
    }

    pub fn is_arithmetic_op(&self) -> bool {
        self.kind == OPERATOR && matches!(self.val.as_slice(), b"*" | b"/" | b"-" | b"+" | b"%")
    }
}

/// How the input is read: as if it followed a quote (or not), and which SQL dialect's
/// comments apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// 0, `'` or `"`.
    pub quote: u8,
    pub mysql: bool,
}

fn is_white(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0 | 0)
}

/// Bytes from the start that are in `set` (as C's `strspn` over a set whose terminating NUL
/// also counts as a member).
fn span(s: &[u8], set: &[u8]) -> usize {
    s.iter()
        .take_while(|&&b| b == 0 || set.contains(&b))
        .count()
}

/// Bytes from the start that are not in `set` (NUL is always in it).
fn span_not(s: &[u8], set: &[u8]) -> usize {
    s.iter()
        .take_while(|&&b| b != 0 && !set.contains(&b))
        .count()
}

fn find2(s: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    let hay = s.get(from..)?;
    hay.windows(2).position(|w| w == [a, b]).map(|i| from + i)
}

/// Where `ch` first stands in `s` at or after `from`.
pub(super) fn find(s: &[u8], from: usize, ch: u8) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|&b| b == ch)
        .map(|i| from + i)
}

const WORD_END: &[u8] = b" []{}<>:\\?=@!#~+-*/&|^%(),';\t\n\x0b\x0c\r\"\xa0";
const VAR_END: &[u8] = b" <>:\\?=@!#~+-*/&|^%(),';\t\n\x0b\x0c\r'`\"";

/// Reads tokens one at a time.
pub struct Tokenizer<'a> {
    s: &'a [u8],
    pub pos: usize,
    flags: Flags,
    data: &'a SqliData,
    pub stats_tokens: usize,
    pub stats_comment_ddx: usize,
    pub stats_comment_hash: usize,
}

impl<'a> Tokenizer<'a> {
    pub fn new(s: &'a [u8], flags: Flags, data: &'a SqliData) -> Self {
        Self {
            s,
            pos: 0,
            flags,
            data,
            stats_tokens: 0,
            stats_comment_ddx: 0,
            stats_comment_hash: 0,
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn len(&self) -> usize {
        self.s.len()
    }

    fn lookup(&self, word: &[u8]) -> u8 {
        self.data.keyword(word).unwrap_or(0)
    }

    /// The next token, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Token> {
        if self.s.is_empty() {
            return None;
        }
        let mut t = Token::default();
        if self.pos == 0 && self.flags.quote != 0 {
            self.pos = self.string_core(&mut t, 0, self.flags.quote, 0);
            self.stats_tokens += 1;
            return Some(t);
        }
        while self.pos < self.len() {
            let class = self.data.class(self.at(self.pos));
            self.pos = self.dispatch(class, &mut t);
            if t.kind != 0 {
                self.stats_tokens += 1;
                return Some(t);
            }
        }
        None
    }

    fn dispatch(&mut self, class: CharClass, t: &mut Token) -> usize {
        use CharClass::*;
        let pos = self.pos;
        match class {
            White => pos + 1,
            Bang | Op2 => self.operator2(t),
            Str => self.string_core(t, pos, self.at(pos), 1),
            Hash => self.hash(t),
            Money => self.money(t),
            Op1 | Unary => {
                t.assign_char(OPERATOR, pos, self.at(pos));
                pos + 1
            }
            LeftParens | RightParens | Comma | Semicolon | LeftBrace | RightBrace => {
                t.assign_char(self.at(pos), pos, self.at(pos));
                pos + 1
            }
            Dash => self.dash(t),
            Num => self.number(t),
            Slash => self.slash(t),
            Other => {
                t.assign_char(UNKNOWN, pos, self.at(pos));
                pos + 1
            }
            Var => self.var(t),
            Word => self.word(t),
            BString => self.bin_or_hex_string(t, b"01"),
            XString => self.bin_or_hex_string(t, b"0123456789ABCDEFabcdef"),
            EString => self.estring(t),
            NqString => {
                if pos + 2 < self.len() && self.at(pos + 1) == b'\'' {
                    self.estring(t)
                } else {
                    self.qstring(t, 1)
                }
            }
            QString => self.qstring(t, 0),
            UString => self.ustring(t),
            BWord => self.bword(t),
            Back => {
                if pos + 1 < self.len() && self.at(pos + 1) == b'N' {
                    t.assign(NUMBER, pos, self.s.get(pos..pos + 2).unwrap_or(&[]));
                    pos + 2
                } else {
                    t.assign_char(BACKSLASH, pos, b'\\');
                    pos + 1
                }
            }
            Tick => self.tick(t),
        }
    }

    fn eol_comment(&mut self, t: &mut Token) -> usize {
        let pos = self.pos;
        match find(self.s, pos, b'\n') {
            None => {
                t.assign(COMMENT, pos, self.s.get(pos..).unwrap_or(&[]));
                self.len()
            }
            Some(end) => {
                t.assign(COMMENT, pos, self.s.get(pos..end).unwrap_or(&[]));
                end + 1
            }
        }
    }

    /// `#` is a comment in MySQL, an operator elsewhere.
    fn hash(&mut self, t: &mut Token) -> usize {
        self.stats_comment_hash += 1;
        if self.flags.mysql {
            self.stats_comment_hash += 1;
            self.eol_comment(t)
        } else {
            t.assign_char(OPERATOR, self.pos, b'#');
            self.pos + 1
        }
    }

    fn dash(&mut self, t: &mut Token) -> usize {
        let (pos, len) = (self.pos, self.len());
        // "--" then white space or the end is a comment everywhere.
        let then_white = pos + 2 == len || (pos + 2 < len && is_white(self.at(pos + 2)));
        if self.at(pos + 1) == b'-' && then_white {
            self.eol_comment(t)
        } else if pos + 1 < len && self.at(pos + 1) == b'-' && !self.flags.mysql {
            self.stats_comment_ddx += 1;
            self.eol_comment(t)
        } else {
            t.assign_char(OPERATOR, pos, b'-');
            pos + 1
        }
    }

    fn slash(&mut self, t: &mut Token) -> usize {
        let (pos, len) = (self.pos, self.len());
        if pos + 1 == len || self.at(pos + 1) != b'*' {
            t.assign_char(OPERATOR, pos, self.at(pos));
            return pos + 1;
        }
        let close = find2(self.s, pos + 2, b'*', b'/');
        let clen = close.map_or(len - pos, |c| c + 2 - pos);
        // A comment opening inside a comment (PostgreSQL nests them) or MySQL's `/*!`
        // conditional comment cannot be read the same by every engine: evil.
        let nested = close.is_some_and(|c| {
            self.s
                .get(pos + 2..c + 1)
                .is_some_and(|inner| inner.windows(2).any(|w| w == b"/*"))
        });
        let mysql_conditional = pos + 2 < len && self.at(pos + 2) == b'!';
        let kind = if nested || mysql_conditional {
            EVIL
        } else {
            COMMENT
        };
        t.assign(kind, pos, self.s.get(pos..pos + clen).unwrap_or(&[]));
        pos + clen
    }

    fn operator2(&mut self, t: &mut Token) -> usize {
        let (pos, len) = (self.pos, self.len());
        if pos + 1 >= len {
            t.assign_char(OPERATOR, pos, self.at(pos));
            return pos + 1;
        }
        if pos + 2 < len && self.s.get(pos..pos + 3) == Some(b"<=>") {
            t.assign(OPERATOR, pos, b"<=>");
            return pos + 3;
        }
        let pair = self.s.get(pos..pos + 2).unwrap_or(&[]);
        let kind = self.lookup(pair);
        if kind != 0 {
            t.assign(kind, pos, pair);
            return pos + 2;
        }
        if self.at(pos) == b':' {
            t.assign(COLON, pos, b":");
            pos + 1
        } else {
            t.assign_char(OPERATOR, pos, self.at(pos));
            pos + 1
        }
    }

    /// Whether the quote at `end` is escaped by an odd run of backslashes (back to `start`).
    fn backslash_escaped(&self, end: usize, start: usize) -> bool {
        if end == 0 || end <= start {
            return false;
        }
        let run = self
            .s
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        run % 2 == 1
    }

    /// A string from `pos + offset` to the closing `delim` (a doubled or backslashed delimiter
    /// does not close it).
    fn string_core(&mut self, t: &mut Token, pos: usize, delim: u8, offset: usize) -> usize {
        let start = pos + offset;
        t.str_open = if offset > 0 { delim } else { 0 };
        let mut q = find(self.s, start, delim);
        loop {
            match q {
                None => {
                    t.assign(STRING, start, self.s.get(start..).unwrap_or(&[]));
                    t.str_close = 0;
                    return self.len();
                }
                Some(at) if self.backslash_escaped(at, start) => q = find(self.s, at + 1, delim),
                Some(at) if at + 1 < self.len() && self.at(at + 1) == delim => {
                    q = find(self.s, at + 2, delim)
                }
                Some(at) => {
                    t.assign(STRING, start, self.s.get(start..at).unwrap_or(&[]));
                    t.str_close = delim;
                    return at + 1;
                }
            }
        }
    }

    /// `E'…'` (PostgreSQL) and `N'…'` (national character set): a string after one letter.
    fn estring(&mut self, t: &mut Token) -> usize {
        let pos = self.pos;
        if pos + 2 >= self.len() || self.at(pos + 1) != b'\'' {
            return self.word(t);
        }
        self.string_core(t, pos, b'\'', 2)
    }

    /// `U&'…'` (PostgreSQL unicode strings).
    fn ustring(&mut self, t: &mut Token) -> usize {
        let pos = self.pos;
        if pos + 2 < self.len() && self.at(pos + 1) == b'&' && self.at(pos + 2) == b'\'' {
            let end = self.string_core(t, pos + 2, b'\'', 1);
            t.str_open = b'u';
            if t.str_close == b'\'' {
                t.str_close = b'u';
            }
            end
        } else {
            self.word(t)
        }
    }

    /// Oracle's `q'[…]'` (and `nq'…'` with `offset` 1).
    fn qstring(&mut self, t: &mut Token, offset: usize) -> usize {
        let len = self.len();
        let pos = self.pos + offset;
        if pos >= len
            || !matches!(self.at(pos), b'q' | b'Q')
            || pos + 2 >= len
            || self.at(pos + 1) != b'\''
        {
            return self.word(t);
        }
        let mut ch = self.at(pos + 2);
        // libinjection reads bytes as signed: anything from 0x80 is below 33 too.
        if !(33..0x80).contains(&ch) {
            return self.word(t);
        }
        ch = match ch {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            b'<' => b'>',
            other => other,
        };
        t.str_open = b'q';
        match find2(self.s, pos + 3, ch, b'\'') {
            None => {
                t.assign(STRING, pos + 3, self.s.get(pos + 3..).unwrap_or(&[]));
                t.str_close = 0;
                len
            }
            Some(end) => {
                t.assign(STRING, pos + 3, self.s.get(pos + 3..end).unwrap_or(&[]));
                t.str_close = b'q';
                end + 2
            }
        }
    }

    /// `b'0101'` and `x'1F'`: numbers.
    fn bin_or_hex_string(&mut self, t: &mut Token, digits: &[u8]) -> usize {
        let (pos, len) = (self.pos, self.len());
        if pos + 2 >= len || self.at(pos + 1) != b'\'' {
            return self.word(t);
        }
        let n = span(self.s.get(pos + 2..).unwrap_or(&[]), digits);
        if pos + 2 + n >= len || self.at(pos + 2 + n) != b'\'' {
            return self.word(t);
        }
        t.assign(NUMBER, pos, self.s.get(pos..pos + n + 3).unwrap_or(&[]));
        pos + n + 3
    }

    /// SQL Server's `[bracketed words]`.
    fn bword(&mut self, t: &mut Token) -> usize {
        let pos = self.pos;
        match find(self.s, pos, b']') {
            None => {
                t.assign(BAREWORD, pos, self.s.get(pos..).unwrap_or(&[]));
                self.len()
            }
            Some(end) => {
                t.assign(BAREWORD, pos, self.s.get(pos..=end).unwrap_or(&[]));
                end + 1
            }
        }
    }

    fn word(&mut self, t: &mut Token) -> usize {
        let pos = self.pos;
        let rest = self.s.get(pos..).unwrap_or(&[]);
        let wlen = span_not(rest, WORD_END);
        t.assign(BAREWORD, pos, rest.get(..wlen).unwrap_or(&[]));
        // `SELECT.1` or SELECT`column`: a keyword before a dot or backtick stands alone.
        for i in 0..t.val.len() {
            if matches!(t.val.get(i), Some(b'.' | b'`')) {
                let kind = self.lookup(t.val.get(..i).unwrap_or(&[]));
                if kind != 0 && kind != BAREWORD {
                    *t = Token::default();
                    t.assign(kind, pos, rest.get(..i).unwrap_or(&[]));
                    return pos + i;
                }
            }
        }
        if wlen <= TOKEN_TEXT {
            let kind = self.lookup(rest.get(..wlen).unwrap_or(&[]));
            t.kind = if kind == 0 { BAREWORD } else { kind };
        }
        pos + wlen
    }

    /// MySQL's backticks: a bare word (or a function, when it names one).
    fn tick(&mut self, t: &mut Token) -> usize {
        let end = self.string_core(t, self.pos, b'`', 1);
        t.kind = if self.lookup(&t.val) == FUNCTION {
            FUNCTION
        } else {
            BAREWORD
        };
        end
    }

    fn var(&mut self, t: &mut Token) -> usize {
        let len = self.len();
        let mut pos = self.pos + 1;
        if pos < len && self.at(pos) == b'@' {
            pos += 1;
            t.count = 2;
        } else {
            t.count = 1;
        }
        if pos < len {
            match self.at(pos) {
                b'`' => {
                    self.pos = pos;
                    let end = self.tick(t);
                    t.kind = VARIABLE;
                    return end;
                }
                q @ (b'\'' | b'"') => {
                    self.pos = pos;
                    let end = self.string_core(t, pos, q, 1);
                    t.kind = VARIABLE;
                    return end;
                }
                _ => {}
            }
        }
        let rest = self.s.get(pos..).unwrap_or(&[]);
        let n = span_not(rest, VAR_END);
        t.assign(VARIABLE, pos, rest.get(..n).unwrap_or(&[]));
        pos + n
    }

    fn money(&mut self, t: &mut Token) -> usize {
        let (pos, len) = (self.pos, self.len());
        if pos + 1 == len {
            t.assign_char(BAREWORD, pos, b'$');
            return len;
        }
        let rest = self.s.get(pos + 1..).unwrap_or(&[]);
        let n = span(rest, b"0123456789.,");
        if n == 0 {
            if self.at(pos + 1) == b'$' {
                // $$ … $$: a PostgreSQL dollar-quoted string.
                t.str_open = b'$';
                return match find2(self.s, pos + 2, b'$', b'$') {
                    None => {
                        t.assign(STRING, pos + 2, self.s.get(pos + 2..).unwrap_or(&[]));
                        t.str_close = 0;
                        len
                    }
                    Some(end) => {
                        t.assign(STRING, pos + 2, self.s.get(pos + 2..end).unwrap_or(&[]));
                        t.str_close = b'$';
                        end + 2
                    }
                };
            }
            // $tag$ … $tag$
            let tag = span(
                rest,
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            );
            if tag == 0 || pos + tag + 1 == len || self.at(pos + tag + 1) != b'$' {
                t.assign_char(BAREWORD, pos, b'$');
                return pos + 1;
            }
            let marker = self.s.get(pos..pos + tag + 2).unwrap_or(&[]).to_vec();
            let body = pos + tag + 2;
            let end = self
                .s
                .get(body..)
                .and_then(|hay| hay.windows(marker.len()).position(|w| w == marker))
                .map(|i| body + i);
            t.str_open = b'$';
            match end {
                None => {
                    t.assign(STRING, body, self.s.get(body..).unwrap_or(&[]));
                    t.str_close = 0;
                    len
                }
                Some(end) => {
                    t.assign(STRING, body, self.s.get(body..end).unwrap_or(&[]));
                    t.str_close = b'$';
                    end + tag + 2
                }
            }
        } else if n == 1 && self.at(pos + 1) == b'.' {
            self.word(t)
        } else {
            t.assign(NUMBER, pos, self.s.get(pos..pos + 1 + n).unwrap_or(&[]));
            pos + 1 + n
        }
    }

    fn number(&mut self, t: &mut Token) -> usize {
        let len = self.len();
        let mut pos = self.pos;
        if self.at(pos) == b'0' && pos + 1 < len {
            let digits: Option<&[u8]> = match self.at(pos + 1) {
                b'x' | b'X' => Some(b"0123456789ABCDEFabcdef"),
                b'b' | b'B' => Some(b"01"),
                _ => None,
            };
            if let Some(digits) = digits {
                let n = span(self.s.get(pos + 2..).unwrap_or(&[]), digits);
                if n == 0 {
                    t.assign(BAREWORD, pos, self.s.get(pos..pos + 2).unwrap_or(&[]));
                    return pos + 2;
                }
                t.assign(NUMBER, pos, self.s.get(pos..pos + 2 + n).unwrap_or(&[]));
                return pos + 2 + n;
            }
        }
        let start = pos;
        let digit = |tk: &Self, p: usize| p < len && tk.at(p).is_ascii_digit();
        while digit(self, pos) {
            pos += 1;
        }
        if pos < len && self.at(pos) == b'.' {
            pos += 1;
            while digit(self, pos) {
                pos += 1;
            }
            if pos - start == 1 {
                t.assign_char(DOT, start, b'.');
                return pos;
            }
        }
        let (mut have_e, mut have_exp) = (false, false);
        if pos < len && matches!(self.at(pos), b'e' | b'E') {
            have_e = true;
            pos += 1;
            if pos < len && matches!(self.at(pos), b'+' | b'-') {
                pos += 1;
            }
            while digit(self, pos) {
                have_exp = true;
                pos += 1;
            }
        }
        // Oracle's float and double suffixes (`1.2f`), when a word does not follow.
        if pos < len && matches!(self.at(pos), b'd' | b'D' | b'f' | b'F') {
            let next = self.at(pos + 1);
            if pos + 1 == len || is_white(next) || next == b';' || matches!(next, b'u' | b'U') {
                pos += 1;
            }
        }
        // "1.e" or "1E" with no exponent digits is no number: a bare word.
        let kind = if have_e && !have_exp {
            BAREWORD
        } else {
            NUMBER
        };
        t.assign(kind, start, self.s.get(start..pos).unwrap_or(&[]));
        pos
    }
}
