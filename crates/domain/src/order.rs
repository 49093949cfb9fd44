//! Orders and tickets: their states, the transitions allowed between them, and the history each
//! order keeps.
//!
//! An order is for one slot and names one visitor per ticket. It is created holding stock:
//! `pending_payment` with an expiry, or `confirmed` at once when it costs nothing. Unpaid orders
//! can be cancelled by their owner or expire; confirmed tickets can be refunded one by one.

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalogue::{ProductId, ProductKind, SlotId, TicketTypeId};
use crate::error::BookingError;
use crate::identity::IdKind;
use crate::personal::{BlindIndex, Sealed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub i64);

/// Orders and tickets are named by UUIDv7 text, made by the booking service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrderId(pub String);
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TicketId(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    PendingPayment,
    Confirmed,
    Cancelled,
    Expired,
    /// Every ticket refunded.
    Refunded,
}

impl OrderState {
    pub const ALL: [OrderState; 5] = [
        Self::PendingPayment,
        Self::Confirmed,
        Self::Cancelled,
        Self::Expired,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the order still counts against the account's orders-per-day limit.
    pub fn is_active(self) -> bool {
        matches!(self, Self::PendingPayment | Self::Confirmed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Held by an unpaid order.
    Held,
    /// Sold; valid for entry.
    Valid,
    Refunded,
    /// Released with its cancelled or expired order.
    Released,
}

impl TicketState {
    pub const ALL: [TicketState; 4] = [Self::Held, Self::Valid, Self::Refunded, Self::Released];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Valid => "valid",
            Self::Refunded => "refunded",
            Self::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the ticket takes stock and counts against its visitor's ID limit.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Held | Self::Valid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub ticket_type_id: TicketTypeId,
    pub price_fen: u32,
    pub visitor_name: Sealed,
    pub id_kind: IdKind,
    pub id_number: Sealed,
    pub id_blind: BlindIndex,
    /// Which of the ID's per-day claims this ticket uses (0..limit); unique among active tickets.
    pub claim_seq: u16,
    pub state: TicketState,
    /// The cinema seat (e.g. `F7`), for a seated showing; unique among the slot's active tickets.
    pub seat: Option<String>,
}

/// Which value a [`SearchTail`] is the tail of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailOf {
    ContactPhone,
    IdNumber,
}

impl TailOf {
    pub fn as_str(self) -> &'static str {
        match self {
            TailOf::ContactPhone => "contact_phone",
            TailOf::IdNumber => "id_number",
        }
    }
}

/// The keyed blind index of the last four characters of an order's contact phone or of one of
/// its ID numbers: support finds an order by the suffix a caller reads out (the same four
/// characters every masked display shows), while the store holds none of it in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchTail {
    pub of: TailOf,
    pub index: BlindIndex,
}

/// How many trailing characters a search tail covers.
pub const TAIL_LEN: usize = 4;

/// The normalised tail of `value` (its last [`TAIL_LEN`] characters, upper case), or `None`
/// if it is shorter.
pub fn tail_of(value: &str) -> Option<String> {
    let chars: Vec<char> = value.trim().chars().collect();
    let start = chars.len().checked_sub(TAIL_LEN)?;
    Some(
        chars
            .get(start..)?
            .iter()
            .collect::<String>()
            .to_uppercase(),
    )
}

#[cfg(test)]
mod tail_tests {
    use super::tail_of;

    #[test]
    fn a_tail_is_the_last_four_characters_in_upper_case() {
        assert_eq!(tail_of("13800138000").as_deref(), Some("8000"));
        assert_eq!(tail_of("11010519491231002x").as_deref(), Some("002X"));
        assert_eq!(tail_of(" 002x ").as_deref(), Some("002X"));
        assert_eq!(tail_of("123"), None);
    }
}

/// One line of an order's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub at: Timestamp,
    pub from: Option<OrderState>,
    pub to: OrderState,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub account_id: AccountId,
    pub product_id: ProductId,
    pub kind: ProductKind,
    pub slot_id: SlotId,
    /// The slot's date: the day limits count against.
    pub day: Date,
    /// Which of the account's per-day order claims this order uses; unique among active orders.
    pub order_seq: u16,
    pub state: OrderState,
    pub notice_version: u32,
    pub contact_phone: Sealed,
    pub total_fen: u64,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub idempotency_key: Option<String>,
    /// A digest of the request that created the order, to tell a retry from a reused key.
    pub request_digest: Option<String>,
    /// For a group order: the organisation it books for (its tickets take the slot's group
    /// capacity, not the public one).
    pub organisation: Option<crate::group::OrganisationId>,
    pub tickets: Vec<Ticket>,
    pub history: Vec<OrderEvent>,
}

impl Order {
    pub fn active_tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.iter().filter(|t| t.state.is_active())
    }

    /// Positions of the tickets that still hold stock: what cancelling or expiring releases.
    pub fn active_ticket_positions(&self) -> Vec<usize> {
        self.tickets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state.is_active())
            .map(|(i, _)| i)
            .collect()
    }

    /// The owner cancels an unpaid order.
    pub fn cancel(&self) -> Result<(), BookingError> {
        match self.state {
            OrderState::PendingPayment => Ok(()),
            s => Err(BookingError::InvalidState {
                state: s.as_str(),
                action: "cancelled",
            }),
        }
    }

    /// An unpaid order's hold ran out.
    pub fn is_expired_hold(&self, now: Timestamp) -> bool {
        self.state == OrderState::PendingPayment && self.expires_at.is_some_and(|e| e <= now)
    }

    /// Checks a refund of `ticket_ids` of this order, before `slot_starts_at`; returns the indexes
    /// of the tickets to refund and the state the order ends in.
    pub fn plan_refund(
        &self,
        ticket_ids: &[TicketId],
        now: Timestamp,
        slot_starts_at: Timestamp,
    ) -> Result<(Vec<usize>, OrderState), BookingError> {
        if self.state != OrderState::Confirmed {
            return Err(BookingError::InvalidState {
                state: self.state.as_str(),
                action: "refunded",
            });
        }
        if now >= slot_starts_at {
            return Err(BookingError::RefundClosed);
        }
        if ticket_ids.is_empty() {
            return Err(BookingError::invalid(
                "ticket_ids",
                "name at least one ticket",
            ));
        }
        let mut picked = Vec::with_capacity(ticket_ids.len());
        for (i, wanted) in ticket_ids.iter().enumerate() {
            let Some(pos) = self.tickets.iter().position(|t| &t.id == wanted) else {
                return Err(BookingError::invalid(
                    format!("ticket_ids[{i}]"),
                    "is not a ticket of this order",
                ));
            };
            if picked.contains(&pos) {
                return Err(BookingError::invalid(
                    format!("ticket_ids[{i}]"),
                    "is named twice",
                ));
            }
            if self.tickets.get(pos).map(|t| t.state) != Some(TicketState::Valid) {
                return Err(BookingError::invalid(
                    format!("ticket_ids[{i}]"),
                    "is not a valid ticket",
                ));
            }
            picked.push(pos);
        }
        let still_valid = self
            .tickets
            .iter()
            .filter(|t| t.state == TicketState::Valid)
            .count()
            - picked.len();
        let end = if still_valid == 0 {
            OrderState::Refunded
        } else {
            OrderState::Confirmed
        };
        Ok((picked, end))
    }
}
