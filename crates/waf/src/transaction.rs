//! Running the rules over one request, phase by phase, as ModSecurity v3 does: each rule's
//! targets resolve to values (less the excluded ones), each value goes through the rule's
//! transformations and the operator; a rule matches when any value does and its whole chain
//! matches. Then its actions run once — `setvar`, `capture`d groups into `TX.0`–`TX.9`, `ctl`,
//! the log entry — and its flow (`skip`, `skipAfter`) and disruptive action apply.

use std::borrow::Cow;

use crate::clean::{known_clean, mark_clean};
use crate::operators::{Captures, Operator};
use crate::phase_memo::{
    Buffers, Match, PassedMemo, SharedLists, MEMO_MAX, NOT_REMEMBERED, NO_WORD,
};
use crate::request::{Request, Response};
use crate::rule::{Ctl, Disruptive, EngineMode, Rule, RuleOperator, SetOp};
use crate::ruleset::{Ruleset, Step};
use crate::seclang::{IdRange, Selector, Target};
use crate::vars::{Named, Vars};

/// A rule that matched and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub id: u32,
    pub phase: u8,
    pub msg: String,
    pub logdata: String,
    pub severity: Option<u8>,
    pub tags: Vec<String>,
    /// The variable (`ARGS:json.name`) and value that matched last, as transformed. It may be
    /// personal data: whoever logs it masks it.
    pub matched: Option<(String, Vec<u8>)>,
}

/// The request is to be stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    pub rule: u32,
    pub status: u16,
    pub action: Disruptive,
}

/// What a `ctl:` removed for this transaction only.
#[derive(Debug, Default)]
struct Removals {
    ids: Vec<IdRange>,
    /// By tag number: a tag no rule has removes nothing.
    tags: Vec<u32>,
    targets_by_id: Vec<(Vec<IdRange>, Target)>,
    targets_by_tag: Vec<(u32, Target)>,
}

/// One request going through the rules.
pub struct Transaction<'r> {
    rules: &'r Ruleset,
    /// Read freely; request data changed between phases by anything but the transaction's
    /// own steps would not be seen by rules that share a target list with an earlier phase.
    pub vars: Vars,
    engine: EngineMode,
    removals: Removals,
    pub fired: Vec<Fired>,
    pub interruption: Option<Interruption>,
    /// Detection only: what would have stopped the request (the first such rule).
    pub would_interrupt: Option<Interruption>,
    /// `allow` stopped the rest of the request's examination.
    allowed: bool,
    /// The rule whose actions run (for `%{RULE.id}`).
    current_rule: u32,
    /// This phase's request values (by where their bytes are) and their remembered
    /// non-matches; emptied before a phase when the values may have moved since the last.
    passed: std::cell::RefCell<PassedMemo>,
    /// The values of each shared target list this phase, found once (by the list's number);
    /// emptied with the memo, and by a `ctl` that changes whether REQUEST_BODY is a variable.
    lists: std::cell::RefCell<SharedLists>,
    /// Request or response data may have moved or changed since the memo and the lists were
    /// filled: a new transaction, a body that was processed, a response that arrived. Without
    /// a body, the headers phase's findings serve the body phase too.
    values_moved: bool,
    /// Buffers of earlier matches (name, value), reused for the next ones.
    spare: std::cell::RefCell<Vec<(String, Vec<u8>)>>,
    /// The buffer a rule's matches are gathered in (the variable, its transformed value, and
    /// what the operator captured), kept from rule to rule.
    matches: Vec<Match>,
    /// Which of `TX.0`–`TX.9` exist (bit n for `TX.n`), so a capture clears only the groups
    /// that are there instead of looking each one up.
    capture_slots: u16,
}

/// `TX.0`–`TX.9`, where `capture` puts its groups.
const CAPTURE_NAMES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// TX variables a transaction has room for from the start.
const TX_ROOM: usize = 160;

/// The bit of `capture_slots` for a TX name, when it is one of `0`–`9`.
fn capture_bit(name: &str) -> Option<u16> {
    match name.as_bytes() {
        [d @ b'0'..=b'9'] => Some(1 << (d - b'0')),
        _ => None,
    }
}

impl Drop for Transaction<'_> {
    /// The buffers go back to the thread for its next transaction.
    fn drop(&mut self) {
        Buffers {
            passed: std::mem::take(self.passed.get_mut()),
            lists: std::mem::take(self.lists.get_mut()),
            spare: std::mem::take(self.spare.get_mut()),
            matches: std::mem::take(&mut self.matches),
            tx: std::mem::take(&mut self.vars.tx),
        }
        .keep();
    }
}

