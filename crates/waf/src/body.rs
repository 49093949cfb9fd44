//! Request body processors: what `REQBODY_PROCESSOR` names turns the body into variables.
//! URLENCODED and JSON give `ARGS_POST` (JSON members named `json.a.b`, array items by index),
//! XML gives the text and attribute values `XML:/*` and `XML://@*` read; multipart is in
//! `multipart.rs`. Every processor is bounded — depth, number of values — and a body it cannot
//! read sets `REQBODY_ERROR` with a message instead of failing the request.

use crate::request::{parse_arguments, Pair};

/// The deepest a JSON or XML body may nest.
pub const MAX_DEPTH: usize = 128;
/// The most values one body may give.
pub const MAX_VALUES: usize = 10_000;

/// What a processor read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub args: Vec<Pair>,
    /// XML: (`/*` or `//@*`, value) pairs.
    pub xml: Vec<Pair>,
}

pub fn urlencoded(body: &[u8], separator: u8) -> Result<Parsed, String> {
    let args = parse_arguments(body, separator);
    if args.len() > MAX_VALUES {
        return Err(format!("more than {MAX_VALUES} arguments"));
    }
    Ok(Parsed {
        args,
        xml: Vec::new(),
    })
}

pub fn json(body: &[u8]) -> Result<Parsed, String> {
    // serde_json stops at 128 levels of nesting itself; deeper is a body error, not a stack
    // overflow.
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("JSON parsing error: {e}"))?;
    let mut args = Vec::new();
    flatten("json", &value, 0, &mut args)?;
    Ok(Parsed {
        args,
        xml: Vec::new(),
    })
}

fn flatten(
    name: &str,
    value: &serde_json::Value,
    depth: usize,
    out: &mut Vec<Pair>,
) -> Result<(), String> {
    use serde_json::Value;
    if depth > MAX_DEPTH {
        return Err(format!("JSON nests deeper than {MAX_DEPTH}"));
    }
    if out.len() > MAX_VALUES {
        return Err(format!("JSON holds more than {MAX_VALUES} values"));
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{name}.{k}"), v, depth + 1, out)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{name}.{i}"), v, depth + 1, out)?;
            }
        }
        Value::String(s) => out.push((name.as_bytes().to_vec(), s.as_bytes().to_vec())),
        Value::Number(n) => out.push((name.as_bytes().to_vec(), n.to_string().into_bytes())),
        Value::Bool(b) => out.push((name.as_bytes().to_vec(), b.to_string().into_bytes())),
        Value::Null => out.push((name.as_bytes().to_vec(), Vec::new())),
    }
    Ok(())
}

/// XML: all the text under the root as one value (`XML:/*`, as libxml2's content of the root
/// element reads), and each attribute's value (`XML://@*`). External entities are never read.
pub fn xml(body: &[u8]) -> Result<Parsed, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    let mut text = Vec::new();
    let mut attributes = Vec::new();
    let mut depth = 0usize;
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("XML parsing error at {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 && seen_root {
                    return Err("XML parsing error: more than one root element".into());
                }
                seen_root = true;
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| format!("XML attribute error: {e}"))?;
                    let raw = String::from_utf8_lossy(&attr.value);
                    let value = quick_xml::escape::unescape(&raw)
                        .map_or_else(|_| attr.value.to_vec(), |v| v.as_bytes().to_vec());
                    attributes.push((b"//@*".to_vec(), value));
                    if attributes.len() > MAX_VALUES {
                        return Err(format!("XML holds more than {MAX_VALUES} attributes"));
                    }
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(format!("XML nests deeper than {MAX_DEPTH}"));
                    }
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) if depth > 0 => text.extend_from_slice(&t.into_inner()),
            Event::CData(c) if depth > 0 => text.extend_from_slice(&c.into_inner()),
            // Character and predefined references only; any other entity is left out, never
            // fetched or expanded.
            Event::GeneralRef(r) if depth > 0 => {
                if let Some(c) = r.resolve_char_ref().ok().flatten() {
                    let mut utf8 = [0u8; 4];
                    text.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(
                    &String::from_utf8_lossy(&r.into_inner()),
                ) {
                    text.extend_from_slice(s.as_bytes());
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root || depth != 0 {
        return Err("XML parsing error: the document is incomplete".into());
    }
    let mut xml = vec![(b"/*".to_vec(), text)];
    xml.extend(attributes);
    Ok(Parsed {
        args: Vec::new(),
        xml,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pairs(p: &[Pair]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn json_members_are_named_by_their_path() {
        let p = json(r#"{"visitor":{"name":"张三","ids":["a",2,true,null]},"n":1.5}"#.as_bytes())
            .unwrap();
        let got = pairs(&p.args);
        assert!(got.contains(&("json.visitor.name".into(), "张三".into())));
        assert!(got.contains(&("json.visitor.ids.0".into(), "a".into())));
        assert!(got.contains(&("json.visitor.ids.1".into(), "2".into())));
        assert!(got.contains(&("json.visitor.ids.3".into(), String::new())));
        assert!(got.contains(&("json.n".into(), "1.5".into())));
        assert!(json(b"{\"a\":").is_err());
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(json(deep.as_bytes()).is_err(), "bounded, no stack overflow");
    }

    #[test]
    fn xml_gives_text_and_attributes() {
        let p = xml(
            br#"<?xml version="1.0"?><order id="7"><v n="x&amp;y">&lt;a&#62;&custom;</v><![CDATA[ b ]]></order>"#,
        )
        .unwrap();
        let got = pairs(&p.xml);
        assert_eq!(
            got[0],
            ("/*".into(), "<a> b ".into()),
            "an unknown entity is left out"
        );
        assert!(got.contains(&("//@*".into(), "7".into())));
        assert!(got.contains(&("//@*".into(), "x&y".into())), "{got:?}");
        assert!(xml(b"<a><b></a>").is_err());
        assert!(xml(b"not xml").is_err());
        assert!(xml(b"<a/><b/>").is_err());
        let deep = "<a>".repeat(1000) + &"</a>".repeat(1000);
        assert!(xml(deep.as_bytes()).is_err());
        assert_eq!(
            pairs(&urlencoded(b"a=1&b=%3C", b'&').unwrap().args),
            vec![("a".into(), "1".into()), ("b".into(), "<".into())]
        );
    }
}
