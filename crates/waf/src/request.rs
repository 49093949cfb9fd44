//! The request the firewall examines, and the variables SecLang reads from it: the request
//! line's parts, headers, cookies and arguments. Parsing is ModSecurity's: arguments split on
//! `&` (or the configured separator) and `=`, names and values URL-decoded with `+` as space,
//! broken escapes kept; cookies split on `;` and kept as sent.

use std::net::IpAddr;

use crate::transform::Transformation;

/// One HTTP request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (origin form `/a?b`, or absolute form `http://h/a?b`).
    pub uri: String,
    /// `HTTP/1.1` and the like.
    pub protocol: String,
    /// Header names as sent, with their values (repeated headers repeat).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub client: IpAddr,
    pub client_port: u16,
    pub server_port: u16,
}

/// The response the upstream gave, for the response phases (3 and 4).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `HTTP/1.1` and the like.
    pub protocol: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (named without regard to case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        first_header(&self.headers, name)
    }
}

fn first_header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// A named value of a collection.
pub type Pair = (Vec<u8>, Vec<u8>);

impl Request {
    /// The first value of a header (named without regard to case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        first_header(&self.headers, name)
    }

    /// The URI without a scheme and host (an absolute-form target's path and query).
    pub fn uri_without_host(&self) -> &str {
        let uri = self.uri.as_str();
        for scheme in ["http://", "https://"] {
            if let Some(rest) = uri
                .get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .and_then(|_| uri.get(scheme.len()..))
            {
                return rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/");
            }
        }
        uri
    }

    /// The path (before `?` and `#`), as sent.
    pub fn raw_path(&self) -> &str {
        let uri = self.uri_without_host();
        let end = uri.find(['?', '#']).unwrap_or(uri.len());
        uri.get(..end).unwrap_or(uri)
    }

    /// The query string (after `?`, before `#`), as sent.
    pub fn query(&self) -> &str {
        let uri = self.uri_without_host();
        match uri.find('?') {
            Some(q) => {
                let rest = uri.get(q + 1..).unwrap_or("");
                rest.get(..rest.find('#').unwrap_or(rest.len()))
                    .unwrap_or(rest)
            }
            None => "",
        }
    }

    /// Cookies, from every `Cookie` header.
    pub fn cookies(&self) -> Vec<Pair> {
        let mut out = Vec::new();
        for (_, value) in self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        {
            for part in value.split(|&b| b == b';') {
                let part = trim(part);
                if part.is_empty() {
                    continue;
                }
                match part.iter().position(|&b| b == b'=') {
                    Some(eq) => out.push((
                        trim(part.get(..eq).unwrap_or(&[])).to_vec(),
                        part.get(eq + 1..).unwrap_or(&[]).to_vec(),
                    )),
                    None => out.push((part.to_vec(), Vec::new())),
                }
            }
        }
        out
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or(&[])
}

/// `a=1&b=2` into decoded pairs (an empty piece is skipped; a piece without `=` has an empty
/// value).
pub fn parse_arguments(text: &[u8], separator: u8) -> Vec<Pair> {
    text.split(|&b| b == separator)
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    piece.get(..eq).unwrap_or(&[]),
                    piece.get(eq + 1..).unwrap_or(&[]),
                ),
                None => (piece, &[][..]),
            };
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(b: &[u8]) -> Vec<u8> {
    Transformation::UrlDecode.apply(b).into_owned()
}

/// Percent-decoding of a path (`+` stays a plus there).
pub fn decode_path(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    if !bytes.contains(&b'%') {
        return bytes.to_vec();
    }
    let escaped: Vec<u8> = bytes
        .iter()
        .flat_map(|&b| if b == b'+' { b"%2B".to_vec() } else { vec![b] })
        .collect();
    decode(&escaped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(uri: &str, cookie: &str) -> Request {
        Request {
            method: "GET".into(),
            uri: uri.into(),
            protocol: "HTTP/1.1".into(),
            headers: vec![
                ("Host".into(), b"localhost".to_vec()),
                ("Cookie".into(), cookie.as_bytes().to_vec()),
            ],
            body: Vec::new(),
            client: "127.0.0.1".parse().unwrap(),
            client_port: 40000,
            server_port: 80,
        }
    }

    #[test]
    fn the_request_line_splits_into_its_parts() {
        let r = request("http://example.com/a%20b/c.php?x=1&y=%3Cz%3E+w#frag", "");
        assert_eq!(r.uri_without_host(), "/a%20b/c.php?x=1&y=%3Cz%3E+w#frag");
        assert_eq!(r.raw_path(), "/a%20b/c.php");
        assert_eq!(r.query(), "x=1&y=%3Cz%3E+w");
        assert_eq!(decode_path(r.raw_path()), b"/a b/c.php");
        assert_eq!(decode_path("/a+b"), b"/a+b");
        assert_eq!(
            parse_arguments(r.query().as_bytes(), b'&'),
            vec![
                (b"x".to_vec(), b"1".to_vec()),
                (b"y".to_vec(), b"<z> w".to_vec())
            ]
        );
        assert_eq!(request("/only", "").query(), "");
        assert_eq!(r.header("HOST"), Some(&b"localhost"[..]));
    }

    #[test]
    fn arguments_and_cookies_tolerate_anything() {
        assert_eq!(
            parse_arguments(b"&a&=b&c=%zz&", b'&'),
            vec![
                (b"a".to_vec(), Vec::new()),
                (Vec::new(), b"b".to_vec()),
                (b"c".to_vec(), b"%zz".to_vec())
            ]
        );
        let r = request("/", " session=abc; theme = dark ;flag;;x=a=b");
        assert_eq!(
            r.cookies(),
            vec![
                (b"session".to_vec(), b"abc".to_vec()),
                (b"theme".to_vec(), b" dark".to_vec()),
                (b"flag".to_vec(), Vec::new()),
                (b"x".to_vec(), b"a=b".to_vec()),
            ]
        );
    }
}
