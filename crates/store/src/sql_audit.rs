//! The one SQL implementation of the audit log's storage port ([`AuditStore`]), instantiated for
//! both databases by [`impl_audit_store!`]; only the statement that unpacks a batch of records
//! differs between dialects. A batch is one statement in one transaction: it is all written or
//! none, and a place already taken (another node appended first) refuses it as a conflict.
//!
//! [`AuditStore`]: gatehouse_domain::audit::AuditStore

macro_rules! impl_audit_store {
    ($store:ident, append: $append_sql:expr) => {
        const _: () = {
            use async_trait::async_trait;

            use gatehouse_domain::audit::{AuditEntry, AuditFilter, AuditRecord, AuditStore, Checkpoint};
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{from_ms, map_err, ms};

            const RECORD_COLS: &str = "SELECT seq, at, actor, role, action, subject, field, purpose, origin, detail, prev_hash, hash FROM audit_log";

            type RecordRow = (
                i64,
                i64,
                Option<i64>,
                Option<String>,
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                String,
                Vec<u8>,
                Vec<u8>,
            );

            fn hash(raw: &[u8]) -> Result<[u8; 32], StoreError> {
                <[u8; 32]>::try_from(raw).map_err(|_| StoreError::Backend("stored audit hash is malformed".into()))
            }

            fn seq(v: i64) -> Result<u64, StoreError> {
                u64::try_from(v).map_err(|_| StoreError::Backend("stored audit place is negative".into()))
            }

            fn record(row: RecordRow) -> Result<AuditRecord, StoreError> {
                let (place, at, actor, role, action, subject, field, purpose, origin, detail, prev, this) = row;
                Ok(AuditRecord {
                    seq: seq(place)?,
                    entry: AuditEntry {
                        at: from_ms(at)?,
                        actor: actor.map(AccountId),
                        role,
                        action,
                        subject,
                        field,
                        purpose,
                        origin,
                        detail,
                    },
                    prev_hash: hash(&prev)?,
                    hash: hash(&this)?,
                })
            }

            fn place(v: u64) -> Result<i64, StoreError> {
                i64::try_from(v).map_err(|_| StoreError::Backend("audit place out of range".into()))
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn audit_head(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
                    let row: Option<(i64, Vec<u8>)> = sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|(s, h)| Ok((seq(s)?, hash(&h)?))).transpose()
                }

                async fn append_audit(&self, records: &[AuditRecord], checkpoint: Option<&Checkpoint>) -> Result<(), StoreError> {
                    if records.is_empty() {
                        return Ok(());
                    }
                    let mut rows = Vec::with_capacity(records.len());
                    for r in records {
                        let e = &r.entry;
                        rows.push(serde_json::json!([
                            place(r.seq)?,
                            ms(e.at),
                            e.actor.map(|a| a.0),
                            e.role,
                            e.action,
                            e.subject,
                            e.field,
                            e.purpose,
                            e.origin,
                            e.detail,
                            hex::encode(r.prev_hash),
                            hex::encode(r.hash),
                        ]));
                    }
                    let batch = serde_json::Value::Array(rows).to_string();
                    let Some(c) = checkpoint else {
                        // One statement on its own commits all or nothing; outside an explicit
                        // transaction SQLite also skips the statement journal it keeps to undo
                        // half a statement (a tenth of the append's cost).
                        sqlx::query($append_sql).bind(batch).execute(&self.audit_writer).await.map_err(map_err)?;
                        return Ok(());
                    };
                    let mut tx = self.audit_writer.begin().await.map_err(map_err)?;
                    sqlx::query($append_sql)
                        .bind(batch)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query("INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)")
                        .bind(place(c.seq)?)
                        .bind(c.hash.as_slice())
                        .bind(ms(c.at))
                        .bind(&c.key_id)
                        .bind(c.signature.as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)
                }

                async fn audit_records(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
                    let rows: Vec<RecordRow> = sqlx::query_as(&format!("{RECORD_COLS} WHERE seq > $1 ORDER BY seq LIMIT $2"))
                        .bind(place(after_seq)?)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter().map(record).collect()
                }

                async fn search_audit(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
                    let rows: Vec<RecordRow> = sqlx::query_as(&format!(
                        "{RECORD_COLS} WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR subject = $3) \
                         AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) AND ($6 IS NULL OR seq > $6) ORDER BY seq DESC LIMIT $7"
                    ))
                    .bind(filter.actor.map(|a| a.0))
                    .bind(filter.action.as_deref())
                    .bind(filter.subject.as_deref())
                    .bind(filter.since.map(ms))
                    .bind(filter.until.map(ms))
                    .bind(filter.after_seq.map(place).transpose()?)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    rows.into_iter().map(record).collect()
                }

                async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
                    let rows: Vec<(i64, Vec<u8>, i64, String, Vec<u8>)> = sqlx::query_as("SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter()
                        .map(|(s, h, at, key_id, signature)| {
                            Ok(Checkpoint { seq: seq(s)?, hash: hash(&h)?, at: from_ms(at)?, key_id, signature })
                        })
                        .collect()
                }
            }
        };
    };
}
