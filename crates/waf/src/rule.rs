//! A rule compiled from its SecLang text: targets, a compiled operator, the transformation
//! list (the phase's default one unless `t:none` clears it), and its actions sorted by what
//! they do — disruptive, flow (`chain`, `skip`, `skipAfter`), data (`setvar`, `capture`,
//! `ctl`) and metadata (`msg`, `logdata`, `tag`, `severity`).

use crate::macros::MacroText;
use crate::operators::Operator;
use crate::seclang::{Action, IdRange, RuleSpec, Target};
use crate::transform::Transformation;

/// What a rule does to the request when it (and its chain) matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disruptive {
    Pass,
    /// The phase's default disruptive action (CRS runs with `pass`: anomaly scoring).
    Block,
    Deny,
    Drop,
    /// Stop examining: the whole request, or only the rest of this phase (`allow:phase`).
    Allow {
        phase_only: bool,
    },
    Redirect(String),
}

/// How `setvar` changes a transaction variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOp {
    Set(MacroText),
    Add(MacroText),
    Subtract(MacroText),
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetVar {
    /// The collection (only `TX` is kept per transaction; others are accepted and ignored).
    pub collection: String,
    /// The variable's name, lower case; it may hold macros.
    pub name: MacroText,
    /// The name when it holds none, shared: setting it puts a reference in the transaction's
    /// table instead of a copy of the text (the CRS sets about a hundred such per request).
    pub key: Option<std::sync::Arc<str>>,
    pub op: SetOp,
}

/// Whether the engine acts on what the rules decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    On,
    DetectionOnly,
    Off,
}

/// A `ctl:` change to this transaction only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ctl {
    RuleEngine(EngineMode),
    RemoveById(Vec<IdRange>),
    RemoveByTag(String),
    RemoveTargetById(Vec<IdRange>, Target),
    RemoveTargetByTag(String, Target),
    RequestBodyProcessor(String),
    RequestBodyAccess(bool),
    ForceRequestBodyVariable(bool),
    /// Accepted and without effect here (audit-log settings and the like).
    Other(String),
}

/// The operator as it runs: compiled at load, or per transaction when its argument has macros.
#[derive(Debug, Clone)]
pub enum RuleOperator {
    Compiled(Operator),
    Expanded { name: String, argument: MacroText },
}

impl RuleOperator {
    /// Whether it gives the same answer for the same bytes every time (compiled at load, no
    /// macros): only then may a non-match be remembered.
    pub fn is_pure(&self) -> bool {
        matches!(self, Self::Compiled(_))
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// 0 for a rule inside a chain.
    pub id: u32,
    /// Its place among all the rules and chain links of the rule set (for remembered
    /// non-matches), given when the rule set is finished.
    pub slot: u32,
    /// Which list of targets it reads, when their values can be found once a phase and shared
    /// by the rules with the same list (given when the rule set is finished).
    pub target_list: Option<u32>,
    pub phase: u8,
    pub line: usize,
    pub targets: Vec<Target>,
    pub operator: RuleOperator,
    pub negated: bool,
    pub transformations: Vec<Transformation>,
    pub disruptive: Option<Disruptive>,
    pub status: Option<u16>,
    pub chain: Option<Box<Rule>>,
    pub starts_chain: bool,
    pub capture: bool,
    pub multi_match: bool,
    pub log: bool,
    pub msg: Option<MacroText>,
    pub logdata: Option<MacroText>,
    pub tags: Vec<String>,
    pub severity: Option<u8>,
    pub setvars: Vec<SetVar>,
    pub ctls: Vec<Ctl>,
    pub skip: u32,
    pub skip_after: Option<String>,
}

/// What `SecDefaultAction` gives every rule of a phase.
#[derive(Debug, Clone)]
pub struct PhaseDefaults {
    pub transformations: Vec<Transformation>,
    pub disruptive: Disruptive,
    pub log: bool,
}

impl Default for PhaseDefaults {
    fn default() -> Self {
        Self {
            transformations: Vec::new(),
            disruptive: Disruptive::Pass,
            log: true,
        }
    }
}

/// A phase as an action names it.
pub fn phase_number(value: &str) -> Result<u8, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" => Ok(1),
        "2" | "request" => Ok(2),
        "3" => Ok(3),
        "4" | "response" => Ok(4),
        "5" | "logging" => Ok(5),
        other => Err(format!("phase {other:?} does not exist")),
    }
}

