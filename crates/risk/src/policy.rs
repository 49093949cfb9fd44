//! Risk policies: a declarative rules file (TOML), checked on load — every mistake names its
//! field — and compiled against the engine's features, so an assessment is a pass over numbers.
//! A policy has a version that must grow with each change (a reload never goes back), per
//! scenario the scores at which the level rises, and rules: conditions over features, all of
//! which must hold, a weight added to the score, and optionally a level the rule imposes at
//! least.
//!
//! ```toml
//! version = 1
//! [[scenario]]
//! name = "scalping"
//! challenge = 30
//! review = 50
//! reject = 80
//! [[scenario.rule]]
//! id = "many-ids-per-account"
//! when = ["ids_per_account_day >= 6"]
//! weight = 40
//! ```
//!
//! Levels rise pass < challenge < review < reject: a challenge the person can clear at once
//! (a puzzle, a face check) is asked before holding their order for staff.

use serde::Deserialize;

/// What is being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Fraud,
    MarketingAbuse,
    Scalping,
    OrderBrushing,
    BadDebt,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Fraud,
        Scenario::MarketingAbuse,
        Scenario::Scalping,
        Scenario::OrderBrushing,
        Scenario::BadDebt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Fraud => "fraud",
            Scenario::MarketingAbuse => "marketing_abuse",
            Scenario::Scalping => "scalping",
            Scenario::OrderBrushing => "order_brushing",
            Scenario::BadDebt => "bad_debt",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The answer's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Pass,
    Challenge,
    Review,
    Reject,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Pass, Level::Challenge, Level::Review, Level::Reject];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Pass => "pass",
            Level::Challenge => "challenge",
            Level::Review => "review",
            Level::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A policy that does not load: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    #[serde(default)]
    scenario: Vec<ScenarioSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioSection {
    name: Scenario,
    challenge: u8,
    review: u8,
    reject: u8,
    #[serde(default)]
    rule: Vec<RuleSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSection {
    id: String,
    when: Vec<String>,
    #[serde(default)]
    weight: u8,
    at_least: Option<Level>,
}

/// How a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    AtLeast,
    Above,
    AtMost,
    Below,
    Equal,
    NotEqual,
}

impl Compare {
    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Compare::AtLeast => value >= threshold,
            Compare::Above => value > threshold,
            Compare::AtMost => value <= threshold,
            Compare::Below => value < threshold,
            Compare::Equal => value == threshold,
            Compare::NotEqual => value != threshold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compare::AtLeast => ">=",
            Compare::Above => ">",
            Compare::AtMost => "<=",
            Compare::Below => "<",
            Compare::Equal => "==",
            Compare::NotEqual => "!=",
        }
    }
}

/// `feature compare threshold`, the feature by its index in the engine's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub feature: usize,
    pub compare: Compare,
    pub threshold: f64,
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub when: Vec<Condition>,
    pub weight: u8,
    pub at_least: Option<Level>,
}

/// A scenario's rules and the scores at which its level rises.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioPolicy {
    pub challenge: u8,
    pub review: u8,
    pub reject: u8,
    pub rules: Vec<Rule>,
}

/// A compiled policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: u32,
    scenarios: Vec<(Scenario, ScenarioPolicy)>,
}

/// One rule that matched, for the answer's reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched<'p> {
    pub rule: &'p Rule,
}

/// A scenario's verdict under a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'p> {
    pub level: Level,
    /// 0–100.
    pub score: u8,
    pub matched: Vec<Matched<'p>>,
}

