//! A rule's targets: `REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS_NAMES|ARGS|XML:/*`. Each is
//! a collection, optionally one member of it (by name, or by a `/regex/`), counted (`&`) or
//! excluded (`!`). A regex may itself hold `|`, so the list is read one target at a time, not
//! split. For `XML` the member is an XPath expression, never a regex.

/// Which members of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Members with this name (compared without regard to case).
    Key(String),
    /// Members whose names match this regular expression.
    Regex(String),
}

/// One target as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The collection's name, upper case (`ARGS`, `TX`, `REQUEST_HEADERS` …): its entry in
    /// [`KNOWN`], so a value's label borrows it instead of being looked up or copied.
    pub collection: &'static str,
    pub selector: Option<Selector>,
    /// `&`: the number of matching members, not their values.
    pub count: bool,
    /// `!`: these members are left out of the collection.
    pub exclude: bool,
}

/// Every collection and variable the engine knows.
pub const KNOWN: &[&str] = &[
    "ARGS",
    "ARGS_COMBINED_SIZE",
    "ARGS_GET",
    "ARGS_GET_NAMES",
    "ARGS_NAMES",
    "ARGS_POST",
    "ARGS_POST_NAMES",
    "AUTH_TYPE",
    "DURATION",
    "ENV",
    "FILES",
    "FILES_COMBINED_SIZE",
    "FILES_NAMES",
    "FILES_SIZES",
    "FILES_TMPNAMES",
    "FILES_TMP_CONTENT",
    "FULL_REQUEST",
    "FULL_REQUEST_LENGTH",
    "GEO",
    "HIGHEST_SEVERITY",
    "INBOUND_DATA_ERROR",
    "IP",
    "MATCHED_VAR",
    "MATCHED_VARS",
    "MATCHED_VARS_NAMES",
    "MATCHED_VAR_NAME",
    "MULTIPART_BOUNDARY_QUOTED",
    "MULTIPART_BOUNDARY_WHITESPACE",
    "MULTIPART_CRLF_LF_LINES",
    "MULTIPART_DATA_AFTER",
    "MULTIPART_DATA_BEFORE",
    "MULTIPART_FILENAME",
    "MULTIPART_FILE_LIMIT_EXCEEDED",
    "MULTIPART_HEADER_FOLDING",
    "MULTIPART_INVALID_HEADER_FOLDING",
    "MULTIPART_INVALID_PART",
    "MULTIPART_INVALID_QUOTING",
    "MULTIPART_LF_LINE",
    "MULTIPART_MISSING_SEMICOLON",
    "MULTIPART_NAME",
    "MULTIPART_PART_HEADERS",
    "MULTIPART_STRICT_ERROR",
    "MULTIPART_UNMATCHED_BOUNDARY",
    "OUTBOUND_DATA_ERROR",
    "PATH_INFO",
    "QUERY_STRING",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_PORT",
    "REMOTE_USER",
    "REQBODY_ERROR",
    "REQBODY_ERROR_MSG",
    "REQBODY_PROCESSOR",
    "REQBODY_PROCESSOR_ERROR",
    "REQUEST_BASENAME",
    "REQUEST_BODY",
    "REQUEST_BODY_LENGTH",
    "REQUEST_COOKIES",
    "REQUEST_COOKIES_NAMES",
    "REQUEST_FILENAME",
    "REQUEST_HEADERS",
    "REQUEST_HEADERS_NAMES",
    "REQUEST_LINE",
    "REQUEST_METHOD",
    "REQUEST_PROTOCOL",
    "REQUEST_URI",
    "REQUEST_URI_RAW",
    "RESOURCE",
    "RESPONSE_BODY",
    "RESPONSE_CONTENT_LENGTH",
    "RESPONSE_CONTENT_TYPE",
    "RESPONSE_HEADERS",
    "RESPONSE_HEADERS_NAMES",
    "RESPONSE_PROTOCOL",
    "RESPONSE_STATUS",
    "RULE",
    "SERVER_ADDR",
    "SERVER_NAME",
    "SERVER_PORT",
    "SESSION",
    "SESSIONID",
    "STATUS_LINE",
    "TIME",
    "TIME_DAY",
    "TIME_EPOCH",
    "TIME_HOUR",
    "TIME_MIN",
    "TIME_MON",
    "TIME_SEC",
    "TIME_WDAY",
    "TIME_YEAR",
    "TX",
    "UNIQUE_ID",
    "URLENCODED_ERROR",
    "USER",
    "USERID",
    "WEBAPPID",
    "XML",
];

