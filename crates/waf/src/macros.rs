//! Macros in action values and operator arguments: `%{tx.critical_anomaly_score}`,
//! `%{MATCHED_VAR}`, `%{request_headers.host}`. Parsed once when rules load; expanded per
//! transaction by a resolver. A macro naming nothing expands to nothing, as in ModSecurity.

/// Finds a variable's value for a macro: its collection (upper case) and member (lower case).
pub type Resolve<'a> = dyn Fn(&str, Option<&str>) -> Option<Vec<u8>> + 'a;

/// A text with macros, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroText {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A variable: its collection (upper case) and member (lower case), if any.
    Var {
        collection: String,
        key: Option<String>,
    },
}

impl MacroText {
    pub fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("%{") {
            let Some(len) = rest.get(start + 2..).and_then(|r| r.find('}')) else {
                break;
            };
            if start > 0 {
                parts.push(Part::Literal(rest.get(..start).unwrap_or("").to_owned()));
            }
            let name = rest.get(start + 2..start + 2 + len).unwrap_or("");
            let (collection, key) = match name.split_once('.') {
                Some((c, k)) => (c, Some(k.to_ascii_lowercase())),
                None => (name, None),
            };
            parts.push(Part::Var {
                collection: collection.to_ascii_uppercase(),
                key,
            });
            rest = rest.get(start + 2 + len + 1..).unwrap_or("");
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Self { parts }
    }

    /// Whether there is anything to expand.
    /// The text, when it has no macros.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The text with every macro replaced by what `resolve(collection, key)` gives.
    pub fn expand(&self, resolve: &Resolve<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Part::Var { collection, key } => {
                    if let Some(value) = resolve(collection, key.as_deref()) {
                        out.extend_from_slice(&value);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn macros_expand_and_unknown_ones_vanish() {
        let m = MacroText::parse("Matched %{TX.0} in %{matched_var_name}: %{tx.none}%{ broken");
        assert!(!m.is_literal());
        let resolve = |c: &str, k: Option<&str>| match (c, k) {
            ("TX", Some("0")) => Some(b"union".to_vec()),
            ("MATCHED_VAR_NAME", None) => Some(b"ARGS:q".to_vec()),
            _ => None,
        };
        assert_eq!(
            String::from_utf8(m.expand(&resolve)).unwrap(),
            "Matched union in ARGS:q: %{ broken"
        );
        assert!(MacroText::parse("plain").is_literal());
    }
}
