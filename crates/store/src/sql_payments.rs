//! The one SQL implementation of the money storage port ([`PaymentStore`]) and of the money
//! writes that commit with the booking ledger, instantiated for both databases by
//! [`impl_payment_store!`].
//!
//! [`PaymentStore`]: gatehouse_domain::payment_store::PaymentStore

macro_rules! payment_cols {
    () => {
        "id, order_id, provider, channel, amount_fen, state, provider_txn, checkout, created_at"
    };
}
macro_rules! refund_cols {
    () => {
        "id, order_id, payment_id, provider, amount_fen, cause, reason, state, provider_refund_id, created_at, finished_at"
    };
}
macro_rules! money_line_cols {
    () => {
        "order_id, payment_id, provider, kind, amount_fen, reference, at"
    };
}

macro_rules! impl_payment_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::civil::Date;
            use jiff::Timestamp;

            use gatehouse_domain::order::OrderId;
            use gatehouse_domain::payment::{MoneyLine, Payment, PaymentId, PaymentProvider, Refund, RefundId};
            use gatehouse_domain::payment_store::PaymentStore;
            use gatehouse_domain::reconcile::ReconciliationReport;
            use gatehouse_domain::security::SecurityEvent;
            use gatehouse_domain::store::{MoneyWrite, StoreError};

            use $crate::rows::{date_text, map_err, ms};
            use $crate::rows_payments::*;

            impl $store {
                pub(crate) async fn write_money(tx: &mut sqlx::Transaction<'_, $db>, w: &MoneyWrite) -> Result<(), StoreError> {
                    let conflict = |what: &str| StoreError::Conflict(what.to_owned());
                    match w {
                        MoneyWrite::OpenPayment(p) => {
                            sqlx::query(concat!("INSERT INTO payments (", payment_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                                .bind(&p.id.0)
                                .bind(&p.order_id.0)
                                .bind(p.provider.as_str())
                                .bind(p.channel.as_str())
                                .bind(fen_col(p.amount_fen))
                                .bind(p.state.as_str())
                                .bind(&p.provider_txn)
                                .bind(&p.checkout)
                                .bind(ms(p.created_at))
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)?;
                        }
                        MoneyWrite::PaymentPaid { payment, provider_txn } => {
                            let done = sqlx::query("UPDATE payments SET state = 'paid', provider_txn = $1 WHERE id = $2 AND provider_txn IS NULL")
                                .bind(provider_txn)
                                .bind(&payment.0)
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)?;
                            if done.rows_affected() != 1 {
                                return Err(conflict("payment already paid"));
                            }
                        }
                        MoneyWrite::PaymentClosed { payment } => {
                            let done = sqlx::query("UPDATE payments SET state = 'closed' WHERE id = $1 AND state = 'open'")
                                .bind(&payment.0)
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)?;
                            if done.rows_affected() != 1 {
                                return Err(conflict("payment is no longer open"));
                            }
                        }
                        MoneyWrite::Line { order_id, movement, reference, at } => {
                            sqlx::query("INSERT INTO money_lines (order_id, payment_id, provider, kind, amount_fen, reference, at) SELECT $1, id, provider, $2, $3, $4, $5 FROM payments WHERE id = $6")
                                .bind(&order_id.0)
                                .bind(movement.kind())
                                .bind(fen_col(movement.amount_fen()))
                                .bind(reference)
                                .bind(ms(*at))
                                .bind(&movement.payment().0)
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)
                                .and_then(|done| if done.rows_affected() == 1 { Ok(()) } else { Err(StoreError::NotFound("payment")) })?;
                        }
                        MoneyWrite::OpenRefund(r) => {
                            sqlx::query(concat!("INSERT INTO refunds (", refund_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
                                .bind(&r.id.0)
                                .bind(&r.order_id.0)
                                .bind(&r.payment_id.0)
                                .bind(r.provider.as_str())
                                .bind(fen_col(r.amount_fen))
                                .bind(r.cause.as_str())
                                .bind(&r.reason)
                                .bind(r.state.as_str())
                                .bind(&r.provider_refund_id)
                                .bind(ms(r.created_at))
                                .bind(r.finished_at.map(ms))
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)?;
                        }
                        MoneyWrite::RefundMoved { refund, from, to, provider_refund_id, at } => {
                            let done = sqlx::query("UPDATE refunds SET state = $1, provider_refund_id = COALESCE($2, provider_refund_id), finished_at = $3 WHERE id = $4 AND state = $5")
                                .bind(to.as_str())
                                .bind(provider_refund_id)
                                .bind(to.is_final().then(|| ms(*at)))
                                .bind(&refund.0)
                                .bind(from.as_str())
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)?;
                            if done.rows_affected() != 1 {
                                return Err(conflict("refund moved on"));
                            }
                        }
                    }
                    Ok(())
                }
            }

            #[async_trait]
            impl PaymentStore for $store {
                async fn get_payment(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
                    sqlx::query_as::<_, PaymentRow>(concat!("SELECT ", payment_cols!(), " FROM payments WHERE id = $1"))
                        .bind(&id.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(PaymentRow::into_domain)
                        .transpose()
                }

                async fn payments_of_order(&self, order: &OrderId) -> Result<Vec<Payment>, StoreError> {
                    sqlx::query_as::<_, PaymentRow>(concat!("SELECT ", payment_cols!(), " FROM payments WHERE order_id = $1 ORDER BY created_at, id"))
                        .bind(&order.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(PaymentRow::into_domain)
                        .collect()
                }

                async fn open_payments_due(&self, before: Timestamp, limit: u32) -> Result<Vec<Payment>, StoreError> {
                    sqlx::query_as::<_, PaymentRow>("SELECT p.id, p.order_id, p.provider, p.channel, p.amount_fen, p.state, p.provider_txn, p.checkout, p.created_at FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.state = 'open' AND o.state = 'pending_payment' AND o.expires_at <= $1 ORDER BY o.expires_at LIMIT $2")
                        .bind(ms(before))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(PaymentRow::into_domain)
                        .collect()
                }

                async fn money_ledger(&self, order: &OrderId) -> Result<Vec<MoneyLine>, StoreError> {
                    sqlx::query_as::<_, MoneyLineRow>(concat!("SELECT ", money_line_cols!(), " FROM money_lines WHERE order_id = $1 ORDER BY id"))
                        .bind(&order.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(MoneyLineRow::into_domain)
                        .collect()
                }

                async fn money_lines_between(&self, provider: PaymentProvider, from: Timestamp, to: Timestamp) -> Result<Vec<MoneyLine>, StoreError> {
                    sqlx::query_as::<_, MoneyLineRow>(concat!("SELECT ", money_line_cols!(), " FROM money_lines WHERE provider = $1 AND at >= $2 AND at < $3 ORDER BY id"))
                        .bind(provider.as_str())
                        .bind(ms(from))
                        .bind(ms(to))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(MoneyLineRow::into_domain)
                        .collect()
                }

                async fn get_refund(&self, id: &RefundId) -> Result<Option<Refund>, StoreError> {
                    sqlx::query_as::<_, RefundRow>(concat!("SELECT ", refund_cols!(), " FROM refunds WHERE id = $1"))
                        .bind(&id.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(RefundRow::into_domain)
                        .transpose()
                }

                async fn refunds_of_order(&self, order: &OrderId) -> Result<Vec<Refund>, StoreError> {
                    sqlx::query_as::<_, RefundRow>(concat!("SELECT ", refund_cols!(), " FROM refunds WHERE order_id = $1 ORDER BY created_at, id"))
                        .bind(&order.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(RefundRow::into_domain)
                        .collect()
                }

                async fn unfinished_refunds(&self, limit: u32) -> Result<Vec<Refund>, StoreError> {
                    sqlx::query_as::<_, RefundRow>(concat!("SELECT ", refund_cols!(), " FROM refunds WHERE state IN ('requested', 'processing') ORDER BY created_at, id LIMIT $1"))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(RefundRow::into_domain)
                        .collect()
                }

                async fn record_security_event(&self, e: &SecurityEvent) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO security_events (at, kind, source, detail, ip) VALUES ($1, $2, $3, $4, $5)")
                        .bind(ms(e.at))
                        .bind(&e.kind)
                        .bind(&e.source)
                        .bind(&e.detail)
                        .bind(&e.ip)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn list_security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, StoreError> {
                    sqlx::query_as::<_, SecurityEventRow>("SELECT at, kind, source, detail, ip FROM security_events ORDER BY id DESC LIMIT $1")
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(SecurityEventRow::into_domain)
                        .collect()
                }

                async fn save_reconciliation(&self, r: &ReconciliationReport) -> Result<(), StoreError> {
                    let day = date_text(r.day);
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    sqlx::query("DELETE FROM reconciliations WHERE provider = $1 AND day = $2")
                        .bind(r.provider.as_str())
                        .bind(&day)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query("INSERT INTO reconciliations (provider, day, ran_at, ledger_lines, bill_lines, matched) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(r.provider.as_str())
                        .bind(&day)
                        .bind(ms(r.ran_at))
                        .bind(i64::from(r.ledger_lines))
                        .bind(i64::from(r.bill_lines))
                        .bind(i64::from(r.matched))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    for (position, d) in r.differences.iter().enumerate() {
                        sqlx::query("INSERT INTO reconciliation_differences (provider, day, position, kind, line, reference, payment_id, ledger_fen, bill_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                            .bind(r.provider.as_str())
                            .bind(&day)
                            .bind(i64::try_from(position).unwrap_or(i64::MAX))
                            .bind(d.kind.as_str())
                            .bind(d.line.as_str())
                            .bind(&d.reference)
                            .bind(&d.payment_id.0)
                            .bind(d.ledger_fen.map(fen_col))
                            .bind(d.bill_fen.map(fen_col))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)
                }

                async fn get_reconciliation(&self, provider: PaymentProvider, day: Date) -> Result<Option<ReconciliationReport>, StoreError> {
                    let text = date_text(day);
                    let head: Option<(i64, i64, i64, i64)> = sqlx::query_as("SELECT ran_at, ledger_lines, bill_lines, matched FROM reconciliations WHERE provider = $1 AND day = $2")
                        .bind(provider.as_str())
                        .bind(&text)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let Some((ran_at, ledger_lines, bill_lines, matched)) = head else {
                        return Ok(None);
                    };
                    let differences = sqlx::query_as::<_, DifferenceRow>("SELECT kind, line, reference, payment_id, ledger_fen, bill_fen FROM reconciliation_differences WHERE provider = $1 AND day = $2 ORDER BY position")
                        .bind(provider.as_str())
                        .bind(&text)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(DifferenceRow::into_domain)
                        .collect::<Result<Vec<_>, _>>()?;
                    let count = |v: i64| u32::try_from(v).map_err(|_| StoreError::Backend("stored count is malformed".into()));
                    Ok(Some(ReconciliationReport {
                        provider,
                        day,
                        ran_at: $crate::rows::from_ms(ran_at)?,
                        ledger_lines: count(ledger_lines)?,
                        bill_lines: count(bill_lines)?,
                        matched: count(matched)?,
                        differences,
                    }))
                }
            }
        };
    };
}
