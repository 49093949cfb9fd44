//! The firewall as a deployment runs it: the OWASP CRS loaded behind Gatehouse's own setup —
//! the engine mode, the paranoia level and anomaly thresholds, the JSON and XML body processors
//! and the exclusions per route — and one call per request that says what fired, the anomaly
//! scores, and whether the request is stopped (blocking) or would have been (detection only).
//!
//! The setup is written as SecLang and loaded before the CRS, as `crs-setup.conf` and
//! `REQUEST-900-EXCLUSION-RULES-BEFORE-CRS` would be: the rules themselves stay untouched.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::libinjection::SqliData;
use crate::request::{Request, Response};
use crate::rule::EngineMode;
use crate::ruleset::{LoadError, Loader, Ruleset};
use crate::transaction::{Fired, Interruption, Transaction};

/// Where the rules come from: the CRS directory (`rules/` and `crs-setup.conf.example`) and
/// libinjection's (`src/sqlparse_data.json`, for `@detectSQLi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFiles {
    pub crs: PathBuf,
    pub libinjection: PathBuf,
}

impl RuleFiles {
    /// The rule files a development checkout reads: `GH_CRS_DIR` and `GH_LIBINJECTION_DIR`, or
    /// `shared/crs` and `shared/libinjection` beside the workspace at `workspace` (tests and
    /// benchmarks; a deployment configures its own).
    pub fn beside_checkout(workspace: &Path) -> Self {
        let shared = workspace.join("../shared");
        let dir = |var: &str, name: &str| {
            std::env::var_os(var).map_or_else(|| shared.join(name), PathBuf::from)
        };
        Self {
            crs: dir("GH_CRS_DIR", "crs"),
            libinjection: dir("GH_LIBINJECTION_DIR", "libinjection"),
        }
    }
}

/// What the policy decides about the firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub mode: EngineMode,
    /// 1 (few false positives) to 4 (most rules).
    pub paranoia_level: u8,
    /// The inbound anomaly score at which a request is stopped (CRS default 5: one critical).
    pub inbound_threshold: u32,
    /// The outbound score at which a response is stopped (CRS default 4).
    pub outbound_threshold: u32,
    /// Response bodies (of the media types listed) are examined too.
    pub inspect_response_bodies: bool,
    /// The largest request body read (`SecRequestBodyLimit`); a larger one is refused.
    pub request_body_limit: usize,
    pub exclusions: Vec<Exclusion>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            mode: EngineMode::On,
            paranoia_level: 1,
            inbound_threshold: 5,
            outbound_threshold: 4,
            inspect_response_bodies: false,
            request_body_limit: 13_107_200,
            exclusions: Vec::new(),
        }
    }
}

/// Rules (or some of their targets) left out for the requests of one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// `POST` and the like; none for every method.
    pub method: Option<String>,
    /// A regular expression the whole path (`REQUEST_FILENAME`) must match.
    pub path_regex: String,
    /// Rule ids or ranges (`942100`, `942000-942999`).
    pub rule_ids: Vec<(u32, u32)>,
    /// Rule tags (`attack-sqli`).
    pub rule_tags: Vec<String>,
    /// Argument names (`json.visitor.name`) or `/regex/`es over them; none: the rules go whole.
    pub arguments: Vec<String>,
}

/// The first id of the rules the setup writes (CRS leaves 10000–19999 to the deployment's
/// exclusions before the CRS).
const EXCLUSION_IDS: u32 = 10_000;

/// Characters that would end a SecLang quoted string or action list.
fn safe(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() || text.contains(['"', '\'', ',', ';', '\\', '\n', '\r', '|', ' ']) {
        return Err(format!(
            "{what} {text:?} is empty or holds a quote, comma, semicolon, bar, backslash or space"
        ));
    }
    Ok(())
}

