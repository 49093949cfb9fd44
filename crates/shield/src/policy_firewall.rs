//! The policy file's `[firewall]` section: how the web application firewall (the OWASP CRS in
//! `gatehouse-waf`) runs — its mode, paranoia level and anomaly thresholds — and its exclusions
//! per route for Gatehouse's own legitimate payloads. The shield only reads and checks it; the
//! edge hands it to the firewall.
//!
//! ```toml
//! [firewall]
//! mode = "blocking"          # or "detection_only" (log, never stop), "off"
//! paranoia_level = 1         # 1 to 4
//! inbound_threshold = 5      # the CRS's anomaly score that stops a request
//! outbound_threshold = 4
//! inspect_response_bodies = false
//! [[firewall.exclusion]]
//! route = "POST /api/v1/orders"
//! rule_tags = ["attack-sqli"]       # and/or rule_ids = ["942100", "941000-941999"]
//! arguments = ["json.contact_name", "/^json\\.tickets\\.\\d+\\.visitor\\.name$/"]
//! reason = "visitors' names: O'Brien, 阿依古丽·买买提"
//! ```

use serde::Deserialize;

use crate::policy::{bad, PolicyError};
use crate::routes::RoutePattern;

/// What the firewall does with a request the rules condemn.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirewallMode {
    /// Stops it (403).
    #[default]
    Blocking,
    /// Logs what would have stopped it, and lets it through.
    DetectionOnly,
    /// The rules do not run.
    Off,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FirewallSection {
    #[serde(default)]
    mode: FirewallMode,
    #[serde(default = "default_paranoia")]
    paranoia_level: u8,
    #[serde(default = "default_inbound")]
    inbound_threshold: u32,
    #[serde(default = "default_outbound")]
    outbound_threshold: u32,
    #[serde(default)]
    inspect_response_bodies: bool,
    #[serde(default, rename = "exclusion")]
    exclusions: Vec<ExclusionSection>,
}

fn default_paranoia() -> u8 {
    1
}
fn default_inbound() -> u32 {
    5
}
fn default_outbound() -> u32 {
    4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExclusionSection {
    route: String,
    #[serde(default)]
    rule_ids: Vec<String>,
    #[serde(default)]
    rule_tags: Vec<String>,
    #[serde(default)]
    arguments: Vec<String>,
    /// Why the rules are wrong here (kept for whoever reads the policy).
    reason: String,
}

/// The firewall's part of the policy, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallPolicy {
    pub mode: FirewallMode,
    pub paranoia_level: u8,
    pub inbound_threshold: u32,
    pub outbound_threshold: u32,
    pub inspect_response_bodies: bool,
    pub exclusions: Vec<FirewallExclusion>,
}

impl Default for FirewallPolicy {
    fn default() -> Self {
        Self {
            mode: FirewallMode::Blocking,
            paranoia_level: default_paranoia(),
            inbound_threshold: default_inbound(),
            outbound_threshold: default_outbound(),
            inspect_response_bodies: false,
            exclusions: Vec::new(),
        }
    }
}

/// Rules (or their arguments) left out on one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallExclusion {
    pub route: RoutePattern,
    /// Inclusive id ranges (a single id is a range of one).
    pub rule_ids: Vec<(u32, u32)>,
    pub rule_tags: Vec<String>,
    /// Argument names or `/regex/`es; none: the rules are left out whole.
    pub arguments: Vec<String>,
}

/// Characters a tag or an argument name may not hold (they would end the rule they go into).
const FORBIDDEN: [char; 9] = ['"', '\'', ',', ';', '\\', '|', ' ', '\n', '\r'];

