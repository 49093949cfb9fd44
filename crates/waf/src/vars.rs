//! A transaction's variables: the collections a rule's targets read (`ARGS`, `REQUEST_HEADERS`,
//! `TX` …), filled from the request and its body, and how one target resolves to named values.
//! Member names compare without regard to case, as ModSecurity's do.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::request::{decode_path, parse_arguments, Pair, Request};
use crate::seclang::{Selector, Target};

/// One value a target gave: its collection (`ARGS`), its member's name (`q`), and its bytes.
/// The full name (`ARGS:q`) is only put together when a rule needs it, after a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named<'a> {
    pub collection: Cow<'a, str>,
    pub key: Option<&'a [u8]>,
    pub value: Cow<'a, [u8]>,
}

impl Named<'_> {
    /// `ARGS:q`, or the variable's name alone.
    pub fn name(&self) -> String {
        let mut out = String::new();
        self.write_name(&mut out);
        out
    }

    /// Writes the name into `out` (emptied first), keeping its buffer.
    pub fn write_name(&self, out: &mut String) {
        out.clear();
        out.push_str(&self.collection);
        if let Some(k) = self.key {
            out.push(':');
            out.push_str(&String::from_utf8_lossy(k));
        }
    }
}

/// The variables of one transaction.
#[derive(Debug, Default)]
pub struct Vars {
    pub method: Vec<u8>,
    pub protocol: Vec<u8>,
    pub uri: Vec<u8>,
    pub uri_raw: Vec<u8>,
    pub filename: Vec<u8>,
    pub basename: Vec<u8>,
    pub query: Vec<u8>,
    pub line: Vec<u8>,
    pub headers: Vec<Pair>,
    pub cookies: Vec<Pair>,
    pub args_get: Vec<Pair>,
    pub args_post: Vec<Pair>,
    pub files: Vec<Pair>,
    pub file_sizes: Vec<usize>,
    pub content_type: Vec<u8>,
    pub multipart_part_headers: Vec<Pair>,
    pub multipart_flags: HashMap<&'static str, bool>,
    pub xml: Vec<Pair>,
    pub body: Vec<u8>,
    pub body_processor: Option<String>,
    /// `ctl:forceRequestBodyVariable`: REQUEST_BODY holds the body whatever its processor.
    pub force_body_variable: bool,
    pub body_error: Option<String>,
    pub remote_addr: Vec<u8>,
    pub remote_port: Vec<u8>,
    pub server_port: Vec<u8>,
    pub unique_id: Vec<u8>,
    pub response_status: Option<Vec<u8>>,
    pub response_protocol: Vec<u8>,
    pub response_headers: Vec<Pair>,
    pub response_body: Vec<u8>,
    pub response_content_type: Vec<u8>,
    /// `TX`: names in lower case.
    pub tx: HashMap<std::sync::Arc<str>, Vec<u8>, foldhash::fast::RandomState>,
    pub matched_var: Option<(String, Vec<u8>)>,
    pub matched_vars: Vec<(String, Vec<u8>)>,
}

/// A list of members of the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    ArgsGet,
    ArgsPost,
    Headers,
    Cookies,
    Files,
    PartHeaders,
    Xml,
    ResponseHeaders,
}

/// Where one value of request (or response) data sits. It stays put while a phase runs, so
/// the values of a target list can be found once a phase and shared by every rule that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A member's value, or its name (`ARGS_NAMES`), shown as `label`.
    Member {
        label: &'static str,
        list: Members,
        index: u32,
        name: bool,
    },
    /// A variable with one value that borrows the request.
    Single(Fixed),
}

/// The variables with one value that borrows the request, so a place names one without a
/// lookup by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixed {
    Method,
    Protocol,
    Uri,
    UriRaw,
    Filename,
    PathInfo,
    Basename,
    QueryString,
    Line,
    Body,
}

impl Fixed {
    const ALL: [Self; 10] = [
        Self::Method,
        Self::Protocol,
        Self::Uri,
        Self::UriRaw,
        Self::Filename,
        Self::PathInfo,
        Self::Basename,
        Self::QueryString,
        Self::Line,
        Self::Body,
    ];

    /// The one named `name`.
    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.label() == name)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Method => "REQUEST_METHOD",
            Self::Protocol => "REQUEST_PROTOCOL",
            Self::Uri => "REQUEST_URI",
            Self::UriRaw => "REQUEST_URI_RAW",
            Self::Filename => "REQUEST_FILENAME",
            Self::PathInfo => "PATH_INFO",
            Self::Basename => "REQUEST_BASENAME",
            Self::QueryString => "QUERY_STRING",
            Self::Line => "REQUEST_LINE",
            Self::Body => "REQUEST_BODY",
        }
    }
}

