//! Loading rule files into a ruleset: directives in order, `Include`s followed (globs in the
//! file name), chains assembled, `SecDefaultAction` applied per phase, and the load-time edits
//! (`SecRuleUpdateTargetById`, `SecRuleUpdateActionById`, `SecRuleRemoveBy…`) made to the rules
//! they name. The result is per phase: rules and markers in file order, which is how they run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::rule::{phase_number, Disruptive, EngineMode, PhaseDefaults, Rule};
use crate::seclang::{self, Directive, ParseError};
use crate::transform::Transformation;

/// Why rules did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{origin}:{line}: {message}")]
    Rule {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// The deployment's setup (mode, levels, exclusions) or where the rules are.
    #[error("firewall setup: {message}")]
    Setup { message: String },
}

/// One step of a phase.
#[derive(Debug, Clone)]
pub enum Step {
    Rule(Arc<Rule>),
    /// A `SecMarker`: where `skipAfter` resumes.
    Marker(String),
}

/// Settings the directives make.
#[derive(Debug, Clone)]
pub struct Settings {
    pub engine: EngineMode,
    pub request_body_access: bool,
    pub request_body_limit: usize,
    pub request_body_no_files_limit: usize,
    pub argument_separator: u8,
    pub component_signature: Option<String>,
    pub response_body_access: bool,
    /// The response bodies examined, by media type.
    pub response_body_mime_types: Vec<String>,
    pub response_body_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            engine: EngineMode::On,
            request_body_access: true,
            request_body_limit: 13_107_200,
            request_body_no_files_limit: 131_072,
            argument_separator: b'&',
            component_signature: None,
            response_body_access: false,
            response_body_mime_types: vec!["text/plain".into(), "text/html".into()],
            response_body_limit: 524_288,
        }
    }
}

/// Loaded rules, ready to run.
#[derive(Debug, Clone)]
pub struct Ruleset {
    phases: [Vec<Step>; 5],
    defaults: [PhaseDefaults; 5],
    /// Every `/regex/` member selector of the rules, compiled.
    selectors: std::collections::HashMap<
        String,
        crate::selector::NamePattern,
        foldhash::fast::RandomState,
    >,
    /// Every tag a rule has, by number.
    tags: HashMap<String, u32>,
    /// By tag number: the slots of the rules with that tag, one bit each, so a removal by
    /// tag is a bit test per rule.
    tag_slots: Vec<Vec<u64>>,
    pub settings: Settings,
    /// Which rules each recently seen value is known not to match.
    pub(crate) clean: Arc<crate::clean::CleanValues>,
    /// Operators with macros in their argument, compiled per expansion.
    pub(crate) expanded: Arc<crate::expanded::ExpandedOperators>,
}

impl Ruleset {
    /// The steps of phase `phase` (1–5), in order.
    pub fn phase(&self, phase: u8) -> &[Step] {
        self.phases
            .get(usize::from(phase.saturating_sub(1)))
            .map_or(&[], Vec::as_slice)
    }

    /// The disruptive action `block` stands for in `phase`.
    pub fn default_disruptive(&self, phase: u8) -> &Disruptive {
        self.defaults
            .get(usize::from(phase.saturating_sub(1)))
            .map_or(&Disruptive::Pass, |d| &d.disruptive)
    }

    /// A member selector's compiled regular expression.
    /// The number of `tag`; none when no rule has it.
    pub(crate) fn tag_id(&self, tag: &str) -> Option<u32> {
        self.tags.get(tag).copied()
    }

    /// Whether the rule in `slot` has tag number `tag`.
    pub(crate) fn has_tag(&self, slot: u32, tag: u32) -> bool {
        let slot = slot as usize;
        self.tag_slots
            .get(tag as usize)
            .and_then(|bits| bits.get(slot / 64))
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    pub fn selector(&self, pattern: &str) -> Option<&crate::selector::NamePattern> {
        self.selectors.get(pattern)
    }

    /// Every rule, chain starters only, in load order within each phase.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.phases.iter().flatten().filter_map(|s| match s {
            Step::Rule(r) => Some(r.as_ref()),
            Step::Marker(_) => None,
        })
    }
}

