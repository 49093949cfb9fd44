//! The order lifecycle: place (validate, decide in the ledger, seal personal data, group-commit),
//! read with masked personal data, cancel, refund, and expire unpaid holds.

use gatehouse_domain::catalogue::{Product, Slot, SlotId, TicketTypeId};
use gatehouse_domain::identity::{
    mask_id_number, mask_name, mask_phone, IdDocument, IdKind, PersonName, Phone,
};
use gatehouse_domain::ledger::{Pool, Release, ReserveRequest, Seating};
use gatehouse_domain::order::{
    AccountId, Order, OrderEvent, OrderId, OrderState, Ticket, TicketId, TicketState,
};
use gatehouse_domain::personal::{BlindIndex, PersonalField, Sealed, Sensitive};
use gatehouse_domain::sealed_column::SealedColumn;
use gatehouse_domain::store::{Account, LedgerWrite, OrderTransition, StoreError};
use gatehouse_domain::window::BookingWindow;
use gatehouse_domain::{BookingError, ProductKind};
use jiff::{SignedDuration, Timestamp};

use gatehouse_privacy::SubjectKey;

use crate::BookingService;

/// A visitor named on a ticket, as the caller sent it (in clear until sealed: `Sensitive`).
#[derive(Debug)]
pub struct VisitorInput {
    pub name: Sensitive,
    pub id_kind: IdKind,
    pub id_number: Sensitive,
}

impl VisitorInput {
    pub fn new(name: impl Into<String>, id_kind: IdKind, id_number: impl Into<String>) -> Self {
        Self {
            name: Sensitive::new(PersonalField::VisitorName, name),
            id_kind,
            id_number: Sensitive::new(PersonalField::IdNumber, id_number),
        }
    }
}

/// A request to book: one slot, one ticket per visitor.
#[derive(Debug)]
pub struct PlaceOrder {
    pub slot_id: SlotId,
    /// The notice version the visitor accepted.
    pub notice_version: u32,
    pub contact_phone: Sensitive,
    pub tickets: Vec<(TicketTypeId, VisitorInput)>,
    /// For a group order: the approved organisation it books for (the slot's group capacity
    /// is taken, and the per-order maximum does not apply; see `BookingService::place_group_order`).
    pub organisation: Option<gatehouse_domain::group::OrganisationId>,
    /// For a seated showing: one seat label per ticket (`seats[i]` for `tickets[i]`), or none
    /// for the best available seats side by side.
    pub seats: Vec<String>,
    /// The ID numbers the account holds a valid face-verification pass for (needed only when
    /// the product requires one; see [`BookingService::requires_face_verification`]).
    pub face_passes: Vec<BlindIndex>,
}

/// A ticket with its visitor masked for display.
#[derive(Debug, Clone)]
pub struct MaskedTicket {
    pub ticket: Ticket,
    pub ticket_type_name: String,
    pub visitor_name: String,
    pub id_number: String,
    /// The signed code its QR shows, for a valid ticket (when codes are configured).
    pub code: Option<String>,
}

/// An order as its owner (or staff) sees it: personal data masked.
#[derive(Debug, Clone)]
pub struct OrderDetails {
    pub order: Order,
    pub product_name: String,
    pub slot: Option<Slot>,
    pub contact_phone: String, // personal-data: masked (`138****5678`)
    pub tickets: Vec<MaskedTicket>,
    /// For a group order with valid tickets: one code that admits all its members at once (an
    /// alternative to each member's own code; whichever comes first admits a member once).
    pub group_code: Option<String>,
}

use gatehouse_domain::access::Permission;
use gatehouse_domain::order::{tail_of, SearchTail, TailOf, TAIL_LEN};
use gatehouse_domain::personal::ID_NUMBER_INDEX as ID_NAMESPACE;
use gatehouse_domain::personal::SEARCH_TAIL_INDEX;

/// What a display shows for personal data erased after the visit.
pub const ERASED: &str = "(erased)";

