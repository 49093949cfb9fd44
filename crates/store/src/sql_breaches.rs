//! The one SQL implementation of the breach port ([`BreachStore`]), instantiated for both
//! databases by [`impl_breach_store!`]. Who is affected is worked out from the catalogue: each
//! location a personal field lives at (`table.column`) maps to the query that finds the
//! accounts holding it there ([`holders_at`]); a location no account can be found from (an IP
//! in a security record) makes its field *unattributable*.
//!
//! [`BreachStore`]: gatehouse_domain::breach::BreachStore

/// The accounts holding a value at `location` (a catalogue `table.column`) stored by `$1`;
/// `None` where values cannot be tied to an account.
pub(crate) fn holders_at(location: &str) -> Option<&'static str> {
    const ORDERS: &str =
        "SELECT account_id FROM orders WHERE personal_purged_at IS NULL AND created_at <= $1";
    const VISITORS: &str = "SELECT account_id FROM frequent_visitors WHERE created_at <= $1";
    const PHONES: &str =
        "SELECT id AS account_id FROM accounts WHERE phone_index IS NOT NULL AND created_at <= $1";
    const FACES: &str = "SELECT account_id FROM face_verifications WHERE started_at <= $1";
    Some(match location {
        "tickets.visitor_name"
        | "tickets.id_number"
        | "tickets.id_blind"
        | "orders.contact_phone" => ORDERS,
        "frequent_visitors.name" | "frequent_visitors.id_number" | "frequent_visitors.id_blind" => {
            VISITORS
        }
        "frequent_visitors.phone" => {
            "SELECT account_id FROM frequent_visitors WHERE phone IS NOT NULL AND created_at <= $1"
        }
        "no_shows.id_blind" => "SELECT account_id FROM no_shows WHERE at <= $1",
        "no_show_locks.id_blind" => {
            "SELECT account_id FROM no_show_locks WHERE id_blind IS NOT NULL AND locked_at <= $1"
        }
        "accounts.phone_sealed" | "accounts.phone_index" => PHONES,
        "face_verifications.state"
        | "face_verifications.id_blind"
        | "face_verifications.certify_id" => FACES,
        "account_links.subject" => "SELECT account_id FROM account_links WHERE created_at <= $1",
        "accounts.display_name" => "SELECT id AS account_id FROM accounts WHERE created_at <= $1",
        "data_requests.detail" => {
            "SELECT account_id FROM data_requests WHERE length(detail) > 0 AND received_at <= $1"
        }
        _ => return None,
    })
}

