//! The risk engine as a service (issue 12): what the assessment endpoint and the booking,
//! queue, payment and refund paths call. Personal values (phone, ID numbers, device, payment
//! account) are blinded on arrival with a key of the keyring's, so the engine and the stored
//! decisions never hold them; each assessment is judged under the live policy (and the shadow,
//! whose answer is only recorded), stored with its reasons and features before the answer
//! leaves (`decisions.rs`), and counted in the node's call meter. `policies.rs` loads, runs and
//! replays policy versions; `measures.rs` keeps the measures against accounts (those in force in
//! memory, for the paths to ask); `usage.rs` folds the meter into the database against the quota.
//!
//! The engine's features live in this node's memory: they start empty and see this node's
//! events (see ARCHITECTURE.md for what that means with several nodes).

mod decisions;
mod measures;
mod policies;
mod usage;

pub use policies::{PolicyListing, ReplayChange, ReplayReport, REPLAY_LIMIT};
pub use usage::RiskUsageReport;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use gatehouse_domain::measure::MeasureStore;
use gatehouse_domain::order::AccountId;
use gatehouse_domain::risk::{DecisionFilter, NewRiskDecision, RiskDecision, RiskStore};
use gatehouse_domain::store::StoreError;
use gatehouse_domain::Clock;
use gatehouse_meter::{CallMeter, Counted};
use gatehouse_risk::engine::{Assessment, Engine, Reason};
use gatehouse_risk::features::{Behaviour, Happening, Limits, Subject, NAMES};
use gatehouse_risk::policy::{Level, PolicyError, Scenario};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::decisions::DecisionLog;

/// What the service is asked to keep to.
#[derive(Debug, Clone, Copy)]
pub struct RiskSettings {
    /// Assessments bought (the contract's 100 million); none: unmetered against a quota.
    pub quota: Option<u64>,
    pub limits: Limits,
    /// The paths act on the answers (challenge, refuse); when false they only assess and
    /// record — how a deployment watches a new policy before it bites.
    pub enforce: bool,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            quota: None,
            limits: Limits::default(),
            enforce: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RiskError {
    /// A request or a policy names something wrong: the field and why.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PolicyError> for RiskError {
    fn from(e: PolicyError) -> Self {
        // Fields are named from the request's `policy` text.
        let field = if e.field == "policy" {
            e.field
        } else {
            format!("policy.{}", e.field)
        };
        RiskError::Invalid {
            field,
            message: e.message,
        }
    }
}

/// Who acts, as the caller knows them (normalised: a phone's digits, an ID number as the
/// booking rules write it); blinded by [`RiskService::subject`] before anything keeps it.
#[derive(Debug, Clone, Default)]
pub struct Who<'a> {
    pub account: Option<AccountId>,
    pub phone: Option<&'a str>,
    pub id_numbers: Vec<&'a str>,
    pub device: Option<&'a str>,
    pub ip: Option<IpAddr>,
    pub payment_account: Option<&'a str>,
}

/// One assessment asked for.
#[derive(Debug, Clone)]
pub struct Asked {
    pub scenario: Scenario,
    pub what: Happening,
    pub behaviour: Behaviour,
    pub who: Subject,
    pub account: Option<AccountId>,
    /// Who asks: `api`, or the path that acts on the answer (`booking`, `queue`, …).
    pub source: &'static str,
}

