//! The one SQL implementation of traffic protection's storage port ([`TrafficStore`]): the
//! block and allow lists, instantiated for both databases by [`impl_traffic_store!`]. Security
//! events go to the same table the payment side writes.
//!
//! [`TrafficStore`]: gatehouse_domain::traffic::TrafficStore

macro_rules! impl_traffic_store {
    // `$greatest`: the larger-of-two function (`MAX` in SQLite, `GREATEST` in PostgreSQL).
    ($store:ident, $db:ty, $greatest:literal) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::Timestamp;

            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::payment_store::PaymentStore;
            use gatehouse_domain::security::SecurityEvent;
            use gatehouse_domain::store::StoreError;
            use gatehouse_domain::traffic::{ListAction, ListEntry, ListSubject, NewListEntry, TrafficStore, Usage};

            use $crate::rows::{from_ms, map_err, ms};

            type EntryRow = (i64, String, String, String, String, Option<i64>, Option<i64>, i64);
            const ENTRY_COLS: &str = "SELECT id, action, kind, value, reason, expires_at, added_by, added_at FROM traffic_lists";

            fn entry(row: EntryRow) -> Result<ListEntry, StoreError> {
                let (id, action, kind, value, reason, expires_at, added_by, added_at) = row;
                let malformed = || StoreError::Backend(format!("stored list entry {id} is malformed"));
                Ok(ListEntry {
                    id,
                    entry: NewListEntry {
                        action: ListAction::parse(&action).ok_or_else(malformed)?,
                        subject: ListSubject::parse(&kind, &value).map_err(|_| malformed())?,
                        reason,
                        expires_at: expires_at.map(from_ms).transpose()?,
                        added_by: added_by.map(AccountId),
                        added_at: from_ms(added_at)?,
                    },
                })
            }

            fn count(v: i64) -> Result<u64, StoreError> {
                u64::try_from(v).map_err(|_| StoreError::Backend("stored usage is negative".into()))
            }

            fn col(v: u64) -> Result<i64, StoreError> {
                i64::try_from(v).map_err(|_| StoreError::Backend("usage too large to store".into()))
            }

            #[async_trait]
            impl TrafficStore for $store {
                async fn save_usage(&self, node: &str, u: &Usage, at: Timestamp) -> Result<(), StoreError> {
                    // Totals only grow: an older save arriving late never lowers them.
                    sqlx::query(concat!(
                        "INSERT INTO traffic_usage (node, passed, refused, challenged, blocked, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ",
                        "ON CONFLICT (node) DO UPDATE SET passed = ", $greatest, "(traffic_usage.passed, excluded.passed), ",
                        "refused = ", $greatest, "(traffic_usage.refused, excluded.refused), challenged = ", $greatest, "(traffic_usage.challenged, excluded.challenged), ",
                        "blocked = ", $greatest, "(traffic_usage.blocked, excluded.blocked), updated_at = excluded.updated_at"
                    ))
                    .bind(node)
                    .bind(col(u.passed)?)
                    .bind(col(u.refused)?)
                    .bind(col(u.challenged)?)
                    .bind(col(u.blocked)?)
                    .bind(ms(at))
                    .execute(&self.writer)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn usage(&self) -> Result<Usage, StoreError> {
                    let (p, r, c, b): (Option<i64>, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
                        "SELECT CAST(SUM(passed) AS BIGINT), CAST(SUM(refused) AS BIGINT), CAST(SUM(challenged) AS BIGINT), CAST(SUM(blocked) AS BIGINT) FROM traffic_usage",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(Usage {
                        passed: count(p.unwrap_or(0))?,
                        refused: count(r.unwrap_or(0))?,
                        challenged: count(c.unwrap_or(0))?,
                        blocked: count(b.unwrap_or(0))?,
                    })
                }

                async fn add_list_entry(&self, e: &NewListEntry) -> Result<ListEntry, StoreError> {
                    let (id,): (i64,) = sqlx::query_as("INSERT INTO traffic_lists (action, kind, value, reason, expires_at, added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
                        .bind(e.action.as_str())
                        .bind(e.subject.kind())
                        .bind(e.subject.value())
                        .bind(&e.reason)
                        .bind(e.expires_at.map(ms))
                        .bind(e.added_by.map(|a| a.0))
                        .bind(ms(e.added_at))
                        .fetch_one(&self.writer)
                        .await
                        .map_err(map_err)?;
                    Ok(ListEntry { id, entry: e.clone() })
                }

                async fn remove_list_entry(&self, id: i64) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM traffic_lists WHERE id = $1")
                        .bind(id)
                        .execute(&self.writer)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn list_entries(&self, now: Timestamp) -> Result<Vec<ListEntry>, StoreError> {
                    sqlx::query_as::<_, EntryRow>(&format!("{ENTRY_COLS} WHERE expires_at IS NULL OR expires_at > $1 ORDER BY id"))
                        .bind(ms(now))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(entry)
                        .collect()
                }

                async fn record_security_event(&self, e: &SecurityEvent) -> Result<(), StoreError> {
                    PaymentStore::record_security_event(self, e).await
                }
            }
        };
    };
}
