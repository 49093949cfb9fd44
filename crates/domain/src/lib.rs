//! The booking domain of Gatehouse: catalogue, booking windows, real-name documents, purchase
//! limits and the in-memory stock ledger that decides every reservation.
//!
//! Architecture invariant: this crate does no I/O. It knows nothing of HTTP, SQL, tokio or
//! cryptography; time comes in as a parameter (see [`clock`]), personal data comes in already
//! sealed or blind-indexed by an adapter (see [`personal`]).

pub mod access;
pub mod account;
pub mod audit;
pub mod breach;
pub mod breaker;
pub mod catalogue;
pub mod check_in;
pub mod clock;
pub mod data_key;
pub mod data_request;
pub mod demo;
pub mod error;
pub mod face;
pub mod gate;
pub mod group;
pub mod identity;
pub mod ledger;
pub mod measure;
pub mod no_show;
pub mod order;
pub mod payment;
pub mod payment_gateway;
pub mod payment_store;
pub mod personal;
pub mod personal_data;
pub mod reconcile;
pub mod risk;
pub mod sealed_column;
pub mod seats;
pub mod security;
pub mod store;
pub mod ticket_code;
pub mod traffic;
pub mod waiting;
pub mod window;

pub use catalogue::{
    Product, ProductId, ProductKind, ProductRules, Slot, SlotId, TicketType, TicketTypeId,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::BookingError;
pub use order::{AccountId, Order, OrderId, OrderState, Ticket, TicketId, TicketState};
