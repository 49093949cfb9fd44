//! The one SQL implementation of the storage port, instantiated for SQLite and PostgreSQL by
//! [`impl_sql_store!`]. Both dialects accept the same statements (`$n` parameters, `RETURNING`,
//! partial unique indexes), so the SQL is written once; the schemas differ only in column types.

macro_rules! product_cols {
    () => {
        "id, kind, name, introduction, theatre_type, film, featured, open_days_before, open_at, close_minutes_before_start, id_limit_per_day, max_visitors_per_order, max_orders_per_account_per_day, hold_minutes, face_verification_required, notice_version"
    };
}
macro_rules! slot_cols {
    () => {
        "id, product_id, date, start_time, end_time, starts_at, ends_at, capacity, taken"
    };
}
macro_rules! order_cols {
    () => {
        "id, account_id, product_id, kind, slot_id, day, order_seq, state, notice_version, contact_phone, total_fen, created_at, expires_at, idempotency_key, request_digest, organisation_id"
    };
}

/// Binds a product spec's columns, in `product_cols!` order after `id`, to `$1..$14`.
macro_rules! bind_spec {
    ($q:expr, $spec:expr) => {{
        let s = $spec;
        let r = &s.rules;
        $q.bind(s.kind.as_str())
            .bind(s.name.clone())
            .bind(s.introduction.clone())
            .bind(s.theatre_type.clone())
            .bind(s.film.clone())
            .bind(s.featured)
            .bind(i64::from(r.open_days_before))
            .bind($crate::rows::time_text(r.open_at))
            .bind(i64::from(r.close_minutes_before_start))
            .bind(i64::from(r.id_limit_per_day))
            .bind(i64::from(r.max_visitors_per_order))
            .bind(i64::from(r.max_orders_per_account_per_day))
            .bind(i64::from(r.hold_minutes))
            .bind(r.face_verification_required)
    }};
}

/// The rows of a run of new orders as three JSON arrays (orders, tickets, events), each inserted
/// by one statement that unpacks it in the database (`json_each` / `jsonb_array_elements`).
/// Under a rush a batch of hundreds of bookings is then a handful of statements: each statement
/// is a round trip to the database thread, and on a busy machine round trips, not SQL, are what
/// a commit waits for. Binary values travel as hex.
pub(crate) struct PlaceRows {
    pub orders: String,
    pub tickets: String,
    pub events: String,
    pub tails: String,
}

/// One placement as the ledger writes it: the order, its limits, its search tails.
pub(crate) type Placement<'a> = (
    &'a gatehouse_domain::order::Order,
    u16,
    u16,
    &'a [gatehouse_domain::order::SearchTail],
);