/// The entry of [`KNOWN`] that is `name` (upper case), if any.
pub fn known(name: &str) -> Option<&'static str> {
    KNOWN
        .binary_search(&name)
        .ok()
        .and_then(|i| KNOWN.get(i).copied())
}

/// Parses a target list.
pub fn parse(list: &str) -> Result<Vec<Target>, String> {
    let chars: Vec<char> = list.trim().chars().collect();
    let mut at = 0;
    let mut out = Vec::new();
    while at < chars.len() {
        let mut target = Target {
            collection: "",
            selector: None,
            count: false,
            exclude: false,
        };
        loop {
            match chars.get(at) {
                Some('&') => target.count = true,
                Some('!') => target.exclude = true,
                _ => break,
            }
            at += 1;
        }
        let mut name = String::new();
        while let Some(&c) = chars.get(at) {
            if c == ':' || c == '|' {
                break;
            }
            name.push(c.to_ascii_uppercase());
            at += 1;
        }
        target.collection =
            known(name.trim()).ok_or_else(|| format!("unknown variable {:?}", name.trim()))?;
        if chars.get(at) == Some(&':') {
            at += 1;
            let (selector, next) = selector(&chars, at, target.collection == "XML")?;
            // The transaction keeps TX names in lower case: so do its selectors.
            target.selector = Some(match selector {
                Selector::Key(k) if target.collection == "TX" => {
                    Selector::Key(k.to_ascii_lowercase())
                }
                other => other,
            });
            at = next;
        }
        match chars.get(at) {
            None => {}
            Some('|') => at += 1,
            Some(c) => {
                return Err(format!(
                    "unexpected {c:?} after target {}",
                    target.collection
                ))
            }
        }
        out.push(target);
    }
    if out.is_empty() {
        return Err("no targets".into());
    }
    Ok(out)
}

/// Reads a member selector starting at `at`; returns it and where the next target starts.
fn selector(chars: &[char], mut at: usize, xpath: bool) -> Result<(Selector, usize), String> {
    let quoted = chars.get(at) == Some(&'\'');
    if quoted {
        at += 1;
    }
    if !xpath && chars.get(at) == Some(&'/') {
        let mut regex = String::new();
        at += 1;
        loop {
            match chars.get(at) {
                None => return Err(format!("a /regex/ selector is not closed: /{regex}")),
                Some('\\') if chars.get(at + 1) == Some(&'/') => {
                    regex.push('/');
                    at += 2;
                }
                Some('/') => {
                    at += 1;
                    break;
                }
                Some(&c) => {
                    regex.push(c);
                    at += 1;
                }
            }
        }
        if quoted {
            if chars.get(at) != Some(&'\'') {
                return Err("a quoted selector is not closed".into());
            }
            at += 1;
        }
        return Ok((Selector::Regex(regex), at));
    }
    let mut key = String::new();
    while let Some(&c) = chars.get(at) {
        if quoted && c == '\'' {
            at += 1;
            return Ok((Selector::Key(key), at));
        }
        if !quoted && c == '|' {
            break;
        }
        key.push(c);
        at += 1;
    }
    if quoted {
        return Err("a quoted selector is not closed".into());
    }
    Ok((Selector::Key(key), at))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn regex_selectors_may_hold_bars_and_xml_takes_xpath() {
        let t =
            parse("REQUEST_COOKIES|!REQUEST_COOKIES:/^(?:_ga|_gid)$/|&ARGS:id|XML:/*|args_names")
                .unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t[1].collection, "REQUEST_COOKIES");
        assert!(t[1].exclude);
        assert_eq!(
            t[1].selector,
            Some(Selector::Regex("^(?:_ga|_gid)$".into()))
        );
        assert!(t[2].count);
        assert_eq!(t[2].selector, Some(Selector::Key("id".into())));
        assert_eq!(t[3].selector, Some(Selector::Key("/*".into())));
        assert_eq!(t[4].collection, "ARGS_NAMES");
        let q = parse("!REQUEST_COOKIES:'/^a\\/b/'|TX:'x y'").unwrap();
        assert_eq!(q[0].selector, Some(Selector::Regex("^a/b".into())));
        assert_eq!(q[1].selector, Some(Selector::Key("x y".into())));
    }

    #[test]
    fn every_known_variable_is_found() {
        // `known` searches by halves: the list must stay sorted.
        assert!(KNOWN.windows(2).all(|w| w[0] < w[1]));
        for name in KNOWN {
            assert_eq!(known(name), Some(*name));
        }
        assert_eq!(known("ARGZ"), None);
        assert_eq!(known("args"), None, "callers upper-case first");
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(parse("ARGZ").unwrap_err().contains("ARGZ"));
        assert!(parse("ARGS:/open").is_err());
        assert!(parse("").is_err());
    }
}
