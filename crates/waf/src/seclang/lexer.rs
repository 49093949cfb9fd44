//! Rule files as lines of words, the way Apache-style configuration reads them (ModSecurity's
//! and Coraza's parsers agree): `#` starts a comment line, a backslash at the end of a line
//! joins the next, and a directive's arguments are words separated by white space, where a word
//! in double (or single) quotes may hold spaces and `\"` stands for a quote. Every other
//! backslash is kept as it is, because regular expressions are full of them.

use super::ParseError;

/// One directive as written: its name, its arguments, and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub name: String,
    pub args: Vec<String>,
}

/// The directives of a file, in order.
pub fn lines(text: &str, origin: &str) -> Result<Vec<Line>, ParseError> {
    let mut out = Vec::new();
    let mut joined = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if joined.is_empty() {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            start = number;
        }
        match raw.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                continue;
            }
            None => joined.push_str(raw),
        }
        let words = words(&joined).map_err(|message| ParseError::at(origin, start, message))?;
        joined.clear();
        let mut words = words.into_iter();
        if let Some(name) = words.next() {
            out.push(Line {
                number: start,
                name,
                args: words.collect(),
            });
        }
    }
    if !joined.is_empty() {
        return Err(ParseError::at(
            origin,
            start,
            "the file ends inside a continued line",
        ));
    }
    Ok(out)
}

/// Splits a logical line into words.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&first) {
                    word.push(first);
                    chars.next();
                } else if c == first {
                    closed = true;
                    break;
                } else {
                    word.push(c);
                }
            }
            if !closed {
                return Err(format!("a quoted argument is not closed: {first}{word}"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn continued_lines_join_and_quotes_keep_backslashes() {
        let text = "# a comment\n\nSecRule ARGS \"@rx \\d+\\\"x\" \\\n    \"id:1,\\\n    msg:'a b'\"\nSecMarker END\n";
        let lines = lines(text, "t.conf").unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].number, 3);
        assert_eq!(lines[0].name, "SecRule");
        assert_eq!(
            lines[0].args,
            vec!["ARGS", "@rx \\d+\"x", "id:1,    msg:'a b'"]
        );
        assert_eq!(lines[1].args, vec!["END"]);
    }

    #[test]
    fn broken_input_is_an_error_with_its_line() {
        let e = lines("\nSecRule ARGS \"@rx x\n", "f.conf").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("f.conf:2"), "{e}");
        assert!(lines("SecRule ARGS \\", "f.conf").is_err());
    }
}
