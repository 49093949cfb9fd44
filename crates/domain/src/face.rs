//! Face verification (the real-person check) as data: the visitor's recorded consent and the
//! verifications, with their outcome. No face image ever reaches this layer; a verification
//! holds the provider's id, the outcome, times, and the blind index of the ID number it binds.

use jiff::Timestamp;

use crate::order::AccountId;
use crate::personal::BlindIndex;

/// The purpose a face-verification consent is recorded under.
pub const FACE_PURPOSE: &str = "face_verification";
/// The consent purpose for the risk service's use of a visitor's data (sign-in and booking
/// behaviour, device, network) to tell people from scalpers and bots.
pub const RISK_PURPOSE: &str = "risk_assessment";

/// A visitor's recorded consent: what they agreed to, when, from which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub id: String,
    pub account: AccountId,
    pub purpose: String,
    /// The version of the consent text shown.
    pub text_version: String,
    /// What is collected, as shown.
    pub collected: String,
    /// Why, as shown.
    pub reason: String,
    pub session_id: i64,
    pub given_at: Timestamp,
    pub withdrawn_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceState {
    Pending,
    Passed,
    Failed,
}

impl FaceState {
    pub fn as_str(self) -> &'static str {
        match self {
            FaceState::Pending => "pending",
            FaceState::Passed => "passed",
            FaceState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [FaceState::Pending, FaceState::Passed, FaceState::Failed]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// One verification, from initialisation at the provider to its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceVerification {
    pub id: String,
    pub account: AccountId,
    pub consent_id: String,
    /// The ID number verified, as its blind index: a pass is bound to it.
    pub id_blind: BlindIndex,
    pub provider: String,
    /// The provider's id of the verification.
    pub certify_id: String,
    /// SHA-256 of the one-time token the provider's callback must carry.
    pub callback_token_hash: [u8; 32],
    pub state: FaceState,
    /// The provider's result code, for support.
    pub detail: String,
    pub started_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// Until when a pass counts.
    pub valid_until: Option<Timestamp>,
}
