//! The one SQL implementation of the gate storage port ([`GateStore`]): devices, check-ins,
//! offline uploads, the day's bundle for offline gates and live counts, instantiated for both
//! databases by [`impl_gate_store!`].
//!
//! A ticket is admitted at most once because `check_ins.ticket_id` is the primary key: the
//! online path decides under the group commit and inserts with `ON CONFLICT DO NOTHING`, so two
//! nodes racing for one ticket still admit it once.
//!
//! [`GateStore`]: gatehouse_domain::gate::GateStore

macro_rules! impl_gate_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::civil::Date;
            use jiff::Timestamp;

            use gatehouse_domain::catalogue::{ProductId, SlotId};
            use gatehouse_domain::check_in::{decide_scan, Entry, ScanRefused};
            use gatehouse_domain::gate::{
                CheckInAttempt, GateDay, GateDevice, GateDeviceId, GateStore, OfflineEntry, Revocation, SlotCheckIns,
                UploadOutcome,
            };
            use gatehouse_domain::order::{OrderId, TicketId, TicketState};
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{date_text, from_ms, map_err, ms};

            type DeviceRow = (String, String, i64, Option<i64>, Option<String>);

            fn device(row: DeviceRow) -> Result<GateDevice, StoreError> {
                let (id, name, created_at, revoked_at, reason) = row;
                Ok(GateDevice {
                    id: GateDeviceId(id),
                    name,
                    created_at: from_ms(created_at)?,
                    revoked: match revoked_at {
                        Some(at) => Some(Revocation { at: from_ms(at)?, reason: reason.unwrap_or_default() }),
                        None => None,
                    },
                })
            }

            fn entry(at: i64, gate: String) -> Result<Entry, StoreError> {
                Ok(Entry { at: from_ms(at)?, gate })
            }

            fn count(v: i64) -> Result<u32, StoreError> {
                u32::try_from(v).map_err(|_| StoreError::Backend("stored count is malformed".into()))
            }

            const DEVICE_COLS: &str = "SELECT id, name, created_at, revoked_at, revoked_reason FROM gate_devices";

            #[async_trait]
            impl GateStore for $store {
                async fn add_gate_device(&self, d: &GateDevice, token_hash: &[u8; 32]) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO gate_devices (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(&d.id.0)
                        .bind(&d.name)
                        .bind(token_hash.as_slice())
                        .bind(ms(d.created_at))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn gate_devices(&self) -> Result<Vec<GateDevice>, StoreError> {
                    sqlx::query_as::<_, DeviceRow>(&format!("{DEVICE_COLS} ORDER BY created_at, id"))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(device)
                        .collect()
                }

                async fn gate_device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<GateDevice>, StoreError> {
                    sqlx::query_as::<_, DeviceRow>(&format!("{DEVICE_COLS} WHERE token_hash = $1"))
                        .bind(token_hash.as_slice())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(device)
                        .transpose()
                }

                async fn revoke_gate_device(&self, id: &GateDeviceId, r: &Revocation) -> Result<GateDevice, StoreError> {
                    let changed = sqlx::query("UPDATE gate_devices SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
                        .bind(ms(r.at))
                        .bind(&r.reason)
                        .bind(&id.0)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let found = sqlx::query_as::<_, DeviceRow>(&format!("{DEVICE_COLS} WHERE id = $1"))
                        .bind(&id.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .ok_or(StoreError::NotFound("gate device"))?;
                    if changed.rows_affected() != 1 {
                        return Err(StoreError::Conflict("the device was already revoked".into()));
                    }
                    device(found)
                }

                async fn check_in(&self, attempts: &[CheckInAttempt]) -> Result<Vec<Result<Entry, ScanRefused>>, StoreError> {
                    let mut answers = Vec::with_capacity(attempts.len());
                    if attempts.is_empty() {
                        return Ok(answers);
                    }
                    let mut tx = self.writer.begin().await.map_err(map_err)?;
                    for a in attempts {
                        let facts: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
                            "SELECT t.state, c.at, c.gate_name FROM tickets t LEFT JOIN check_ins c ON c.ticket_id = t.id WHERE t.id = $1",
                        )
                        .bind(&a.ticket.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        let (state, first) = match facts {
                            None => (None, None),
                            Some((state, at, gate)) => (
                                Some(TicketState::parse(&state).ok_or_else(|| StoreError::Backend("stored ticket state is malformed".into()))?),
                                match (at, gate) {
                                    (Some(at), Some(gate)) => Some(entry(at, gate)?),
                                    _ => None,
                                },
                            ),
                        };
                        if let Err(refused) = decide_scan(a.valid_from, a.valid_until, state, first.as_ref(), a.at) {
                            answers.push(Err(refused));
                            continue;
                        }
                        let admitted = sqlx::query("INSERT INTO check_ins (ticket_id, slot_id, day, gate_id, gate_name, at, offline) SELECT id, slot_id, day, $2, $3, $4, $5 FROM tickets WHERE id = $1 ON CONFLICT (ticket_id) DO NOTHING")
                            .bind(&a.ticket.0)
                            .bind(&a.gate.0)
                            .bind(&a.gate_name)
                            .bind(ms(a.at))
                            .bind(false)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        if admitted.rows_affected() == 1 {
                            answers.push(Ok(Entry { at: a.at, gate: a.gate_name.clone() }));
                        } else {
                            // Another node admitted it between our read and our insert.
                            let (at, gate): (i64, String) = sqlx::query_as("SELECT at, gate_name FROM check_ins WHERE ticket_id = $1")
                                .bind(&a.ticket.0)
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(map_err)?;
                            answers.push(Err(ScanRefused::AlreadyUsed(entry(at, gate)?)));
                        }
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(answers)
                }

                async fn group_tickets(&self, order: &OrderId) -> Result<Vec<TicketId>, StoreError> {
                    let rows: Vec<(String,)> = sqlx::query_as("SELECT t.id FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.order_id = $1 AND o.organisation_id IS NOT NULL ORDER BY t.position")
                        .bind(&order.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(rows.into_iter().map(|(id,)| TicketId(id)).collect())
                }

                async fn record_offline_entries(&self, entries: &[OfflineEntry], uploaded_at: Timestamp) -> Result<UploadOutcome, StoreError> {
                    let mut outcome = UploadOutcome::default();
                    let mut tx = self.writer.begin().await.map_err(map_err)?;
                    for e in entries {
                        let first = sqlx::query("INSERT INTO check_ins (ticket_id, slot_id, day, gate_id, gate_name, at, offline) SELECT id, slot_id, day, $2, $3, $4, $5 FROM tickets WHERE id = $1 ON CONFLICT (ticket_id) DO NOTHING")
                            .bind(&e.ticket.0)
                            .bind(&e.gate.0)
                            .bind(&e.gate_name)
                            .bind(ms(e.at))
                            .bind(true)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        if first.rows_affected() == 1 {
                            outcome.recorded += 1;
                            continue;
                        }
                        let known: Option<(String, i64, String)> = sqlx::query_as("SELECT c.gate_id, c.at, t.day FROM tickets t LEFT JOIN check_ins c ON c.ticket_id = t.id WHERE t.id = $1")
                            .bind(&e.ticket.0)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        let Some((gate, at, day)) = known else {
                            outcome.unknown += 1;
                            continue;
                        };
                        if gate == e.gate.0 && at == ms(e.at) {
                            outcome.repeated += 1;
                            continue;
                        }
                        let extra = sqlx::query("INSERT INTO repeat_entries (ticket_id, day, gate_id, gate_name, at, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
                            .bind(&e.ticket.0)
                            .bind(&day)
                            .bind(&e.gate.0)
                            .bind(&e.gate_name)
                            .bind(ms(e.at))
                            .bind(ms(uploaded_at))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        if extra.rows_affected() == 1 {
                            outcome.double_uses += 1;
                        } else {
                            outcome.repeated += 1;
                        }
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(outcome)
                }

                async fn gate_day(&self, day: Date) -> Result<GateDay, StoreError> {
                    let day = date_text(day);
                    let tickets: Vec<(String, i64, String)> = sqlx::query_as("SELECT id, slot_id, state FROM tickets WHERE day = $1 AND state IN ('valid', 'refunded', 'released') ORDER BY id")
                        .bind(&day)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let mut bundle = GateDay::default();
                    for (id, slot, state) in tickets {
                        match TicketState::parse(&state) {
                            Some(TicketState::Valid) => bundle.expected.push((TicketId(id), SlotId(slot))),
                            Some(other) => bundle.revoked.push((TicketId(id), other)),
                            None => return Err(StoreError::Backend("stored ticket state is malformed".into())),
                        }
                    }
                    let used: Vec<(String, i64, String)> = sqlx::query_as("SELECT ticket_id, at, gate_name FROM check_ins WHERE day = $1 ORDER BY ticket_id")
                        .bind(&day)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    for (ticket, at, gate) in used {
                        bundle.used.push((TicketId(ticket), entry(at, gate)?));
                    }
                    let members: Vec<(String, String)> = sqlx::query_as("SELECT t.order_id, t.id FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.day = $1 AND o.organisation_id IS NOT NULL AND t.state IN ('valid', 'refunded', 'released') ORDER BY t.order_id, t.id")
                        .bind(&day)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    for (order, ticket) in members {
                        match bundle.groups.last_mut() {
                            Some((o, tickets)) if o.0 == order => tickets.push(TicketId(ticket)),
                            _ => bundle.groups.push((OrderId(order), vec![TicketId(ticket)])),
                        }
                    }
                    Ok(bundle)
                }

                async fn entries_of_day(&self, day: Date) -> Result<Vec<(TicketId, Entry)>, StoreError> {
                    let rows: Vec<(String, i64, String)> = sqlx::query_as("SELECT ticket_id, at, gate_name FROM check_ins WHERE day = $1 UNION ALL SELECT ticket_id, at, gate_name FROM repeat_entries WHERE day = $1")
                        .bind(date_text(day))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter().map(|(t, at, gate)| Ok((TicketId(t), entry(at, gate)?))).collect()
                }

                async fn check_in_counts(&self, day: Date) -> Result<Vec<SlotCheckIns>, StoreError> {
                    let day = date_text(day);
                    let slots: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
                        "SELECT s.id, s.product_id, s.starts_at, s.ends_at, \
                         (SELECT COUNT(*) FROM tickets t WHERE t.slot_id = s.id AND t.state = 'valid'), \
                         (SELECT COUNT(*) FROM check_ins c WHERE c.slot_id = s.id) \
                         FROM slots s WHERE s.date = $1 ORDER BY s.starts_at, s.id",
                    )
                    .bind(&day)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let by_gate: Vec<(i64, String, i64)> = sqlx::query_as("SELECT slot_id, gate_name, COUNT(*) FROM check_ins WHERE day = $1 GROUP BY slot_id, gate_name ORDER BY gate_name")
                        .bind(&day)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    slots
                        .into_iter()
                        .map(|(id, product, starts_at, ends_at, sold, checked_in)| {
                            Ok(SlotCheckIns {
                                slot: SlotId(id),
                                product: ProductId(product),
                                starts_at: from_ms(starts_at)?,
                                ends_at: from_ms(ends_at)?,
                                sold: count(sold)?,
                                checked_in: count(checked_in)?,
                                by_gate: by_gate
                                    .iter()
                                    .filter(|(slot, ..)| *slot == id)
                                    .map(|(_, gate, n)| Ok((gate.clone(), count(*n)?)))
                                    .collect::<Result<_, StoreError>>()?,
                            })
                        })
                        .collect()
                }
            }
        };
    };
}