/// Builds a ruleset from files and texts, in order.
#[derive(Default)]
pub struct Loader {
    /// Rules and markers in load order (markers go to every phase).
    items: Vec<Item>,
    defaults: [Option<PhaseDefaults>; 5],
    /// A rule whose chain still waits for its next link.
    open_chain: Option<usize>,
    settings: Settings,
    depth: usize,
    /// libinjection's data, for `@detectSQLi`.
    sqli: Option<Arc<crate::libinjection::SqliData>>,
}

enum Item {
    Rule(Box<Rule>),
    Marker(String),
}

/// How deep `Include`s may nest (a loop of includes would otherwise never end).
const MAX_INCLUDE_DEPTH: usize = 16;

impl Loader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `@detectSQLi` libinjection's data (rules using it do not load without).
    pub fn libinjection(&mut self, data: Arc<crate::libinjection::SqliData>) -> &mut Self {
        self.sqli = Some(data);
        self
    }

    /// Loads a file; its `Include`s and data files are found relative to its directory.
    pub fn file(&mut self, path: &Path) -> Result<&mut Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.text(&text, &path.display().to_string(), &dir)
    }

    /// Loads rules given as text (`origin` names it in errors, `dir` is where its includes and
    /// data files are).
    pub fn text(&mut self, text: &str, origin: &str, dir: &Path) -> Result<&mut Self, LoadError> {
        let read_data = |file: &str| {
            std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{file}: {e}"))
        };
        let fail = |line: usize, message: String| LoadError::Rule {
            origin: origin.to_owned(),
            line,
            message,
        };
        for directive in seclang::parse(text, origin)? {
            match directive {
                Directive::Rule(spec) => self
                    .rule(&spec, &spec.actions, &read_data)
                    .map_err(|m| fail(spec.line, m))?,
                Directive::Action { line, actions } => {
                    let spec = seclang::RuleSpec {
                        line,
                        targets: Vec::new(),
                        operator: seclang::OperatorSpec {
                            negated: false,
                            name: "unconditionalMatch".into(),
                            argument: String::new(),
                        },
                        actions: actions.clone(),
                    };
                    self.rule(&spec, &actions, &read_data)
                        .map_err(|m| fail(line, m))?;
                }
                Directive::Marker(name) => self.items.push(Item::Marker(name)),
                Directive::DefaultAction(actions) => {
                    let phase = actions
                        .iter()
                        .find(|a| a.name == "phase")
                        .map(|a| phase_number(a.value.as_deref().unwrap_or("")))
                        .transpose()
                        .map_err(|m| fail(0, m))?
                        .unwrap_or(2);
                    let mut defaults = PhaseDefaults::default();
                    for a in &actions {
                        match a.name.as_str() {
                            "t" => match Transformation::named(a.value.as_deref().unwrap_or(""))
                                .map_err(|m| fail(0, m))?
                            {
                                Some(t) => defaults.transformations.push(t),
                                None => defaults.transformations.clear(),
                            },
                            "pass" => defaults.disruptive = Disruptive::Pass,
                            "deny" => defaults.disruptive = Disruptive::Deny,
                            "drop" => defaults.disruptive = Disruptive::Drop,
                            "log" => defaults.log = true,
                            "nolog" => defaults.log = false,
                            _ => {}
                        }
                    }
                    if let Some(slot) = self.defaults.get_mut(usize::from(phase - 1)) {
                        *slot = Some(defaults);
                    }
                }
                Directive::UpdateTargetById {
                    ids,
                    targets,
                    replacing,
                } => {
                    for rule in self.rules_mut() {
                        if !ids.iter().any(|r| r.contains(rule.id)) {
                            continue;
                        }
                        if let Some(old) = &replacing {
                            rule.targets.retain(|t| !old.contains(t));
                        }
                        rule.targets.extend(targets.iter().cloned());
                    }
                }
                Directive::UpdateTargetByTag { tag, targets } => {
                    for rule in self.rules_mut() {
                        if rule.tags.iter().any(|t| t == &tag) {
                            rule.targets.extend(targets.iter().cloned());
                        }
                    }
                }
                Directive::UpdateActionById { id, actions } => {
                    for rule in self.rules_mut().filter(|r| r.id == id) {
                        rule.apply(&actions).map_err(|m| fail(0, m))?;
                    }
                }
                Directive::RemoveById(ids) => self.items.retain(|i| match i {
                    Item::Rule(r) => !ids.iter().any(|range| range.contains(r.id)),
                    Item::Marker(_) => true,
                }),
                Directive::RemoveByTag(tag) => self.items.retain(|i| match i {
                    Item::Rule(r) => !r.tags.iter().any(|t| t == &tag),
                    Item::Marker(_) => true,
                }),
                Directive::RemoveByMsg(msg) => self.items.retain(|i| match i {
                    Item::Rule(r) => r
                        .msg
                        .as_ref()
                        .is_none_or(|m| m.expand(&|_, _| None) != msg.as_bytes()),
                    Item::Marker(_) => true,
                }),
                Directive::Include(pattern) => self.include(dir, &pattern)?,
                Directive::Setting { name, args } => {
                    self.setting(&name, &args).map_err(|m| fail(0, m))?
                }
            }
        }
        Ok(self)
    }

    fn include(&mut self, dir: &Path, pattern: &str) -> Result<(), LoadError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(LoadError::File {
                path: pattern.to_owned(),
                message: "includes nest too deep (a loop?)".into(),
            });
        }
        self.depth += 1;
        let result = glob(&dir.join(pattern)).and_then(|files| {
            for f in files {
                self.file(&f)?;
            }
            Ok(())
        });
        self.depth -= 1;
        result
    }

    fn setting(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let first = args.first().map(String::as_str).unwrap_or("");
        let size = || {
            first
                .parse::<usize>()
                .map_err(|_| format!("{name} {first:?} is not a size"))
        };
        match name.to_ascii_lowercase().as_str() {
            "secruleengine" => {
                self.settings.engine = match first.to_ascii_lowercase().as_str() {
                    "on" => EngineMode::On,
                    "detectiononly" => EngineMode::DetectionOnly,
                    "off" => EngineMode::Off,
                    other => return Err(format!("SecRuleEngine {other} does not exist")),
                }
            }
            "secrequestbodyaccess" => {
                self.settings.request_body_access = first.eq_ignore_ascii_case("on")
            }
            "secrequestbodylimit" => self.settings.request_body_limit = size()?,
            "secresponsebodyaccess" => {
                self.settings.response_body_access = first.eq_ignore_ascii_case("on")
            }
            "secresponsebodymimetype" => {
                self.settings.response_body_mime_types = args
                    .iter()
                    .flat_map(|a| a.split_whitespace())
                    .map(str::to_ascii_lowercase)
                    .collect()
            }
            "secresponsebodylimit" => self.settings.response_body_limit = size()?,
            "secrequestbodynofileslimit" => self.settings.request_body_no_files_limit = size()?,
            "secargumentseparator" => {
                self.settings.argument_separator = *first.as_bytes().first().unwrap_or(&b'&')
            }
            "seccomponentsignature" => self.settings.component_signature = Some(first.to_owned()),
            _ => {}
        }
        Ok(())
    }

    fn rule(
        &mut self,
        spec: &seclang::RuleSpec,
        actions: &[seclang::Action],
        read_data: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<(), String> {
        let res = crate::operators::Resources {
            read_data,
            sqli: self.sqli.as_ref(),
        };
        let res = &res;
        let defaults = |phase: u8| {
            self.defaults
                .get(usize::from(phase.saturating_sub(1)))
                .cloned()
                .flatten()
                .unwrap_or_default()
        };
        if let Some(at) = self.open_chain {
            let Some(Item::Rule(start)) = self.items.get(at) else {
                return Err("a chain lost its start".into());
            };
            let link = Rule::compile(spec, actions, &defaults, Some(start.phase), res)?;
            let continues = link.starts_chain;
            if let Some(Item::Rule(start)) = self.items.get_mut(at) {
                attach(start, link);
            }
            if !continues {
                self.open_chain = None;
            }
            return Ok(());
        }
        let rule = Rule::compile(spec, actions, &defaults, None, res)?;
        if rule.starts_chain {
            self.open_chain = Some(self.items.len());
        }
        self.items.push(Item::Rule(Box::new(rule)));
        Ok(())
    }

    fn rules_mut(&mut self) -> impl Iterator<Item = &mut Rule> {
        self.items.iter_mut().filter_map(|i| match i {
            Item::Rule(r) => Some(r.as_mut()),
            Item::Marker(_) => None,
        })
    }

    /// The ruleset. A chain left open at the end is an error.
    pub fn finish(mut self) -> Result<Ruleset, LoadError> {
        if let Some(Item::Rule(r)) = self.open_chain.and_then(|at| self.items.get(at)) {
            return Err(LoadError::Rule {
                origin: "rules".into(),
                line: r.line,
                message: format!("rule {} starts a chain that never continues", r.id),
            });
        }
        let mut selectors = std::collections::HashMap::default();
        for item in &self.items {
            if let Item::Rule(rule) = item {
                collect_selectors(rule, &mut selectors).map_err(|message| LoadError::Rule {
                    origin: "rules".into(),
                    line: rule.line,
                    message,
                })?;
            }
        }
        let mut slots = 0u32;
        let mut lists: HashMap<String, u32> = HashMap::new();
        let mut tags: HashMap<String, u32> = HashMap::new();
        // (tag number, slot) of every tagged rule, for `tag_slots` once the slots are counted.
        let mut tagged: Vec<(u32, u32)> = Vec::new();
        for item in &mut self.items {
            if let Item::Rule(rule) = item {
                let mut link: Option<&mut Rule> = Some(rule);
                while let Some(r) = link {
                    r.slot = slots;
                    slots += 1;
                    for t in &r.tags {
                        let next = u32::try_from(tags.len()).unwrap_or(u32::MAX);
                        tagged.push((*tags.entry(t.clone()).or_insert(next), r.slot));
                    }
                    let shared = !r.targets.is_empty()
                        && r.targets
                            .iter()
                            .all(|t| t.exclude || crate::vars::is_placed(t));
                    if shared {
                        let next = u32::try_from(lists.len()).unwrap_or(u32::MAX);
                        r.target_list =
                            Some(*lists.entry(format!("{:?}", r.targets)).or_insert(next));
                    }
                    link = r.chain.as_deref_mut();
                }
            }
        }
        let mut proofs = Vec::new();
        for item in &self.items {
            if let Item::Rule(rule) = item {
                let mut link: Option<&Rule> = Some(rule);
                while let Some(r) = link {
                    proofs.push((r.slot, crate::proof::classes_never_matched(r)));
                    link = r.chain.as_deref();
                }
            }
        }
        let words = (slots as usize).div_ceil(64);
        let mut tag_slots = vec![vec![0u64; words]; tags.len()];
        for (tag, slot) in tagged {
            let slot = slot as usize;
            if let Some(w) = tag_slots
                .get_mut(tag as usize)
                .and_then(|bits| bits.get_mut(slot / 64))
            {
                *w |= 1 << (slot % 64);
            }
        }
        let mut phases: [Vec<Step>; 5] = Default::default();
        for item in self.items {
            match item {
                Item::Rule(rule) => {
                    if let Some(steps) = phases.get_mut(usize::from(rule.phase - 1)) {
                        steps.push(Step::Rule(Arc::new(*rule)));
                    }
                }
                Item::Marker(name) => {
                    for steps in &mut phases {
                        steps.push(Step::Marker(name.clone()));
                    }
                }
            }
        }
        Ok(Ruleset {
            phases,
            defaults: self.defaults.map(Option::unwrap_or_default),
            selectors,
            tags,
            tag_slots,
            settings: self.settings,
            clean: Arc::new(crate::clean::CleanValues::with_proofs(
                slots as usize,
                proofs.into_iter(),
            )),
            expanded: Arc::default(),
        })
    }
}