impl Policy {
    /// Reads and checks a policy; `features` are the names the engine computes (a condition's
    /// feature is its index there).
    pub fn from_toml(text: &str, features: &[&str]) -> Result<Self, PolicyError> {
        let deserializer = toml::Deserializer::new(text);
        let file: PolicyFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { "policy".into() } else { field };
            bad(field, e.inner().message())
        })?;
        if file.version == 0 {
            return Err(bad("version", "must be at least 1"));
        }
        let mut scenarios: Vec<(Scenario, ScenarioPolicy)> = Vec::new();
        for (s, section) in file.scenario.iter().enumerate() {
            let at = format!("scenario[{s}]");
            if scenarios.iter().any(|(name, _)| *name == section.name) {
                return Err(bad(
                    format!("{at}.name"),
                    "this scenario is already defined",
                ));
            }
            if !(0 < section.challenge
                && section.challenge <= section.review
                && section.review <= section.reject
                && section.reject <= 100)
            {
                return Err(bad(at, "needs 0 < challenge <= review <= reject <= 100"));
            }
            let mut rules: Vec<Rule> = Vec::new();
            for (r, rule) in section.rule.iter().enumerate() {
                let at = format!("{at}.rule[{r}]");
                if rule.id.trim().is_empty() {
                    return Err(bad(format!("{at}.id"), "must not be empty"));
                }
                if rules.iter().any(|x| x.id == rule.id) {
                    return Err(bad(
                        format!("{at}.id"),
                        "another rule of this scenario has this id",
                    ));
                }
                if rule.weight > 100 {
                    return Err(bad(format!("{at}.weight"), "must be 0 to 100"));
                }
                if rule.when.is_empty() {
                    return Err(bad(format!("{at}.when"), "needs at least one condition"));
                }
                if rule.weight == 0 && rule.at_least.is_none() {
                    return Err(bad(at, "a rule needs a weight or an at_least level"));
                }
                let when = rule
                    .when
                    .iter()
                    .enumerate()
                    .map(|(c, text)| {
                        condition(text, features).map_err(|m| bad(format!("{at}.when[{c}]"), m))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                rules.push(Rule {
                    id: rule.id.clone(),
                    when,
                    weight: rule.weight,
                    at_least: rule.at_least,
                });
            }
            scenarios.push((
                section.name,
                ScenarioPolicy {
                    challenge: section.challenge,
                    review: section.review,
                    reject: section.reject,
                    rules,
                },
            ));
        }
        Ok(Self {
            version: file.version,
            scenarios,
        })
    }

    /// The scenario's part, if the policy has one.
    pub fn scenario(&self, scenario: Scenario) -> Option<&ScenarioPolicy> {
        self.scenarios
            .iter()
            .find(|(s, _)| *s == scenario)
            .map(|(_, p)| p)
    }

    /// The verdict for `scenario` over the feature `values` (by index; a feature without a
    /// value fails every condition on it). A scenario the policy lacks passes.
    pub fn judge(&self, scenario: Scenario, values: &[Option<f64>]) -> Verdict<'_> {
        let Some(policy) = self.scenario(scenario) else {
            return Verdict {
                level: Level::Pass,
                score: 0,
                matched: Vec::new(),
            };
        };
        let mut score: u32 = 0;
        let mut floor = Level::Pass;
        let mut matched = Vec::new();
        for rule in &policy.rules {
            let holds = rule.when.iter().all(|c| {
                values
                    .get(c.feature)
                    .copied()
                    .flatten()
                    .is_some_and(|v| c.compare.holds(v, c.threshold))
            });
            if holds {
                score += u32::from(rule.weight);
                floor = floor.max(rule.at_least.unwrap_or(Level::Pass));
                matched.push(Matched { rule });
            }
        }
        let score = u8::try_from(score.min(100)).unwrap_or(100);
        let by_score = if score >= policy.reject {
            Level::Reject
        } else if score >= policy.review {
            Level::Review
        } else if score >= policy.challenge {
            Level::Challenge
        } else {
            Level::Pass
        };
        Verdict {
            level: by_score.max(floor),
            score,
            matched,
        }
    }
}

