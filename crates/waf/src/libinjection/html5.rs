//! libinjection's HTML5 tokenizer: a reduced HTML5 state machine that splits input into text,
//! tag names, attribute names and values, comments and doctypes, starting where an application
//! would paste the input (in text, or inside an attribute value with any quoting). It follows
//! the HTML5 parsing rules plus the old browsers' quirks libinjection knows (NULs in tag names,
//! backquoted values, `<% %>` comments). libinjection's html5 vectors check it.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DataText,
    TagNameOpen,
    TagNameClose,
    TagNameSelfClose,
    TagData,
    TagClose,
    AttrName,
    AttrValue,
    TagComment,
    Doctype,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::DataText => "DATA_TEXT",
            Kind::TagNameOpen => "TAG_NAME_OPEN",
            Kind::TagNameClose => "TAG_NAME_CLOSE",
            Kind::TagNameSelfClose => "TAG_NAME_SELFCLOSE",
            Kind::TagData => "TAG_DATA",
            Kind::TagClose => "TAG_CLOSE",
            Kind::AttrName => "ATTR_NAME",
            Kind::AttrValue => "ATTR_VALUE",
            Kind::TagComment => "TAG_COMMENT",
            Kind::Doctype => "DOCTYPE",
        }
    }
}

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Data,
    ValueNoQuote,
    ValueSingleQuote,
    ValueDoubleQuote,
    ValueBackQuote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Eof,
    Data,
    TagOpen,
    TagNameClose,
    BeforeAttributeName,
    AfterAttributeName,
    BeforeAttributeValue,
    ValueQuoted(u8),
    AfterValueQuoted,
    SelfClosingStartTag,
}

/// A token: its kind and where it lies in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub len: usize,
}

pub struct Tokenizer<'a> {
    s: &'a [u8],
    pos: usize,
    state: State,
    is_close: bool,
}

