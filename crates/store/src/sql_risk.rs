//! The one SQL implementation of the risk engine's storage port ([`RiskStore`]): decisions
//! (appended in one statement per batch that unpacks a JSON array in the database), policy
//! versions, which of them run, and metered assessments; instantiated for both databases by
//! [`impl_risk_store!`].
//!
//! [`RiskStore`]: gatehouse_domain::risk::RiskStore

macro_rules! impl_risk_store {
    // `$greatest`: the larger-of-two function; `$insert`: the decisions' batch insert from `$1`,
    // a JSON array of rows in the order `decision_row` writes them.
    ($store:ident, $greatest:literal, insert: $insert:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::Timestamp;

            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::risk::{
                DecisionFilter, NewRiskDecision, RiskDecision, RiskPolicyRoles, RiskStore, RiskUsage,
                StoredRiskPolicy,
            };
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{from_ms, map_err, ms};

            #[derive(sqlx::FromRow)]
            struct DecisionRow {
                id: i64,
                at: i64,
                scenario: String,
                event: String,
                source: String,
                account_id: Option<i64>,
                level: String,
                score: i64,
                policy_version: i64,
                reasons: String,
                shadow: Option<String>,
                features: String,
            }

            fn malformed(what: &str) -> StoreError {
                StoreError::Backend(format!("stored risk {what} is malformed"))
            }

            impl DecisionRow {
                fn into_domain(self) -> Result<RiskDecision, StoreError> {
                    Ok(RiskDecision {
                        id: self.id,
                        decision: NewRiskDecision {
                            at: from_ms(self.at)?,
                            scenario: self.scenario,
                            event: self.event,
                            source: self.source,
                            account: self.account_id.map(AccountId),
                            level: self.level,
                            score: u8::try_from(self.score).map_err(|_| malformed("score"))?,
                            policy_version: u32::try_from(self.policy_version)
                                .map_err(|_| malformed("policy version"))?,
                            reasons: self.reasons,
                            shadow: self.shadow,
                            features: self.features,
                        },
                    })
                }
            }

            fn decision_row(d: &NewRiskDecision) -> serde_json::Value {
                serde_json::json!([
                    ms(d.at),
                    d.scenario,
                    d.event,
                    d.source,
                    d.account.map(|a| a.0),
                    d.level,
                    d.score,
                    d.policy_version,
                    d.reasons,
                    d.shadow,
                    d.features,
                ])
            }

            fn policy(row: (i64, String, i64, i64)) -> Result<StoredRiskPolicy, StoreError> {
                let (version, text, loaded_by, loaded_at) = row;
                Ok(StoredRiskPolicy {
                    version: u32::try_from(version).map_err(|_| malformed("policy"))?,
                    text,
                    loaded_by: AccountId(loaded_by),
                    loaded_at: from_ms(loaded_at)?,
                })
            }

            fn version(v: Option<i64>) -> Result<Option<u32>, StoreError> {
                v.map(|v| u32::try_from(v).map_err(|_| malformed("policy role")))
                    .transpose()
            }

            fn count(v: Option<i64>) -> Result<u64, StoreError> {
                u64::try_from(v.unwrap_or(0)).map_err(|_| malformed("usage"))
            }

            fn col(v: u64) -> Result<i64, StoreError> {
                i64::try_from(v).map_err(|_| StoreError::Backend("usage too large to store".into()))
            }

            #[async_trait]
            impl RiskStore for $store {
                async fn record_decisions(&self, decisions: &[NewRiskDecision]) -> Result<(), StoreError> {
                    if decisions.is_empty() {
                        return Ok(());
                    }
                    let rows = serde_json::Value::Array(decisions.iter().map(decision_row).collect());
                    sqlx::query($insert)
                        .bind(rows.to_string())
                        .execute(&self.writer)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn risk_decisions(&self, f: &DecisionFilter) -> Result<Vec<RiskDecision>, StoreError> {
                    let rows: Vec<DecisionRow> = sqlx::query_as(
                        "SELECT id, at, scenario, event, source, account_id, level, score, policy_version, reasons, shadow, features \
                         FROM risk_decisions \
                         WHERE ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR scenario = $2) AND ($3 IS NULL OR level = $3) \
                           AND ($4 IS NULL OR id < $4) AND ($5 IS NULL OR at >= $5) \
                         ORDER BY id DESC LIMIT $6",
                    )
                    .bind(f.account.map(|a| a.0))
                    .bind(f.scenario.as_deref())
                    .bind(f.level.as_deref())
                    .bind(f.before)
                    .bind(f.since.map(ms))
                    .bind(i64::from(f.limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    rows.into_iter().map(DecisionRow::into_domain).collect()
                }

                async fn save_risk_policy(&self, p: &StoredRiskPolicy) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO risk_policies (version, text, loaded_by, loaded_at) VALUES ($1, $2, $3, $4)")
                        .bind(i64::from(p.version))
                        .bind(&p.text)
                        .bind(p.loaded_by.0)
                        .bind(ms(p.loaded_at))
                        .execute(&self.writer)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn risk_policy(&self, version: u32) -> Result<Option<StoredRiskPolicy>, StoreError> {
                    sqlx::query_as::<_, (i64, String, i64, i64)>(
                        "SELECT version, text, loaded_by, loaded_at FROM risk_policies WHERE version = $1",
                    )
                    .bind(i64::from(version))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .map(policy)
                    .transpose()
                }

                async fn risk_policies(&self) -> Result<Vec<StoredRiskPolicy>, StoreError> {
                    sqlx::query_as::<_, (i64, String, i64, i64)>(
                        "SELECT version, text, loaded_by, loaded_at FROM risk_policies ORDER BY version DESC",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .into_iter()
                    .map(policy)
                    .collect()
                }

                async fn set_risk_policy_roles(
                    &self,
                    roles: RiskPolicyRoles,
                    by: AccountId,
                    at: Timestamp,
                ) -> Result<(), StoreError> {
                    // The WHERE keeps the live version from going back, however nodes race.
                    let done = sqlx::query(
                        "INSERT INTO risk_policy_roles (one, live, shadow, set_by, set_at) VALUES (1, $1, $2, $3, $4) \
                         ON CONFLICT (one) DO UPDATE SET live = excluded.live, shadow = excluded.shadow, set_by = excluded.set_by, set_at = excluded.set_at \
                         WHERE COALESCE(risk_policy_roles.live, 0) <= COALESCE(excluded.live, 0)",
                    )
                    .bind(roles.live.map(i64::from))
                    .bind(roles.shadow.map(i64::from))
                    .bind(by.0)
                    .bind(ms(at))
                    .execute(&self.writer)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("the live risk policy never goes back to an older version".into()));
                    }
                    Ok(())
                }

                async fn risk_policy_roles(&self) -> Result<RiskPolicyRoles, StoreError> {
                    let row: Option<(Option<i64>, Option<i64>)> =
                        sqlx::query_as("SELECT live, shadow FROM risk_policy_roles WHERE one = 1")
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(map_err)?;
                    let (live, shadow) = row.unwrap_or((None, None));
                    Ok(RiskPolicyRoles {
                        live: version(live)?,
                        shadow: version(shadow)?,
                    })
                }

                async fn save_risk_usage(&self, node: &str, u: &RiskUsage, at: Timestamp) -> Result<(), StoreError> {
                    // Totals only grow: an older save arriving late never lowers them.
                    sqlx::query(concat!(
                        "INSERT INTO risk_usage (node, pass, challenge, review, reject, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ",
                        "ON CONFLICT (node) DO UPDATE SET pass = ", $greatest, "(risk_usage.pass, excluded.pass), ",
                        "challenge = ", $greatest, "(risk_usage.challenge, excluded.challenge), review = ", $greatest, "(risk_usage.review, excluded.review), ",
                        "reject = ", $greatest, "(risk_usage.reject, excluded.reject), updated_at = excluded.updated_at"
                    ))
                    .bind(node)
                    .bind(col(u.pass)?)
                    .bind(col(u.challenge)?)
                    .bind(col(u.review)?)
                    .bind(col(u.reject)?)
                    .bind(ms(at))
                    .execute(&self.writer)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn risk_usage(&self) -> Result<RiskUsage, StoreError> {
                    let (p, c, r, j): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
                        "SELECT CAST(SUM(pass) AS BIGINT), CAST(SUM(challenge) AS BIGINT), CAST(SUM(review) AS BIGINT), CAST(SUM(reject) AS BIGINT) FROM risk_usage",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(RiskUsage {
                        pass: count(p)?,
                        challenge: count(c)?,
                        review: count(r)?,
                        reject: count(j)?,
                    })
                }
            }
        };
    };
}