impl Setup {
    /// The setup as SecLang, loaded before the CRS.
    pub fn seclang(&self) -> Result<String, String> {
        if !(1..=4).contains(&self.paranoia_level) {
            return Err(format!(
                "paranoia_level {} is not 1 to 4",
                self.paranoia_level
            ));
        }
        if self.inbound_threshold == 0 || self.outbound_threshold == 0 {
            return Err("anomaly thresholds must be at least 1".into());
        }
        let engine = match self.mode {
            EngineMode::On => "On",
            EngineMode::DetectionOnly => "DetectionOnly",
            EngineMode::Off => "Off",
        };
        let mut s = format!(
            "SecRuleEngine {engine}\nSecRequestBodyAccess On\nSecRequestBodyLimit {}\nSecResponseBodyAccess {}\n",
            self.request_body_limit.max(1),
            if self.inspect_response_bodies {
                "On"
            } else {
                "Off"
            }
        );
        s.push_str(
            "SecResponseBodyMimeType text/plain text/html text/xml application/json\n\
             SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" \"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n\
             SecRule REQUEST_HEADERS:Content-Type \"^application/(?:[a-z0-9.+-]+\\+)?json\" \"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n",
        );
        let _ = writeln!(
            s,
            "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level={}\"",
            self.paranoia_level
        );
        let _ = writeln!(
            s,
            "SecAction \"id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold={},setvar:tx.outbound_anomaly_score_threshold={}\"",
            self.inbound_threshold, self.outbound_threshold
        );
        for (i, x) in self.exclusions.iter().enumerate() {
            let id = EXCLUSION_IDS + u32::try_from(i).unwrap_or(u32::MAX / 2);
            s.push_str(&x.seclang(id)?);
        }
        Ok(s)
    }
}

impl Exclusion {
    /// A rule (method, chained to path) whose `ctl`s remove the rules or their targets.
    fn seclang(&self, id: u32) -> Result<String, String> {
        if self.rule_ids.is_empty() && self.rule_tags.is_empty() {
            return Err("an exclusion names rule ids or rule tags".into());
        }
        if self.path_regex.contains(['"', '\n', '\r']) {
            return Err(format!("bad path pattern {:?}", self.path_regex));
        }
        regex::Regex::new(&self.path_regex).map_err(|e| e.to_string())?;
        let mut ctls: Vec<String> = Vec::new();
        let ids: Vec<String> = self
            .rule_ids
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        for tag in &self.rule_tags {
            safe("rule tag", tag)?;
        }
        if self.arguments.is_empty() {
            ctls.extend(ids.iter().map(|i| format!("ctl:ruleRemoveById={i}")));
            ctls.extend(
                self.rule_tags
                    .iter()
                    .map(|t| format!("ctl:ruleRemoveByTag={t}")),
            );
        }
        for argument in &self.arguments {
            if let Some(pattern) = argument.strip_prefix('/') {
                if !pattern.ends_with('/') || pattern.len() < 2 {
                    return Err(format!("argument pattern {argument:?} does not end with /"));
                }
                regex::bytes::Regex::new(pattern.trim_end_matches('/'))
                    .map_err(|e| format!("argument pattern {argument:?}: {e}"))?;
                if argument.contains(['"', '\'', ',', '\n', '\r']) {
                    return Err(format!(
                        "argument pattern {argument:?} holds a quote or comma"
                    ));
                }
            } else {
                safe("argument", argument)?;
            }
            for i in &ids {
                ctls.push(format!("ctl:ruleRemoveTargetById={i};ARGS:{argument}"));
            }
            for t in &self.rule_tags {
                ctls.push(format!("ctl:ruleRemoveTargetByTag={t};ARGS:{argument}"));
            }
        }
        let path = format!("SecRule REQUEST_FILENAME \"@rx {}\"", self.path_regex);
        let ctls = ctls.join(",");
        Ok(match &self.method {
            // The path rule as a chain link: its `ctl`s run only when both match.
            Some(method) => {
                safe("method", method)?;
                format!(
                    "SecRule REQUEST_METHOD \"@streq {method}\" \"id:{id},phase:1,pass,nolog,t:none,chain\"\n    {path} \"t:none,{ctls}\"\n"
                )
            }
            None => format!("{path} \"id:{id},phase:1,pass,nolog,t:none,{ctls}\"\n"),
        })
    }
}

/// The loaded firewall.
#[derive(Debug)]
pub struct Firewall {
    ruleset: Ruleset,
    setup: Setup,
}

/// What the firewall made of one request (or its response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The rules that fired and log, in order.
    pub fired: Vec<Fired>,
    /// The request is stopped with this status (blocking mode).
    pub stopped: Option<Interruption>,
    /// Detection only: the request would have been stopped by this rule.
    pub would_stop: Option<Interruption>,
    pub inbound_score: u32,
    pub outbound_score: u32,
}

impl Outcome {
    /// Nothing fired.
    pub fn is_clean(&self) -> bool {
        self.fired.is_empty() && self.stopped.is_none() && self.would_stop.is_none()
    }
}

