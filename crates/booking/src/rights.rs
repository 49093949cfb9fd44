//! Data-subject rights on orders: whether an account still has visits ahead (an erasure waits
//! for them), and correcting an order's contact phone.

use gatehouse_domain::identity::Phone;
use gatehouse_domain::order::{AccountId, OrderId, OrderState, TailOf, TicketState};
use gatehouse_domain::personal::Sensitive;
use gatehouse_domain::sealed_column::SealedColumn;
use gatehouse_domain::store::{Account, StoreError};
use gatehouse_domain::BookingError;

use crate::BookingService;

impl BookingService {
    /// How many of the account's orders are still ahead: unpaid, or paid with a ticket valid
    /// for today or later. An erasure waits until they are over (or cancelled): erasing would
    /// take the names and ID numbers the gate checks.
    pub async fn upcoming_visits(&self, account: AccountId) -> Result<usize, BookingError> {
        let today = self.today();
        let orders = self
            .store
            .list_orders(account, None, 10_000)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(orders
            .iter()
            .filter(|o| {
                o.day >= today
                    && (o.state == OrderState::PendingPayment
                        || (o.state == OrderState::Confirmed
                            && o.tickets.iter().any(|t| t.state == TicketState::Valid)))
            })
            .count())
    }

    /// Corrects an order's contact phone (the visitor's own order, before its data is erased
    /// after the visit).
    pub async fn correct_contact_phone(
        &self,
        account: &Account,
        order: &OrderId,
        contact_phone: &Sensitive,
    ) -> Result<(), BookingError> {
        let found = self
            .owned_order(
                account,
                order,
                gatehouse_domain::access::Permission::OrdersManage,
            )
            .await?;
        let phone = Phone::parse(contact_phone.expose())
            .map_err(|m| BookingError::invalid("contact_phone", m))?;
        let key = self.sealing_key(found.account_id).await?;
        let sealed = key.seal(
            phone.as_str(),
            &SealedColumn::OrderContactPhone.context(&found.id.0),
        );
        let tail = self
            .search_tail(TailOf::ContactPhone, phone.as_str())
            .ok_or_else(|| BookingError::invalid("contact_phone", "is too short"))?;
        self.store
            .correct_contact_phone(&found.id, &sealed, &tail.index)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => BookingError::NotFound {
                    what: "personal data (erased after the visit)",
                },
                other => self.store_error(other),
            })
    }
}
