//! The storage port: what the booking service needs from a database, in the domain's terms.
//! Adapters (gatehouse-store) implement it for SQLite and PostgreSQL; one conformance suite
//! checks both.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::Timestamp;

use crate::catalogue::{
    NewSlot, Notice, Product, ProductId, ProductKind, ProductSpec, Slot, SlotId, TicketType,
    TicketTypeId,
};
use crate::order::{
    AccountId, Order, OrderEvent, OrderId, OrderState, SearchTail, TicketId, TicketState,
};
use crate::payment::{Movement, Payment, PaymentId, Refund, RefundId, RefundState};
use crate::personal::{BlindIndex, Sealed};
use crate::seats::SeatMapLayout;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A constraint refused the write: stock, a claim, a state that moved, a duplicate key.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The (account, Idempotency-Key) pair already names an order.
    #[error("idempotency key already used")]
    DuplicateIdempotencyKey,
    #[error("{0} is still in use")]
    InUse(&'static str),
    #[error("storage failure: {0}")]
    Backend(String),
    /// Not tried: the database kept failing and its circuit breaker is open.
    #[error("database unavailable (circuit open); retry in {retry_after_secs} s")]
    Unavailable { retry_after_secs: u64 },
}

pub use crate::account::Account;

/// A slot with the product kind the ledger needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotWithKind {
    pub slot: Slot,
    pub kind: ProductKind,
    /// The slot's separate group stock.
    pub group_capacity: u32,
    pub group_taken: u32,
}

/// What the ledger is rebuilt from: every bookable slot, and the claims of active tickets and
/// orders from `from_day` on.
#[derive(Debug, Clone, Default)]
pub struct LedgerSnapshot {
    pub slots: Vec<SlotWithKind>,
    pub claims: Vec<(BlindIndex, Date, ProductKind, u16)>,
    pub orders: Vec<(AccountId, Date, u16)>,
    /// Seats of active tickets, per slot.
    pub seats: Vec<(SlotId, String)>,
}

/// A state change of an existing order, applied only if the order is still in `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTransition {
    pub order_id: OrderId,
    pub slot_id: SlotId,
    pub from: OrderState,
    pub to: OrderState,
    /// Tickets that change state; each must currently be active.
    pub tickets: Vec<(TicketId, TicketState)>,
    /// Stock given back to the slot (to its group stock for a group order).
    pub released: u32,
    pub group: bool,
    pub event: OrderEvent,
}

/// One change to the booking ledger. A batch of them commits in one transaction or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerWrite {
    /// Insert an order with its tickets and first history line, taking its stock from the slot
    /// only if the slot has it.
    Place {
        order: Order,
        id_limit: u16,
        order_limit: u16,
        /// The order's search tails (its contact phone's and each ID number's), written with it.
        tails: Vec<SearchTail>,
    },
    Transition(OrderTransition),
    Money(MoneyWrite),
}