fn severity(value: &str) -> Result<u8, String> {
    const NAMES: [&str; 8] = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    if let Ok(n) = value.parse::<u8>() {
        if n < 8 {
            return Ok(n);
        }
    }
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(value))
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| format!("severity {value:?} does not exist"))
}

fn setvar(value: &str) -> Result<SetVar, String> {
    let (delete, value) = match value.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (name, op) = match value.split_once('=') {
        _ if delete => (value, SetOp::Delete),
        Some((name, v)) => {
            let op = if let Some(n) = v.strip_prefix('+') {
                SetOp::Add(MacroText::parse(n))
            } else if let Some(n) = v.strip_prefix('-') {
                SetOp::Subtract(MacroText::parse(n))
            } else {
                SetOp::Set(MacroText::parse(v))
            };
            (name, op)
        }
        // A variable named with no value is set to 1.
        None => (value, SetOp::Set(MacroText::parse("1"))),
    };
    let Some((collection, name)) = name.split_once('.') else {
        return Err(format!("setvar {value:?} names no collection"));
    };
    let name = MacroText::parse(&name.trim().to_ascii_lowercase());
    Ok(SetVar {
        collection: collection.trim().to_ascii_uppercase(),
        key: name.literal().map(std::sync::Arc::from),
        name,
        op,
    })
}

fn ids(text: &str) -> Result<Vec<IdRange>, String> {
    text.split([' ', ','])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let n = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| format!("{w:?} is not a rule id"))
            };
            Ok(match w.split_once('-') {
                Some((a, b)) => IdRange {
                    first: n(a)?,
                    last: n(b)?,
                },
                None => IdRange {
                    first: n(w)?,
                    last: n(w)?,
                },
            })
        })
        .collect()
}

fn ctl(value: &str) -> Result<Ctl, String> {
    let (name, arg) = value
        .split_once('=')
        .ok_or_else(|| format!("ctl {value:?} has no value"))?;
    let on = |a: &str| a.eq_ignore_ascii_case("on") || a == "1" || a.eq_ignore_ascii_case("true");
    let target = |spec: &str| -> Result<Target, String> {
        let mut list = crate::seclang::targets::parse(spec)?;
        match (list.pop(), list.is_empty()) {
            (Some(t), true) => Ok(t),
            _ => Err(format!("ctl {name} takes one target, not {spec:?}")),
        }
    };
    Ok(match name.to_ascii_lowercase().as_str() {
        "ruleengine" => Ctl::RuleEngine(match arg.to_ascii_lowercase().as_str() {
            "on" => EngineMode::On,
            "detectiononly" => EngineMode::DetectionOnly,
            "off" => EngineMode::Off,
            other => return Err(format!("ctl:ruleEngine={other} does not exist")),
        }),
        "ruleremovebyid" => Ctl::RemoveById(ids(arg)?),
        "ruleremovebytag" => Ctl::RemoveByTag(arg.to_owned()),
        "ruleremovetargetbyid" => {
            let (id, spec) = arg
                .split_once(';')
                .ok_or_else(|| format!("ctl:{name} needs id;target"))?;
            Ctl::RemoveTargetById(ids(id)?, target(spec)?)
        }
        "ruleremovetargetbytag" => {
            let (tag, spec) = arg
                .split_once(';')
                .ok_or_else(|| format!("ctl:{name} needs tag;target"))?;
            Ctl::RemoveTargetByTag(tag.to_owned(), target(spec)?)
        }
        "requestbodyprocessor" => Ctl::RequestBodyProcessor(arg.to_ascii_uppercase()),
        "requestbodyaccess" => Ctl::RequestBodyAccess(on(arg)),
        "forcerequestbodyvariable" => Ctl::ForceRequestBodyVariable(on(arg)),
        "auditengine"
        | "auditlogparts"
        | "debugloglevel"
        | "hashengine"
        | "hashenforcement"
        | "parsexmlintoargs"
        | "requestbodylimit"
        | "responsebodyaccess"
        | "responsebodylimit"
        | "responsebodyprocessor" => Ctl::Other(name.to_owned()),
        other => return Err(format!("ctl:{other} does not exist")),
    })
}

