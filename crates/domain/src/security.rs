//! Security events: things an attacker did or tried (a forged notification, a payment whose
//! amount was tampered with) that the security team must see. They hold no personal data.

use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub at: Timestamp,
    /// A stable name (`payment_notification_forged`, `payment_amount_mismatch`…).
    pub kind: String,
    /// Where it was seen (`wechat_pay_notify`, `alipay_notify`…).
    pub source: String,
    /// What was seen, without personal data.
    pub detail: String,
    /// The client address, if there was one.
    pub ip: Option<String>,
}