macro_rules! impl_breach_store {
    ($store:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::Timestamp;

            use gatehouse_domain::breach::{Breach, BreachReport, BreachStore, Escalation, NoticeChannel, NoticeProgress};
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::personal_data::{spec, PersonalField};
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{from_ms, map_err, ms};

            const COLS: &str = "SELECT id, title, what_happened, occurred_at, discovered_at, fields, systems, measures, advice, contact, opened_by, opened_at, deadline_at, affected, unattributable, escalated_near_at, escalated_missed_at FROM breaches";

            #[derive(sqlx::FromRow)]
            struct Row {
                id: String,
                title: String,
                what_happened: String,
                occurred_at: i64,
                discovered_at: i64,
                fields: String,
                systems: String,
                measures: String,
                advice: String,
                contact: String,
                opened_by: i64,
                opened_at: i64,
                deadline_at: i64,
                affected: i64,
                unattributable: String,
                escalated_near_at: Option<i64>,
                escalated_missed_at: Option<i64>,
            }

            #[derive(sqlx::FromRow)]
            struct WithUnsent {
                #[sqlx(flatten)]
                breach: Row,
                unsent: i64,
            }

            fn field_list(fields: &[PersonalField]) -> String {
                fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")
            }

            fn parse_fields(text: &str) -> Result<Vec<PersonalField>, StoreError> {
                text.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| PersonalField::parse(s).ok_or_else(|| StoreError::Backend("stored breach field is malformed".into())))
                    .collect()
            }

            impl Row {
                fn into_domain(self) -> Result<Breach, StoreError> {
                    Ok(Breach {
                        id: self.id,
                        report: BreachReport {
                            title: self.title,
                            what_happened: self.what_happened,
                            occurred_at: from_ms(self.occurred_at)?,
                            discovered_at: from_ms(self.discovered_at)?,
                            fields: parse_fields(&self.fields)?,
                            systems: self.systems,
                            measures: self.measures,
                            advice: self.advice,
                            contact: self.contact,
                        },
                        opened_by: AccountId(self.opened_by),
                        opened_at: from_ms(self.opened_at)?,
                        deadline_at: from_ms(self.deadline_at)?,
                        affected: u64::try_from(self.affected).unwrap_or(0),
                        unattributable: parse_fields(&self.unattributable)?,
                        escalated_near_at: self.escalated_near_at.map(from_ms).transpose()?,
                        escalated_missed_at: self.escalated_missed_at.map(from_ms).transpose()?,
                    })
                }
            }

            #[async_trait]
            impl BreachStore for $store {
                async fn accounts_holding(&self, fields: &[PersonalField], occurred_at: Timestamp) -> Result<(Vec<AccountId>, Vec<PersonalField>), StoreError> {
                    let mut queries: Vec<&'static str> = Vec::new();
                    let mut unattributable = Vec::new();
                    for field in fields {
                        let locations = spec(*field).locations;
                        let mut attributable = false;
                        for location in locations {
                            if let Some(q) = $crate::sql_breaches::holders_at(location) {
                                attributable = true;
                                if !queries.contains(&q) {
                                    queries.push(q);
                                }
                            }
                        }
                        if !attributable && !locations.is_empty() {
                            unattributable.push(*field);
                        }
                    }
                    if queries.is_empty() {
                        return Ok((Vec::new(), unattributable));
                    }
                    let sql = format!(
                        "SELECT DISTINCT h.account_id FROM ({}) h JOIN accounts a ON a.id = h.account_id WHERE a.erased_at IS NULL ORDER BY h.account_id",
                        queries.join(" UNION ")
                    );
                    let ids: Vec<i64> = sqlx::query_scalar(&sql)
                        .bind(ms(occurred_at))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok((ids.into_iter().map(AccountId).collect(), unattributable))
                }

                async fn open_breach(&self, b: &Breach, affected: &[AccountId]) -> Result<(), StoreError> {
                    let r = &b.report;
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    sqlx::query("INSERT INTO breaches (id, title, what_happened, occurred_at, discovered_at, fields, systems, measures, advice, contact, opened_by, opened_at, deadline_at, affected, unattributable) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")
                        .bind(&b.id)
                        .bind(&r.title)
                        .bind(&r.what_happened)
                        .bind(ms(r.occurred_at))
                        .bind(ms(r.discovered_at))
                        .bind(field_list(&r.fields))
                        .bind(&r.systems)
                        .bind(&r.measures)
                        .bind(&r.advice)
                        .bind(&r.contact)
                        .bind(b.opened_by.0)
                        .bind(ms(b.opened_at))
                        .bind(ms(b.deadline_at))
                        .bind(i64::try_from(b.affected).unwrap_or(i64::MAX))
                        .bind(field_list(&b.unattributable))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    for account in affected {
                        sqlx::query("INSERT INTO breach_notices (breach_id, account_id, state) VALUES ($1, $2, 'pending')")
                            .bind(&b.id)
                            .bind(account.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)
                }

                async fn breach(&self, id: &str) -> Result<Option<Breach>, StoreError> {
                    sqlx::query_as::<_, Row>(&format!("{COLS} WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(Row::into_domain)
                        .transpose()
                }

                async fn list_breaches(&self, limit: u32) -> Result<Vec<Breach>, StoreError> {
                    sqlx::query_as::<_, Row>(&format!("{COLS} ORDER BY opened_at DESC, id LIMIT $1"))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(Row::into_domain)
                        .collect()
                }

                async fn notice_progress(&self, id: &str) -> Result<NoticeProgress, StoreError> {
                    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT state, COUNT(*) FROM breach_notices WHERE breach_id = $1 GROUP BY state")
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let mut p = NoticeProgress::default();
                    for (state, n) in rows {
                        let n = u64::try_from(n).unwrap_or(0);
                        match state.as_str() {
                            "pending" => p.pending = n,
                            "sent" => p.sent = n,
                            _ => p.failed = n,
                        }
                    }
                    Ok(p)
                }

                async fn unsent_notices(&self, id: &str, limit: u32) -> Result<Vec<AccountId>, StoreError> {
                    let ids: Vec<i64> = sqlx::query_scalar("SELECT account_id FROM breach_notices WHERE breach_id = $1 AND state <> 'sent' ORDER BY attempts, account_id LIMIT $2")
                        .bind(id)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(ids.into_iter().map(AccountId).collect())
                }

                async fn notice_outcome(&self, id: &str, account: AccountId, channel: NoticeChannel, sent: bool, at: Timestamp) -> Result<(), StoreError> {
                    sqlx::query("UPDATE breach_notices SET channel = $1, state = $2, attempts = attempts + 1, sent_at = $3 WHERE breach_id = $4 AND account_id = $5 AND state <> 'sent'")
                        .bind(channel.as_str())
                        .bind(if sent { "sent" } else { "failed" })
                        .bind(sent.then(|| ms(at)))
                        .bind(id)
                        .bind(account.0)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn record_escalation(&self, id: &str, escalation: Escalation, at: Timestamp) -> Result<bool, StoreError> {
                    let sql = match escalation {
                        Escalation::DeadlineNear => "UPDATE breaches SET escalated_near_at = $1 WHERE id = $2 AND escalated_near_at IS NULL",
                        Escalation::DeadlineMissed => "UPDATE breaches SET escalated_missed_at = $1 WHERE id = $2 AND escalated_missed_at IS NULL",
                    };
                    let done = sqlx::query(sql).bind(ms(at)).bind(id).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn breaches_with_unsent_notices(&self) -> Result<Vec<(Breach, u64)>, StoreError> {
                    // One query each minute, however many breaches are open.
                    sqlx::query_as::<_, WithUnsent>(&format!(
                        "{} JOIN (SELECT breach_id, COUNT(*) AS unsent FROM breach_notices WHERE state <> 'sent' GROUP BY breach_id) n ON n.breach_id = breaches.id",
                        COLS.replace(" FROM breaches", ", n.unsent FROM breaches")
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .into_iter()
                    .map(|r| Ok((r.breach.into_domain()?, u64::try_from(r.unsent).unwrap_or(0))))
                    .collect()
                }

                async fn in_app_notices(&self, account: AccountId) -> Result<Vec<(Breach, Timestamp)>, StoreError> {
                    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT breach_id, sent_at FROM breach_notices WHERE account_id = $1 AND channel = 'in_app' AND state = 'sent' ORDER BY sent_at DESC")
                        .bind(account.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let mut out = Vec::with_capacity(rows.len());
                    for (id, at) in rows {
                        if let Some(b) = self.breach(&id).await? {
                            out.push((b, from_ms(at)?));
                        }
                    }
                    Ok(out)
                }
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::personal_data::CATALOGUE;

    /// Every place the catalogue says personal data lives is either found by a query here or is
    /// one of the few that cannot name an account: a new location must be added to one or the
    /// other, or breach notices would miss people.
    #[test]
    fn every_catalogue_location_is_mapped_or_known_unattributable() {
        const UNATTRIBUTABLE: [&str; 2] = ["security_events.ip", "traffic_lists.value"];
        for spec in CATALOGUE {
            for location in spec.locations {
                assert!(
                    super::holders_at(location).is_some() || UNATTRIBUTABLE.contains(location),
                    "{location} ({:?}) has no query finding its accounts",
                    spec.field
                );
            }
        }
    }
}