struct ValidVisitor {
    ticket_type_id: TicketTypeId,
    price_fen: u32,
    name: PersonName,
    document: IdDocument,
    blind: BlindIndex,
}

impl BookingService {
    /// The lock that serialises changes to one order; hold it from reading the order to
    /// committing its change.
    pub fn order_lock(&self, id: &OrderId) -> &tokio::sync::Mutex<()> {
        let h = id.0.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        let n = self.order_locks.len().max(1);
        // The vector is built with 64 entries and never shrinks.
        #[allow(clippy::indexing_slicing)]
        &self.order_locks[h % n]
    }

    /// Validates a request into sealed-ready parts; every error names its field.
    fn validate(
        &self,
        req: &PlaceOrder,
        product: &Product,
        now: Timestamp,
    ) -> Result<(Phone, Vec<ValidVisitor>), BookingError> {
        let phone = Phone::parse(req.contact_phone.expose())
            .map_err(|m| BookingError::invalid("contact_phone", m))?;
        if req.tickets.is_empty() {
            return Err(BookingError::invalid(
                "tickets",
                "name at least one visitor",
            ));
        }
        let max = match req.organisation {
            Some(_) => gatehouse_domain::group::MAX_GROUP_SIZE,
            None => usize::from(product.spec.rules.max_visitors_per_order),
        };
        if req.tickets.len() > max {
            return Err(BookingError::TooManyVisitors {
                max: u16::try_from(max).unwrap_or(u16::MAX),
            });
        }
        let today = now.to_zoned(self.config.museum_tz.clone()).date();
        let mut visitors = Vec::with_capacity(req.tickets.len());
        for (i, (tt, v)) in req.tickets.iter().enumerate() {
            let ticket_type = self
                .cached_ticket_type(*tt)
                .filter(|t| t.product_id == product.id)
                .ok_or_else(|| {
                    BookingError::invalid(
                        format!("tickets[{i}].ticket_type_id"),
                        "is not a ticket type of this product",
                    )
                })?;
            let name = PersonName::parse(v.name.expose())
                .map_err(|m| BookingError::invalid(format!("tickets[{i}].visitor.name"), m))?;
            let document = IdDocument::parse(v.id_kind, v.id_number.expose(), today)
                .map_err(|m| BookingError::invalid(format!("tickets[{i}].visitor.id_number"), m))?;
            let blind = BlindIndex(self.vault.blind_index(ID_NAMESPACE, document.normalised()));
            visitors.push(ValidVisitor {
                ticket_type_id: ticket_type.id,
                price_fen: ticket_type.price_fen,
                name,
                document,
                blind,
            });
        }
        Ok((phone, visitors))
    }

    /// A keyed digest of the request, to tell a retry (same digest) from a reused key.
    fn request_digest(&self, req: &PlaceOrder, phone: &Phone, visitors: &[ValidVisitor]) -> String {
        let mut canonical = format!(
            "{}|{}|{}",
            req.slot_id.0,
            req.notice_version,
            phone.as_str()
        );
        for v in visitors {
            canonical.push_str(&format!(
                "|{}:{}:{}:{}",
                v.ticket_type_id.0,
                v.name.as_str(),
                v.document.kind().as_str(),
                v.document.normalised()
            ));
        }
        for seat in &req.seats {
            canonical.push_str(&format!("|seat:{seat}"));
        }
        hex::encode(self.vault.blind_index("request", &canonical))
    }

    /// Places an order for `account`. Free orders are confirmed at once; others hold their stock
    /// until they are paid or their hold expires.
    /// Whether booking this slot needs a face-verification pass (so callers look passes up
    /// only then).
    pub fn requires_face_verification(&self, slot: SlotId) -> bool {
        let cache = self.cache();
        cache
            .slots
            .get(&slot)
            .and_then(|s| cache.products.get(&s.product_id))
            .is_some_and(|p| p.spec.rules.face_verification_required)
    }