impl FirewallSection {
    pub(crate) fn check(self) -> Result<FirewallPolicy, PolicyError> {
        if !(1..=4).contains(&self.paranoia_level) {
            return Err(bad("firewall.paranoia_level", "must be 1 to 4"));
        }
        if self.inbound_threshold == 0 {
            return Err(bad("firewall.inbound_threshold", "must be at least 1"));
        }
        if self.outbound_threshold == 0 {
            return Err(bad("firewall.outbound_threshold", "must be at least 1"));
        }
        let mut exclusions = Vec::with_capacity(self.exclusions.len());
        for (i, x) in self.exclusions.into_iter().enumerate() {
            let at = |f: &str| format!("firewall.exclusion[{i}].{f}");
            let route = RoutePattern::parse(&x.route).map_err(|e| bad(at("route"), e))?;
            if x.rule_ids.is_empty() && x.rule_tags.is_empty() {
                return Err(bad(at("rule_ids"), "name rule ids or rule tags to exclude"));
            }
            if x.reason.trim().is_empty() {
                return Err(bad(at("reason"), "say why the rules are wrong here"));
            }
            let mut rule_ids = Vec::with_capacity(x.rule_ids.len());
            for (j, id) in x.rule_ids.iter().enumerate() {
                rule_ids.push(id_range(id).ok_or_else(|| {
                    bad(
                        at(&format!("rule_ids[{j}]")),
                        "is not an id or an id range like 942000-942999",
                    )
                })?);
            }
            for (j, tag) in x.rule_tags.iter().enumerate() {
                if tag.is_empty() || tag.contains(FORBIDDEN) {
                    return Err(bad(
                        at(&format!("rule_tags[{j}]")),
                        "is empty or holds a quote, comma, semicolon, bar, backslash or space",
                    ));
                }
            }
            for (j, arg) in x.arguments.iter().enumerate() {
                let field = || at(&format!("arguments[{j}]"));
                match arg.strip_prefix('/') {
                    Some(pattern) => {
                        let Some(pattern) = pattern.strip_suffix('/') else {
                            return Err(bad(field(), "a pattern is written /regex/"));
                        };
                        if pattern.contains(['"', '\'', ',', '\n', '\r']) {
                            return Err(bad(field(), "a pattern may not hold quotes or commas"));
                        }
                        regex::Regex::new(pattern).map_err(|e| bad(field(), e.to_string()))?;
                    }
                    None if arg.is_empty() || arg.contains(FORBIDDEN) => {
                        return Err(bad(
                            field(),
                            "is empty or holds a quote, comma, semicolon, bar, backslash or space",
                        ));
                    }
                    None => {}
                }
            }
            exclusions.push(FirewallExclusion {
                route,
                rule_ids,
                rule_tags: x.rule_tags,
                arguments: x.arguments,
            });
        }
        Ok(FirewallPolicy {
            mode: self.mode,
            paranoia_level: self.paranoia_level,
            inbound_threshold: self.inbound_threshold,
            outbound_threshold: self.outbound_threshold,
            inspect_response_bodies: self.inspect_response_bodies,
            exclusions,
        })
    }
}

/// `942100` or `942000-942999`.
fn id_range(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::Policy;

    fn firewall(section: &str) -> Result<super::FirewallPolicy, String> {
        Policy::from_toml(&format!("version = 1\n[firewall]\n{section}"))
            .map(|p| p.firewall)
            .map_err(|e| format!("{}: {}", e.field, e.message))
    }

    #[test]
    fn the_section_reads_with_defaults() {
        let p = firewall(
            "mode = \"detection_only\"\n[[firewall.exclusion]]\nroute = \"POST /api/v1/orders\"\nrule_ids = [\"942100\", \"941000-941999\"]\narguments = [\"json.contact_name\", \"/^json\\\\.tickets\\\\.\\\\d+\\\\.name$/\"]\nreason = \"names\"\n",
        )
        .unwrap();
        assert_eq!(p.mode, super::FirewallMode::DetectionOnly);
        assert_eq!(p.paranoia_level, 1);
        assert_eq!(p.inbound_threshold, 5);
        assert_eq!(
            p.exclusions[0].rule_ids,
            vec![(942100, 942100), (941000, 941999)]
        );
        assert_eq!(
            Policy::from_toml("version = 1").unwrap().firewall,
            super::FirewallPolicy::default()
        );
    }

    #[test]
    fn bad_sections_name_the_field() {
        let x = |body: &str| {
            format!(
                "[[firewall.exclusion]]\nroute = \"POST /api/v1/orders\"\nreason = \"r\"\n{body}"
            )
        };
        for (section, field) in [
            ("paranoia_level = 5", "firewall.paranoia_level"),
            ("inbound_threshold = 0", "firewall.inbound_threshold"),
            ("mode = \"loud\"", "firewall.mode"),
            (
                &x("rule_ids = [\"9-1\"]"),
                "firewall.exclusion[0].rule_ids[0]",
            ),
            (&x(""), "firewall.exclusion[0].rule_ids"),
            (
                &x("rule_tags = [\"a,ctl:ruleEngine=Off\"]"),
                "firewall.exclusion[0].rule_tags[0]",
            ),
            (
                &x("rule_tags = [\"t\"]\narguments = [\"a\\\"b\"]"),
                "firewall.exclusion[0].arguments[0]",
            ),
            (
                &x("rule_tags = [\"t\"]\narguments = [\"/(/\"]"),
                "firewall.exclusion[0].arguments[0]",
            ),
            (
                "[[firewall.exclusion]]\nroute = \"FETCH /x\"\nrule_tags = [\"t\"]\nreason = \"r\"",
                "firewall.exclusion[0].route",
            ),
        ] {
            let e = firewall(section).unwrap_err();
            assert!(e.starts_with(&format!("{field}:")), "{section}: {e}");
        }
    }
}
