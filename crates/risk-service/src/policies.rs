//! Policy versions: staff load a new version (checked against this build's features and kept,
//! its number above every version before it), choose which runs live and which in shadow (the
//! store refuses a live version going back, whichever node asks), and every node picks the
//! choice up within its refresh interval — the hot reload. A replay judges any version again
//! over recorded decisions' features and says which answers it would have changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_domain::order::AccountId;
use gatehouse_domain::risk::{DecisionFilter, RiskPolicyRoles, RiskStore, StoredRiskPolicy};
use gatehouse_domain::store::StoreError;
use gatehouse_risk::engine::{judge, Engine, DEFAULT_POLICY};
use gatehouse_risk::features::values_from_named;
use gatehouse_risk::policy::{Level, Policy, Scenario};

use crate::{write, RiskError, RiskService};

/// The shipped policy's version: stored versions start above it.
const DEFAULT_VERSION: u32 = 1;
/// Decisions one replay reads at most.
pub const REPLAY_LIMIT: u32 = 50_000;
/// Changed answers a replay lists (all are counted).
const CHANGES_LISTED: usize = 100;

pub(crate) async fn compile_stored(
    store: &dyn RiskStore,
    version: u32,
) -> Result<Policy, RiskError> {
    if version == DEFAULT_VERSION {
        return Ok(Engine::default_policy()?);
    }
    let stored = store
        .risk_policy(version)
        .await?
        .ok_or(RiskError::NotFound("risk policy version"))?;
    Ok(Engine::policy(&stored.text)?)
}

/// The versions staff can choose from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyListing {
    /// Stored versions, newest first, then the shipped one (version 1, no loader).
    pub versions: Vec<StoredRiskPolicy>,
    pub live: u32,
    pub shadow: Option<u32>,
}

/// One answer a replayed version would have changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayChange {
    pub decision: i64,
    pub scenario: Scenario,
    pub account: Option<AccountId>,
    pub recorded: Level,
    pub replayed: Level,
    pub replayed_score: u8,
    pub rules: Vec<String>,
}

/// What a version would have decided over recorded decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    pub version: u32,
    pub decisions: usize,
    /// Recorded and replayed answers, per level.
    pub recorded: BTreeMap<Level, usize>,
    pub replayed: BTreeMap<Level, usize>,
    pub changed: usize,
    /// The first changes, newest first.
    pub changes: Vec<ReplayChange>,
}

