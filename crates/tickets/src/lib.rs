//! Ticket codes: what a ticket's QR code holds (and a group order's one code for all its
//! members). A code is a compact token — version, key id,
//! ticket id, slot, validity window — signed with Ed25519 and written in QR-alphanumeric
//! base32, so a code stays small and a gate needs only public keys to check it offline. No
//! personal data is in a code.
//!
//! Whether a verified code admits its holder now (the slot's window and margins, the ticket's
//! state, a second scan) is decided elsewhere; here a code is only authentic or not.

mod issuer;
pub mod qr;
mod token;

pub use issuer::TicketCodes;
pub use token::{
    CodeClaims, GroupClaims, TicketClaims, TicketSigner, TicketVerifier, TokenRefused, TOKEN_PREFIX,
};