impl<'r> Transaction<'r> {
    pub fn new(rules: &'r Ruleset, request: &Request, unique_id: String) -> Self {
        let mut vars = Vars::from_request(request, rules.settings.argument_separator, unique_id);
        let buffers = Buffers::take();
        vars.tx = buffers.tx;
        // The CRS sets about a hundred TX variables on every request: room for them at once
        // (a thread's earlier transaction usually left it).
        vars.tx.reserve(TX_ROOM);
        // As ModSecurity: the two form types choose their processor themselves; JSON and XML
        // are chosen by rules (`ctl:requestBodyProcessor`).
        let content_type = request
            .header("content-type")
            .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
            .unwrap_or_default();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            vars.body_processor = Some("URLENCODED".into());
        } else if content_type.starts_with("multipart/form-data") {
            vars.body_processor = Some("MULTIPART".into());
        }
        Self {
            rules,
            vars,
            engine: rules.settings.engine,
            removals: Removals::default(),
            fired: Vec::new(),
            interruption: None,
            would_interrupt: None,
            allowed: false,
            current_rule: 0,
            passed: std::cell::RefCell::new(buffers.passed),
            lists: std::cell::RefCell::new(buffers.lists),
            spare: std::cell::RefCell::new(buffers.spare),
            matches: buffers.matches,
            capture_slots: 0,
            values_moved: true,
        }
    }

    /// The engine mode now (a `ctl:ruleEngine` may have changed it).
    pub fn engine(&self) -> EngineMode {
        self.engine
    }

    /// The ids of the rules that fired and log, in order.
    pub fn fired_ids(&self) -> Vec<u32> {
        self.fired.iter().map(|f| f.id).collect()
    }

    /// The request phases: headers (1), the body's processor, the body (2).
    pub fn run_request(&mut self) {
        self.run_phase(1);
        self.process_request_body();
        self.run_phase(2);
    }

    /// The response phases: headers (3), the body (4), then logging (5). The body is examined
    /// only when response bodies are (`SecResponseBodyAccess`) and its media type is listed.
    pub fn run_response(&mut self, response: &Response) {
        self.values_moved = true;
        let settings = &self.rules.settings;
        self.vars.response_status = Some(response.status.to_string().into_bytes());
        self.vars.response_protocol = response.protocol.as_bytes().to_vec();
        self.vars.response_headers = response
            .headers
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()))
            .collect();
        let content_type = response.header("content-type").unwrap_or(&[]).to_vec();
        let media = String::from_utf8_lossy(&content_type)
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.vars.response_content_type = content_type;
        self.run_phase(3);
        if settings.response_body_access && settings.response_body_mime_types.contains(&media) {
            let limit = response.body.len().min(settings.response_body_limit);
            self.vars.response_body = response.body.get(..limit).unwrap_or(&[]).to_vec();
        }
        self.run_phase(4);
        self.run_phase(5);
    }

    /// Turns the body into variables with the processor `REQBODY_PROCESSOR` names. A body the
    /// processor cannot read, or one over the limit, sets `REQBODY_ERROR` instead.
    pub fn process_request_body(&mut self) {
        let settings = &self.rules.settings;
        if !settings.request_body_access || self.vars.body.is_empty() {
            return;
        }
        self.values_moved = true;
        if self.vars.body.len() > settings.request_body_limit {
            self.vars.body_error = Some(format!(
                "request body is larger than {} bytes",
                settings.request_body_limit
            ));
            return;
        }
        // As Coraza: a body with no Content-Type at all is read as a form.
        if self.vars.body_processor.is_none() && self.vars.content_type.is_empty() {
            self.vars.body_processor = Some("URLENCODED".into());
        }
        let body = &self.vars.body;
        if self.vars.body_processor.as_deref() == Some("MULTIPART") {
            match crate::multipart::parse(&self.vars.content_type, body) {
                Ok(m) => {
                    self.vars.args_post = m.args;
                    self.vars.files = m.files;
                    self.vars.file_sizes = m.file_sizes;
                    self.vars.multipart_part_headers = m.part_headers;
                    for flag in crate::multipart::FLAGS {
                        self.vars
                            .multipart_flags
                            .insert(flag, m.flags.contains(&flag));
                    }
                }
                Err(e) => {
                    self.vars.body_error = Some(e);
                    self.vars.multipart_flags.insert("STRICT_ERROR", true);
                }
            }
            return;
        }
        let parsed = match self.vars.body_processor.as_deref() {
            Some("URLENCODED") => crate::body::urlencoded(body, settings.argument_separator),
            Some("JSON") => crate::body::json(body),
            Some("XML") => crate::body::xml(body),
            _ => return,
        };
        match parsed {
            Ok(p) => {
                self.vars.args_post = p.args;
                self.vars.xml = p.xml;
            }
            Err(e) => self.vars.body_error = Some(e),
        }
    }

    /// Runs one phase (1–5). Nothing runs once the request is interrupted or allowed, or
    /// with the engine off.
    pub fn run_phase(&mut self, phase: u8) {
        if std::mem::take(&mut self.values_moved) {
            self.passed.get_mut().clear();
            self.lists.get_mut().clear();
        }
        let rules = self.rules;
        let steps = rules.phase(phase);
        let mut skip_after: Option<&str> = None;
        let mut skip = 0u32;
        for step in steps {
            if self.interruption.is_some() || self.allowed || self.engine == EngineMode::Off {
                return;
            }
            let rule = match step {
                Step::Marker(name) => {
                    if skip_after == Some(name.as_str()) {
                        skip_after = None;
                    }
                    continue;
                }
                Step::Rule(rule) => rule,
            };
            if skip_after.is_some() {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if self.removed(rule) {
                continue;
            }
            // A rule whose shared target list gives nothing this phase cannot match: most
            // rules on a request without arguments or cookies end here. Nor can one that each
            // of the list's values is already known not to match.
            if let Some(list) = rule.target_list {
                let range = self.list_values(rule, list);
                if range.is_empty() || self.list_known_clean(rule, list, range) {
                    continue;
                }
            }
            self.current_rule = rule.id;
            if !self.evaluate(rule) {
                continue;
            }
            self.act(rule, phase);
            if let Some(marker) = &rule.skip_after {
                skip_after = Some(marker);
            }
            skip = rule.skip;
            if matches!(
                rule.disruptive,
                Some(Disruptive::Allow { phase_only: true })
            ) {
                return;
            }
        }
    }

    fn removed(&self, rule: &Rule) -> bool {
        self.removals.ids.iter().any(|r| r.contains(rule.id))
            || self
                .removals
                .tags
                .iter()
                .any(|&t| self.rules.has_tag(rule.slot, t))
    }

    /// Whether `rule` and its chain match; the matched variables are recorded as they go.
    fn evaluate(&mut self, rule: &Rule) -> bool {
        // Each match: the variable, its (transformed) value, and what the operator captured.
        let mut matches = std::mem::take(&mut self.matches);
        {
            let expanded;
            let operator: &Operator = match &rule.operator {
                RuleOperator::Compiled(op) => op,
                RuleOperator::Expanded { name, argument } => {
                    let text = argument.expand(&|c, k| self.resolve(c, k));
                    match self.rules.expanded.get(rule.slot, name, &text) {
                        Some(op) => {
                            expanded = op;
                            &expanded
                        }
                        None => return false,
                    }
                }
            };
            // Only a compiled operator gives the same answer for the same bytes every time.
            let pure = rule.operator.is_pure();
            let mut captures = Captures::new();
            let mut examine = |named: &Named<'_>, passed: u32| {
                let before = matches.len();
                self.examine(rule, operator, named, &mut captures, &mut matches);
                if pure && passed != NOT_REMEMBERED && matches.len() == before {
                    self.with_bits(passed, |bits| mark_clean(bits, rule.slot));
                }
            };
            let known_clean_here = |passed: u32| {
                pure && passed != NOT_REMEMBERED
                    && self.with_bits(passed, |bits| known_clean(bits, rule.slot))
            };
            match rule.target_list {
                Some(list) => {
                    let range = self.list_values(rule, list);
                    let lists = self.lists.borrow();
                    // Found once, not once per value (each removal by tag is checked
                    // against each of the rule's tags), and kept on the stack.
                    let by_ctl: smallvec::SmallVec<[&Target; 8]> =
                        self.removed_targets(rule).collect();
                    let regex = |p: &str| self.rules.selector(p);
                    for &(place, passed) in lists.values.get(range).unwrap_or(&[]) {
                        if known_clean_here(passed) {
                            continue;
                        }
                        let named = self.vars.at(place);
                        if by_ctl.iter().any(|t| excludes(t, &named, &regex)) {
                            continue;
                        }
                        examine(&named, passed);
                    }
                }
                None => {
                    let mut one = |named: &Named<'_>| {
                        let passed = if pure { self.passed_of(named) } else { None };
                        let passed = passed.unwrap_or(NOT_REMEMBERED);
                        if !known_clean_here(passed) {
                            examine(named, passed);
                        }
                    };
                    let excluding = rule.targets.iter().any(|t| t.exclude)
                        || self.removed_targets(rule).next().is_some();
                    if excluding || rule.targets.is_empty() {
                        for named in &self.values(rule) {
                            one(named);
                        }
                    } else {
                        // Nothing to take away: each value goes straight to the operator.
                        let regex = |p: &str| self.rules.selector(p);
                        for target in &rule.targets {
                            self.vars.each(target, &regex, &mut |named| one(&named));
                        }
                    }
                }
            }
        }
        if matches.is_empty() {
            self.matches = matches;
            return false;
        }
        // As Coraza and ModSecurity: a rule's non-disruptive actions (setvar, ctl) run for each
        // match, before its chain is tried, with that match as MATCHED_VAR.
        self.spare.get_mut().append(&mut self.vars.matched_vars);
        for (name, value, captured) in matches.drain(..) {
            if let Some(groups) = captured {
                let mut groups = groups.into_iter();
                for (n, name) in CAPTURE_NAMES.into_iter().enumerate() {
                    let bit = 1u16 << n;
                    match groups.next() {
                        Some(g) => {
                            match self.vars.tx.get_mut(name) {
                                Some(held) => *held = g,
                                None => {
                                    self.vars.tx.insert(name.into(), g);
                                }
                            }
                            self.capture_slots |= bit;
                        }
                        None if self.capture_slots & bit != 0 => {
                            self.vars.tx.remove(name);
                            self.capture_slots &= !bit;
                        }
                        None => {}
                    }
                }
            }
            // MATCHED_VAR keeps its buffers from match to match.
            let (var_name, var_value) = self.vars.matched_var.get_or_insert_default();
            var_name.clone_from(&name);
            var_value.clone_from(&value);
            self.vars.matched_vars.push((name, value));
            for ctl in &rule.ctls {
                self.ctl(ctl);
            }
            for set in &rule.setvars {
                self.setvar(set);
            }
        }
        self.matches = matches;
        match &rule.chain {
            Some(link) => self.evaluate(link),
            None => true,
        }
    }

    /// Runs `named` through the rule's transformations and `operator`, recording each match
    /// (with multiMatch, the value before and after every transformation is tested).
    fn examine(
        &self,
        rule: &Rule,
        operator: &Operator,
        named: &Named<'_>,
        captures: &mut Captures,
        matches: &mut Vec<Match>,
    ) {
        let mut test = |value: Cow<'_, [u8]>| {
            let hit = operator.matches(&value, rule.capture.then_some(&mut *captures));
            if hit != rule.negated {
                let captured = (rule.capture && hit).then(|| captures.clone());
                let (mut name, mut bytes) = self.spare.borrow_mut().pop().unwrap_or_default();
                named.write_name(&mut name);
                bytes.clear();
                bytes.extend_from_slice(&value);
                matches.push((name, bytes, captured));
            }
        };
        let mut current: Cow<'_, [u8]> = Cow::Borrowed(named.value.as_ref());
        if rule.multi_match {
            test(current.clone());
        }
        for t in &rule.transformations {
            current = match current {
                Cow::Borrowed(b) => t.apply(b),
                // An unchanged value keeps its buffer instead of being copied.
                Cow::Owned(o) => match t.apply(&o) {
                    Cow::Borrowed(_) => Cow::Owned(o),
                    Cow::Owned(changed) => Cow::Owned(changed),
                },
            };
            if rule.multi_match {
                test(current.clone());
            }
        }
        if !rule.multi_match {
            test(current);
        }
    }

    /// Where the values of shared target list `list` are this phase (found now if not yet),
    /// less the rule's own exclusions (the same for every rule with the list: they are part
    /// of it).
    fn list_values(&self, rule: &Rule, list: u32) -> std::ops::Range<usize> {
        let index = list as usize;
        let mut lists = self.lists.borrow_mut();
        if let Some(Some(found)) = lists.found.get(index) {
            return found.clone();
        }
        let rules = self.rules;
        let regex = |p: &str| rules.selector(p);
        let SharedLists {
            found,
            values,
            places,
            ..
        } = &mut *lists;
        places.clear();
        for target in rule.targets.iter().filter(|t| !t.exclude) {
            self.vars.places(target, &regex, places);
        }
        let start = values.len();
        let excluding = rule.targets.iter().any(|t| t.exclude);
        for &place in places.iter() {
            let named = self.vars.at(place);
            let excluded = excluding
                && rule
                    .targets
                    .iter()
                    .any(|t| t.exclude && excludes(t, &named, &regex));
            if !excluded {
                values.push((place, self.passed_of(&named).unwrap_or(NOT_REMEMBERED)));
            }
        }
        if found.len() <= index {
            found.resize_with(index + 1, || None);
        }
        let range = start..values.len();
        if let Some(slot) = found.get_mut(index) {
            *slot = Some(range.clone());
        }
        range
    }

    /// Whether every value of shared target list `list` (at `range`) is known not to match
    /// `rule` (always false for an operator whose answer may change: one with macros).
    fn list_known_clean(&self, rule: &Rule, list: u32, range: std::ops::Range<usize>) -> bool {
        if !rule.operator.is_pure() {
            return false;
        }
        let (word, bit) = (rule.slot as usize / 64, 1u64 << (rule.slot % 64));
        let index = list as usize;
        let mut lists = self.lists.borrow_mut();
        let SharedLists {
            values, clean_word, ..
        } = &mut *lists;
        if clean_word.len() <= index {
            clean_word.resize(index + 1, NO_WORD);
        }
        let Some(cached) = clean_word.get_mut(index) else {
            return false;
        };
        if cached.0 != word {
            // Found once per list and word; a rule marked clean later in the phase is only
            // missed here, and then passed over value by value as before.
            let memo = self.passed.borrow();
            let mut all = u64::MAX;
            for &(_, passed) in values.get(range).unwrap_or(&[]) {
                let bits = memo.bits.get(passed as usize).and_then(|b| b.get(word));
                all &= bits.map_or(0, |w| w.load(std::sync::atomic::Ordering::Relaxed));
                if all == 0 {
                    break;
                }
            }
            *cached = (word, all);
        }
        cached.1 & bit != 0
    }

    /// The targets `ctl`s removed from this rule for this transaction.
    fn removed_targets<'s>(&'s self, rule: &'s Rule) -> impl Iterator<Item = &'s Target> + Clone {
        let by_id = self
            .removals
            .targets_by_id
            .iter()
            .filter(|(ids, _)| ids.iter().any(|r| r.contains(rule.id)))
            .map(|(_, t)| t);
        let by_tag = self
            .removals
            .targets_by_tag
            .iter()
            .filter(|(tag, _)| self.rules.has_tag(rule.slot, *tag))
            .map(|(_, t)| t);
        by_id.chain(by_tag)
    }

    /// The remembered non-matches of a request value (one that stays where it is for the
    /// phase); none for computed and transaction values.
    fn passed_of(&self, named: &Named<'_>) -> Option<u32> {
        let Cow::Borrowed(bytes) = named.value else {
            return None;
        };
        let c = named.collection.as_ref();
        let request_data = c.starts_with("ARGS")
            || c.starts_with("REQUEST_")
            || c.starts_with("FILES")
            || c == "XML"
            || c == "QUERY_STRING";
        if !request_data {
            return None;
        }
        let (address, len) = (bytes.as_ptr() as usize, bytes.len());
        let mut memo = self.passed.borrow_mut();
        if let Some(index) = memo.find(address, len) {
            return Some(index);
        }
        if memo.bits.len() >= MEMO_MAX {
            return None;
        }
        let bits = self.rules.clean.passed(bytes)?;
        memo.remember(address, len, bits)
    }

    /// Runs `f` over the remembered bits at `index` of this phase's memo.
    fn with_bits<T>(&self, index: u32, f: impl FnOnce(&[std::sync::atomic::AtomicU64]) -> T) -> T {
        let memo = self.passed.borrow();
        f(memo.bits.get(index as usize).map_or(&[], |b| &b[..]))
    }

    /// The values a rule's targets name, less excluded ones (by the rule, or by `ctl`).
    fn values(&self, rule: &Rule) -> Vec<Named<'_>> {
        let rules = self.rules;
        let regex = |p: &str| rules.selector(p);
        let mut out = Vec::new();
        if rule.targets.is_empty() {
            // SecAction: one empty value for @unconditionalMatch.
            out.push(Named {
                collection: Cow::Borrowed(""),
                key: None,
                value: Cow::Borrowed(&[][..]),
            });
            return out;
        }
        for target in rule.targets.iter().filter(|t| !t.exclude) {
            self.vars.collect(target, &regex, &mut out);
        }
        let excluded: Vec<&Target> = rule
            .targets
            .iter()
            .filter(|t| t.exclude)
            .chain(self.removed_targets(rule))
            .collect();
        if !excluded.is_empty() {
            out.retain(|named| !excluded.iter().any(|t| excludes(t, named, &regex)));
        }
        out
    }

    /// A macro's value: `TX.x`, `MATCHED_VAR`, `REQUEST_HEADERS.host` …
    fn resolve(&self, collection: &str, key: Option<&str>) -> Option<Vec<u8>> {
        // The common ones directly; TX names (like the macros' keys) are lower case.
        match (collection, key) {
            ("TX", Some(k)) => return self.vars.tx.get(k).cloned(),
            ("MATCHED_VAR", None) => return self.vars.matched_var.as_ref().map(|(_, v)| v.clone()),
            ("MATCHED_VAR_NAME", None) => {
                return self
                    .vars
                    .matched_var
                    .as_ref()
                    .map(|(n, _)| n.as_bytes().to_vec())
            }
            _ => {}
        }
        if collection == "RULE" {
            return match key {
                Some("id") => Some(self.current_rule.to_string().into_bytes()),
                _ => None,
            };
        }
        let rules = self.rules;
        // A variable the engine does not know has no value.
        let target = Target {
            collection: crate::seclang::targets::known(collection)?,
            selector: key.map(|k| Selector::Key(k.to_owned())),
            count: false,
            exclude: false,
        };
        let mut out = Vec::new();
        self.vars.collect(&target, &|p| rules.selector(p), &mut out);
        out.into_iter().next().map(|n| n.value.into_owned())
    }

    /// A matched rule's actions after its whole chain matched: the log, the disruption.
    fn act(&mut self, rule: &Rule, phase: u8) {
        if rule.log {
            let expand = |m: &Option<crate::macros::MacroText>| {
                m.as_ref().map_or_else(String::new, |m| {
                    String::from_utf8_lossy(&m.expand(&|c, k| self.resolve(c, k))).into_owned()
                })
            };
            self.fired.push(Fired {
                id: rule.id,
                phase,
                msg: expand(&rule.msg),
                logdata: expand(&rule.logdata),
                severity: rule.severity,
                tags: rule.tags.clone(),
                matched: self.vars.matched_var.clone(),
            });
        }
        let action = rule.disruptive_or(self.rules.default_disruptive(phase));
        match action {
            Disruptive::Pass | Disruptive::Block => {}
            Disruptive::Allow { phase_only } => {
                if !phase_only {
                    self.allowed = true;
                }
            }
            Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect(_) => {
                let stop = Interruption {
                    rule: rule.id,
                    status: rule.status.unwrap_or(403),
                    action,
                };
                match self.engine {
                    EngineMode::On => self.interruption = Some(stop),
                    EngineMode::DetectionOnly if self.would_interrupt.is_none() => {
                        self.would_interrupt = Some(stop);
                    }
                    _ => {}
                }
            }
        }
    }

    fn setvar(&mut self, set: &crate::rule::SetVar) {
        use std::io::Write as _;
        if set.collection != "TX" {
            return;
        }
        // Most names and operands are plain text: they are used as they are, not expanded.
        let name: Cow<'_, str> = match set.name.literal() {
            Some(text) if !text.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Borrowed(text),
            _ => Cow::Owned(
                String::from_utf8_lossy(&set.name.expand(&|c, k| self.resolve(c, k)))
                    .to_ascii_lowercase(),
            ),
        };
        if let Some(bit) = capture_bit(&name) {
            match set.op {
                SetOp::Delete => self.capture_slots &= !bit,
                _ => self.capture_slots |= bit,
            }
        }
        // The table's key for a new variable: the rule's own shared name when it is plain.
        let key =
            |name: &str| -> std::sync::Arc<str> { set.key.clone().unwrap_or_else(|| name.into()) };
        let text =
            |m: &crate::macros::MacroText| -> Vec<u8> { m.expand(&|c, k| self.resolve(c, k)) };
        let (operand, sign) = match &set.op {
            SetOp::Delete => {
                self.vars.tx.remove(name.as_ref());
                return;
            }
            SetOp::Set(m) => {
                let value: Cow<'_, [u8]> = match m.literal() {
                    Some(plain) => Cow::Borrowed(plain.as_bytes()),
                    None => Cow::Owned(text(m)),
                };
                match self.vars.tx.get_mut(name.as_ref()) {
                    Some(held) => {
                        held.clear();
                        held.extend_from_slice(&value);
                    }
                    None => {
                        self.vars.tx.insert(key(&name), value.into_owned());
                    }
                }
                return;
            }
            SetOp::Add(m) => (m, 1),
            SetOp::Subtract(m) => (m, -1),
        };
        let delta = match operand.literal() {
            Some(plain) => crate::operators::atoi(plain.as_bytes()),
            None => crate::operators::atoi(&text(operand)),
        };
        let held = match self.vars.tx.get_mut(name.as_ref()) {
            Some(held) => held,
            None => self.vars.tx.entry(key(&name)).or_default(),
        };
        let next = crate::operators::atoi(held).saturating_add(delta.saturating_mul(sign));
        held.clear();
        let _ = write!(held, "{next}");
    }

    fn ctl(&mut self, ctl: &Ctl) {
        // Only what decides whether REQUEST_BODY is a variable changes what a shared list
        // gives; removals are applied rule by rule, after the list (the CRS's 901181 removes
        // XML targets on every request, and must not make every list be found again).
        if matches!(
            ctl,
            Ctl::RequestBodyProcessor(_) | Ctl::ForceRequestBodyVariable(_)
        ) {
            self.lists.get_mut().clear();
        }
        match ctl {
            Ctl::RuleEngine(mode) => self.engine = *mode,
            Ctl::RemoveById(ids) => self.removals.ids.extend(ids.iter().copied()),
            Ctl::RemoveByTag(tag) => self.removals.tags.extend(self.rules.tag_id(tag)),
            Ctl::RemoveTargetById(ids, t) => {
                self.removals.targets_by_id.push((ids.clone(), t.clone()))
            }
            Ctl::RemoveTargetByTag(tag, t) => {
                if let Some(id) = self.rules.tag_id(tag) {
                    self.removals.targets_by_tag.push((id, t.clone()));
                }
            }
            Ctl::RequestBodyProcessor(p) => self.vars.body_processor = Some(p.clone()),
            Ctl::ForceRequestBodyVariable(on) => self.vars.force_body_variable = *on,
            Ctl::RequestBodyAccess(_) | Ctl::Other(_) => {}
        }
    }
}