/// Compiles the `/regex/` selectors of a rule, its chain and its `ctl`s.
fn collect_selectors(
    rule: &Rule,
    into: &mut std::collections::HashMap<
        String,
        crate::selector::NamePattern,
        foldhash::fast::RandomState,
    >,
) -> Result<(), String> {
    use crate::rule::Ctl;
    use crate::seclang::Selector;
    let ctl_targets = rule.ctls.iter().filter_map(|c| match c {
        Ctl::RemoveTargetById(_, t) | Ctl::RemoveTargetByTag(_, t) => Some(t),
        _ => None,
    });
    for target in rule.targets.iter().chain(ctl_targets) {
        if let Some(Selector::Regex(pattern)) = &target.selector {
            if !into.contains_key(pattern) {
                // Member names compare without regard to case, so their patterns do too.
                let re = crate::selector::NamePattern::new(pattern)
                    .map_err(|e| format!("selector /{pattern}/ does not compile: {e}"))?;
                into.insert(pattern.clone(), re);
            }
        }
    }
    match &rule.chain {
        Some(link) => collect_selectors(link, into),
        None => Ok(()),
    }
}

/// Puts `link` at the end of `rule`'s chain.
fn attach(rule: &mut Rule, link: Rule) {
    match rule.chain {
        Some(ref mut next) => attach(next, link),
        None => rule.chain = Some(Box::new(link)),
    }
}

