//! libinjection's folding: the token stream is reduced, a few tokens at a time, to at most five
//! that stand for the input's SQL shape — `1 + 1` is a number, `UNION` `ALL` is one union,
//! unary operators and type casts vanish — so that one fingerprint covers countless spellings
//! of the same injection. The rules and their order are libinjection's; its folding vectors
//! check them.

use super::data::SqliData;
use super::tokens::*;

/// The most tokens a fingerprint has.
pub const MAX_TOKENS: usize = 5;
/// Slots for tokens (a sixth is sometimes read to decide the fifth).
const SLOTS: usize = MAX_TOKENS + 3;

/// The token slots, read and written by index without any way to go out of bounds.
struct Slots {
    t: Vec<Token>,
}

impl Slots {
    fn kind(&self, i: usize) -> u8 {
        self.t.get(i).map_or(0, |t| t.kind)
    }

    fn tok(&self, i: usize) -> Option<&Token> {
        self.t.get(i)
    }

    fn val(&self, i: usize) -> &[u8] {
        self.t.get(i).map_or(&[], |t| t.val.as_slice())
    }

    fn set(&mut self, i: usize, token: Token) {
        if let Some(slot) = self.t.get_mut(i) {
            *slot = token;
        }
    }

    fn set_kind(&mut self, i: usize, kind: u8) {
        if let Some(slot) = self.t.get_mut(i) {
            slot.kind = kind;
        }
    }

    fn copy(&mut self, dst: usize, src: usize) {
        if let Some(t) = self.t.get(src).cloned() {
            self.set(dst, t);
        }
    }

    fn unary(&self, i: usize) -> bool {
        self.tok(i).is_some_and(Token::is_unary_op)
    }

    fn val_is(&self, i: usize, words: &[&str]) -> bool {
        let v = self.val(i);
        words.iter().any(|w| v.eq_ignore_ascii_case(w.as_bytes()))
    }
}

/// Reads the next token into slot `i` (emptied when there is none); says whether there was one.
fn read(tk: &mut Tokenizer<'_>, slots: &mut Slots, i: usize) -> bool {
    match tk.next() {
        Some(t) => {
            slots.set(i, t);
            true
        }
        None => {
            slots.set(i, Token::default());
            false
        }
    }
}

/// Merges two words into the phrase they make (`UNION` + `ALL`), if the keywords know it.
fn merge_words(data: &SqliData, a: &Token, b: &Token) -> Option<Token> {
    const FIRST: &[u8] = &[
        KEYWORD, BAREWORD, OPERATOR, UNION, FUNCTION, EXPRESSION, TSQL, SQLTYPE,
    ];
    if !FIRST.contains(&a.kind) || !(FIRST.contains(&b.kind) || b.kind == LOGIC) {
        return None;
    }
    if a.val.len() + b.val.len() + 1 > TOKEN_TEXT {
        return None;
    }
    let phrase = [a.val.as_slice(), b" ", b.val.as_slice()].concat();
    let kind = data.keyword(&phrase).unwrap_or(0);
    (kind != 0).then(|| Token {
        kind,
        val: phrase,
        ..a.clone()
    })
}