/// Whether exclusion `t` removes the value named `name` (`ARGS:q`).
fn excludes<'a>(
    t: &Target,
    named: &Named<'_>,
    regex: &dyn Fn(&str) -> Option<&'a crate::selector::NamePattern>,
) -> bool {
    if !named.collection.eq_ignore_ascii_case(t.collection) {
        return false;
    }
    let member = named.key.unwrap_or(&[]);
    match &t.selector {
        None => true,
        Some(Selector::Key(k)) => member.eq_ignore_ascii_case(k.as_bytes()),
        Some(Selector::Regex(p)) => regex(p).is_some_and(|re| re.is_match(member)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::ruleset::Loader;

    fn rules(text: &str) -> Ruleset {
        let mut l = Loader::new();
        l.text(text, "t.conf", std::path::Path::new(".")).unwrap();
        l.finish().unwrap()
    }

    fn request(uri: &str) -> Request {
        Request {
            method: "GET".into(),
            uri: uri.into(),
            protocol: "HTTP/1.1".into(),
            headers: vec![("Host".into(), b"localhost".to_vec())],
            body: Vec::new(),
            client: "127.0.0.1".parse().unwrap(),
            client_port: 40000,
            server_port: 80,
        }
    }

    fn run<'a>(r: &'a Ruleset, uri: &str) -> Transaction<'a> {
        let mut tx = Transaction::new(r, &request(uri), "id".into());
        tx.run_phase(1);
        tx.run_phase(2);
        tx
    }

    const SCORING: &str = r#"
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900,phase:1,nolog,pass,setvar:tx.threshold=5,setvar:tx.score=0"
SecRule ARGS "@rx (?i)union\s+select" "id:100,phase:2,block,capture,t:none,t:urlDecodeUni,msg:'SQLi: %{TX.0} in %{MATCHED_VAR_NAME}',logdata:'%{MATCHED_VAR}',setvar:'tx.score=+5'"
SecRule ARGS_NAMES "@rx ^debug$" "id:101,phase:2,block,setvar:'tx.score=+3',skipAfter:END-101"
SecRule ARGS "@rx ." "id:102,phase:2,block,setvar:'tx.score=+100'"
SecMarker END-101
SecRule TX:score "@ge %{tx.threshold}" "id:949,phase:2,deny,status:403,msg:'Anomaly score %{TX.score}'"
"#;

    #[test]
    fn remembered_non_matches_never_change_an_answer() {
        // One rule set sees the same values again and again, in other mixes; a fresh rule set
        // sees each request for the first time. They must agree every time.
        let shared = rules(SCORING);
        let uris = [
            "/?q=1%20UNION%20%20SELECT%20x&debug=1",
            "/?q=hello&debug=0",
            "/?q=1%20UNION%20%20SELECT%20x",
            "/?a=hello&q=hello",
            "/?debug=1&q=hello",
            "/",
        ];
        for round in 0..3 {
            for uri in uris {
                let fresh = rules(SCORING);
                let want = run(&fresh, uri);
                let got = run(&shared, uri);
                assert_eq!(got.fired_ids(), want.fired_ids(), "{uri} (round {round})");
                assert_eq!(got.vars.tx, want.vars.tx, "{uri} (round {round})");
            }
        }
    }

    #[test]
    fn a_list_known_clean_for_one_rule_is_still_examined_by_the_next() {
        // Rules 1 and 2 share a list. Once `cb` is known not to match rule 1, rule 1 is passed
        // over for it without a look, but rule 2 (next in the same word of rules) must look,
        // and a value not yet known clean brings rule 1 back.
        let r = rules(
            r#"
SecRule ARGS "@rx ^a" "id:1,phase:1,pass,log"
SecRule ARGS "@rx b$" "id:2,phase:1,pass,log"
SecRule ARGS "!@rx ^c" "id:3,phase:1,pass,log"
"#,
        );
        let cases: [(&str, &[u32]); 6] = [
            ("/?x=ab", &[1, 2, 3]),
            ("/?x=cb", &[2]),
            ("/?x=cb", &[2]),
            ("/?x=cb&y=cb", &[2]),
            ("/?x=cb&y=ab", &[1, 2, 3]),
            ("/?x=cd", &[]),
        ];
        for round in 0..2 {
            for (uri, want) in cases {
                assert_eq!(run(&r, uri).fired_ids(), want, "{uri} (round {round})");
            }
        }
    }

    #[test]
    fn a_target_removed_after_its_list_was_found_is_still_removed() {
        // Rule 10 finds the ARGS list; the ctls of 11 then take ARGS:a from 12 (by id) and
        // from 14 (by tag) without the list being found again.
        let r = rules(
            r#"
SecRule ARGS "@rx zzz" "id:10,phase:1,pass,log"
SecRule REQUEST_METHOD "@streq GET" "id:11,phase:1,pass,nolog,ctl:ruleRemoveTargetById=12;ARGS:a,ctl:ruleRemoveTargetByTag=quiet;ARGS:a"
SecRule ARGS "@rx evil" "id:12,phase:1,pass,log"
SecRule ARGS "@rx evil" "id:13,phase:1,pass,log"
SecRule ARGS "@rx evil" "id:14,phase:1,pass,log,tag:'quiet'"
"#,
        );
        for _ in 0..2 {
            assert_eq!(run(&r, "/?a=evil").fired_ids(), vec![13]);
            assert_eq!(run(&r, "/?a=evil&b=evil").fired_ids(), vec![12, 13, 14]);
        }
    }

    #[test]
    fn rules_sharing_a_target_list_keep_their_own_exclusions() {
        // Rules 2-4 read the same list, found once a phase; what one rule's ctl takes away
        // and what a ctl adds (REQUEST_BODY, forced) must still show in the right rules only.
        let r = rules(
            r#"
SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=3;ARGS:a"
SecRule ARGS|REQUEST_BODY|!ARGS:skip "@rx evil" "id:2,phase:1,pass,log"
SecRule ARGS|REQUEST_BODY|!ARGS:skip "@rx evil" "id:3,phase:1,pass,log"
SecRule ARGS|REQUEST_BODY|!ARGS:skip "@rx body" "id:4,phase:1,pass,log"
SecAction "id:5,phase:1,pass,nolog,ctl:forceRequestBodyVariable=On"
SecRule ARGS|REQUEST_BODY|!ARGS:skip "@rx body" "id:6,phase:1,pass,log"
"#,
        );
        let mut req = request("/?a=evil&skip=evil");
        req.body = b"the body".to_vec();
        let mut tx = Transaction::new(&r, &req, "id".into());
        tx.run_phase(1);
        assert_eq!(
            tx.fired_ids(),
            vec![2, 6],
            "3 lost ARGS:a; 4 ran before the body was a variable"
        );
        let mut req = request("/?b=evil");
        req.body = b"the body".to_vec();
        let mut tx = Transaction::new(&r, &req, "id".into());
        tx.run_phase(1);
        assert_eq!(tx.fired_ids(), vec![2, 3, 6]);
    }

    #[test]
    fn anomaly_scoring_captures_skips_and_blocks() {
        let r = rules(SCORING);
        let tx = run(&r, "/?q=1%20UNION%20%20SELECT%20x&debug=1");
        assert_eq!(
            tx.fired_ids(),
            vec![100, 101, 949],
            "102 skipped by skipAfter"
        );
        assert_eq!(tx.fired[0].msg, "SQLi: UNION  SELECT in ARGS:q");
        assert_eq!(tx.fired[0].logdata, "1 UNION  SELECT x");
        assert_eq!(tx.vars.tx["score"], b"8");
        assert_eq!(tx.fired[2].msg, "Anomaly score 8");
        assert_eq!(
            tx.interruption,
            Some(Interruption {
                rule: 949,
                status: 403,
                action: Disruptive::Deny
            })
        );
        let clean = run(&r, "/?q=hello");
        assert_eq!(
            clean.fired_ids(),
            vec![102, 949],
            "102 alone passes the threshold"
        );
        let none = run(&r, "/");
        assert!(none.fired.is_empty() && none.interruption.is_none());
    }

    #[test]
    fn chains_exclusions_ctl_and_detection_only() {
        let r = rules(
            r#"
SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=3;ARGS:safe"
SecRule ARGS:mode "@streq test" "id:2,phase:1,pass,nolog,ctl:ruleEngine=DetectionOnly"
SecRule ARGS|!ARGS:token "@rx <script" "id:3,phase:2,deny,t:lowercase,chain"
    SecRule REQUEST_HEADERS:Host "@streq localhost" "t:none"
SecRule &ARGS "@gt 3" "id:4,phase:2,deny,status:400"
"#,
        );
        assert_eq!(
            run(&r, "/?a=%3CSCRIPT%3E")
                .interruption
                .as_ref()
                .map(|i| i.rule),
            Some(3)
        );
        assert!(
            run(&r, "/?token=<script>").fired.is_empty(),
            "excluded by the rule"
        );
        assert!(
            run(&r, "/?safe=<script>").fired.is_empty(),
            "excluded by ctl"
        );
        let detect = run(&r, "/?mode=test&a=<script>");
        assert_eq!(detect.fired_ids(), vec![3], "logged");
        assert_eq!(detect.interruption, None, "but not stopped");
        let many = run(&r, "/?a=1&b=2&c=3&d=4");
        assert_eq!(many.interruption.as_ref().map(|i| i.status), Some(400));
    }

    #[test]
    fn bodies_become_arguments_and_broken_ones_an_error() {
        let r = rules(
            r#"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:200001,phase:1,pass,nolog,t:none,t:lowercase,ctl:requestBodyProcessor=JSON"
SecRule ARGS_POST:json.visitor.name "@rx <script" "id:1,phase:2,deny"
SecRule ARGS_POST:comment "@rx <script" "id:2,phase:2,deny"
SecRule REQBODY_ERROR "!@eq 0" "id:3,phase:2,deny,status:400,msg:'%{REQBODY_ERROR_MSG}'"
"#,
        );
        let post = |ct: &str, body: &str| {
            let mut req = request("/post");
            req.method = "POST".into();
            req.headers
                .push(("Content-Type".into(), ct.as_bytes().to_vec()));
            req.body = body.as_bytes().to_vec();
            let mut tx = Transaction::new(&r, &req, "id".into());
            tx.run_request();
            (
                tx.interruption.as_ref().map(|i| (i.rule, i.status)),
                std::mem::take(&mut tx.fired),
            )
        };
        assert_eq!(
            post("application/json", r#"{"visitor":{"name":"<script>"}}"#).0,
            Some((1, 403))
        );
        assert_eq!(
            post("application/x-www-form-urlencoded", "comment=%3Cscript%3E").0,
            Some((2, 403))
        );
        let (stopped, fired) = post("application/json", "{\"visitor\":");
        assert_eq!(stopped, Some((3, 400)));
        assert!(
            fired[0].msg.starts_with("JSON parsing error"),
            "{}",
            fired[0].msg
        );
        assert_eq!(
            post("text/plain", "comment=<script>").0,
            None,
            "no processor, no arguments"
        );
    }

    #[test]
    fn multipart_uploads_are_files_and_their_flags_are_variables() {
        let r = rules(
            r#"
SecRule FILES "@rx \.php$" "id:1,phase:2,deny,msg:'upload %{MATCHED_VAR}'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:2,phase:2,pass,log"
SecRule &MULTIPART_PART_HEADERS:upload "@eq 2" "id:3,phase:2,pass,log"
SecRule FILES_COMBINED_SIZE "@eq 8" "id:4,phase:2,pass,log"
"#,
        );
        let mut req = request("/upload");
        req.method = "POST".into();
        req.headers.push((
            "Content-Type".into(),
            b"multipart/form-data; boundary=XyZ".to_vec(),
        ));
        req.body = b"--XyZ\nContent-Disposition: form-data; name=\"upload\"; filename=\"shell.php\"\nContent-Type: text/plain\n\n<?php ?>\n--XyZ--\n".to_vec();
        let mut tx = Transaction::new(&r, &req, "id".into());
        tx.run_request();
        assert_eq!(tx.fired_ids(), vec![1], "phase 2 stops at the deny");
        assert_eq!(tx.fired[0].msg, "upload shell.php");
        let mut detect = r.clone();
        detect.settings.engine = EngineMode::DetectionOnly;
        let mut tx = Transaction::new(&detect, &req, "id".into());
        tx.run_request();
        assert_eq!(
            tx.fired_ids(),
            vec![1, 2, 3, 4],
            "LF lines are a strict error"
        );
    }

    #[test]
    fn responses_are_examined_in_phases_three_and_four() {
        let r = rules(
            r#"
SecResponseBodyAccess On
SecResponseBodyMimeType text/plain text/html
SecRule RESPONSE_STATUS "@rx ^5" "id:1,phase:3,pass,log"
SecRule RESPONSE_BODY "@rx ORA-\d{5}" "id:2,phase:4,deny,msg:'%{MATCHED_VAR_NAME}'"
"#,
        );
        let response = |content_type: &str| Response {
            status: 500,
            protocol: "HTTP/1.1".into(),
            headers: vec![("Content-Type".into(), content_type.as_bytes().to_vec())],
            body: b"error ORA-00933: SQL command not properly ended".to_vec(),
        };
        let mut tx = Transaction::new(&r, &request("/"), "id".into());
        tx.run_request();
        tx.run_response(&response("text/html; charset=utf-8"));
        assert_eq!(tx.fired_ids(), vec![1, 2]);
        assert_eq!(tx.fired[1].msg, "RESPONSE_BODY");
        assert_eq!(tx.interruption.as_ref().map(|i| i.rule), Some(2));
        let mut images = Transaction::new(&r, &request("/"), "id".into());
        images.run_request();
        images.run_response(&response("image/png"));
        assert_eq!(
            images.fired_ids(),
            vec![1],
            "bodies of other types are not read"
        );
    }

    #[test]
    fn setvar_runs_per_match_before_the_chain_with_that_match() {
        // As the CRS's RFI rule: the parent records each match, and its chain reads what it set.
        let r = rules(
            r#"
SecRule ARGS "@rx ^https?://([^/]+)" "id:1,phase:2,pass,log,capture,setvar:'tx.host_%{MATCHED_VAR_NAME}=%{TX.1}',setvar:'tx.hits=+1',chain"
    SecRule TX:/^host_/ "!@endsWith .museum.example" "t:none"
"#,
        );
        let tx = run(
            &r,
            "/?a=https://evil.example/x&b=http://www.museum.example/",
        );
        assert_eq!(tx.vars.tx["hits"], b"2", "once per matching argument");
        assert_eq!(tx.vars.tx["host_args:a"], b"evil.example");
        assert_eq!(tx.vars.tx["host_args:b"], b"www.museum.example");
        assert_eq!(tx.fired_ids(), vec![1], "the chain found the foreign host");
        let local = run(&r, "/?b=http://www.museum.example/");
        assert!(local.fired.is_empty(), "every host is ours");
        assert_eq!(
            local.vars.tx["hits"], b"1",
            "the parent's setvar ran though the chain failed"
        );
    }
}
