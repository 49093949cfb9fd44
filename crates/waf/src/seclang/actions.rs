//! A rule's action list — `id:942100,phase:2,block,capture,t:none,msg:'…',setvar:'tx.x=+1'` —
//! as name and value pairs, in order. Commas inside single quotes belong to the value; `\'`
//! inside quotes is a quote. Which actions exist is checked here; what they mean is the
//! compiler's business.

/// One action as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub name: String,
    pub value: Option<String>,
}

/// Every action the engine knows (ModSecurity v3 / Coraza names, case as written in rules).
const KNOWN: &[&str] = &[
    "accuracy",
    "allow",
    "append",
    "auditlog",
    "block",
    "capture",
    "chain",
    "ctl",
    "deny",
    "deprecatevar",
    "drop",
    "exec",
    "expirevar",
    "id",
    "initcol",
    "log",
    "logdata",
    "maturity",
    "msg",
    "multiMatch",
    "noauditlog",
    "nolog",
    "pass",
    "pause",
    "phase",
    "prepend",
    "proxy",
    "redirect",
    "rev",
    "sanitiseArg",
    "sanitiseMatched",
    "sanitiseMatchedBytes",
    "sanitiseRequestHeader",
    "sanitiseResponseHeader",
    "setenv",
    "setrsc",
    "setsid",
    "setuid",
    "setvar",
    "severity",
    "skip",
    "skipAfter",
    "status",
    "t",
    "tag",
    "ver",
    "xmlns",
];

/// Parses an action list.
pub fn parse(list: &str) -> Result<Vec<Action>, String> {
    let mut out = Vec::new();
    for piece in split(list)? {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match piece.split_once(':') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
            None => (piece, None),
        };
        let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) else {
            return Err(format!("unknown action {name:?}"));
        };
        out.push(Action {
            name: (*known).to_owned(),
            value,
        });
    }
    Ok(out)
}

/// Splits at commas outside single quotes.
fn split(list: &str) -> Result<Vec<String>, String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted && chars.peek() == Some(&'\'') => {
                current.push('\\');
                current.push('\'');
                chars.next();
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => pieces.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if quoted {
        return Err(format!("a quoted action value is not closed: {current}"));
    }
    pieces.push(current);
    Ok(pieces)
}

/// A value without its single quotes (`\'` inside them is a quote).
fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("\\'", "'"),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn pair(name: &str, value: Option<&str>) -> Action {
        Action {
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn quoted_values_keep_their_commas_and_colons() {
        let actions = parse(
            "id:942100, phase:2,block,t:none,t:urlDecodeUni,msg:'SQL, detected: %{TX.0}',setvar:'tx.x=+%{tx.y}',multimatch,tag:'it\\'s'",
        )
        .unwrap();
        assert_eq!(
            actions,
            vec![
                pair("id", Some("942100")),
                pair("phase", Some("2")),
                pair("block", None),
                pair("t", Some("none")),
                pair("t", Some("urlDecodeUni")),
                pair("msg", Some("SQL, detected: %{TX.0}")),
                pair("setvar", Some("tx.x=+%{tx.y}")),
                pair("multiMatch", None),
                pair("tag", Some("it's")),
            ]
        );
    }

    #[test]
    fn unknown_actions_and_open_quotes_are_refused() {
        assert!(parse("id:1,explode").unwrap_err().contains("explode"));
        assert!(parse("id:1,msg:'open").is_err());
    }
}
