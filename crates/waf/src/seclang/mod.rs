//! SecLang, the rule language of ModSecurity and Coraza, read into plain data: which directives
//! a file holds, each rule's targets, operator and actions. Nothing is compiled or run here;
//! everything that cannot be read is an error naming the file and line.

pub mod actions;
pub mod lexer;
pub mod operator;
pub mod targets;

pub use actions::Action;
pub use operator::OperatorSpec;
pub use targets::{Selector, Target};

/// Why a rule file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct ParseError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(origin: &str, line: usize, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// A rule as written: `SecRule TARGETS OPERATOR [ACTIONS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub line: usize,
    pub targets: Vec<Target>,
    pub operator: OperatorSpec,
    pub actions: Vec<Action>,
}

/// Rule ids: one, or an inclusive range (`900000-900999`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub first: u32,
    pub last: u32,
}

impl IdRange {
    pub fn contains(&self, id: u32) -> bool {
        (self.first..=self.last).contains(&id)
    }
}

/// One directive of a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    Rule(RuleSpec),
    /// `SecAction`: a rule that always matches.
    Action {
        line: usize,
        actions: Vec<Action>,
    },
    /// `SecMarker`: a place `skipAfter` jumps to.
    Marker(String),
    /// `SecDefaultAction`: the actions every following rule of a phase starts from.
    DefaultAction(Vec<Action>),
    /// `SecRuleUpdateTargetById ids "targets" ["replaced"]`.
    UpdateTargetById {
        ids: Vec<IdRange>,
        targets: Vec<Target>,
        replacing: Option<Vec<Target>>,
    },
    /// `SecRuleUpdateTargetByTag tag "targets"`.
    UpdateTargetByTag {
        tag: String,
        targets: Vec<Target>,
    },
    /// `SecRuleUpdateActionById id "actions"`.
    UpdateActionById {
        id: u32,
        actions: Vec<Action>,
    },
    /// `SecRuleRemoveById ids…`.
    RemoveById(Vec<IdRange>),
    /// `SecRuleRemoveByTag tag`.
    RemoveByTag(String),
    /// `SecRuleRemoveByMsg msg`.
    RemoveByMsg(String),
    /// `Include path`: another file (or glob), relative to this one.
    Include(String),
    /// An engine setting (`SecRuleEngine On`, `SecRequestBodyLimit 13107200` …), by name.
    Setting {
        name: String,
        args: Vec<String>,
    },
}

/// Engine settings the engine accepts (others are refused, as ModSecurity refuses them).
const SETTINGS: &[&str] = &[
    "SecArgumentSeparator",
    "SecArgumentsLimit",
    "SecAuditEngine",
    "SecAuditLog",
    "SecAuditLogFormat",
    "SecAuditLogParts",
    "SecAuditLogRelevantStatus",
    "SecAuditLogStorageDir",
    "SecAuditLogType",
    "SecCollectionTimeout",
    "SecComponentSignature",
    "SecCookieFormat",
    "SecDataDir",
    "SecDebugLog",
    "SecDebugLogLevel",
    "SecPcreMatchLimit",
    "SecPcreMatchLimitRecursion",
    "SecRequestBodyAccess",
    "SecRequestBodyInMemoryLimit",
    "SecRequestBodyJsonDepthLimit",
    "SecRequestBodyLimit",
    "SecRequestBodyLimitAction",
    "SecRequestBodyNoFilesLimit",
    "SecResponseBodyAccess",
    "SecResponseBodyLimit",
    "SecResponseBodyLimitAction",
    "SecResponseBodyMimeType",
    "SecRuleEngine",
    "SecServerSignature",
    "SecStatusEngine",
    "SecTmpDir",
    "SecTmpSaveUploadedFiles",
    "SecUnicodeMapFile",
    "SecUploadDir",
    "SecUploadFileLimit",
    "SecUploadFileMode",
    "SecUploadKeepFiles",
    "SecWebAppId",
];

/// Reads the directives of one file (`origin` names it in errors). `Include`s are returned,
/// not followed: the loader resolves them.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Directive>, ParseError> {
    lexer::lines(text, origin)?
        .into_iter()
        .map(|line| {
            directive(&line.name, &line.args, line.number)
                .map_err(|message| ParseError::at(origin, line.number, message))
        })
        .collect()
}

