//! Sending e-mail to the people who must act on a breach (the data-protection officer, the
//! supervising authority's reporting mailbox, the duty manager). [`MailSender`] is the port an
//! SMTP relay implements (`gatehouse-providers`' `SmtpMail`); the local sender keeps the newest
//! few hundred messages in memory for the demo and the tests. Visitors get no e-mail: Gatehouse
//! holds no visitor e-mail address (collecting one only for breach notices would be collecting
//! more than bookings need), so their notices go by text message or in the app.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::outbox::Outbox;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the mail relay did not accept the message: {0}")]
pub struct MailError(pub String);

/// One message to one mailbox. `Debug` leaves the body out (it may describe a breach at length).
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct MailMessage {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub sent_at: Timestamp,
}

impl std::fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field(
                "body",
                &format_args!("({} characters)", self.body.chars().count()),
            )
            .finish()
    }
}

#[async_trait]
pub trait MailSender: Send + Sync + 'static {
    async fn send(&self, message: MailMessage) -> Result<(), MailError>;

    /// The local sender's outbox, newest last; `None` for a real relay.
    fn outbox(&self) -> Option<Vec<MailMessage>> {
        None
    }
}

const OUTBOX_CAPACITY: usize = 512;

/// The sender for the demo and tests: messages stay in memory.
pub struct LocalMail {
    messages: Outbox<MailMessage>,
}

impl Default for LocalMail {
    fn default() -> Self {
        Self {
            messages: Outbox::new(OUTBOX_CAPACITY),
        }
    }
}

#[async_trait]
impl MailSender for LocalMail {
    async fn send(&self, message: MailMessage) -> Result<(), MailError> {
        self.messages.push(message);
        Ok(())
    }

    fn outbox(&self) -> Option<Vec<MailMessage>> {
        Some(self.messages.matching(|_| true))
    }
}
