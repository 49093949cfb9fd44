//! Sending text messages. [`SmsSender`] is the port a real SMS provider implements; the local
//! provider keeps the messages in memory (the newest few thousand), where the demo and the tests
//! read them through a staff-only route. It never prints them: messages carry codes and phones.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::outbox::Outbox;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the SMS provider did not accept the message: {0}")]
pub struct SmsError(pub String);

/// One text message to one phone. `Debug` masks the phone and hides the text (it carries codes).
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct SmsMessage {
    pub phone: String, // personal-data: the number the provider sends to (staff-only outbox)
    pub text: String,
    pub sent_at: Timestamp,
}

impl std::fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsMessage")
            .field(
                "phone",
                &gatehouse_domain::identity::mask_phone(&self.phone),
            )
            .field(
                "text",
                &format_args!("({} characters)", self.text.chars().count()),
            )
            .field("sent_at", &self.sent_at)
            .finish()
    }
}

#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, message: SmsMessage) -> Result<(), SmsError>;

    /// The local provider's outbox, newest last; `None` for a real provider, whose messages
    /// leave the building.
    fn outbox(&self, _phone: Option<&str>) -> Option<Vec<SmsMessage>> {
        None
    }
}

const OUTBOX_CAPACITY: usize = 4096;

/// The provider for the demo and tests: messages stay in memory.
pub struct LocalSms {
    messages: Outbox<SmsMessage>,
}

impl Default for LocalSms {
    fn default() -> Self {
        Self {
            messages: Outbox::new(OUTBOX_CAPACITY),
        }
    }
}

#[async_trait]
impl SmsSender for LocalSms {
    async fn send(&self, message: SmsMessage) -> Result<(), SmsError> {
        self.messages.push(message);
        Ok(())
    }

    fn outbox(&self, phone: Option<&str>) -> Option<Vec<SmsMessage>> {
        Some(
            self.messages
                .matching(|m| phone.is_none_or(|p| m.phone == p)),
        )
    }
}