impl Firewall {
    /// Loads the setup and then the whole CRS (`crs-setup.conf.example`, then `rules/*.conf` in
    /// name order), compiled.
    pub fn load(files: &RuleFiles, setup: Setup) -> Result<Self, LoadError> {
        let text = setup
            .seclang()
            .map_err(|message| LoadError::Setup { message })?;
        let mut loader = Loader::new();
        loader.libinjection(Arc::new(SqliData::load(&files.libinjection).map_err(
            |message| LoadError::Setup {
                message: format!(
                    "libinjection at {}: {message}",
                    files.libinjection.display()
                ),
            },
        )?));
        let rules = files.crs.join("rules");
        loader.text(&text, "gatehouse-setup", &rules)?;
        loader.file(&files.crs.join("crs-setup.conf.example"))?;
        for file in rule_files(&rules)? {
            loader.file(&file)?;
        }
        Ok(Self {
            ruleset: loader.finish()?,
            setup,
        })
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    /// Runs the request phases (1, 2). The transaction is kept for the response phases.
    pub fn examine_request<'r>(&'r self, request: &Request, unique_id: String) -> Transaction<'r> {
        let mut tx = Transaction::new(&self.ruleset, request, unique_id);
        tx.run_request();
        tx
    }

    /// Runs the response phases (3, 4, 5) of a request examined by [`Self::examine_request`].
    pub fn examine_response(&self, tx: &mut Transaction<'_>, response: &Response) {
        tx.run_response(response);
    }
}

impl Transaction<'_> {
    /// What has happened so far.
    pub fn outcome(&self) -> Outcome {
        let score = |name: &str| {
            self.vars
                .tx
                .get(name)
                .map_or(0, |v| u32::try_from(crate::operators::atoi(v)).unwrap_or(0))
        };
        Outcome {
            fired: self.fired.clone(),
            stopped: self.interruption.clone(),
            would_stop: self.would_interrupt.clone(),
            inbound_score: score("blocking_inbound_anomaly_score"),
            outbound_score: score("blocking_outbound_anomaly_score"),
        }
    }
}

/// The `.conf` files of a directory, in name order.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read = std::fs::read_dir(dir).map_err(|e| LoadError::Setup {
        message: format!("cannot read {}: {e}", dir.display()),
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn exclusion() -> Exclusion {
        Exclusion {
            method: Some("POST".into()),
            path_regex: "^/api/v1/orders$".into(),
            rule_ids: vec![(942100, 942100), (941000, 941999)],
            rule_tags: vec!["attack-sqli".into()],
            arguments: vec![
                "json.contact_name".into(),
                "/^json\\.tickets\\.\\d+\\.name$/".into(),
            ],
        }
    }

    #[test]
    fn the_setup_is_seclang_the_loader_reads() {
        let setup = Setup {
            exclusions: vec![exclusion()],
            ..Setup::default()
        };
        let text = setup.seclang().unwrap();
        assert!(text.contains("tx.blocking_paranoia_level=1"));
        assert!(text.contains("ctl:ruleRemoveTargetById=941000-941999;ARGS:json.contact_name"));
        let mut loader = Loader::new();
        loader.text(&text, "setup", Path::new(".")).unwrap();
        loader.finish().unwrap();
    }

    #[test]
    fn bad_setups_are_refused_with_what_is_wrong() {
        let bad = |f: &dyn Fn(&mut Setup)| {
            let mut s = Setup {
                exclusions: vec![exclusion()],
                ..Setup::default()
            };
            f(&mut s);
            s.seclang().unwrap_err()
        };
        assert!(bad(&|s| s.paranoia_level = 5).contains("paranoia"));
        assert!(bad(&|s| s.inbound_threshold = 0).contains("threshold"));
        assert!(
            bad(&|s| s.exclusions[0].arguments = vec!["a\",ctl:ruleEngine=Off".into()])
                .contains("argument")
        );
        assert!(
            bad(&|s| s.exclusions[0].rule_tags = vec!["x,ctl:ruleEngine=Off".into()])
                .contains("tag")
        );
        assert!(bad(&|s| s.exclusions[0].path_regex = "(".into()).contains("regex"));
        assert!(bad(&|s| {
            s.exclusions[0].rule_ids.clear();
            s.exclusions[0].rule_tags.clear();
        })
        .contains("names rule"));
    }
}