impl Rule {
    /// Compiles `spec` under `defaults` (the phase's, chosen by the phase the actions name;
    /// a chained rule takes `phase` from its chain's start). `res` reads data files and holds
    /// libinjection's data.
    pub fn compile(
        spec: &RuleSpec,
        actions: &[Action],
        defaults: &dyn Fn(u8) -> PhaseDefaults,
        chained_phase: Option<u8>,
        res: &crate::operators::Resources<'_>,
    ) -> Result<Self, String> {
        let mut phase = chained_phase;
        for a in actions.iter().filter(|a| a.name == "phase") {
            phase = Some(phase_number(a.value.as_deref().unwrap_or(""))?);
        }
        let phase = phase.unwrap_or(2);
        let base = defaults(phase);
        let operator = if Operator::needs_expansion(&spec.operator.argument) {
            RuleOperator::Expanded {
                name: spec.operator.name.clone(),
                argument: MacroText::parse(&spec.operator.argument),
            }
        } else {
            RuleOperator::Compiled(Operator::compile_with(
                &spec.operator.name,
                &spec.operator.argument,
                res,
            )?)
        };
        let mut rule = Rule {
            slot: 0,
            target_list: None,
            id: 0,
            phase,
            line: spec.line,
            targets: spec.targets.clone(),
            operator,
            negated: spec.operator.negated,
            transformations: base.transformations.clone(),
            disruptive: None,
            status: None,
            chain: None,
            starts_chain: false,
            capture: false,
            multi_match: false,
            log: base.log,
            msg: None,
            logdata: None,
            tags: Vec::new(),
            severity: None,
            setvars: Vec::new(),
            ctls: Vec::new(),
            skip: 0,
            skip_after: None,
        };
        rule.apply(actions)?;
        if chained_phase.is_none() && rule.id == 0 {
            return Err("a rule needs an id".into());
        }
        Ok(rule)
    }

    /// Applies actions (at compile time, or from `SecRuleUpdateActionById`).
    pub fn apply(&mut self, actions: &[Action]) -> Result<(), String> {
        for a in actions {
            let value = a.value.as_deref().unwrap_or("");
            match a.name.as_str() {
                "id" => {
                    self.id = value
                        .parse()
                        .map_err(|_| format!("id {value:?} is not a number"))?;
                }
                "phase" => {}
                "t" => match Transformation::named(value)? {
                    Some(t) => self.transformations.push(t),
                    None => self.transformations.clear(),
                },
                "chain" => self.starts_chain = true,
                "pass" => self.disruptive = Some(Disruptive::Pass),
                "block" => self.disruptive = Some(Disruptive::Block),
                "deny" => self.disruptive = Some(Disruptive::Deny),
                "drop" => self.disruptive = Some(Disruptive::Drop),
                "allow" => {
                    self.disruptive = Some(Disruptive::Allow {
                        phase_only: value.eq_ignore_ascii_case("phase"),
                    })
                }
                "redirect" => self.disruptive = Some(Disruptive::Redirect(value.to_owned())),
                "status" => {
                    self.status = Some(
                        value
                            .parse()
                            .map_err(|_| format!("status {value:?} is not a number"))?,
                    )
                }
                "capture" => self.capture = true,
                "multiMatch" => self.multi_match = true,
                "log" => self.log = true,
                "nolog" => self.log = false,
                "msg" => self.msg = Some(MacroText::parse(value)),
                "logdata" => self.logdata = Some(MacroText::parse(value)),
                "tag" => self.tags.push(value.to_owned()),
                "severity" => self.severity = Some(severity(value)?),
                "setvar" => self.setvars.push(setvar(value)?),
                "ctl" => self.ctls.push(ctl(value)?),
                "skip" => {
                    self.skip = value
                        .parse()
                        .map_err(|_| format!("skip {value:?} is not a number"))?
                }
                "skipAfter" => self.skip_after = Some(value.to_owned()),
                // Metadata and actions without effect on a request here.
                _ => {}
            }
        }
        Ok(())
    }