/// A change to the money records, committed with the order change it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyWrite {
    OpenPayment(Payment),
    /// Marks a payment paid by `provider_txn`; `Conflict` unless it was open or closed and had
    /// no transaction yet (so one payment is never applied twice).
    PaymentPaid {
        payment: PaymentId,
        provider_txn: String,
    },
    /// Closes an open payment; `Conflict` if it is no longer open.
    PaymentClosed {
        payment: PaymentId,
    },
    /// Appends one line to the order's money ledger.
    Line {
        order_id: OrderId,
        movement: Movement,
        reference: String,
        at: Timestamp,
    },
    OpenRefund(Refund),
    /// Moves a refund on, only if it is still in `from`; `Conflict` otherwise.
    RefundMoved {
        refund: RefundId,
        from: RefundState,
        to: RefundState,
        provider_refund_id: Option<String>,
        at: Timestamp,
    },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Catalogue.
    async fn create_product(&self, spec: &ProductSpec) -> Result<Product, StoreError>;
    async fn update_product(
        &self,
        id: ProductId,
        spec: &ProductSpec,
    ) -> Result<Product, StoreError>;
    async fn get_product(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    async fn list_products(&self) -> Result<Vec<Product>, StoreError>;
    /// Removes a product with its slots, ticket types and notices; `InUse` if it has orders.
    async fn delete_product(&self, id: ProductId) -> Result<(), StoreError>;
    async fn publish_notice(
        &self,
        product: ProductId,
        text: &str,
        at: Timestamp,
    ) -> Result<Notice, StoreError>;
    async fn current_notice(&self, product: ProductId) -> Result<Option<Notice>, StoreError>;
    async fn create_ticket_type(
        &self,
        product: ProductId,
        name: &str,
        price_fen: u32,
    ) -> Result<TicketType, StoreError>;
    async fn list_ticket_types(&self, product: ProductId) -> Result<Vec<TicketType>, StoreError>;
    /// Renames or reprices a ticket type; tickets already sold keep the price they were sold at.
    async fn update_ticket_type(
        &self,
        id: TicketTypeId,
        name: &str,
        price_fen: u32,
    ) -> Result<TicketType, StoreError>;
    async fn get_ticket_type(&self, id: TicketTypeId) -> Result<Option<TicketType>, StoreError>;
    /// `InUse` if tickets of this type were sold.
    async fn delete_ticket_type(&self, id: TicketTypeId) -> Result<(), StoreError>;
    /// Creates a slot; `Conflict` if the product already has a slot on that date at that start.
    async fn create_slot(
        &self,
        slot: &NewSlot,
        starts_at: Timestamp,
        ends_at: Timestamp,
    ) -> Result<Slot, StoreError>;
    async fn get_slot(&self, id: SlotId) -> Result<Option<Slot>, StoreError>;
    async fn list_slots(
        &self,
        product: ProductId,
        from: Date,
        to: Date,
    ) -> Result<Vec<Slot>, StoreError>;
    /// `Conflict` if the capacity would fall below what is taken.
    async fn set_slot_capacity(&self, id: SlotId, capacity: u32) -> Result<(), StoreError>;
    /// Sets a slot's separate group capacity; `Conflict` below what groups hold.
    async fn set_group_capacity(&self, id: SlotId, capacity: u32) -> Result<(), StoreError>;
    /// `InUse` if the slot has orders.
    async fn delete_slot(&self, id: SlotId) -> Result<(), StoreError>;

    // Accounts.
    async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    async fn set_account_lock(
        &self,
        id: AccountId,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    // The booking ledger.
    /// Applies every write in one transaction, or none of them.
    async fn apply(&self, writes: &[LedgerWrite]) -> Result<(), StoreError>;
    async fn ledger_snapshot(&self, from_day: Date) -> Result<LedgerSnapshot, StoreError>;
    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, StoreError>;
    async fn order_by_idempotency_key(
        &self,
        account: AccountId,
        key: &str,
    ) -> Result<Option<Order>, StoreError>;
    /// An account's orders, newest first, optionally of one product kind.
    async fn list_orders(
        &self,
        account: AccountId,
        kind: Option<ProductKind>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError>;
    /// Unpaid orders whose hold ended at or before `now`.
    async fn due_holds(&self, now: Timestamp, limit: u32) -> Result<Vec<OrderId>, StoreError>;
    /// Orders (at most `limit`) visited before `before` whose visitors' personal data is still
    /// held, with their tickets.
    async fn orders_to_purge(
        &self,
        before: Date,
        limit: u32,
    ) -> Result<Vec<(OrderId, Vec<TicketId>)>, StoreError>;
    /// Replaces an order's sealed contact phone (a correction) unless its personal data was
    /// erased; `NotFound` if there is no such order still holding it.
    async fn correct_contact_phone(
        &self,
        order: &OrderId,
        sealed: &Sealed,
        tail: &BlindIndex,
    ) -> Result<(), StoreError>;
    /// Orders (at most `limit`, newest first) with a search tail equal to `tail`.
    async fn orders_by_tail(&self, tail: &BlindIndex, limit: u32)
        -> Result<Vec<Order>, StoreError>;
    /// Erases one order's personal data in one transaction: the contact phone and each ticket's
    /// name and ID number become empty, each ticket's blind index becomes the fresh random one
    /// given, its search tails are deleted, and the order is marked purged at `at`. Counts,
    /// money, states and seats stay.
    async fn purge_order_personal_data(
        &self,
        order: &OrderId,
        tickets: &[(TicketId, BlindIndex)],
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Creates or replaces a theatre's seat map.
    async fn put_seat_map(
        &self,
        theatre: &str,
        layout: &SeatMapLayout,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn seat_maps(&self) -> Result<Vec<(String, SeatMapLayout)>, StoreError>;
    /// ID numbers (blind indexes) locked from booking at `now`, with when each lock ends (the
    /// no-show rule's locks, see [`crate::no_show`]).
    async fn active_id_locks(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(BlindIndex, Timestamp)>, StoreError>;
}