impl RiskService {
    /// Checks and keeps a new policy version; its number must be above every kept one.
    pub async fn load_policy(
        &self,
        text: &str,
        by: AccountId,
    ) -> Result<StoredRiskPolicy, RiskError> {
        let policy = Engine::policy(text)?;
        let newest = self
            .store
            .risk_policies()
            .await?
            .first()
            .map_or(DEFAULT_VERSION, |p| p.version);
        if policy.version <= newest.max(DEFAULT_VERSION) {
            return Err(RiskError::Invalid {
                field: "policy.version".into(),
                message: format!("must be above the newest kept version, {newest}"),
            });
        }
        let stored = StoredRiskPolicy {
            version: policy.version,
            text: text.to_owned(),
            loaded_by: by,
            loaded_at: self.clock.now(),
        };
        self.store
            .save_risk_policy(&stored)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    RiskError::Conflict(format!("version {} is already kept", policy.version))
                }
                other => other.into(),
            })?;
        tracing::info!(version = stored.version, by = by.0, "risk policy loaded");
        Ok(stored)
    }

    /// Runs `live` (never below the running one) and `shadow` beside it, here at once and on
    /// every node at its next refresh.
    pub async fn choose_policies(
        &self,
        live: u32,
        shadow: Option<u32>,
        by: AccountId,
    ) -> Result<(), RiskError> {
        let live_policy = compile_stored(self.store.as_ref(), live).await?;
        let shadow_policy = match shadow {
            Some(v) => Some(compile_stored(self.store.as_ref(), v).await?),
            None => None,
        };
        let roles = RiskPolicyRoles {
            live: Some(live),
            shadow,
        };
        self.store
            .set_risk_policy_roles(roles, by, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => RiskError::Conflict(m),
                other => other.into(),
            })?;
        self.apply(live_policy, shadow_policy);
        tracing::info!(live, shadow, by = by.0, "risk policies chosen");
        Ok(())
    }

    fn apply(&self, live: Policy, shadow: Option<Policy>) {
        let mut engine = write(&self.engine);
        if live.version > engine.live_version() {
            // Only grows: `go_live` refuses anything else, and the store already did.
            if let Err(e) = engine.go_live(live) {
                tracing::warn!(error = %e, "risk policy not made live");
            }
        }
        engine.set_shadow(shadow);
    }

    /// Picks up the versions the store says run (another node may have chosen them).
    pub async fn refresh(&self) -> Result<(), RiskError> {
        let roles = self.store.risk_policy_roles().await?;
        let (live, shadow) = self.running();
        let wanted_live = roles.live.unwrap_or(DEFAULT_VERSION);
        if wanted_live <= live && roles.shadow == shadow {
            return Ok(());
        }
        let live_policy = compile_stored(self.store.as_ref(), wanted_live.max(live)).await?;
        let shadow_policy = match roles.shadow {
            Some(v) => Some(compile_stored(self.store.as_ref(), v).await?),
            None => None,
        };
        self.apply(live_policy, shadow_policy);
        tracing::info!(
            live = wanted_live,
            shadow = roles.shadow,
            "risk policies reloaded"
        );
        Ok(())
    }

    /// Every `every`: the policies the store says run, the measures in force, and the meter
    /// folded into usage.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(service) = service.upgrade() else {
                    return;
                };
                if let Err(e) = service.refresh().await {
                    tracing::warn!(error = %e, "risk policies could not be refreshed");
                }
                if let Err(e) = service.reload_measures().await {
                    tracing::warn!(error = %e, "risk measures could not be reloaded");
                }
                if let Err(e) = service.fold_usage().await {
                    tracing::warn!(error = %e, "risk usage could not be saved");
                }
            }
        });
    }

    pub async fn policies(&self) -> Result<PolicyListing, RiskError> {
        let mut versions = self.store.risk_policies().await?;
        versions.push(StoredRiskPolicy {
            version: DEFAULT_VERSION,
            text: DEFAULT_POLICY.to_owned(),
            loaded_by: AccountId(0),
            loaded_at: jiff::Timestamp::UNIX_EPOCH,
        });
        let (live, shadow) = self.running();
        Ok(PolicyListing {
            versions,
            live,
            shadow,
        })
    }

    /// Judges `version` again over the recorded decisions `filter` selects (at most
    /// [`REPLAY_LIMIT`]), on the features each was made on.
    pub async fn replay(
        &self,
        version: u32,
        filter: &DecisionFilter,
    ) -> Result<ReplayReport, RiskError> {
        let policy = compile_stored(self.store.as_ref(), version).await?;
        let filter = DecisionFilter {
            limit: filter.limit.clamp(1, REPLAY_LIMIT),
            ..filter.clone()
        };
        let decisions = self.store.risk_decisions(&filter).await?;
        let mut report = ReplayReport {
            version,
            decisions: 0,
            recorded: BTreeMap::new(),
            replayed: BTreeMap::new(),
            changed: 0,
            changes: Vec::new(),
        };
        for d in decisions {
            let (Some(scenario), Some(recorded)) = (
                Scenario::parse(&d.decision.scenario),
                Level::parse(&d.decision.level),
            ) else {
                continue;
            };
            let named: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&d.decision.features).unwrap_or_default();
            let values = values_from_named(
                named
                    .iter()
                    .filter_map(|(k, v)| v.as_f64().map(|v| (k.as_str(), v))),
            );
            let again = judge(&policy, scenario, &values);
            report.decisions += 1;
            *report.recorded.entry(recorded).or_default() += 1;
            *report.replayed.entry(again.level).or_default() += 1;
            if again.level != recorded {
                report.changed += 1;
                if report.changes.len() < CHANGES_LISTED {
                    report.changes.push(ReplayChange {
                        decision: d.id,
                        scenario,
                        account: d.decision.account,
                        recorded,
                        replayed: again.level,
                        replayed_score: again.score,
                        rules: again.reasons.into_iter().map(|r| r.rule).collect(),
                    });
                }
            }
        }
        Ok(report)
    }
}