fn directive(name: &str, args: &[String], line: usize) -> Result<Directive, String> {
    let arg = |i: usize| -> Result<&str, String> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("{name} needs at least {} argument(s)", i + 1))
    };
    let at_most = |n: usize| -> Result<(), String> {
        if args.len() > n {
            return Err(format!("{name} takes at most {n} argument(s)"));
        }
        Ok(())
    };
    let found = |known: &[&str]| known.iter().any(|k| k.eq_ignore_ascii_case(name));
    let d = match name {
        _ if name.eq_ignore_ascii_case("SecRule") => {
            at_most(3)?;
            Directive::Rule(RuleSpec {
                line,
                targets: targets::parse(arg(0)?)?,
                operator: operator::parse(arg(1)?)?,
                actions: args
                    .get(2)
                    .map_or_else(|| Ok(Vec::new()), |a| actions::parse(a))?,
            })
        }
        _ if name.eq_ignore_ascii_case("SecAction") => {
            at_most(1)?;
            Directive::Action {
                line,
                actions: actions::parse(arg(0)?)?,
            }
        }
        _ if name.eq_ignore_ascii_case("SecMarker") => {
            at_most(1)?;
            Directive::Marker(arg(0)?.to_owned())
        }
        _ if name.eq_ignore_ascii_case("SecDefaultAction") => {
            at_most(1)?;
            Directive::DefaultAction(actions::parse(arg(0)?)?)
        }
        _ if name.eq_ignore_ascii_case("SecRuleUpdateTargetById") => {
            at_most(3)?;
            Directive::UpdateTargetById {
                ids: id_ranges(&arg(0)?.split_whitespace().collect::<Vec<_>>())?,
                targets: targets::parse(arg(1)?)?,
                replacing: args.get(2).map(|r| targets::parse(r)).transpose()?,
            }
        }
        _ if name.eq_ignore_ascii_case("SecRuleUpdateTargetByTag") => {
            at_most(2)?;
            Directive::UpdateTargetByTag {
                tag: arg(0)?.to_owned(),
                targets: targets::parse(arg(1)?)?,
            }
        }
        _ if name.eq_ignore_ascii_case("SecRuleUpdateActionById") => {
            at_most(2)?;
            let id = arg(0)?;
            Directive::UpdateActionById {
                id: id.parse().map_err(|_| format!("{id:?} is not a rule id"))?,
                actions: actions::parse(arg(1)?)?,
            }
        }
        _ if name.eq_ignore_ascii_case("SecRuleRemoveById") => {
            let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
            Directive::RemoveById(id_ranges(&words)?)
        }
        _ if name.eq_ignore_ascii_case("SecRuleRemoveByTag") => {
            at_most(1)?;
            Directive::RemoveByTag(arg(0)?.to_owned())
        }
        _ if name.eq_ignore_ascii_case("SecRuleRemoveByMsg") => {
            at_most(1)?;
            Directive::RemoveByMsg(arg(0)?.to_owned())
        }
        _ if name.eq_ignore_ascii_case("Include") => {
            at_most(1)?;
            Directive::Include(arg(0)?.to_owned())
        }
        _ if found(SETTINGS) => Directive::Setting {
            name: name.to_owned(),
            args: args.to_vec(),
        },
        _ => return Err(format!("unknown directive {name}")),
    };
    Ok(d)
}

/// `942100`, `900000-900999`, several separated by spaces.
fn id_ranges(words: &[&str]) -> Result<Vec<IdRange>, String> {
    if words.is_empty() {
        return Err("no rule ids".into());
    }
    words
        .iter()
        .map(|w| {
            let number = |s: &str| {
                s.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("{w:?} is not a rule id or range"))
            };
            let (first, last) = match w.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(w)?, number(w)?),
            };
            if first > last {
                return Err(format!("{w:?} is an empty range"));
            }
            Ok(IdRange { first, last })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn a_small_file_reads_into_directives() {
        let text = r#"
SecRuleEngine On
SecDefaultAction "phase:2,log,auditlog,pass"
SecRule REQUEST_METHOD "!@within GET HEAD" \
    "id:911100,phase:1,block,t:none,msg:'Method is not allowed by policy',setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
SecRuleUpdateTargetById 932240 "!REQUEST_COOKIES:/^_ga(?:_\w+)?$/"
SecRuleRemoveById 920100 920200-920299
SecMarker "END-REQUEST-911"
Include rules/*.conf
"#;
        let d = parse(text, "t.conf").unwrap();
        assert_eq!(d.len(), 7, "{d:#?}");
        let Directive::Rule(rule) = &d[2] else {
            panic!("{:?}", d[2])
        };
        assert_eq!(rule.line, 4);
        assert!(rule.operator.negated);
        assert_eq!(rule.operator.name, "within");
        assert_eq!(rule.actions.len(), 6);
        assert_eq!(
            d[4],
            Directive::RemoveById(vec![
                IdRange {
                    first: 920100,
                    last: 920100
                },
                IdRange {
                    first: 920200,
                    last: 920299
                },
            ])
        );
        assert_eq!(d[5], Directive::Marker("END-REQUEST-911".into()));
        assert_eq!(d[6], Directive::Include("rules/*.conf".into()));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = parse("\n\nSecRule ARGS \"@rx a\" \"id:1,bogus\"", "x.conf").unwrap_err();
        assert_eq!((e.origin.as_str(), e.line), ("x.conf", 3));
        assert!(e.message.contains("bogus"));
        assert!(parse("SecNonsense On", "x")
            .unwrap_err()
            .message
            .contains("SecNonsense"));
        assert!(parse("SecRuleRemoveById 9-1", "x").is_err());
        assert!(parse("SecRule ARGS", "x").is_err());
    }
}
