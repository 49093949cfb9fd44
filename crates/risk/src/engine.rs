//! The engine: the features' state, the live policy and optionally a shadow one. An assessment
//! reads the features for who is acting and what they are about to do, judges the scenario
//! under the live policy (and the shadow, whose answer is only recorded), and answers a level,
//! a score, the reasons — each matched rule with its conditions' features and values — and
//! the policy's version. Observing an event that happened updates the features.

use crate::features::{Behaviour, Features, Happening, Limits, Subject, NAMES};
use crate::policy::{Compare, Level, Policy, PolicyError, Scenario, Verdict};
use crate::views::PageViews;
use crate::Millis;

/// The policy Gatehouse ships, documented in the file itself.
pub const DEFAULT_POLICY: &str = include_str!("default_policy.toml");

/// One condition of a matched rule, as the answer shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Because {
    pub feature: &'static str,
    pub value: f64,
    pub compare: Compare,
    pub threshold: f64,
}

/// A rule that matched, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub rule: String,
    pub weight: u8,
    pub because: Vec<Because>,
}

/// The answer for one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub scenario: Scenario,
    pub level: Level,
    pub score: u8,
    pub reasons: Vec<Reason>,
    pub policy_version: u32,
}

/// An assessment's whole answer: the live verdict, the shadow's, and the feature values both
/// were judged on (by [`NAMES`]' order), which a decision keeps so any policy can be replayed
/// over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub assessed: Assessed,
    pub values: Vec<Option<f64>>,
}

/// The live answer, and what the shadow policy would have said.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessed {
    pub live: Assessment,
    pub shadow: Option<Assessment>,
}

/// Features, the live policy, and a shadow policy under trial.
#[derive(Debug)]
pub struct Engine {
    features: Features,
    views: PageViews,
    live: Policy,
    shadow: Option<Policy>,
}

fn assessment(
    scenario: Scenario,
    policy: &Policy,
    verdict: &Verdict<'_>,
    values: &[Option<f64>],
) -> Assessment {
    let reasons = verdict
        .matched
        .iter()
        .map(|m| Reason {
            rule: m.rule.id.clone(),
            weight: m.rule.weight,
            because: m
                .rule
                .when
                .iter()
                .map(|c| Because {
                    feature: NAMES.get(c.feature).copied().unwrap_or("?"),
                    value: values.get(c.feature).copied().flatten().unwrap_or(f64::NAN),
                    compare: c.compare,
                    threshold: c.threshold,
                })
                .collect(),
        })
        .collect();
    Assessment {
        scenario,
        level: verdict.level,
        score: verdict.score,
        reasons,
        policy_version: policy.version,
    }
}

impl Engine {
    pub fn new(live: Policy, limits: Limits) -> Self {
        Self {
            features: Features::new(limits),
            views: PageViews::new(limits.keys),
            live,
            shadow: None,
        }
    }

    /// `account` looked at a bookable page.
    pub fn viewed(&mut self, account: u64, at: Millis) {
        self.views.seen(account, at);
    }

    /// What `account`'s page views say of a submit now: milliseconds since the last view, and
    /// whether the pages were skipped (no view within [`crate::views::VIEW_COUNTS_FOR`]).
    pub fn page_behaviour(&self, account: u64, at: Millis) -> (Option<u64>, bool) {
        let since = self.views.since_last(account, at);
        (since, since.is_none())
    }

    /// Reads a policy against this engine's features.
    pub fn policy(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_toml(text, NAMES)
    }

    /// The policy Gatehouse ships (`default_policy.toml`).
    pub fn default_policy() -> Result<Policy, PolicyError> {
        Self::policy(DEFAULT_POLICY)
    }

    /// Makes `policy` the live one; its version must be above the running one's.
    pub fn go_live(&mut self, policy: Policy) -> Result<(), PolicyError> {
        if policy.version <= self.live.version {
            return Err(PolicyError {
                field: "version".into(),
                message: format!("must be above the running policy's {}", self.live.version),
            });
        }
        if self
            .shadow
            .as_ref()
            .is_some_and(|s| s.version == policy.version)
        {
            self.shadow = None;
        }
        self.live = policy;
        Ok(())
    }

    /// Runs `policy` beside the live one (none: stop), answering nothing itself.
    pub fn set_shadow(&mut self, policy: Option<Policy>) {
        self.shadow = policy;
    }

    pub fn live_version(&self) -> u32 {
        self.live.version
    }

    /// `what` happened: the features count it.
    pub fn observe(&mut self, who: &Subject, what: Happening, at: Millis) {
        self.features.observe(who, what, at);
    }

    pub fn shadow_version(&self) -> Option<u32> {
        self.shadow.as_ref().map(|p| p.version)
    }

    /// The answer for `scenario` as `who` is about to do `what`.
    pub fn assess(
        &self,
        scenario: Scenario,
        who: &Subject,
        what: Happening,
        behaviour: &Behaviour,
        at: Millis,
    ) -> Assessed {
        self.judged(scenario, who, what, behaviour, at).assessed
    }

    /// As [`Engine::assess`], with the feature values judged.
    pub fn judged(
        &self,
        scenario: Scenario,
        who: &Subject,
        what: Happening,
        behaviour: &Behaviour,
        at: Millis,
    ) -> Judged {
        let values = self.features.values(who, what, behaviour, at);
        let assessed = Assessed {
            live: judge(&self.live, scenario, &values),
            shadow: self.shadow.as_ref().map(|p| judge(p, scenario, &values)),
        };
        Judged { assessed, values }
    }
}

