//! Route patterns in the policy: `[METHOD ]PATH`, where a path segment is a literal, `{name}`
//! (any one segment) or, last, `*` (the rest, possibly nothing). `*` alone is every request.
//! Examples: `POST /api/v1/orders`, `GET /api/v1/slots/{id}/seats`, `/api/*`.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    method: Option<String>,
    segments: Vec<Segment>,
    /// Ends with `*`.
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl RoutePattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (method, path) = match text.split_once(' ') {
            Some((m, p)) => {
                let m = m.trim();
                if !METHODS.contains(&m) {
                    return Err(format!("unknown method {m:?} (use one of {METHODS:?})"));
                }
                (Some(m.to_owned()), p.trim())
            }
            None => (None, text),
        };
        if path == "*" {
            return Ok(Self {
                method,
                segments: Vec::new(),
                rest: true,
            });
        }
        let Some(path) = path.strip_prefix('/') else {
            return Err("a path starts with / (or is *)".into());
        };
        let mut segments = Vec::new();
        let mut rest = false;
        let parts: Vec<&str> = path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            if *part == "*" {
                if i + 1 != parts.len() {
                    return Err("* may only end a path".into());
                }
                rest = true;
            } else if part.starts_with('{') && part.ends_with('}') && part.len() > 2 {
                segments.push(Segment::Any);
            } else if part.contains(['{', '}', '*', '?', '#', ' ']) {
                return Err(format!("bad path segment {part:?}"));
            } else {
                segments.push(Segment::Literal((*part).to_owned()));
            }
        }
        Ok(Self {
            method,
            segments,
            rest,
        })
    }

    /// The method the pattern names, if any.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The path part as an anchored regular expression over a whole path (for engines that
    /// match paths by regex, such as the firewall's rules).
    pub fn path_regex(&self) -> String {
        let mut out = String::from("^");
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(l) => out.push_str(&regex_escape(l)),
                Segment::Any => out.push_str("[^/]+"),
            }
        }
        if self.rest {
            out.push_str("(?:/.*)?$");
        } else {
            if self.segments.is_empty() {
                out.push('/');
            }
            out.push('$');
        }
        out
    }

    /// Whether a request (its method, and its path without the query) matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.matches_split(method, &Path::split(path))
    }

    /// [`Self::matches`] over a path split once for all the patterns a request meets.
    pub fn matches_split(&self, method: &str, path: &Path<'_>) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let mut parts = path.segments();
        for segment in &self.segments {
            match (segment, parts.next()) {
                (_, None) => return false,
                (Segment::Any, Some(p)) => {
                    if p.is_empty() {
                        return false;
                    }
                }
                (Segment::Literal(l), Some(p)) => {
                    if l != p {
                        return false;
                    }
                }
            }
        }
        self.rest || parts.next().is_none()
    }
}

/// `text` with every character a regular expression gives a meaning to escaped.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The most segments kept from a path; a longer path's remaining segments are one segment
/// (no policy pattern is that long).
const MAX_SEGMENTS: usize = 24;

/// A request path split at `/` once.
pub struct Path<'a> {
    parts: [&'a str; MAX_SEGMENTS],
    len: usize,
}

impl<'a> Path<'a> {
    pub fn split(path: &'a str) -> Self {
        let mut parts = [""; MAX_SEGMENTS];
        let mut len = 0;
        let mut rest = path.strip_prefix('/').unwrap_or(path);
        loop {
            if len + 1 == MAX_SEGMENTS {
                if let Some(slot) = parts.get_mut(len) {
                    *slot = rest;
                }
                len += 1;
                break;
            }
            match rest.split_once('/') {
                Some((head, tail)) => {
                    if let Some(slot) = parts.get_mut(len) {
                        *slot = head;
                    }
                    len += 1;
                    rest = tail;
                }
                None => {
                    if let Some(slot) = parts.get_mut(len) {
                        *slot = rest;
                    }
                    len += 1;
                    break;
                }
            }
        }
        Self { parts, len }
    }

    fn segments(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.parts.iter().take(self.len).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, method: &str, path: &str) -> bool {
        RoutePattern::parse(pattern).unwrap().matches(method, path)
    }

    #[test]
    fn patterns_match_methods_literals_parameters_and_rests() {
        assert!(m("*", "GET", "/anything/at/all"));
        assert!(m("POST *", "POST", "/x"));
        assert!(!m("POST *", "GET", "/x"));
        assert!(m("POST /api/v1/orders", "POST", "/api/v1/orders"));
        assert!(!m("POST /api/v1/orders", "POST", "/api/v1/orders/1"));
        assert!(!m("POST /api/v1/orders", "POST", "/api/v1/order"));
        assert!(m(
            "GET /api/v1/slots/{id}/seats",
            "GET",
            "/api/v1/slots/7/seats"
        ));
        assert!(!m(
            "GET /api/v1/slots/{id}/seats",
            "GET",
            "/api/v1/slots//seats"
        ));
        assert!(m("/api/*", "DELETE", "/api/v1/x"));
        assert!(m("/api/*", "GET", "/api"));
        assert!(!m("/api/*", "GET", "/apix"));
        assert!(m("/", "GET", "/"));
        assert!(!m("/", "GET", "/a"));
    }

    #[test]
    fn very_long_paths_keep_their_tail_in_the_last_segment() {
        let long = format!("/{}", vec!["a"; 40].join("/"));
        assert!(m("/a/*", "GET", &long));
        assert!(!m("/a/a", "GET", &long));
        assert_eq!(Path::split(&long).len, MAX_SEGMENTS);
    }

    #[test]
    fn path_regexes_match_what_the_pattern_matches() {
        for (pattern, yes, no) in [
            ("POST /api/v1/orders", "/api/v1/orders", "/api/v1/orders/7"),
            (
                "/api/v1/slots/{id}/seats",
                "/api/v1/slots/42/seats",
                "/api/v1/slots//seats",
            ),
            ("/api/*", "/api/v1/x", "/apix"),
            ("/a.b", "/a.b", "/axb"),
        ] {
            let p = RoutePattern::parse(pattern).unwrap();
            let re = regex::Regex::new(&p.path_regex()).unwrap();
            assert!(
                re.is_match(yes) && p.matches(p.method().unwrap_or("GET"), yes),
                "{pattern} {yes}"
            );
            assert!(
                !re.is_match(no) && !p.matches(p.method().unwrap_or("GET"), no),
                "{pattern} {no}"
            );
        }
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        assert!(RoutePattern::parse("FETCH /x")
            .unwrap_err()
            .contains("method"));
        assert!(RoutePattern::parse("api/x").is_err());
        assert!(RoutePattern::parse("/a/*/b").unwrap_err().contains("end"));
        assert!(RoutePattern::parse("/a{b").is_err());
    }
}