    /// The rule's disruptive action, the phase default standing in for `block` and none.
    pub fn disruptive_or(&self, default: &Disruptive) -> Disruptive {
        match &self.disruptive {
            None | Some(Disruptive::Block) => default.clone(),
            Some(d) => d.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::seclang::{parse, Directive};

    fn compile(text: &str) -> Result<Rule, String> {
        let d = parse(text, "t").unwrap();
        let Directive::Rule(spec) = &d[0] else {
            panic!()
        };
        let defaults = |_| PhaseDefaults {
            transformations: vec![Transformation::Lowercase],
            ..PhaseDefaults::default()
        };
        let read = |f: &str| Err(f.to_owned());
        let res = crate::operators::Resources {
            read_data: &read,
            sqli: None,
        };
        Rule::compile(spec, &spec.actions, &defaults, None, &res)
    }

    #[test]
    fn actions_sort_into_their_places() {
        let r = compile(
            r#"SecRule ARGS "@rx a" "id:5,phase:request,block,capture,t:urlDecodeUni,msg:'m %{TX.0}',tag:'a',tag:'b',severity:'CRITICAL',setvar:'tx.score=+%{tx.critical_anomaly_score}',setvar:!tx.x,setvar:tx.flag,ctl:ruleRemoveTargetById=942100;ARGS:pwd,skipAfter:END""#,
        )
        .unwrap();
        assert_eq!((r.id, r.phase), (5, 2));
        assert_eq!(
            r.transformations,
            vec![Transformation::Lowercase, Transformation::UrlDecodeUni],
            "the default list, then the rule's"
        );
        assert_eq!(r.disruptive, Some(Disruptive::Block));
        assert_eq!(r.disruptive_or(&Disruptive::Pass), Disruptive::Pass);
        assert!(r.capture);
        assert_eq!(r.tags, vec!["a", "b"]);
        assert_eq!(r.severity, Some(2));
        assert_eq!(r.setvars.len(), 3);
        assert!(matches!(r.setvars[0].op, SetOp::Add(_)));
        assert_eq!(r.setvars[1].op, SetOp::Delete);
        assert_eq!(r.setvars[2].op, SetOp::Set(MacroText::parse("1")));
        assert!(
            matches!(&r.ctls[0], Ctl::RemoveTargetById(ids, t) if ids[0].first == 942100 && t.collection == "ARGS")
        );
        assert_eq!(r.skip_after.as_deref(), Some("END"));
        let none = compile(r#"SecRule ARGS "@rx a" "id:6,t:none,t:length""#).unwrap();
        assert_eq!(none.transformations, vec![Transformation::Length]);
        assert!(matches!(
            compile(r#"SecRule TX:x "@ge %{tx.threshold}" "id:7""#)
                .unwrap()
                .operator,
            RuleOperator::Expanded { .. }
        ));
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(compile(r#"SecRule ARGS "@rx a" "phase:2""#)
            .unwrap_err()
            .contains("id"));
        assert!(compile(r#"SecRule ARGS "@rx a" "id:1,phase:9""#).is_err());
        assert!(compile(r#"SecRule ARGS "@rx a" "id:1,t:explode""#).is_err());
        assert!(compile(r#"SecRule ARGS "@rx a" "id:1,ctl:nonsense=1""#).is_err());
        assert!(compile(r#"SecRule ARGS "@rx (" "id:1""#).is_err());
    }
}
