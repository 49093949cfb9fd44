//! The port through which a valid ticket gets the code its QR shows. The signing lives in an
//! adapter (gatehouse-tickets); the booking service only asks for a ticket's code when it shows
//! an order. A group order also gets one code for all its members.

use crate::catalogue::Slot;
use crate::order::{OrderId, TicketId};

pub trait TicketCodeIssuer: Send + Sync + 'static {
    /// The code of a valid ticket for `slot`, or None if none can be made (a malformed id).
    fn issue(&self, ticket: &TicketId, slot: &Slot) -> Option<String>;
    /// The one code of a group order of `head_count` people, which admits them all at once.
    fn issue_group(&self, order: &OrderId, head_count: u16, slot: &Slot) -> Option<String>;
}