/// The engine with its policies, the decision log, the meter.
pub struct RiskService {
    engine: RwLock<Engine>,
    store: Arc<dyn RiskStore>,
    clock: Arc<dyn Clock>,
    decisions: DecisionLog,
    meter: OnceLock<Arc<CallMeter>>,
    subject_key: Hmac<Sha256>,
    settings: RiskSettings,
    exhausted: std::sync::atomic::AtomicBool,
    measures: Arc<dyn MeasureStore>,
    in_force: RwLock<measures::InForce>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RiskService {
    /// Starts the service with the policies the store says run (the shipped default when none
    /// was ever loaded); spawns the decision log's writer on the running runtime.
    pub async fn start(
        store: Arc<dyn RiskStore>,
        measures: Arc<dyn MeasureStore>,
        clock: Arc<dyn Clock>,
        subject_key: [u8; 32],
        settings: RiskSettings,
    ) -> Result<Arc<Self>, RiskError> {
        let roles = store.risk_policy_roles().await?;
        let live = match roles.live {
            Some(v) => policies::compile_stored(store.as_ref(), v).await?,
            None => Engine::default_policy()?,
        };
        let mut engine = Engine::new(live, settings.limits);
        if let Some(v) = roles.shadow {
            engine.set_shadow(Some(policies::compile_stored(store.as_ref(), v).await?));
        }
        let subject_key = <Hmac<Sha256> as Mac>::new_from_slice(&subject_key)
            .map_err(|_| RiskError::Conflict("the subject key has the wrong length".into()))?;
        let service = Arc::new(Self {
            engine: RwLock::new(engine),
            decisions: DecisionLog::start(store.clone()),
            store,
            clock,
            meter: OnceLock::new(),
            subject_key,
            settings,
            exhausted: std::sync::atomic::AtomicBool::new(false),
            measures,
            in_force: RwLock::new(measures::InForce::new()),
        });
        service.reload_measures().await?;
        Ok(service)
    }

    /// Counts assessments in `meter` from now on (set once; the edge's meter file).
    pub fn attach_meter(&self, meter: Arc<CallMeter>) {
        let _ = self.meter.set(meter);
    }

    /// A personal value's key in the engine: a keyed MAC, so neither the engine's tables nor
    /// the stored decisions can be turned back into the value.
    pub fn blind(&self, kind: &str, normalised: &str) -> u64 {
        let mut mac = self.subject_key.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(first)
    }

    /// `who` as the engine keys them.
    pub fn subject(&self, who: &Who<'_>) -> Subject {
        Subject {
            account: who.account.and_then(|a| u64::try_from(a.0).ok()),
            phone: who.phone.map(|p| self.blind("phone", p)),
            id_numbers: who
                .id_numbers
                .iter()
                .map(|id| self.blind("id_number", id))
                .collect(),
            device: who.device.map(|d| self.blind("device", d)),
            ip: who.ip,
            payment_account: who
                .payment_account
                .map(|p| self.blind("payment_account", p)),
        }
    }

    /// Assesses, stores the decision, counts it; answers only once the decision is durable.
    pub async fn assess(&self, asked: Asked) -> Result<Assessment, RiskError> {
        let now = self.clock.now();
        let judged = read(&self.engine).judged(
            asked.scenario,
            &asked.who,
            asked.what,
            &asked.behaviour,
            gatehouse_risk::millis(now),
        );
        let live = judged.assessed.live;
        let decision = NewRiskDecision {
            at: now,
            scenario: asked.scenario.as_str().into(),
            event: asked.what.name().into(),
            source: asked.source.into(),
            account: asked.account,
            level: live.level.as_str().into(),
            score: live.score,
            policy_version: live.policy_version,
            reasons: reasons_json(&live.reasons).to_string(),
            shadow: judged.assessed.shadow.as_ref().map(|s| {
                json!({
                    "policy_version": s.policy_version,
                    "level": s.level.as_str(),
                    "score": s.score,
                    "rules": s.reasons.iter().map(|r| r.rule.as_str()).collect::<Vec<_>>(),
                })
                .to_string()
            }),
            features: features_json(&judged.values).to_string(),
        };
        self.decisions.record(decision).await?;
        if let Some(meter) = self.meter.get() {
            meter.count(match live.level {
                Level::Pass => Counted::RiskPass,
                Level::Challenge => Counted::RiskChallenge,
                Level::Review => Counted::RiskReview,
                Level::Reject => Counted::RiskReject,
            });
        }
        Ok(live)
    }

    /// `what` happened, done by `who`: the features count it.
    pub fn observe(&self, who: &Subject, what: Happening) {
        let at = gatehouse_risk::millis(self.clock.now());
        write(&self.engine).observe(who, what, at);
    }

    /// `account` looked at a bookable page (a slot, the booking form).
    pub fn viewed(&self, account: AccountId) {
        if let Ok(a) = u64::try_from(account.0) {
            let at = gatehouse_risk::millis(self.clock.now());
            write(&self.engine).viewed(a, at);
        }
    }

    /// What `account`'s page views say of a submit now: milliseconds since its last view, and
    /// whether it skipped the pages.
    pub fn page_behaviour(&self, account: AccountId) -> (Option<u64>, bool) {
        let at = gatehouse_risk::millis(self.clock.now());
        u64::try_from(account.0).map_or((None, true), |a| read(&self.engine).page_behaviour(a, at))
    }

    /// Recorded decisions, newest first.
    pub async fn decisions(&self, filter: &DecisionFilter) -> Result<Vec<RiskDecision>, RiskError> {
        Ok(self.store.risk_decisions(filter).await?)
    }

    /// Whether the paths act on the answers (else they only assess and record).
    pub fn enforces(&self) -> bool {
        self.settings.enforce
    }

    /// The versions running now: live, and the shadow if any.
    pub fn running(&self) -> (u32, Option<u32>) {
        let engine = read(&self.engine);
        (engine.live_version(), engine.shadow_version())
    }
}

/// The reasons as decisions keep and answers show them.
pub fn reasons_json(reasons: &[Reason]) -> Value {
    Value::Array(
        reasons
            .iter()
            .map(|r| {
                json!({
                    "rule": r.rule,
                    "weight": r.weight,
                    "because": r.because.iter().map(|b| json!({
                        "feature": b.feature,
                        "value": if b.value.is_finite() { json!(b.value) } else { Value::Null },
                        "compare": b.compare.as_str(),
                        "threshold": b.threshold,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// The features' values by name, those without a value left out.
fn features_json(values: &[Option<f64>]) -> Value {
    let mut named = Map::new();
    for (name, value) in NAMES.iter().zip(values) {
        if let Some(v) = value {
            named.insert((*name).to_owned(), json!(v));
        }
    }
    Value::Object(named)
}

#[cfg(test)]
mod tests;