/// `feature op number`.
fn condition(text: &str, features: &[&str]) -> Result<Condition, String> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [name, op, number] = parts.as_slice() else {
        return Err(format!(
            "`{text}` is not `feature op number` (op: >= > <= < == !=)"
        ));
    };
    let feature = features
        .iter()
        .position(|f| f == name)
        .ok_or_else(|| format!("unknown feature `{name}`; known: {}", features.join(", ")))?;
    let compare = match *op {
        ">=" => Compare::AtLeast,
        ">" => Compare::Above,
        "<=" => Compare::AtMost,
        "<" => Compare::Below,
        "==" => Compare::Equal,
        "!=" => Compare::NotEqual,
        other => return Err(format!("unknown comparison `{other}` (>= > <= < == !=)")),
    };
    let threshold: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("`{number}` is not a number"))?;
    Ok(Condition {
        feature,
        compare,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEATURES: &[&str] = &["ids_per_account_day", "ring_size", "ms_admission_to_submit"];

    const GOOD: &str = r#"
version = 3
[[scenario]]
name = "scalping"
challenge = 30
review = 50
reject = 80
[[scenario.rule]]
id = "many-ids"
when = ["ids_per_account_day >= 6"]
weight = 40
[[scenario.rule]]
id = "ring"
when = ["ring_size > 10", "ms_admission_to_submit < 800"]
weight = 50
[[scenario.rule]]
id = "huge-ring"
when = ["ring_size >= 50"]
at_least = "review"
"#;

    fn values(ids: f64, ring: f64, ms: Option<f64>) -> Vec<Option<f64>> {
        vec![Some(ids), Some(ring), ms]
    }

    #[test]
    fn scores_add_up_to_levels_and_floors_hold() {
        let p = Policy::from_toml(GOOD, FEATURES).unwrap();
        assert_eq!(p.version, 3);
        let quiet = p.judge(Scenario::Scalping, &values(2.0, 1.0, Some(30_000.0)));
        assert_eq!((quiet.level, quiet.score), (Level::Pass, 0));
        assert!(quiet.matched.is_empty());
        let ids = p.judge(Scenario::Scalping, &values(6.0, 1.0, Some(30_000.0)));
        assert_eq!((ids.level, ids.score), (Level::Challenge, 40));
        let both = p.judge(Scenario::Scalping, &values(6.0, 11.0, Some(500.0)));
        assert_eq!((both.level, both.score), (Level::Reject, 90));
        let ids: Vec<&str> = both.matched.iter().map(|m| m.rule.id.as_str()).collect();
        assert_eq!(ids, ["many-ids", "ring"]);
        // No timing known: the ring rule's second condition cannot hold.
        let unknown = p.judge(Scenario::Scalping, &values(0.0, 60.0, None));
        assert_eq!(
            (unknown.level, unknown.score),
            (Level::Review, 0),
            "the floor"
        );
        assert_eq!(
            p.judge(Scenario::Fraud, &values(9.0, 99.0, None)).level,
            Level::Pass
        );
    }

    proptest::proptest! {
        /// Under a policy whose conditions all point one way (more IDs, bigger rings, faster
        /// submits are worse), worse values never get a lower level or score.
        #[test]
        fn worse_values_never_judge_better(
            ids in 0.0f64..20.0, ring in 0.0f64..80.0, ms in 0.0f64..5_000.0,
            more_ids in 0.0f64..10.0, more_ring in 0.0f64..40.0, faster in 0.0f64..5_000.0,
        ) {
            let p = Policy::from_toml(GOOD, FEATURES).unwrap();
            let before = p.judge(Scenario::Scalping, &values(ids, ring, Some(ms)));
            let after = p.judge(
                Scenario::Scalping,
                &values(ids + more_ids, ring + more_ring, Some((ms - faster).max(0.0))),
            );
            proptest::prop_assert!(after.level >= before.level && after.score >= before.score);
        }
    }

    #[test]
    fn mistakes_name_their_field() {
        let cases: &[(&str, &str)] = &[
            ("version = 0", "version"),
            ("version = 1\n[[scenario]]\nname = \"scalpin\"\nchallenge = 1\nreview = 2\nreject = 3", "scenario[0].name"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 50\nreview = 40\nreject = 90", "scenario[0]"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 1\nreview = 2\nreject = 3\n[[scenario.rule]]\nid = \"a\"\nwhen = [\"ring_size >= 2\"]\nweight = 10\n[[scenario.rule]]\nid = \"a\"\nwhen = [\"ring_size >= 3\"]\nweight = 10", "scenario[0].rule[1].id"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 1\nreview = 2\nreject = 3\n[[scenario.rule]]\nid = \"a\"\nwhen = [\"rings >= 2\"]\nweight = 10", "scenario[0].rule[0].when[0]"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 1\nreview = 2\nreject = 3\n[[scenario.rule]]\nid = \"a\"\nwhen = [\"ring_size => 2\"]\nweight = 10", "scenario[0].rule[0].when[0]"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 1\nreview = 2\nreject = 3\n[[scenario.rule]]\nid = \"a\"\nwhen = [\"ring_size >= NaN\"]\nweight = 10", "scenario[0].rule[0].when[0]"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 1\nreview = 2\nreject = 3\n[[scenario.rule]]\nid = \"a\"\nwhen = [\"ring_size >= 2\"]\nweight = 101", "scenario[0].rule[0].weight"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 1\nreview = 2\nreject = 3\n[[scenario.rule]]\nid = \"a\"\nwhen = [\"ring_size >= 2\"]", "scenario[0].rule[0]"),
            ("version = 1\n[[scenario]]\nname = \"fraud\"\nchallenge = 1\nreview = 2\nreject = 3\nextra = 1", "scenario[0].extra"),
        ];
        for (text, field) in cases {
            let e = Policy::from_toml(text, FEATURES).unwrap_err();
            assert_eq!(&e.field, field, "{text}: {e}");
            assert!(!e.message.is_empty());
        }
    }
}
