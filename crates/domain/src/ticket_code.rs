//! The port through which a valid ticket gets the code its QR shows. The signing lives in an
//! adapter (gatehouse-tickets); the booking service only asks for a ticket's code when it shows
//! an order.

use crate::catalogue::Slot;
use crate::order::TicketId;

pub trait TicketCodeIssuer: Send + Sync + 'static {
    /// The code of a valid ticket for `slot`, or None if none can be made (a malformed id).
    fn issue(&self, ticket: &TicketId, slot: &Slot) -> Option<String>;
}
