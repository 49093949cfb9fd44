//! The one SQL implementation of the organisations' storage port ([`GroupStore`]),
//! instantiated for both databases by [`impl_group_store!`]. A decision applies only to a
//! pending organisation (`UPDATE … WHERE state = 'pending'`), so two staff cannot both decide.
//!
//! [`GroupStore`]: gatehouse_domain::group::GroupStore

macro_rules! impl_group_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::Timestamp;

            use gatehouse_domain::group::{GroupStore, Organisation, OrganisationId, OrganisationState};
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{from_ms, map_err, ms};

            type OrgRow = (i64, String, i64, String, i64, Option<i64>, Option<String>);
            const ORG_COLS: &str = "SELECT id, name, account_id, state, created_at, decided_at, decision_reason FROM organisations";

            fn org(row: OrgRow) -> Result<Organisation, StoreError> {
                let (id, name, account, state, created_at, decided_at, reason) = row;
                Ok(Organisation {
                    id: OrganisationId(id),
                    name,
                    account: AccountId(account),
                    state: OrganisationState::parse(&state).ok_or_else(|| StoreError::Backend("stored organisation state is malformed".into()))?,
                    created_at: from_ms(created_at)?,
                    decided: match decided_at {
                        Some(at) => Some((from_ms(at)?, reason.unwrap_or_default())),
                        None => None,
                    },
                })
            }

            #[async_trait]
            impl GroupStore for $store {
                async fn create_organisation(&self, name: &str, account: AccountId, state: OrganisationState, at: Timestamp) -> Result<Organisation, StoreError> {
                    let decided = (state != OrganisationState::Pending).then(|| ms(at));
                    let (id,): (i64,) = sqlx::query_as("INSERT INTO organisations (name, account_id, state, created_at, decided_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                        .bind(name)
                        .bind(account.0)
                        .bind(state.as_str())
                        .bind(ms(at))
                        .bind(decided)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    org(sqlx::query_as(&format!("{ORG_COLS} WHERE id = $1")).bind(id).fetch_one(&self.pool).await.map_err(map_err)?)
                }

                async fn organisations_of(&self, account: AccountId) -> Result<Vec<Organisation>, StoreError> {
                    sqlx::query_as::<_, OrgRow>(&format!("{ORG_COLS} WHERE account_id = $1 ORDER BY id"))
                        .bind(account.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(org)
                        .collect()
                }

                async fn organisations(&self, state: Option<OrganisationState>, limit: u32) -> Result<Vec<Organisation>, StoreError> {
                    sqlx::query_as::<_, OrgRow>(&format!("{ORG_COLS} WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"))
                        .bind(state.map(OrganisationState::as_str))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(org)
                        .collect()
                }

                async fn decide_organisation(&self, id: OrganisationId, to: OrganisationState, reason: &str, at: Timestamp) -> Result<Organisation, StoreError> {
                    let changed = sqlx::query("UPDATE organisations SET state = $1, decided_at = $2, decision_reason = $3 WHERE id = $4 AND state = 'pending'")
                        .bind(to.as_str())
                        .bind(ms(at))
                        .bind(reason)
                        .bind(id.0)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let row: Option<OrgRow> = sqlx::query_as(&format!("{ORG_COLS} WHERE id = $1")).bind(id.0).fetch_optional(&self.pool).await.map_err(map_err)?;
                    let found = org(row.ok_or(StoreError::NotFound("organisation"))?)?;
                    if changed.rows_affected() != 1 {
                        return Err(StoreError::Conflict("the organisation was already decided".into()));
                    }
                    Ok(found)
                }
            }
        };
    };
}
