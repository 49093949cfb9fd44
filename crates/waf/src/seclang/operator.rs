//! A rule's operator: `@rx …`, `!@eq 0`, `@pmFromFile lfi-os-files.data`; a bare pattern with no
//! `@name` is a regular expression, as in ModSecurity.

/// One operator as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSpec {
    pub negated: bool,
    /// As the engine names it (`rx`, `pmFromFile`, `detectSQLi` …).
    pub name: String,
    pub argument: String,
}

/// Every operator the engine knows.
const KNOWN: &[&str] = &[
    "beginsWith",
    "contains",
    "containsWord",
    "detectSQLi",
    "detectXSS",
    "endsWith",
    "eq",
    "fuzzyHash",
    "ge",
    "geoLookup",
    "gt",
    "inspectFile",
    "ipMatch",
    "ipMatchF",
    "ipMatchFromFile",
    "le",
    "lt",
    "noMatch",
    "pm",
    "pmf",
    "pmFromFile",
    "rbl",
    "rsub",
    "rx",
    "rxGlobal",
    "streq",
    "strmatch",
    "unconditionalMatch",
    "validateByteRange",
    "validateDTD",
    "validateHash",
    "validateSchema",
    "validateUrlEncoding",
    "validateUtf8Encoding",
    "verifyCC",
    "verifyCPF",
    "verifySSN",
    "within",
];

pub fn parse(text: &str) -> Result<OperatorSpec, String> {
    let text = text.trim_start();
    let (negated, text) = match text.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, text),
    };
    let Some(named) = text.strip_prefix('@') else {
        return Ok(OperatorSpec {
            negated,
            name: "rx".into(),
            argument: text.to_owned(),
        });
    };
    let (name, argument) = match named.split_once(|c: char| c.is_whitespace()) {
        Some((name, rest)) => (name, rest.trim_start()),
        None => (named, ""),
    };
    let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) else {
        return Err(format!("unknown operator @{name}"));
    };
    Ok(OperatorSpec {
        negated,
        name: (*known).to_owned(),
        argument: argument.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_negation_and_bare_patterns() {
        let op = parse("!@eq 0").unwrap();
        assert!(op.negated);
        assert_eq!((op.name.as_str(), op.argument.as_str()), ("eq", "0"));
        let op = parse("@pmFromFile  lfi-os-files.data").unwrap();
        assert_eq!(op.argument, "lfi-os-files.data");
        let op = parse("^(?:GET|HEAD)$").unwrap();
        assert_eq!(
            (op.name.as_str(), op.argument.as_str()),
            ("rx", "^(?:GET|HEAD)$")
        );
        assert_eq!(parse("@unconditionalMatch").unwrap().argument, "");
        assert_eq!(parse("@DETECTSQLI").unwrap().name, "detectSQLi");
        assert!(parse("@explode 1").unwrap_err().contains("explode"));
    }
}
