//! The one SQL implementation of the risk measures' port ([`MeasureStore`]), instantiated for
//! both databases by [`impl_measure_store!`]. Lifting is a conditional UPDATE: a measure is
//! lifted once, whichever node asks.
//!
//! [`MeasureStore`]: gatehouse_domain::measure::MeasureStore

macro_rules! impl_measure_store {
    ($store:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::Timestamp;

            use gatehouse_domain::measure::{Lifted, Measure, MeasureKind, MeasureStore, NewMeasure};
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{from_ms, map_err, ms};

            const COLS: &str = "id, account_id, kind, until_at, reason, notice, decided_by, decided_at, lifted_by, lifted_at, lift_reason";

            #[derive(sqlx::FromRow)]
            struct Row {
                id: i64,
                account_id: i64,
                kind: String,
                until_at: Option<i64>,
                reason: String,
                notice: String,
                decided_by: i64,
                decided_at: i64,
                lifted_by: Option<i64>,
                lifted_at: Option<i64>,
                lift_reason: Option<String>,
            }

            impl Row {
                fn into_domain(self) -> Result<Measure, StoreError> {
                    let kind = MeasureKind::parse(&self.kind)
                        .ok_or_else(|| StoreError::Backend(format!("stored measure {} is malformed", self.id)))?;
                    let lifted = match (self.lifted_by, self.lifted_at) {
                        (Some(by), Some(at)) => Some(Lifted {
                            by: AccountId(by),
                            at: from_ms(at)?,
                            reason: self.lift_reason.unwrap_or_default(),
                        }),
                        _ => None,
                    };
                    Ok(Measure {
                        id: self.id,
                        measure: NewMeasure {
                            account: AccountId(self.account_id),
                            kind,
                            until: self.until_at.map(from_ms).transpose()?,
                            reason: self.reason,
                            notice: self.notice,
                            decided_by: AccountId(self.decided_by),
                            decided_at: from_ms(self.decided_at)?,
                        },
                        lifted,
                    })
                }
            }

            fn all(rows: Vec<Row>) -> Result<Vec<Measure>, StoreError> {
                rows.into_iter().map(Row::into_domain).collect()
            }

            #[async_trait]
            impl MeasureStore for $store {
                async fn take_measure(&self, new: &NewMeasure) -> Result<Measure, StoreError> {
                    let row: Row = sqlx::query_as(&format!(
                        "INSERT INTO risk_measures (account_id, kind, until_at, reason, notice, decided_by, decided_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLS}"
                    ))
                    .bind(new.account.0)
                    .bind(new.kind.as_str())
                    .bind(new.until.map(ms))
                    .bind(&new.reason)
                    .bind(&new.notice)
                    .bind(new.decided_by.0)
                    .bind(ms(new.decided_at))
                    .fetch_one(&self.writer)
                    .await
                    .map_err(map_err)?;
                    row.into_domain()
                }

                async fn measures(&self, account: Option<AccountId>, limit: u32) -> Result<Vec<Measure>, StoreError> {
                    all(sqlx::query_as(&format!(
                        "SELECT {COLS} FROM risk_measures WHERE ($1 IS NULL OR account_id = $1) ORDER BY id DESC LIMIT $2"
                    ))
                    .bind(account.map(|a| a.0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?)
                }

                async fn measures_in_force(&self, now: Timestamp) -> Result<Vec<Measure>, StoreError> {
                    all(sqlx::query_as(&format!(
                        "SELECT {COLS} FROM risk_measures WHERE lifted_at IS NULL AND (until_at IS NULL OR until_at > $1) ORDER BY id"
                    ))
                    .bind(ms(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?)
                }

                async fn lift_measure(&self, id: i64, lifted: &Lifted) -> Result<Option<Measure>, StoreError> {
                    let row: Option<Row> = sqlx::query_as(&format!(
                        "UPDATE risk_measures SET lifted_by = $2, lifted_at = $3, lift_reason = $4 \
                         WHERE id = $1 AND lifted_at IS NULL RETURNING {COLS}"
                    ))
                    .bind(id)
                    .bind(lifted.by.0)
                    .bind(ms(lifted.at))
                    .bind(&lifted.reason)
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(map_err)?;
                    row.map(Row::into_domain).transpose()
                }
            }
        };
    };
}