/// What a placed collection reads: lists of members, or one value.
enum Source {
    Members(&'static [(&'static str, Members, bool)]),
    Single(Fixed),
}

/// The collections whose values are places; none for the others.
fn placed(collection: &str) -> Option<Source> {
    use Members as M;
    use Source::{Members as Of, Single};
    Some(match collection {
        "ARGS" => Of(&[("ARGS", M::ArgsGet, false), ("ARGS", M::ArgsPost, false)]),
        "ARGS_NAMES" => Of(&[
            ("ARGS_NAMES", M::ArgsGet, true),
            ("ARGS_NAMES", M::ArgsPost, true),
        ]),
        "ARGS_GET" => Of(&[("ARGS_GET", M::ArgsGet, false)]),
        "ARGS_GET_NAMES" => Of(&[("ARGS_GET_NAMES", M::ArgsGet, true)]),
        "ARGS_POST" => Of(&[("ARGS_POST", M::ArgsPost, false)]),
        "ARGS_POST_NAMES" => Of(&[("ARGS_POST_NAMES", M::ArgsPost, true)]),
        "REQUEST_HEADERS" => Of(&[("REQUEST_HEADERS", M::Headers, false)]),
        "REQUEST_HEADERS_NAMES" => Of(&[("REQUEST_HEADERS_NAMES", M::Headers, true)]),
        "REQUEST_COOKIES" => Of(&[("REQUEST_COOKIES", M::Cookies, false)]),
        "REQUEST_COOKIES_NAMES" => Of(&[("REQUEST_COOKIES_NAMES", M::Cookies, true)]),
        "FILES" => Of(&[("FILES", M::Files, false)]),
        "FILES_NAMES" => Of(&[("FILES_NAMES", M::Files, true)]),
        "MULTIPART_PART_HEADERS" => Of(&[("MULTIPART_PART_HEADERS", M::PartHeaders, false)]),
        "XML" => Of(&[("XML", M::Xml, false)]),
        "RESPONSE_HEADERS" => Of(&[("RESPONSE_HEADERS", M::ResponseHeaders, false)]),
        "RESPONSE_HEADERS_NAMES" => Of(&[("RESPONSE_HEADERS_NAMES", M::ResponseHeaders, true)]),
        other => Single(Fixed::named(other)?),
    })
}

/// Whether every value `target` gives is a place (so a list of such targets can be found once
/// a phase).
pub fn is_placed(target: &Target) -> bool {
    !target.count && placed(target.collection).is_some()
}