/// What `policy` answers for `scenario` over feature `values` (by [`NAMES`]' order): how a
/// replay judges a recorded decision again.
pub fn judge(policy: &Policy, scenario: Scenario, values: &[Option<f64>]) -> Assessment {
    assessment(scenario, policy, &policy.judge(scenario, values), values)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const POLICY: &str = r#"
version = 1
[[scenario]]
name = "scalping"
challenge = 30
review = 60
reject = 90
[[scenario.rule]]
id = "many-ids-per-account"
when = ["ids_per_account_day >= 6"]
weight = 40
[[scenario.rule]]
id = "ring"
when = ["ring_size >= 8"]
weight = 30
[[scenario.rule]]
id = "scripted"
when = ["ms_admission_to_submit < 1500", "skipped_pages == 1"]
weight = 30
"#;

    fn engine() -> Engine {
        Engine::new(Engine::policy(POLICY).unwrap(), Limits::default())
    }

    fn book(account: u64, device: u64, ids: &[u64]) -> Subject {
        Subject {
            account: Some(account),
            device: Some(device),
            id_numbers: ids.to_vec(),
            ip: Some("203.0.113.7".parse().unwrap()),
            ..Subject::default()
        }
    }

    /// A person's booking of `tickets`, judged for scalping at `at`.
    fn scalping(e: &Engine, who: &Subject, tickets: u32, at: Millis) -> Assessed {
        e.assess(
            Scenario::Scalping,
            who,
            Happening::Book { tickets },
            &HUMAN,
            at,
        )
    }

    const HUMAN: Behaviour = Behaviour {
        ms_page_to_submit: Some(40_000),
        ms_admission_to_submit: Some(25_000),
        skipped_pages: Some(false),
        client_inconsistent: Some(false),
        account_created_at: None,
    };

    #[test]
    fn a_family_passes_and_a_scalper_is_stopped_with_reasons() {
        let mut e = engine();
        let family = book(1, 100, &[11, 12, 13]);
        let a = scalping(&e, &family, 3, 0);
        assert_eq!(
            (a.live.level, a.live.score, a.live.policy_version),
            (Level::Pass, 0, 1)
        );
        e.observe(&family, Happening::Book { tickets: 3 }, 0);

        // A scalper books for ever more borrowed ID numbers, scripted, from rotating accounts
        // on one device.
        for account in 20..30 {
            let ids: Vec<u64> = (account * 10..account * 10 + 6).collect();
            e.observe(
                &book(account, 777, &ids),
                Happening::Book { tickets: 6 },
                1_000,
            );
        }
        let scripted = Behaviour {
            ms_admission_to_submit: Some(300),
            skipped_pages: Some(true),
            ..HUMAN
        };
        let a = e.assess(
            Scenario::Scalping,
            &book(25, 777, &[999]),
            Happening::Book { tickets: 1 },
            &scripted,
            2_000,
        );
        assert_eq!((a.live.level, a.live.score), (Level::Reject, 100));
        let rules: Vec<&str> = a.live.reasons.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(rules, ["many-ids-per-account", "ring", "scripted"]);
        let ring = &a.live.reasons[1].because[0];
        assert_eq!((ring.feature, ring.value), ("ring_size", 10.0));
        // The family is still fine.
        let a = scalping(&e, &family, 1, 2_000);
        assert_eq!(a.live.level, Level::Pass);
    }

    #[test]
    fn the_default_policy_loads_covers_every_scenario_and_lets_a_family_through() {
        let policy = Engine::default_policy().unwrap();
        for scenario in [
            Scenario::Fraud,
            Scenario::MarketingAbuse,
            Scenario::Scalping,
            Scenario::OrderBrushing,
            Scenario::BadDebt,
        ] {
            assert!(
                policy
                    .scenario(scenario)
                    .is_some_and(|p| !p.rules.is_empty()),
                "{scenario:?}"
            );
        }
        let mut e = Engine::new(policy, Limits::default());
        let family = Subject {
            phone: Some(9),
            payment_account: Some(4),
            ..book(1, 100, &[11, 12, 13])
        };
        e.observe(&family, Happening::SignIn, 0);
        let a = scalping(&e, &family, 3, 60_000);
        assert_eq!(a.live.level, Level::Pass, "{a:?}");
    }

    #[test]
    fn a_shadow_policy_answers_beside_the_live_one_and_versions_only_grow() {
        let mut e = engine();
        let stricter = Engine::policy(
            &POLICY
                .replace("version = 1", "version = 2")
                .replace(">= 6", ">= 3"),
        )
        .unwrap();
        e.set_shadow(Some(stricter.clone()));
        let who = book(5, 50, &[1, 2, 3]);
        e.observe(&who, Happening::Book { tickets: 3 }, 0);
        let a = scalping(&e, &who, 1, 10);
        assert_eq!(a.live.level, Level::Pass);
        let shadow = a.shadow.unwrap();
        assert_eq!((shadow.level, shadow.policy_version), (Level::Challenge, 2));
        e.go_live(stricter.clone()).unwrap();
        assert_eq!(e.live_version(), 2);
        assert!(
            scalping(&e, &who, 1, 10).shadow.is_none(),
            "the shadow went live"
        );
        let err = e.go_live(stricter).unwrap_err();
        assert_eq!(err.field, "version");
    }
}
