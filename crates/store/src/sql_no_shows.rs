//! The one SQL implementation of the no-show storage port ([`NoShowStore`]), instantiated for
//! both databases by [`impl_no_show_store!`]. A ticket is a no-show once (`no_shows` is keyed
//! by ticket); an account lock and the account's `locked_until` change in one transaction.
//!
//! [`NoShowStore`]: gatehouse_domain::no_show::NoShowStore

macro_rules! impl_no_show_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::{SignedDuration, Timestamp};

            use gatehouse_domain::catalogue::SlotId;
            use gatehouse_domain::no_show::{Lifted, LockSubject, NewLock, NoShow, NoShowLock, NoShowStore};
            use gatehouse_domain::order::{AccountId, TicketId};
            use gatehouse_domain::personal::BlindIndex;
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{from_ms, map_err, ms};

            type LockRow = (i64, String, i64, Option<Vec<u8>>, i64, i64, String, Option<i64>, Option<String>);
            const LOCK_COLS: &str = "SELECT id, subject, account_id, id_blind, locked_at, until, reason, lifted_at, lifted_reason FROM no_show_locks";

            fn blind(raw: Vec<u8>) -> Result<BlindIndex, StoreError> {
                <[u8; 32]>::try_from(raw.as_slice())
                    .map(BlindIndex)
                    .map_err(|_| StoreError::Backend("stored blind index is malformed".into()))
            }

            fn lock(row: LockRow) -> Result<NoShowLock, StoreError> {
                let (id, subject, account, id_blind, locked_at, until, reason, lifted_at, lifted_reason) = row;
                let subject = match (subject.as_str(), id_blind) {
                    ("account", _) => LockSubject::Account(AccountId(account)),
                    ("id_number", Some(b)) => LockSubject::IdNumber(blind(b)?),
                    _ => return Err(StoreError::Backend("stored lock subject is malformed".into())),
                };
                Ok(NoShowLock {
                    id,
                    subject,
                    account: AccountId(account),
                    locked_at: from_ms(locked_at)?,
                    until: from_ms(until)?,
                    reason,
                    lifted: match lifted_at {
                        Some(at) => Some(Lifted { at: from_ms(at)?, reason: lifted_reason.unwrap_or_default() }),
                        None => None,
                    },
                })
            }

            fn count(v: i64) -> Result<u32, StoreError> {
                u32::try_from(v).map_err(|_| StoreError::Backend("stored count is malformed".into()))
            }

            #[async_trait]
            impl NoShowStore for $store {
                async fn record_no_shows(&self, from: Timestamp, to: Timestamp, late: SignedDuration) -> Result<Vec<NoShow>, StoreError> {
                    let late_ms = late.as_millis() as i64;
                    let rows: Vec<(String, i64, Vec<u8>, i64, i64)> = sqlx::query_as(
                        "INSERT INTO no_shows (ticket_id, account_id, id_blind, slot_id, at) \
                         SELECT t.id, o.account_id, t.id_blind, t.slot_id, s.ends_at + $3 \
                         FROM slots s JOIN tickets t ON t.slot_id = s.id JOIN orders o ON o.id = t.order_id \
                         WHERE s.ends_at + $3 >= $1 AND s.ends_at + $3 < $2 AND t.state = 'valid' \
                         AND NOT EXISTS (SELECT 1 FROM check_ins c WHERE c.ticket_id = t.id) \
                         ON CONFLICT (ticket_id) DO NOTHING \
                         RETURNING ticket_id, account_id, id_blind, slot_id, at",
                    )
                    .bind(ms(from))
                    .bind(ms(to))
                    .bind(late_ms)
                    .fetch_all(&self.writer)
                    .await
                    .map_err(map_err)?;
                    rows.into_iter()
                        .map(|(ticket, account, id_blind, slot, at)| {
                            Ok(NoShow { ticket: TicketId(ticket), account: AccountId(account), id_blind: blind(id_blind)?, slot: SlotId(slot), at: from_ms(at)? })
                        })
                        .collect()
                }

                async fn no_shows_of_account(&self, account: AccountId, since: Timestamp) -> Result<u32, StoreError> {
                    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM no_shows WHERE account_id = $1 AND at >= $2")
                        .bind(account.0)
                        .bind(ms(since))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    count(n)
                }

                async fn no_shows_of_id(&self, id: &BlindIndex, since: Timestamp) -> Result<u32, StoreError> {
                    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM no_shows WHERE id_blind = $1 AND at >= $2")
                        .bind(id.0.as_slice())
                        .bind(ms(since))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    count(n)
                }

                async fn add_no_show_lock(&self, l: &NewLock) -> Result<NoShowLock, StoreError> {
                    let (subject, id_blind) = match &l.subject {
                        LockSubject::Account(_) => ("account", None),
                        LockSubject::IdNumber(b) => ("id_number", Some(b.0.to_vec())),
                    };
                    let mut tx = self.writer.begin().await.map_err(map_err)?;
                    let (id,): (i64,) = sqlx::query_as("INSERT INTO no_show_locks (subject, account_id, id_blind, locked_at, until, reason) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                        .bind(subject)
                        .bind(l.account.0)
                        .bind(id_blind)
                        .bind(ms(l.locked_at))
                        .bind(ms(l.until))
                        .bind(&l.reason)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if let LockSubject::Account(account) = l.subject {
                        // Never shortens a longer lock staff placed.
                        sqlx::query("UPDATE accounts SET locked_until = $1 WHERE id = $2 AND (locked_until IS NULL OR locked_until < $1)")
                            .bind(ms(l.until))
                            .bind(account.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    let row: LockRow = sqlx::query_as(&format!("{LOCK_COLS} WHERE id = $1")).bind(id).fetch_one(&mut *tx).await.map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    lock(row)
                }

                async fn active_no_show_locks(&self, now: Timestamp) -> Result<Vec<NoShowLock>, StoreError> {
                    sqlx::query_as::<_, LockRow>(&format!("{LOCK_COLS} WHERE lifted_at IS NULL AND until > $1 ORDER BY id"))
                        .bind(ms(now))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(lock)
                        .collect()
                }

                async fn lift_no_show_lock(&self, id: i64, lifted: &Lifted) -> Result<NoShowLock, StoreError> {
                    let mut tx = self.writer.begin().await.map_err(map_err)?;
                    let row: LockRow = sqlx::query_as(&format!("{LOCK_COLS} WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .ok_or(StoreError::NotFound("no-show lock"))?;
                    let found = lock(row)?;
                    if found.lifted.is_some() {
                        return Err(StoreError::Conflict("the lock was already lifted".into()));
                    }
                    sqlx::query("UPDATE no_show_locks SET lifted_at = $1, lifted_reason = $2 WHERE id = $3")
                        .bind(ms(lifted.at))
                        .bind(&lifted.reason)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if let LockSubject::Account(account) = found.subject {
                        sqlx::query("UPDATE accounts SET locked_until = NULL WHERE id = $1 AND locked_until = $2")
                            .bind(account.0)
                            .bind(ms(found.until))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(NoShowLock { lifted: Some(lifted.clone()), ..found })
                }
            }
        };
    };
}