/// The files a pattern names: a path, or a `*` pattern in its last component, sorted.
fn glob(pattern: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let (head, tail) = name.split_once('*').unwrap_or((&name, ""));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LoadError::File {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| {
                    n.starts_with(head) && n.ends_with(tail) && n.len() >= head.len() + tail.len()
                })
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn load(text: &str) -> Result<Ruleset, LoadError> {
        let mut loader = Loader::new();
        loader.text(text, "t.conf", Path::new("."))?;
        loader.finish()
    }

    #[test]
    fn chains_defaults_markers_and_edits() {
        let rules = load(
            r#"
SecDefaultAction "phase:2,log,auditlog,pass,t:lowercase"
SecRule ARGS "@rx a" "id:1,phase:2,block,chain"
    SecRule ARGS_NAMES "@rx b" "chain"
        SecRule TX:x "@eq 1" "setvar:tx.y=1"
SecMarker "END"
SecRule REQUEST_METHOD "@rx GET" "id:2,phase:1,pass,t:none"
SecRule ARGS "@rx c" "id:3,phase:2,pass"
SecRuleUpdateTargetById 1 "!ARGS:password"
SecRuleUpdateActionById 3 "deny,status:403"
SecRuleRemoveById 2
"#,
        )
        .unwrap();
        let p2 = rules.phase(2);
        assert_eq!(p2.len(), 3, "rule 1, the marker, rule 3");
        let Step::Rule(first) = &p2[0] else { panic!() };
        assert_eq!(first.id, 1);
        assert_eq!(first.transformations, vec![Transformation::Lowercase]);
        let link = first.chain.as_ref().unwrap();
        assert_eq!(link.phase, 2);
        assert_eq!(link.chain.as_ref().unwrap().setvars.len(), 1);
        assert!(first.targets.iter().any(|t| t.exclude));
        assert!(matches!(&p2[1], Step::Marker(m) if m == "END"));
        let Step::Rule(third) = &p2[2] else { panic!() };
        assert_eq!(third.disruptive, Some(Disruptive::Deny));
        assert_eq!(third.status, Some(403));
        assert_eq!(rules.phase(1).len(), 1, "rule 2 removed, the marker stays");
        assert_eq!(rules.default_disruptive(2), &Disruptive::Pass);
    }

    #[test]
    fn broken_rule_sets_are_refused_with_their_place() {
        let e = load("SecRule ARGS \"@rx a\" \"id:1,chain\"").unwrap_err();
        assert!(e.to_string().contains("never continues"), "{e}");
        let e = load("\nSecRule ARGS \"@rx (\" \"id:1\"").unwrap_err();
        assert!(e.to_string().starts_with("t.conf:2:"), "{e}");
        let e = load("Include does-not-exist.conf").unwrap_err();
        assert!(matches!(e, LoadError::File { .. }));
    }
}
