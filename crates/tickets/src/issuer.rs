//! The ticket-code issuer the booking service asks: signs each valid ticket's code with a
//! validity window around its slot (early and late entry margins), and a group order's one code.

use gatehouse_domain::catalogue::Slot;
use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_domain::ticket_code::TicketCodeIssuer;
use jiff::SignedDuration;

use crate::token::{GroupClaims, TicketClaims, TicketSigner, TicketVerifier};

pub struct TicketCodes {
    signer: TicketSigner,
    /// How long before a slot starts its tickets admit.
    early: SignedDuration,
    /// How long after a slot ends its tickets still admit.
    late: SignedDuration,
}

impl TicketCodes {
    pub fn new(signer: TicketSigner, early: SignedDuration, late: SignedDuration) -> Self {
        Self {
            signer,
            early,
            late,
        }
    }

    /// A signer whose Ed25519 seed is derived from a 32-byte secret (Gatehouse derives it from
    /// its keyring under a label of its own, so every node signs with the same key and no new
    /// key file is needed). The key id names the derivation, so a rotated key gets a new one.
    pub fn from_secret(
        key_id: u16,
        secret: [u8; 32],
        early: SignedDuration,
        late: SignedDuration,
    ) -> Result<Self, crate::TokenRefused> {
        Ok(Self::new(
            TicketSigner::from_seed(key_id, &secret)?,
            early,
            late,
        ))
    }

    /// What gates need to verify these codes.
    pub fn verifier(&self) -> TicketVerifier {
        TicketVerifier::new([(self.signer.key_id(), self.signer.public_key())])
    }

    pub fn public_key(&self) -> (u16, [u8; 32]) {
        (self.signer.key_id(), self.signer.public_key())
    }
}

impl TicketCodeIssuer for TicketCodes {
    fn issue(&self, ticket: &TicketId, slot: &Slot) -> Option<String> {
        let claims = TicketClaims {
            ticket_id: ticket.clone(),
            slot_id: slot.id,
            valid_from: slot.starts_at.checked_sub(self.early).ok()?,
            valid_until: slot.ends_at.checked_add(self.late).ok()?,
        };
        self.signer.sign(&claims).ok()
    }

    fn issue_group(&self, order: &OrderId, head_count: u16, slot: &Slot) -> Option<String> {
        let claims = GroupClaims {
            order_id: order.clone(),
            slot_id: slot.id,
            valid_from: slot.starts_at.checked_sub(self.early).ok()?,
            valid_until: slot.ends_at.checked_add(self.late).ok()?,
            head_count,
        };
        self.signer.sign_group(&claims).ok()
    }
}