impl PlaceRows {
    pub(crate) fn of(places: &[Placement<'_>]) -> Self {
        use crate::rows::{date_text, ms};
        use serde_json::{json, Value};
        let mut orders = Vec::with_capacity(places.len());
        let mut tickets = Vec::with_capacity(places.len());
        let mut events = Vec::with_capacity(places.len());
        let mut tails = Vec::with_capacity(places.len() * 2);
        for (o, id_limit, order_limit, search) in places {
            for t in search.iter() {
                tails.push(json!([o.id.0, t.of.as_str(), hex::encode(t.index.0)]));
            }
            let day = date_text(o.day);
            orders.push(json!([
                o.id.0,
                o.account_id.0,
                o.product_id.0,
                o.kind.as_str(),
                o.slot_id.0,
                day,
                o.order_seq,
                o.state.as_str(),
                o.notice_version,
                hex::encode(&o.contact_phone.0),
                o.total_fen,
                ms(o.created_at),
                o.expires_at.map(ms),
                o.idempotency_key,
                o.request_digest,
                order_limit,
                o.organisation.map(|g| g.0)
            ]));
            for (position, t) in o.tickets.iter().enumerate() {
                tickets.push(json!([
                    t.id.0,
                    o.id.0,
                    position,
                    o.slot_id.0,
                    o.kind.as_str(),
                    day,
                    t.ticket_type_id.0,
                    t.price_fen,
                    hex::encode(&t.visitor_name.0),
                    t.id_kind.as_str(),
                    hex::encode(&t.id_number.0),
                    hex::encode(t.id_blind.0),
                    t.claim_seq,
                    id_limit,
                    t.state.as_str(),
                    t.seat
                ]));
            }
            for e in &o.history {
                events.push(json!([
                    o.id.0,
                    ms(e.at),
                    e.from.map(|s| s.as_str()),
                    e.to.as_str(),
                    e.note
                ]));
            }
        }
        let text = |rows: Vec<Value>| Value::Array(rows).to_string();
        Self {
            orders: text(orders),
            tickets: text(tickets),
            events: text(events),
            tails: text(tails),
        }
    }
}

macro_rules! impl_sql_store {
    ($store:ident, $db:ty, orders: $orders_sql:expr, tickets: $tickets_sql:expr, events: $events_sql:expr, tails: $tails_sql:expr) => {
        use async_trait::async_trait;
        use jiff::civil::Date;
        use jiff::Timestamp;

        use gatehouse_domain::catalogue::{NewSlot, Notice, Product, ProductId, ProductKind, ProductSpec, Slot, SlotId, TicketType, TicketTypeId};
        use gatehouse_domain::order::{AccountId, Order, OrderId};
        use gatehouse_domain::personal::BlindIndex;
        use gatehouse_domain::seats::SeatMapLayout;
        use gatehouse_domain::store::{Account, LedgerSnapshot, LedgerWrite, SlotWithKind, Store, StoreError};

        use $crate::rows::*;

        type Tx<'a> = sqlx::Transaction<'a, $db>;

        impl $store {
            async fn load_order(&self, row: OrderRow) -> Result<Order, StoreError> {
                let tickets: Vec<TicketRow> = sqlx::query_as(
                    "SELECT id, ticket_type_id, price_fen, visitor_name, id_kind, id_number, id_blind, claim_seq, state, seat FROM tickets WHERE order_id = $1 ORDER BY position",
                )
                .bind(&row.id)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                let events: Vec<EventRow> = sqlx::query_as("SELECT at, from_state, to_state, note FROM order_events WHERE order_id = $1 ORDER BY id")
                    .bind(&row.id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                row.into_domain(tickets, events)
            }

            /// Writes a run of new orders with one stock update per slot and multi-row inserts:
            /// under a rush this is what keeps a batch of hundreds of bookings to a few statements.
            async fn place_many(tx: &mut Tx<'_>, places: &[$crate::sql::Placement<'_>]) -> Result<(), StoreError> {
                // (slot, group order?) → tickets taken.
                let mut per_slot: std::collections::BTreeMap<(i64, bool), i64> = std::collections::BTreeMap::new();
                for (order, ..) in places {
                    *per_slot.entry((order.slot_id.0, order.organisation.is_some())).or_default() += i64::try_from(order.active_tickets().count()).unwrap_or(i64::MAX);
                }
                for ((slot, group), quantity) in per_slot {
                    let sql = if group {
                        "UPDATE slots SET group_taken = group_taken + $1 WHERE id = $2 AND group_taken + $1 <= group_capacity"
                    } else {
                        "UPDATE slots SET taken = taken + $1 WHERE id = $2 AND taken + $1 <= capacity"
                    };
                    let took = sqlx::query(sql)
                        .bind(quantity)
                        .bind(slot)
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?;
                    if took.rows_affected() != 1 {
                        return Err(StoreError::Conflict("slot has not enough stock".into()));
                    }
                }
                let rows = $crate::sql::PlaceRows::of(places);
                for (sql, json) in [($orders_sql, rows.orders), ($tickets_sql, rows.tickets), ($events_sql, rows.events), ($tails_sql, rows.tails)] {
                    sqlx::query(sql).bind(json).execute(&mut **tx).await.map_err(map_err)?;
                }
                Ok(())
            }

            async fn write_one(tx: &mut Tx<'_>, w: &LedgerWrite) -> Result<(), StoreError> {
                match w {
                    LedgerWrite::Place { order, id_limit, order_limit, tails } => Self::place_many(tx, &[(order, *id_limit, *order_limit, tails)]).await?,
                    LedgerWrite::Transition(t) => {
                        let moved = sqlx::query("UPDATE orders SET state = $1 WHERE id = $2 AND state = $3")
                            .bind(t.to.as_str())
                            .bind(&t.order_id.0)
                            .bind(t.from.as_str())
                            .execute(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        if moved.rows_affected() != 1 {
                            return Err(StoreError::Conflict(format!("order is no longer {}", t.from.as_str())));
                        }
                        for (ticket, state) in &t.tickets {
                            let changed = sqlx::query("UPDATE tickets SET state = $1 WHERE id = $2 AND order_id = $3 AND state IN ('held', 'valid') AND NOT EXISTS (SELECT 1 FROM check_ins c WHERE c.ticket_id = tickets.id)")
                                .bind(state.as_str())
                                .bind(&ticket.0)
                                .bind(&t.order_id.0)
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)?;
                            if changed.rows_affected() != 1 {
                                let used: Option<(i64,)> = sqlx::query_as("SELECT at FROM check_ins WHERE ticket_id = $1")
                                    .bind(&ticket.0)
                                    .fetch_optional(&mut **tx)
                                    .await
                                    .map_err(map_err)?;
                                return Err(StoreError::Conflict(if used.is_some() { "ticket was already used at the gate" } else { "ticket is no longer active" }.into()));
                            }
                        }
                        if t.released > 0 {
                            sqlx::query(if t.group { "UPDATE slots SET group_taken = group_taken - $1 WHERE id = $2" } else { "UPDATE slots SET taken = taken - $1 WHERE id = $2" })
                                .bind(i64::from(t.released))
                                .bind(t.slot_id.0)
                                .execute(&mut **tx)
                                .await
                                .map_err(map_err)?;
                        }
                        Self::insert_event(tx, &t.order_id, &t.event).await?;
                    }
                    LedgerWrite::Money(m) => Self::write_money(tx, m).await?,
                }
                Ok(())
            }

            async fn insert_event(tx: &mut Tx<'_>, order: &OrderId, e: &gatehouse_domain::order::OrderEvent) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO order_events (order_id, at, from_state, to_state, note) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&order.0)
                    .bind(ms(e.at))
                    .bind(e.from.map(|s| s.as_str()))
                    .bind(e.to.as_str())
                    .bind(&e.note)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn create_product(&self, spec: &ProductSpec) -> Result<Product, StoreError> {
                let q = sqlx::query_as::<_, ProductRow>(concat!(
                    "INSERT INTO products (kind, name, introduction, theatre_type, film, featured, open_days_before, open_at, close_minutes_before_start, id_limit_per_day, max_visitors_per_order, max_orders_per_account_per_day, hold_minutes, face_verification_required) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
                    product_cols!()
                ));
                bind_spec!(q, spec).fetch_one(&self.pool).await.map_err(map_err)?.into_domain()
            }

            async fn update_product(&self, id: ProductId, spec: &ProductSpec) -> Result<Product, StoreError> {
                let q = sqlx::query_as::<_, ProductRow>(concat!(
                    "UPDATE products SET kind = $1, name = $2, introduction = $3, theatre_type = $4, film = $5, featured = $6, open_days_before = $7, open_at = $8, close_minutes_before_start = $9, id_limit_per_day = $10, max_visitors_per_order = $11, max_orders_per_account_per_day = $12, hold_minutes = $13, face_verification_required = $14 WHERE id = $15 RETURNING ",
                    product_cols!()
                ));
                bind_spec!(q, spec)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .ok_or(StoreError::NotFound("product"))?
                    .into_domain()
            }

            async fn get_product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
                sqlx::query_as::<_, ProductRow>(concat!("SELECT ", product_cols!(), " FROM products WHERE id = $1"))
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .map(ProductRow::into_domain)
                    .transpose()
            }

            async fn list_products(&self) -> Result<Vec<Product>, StoreError> {
                sqlx::query_as::<_, ProductRow>(concat!("SELECT ", product_cols!(), " FROM products ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .into_iter()
                    .map(ProductRow::into_domain)
                    .collect()
            }

            async fn delete_product(&self, id: ProductId) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE product_id = $1").bind(id.0).fetch_one(&mut *tx).await.map_err(map_err)?;
                if used > 0 {
                    return Err(StoreError::InUse("product"));
                }
                for table in ["DELETE FROM slots WHERE product_id = $1", "DELETE FROM ticket_types WHERE product_id = $1", "DELETE FROM notices WHERE product_id = $1"] {
                    sqlx::query(table).bind(id.0).execute(&mut *tx).await.map_err(map_err)?;
                }
                let gone = sqlx::query("DELETE FROM products WHERE id = $1").bind(id.0).execute(&mut *tx).await.map_err(map_err)?;
                if gone.rows_affected() == 0 {
                    return Err(StoreError::NotFound("product"));
                }
                tx.commit().await.map_err(map_err)
            }

            async fn publish_notice(&self, product: ProductId, text: &str, at: Timestamp) -> Result<Notice, StoreError> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let version: i64 = sqlx::query_scalar("UPDATE products SET notice_version = notice_version + 1 WHERE id = $1 RETURNING notice_version")
                    .bind(product.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .ok_or(StoreError::NotFound("product"))?;
                let row: NoticeRow = sqlx::query_as("INSERT INTO notices (product_id, version, text, published_at) VALUES ($1, $2, $3, $4) RETURNING product_id, version, text, published_at")
                    .bind(product.0)
                    .bind(version)
                    .bind(text)
                    .bind(ms(at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                row.into_domain()
            }

            async fn current_notice(&self, product: ProductId) -> Result<Option<Notice>, StoreError> {
                sqlx::query_as::<_, NoticeRow>(
                    "SELECT n.product_id, n.version, n.text, n.published_at FROM notices n JOIN products p ON p.id = n.product_id AND p.notice_version = n.version WHERE n.product_id = $1",
                )
                .bind(product.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?
                .map(NoticeRow::into_domain)
                .transpose()
            }

            async fn create_ticket_type(&self, product: ProductId, name: &str, price_fen: u32) -> Result<TicketType, StoreError> {
                sqlx::query_as::<_, TicketTypeRow>("INSERT INTO ticket_types (product_id, name, price_fen) VALUES ($1, $2, $3) RETURNING id, product_id, name, price_fen")
                    .bind(product.0)
                    .bind(name)
                    .bind(i64::from(price_fen))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| match map_err(e) {
                        StoreError::InUse(_) => StoreError::NotFound("product"),
                        other => other,
                    })?
                    .into_domain()
            }

            async fn list_ticket_types(&self, product: ProductId) -> Result<Vec<TicketType>, StoreError> {
                sqlx::query_as::<_, TicketTypeRow>("SELECT id, product_id, name, price_fen FROM ticket_types WHERE product_id = $1 ORDER BY id")
                    .bind(product.0)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .into_iter()
                    .map(TicketTypeRow::into_domain)
                    .collect()
            }

            async fn update_ticket_type(&self, id: TicketTypeId, name: &str, price_fen: u32) -> Result<TicketType, StoreError> {
                sqlx::query_as::<_, TicketTypeRow>("UPDATE ticket_types SET name = $1, price_fen = $2 WHERE id = $3 RETURNING id, product_id, name, price_fen")
                    .bind(name)
                    .bind(i64::from(price_fen))
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .ok_or(StoreError::NotFound("ticket type"))?
                    .into_domain()
            }

            async fn get_ticket_type(&self, id: TicketTypeId) -> Result<Option<TicketType>, StoreError> {
                sqlx::query_as::<_, TicketTypeRow>("SELECT id, product_id, name, price_fen FROM ticket_types WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .map(TicketTypeRow::into_domain)
                    .transpose()
            }

            async fn delete_ticket_type(&self, id: TicketTypeId) -> Result<(), StoreError> {
                let gone = sqlx::query("DELETE FROM ticket_types WHERE id = $1").bind(id.0).execute(&self.pool).await.map_err(|e| match map_err(e) {
                    StoreError::InUse(_) => StoreError::InUse("ticket type"),
                    other => other,
                })?;
                if gone.rows_affected() == 0 {
                    return Err(StoreError::NotFound("ticket type"));
                }
                Ok(())
            }

            async fn create_slot(&self, slot: &NewSlot, starts_at: Timestamp, ends_at: Timestamp) -> Result<Slot, StoreError> {
                sqlx::query_as::<_, SlotRow>(concat!(
                    "INSERT INTO slots (product_id, date, start_time, end_time, starts_at, ends_at, capacity) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
                    slot_cols!()
                ))
                .bind(slot.product_id.0)
                .bind(date_text(slot.date))
                .bind(time_text(slot.start))
                .bind(time_text(slot.end))
                .bind(ms(starts_at))
                .bind(ms(ends_at))
                .bind(i64::from(slot.capacity))
                .fetch_one(&self.pool)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::InUse(_) => StoreError::NotFound("product"),
                    other => other,
                })?
                .into_domain()
            }

            async fn get_slot(&self, id: SlotId) -> Result<Option<Slot>, StoreError> {
                sqlx::query_as::<_, SlotRow>(concat!("SELECT ", slot_cols!(), " FROM slots WHERE id = $1"))
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .map(SlotRow::into_domain)
                    .transpose()
            }

            async fn list_slots(&self, product: ProductId, from: Date, to: Date) -> Result<Vec<Slot>, StoreError> {
                sqlx::query_as::<_, SlotRow>(concat!(
                    "SELECT ", slot_cols!(), " FROM slots WHERE product_id = $1 AND date >= $2 AND date <= $3 ORDER BY date, start_time"
                ))
                .bind(product.0)
                .bind(date_text(from))
                .bind(date_text(to))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?
                .into_iter()
                .map(SlotRow::into_domain)
                .collect()
            }

            async fn set_slot_capacity(&self, id: SlotId, capacity: u32) -> Result<(), StoreError> {
                let changed = sqlx::query("UPDATE slots SET capacity = $1 WHERE id = $2").bind(i64::from(capacity)).bind(id.0).execute(&self.pool).await.map_err(map_err)?;
                if changed.rows_affected() == 0 {
                    return Err(StoreError::NotFound("slot"));
                }
                Ok(())
            }

            async fn set_group_capacity(&self, id: SlotId, capacity: u32) -> Result<(), StoreError> {
                let changed = sqlx::query("UPDATE slots SET group_capacity = $1 WHERE id = $2").bind(i64::from(capacity)).bind(id.0).execute(&self.pool).await.map_err(map_err)?;
                if changed.rows_affected() == 0 {
                    return Err(StoreError::NotFound("slot"));
                }
                Ok(())
            }

            async fn delete_slot(&self, id: SlotId) -> Result<(), StoreError> {
                let gone = sqlx::query("DELETE FROM slots WHERE id = $1").bind(id.0).execute(&self.pool).await.map_err(|e| match map_err(e) {
                    StoreError::InUse(_) => StoreError::InUse("slot"),
                    other => other,
                })?;
                if gone.rows_affected() == 0 {
                    return Err(StoreError::NotFound("slot"));
                }
                Ok(())
            }

            async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
                sqlx::query_as::<_, AccountRow>("SELECT id, display_name, roles, locked_until, created_at FROM accounts WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .map(AccountRow::into_domain)
                    .transpose()
            }

            async fn put_seat_map(&self, theatre: &str, layout: &SeatMapLayout, at: Timestamp) -> Result<(), StoreError> {
                let text = serde_json::to_string(layout).map_err(|e| StoreError::Backend(e.to_string()))?;
                sqlx::query("INSERT INTO seat_maps (theatre, layout, updated_at) VALUES ($1, $2, $3) ON CONFLICT (theatre) DO UPDATE SET layout = excluded.layout, updated_at = excluded.updated_at")
                    .bind(theatre)
                    .bind(text)
                    .bind(ms(at))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn seat_maps(&self) -> Result<Vec<(String, SeatMapLayout)>, StoreError> {
                let rows: Vec<(String, String)> = sqlx::query_as("SELECT theatre, layout FROM seat_maps ORDER BY theatre")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows.into_iter()
                    .map(|(t, l)| Ok((t, serde_json::from_str(&l).map_err(|_| StoreError::Backend("stored seat map is malformed".into()))?)))
                    .collect()
            }

            async fn active_id_locks(&self, now: Timestamp) -> Result<Vec<(BlindIndex, Timestamp)>, StoreError> {
                let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as("SELECT id_blind, MAX(until) FROM no_show_locks WHERE subject = 'id_number' AND lifted_at IS NULL AND until > $1 GROUP BY id_blind")
                    .bind(ms(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows.into_iter()
                    .map(|(b, until)| {
                        let b = <[u8; 32]>::try_from(b.as_slice()).map_err(|_| StoreError::Backend("stored blind index is malformed".into()))?;
                        Ok((BlindIndex(b), $crate::rows::from_ms(until)?))
                    })
                    .collect()
            }

            async fn set_account_lock(&self, id: AccountId, until: Option<Timestamp>) -> Result<(), StoreError> {
                let changed = sqlx::query("UPDATE accounts SET locked_until = $1 WHERE id = $2").bind(until.map(ms)).bind(id.0).execute(&self.pool).await.map_err(map_err)?;
                if changed.rows_affected() == 0 {
                    return Err(StoreError::NotFound("account"));
                }
                Ok(())
            }

            async fn apply(&self, writes: &[LedgerWrite]) -> Result<(), StoreError> {
                if writes.is_empty() {
                    return Ok(());
                }
                // The ledger writer has a connection of its own: a commit never waits behind reads.
                let mut tx = self.writer.begin().await.map_err(map_err)?;
                // Consecutive placements go in together; anything else keeps its place in line.
                let mut run: Vec<$crate::sql::Placement<'_>> = Vec::new();
                for w in writes {
                    match w {
                        LedgerWrite::Place { order, id_limit, order_limit, tails } => run.push((order, *id_limit, *order_limit, tails)),
                        other => {
                            if !run.is_empty() {
                                Self::place_many(&mut tx, &run).await?;
                                run.clear();
                            }
                            Self::write_one(&mut tx, other).await?;
                        }
                    }
                }
                if !run.is_empty() {
                    Self::place_many(&mut tx, &run).await?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn ledger_snapshot(&self, from_day: Date) -> Result<LedgerSnapshot, StoreError> {
                let day = date_text(from_day);
                let slots: Vec<SlotKindRow> = sqlx::query_as(
                    "SELECT s.id, s.product_id, s.date, s.start_time, s.end_time, s.starts_at, s.ends_at, s.capacity, s.taken, p.kind, s.group_capacity, s.group_taken FROM slots s JOIN products p ON p.id = s.product_id WHERE s.date >= $1",
                )
                .bind(&day)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                let claims: Vec<(Vec<u8>, String, String, i64)> =
                    sqlx::query_as("SELECT id_blind, day, kind, claim_seq FROM tickets WHERE state IN ('held', 'valid') AND day >= $1")
                        .bind(&day)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                let orders: Vec<(i64, String, i64)> =
                    sqlx::query_as("SELECT account_id, day, order_seq FROM orders WHERE state IN ('pending_payment', 'confirmed') AND day >= $1")
                        .bind(&day)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                let seats: Vec<(i64, String)> =
                    sqlx::query_as("SELECT slot_id, seat FROM tickets WHERE state IN ('held', 'valid') AND day >= $1 AND seat IS NOT NULL")
                        .bind(&day)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                let bad = |w: &str| StoreError::Backend(format!("stored {w} is malformed"));
                Ok(LedgerSnapshot {
                    seats: seats.into_iter().map(|(slot, seat)| (SlotId(slot), seat)).collect(),
                    slots: slots
                        .into_iter()
                        .map(|r| {
                            let count = |v: i64| u32::try_from(v).map_err(|_| bad("group stock"));
                            Ok(SlotWithKind { kind: kind(&r.kind)?, group_capacity: count(r.group_capacity)?, group_taken: count(r.group_taken)?, slot: r.slot.into_domain()? })
                        })
                        .collect::<Result<_, StoreError>>()?,
                    claims: claims
                        .into_iter()
                        .map(|(b, d, k, s)| {
                            Ok((BlindIndex::from_slice(&b).ok_or_else(|| bad("blind index"))?, parse_date(&d)?, kind(&k)?, u16::try_from(s).map_err(|_| bad("claim"))?))
                        })
                        .collect::<Result<_, StoreError>>()?,
                    orders: orders
                        .into_iter()
                        .map(|(a, d, s)| Ok((AccountId(a), parse_date(&d)?, u16::try_from(s).map_err(|_| bad("order claim"))?)))
                        .collect::<Result<_, StoreError>>()?,
                })
            }

            async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
                let row: Option<OrderRow> = sqlx::query_as(concat!("SELECT ", order_cols!(), " FROM orders WHERE id = $1"))
                    .bind(&id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                match row {
                    Some(row) => Ok(Some(self.load_order(row).await?)),
                    None => Ok(None),
                }
            }

            async fn order_by_idempotency_key(&self, account: AccountId, key: &str) -> Result<Option<Order>, StoreError> {
                let row: Option<OrderRow> = sqlx::query_as(concat!("SELECT ", order_cols!(), " FROM orders WHERE account_id = $1 AND idempotency_key = $2"))
                    .bind(account.0)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                match row {
                    Some(row) => Ok(Some(self.load_order(row).await?)),
                    None => Ok(None),
                }
            }

            async fn list_orders(&self, account: AccountId, kind_filter: Option<ProductKind>, limit: u32) -> Result<Vec<Order>, StoreError> {
                let rows: Vec<OrderRow> = sqlx::query_as(concat!(
                    "SELECT ", order_cols!(), " FROM orders WHERE account_id = $1 AND ($2 = '' OR kind = $2) ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(account.0)
                .bind(kind_filter.map_or("", ProductKind::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    out.push(self.load_order(row).await?);
                }
                Ok(out)
            }

            async fn orders_to_purge(&self, before: Date, limit: u32) -> Result<Vec<(OrderId, Vec<gatehouse_domain::order::TicketId>)>, StoreError> {
                let rows: Vec<(String, Option<String>)> = sqlx::query_as(
                    "SELECT o.id, t.id FROM (SELECT id FROM orders WHERE personal_purged_at IS NULL AND day < $1 ORDER BY day, id LIMIT $2) o \
                     LEFT JOIN tickets t ON t.order_id = o.id ORDER BY o.id, t.id",
                )
                .bind(before.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                let mut out: Vec<(OrderId, Vec<gatehouse_domain::order::TicketId>)> = Vec::new();
                for (order, ticket) in rows {
                    if out.last().is_none_or(|(o, _)| o.0 != order) {
                        out.push((OrderId(order), Vec::new()));
                    }
                    if let (Some(t), Some((_, tickets))) = (ticket, out.last_mut()) {
                        tickets.push(gatehouse_domain::order::TicketId(t));
                    }
                }
                Ok(out)
            }

            async fn correct_contact_phone(&self, order: &OrderId, sealed: &gatehouse_domain::personal::Sealed, tail: &BlindIndex) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let done = sqlx::query("UPDATE orders SET contact_phone = $1 WHERE id = $2 AND personal_purged_at IS NULL")
                    .bind(&sealed.0)
                    .bind(&order.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("order"));
                }
                sqlx::query("DELETE FROM order_tails WHERE order_id = $1 AND field = 'contact_phone'")
                    .bind(&order.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("INSERT INTO order_tails (order_id, field, tail) VALUES ($1, 'contact_phone', $2)")
                    .bind(&order.0)
                    .bind(tail.0.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn orders_by_tail(&self, tail: &BlindIndex, limit: u32) -> Result<Vec<Order>, StoreError> {
                let rows: Vec<OrderRow> = sqlx::query_as(concat!(
                    "SELECT ", order_cols!(), " FROM orders WHERE id IN (SELECT order_id FROM order_tails WHERE tail = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(tail.0.as_slice())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    out.push(self.load_order(row).await?);
                }
                Ok(out)
            }

            async fn purge_order_personal_data(&self, order: &OrderId, tickets: &[(gatehouse_domain::order::TicketId, BlindIndex)], at: Timestamp) -> Result<(), StoreError> {
                let empty: &[u8] = &[];
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                for (ticket, index) in tickets {
                    sqlx::query("UPDATE tickets SET visitor_name = $1, id_number = $1, id_blind = $2 WHERE id = $3 AND order_id = $4")
                        .bind(empty)
                        .bind(index.0.as_slice())
                        .bind(&ticket.0)
                        .bind(&order.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                }
                sqlx::query("UPDATE orders SET contact_phone = $1, personal_purged_at = $2 WHERE id = $3 AND personal_purged_at IS NULL")
                    .bind(empty)
                    .bind(ms(at))
                    .bind(&order.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("DELETE FROM order_tails WHERE order_id = $1")
                    .bind(&order.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn due_holds(&self, now: Timestamp, limit: u32) -> Result<Vec<OrderId>, StoreError> {
                let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM orders WHERE state = 'pending_payment' AND expires_at <= $1 ORDER BY expires_at LIMIT $2")
                    .bind(ms(now))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(ids.into_iter().map(OrderId).collect())
            }
        }
    };
}