/// Folds the input into at most five tokens (sometimes one more is returned before the cap).
pub fn fold(tk: &mut Tokenizer<'_>, data: &SqliData) -> Vec<Token> {
    let mut s = Slots {
        t: vec![Token::default(); SLOTS],
    };
    let mut last_comment = Token::default();
    // Leading comments, parentheses, type names and unary operators say nothing.
    let mut more;
    loop {
        more = read(tk, &mut s, 0);
        let k = s.kind(0);
        if !(k == COMMENT || k == LEFTPARENS || k == SQLTYPE || s.unary(0)) {
            break;
        }
    }
    if !more {
        return Vec::new();
    }
    let mut pos = 1usize;
    let mut left = 0usize;
    let fetch = |tk: &mut Tokenizer<'_>,
                 s: &mut Slots,
                 pos: &mut usize,
                 more: &mut bool,
                 last: &mut Token,
                 left: usize,
                 want: usize| {
        while *more && *pos <= MAX_TOKENS && *pos - left < want {
            *more = read(tk, s, *pos);
            if *more {
                if s.kind(*pos) == COMMENT {
                    if let Some(t) = s.tok(*pos) {
                        *last = t.clone();
                    }
                } else {
                    last.kind = 0;
                    *pos += 1;
                }
            }
        }
    };
    loop {
        if pos >= MAX_TOKENS {
            let k = |i| s.kind(i);
            let special = (k(0) == NUMBER
                && (k(1) == OPERATOR || k(1) == COMMA)
                && k(2) == LEFTPARENS
                && k(3) == NUMBER
                && k(4) == RIGHTPARENS)
                || (k(0) == BAREWORD
                    && k(1) == OPERATOR
                    && k(2) == LEFTPARENS
                    && (k(3) == BAREWORD || k(3) == NUMBER)
                    && k(4) == RIGHTPARENS)
                || (k(0) == NUMBER
                    && k(1) == RIGHTPARENS
                    && k(2) == COMMA
                    && k(3) == LEFTPARENS
                    && k(4) == NUMBER)
                || (k(0) == BAREWORD
                    && k(1) == RIGHTPARENS
                    && k(2) == OPERATOR
                    && k(3) == LEFTPARENS
                    && k(4) == BAREWORD);
            if special {
                if pos > MAX_TOKENS {
                    s.copy(1, MAX_TOKENS);
                    pos = 2;
                } else {
                    pos = 1;
                }
                left = 0;
            }
        }
        if !more || left >= MAX_TOKENS {
            left = pos;
            break;
        }
        fetch(tk, &mut s, &mut pos, &mut more, &mut last_comment, left, 2);
        if pos - left < 2 {
            left = pos;
            continue;
        }
        let (a, b) = (s.kind(left), s.kind(left + 1));
        // Two-token folds.
        // "foo" "bar" is one string; repeated semicolons are one.
        if (a == STRING && b == STRING) || (a == SEMICOLON && b == SEMICOLON) {
            pos -= 1;
            continue;
        } else if (a == OPERATOR || a == LOGIC) && (s.unary(left + 1) || b == SQLTYPE) {
            pos -= 1;
            left = 0;
            continue;
        } else if a == LEFTPARENS && s.unary(left + 1) {
            pos -= 1;
            left = left.saturating_sub(1);
            continue;
        } else if let Some(merged) = match (s.tok(left), s.tok(left + 1)) {
            (Some(x), Some(y)) => merge_words(data, x, y),
            _ => None,
        } {
            s.set(left, merged);
            pos -= 1;
            left = left.saturating_sub(1);
            continue;
        } else if a == SEMICOLON
            && b == FUNCTION
            && s.val(left + 1)
                .get(..2)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"IF"))
        {
            // IF after a semicolon is Transact-SQL's statement, not the function.
            s.set_kind(left + 1, TSQL);
            continue;
        } else if (a == BAREWORD || a == VARIABLE)
            && b == LEFTPARENS
            && s.val_is(
                left,
                &[
                    "USER_ID",
                    "USER_NAME",
                    "DATABASE",
                    "PASSWORD",
                    "USER",
                    "CURRENT_USER",
                    "CURRENT_DATE",
                    "CURRENT_TIME",
                    "CURRENT_TIMESTAMP",
                    "LOCALTIME",
                    "LOCALTIMESTAMP",
                ],
            )
        {
            s.set_kind(left, FUNCTION);
            continue;
        } else if a == KEYWORD && s.val_is(left, &["IN", "NOT IN"]) {
            s.set_kind(left, if b == LEFTPARENS { OPERATOR } else { BAREWORD });
            continue;
        } else if a == OPERATOR && s.val_is(left, &["LIKE", "NOT LIKE"]) {
            if b == LEFTPARENS {
                s.set_kind(left, FUNCTION);
            }
        } else if a == SQLTYPE
            && matches!(
                b,
                BAREWORD | NUMBER | SQLTYPE | LEFTPARENS | FUNCTION | VARIABLE | STRING
            )
        {
            s.copy(left, left + 1);
            pos -= 1;
            left = 0;
            continue;
        } else if a == COLLATE && b == BAREWORD {
            if s.val(left + 1).contains(&b'_') {
                s.set_kind(left + 1, SQLTYPE);
                left = 0;
            }
        } else if a == BACKSLASH {
            if s.tok(left + 1).is_some_and(Token::is_arithmetic_op) {
                s.set_kind(left, NUMBER);
            } else {
                s.copy(left, left + 1);
                pos -= 1;
            }
            left = 0;
            continue;
        } else if (a == LEFTPARENS && b == LEFTPARENS) || (a == RIGHTPARENS && b == RIGHTPARENS) {
            pos -= 1;
            left = 0;
            continue;
        } else if a == LEFTBRACE && b == BAREWORD {
            // `{ ``` … is a MySQL oddity too rare to read: evil.
            if s.val(left + 1).is_empty() {
                s.set_kind(left + 1, EVIL);
                return s.t.into_iter().take(left + 2).collect();
            }
            left = 0;
            pos -= 2;
            continue;
        } else if b == RIGHTBRACE {
            pos -= 1;
            left = 0;
            continue;
        }
        // Three-token folds.
        fetch(tk, &mut s, &mut pos, &mut more, &mut last_comment, left, 3);
        if pos - left < 3 {
            left = pos;
            continue;
        }
        let (a, b, c) = (s.kind(left), s.kind(left + 1), s.kind(left + 2));
        // Three tokens that are one value: arithmetic, logic, casts, lists, database.table.
        let one_value = (a == NUMBER && b == OPERATOR && c == NUMBER)
            || (a == OPERATOR && b != LEFTPARENS && c == OPERATOR)
            || (a == LOGIC && c == LOGIC)
            || (a == VARIABLE && b == OPERATOR && matches!(c, VARIABLE | NUMBER | BAREWORD))
            || (matches!(a, BAREWORD | NUMBER) && b == OPERATOR && matches!(c, NUMBER | BAREWORD))
            || (matches!(a, BAREWORD | NUMBER | VARIABLE | STRING)
                && b == OPERATOR
                && s.val(left + 1) == b"::"
                && c == SQLTYPE)
            || (matches!(a, BAREWORD | NUMBER | STRING | VARIABLE)
                && b == COMMA
                && matches!(c, NUMBER | BAREWORD | STRING | VARIABLE))
            || (a == BAREWORD && b == DOT && c == BAREWORD);
        // A unary operator (or a dot) that says nothing between two tokens.
        let drop_middle =
            (matches!(a, EXPRESSION | GROUP | COMMA) && s.unary(left + 1) && c == LEFTPARENS)
                || (matches!(a, KEYWORD | EXPRESSION | GROUP)
                    && s.unary(left + 1)
                    && matches!(c, NUMBER | BAREWORD | VARIABLE | STRING | FUNCTION))
                || (a == COMMA && s.unary(left + 1) && c == FUNCTION)
                || (a == EXPRESSION && b == DOT && c == BAREWORD);
        if one_value {
            pos -= 2;
            left = 0;
            continue;
        } else if a == COMMA
            && s.unary(left + 1)
            && matches!(c, NUMBER | BAREWORD | VARIABLE | STRING)
        {
            // ", -1" is ",1"; back up to fold "1,-1" to "1".
            s.copy(left + 1, left + 2);
            left = 0;
            pos = pos.saturating_sub(3);
            continue;
        } else if drop_middle {
            s.copy(left + 1, left + 2);
            pos -= 1;
            left = 0;
            continue;
        } else if a == FUNCTION && b == LEFTPARENS && c != RIGHTPARENS {
            // USER() takes no arguments: USER(foo) is no function.
            if s.val(left).eq_ignore_ascii_case(b"USER") {
                s.set_kind(left, BAREWORD);
            }
        }
        left += 1;
    }
    if left < MAX_TOKENS && last_comment.kind == COMMENT {
        s.set(left, last_comment);
        left += 1;
    }
    s.t.into_iter().take(left.min(MAX_TOKENS)).collect()
}