    pub async fn place_order(
        &self,
        account: &Account,
        req: PlaceOrder,
        idempotency_key: Option<String>,
    ) -> Result<OrderDetails, BookingError> {
        let now = self.clock.now();
        if let Some(until) = account.locked_until.filter(|u| *u > now) {
            return Err(BookingError::AccountLocked { until });
        }
        let slot = self
            .cached_slot(req.slot_id)
            .ok_or_else(|| BookingError::invalid("slot_id", "no such slot"))?;
        let product = self
            .cached_product(slot.product_id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        if req.notice_version != product.notice_version {
            return Err(BookingError::NoticeOutdated {
                current: product.notice_version,
            });
        }
        let (phone, visitors) = self.validate(&req, &product, now)?;
        for (visitor, v) in visitors.iter().enumerate() {
            if let Some(until) = self.id_locked_until(&v.blind, now) {
                return Err(BookingError::IdLocked { visitor, until });
            }
        }
        if product.spec.rules.face_verification_required
            && !visitors.iter().any(|v| req.face_passes.contains(&v.blind))
        {
            return Err(BookingError::FaceVerificationRequired);
        }
        BookingWindow::of(&slot, &product.spec.rules, &self.config.museum_tz).check(now)?;

        let digest = self.request_digest(&req, &phone, &visitors);
        let data_key = self.sealing_key(account.id).await?;
        if let Some(key) = &idempotency_key {
            if let Some(existing) = self
                .store
                .order_by_idempotency_key(account.id, key)
                .await
                .map_err(|e| self.store_error(e))?
            {
                return self.replay(&data_key, existing, &digest);
            }
        }

        let blinds: Vec<BlindIndex> = visitors.iter().map(|v| v.blind).collect();
        let rules = &product.spec.rules;
        let seat_map = self.seat_map_of(&product);
        let chosen = self.chosen_seats(&req, seat_map.as_deref())?;
        let seating = match (&seat_map, chosen.is_empty()) {
            (None, _) => Seating::Unseated,
            (Some(map), true) => Seating::Best(map),
            (Some(_), false) => Seating::Chosen(&chosen),
        };
        let reservation = self.ledger().reserve(ReserveRequest {
            account: account.id,
            slot: slot.id,
            visitors: &blinds,
            rules,
            seating,
            pool: if req.organisation.is_some() {
                Pool::Group
            } else {
                Pool::Public
            },
        })?;

        let order_id = OrderId(uuid::Uuid::now_v7().to_string());
        let total_fen: u64 = visitors.iter().map(|v| u64::from(v.price_fen)).sum();
        let (state, ticket_state, expires_at) = if total_fen == 0 {
            (OrderState::Confirmed, TicketState::Valid, None)
        } else {
            (
                OrderState::PendingPayment,
                TicketState::Held,
                Some(now + SignedDuration::from_mins(i64::from(rules.hold_minutes))),
            )
        };
        let tickets = visitors
            .iter()
            .zip(&reservation.claim_seqs)
            .enumerate()
            .map(|(i, (v, seq))| {
                let id = uuid::Uuid::now_v7().to_string();
                Ticket {
                    visitor_name: data_key.seal(
                        v.name.as_str(),
                        &SealedColumn::TicketVisitorName.context(&id),
                    ),
                    id_number: data_key.seal(
                        v.document.normalised(),
                        &SealedColumn::TicketIdNumber.context(&id),
                    ),
                    id: TicketId(id),
                    ticket_type_id: v.ticket_type_id,
                    price_fen: v.price_fen,
                    id_kind: v.document.kind(),
                    id_blind: v.blind,
                    claim_seq: *seq,
                    state: ticket_state,
                    seat: reservation.seats.get(i).cloned(),
                }
            })
            .collect();
        let order = Order {
            contact_phone: data_key.seal(
                phone.as_str(),
                &SealedColumn::OrderContactPhone.context(&order_id.0),
            ),
            id: order_id,
            account_id: account.id,
            product_id: product.id,
            kind: product.spec.kind,
            slot_id: slot.id,
            day: slot.date,
            order_seq: reservation.order_seq,
            state,
            notice_version: req.notice_version,
            total_fen,
            created_at: now,
            expires_at,
            idempotency_key: idempotency_key.clone(),
            request_digest: Some(digest.clone()),
            organisation: req.organisation,
            tickets,
            history: vec![OrderEvent {
                at: now,
                from: None,
                to: state,
                note: if total_fen == 0 {
                    "booked (free)".into()
                } else {
                    "booked; awaiting payment".into()
                },
            }],
        };
        let mut tails = vec![self.search_tail(TailOf::ContactPhone, phone.as_str())];
        tails.extend(
            visitors
                .iter()
                .map(|v| self.search_tail(TailOf::IdNumber, v.document.normalised())),
        );
        let write = LedgerWrite::Place {
            order: order.clone(),
            id_limit: rules.id_limit_per_day,
            order_limit: rules.max_orders_per_account_per_day,
            tails: tails.into_iter().flatten().collect(),
        };
        match self.committer.commit(write).await {
            Ok(()) => Ok(self.details(&data_key, order, &product, Some(slot))),
            Err(e) => {
                self.ledger().undo(&reservation, &blinds);
                match (e, idempotency_key) {
                    (StoreError::DuplicateIdempotencyKey, Some(key)) => {
                        // A concurrent retry with the same key won the race: answer with its order.
                        let existing = self
                            .store
                            .order_by_idempotency_key(account.id, &key)
                            .await
                            .map_err(|e| self.store_error(e))?;
                        existing.map_or(Err(BookingError::Unavailable), |o| {
                            self.replay(&data_key, o, &digest)
                        })
                    }
                    (e, _) => Err(self.store_error(e)),
                }
            }
        }
    }

    fn replay(
        &self,
        key: &SubjectKey,
        existing: Order,
        digest: &str,
    ) -> Result<OrderDetails, BookingError> {
        if existing.request_digest.as_deref() != Some(digest) {
            return Err(BookingError::IdempotencyMismatch);
        }
        let product = self
            .cached_product(existing.product_id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        let slot = self.cached_slot(existing.slot_id);
        Ok(self.details(key, existing, &product, slot))
    }

    fn open_masked(
        key: &SubjectKey,
        sealed: &Sealed,
        context: &str,
        mask: impl Fn(&str) -> String,
    ) -> String {
        // Erased after the visit (retention): nothing to open.
        if sealed.is_erased() {
            return ERASED.into();
        }
        match key.open(sealed, context) {
            Ok(plain) => mask(&plain),
            Err(_) => {
                tracing::error!(context, "a sealed value did not open");
                "***".into()
            }
        }
    }

    fn details(
        &self,
        key: &SubjectKey,
        order: Order,
        product: &Product,
        slot: Option<Slot>,
    ) -> OrderDetails {
        let contact_phone = Self::open_masked(
            key,
            &order.contact_phone,
            &SealedColumn::OrderContactPhone.context(&order.id.0),
            mask_phone,
        );
        let issuer = self.code_issuer.get();
        let tickets = order
            .tickets
            .iter()
            .map(|t| MaskedTicket {
                code: match (issuer, &slot) {
                    (Some(issuer), Some(slot)) if t.state == TicketState::Valid => {
                        issuer.issue(&t.id, slot)
                    }
                    _ => None,
                },
                ticket_type_name: self
                    .cached_ticket_type(t.ticket_type_id)
                    .map(|tt| tt.name)
                    .unwrap_or_default(),
                visitor_name: Self::open_masked(
                    key,
                    &t.visitor_name,
                    &SealedColumn::TicketVisitorName.context(&t.id.0),
                    mask_name,
                ),
                id_number: Self::open_masked(
                    key,
                    &t.id_number,
                    &SealedColumn::TicketIdNumber.context(&t.id.0),
                    |n| mask_id_number(t.id_kind, n),
                ),
                ticket: t.clone(),
            })
            .collect();
        let valid = order
            .tickets
            .iter()
            .filter(|t| t.state == TicketState::Valid)
            .count();
        let group_code = match (issuer, &slot, u16::try_from(valid)) {
            (Some(issuer), Some(slot), Ok(head_count))
                if order.organisation.is_some() && head_count > 0 =>
            {
                issuer.issue_group(&order.id, head_count, slot)
            }
            _ => None,
        };
        OrderDetails {
            product_name: product.spec.name.clone(),
            slot,
            contact_phone,
            tickets,
            group_code,
            order,
        }
    }

    /// A slot from the cache, or from the store for past days the cache no longer holds.
    pub(crate) async fn slot_of(&self, id: SlotId) -> Result<Option<Slot>, BookingError> {
        match self.cached_slot(id) {
            Some(s) => Ok(Some(s)),
            None => self
                .store
                .get_slot(id)
                .await
                .map_err(|e| self.store_error(e)),
        }
    }

    pub(crate) async fn load_details(&self, order: Order) -> Result<OrderDetails, BookingError> {
        let slot = self.slot_of(order.slot_id).await?;
        let product = match self.cached_product(order.product_id) {
            Some(p) => p,
            None => self
                .store
                .get_product(order.product_id)
                .await
                .map_err(|e| self.store_error(e))?
                .ok_or(BookingError::NotFound { what: "product" })?,
        };
        let key = self.opening_key(order.account_id).await?;
        Ok(self.details(&key, order, &product, slot))
    }

    /// An order of `account`, or any order for staff holding `staff_permission`. Someone else's
    /// order is "not found", exactly like an id that does not exist.
    pub async fn owned_order(
        &self,
        account: &Account,
        id: &OrderId,
        staff_permission: Permission,
    ) -> Result<Order, BookingError> {
        match self
            .store
            .get_order(id)
            .await
            .map_err(|e| self.store_error(e))?
        {
            Some(o) if o.account_id == account.id || account.roles.allow(staff_permission) => Ok(o),
            _ => Err(BookingError::NotFound { what: "order" }),
        }
    }

    pub async fn get_order(
        &self,
        account: &Account,
        id: &OrderId,
    ) -> Result<OrderDetails, BookingError> {
        let order = self
            .owned_order(account, id, Permission::OrdersRead)
            .await?;
        self.load_details(order).await
    }

    /// The search tail of `value`, if it is long enough to have one.
    pub(crate) fn search_tail(&self, of: TailOf, value: &str) -> Option<SearchTail> {
        let tail = tail_of(value)?;
        Some(SearchTail {
            of,
            index: BlindIndex(self.vault.blind_index(SEARCH_TAIL_INDEX, &tail)),
        })
    }

    /// Orders (newest first, at most `limit`) whose contact phone or any ID number ends in
    /// `tail` (four characters), for staff who may read orders; shown masked like any order.
    pub async fn find_orders_by_tail(
        &self,
        staff: &Account,
        tail: &str,
        limit: u32,
    ) -> Result<Vec<OrderDetails>, BookingError> {
        if !staff.roles.allow(Permission::OrdersRead) {
            return Err(BookingError::Forbidden);
        }
        let tail = tail.trim();
        if tail.chars().count() != TAIL_LEN || !tail.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(BookingError::invalid(
                "tail",
                "is the last 4 characters of a phone or ID number",
            ));
        }
        let Some(search) = self.search_tail(TailOf::ContactPhone, tail) else {
            return Ok(Vec::new());
        };
        let orders = self
            .store
            .orders_by_tail(&search.index, limit.clamp(1, 100))
            .await
            .map_err(|e| self.store_error(e))?;
        let mut out = Vec::with_capacity(orders.len());
        for o in orders {
            out.push(self.load_details(o).await?);
        }
        Ok(out)
    }

    pub async fn list_orders(
        &self,
        account: AccountId,
        kind: Option<ProductKind>,
        limit: u32,
    ) -> Result<Vec<OrderDetails>, BookingError> {
        let orders = self
            .store
            .list_orders(account, kind, limit.clamp(1, 100))
            .await
            .map_err(|e| self.store_error(e))?;
        let mut out = Vec::with_capacity(orders.len());
        for o in orders {
            out.push(self.load_details(o).await?);
        }
        Ok(out)
    }

    /// Commits a transition and, once it is durable, gives its stock and claims back to the ledger.
    async fn transition(
        &self,
        order: &Order,
        to: OrderState,
        tickets: &[usize],
        new_state: TicketState,
        note: String,
    ) -> Result<(), BookingError> {
        self.transition_with(order, to, tickets, new_state, note, Vec::new())
            .await
    }

    /// [`Self::transition`], committing `money` writes in the same transaction.
    pub(crate) async fn transition_with(
        &self,
        order: &Order,
        to: OrderState,
        tickets: &[usize],
        new_state: TicketState,
        note: String,
        money: Vec<LedgerWrite>,
    ) -> Result<(), BookingError> {
        let moving: Vec<&Ticket> = tickets
            .iter()
            .filter_map(|i| order.tickets.get(*i))
            .collect();
        let released = u32::try_from(moving.len()).unwrap_or(u32::MAX);
        let t = OrderTransition {
            order_id: order.id.clone(),
            slot_id: order.slot_id,
            from: order.state,
            to,
            tickets: moving.iter().map(|t| (t.id.clone(), new_state)).collect(),
            released,
            group: order.organisation.is_some(),
            event: OrderEvent {
                at: self.clock.now(),
                from: Some(order.state),
                to,
                note,
            },
        };
        let mut unit = Vec::with_capacity(1 + money.len());
        unit.push(LedgerWrite::Transition(t));
        unit.extend(money);
        self.committer.commit_all(unit).await.map_err(|e| match e {
            StoreError::Conflict(_) => BookingError::InvalidState {
                state: "changed",
                action: "changed now; reload it",
            },
            other => self.store_error(other),
        })?;
        self.ledger().release(&Release {
            slot: order.slot_id,
            day: order.day,
            kind: order.kind,
            account: order.account_id,
            order_seq: (!to.is_active()).then_some(order.order_seq),
            claims: moving.iter().map(|t| (t.id_blind, t.claim_seq)).collect(),
            seats: moving.iter().filter_map(|t| t.seat.clone()).collect(),
            pool: if order.organisation.is_some() {
                Pool::Group
            } else {
                Pool::Public
            },
        });
        Ok(())
    }

    /// The owner cancels an unpaid order; its stock returns at once.
    pub async fn cancel_order(
        &self,
        account: &Account,
        id: &OrderId,
    ) -> Result<OrderDetails, BookingError> {
        let _guard = self.order_lock(id).lock().await;
        let order = self
            .owned_order(account, id, Permission::OrdersManage)
            .await?;
        order.cancel()?;
        let active = order.active_ticket_positions();
        let note = if account.id != order.account_id {
            "cancelled by staff"
        } else {
            "cancelled by owner"
        };
        self.transition(
            &order,
            OrderState::Cancelled,
            &active,
            TicketState::Released,
            note.into(),
        )
        .await?;
        self.get_order(account, id).await
    }

    /// Expires every unpaid order whose hold ended by `now`. Returns how many expired.
    pub async fn expire_due_holds(&self, now: Timestamp) -> Result<usize, BookingError> {
        let due = self
            .store
            .due_holds(now, 500)
            .await
            .map_err(|e| self.store_error(e))?;
        let mut expired = 0;
        for id in due {
            let _guard = self.order_lock(&id).lock().await;
            let Some(order) = self
                .store
                .get_order(&id)
                .await
                .map_err(|e| self.store_error(e))?
            else {
                continue;
            };
            if !order.is_expired_hold(now) {
                continue;
            }
            let active = order.active_ticket_positions();
            match self
                .transition(
                    &order,
                    OrderState::Expired,
                    &active,
                    TicketState::Released,
                    "hold expired unpaid".into(),
                )
                .await
            {
                Ok(()) => expired += 1,
                Err(e) => tracing::warn!(order = %id.0, error = %e, "could not expire hold"),
            }
        }
        Ok(expired)
    }
}