fn is_white(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

impl<'a> Tokenizer<'a> {
    pub fn new(s: &'a [u8], start: Start) -> Self {
        let state = match start {
            Start::Data => State::Data,
            Start::ValueNoQuote => State::BeforeAttributeName,
            Start::ValueSingleQuote => State::ValueQuoted(b'\''),
            Start::ValueDoubleQuote => State::ValueQuoted(b'"'),
            Start::ValueBackQuote => State::ValueQuoted(b'`'),
        };
        Self {
            s,
            pos: 0,
            state,
            is_close: false,
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn len(&self) -> usize {
        self.s.len()
    }

    fn find(&self, from: usize, ch: u8) -> Option<usize> {
        super::tokens::find(self.s, from, ch)
    }

    fn token(kind: Kind, start: usize, len: usize) -> Option<Token> {
        Some(Token { kind, start, len })
    }

    /// The next token, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Token> {
        match self.state {
            State::Eof => None,
            State::Data => self.data(),
            State::TagOpen => self.tag_open(),
            State::TagNameClose => self.tag_name_close(),
            State::BeforeAttributeName => self.before_attribute_name(),
            State::AfterAttributeName => self.after_attribute_name(),
            State::BeforeAttributeValue => self.before_attribute_value(),
            State::ValueQuoted(q) => self.value_quoted(q),
            State::AfterValueQuoted => self.after_value_quoted(),
            State::SelfClosingStartTag => self.self_closing_start_tag(),
        }
    }

    /// White space (and the NULs IE ignores) skipped; the byte after it.
    fn skip_white(&mut self) -> Option<u8> {
        while self.pos < self.len() {
            let ch = self.at(self.pos);
            if matches!(ch, 0 | b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
                self.pos += 1;
            } else {
                return Some(ch);
            }
        }
        None
    }

    fn data(&mut self) -> Option<Token> {
        let start = self.pos;
        match self.find(self.pos, b'<') {
            None => {
                self.state = State::Eof;
                let len = self.len().saturating_sub(start);
                (len > 0).then_some(Token {
                    kind: Kind::DataText,
                    start,
                    len,
                })
            }
            Some(lt) => {
                self.pos = lt + 1;
                self.state = State::TagOpen;
                if lt == start {
                    return self.tag_open();
                }
                Self::token(Kind::DataText, start, lt - start)
            }
        }
    }

    fn tag_open(&mut self) -> Option<Token> {
        if self.pos >= self.len() {
            return None;
        }
        let ch = self.at(self.pos);
        match ch {
            b'!' => {
                self.pos += 1;
                self.markup_declaration_open()
            }
            b'/' => {
                self.pos += 1;
                self.is_close = true;
                self.end_tag_open()
            }
            b'?' => {
                self.pos += 1;
                self.bogus_comment()
            }
            b'%' => {
                self.pos += 1;
                self.bogus_comment2()
            }
            b'a'..=b'z' | b'A'..=b'Z' | 0 => self.tag_name(),
            _ => {
                if self.pos == 0 {
                    return self.data();
                }
                self.state = State::Data;
                Self::token(Kind::DataText, self.pos - 1, 1)
            }
        }
    }

    fn end_tag_open(&mut self) -> Option<Token> {
        if self.pos >= self.len() {
            return None;
        }
        match self.at(self.pos) {
            b'>' => self.data(),
            b'a'..=b'z' | b'A'..=b'Z' => self.tag_name(),
            _ => {
                self.is_close = false;
                self.bogus_comment()
            }
        }
    }

    fn tag_name_close(&mut self) -> Option<Token> {
        self.is_close = false;
        let start = self.pos;
        self.pos += 1;
        self.state = if self.pos < self.len() {
            State::Data
        } else {
            State::Eof
        };
        Self::token(Kind::TagNameClose, start, 1)
    }

    fn tag_name(&mut self) -> Option<Token> {
        let start = self.pos;
        let mut pos = start;
        while pos < self.len() {
            let ch = self.at(pos);
            if ch == 0 {
                // Old browsers ignore NULs in tag names.
                pos += 1;
            } else if is_white(ch) {
                self.pos = pos + 1;
                self.state = State::BeforeAttributeName;
                return Self::token(Kind::TagNameOpen, start, pos - start);
            } else if ch == b'/' {
                self.pos = pos + 1;
                self.state = State::SelfClosingStartTag;
                return Self::token(Kind::TagNameOpen, start, pos - start);
            } else if ch == b'>' {
                if self.is_close {
                    self.pos = pos + 1;
                    self.is_close = false;
                    self.state = State::Data;
                    return Self::token(Kind::TagClose, start, pos - start);
                }
                self.pos = pos;
                self.state = State::TagNameClose;
                return Self::token(Kind::TagNameOpen, start, pos - start);
            } else {
                pos += 1;
            }
        }
        self.state = State::Eof;
        Self::token(Kind::TagNameOpen, start, self.len() - start)
    }

    fn before_attribute_name(&mut self) -> Option<Token> {
        match self.skip_white()? {
            b'/' => {
                self.pos += 1;
                self.self_closing_start_tag()
            }
            b'>' => {
                self.state = State::Data;
                let start = self.pos;
                self.pos += 1;
                Self::token(Kind::TagNameClose, start, 1)
            }
            _ => self.attribute_name(),
        }
    }

    fn attribute_name(&mut self) -> Option<Token> {
        let start = self.pos;
        let mut pos = start + 1;
        while pos < self.len() {
            let ch = self.at(pos);
            let (state, next) = if is_white(ch) {
                (State::AfterAttributeName, pos + 1)
            } else if ch == b'/' {
                (State::SelfClosingStartTag, pos + 1)
            } else if ch == b'=' {
                (State::BeforeAttributeValue, pos + 1)
            } else if ch == b'>' {
                (State::TagNameClose, pos)
            } else {
                pos += 1;
                continue;
            };
            self.state = state;
            self.pos = next;
            return Self::token(Kind::AttrName, start, pos - start);
        }
        self.state = State::Eof;
        self.pos = self.len();
        Self::token(Kind::AttrName, start, self.len() - start)
    }

    fn after_attribute_name(&mut self) -> Option<Token> {
        match self.skip_white()? {
            b'/' => {
                self.pos += 1;
                self.self_closing_start_tag()
            }
            b'=' => {
                self.pos += 1;
                self.before_attribute_value()
            }
            b'>' => self.tag_name_close(),
            _ => self.attribute_name(),
        }
    }

    fn before_attribute_value(&mut self) -> Option<Token> {
        let Some(ch) = self.skip_white() else {
            self.state = State::Eof;
            return None;
        };
        match ch {
            b'"' | b'\'' | b'`' => self.value_quoted(ch),
            _ => self.value_no_quote(),
        }
    }

    fn value_quoted(&mut self, quote: u8) -> Option<Token> {
        // Skip the opening quote, unless reading started inside the value (position 0).
        if self.pos > 0 {
            self.pos += 1;
        }
        let start = self.pos;
        match self.find(start, quote) {
            None => {
                self.state = State::Eof;
                Self::token(Kind::AttrValue, start, self.len().saturating_sub(start))
            }
            Some(end) => {
                self.state = State::AfterValueQuoted;
                self.pos = end + 1;
                Self::token(Kind::AttrValue, start, end - start)
            }
        }
    }

    fn value_no_quote(&mut self) -> Option<Token> {
        let start = self.pos;
        let mut pos = start;
        while pos < self.len() {
            let ch = self.at(pos);
            if is_white(ch) {
                self.pos = pos + 1;
                self.state = State::BeforeAttributeName;
                return Self::token(Kind::AttrValue, start, pos - start);
            } else if ch == b'>' {
                self.pos = pos;
                self.state = State::TagNameClose;
                return Self::token(Kind::AttrValue, start, pos - start);
            }
            pos += 1;
        }
        self.state = State::Eof;
        Self::token(Kind::AttrValue, start, self.len() - start)
    }

    fn after_value_quoted(&mut self) -> Option<Token> {
        if self.pos >= self.len() {
            return None;
        }
        let ch = self.at(self.pos);
        if is_white(ch) {
            self.pos += 1;
            self.before_attribute_name()
        } else if ch == b'/' {
            self.pos += 1;
            self.self_closing_start_tag()
        } else if ch == b'>' {
            let start = self.pos;
            self.pos += 1;
            self.state = State::Data;
            Self::token(Kind::TagNameClose, start, 1)
        } else {
            self.before_attribute_name()
        }
    }

    fn self_closing_start_tag(&mut self) -> Option<Token> {
        if self.pos >= self.len() {
            return None;
        }
        if self.at(self.pos) == b'>' {
            if self.pos == 0 {
                return None;
            }
            let start = self.pos - 1;
            self.state = State::Data;
            self.pos += 1;
            return Self::token(Kind::TagNameSelfClose, start, 2);
        }
        self.before_attribute_name()
    }

    fn bogus_comment(&mut self) -> Option<Token> {
        let start = self.pos;
        match self.find(start, b'>') {
            None => {
                self.pos = self.len();
                self.state = State::Eof;
                Self::token(Kind::TagComment, start, self.len().saturating_sub(start))
            }
            Some(gt) => {
                self.pos = gt + 1;
                self.state = State::Data;
                Self::token(Kind::TagComment, start, gt - start)
            }
        }
    }

    /// `<% … %>`, as IE and old Safari read it.
    fn bogus_comment2(&mut self) -> Option<Token> {
        let start = self.pos;
        let mut from = start;
        loop {
            match self.find(from, b'%') {
                Some(pct) if pct + 1 < self.len() => {
                    if self.at(pct + 1) != b'>' {
                        from = pct + 1;
                        continue;
                    }
                    self.pos = pct + 2;
                    self.state = State::Data;
                    return Self::token(Kind::TagComment, start, pct - start);
                }
                _ => {
                    self.pos = self.len();
                    self.state = State::Eof;
                    return Self::token(Kind::TagComment, start, self.len().saturating_sub(start));
                }
            }
        }
    }

    fn markup_declaration_open(&mut self) -> Option<Token> {
        let rest = self.s.get(self.pos..).unwrap_or(&[]);
        if rest.len() >= 7
            && rest
                .get(..7)
                .is_some_and(|r| r.eq_ignore_ascii_case(b"DOCTYPE"))
        {
            return self.doctype();
        }
        if rest.len() >= 7 && rest.get(..7) == Some(b"[CDATA[") {
            self.pos += 7;
            return self.cdata();
        }
        if rest.len() >= 2 && rest.get(..2) == Some(b"--") {
            self.pos += 2;
            return self.comment();
        }
        self.bogus_comment()
    }

    /// A comment ends at `-->`, `--!>` (NULs between the dashes are skipped) or the input's end.
    fn comment(&mut self) -> Option<Token> {
        let start = self.pos;
        let len = self.len();
        let to_end = |t: &mut Self| {
            t.state = State::Eof;
            Self::token(Kind::TagComment, start, len.saturating_sub(start))
        };
        let mut from = start;
        loop {
            let Some(dash) = self.find(from, b'-') else {
                return to_end(self);
            };
            if dash + 3 > len {
                return to_end(self);
            }
            let mut offset = 1;
            while dash + offset < len && self.at(dash + offset) == 0 {
                offset += 1;
            }
            if dash + offset == len {
                return to_end(self);
            }
            let ch = self.at(dash + offset);
            if ch != b'-' && ch != b'!' {
                from = dash + 1;
                continue;
            }
            offset += 1;
            if dash + offset == len {
                return to_end(self);
            }
            if self.at(dash + offset) != b'>' {
                from = dash + 1;
                continue;
            }
            offset += 1;
            self.pos = dash + offset;
            self.state = State::Data;
            return Self::token(Kind::TagComment, start, dash - start);
        }
    }

    fn cdata(&mut self) -> Option<Token> {
        let start = self.pos;
        let len = self.len();
        let mut from = start;
        loop {
            match self.find(from, b']') {
                Some(rb) if rb + 3 <= len => {
                    if self.at(rb + 1) == b']' && self.at(rb + 2) == b'>' {
                        self.state = State::Data;
                        self.pos = rb + 3;
                        return Self::token(Kind::DataText, start, rb - start);
                    }
                    from = rb + 1;
                }
                _ => {
                    self.state = State::Eof;
                    return Self::token(Kind::DataText, start, len.saturating_sub(start));
                }
            }
        }
    }

    fn doctype(&mut self) -> Option<Token> {
        let start = self.pos;
        match self.find(start, b'>') {
            None => {
                self.state = State::Eof;
                Self::token(Kind::Doctype, start, self.len().saturating_sub(start))
            }
            Some(gt) => {
                self.state = State::Data;
                self.pos = gt + 1;
                Self::token(Kind::Doctype, start, gt - start)
            }
        }
    }
}