fn name_is(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

impl Vars {
    /// The variables the request line, headers and cookies give (the body comes later).
    pub fn from_request(r: &Request, separator: u8, unique_id: String) -> Self {
        let filename = decode_path(r.raw_path());
        let basename = filename
            .iter()
            .rposition(|&b| b == b'/' || b == b'\\')
            .map_or_else(
                || filename.clone(),
                |i| filename.get(i + 1..).unwrap_or(&[]).to_vec(),
            );
        Self {
            method: r.method.as_bytes().to_vec(),
            protocol: r.protocol.as_bytes().to_vec(),
            uri: r.uri_without_host().as_bytes().to_vec(),
            uri_raw: r.uri.as_bytes().to_vec(),
            filename,
            basename,
            query: r.query().as_bytes().to_vec(),
            line: format!("{} {} {}", r.method, r.uri, r.protocol).into_bytes(),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()))
                .collect(),
            cookies: r.cookies(),
            args_get: parse_arguments(r.query().as_bytes(), separator),
            body: r.body.clone(),
            content_type: r.header("content-type").unwrap_or(&[]).to_vec(),
            remote_addr: r.client.to_string().into_bytes(),
            remote_port: r.client_port.to_string().into_bytes(),
            server_port: r.server_port.to_string().into_bytes(),
            unique_id: unique_id.into_bytes(),
            ..Self::default()
        }
    }

    /// The values `target` names (exclusions are the caller's), appended to `out`.
    /// `regex` finds a compiled `/regex/` selector.
    pub fn collect<'a>(
        &'a self,
        target: &Target,
        regex: &dyn Fn(&str) -> Option<&'a crate::selector::NamePattern>,
        out: &mut Vec<Named<'a>>,
    ) {
        self.each(target, regex, &mut |named| out.push(named));
    }

    /// Gives each value `target` names (exclusions are the caller's) to `f`, in order; for a
    /// count (`&ARGS`), their number.
    pub fn each<'a>(
        &'a self,
        target: &Target,
        regex: &dyn Fn(&str) -> Option<&'a crate::selector::NamePattern>,
        f: &mut dyn FnMut(Named<'a>),
    ) {
        let c = target.collection;
        if target.count {
            let mut n = 0usize;
            self.each_member(target, regex, &mut |_| n += 1);
            f(Named {
                collection: Cow::Borrowed(c),
                key: None,
                value: Cow::Owned(n.to_string().into_bytes()),
            });
        } else {
            self.each_member(target, regex, f);
        }
    }

    /// `each`, the count aside.
    fn each_member<'a>(
        &'a self,
        target: &Target,
        regex: &dyn Fn(&str) -> Option<&'a crate::selector::NamePattern>,
        f: &mut dyn FnMut(Named<'a>),
    ) {
        let c = target.collection;
        match c {
            "TX" => match &target.selector {
                // Names are kept in lower case (as the loader writes TX selectors).
                Some(Selector::Key(k)) => {
                    let found = self.tx.get_key_value(k.as_str()).or_else(|| {
                        k.bytes()
                            .any(|b| b.is_ascii_uppercase())
                            .then(|| self.tx.get_key_value(k.to_ascii_lowercase().as_str()))
                            .flatten()
                    });
                    if let Some((n, v)) = found {
                        f(Named {
                            collection: Cow::Borrowed("TX"),
                            key: Some(n.as_bytes()),
                            value: Cow::Borrowed(v),
                        });
                    }
                }
                selector => {
                    // Looked up once, not once per variable.
                    let pattern = match selector {
                        Some(Selector::Regex(r)) => Some(regex(r)),
                        _ => None,
                    };
                    for (n, v) in &self.tx {
                        let keep = match pattern {
                            Some(re) => re.is_some_and(|re| re.is_match(n.as_bytes())),
                            None => true,
                        };
                        if keep {
                            f(Named {
                                collection: Cow::Borrowed("TX"),
                                key: Some(n.as_bytes()),
                                value: Cow::Borrowed(v),
                            });
                        }
                    }
                }
            },
            "MATCHED_VARS" => {
                for (n, v) in &self.matched_vars {
                    f(Named {
                        collection: Cow::Borrowed(n),
                        key: None,
                        value: Cow::Borrowed(v),
                    });
                }
            }
            "MATCHED_VARS_NAMES" => {
                for (n, _) in &self.matched_vars {
                    f(Named {
                        collection: Cow::Borrowed(n),
                        key: None,
                        value: Cow::Borrowed(n.as_bytes()),
                    });
                }
            }
            _ => {
                let placed = self.each_place(target, regex, &mut |p| f(self.at(p)));
                if !placed {
                    if let Some(value) = self.single(c) {
                        f(Named {
                            collection: Cow::Borrowed(c),
                            key: None,
                            value,
                        });
                    }
                }
            }
        }
    }

    /// Where the values of `target` sit (its `&` count aside), appended to `out`; false, with
    /// nothing appended, for a target whose values are not request data that stays put for a
    /// phase (`TX`, `MATCHED_VAR`, computed lengths …).
    pub fn places<'a>(
        &'a self,
        target: &Target,
        regex: &dyn Fn(&str) -> Option<&'a crate::selector::NamePattern>,
        out: &mut Vec<Place>,
    ) -> bool {
        self.each_place(target, regex, &mut |p| out.push(p))
    }

    fn each_place<'a>(
        &'a self,
        target: &Target,
        regex: &dyn Fn(&str) -> Option<&'a crate::selector::NamePattern>,
        f: &mut dyn FnMut(Place),
    ) -> bool {
        let Some(source) = placed(target.collection) else {
            return false;
        };
        match source {
            Source::Single(fixed) => {
                if self.fixed(fixed).is_some() {
                    f(Place::Single(fixed));
                }
            }
            Source::Members(parts) => {
                let pattern = match &target.selector {
                    Some(Selector::Regex(r)) => regex(r),
                    _ => None,
                };
                for &(label, list, name) in parts {
                    for (i, (n, _)) in self.members(list).iter().enumerate() {
                        let keep = match &target.selector {
                            None => true,
                            Some(Selector::Key(k)) => name_is(n, k),
                            Some(Selector::Regex(_)) => pattern.is_some_and(|re| re.is_match(n)),
                        };
                        if keep {
                            f(Place::Member {
                                label,
                                list,
                                index: u32::try_from(i).unwrap_or(u32::MAX),
                                name,
                            });
                        }
                    }
                }
            }
        }
        true
    }

    fn members(&self, list: Members) -> &[Pair] {
        match list {
            Members::ArgsGet => &self.args_get,
            Members::ArgsPost => &self.args_post,
            Members::Headers => &self.headers,
            Members::Cookies => &self.cookies,
            Members::Files => &self.files,
            Members::PartHeaders => &self.multipart_part_headers,
            Members::Xml => &self.xml,
            Members::ResponseHeaders => &self.response_headers,
        }
    }

    /// The value at `place` (empty if the place has gone, which a phase never lets happen).
    pub fn at(&self, place: Place) -> Named<'_> {
        match place {
            Place::Single(fixed) => Named {
                collection: Cow::Borrowed(fixed.label()),
                key: None,
                value: Cow::Borrowed(self.fixed(fixed).unwrap_or(&[])),
            },
            Place::Member {
                label,
                list,
                index,
                name,
            } => {
                let (n, v) = self
                    .members(list)
                    .get(index as usize)
                    .map_or((&[][..], &[][..]), |(n, v)| (n.as_slice(), v.as_slice()));
                Named {
                    collection: Cow::Borrowed(label),
                    key: Some(n),
                    value: Cow::Borrowed(if name { n } else { v }),
                }
            }
        }
    }

    /// The value of a variable that borrows the request (none when it does not exist in this
    /// transaction).
    pub fn fixed(&self, fixed: Fixed) -> Option<&[u8]> {
        Some(match fixed {
            Fixed::Method => &self.method,
            Fixed::Protocol => &self.protocol,
            Fixed::Uri => &self.uri,
            Fixed::UriRaw => &self.uri_raw,
            Fixed::Filename | Fixed::PathInfo => &self.filename,
            Fixed::Basename => &self.basename,
            Fixed::QueryString => &self.query,
            Fixed::Line => &self.line,
            // As ModSecurity: the raw body is a variable only for forms, or when forced.
            Fixed::Body => {
                if !(self.force_body_variable
                    || self.body_processor.as_deref() == Some("URLENCODED"))
                {
                    return None;
                }
                &self.body
            }
        })
    }

    /// A variable with one value (or none, when it does not exist in this transaction).
    pub fn single(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        fn b(v: &[u8]) -> Option<Cow<'_, [u8]>> {
            Some(Cow::Borrowed(v))
        }
        let flag = |on: bool| Some(Cow::Owned(if on { b"1".to_vec() } else { b"0".to_vec() }));
        if let Some(Source::Single(fixed)) = placed(name) {
            return self.fixed(fixed).map(Cow::Borrowed);
        }
        match name {
            "REQUEST_BODY_LENGTH" => Some(Cow::Owned(self.body.len().to_string().into_bytes())),
            "REMOTE_ADDR" => b(&self.remote_addr),
            "REMOTE_PORT" => b(&self.remote_port),
            "SERVER_PORT" => b(&self.server_port),
            "UNIQUE_ID" => b(&self.unique_id),
            // Empty, not absent, when no processor was chosen (the CRS's 901340 tests it).
            "REQBODY_PROCESSOR" => Some(Cow::Borrowed(
                self.body_processor.as_deref().unwrap_or("").as_bytes(),
            )),
            "REQBODY_ERROR" | "REQBODY_PROCESSOR_ERROR" => flag(self.body_error.is_some()),
            "REQBODY_ERROR_MSG" | "REQBODY_PROCESSOR_ERROR_MSG" => Some(Cow::Borrowed(
                self.body_error.as_deref().unwrap_or("").as_bytes(),
            )),
            "RESPONSE_STATUS" => self.response_status.as_deref().map(Cow::Borrowed),
            "RESPONSE_PROTOCOL" => b(&self.response_protocol),
            "RESPONSE_BODY" => b(&self.response_body),
            "RESPONSE_CONTENT_TYPE" => b(&self.response_content_type),
            "RESPONSE_CONTENT_LENGTH" => Some(Cow::Owned(
                self.response_body.len().to_string().into_bytes(),
            )),
            "STATUS_LINE" => self.response_status.as_ref().map(|s| {
                let mut line = self.response_protocol.clone();
                line.push(b' ');
                line.extend_from_slice(s);
                Cow::Owned(line)
            }),
            "MATCHED_VAR" => self
                .matched_var
                .as_ref()
                .map(|(_, v)| Cow::Borrowed(v.as_slice())),
            "MATCHED_VAR_NAME" => self
                .matched_var
                .as_ref()
                .map(|(n, _)| Cow::Borrowed(n.as_bytes())),
            "ARGS_COMBINED_SIZE" => Some(Cow::Owned(
                self.args_get
                    .iter()
                    .chain(&self.args_post)
                    .map(|(n, v)| n.len() + v.len())
                    .sum::<usize>()
                    .to_string()
                    .into_bytes(),
            )),
            "FILES_COMBINED_SIZE" => Some(Cow::Owned(
                self.file_sizes
                    .iter()
                    .sum::<usize>()
                    .to_string()
                    .into_bytes(),
            )),
            other => other
                .strip_prefix("MULTIPART_")
                .and_then(|flag_name| {
                    self.multipart_flags
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(flag_name))
                        .map(|(_, v)| *v)
                })
                .map(|on| Cow::Owned(if on { b"1".to_vec() } else { b"0".to_vec() })),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::seclang::targets::parse;

    fn vars() -> Vars {
        let r = Request {
            method: "GET".into(),
            uri: "/shop/item.php?id=1&Name=%27x&id=2".into(),
            protocol: "HTTP/1.1".into(),
            headers: vec![
                ("Host".into(), b"museum.example".to_vec()),
                ("Cookie".into(), b"_ga=1; session=s".to_vec()),
            ],
            body: Vec::new(),
            client: "198.51.100.7".parse().unwrap(),
            client_port: 40000,
            server_port: 80,
        };
        let mut v = Vars::from_request(&r, b'&', "u1".into());
        v.tx.insert("score".into(), b"5".to_vec());
        v
    }

    fn values(v: &Vars, spec: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let re = crate::selector::NamePattern::new("^_g").unwrap();
        for t in parse(spec).unwrap() {
            v.collect(&t, &|_| Some(&re), &mut out);
        }
        out.into_iter()
            .map(|n| (n.name(), String::from_utf8_lossy(&n.value).into_owned()))
            .collect()
    }

    #[test]
    fn every_fixed_variable_is_known_and_found_by_its_name() {
        for f in Fixed::ALL {
            assert_eq!(Fixed::named(f.label()), Some(f));
            assert_eq!(crate::seclang::targets::known(f.label()), Some(f.label()));
        }
        assert_eq!(Fixed::named("REQUEST_HEADERS"), None);
    }

    #[test]
    fn targets_resolve_to_named_values() {
        let v = vars();
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            values(&v, "ARGS"),
            vec![
                pair("ARGS:id", "1"),
                pair("ARGS:Name", "'x"),
                pair("ARGS:id", "2")
            ]
        );
        assert_eq!(
            values(&v, "ARGS:name"),
            vec![pair("ARGS:Name", "'x")],
            "any case"
        );
        assert_eq!(values(&v, "&ARGS:id"), vec![pair("ARGS", "2")]);
        assert_eq!(values(&v, "&ARGS:missing"), vec![pair("ARGS", "0")]);
        assert_eq!(
            values(&v, "REQUEST_HEADERS:host"),
            vec![pair("REQUEST_HEADERS:Host", "museum.example")]
        );
        assert_eq!(
            values(&v, "REQUEST_COOKIES:/^_g/"),
            vec![pair("REQUEST_COOKIES:_ga", "1")]
        );
        assert_eq!(values(&v, "TX:SCORE"), vec![pair("TX:score", "5")]);
        assert_eq!(
            values(&v, "REQUEST_BASENAME|REQUEST_FILENAME"),
            vec![
                pair("REQUEST_BASENAME", "item.php"),
                pair("REQUEST_FILENAME", "/shop/item.php"),
            ]
        );
        assert_eq!(
            values(&v, "REQBODY_PROCESSOR"),
            vec![pair("REQBODY_PROCESSOR", "")],
            "none yet: empty, not absent"
        );
        assert!(
            values(&v, "REQUEST_BODY").is_empty(),
            "only forms, or when forced"
        );
        assert_eq!(
            values(&v, "REQUEST_LINE")[0].1,
            "GET /shop/item.php?id=1&Name=%27x&id=2 HTTP/1.1"
        );
    }
}
