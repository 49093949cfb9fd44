//! The one SQL implementation of the data-key and erasure port ([`DataKeyStore`]), instantiated
//! for both databases by [`impl_data_key_store!`]; only the expression that makes a fresh random
//! blind index differs between dialects.
//!
//! [`DataKeyStore`]: gatehouse_domain::data_key::DataKeyStore

macro_rules! impl_data_key_store {
    ($store:ident, random_index: $random:expr, subjects_in: $subjects_in:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::Timestamp;

            use gatehouse_domain::data_key::{DataKeyStore, Erasure, WrappedDataKey, ERASED_NAME};
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{map_err, ms};

            type KeyRow = (String, i64, Vec<u8>);

            fn key(row: KeyRow) -> Result<WrappedDataKey, StoreError> {
                let (subject, version, wrapped) = row;
                Ok(WrappedDataKey {
                    subject,
                    master_version: u32::try_from(version).map_err(|_| StoreError::Backend("stored master version is malformed".into()))?,
                    wrapped,
                })
            }

            #[async_trait]
            impl DataKeyStore for $store {
                async fn data_key(&self, subject: &str) -> Result<Option<WrappedDataKey>, StoreError> {
                    sqlx::query_as::<_, KeyRow>("SELECT subject, master_version, wrapped FROM data_keys WHERE subject = $1")
                        .bind(subject)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(key)
                        .transpose()
                }

                async fn data_keys_of(&self, subjects: &[String]) -> Result<Vec<WrappedDataKey>, StoreError> {
                    let list = serde_json::to_string(subjects).map_err(|e| StoreError::Backend(e.to_string()))?;
                    sqlx::query_as::<_, KeyRow>(concat!("SELECT subject, master_version, wrapped FROM data_keys WHERE subject IN ", $subjects_in))
                        .bind(list)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(key)
                        .collect()
                }

                async fn create_data_key(&self, new: &WrappedDataKey, at: Timestamp) -> Result<WrappedDataKey, StoreError> {
                    let inserted = sqlx::query_as::<_, KeyRow>("INSERT INTO data_keys (subject, master_version, wrapped, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (subject) DO NOTHING RETURNING subject, master_version, wrapped")
                        .bind(&new.subject)
                        .bind(i64::from(new.master_version))
                        .bind(&new.wrapped)
                        .bind(ms(at))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    match inserted {
                        Some(row) => key(row),
                        // Another node made the subject's key first: answer theirs.
                        None => self.data_key(&new.subject).await?.ok_or(StoreError::NotFound("data key")),
                    }
                }

                async fn data_keys_not_at(&self, current: u32, limit: u32) -> Result<Vec<WrappedDataKey>, StoreError> {
                    sqlx::query_as::<_, KeyRow>("SELECT subject, master_version, wrapped FROM data_keys WHERE master_version <> $1 ORDER BY subject LIMIT $2")
                        .bind(i64::from(current))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(key)
                        .collect()
                }

                async fn rewrap_data_key(&self, rewrapped: &WrappedDataKey, from_version: u32) -> Result<bool, StoreError> {
                    let done = sqlx::query("UPDATE data_keys SET master_version = $1, wrapped = $2 WHERE subject = $3 AND master_version = $4")
                        .bind(i64::from(rewrapped.master_version))
                        .bind(&rewrapped.wrapped)
                        .bind(&rewrapped.subject)
                        .bind(i64::from(from_version))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn data_key_versions(&self) -> Result<Vec<(u32, u64)>, StoreError> {
                    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT master_version, COUNT(*) FROM data_keys GROUP BY master_version ORDER BY master_version")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter()
                        .map(|(v, n)| match (u32::try_from(v), u64::try_from(n)) {
                            (Ok(v), Ok(n)) => Ok((v, n)),
                            _ => Err(StoreError::Backend("stored master version is malformed".into())),
                        })
                        .collect()
                }

                async fn shred_data_key(&self, subject: &str) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM data_keys WHERE subject = $1")
                        .bind(subject)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn erase_account(&self, account: AccountId, at: Timestamp) -> Result<Erasure, StoreError> {
                    let empty: &[u8] = &[];
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    let before: Option<Option<i64>> = sqlx::query_scalar("SELECT erased_at FROM accounts WHERE id = $1")
                        .bind(account.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    let Some(before) = before else {
                        return Err(StoreError::NotFound("account"));
                    };
                    sqlx::query("DELETE FROM data_keys WHERE subject = $1")
                        .bind(gatehouse_domain::data_key::DataSubject::Account(account).to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    let tickets = sqlx::query(concat!("UPDATE tickets SET visitor_name = $1, id_number = $1, id_blind = ", $random, " WHERE order_id IN (SELECT id FROM orders WHERE account_id = $2)"))
                        .bind(empty)
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    let orders = sqlx::query("UPDATE orders SET contact_phone = $1, personal_purged_at = COALESCE(personal_purged_at, $2) WHERE account_id = $3")
                        .bind(empty)
                        .bind(ms(at))
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    let visitors = sqlx::query("DELETE FROM frequent_visitors WHERE account_id = $1")
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    for statement in [
                        concat!("UPDATE face_verifications SET id_blind = ", $random, " WHERE account_id = $1"),
                        concat!("UPDATE no_shows SET id_blind = ", $random, " WHERE account_id = $1"),
                        "DELETE FROM order_tails WHERE order_id IN (SELECT id FROM orders WHERE account_id = $1)",
                        "DELETE FROM account_links WHERE account_id = $1",
                        "DELETE FROM sessions WHERE account_id = $1",
                        "DELETE FROM otp_challenges WHERE phone_index = (SELECT phone_index FROM accounts WHERE id = $1)",
                    ] {
                        sqlx::query(statement).bind(account.0).execute(&mut *tx).await.map_err(map_err)?;
                    }
                    sqlx::query("UPDATE data_requests SET detail = $1 WHERE account_id = $2")
                        .bind(empty)
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query(concat!("UPDATE no_show_locks SET id_blind = ", $random, ", id_released_at = $2 WHERE account_id = $1 AND subject = 'id_number' AND id_released_at IS NULL AND (lifted_at IS NOT NULL OR until <= $2)"))
                        .bind(account.0)
                        .bind(ms(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query("UPDATE accounts SET display_name = $1, phone_index = NULL, phone_sealed = NULL, erased_at = COALESCE(erased_at, $2) WHERE id = $3")
                        .bind(ERASED_NAME)
                        .bind(ms(at))
                        .bind(account.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(Erasure { orders, tickets, visitors, already: before.is_some() })
                }

                async fn release_ended_locks_of_erased(&self, now: Timestamp) -> Result<u64, StoreError> {
                    let done = sqlx::query(concat!("UPDATE no_show_locks SET id_blind = ", $random, ", id_released_at = $1 WHERE subject = 'id_number' AND id_released_at IS NULL AND (lifted_at IS NOT NULL OR until <= $1) AND account_id IN (SELECT id FROM accounts WHERE erased_at IS NOT NULL)"))
                        .bind(ms(now))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected())
                }

                async fn erased_accounts(&self) -> Result<Vec<AccountId>, StoreError> {
                    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE erased_at IS NOT NULL ORDER BY erased_at, id")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(ids.into_iter().map(AccountId).collect())
                }
            }
        };
    };
}
