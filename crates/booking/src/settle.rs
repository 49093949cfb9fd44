//! What payments ask of booking: confirm a paid order, refund tickets together with the money
//! that goes back, and commit money records alone, each in one transaction with the order
//! change it belongs to. The payment service decides the money; booking owns the order and the
//! stock.

use gatehouse_domain::access::Permission;
use gatehouse_domain::order::{
    Order, OrderEvent, OrderId, OrderState, Ticket, TicketId, TicketState,
};
use gatehouse_domain::store::{Account, LedgerWrite, OrderTransition, StoreError};
use gatehouse_domain::BookingError;

use crate::{BookingService, OrderDetails};

impl BookingService {
    /// An order by id, whoever owns it (for the payment service, which holds the order lock).
    pub async fn order(&self, id: &OrderId) -> Result<Option<Order>, BookingError> {
        self.store
            .get_order(id)
            .await
            .map_err(|e| self.store_error(e))
    }

    /// The masked view of an order, whoever owns it.
    pub async fn order_details(&self, order: Order) -> Result<OrderDetails, BookingError> {
        self.load_details(order).await
    }

    /// Confirms a pending order that was paid: its held tickets become valid, its stock stays
    /// taken, and `money` (the payment marked paid, its charge) commits in the same
    /// transaction. The caller holds the order lock. `InvalidState` if the order moved on.
    pub async fn confirm_paid(
        &self,
        order: &Order,
        note: String,
        money: Vec<LedgerWrite>,
    ) -> Result<(), BookingError> {
        if order.state != OrderState::PendingPayment {
            return Err(BookingError::InvalidState {
                state: order.state.as_str(),
                action: "paid",
            });
        }
        let t = OrderTransition {
            order_id: order.id.clone(),
            slot_id: order.slot_id,
            from: order.state,
            to: OrderState::Confirmed,
            tickets: order
                .active_tickets()
                .map(|t| (t.id.clone(), TicketState::Valid))
                .collect(),
            released: 0,
            group: order.organisation.is_some(),
            event: OrderEvent {
                at: self.clock.now(),
                from: Some(order.state),
                to: OrderState::Confirmed,
                note,
            },
        };
        let mut unit = Vec::with_capacity(1 + money.len());
        unit.push(LedgerWrite::Transition(t));
        unit.extend(money);
        self.committer
            .commit_all(unit)
            .await
            .map_err(|e| self.moved_or(e))
    }

    /// Commits money records that change no order (a late payment and its refund, a refund's
    /// progress), all or nothing.
    pub async fn commit_money(&self, money: Vec<LedgerWrite>) -> Result<(), BookingError> {
        self.committer
            .commit_all(money)
            .await
            .map_err(|e| self.moved_or(e))
    }

    fn moved_or(&self, e: StoreError) -> BookingError {
        match e {
            StoreError::Conflict(_) => BookingError::InvalidState {
                state: "changed",
                action: "changed now; reload it",
            },
            other => self.store_error(other),
        }
    }

    /// Refunds some tickets of a confirmed order before its slot starts; their stock returns.
    /// `money` turns the refunded tickets into the money writes that commit with them (the
    /// refund record and its ledger line), or refuses the refund.
    pub async fn refund_tickets(
        &self,
        account: &Account,
        id: &OrderId,
        ticket_ids: &[TicketId],
        reason: Option<&str>,
        money: impl FnOnce(&Order, &[&Ticket]) -> Result<Vec<LedgerWrite>, BookingError>,
    ) -> Result<OrderDetails, BookingError> {
        let _guard = self.order_lock(id).lock().await;
        let order = self
            .owned_order(account, id, Permission::OrdersManage)
            .await?;
        let slot = self
            .slot_of(order.slot_id)
            .await?
            .ok_or(BookingError::RefundClosed)?;
        let (picked, end) = order.plan_refund(ticket_ids, self.clock.now(), slot.starts_at)?;
        let tickets: Vec<&Ticket> = picked
            .iter()
            .filter_map(|i| order.tickets.get(*i))
            .collect();
        let writes = money(&order, &tickets)?;
        let note = match reason {
            Some(r) => format!("{} ticket(s) refunded: {r}", picked.len()),
            None => format!("{} ticket(s) refunded", picked.len()),
        };
        self.transition_with(&order, end, &picked, TicketState::Refunded, note, writes)
            .await?;
        self.get_order(account, id).await
    }
}
