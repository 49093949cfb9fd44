//! E-mail through an SMTP relay, for breach reports and escalations ([`MailSender`]). The relay
//! is named by a URL as lettre reads it: `smtp://relay.museum.local:25` (plain, a relay on the
//! museum's own network), `smtp://user:password@host:587?tls=required` (STARTTLS), or
//! `smtps://user:password@host:465` (TLS from the start). Messages are plain UTF-8 text.

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_identity::mail::{MailError, MailMessage, MailSender};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long one message may take to hand over.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

pub struct SmtpMail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Checks an address the way messages will be addressed (`name@example.org`, or
/// `Name <name@example.org>`).
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .parse::<Mailbox>()
        .map(drop)
        .map_err(|e| format!("{address:?} is not an e-mail address ({e})"))
}

impl SmtpMail {
    pub fn new(url: &str, from: &str) -> Result<Self, MailError> {
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| MailError(format!("sender {from:?}: {e}")))?;
        // The URL carries a password: say what is wrong with it without repeating it.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError(format!("the relay URL is not usable: {e}")))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl MailSender for SmtpMail {
    async fn send(&self, message: MailMessage) -> Result<(), MailError> {
        let to = message
            .to
            .parse::<Mailbox>()
            .map_err(|e| MailError(format!("recipient: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(message.body)
            .map_err(|e| MailError(e.to_string()))?;
        self.transport
            .send(email)
            .await
            .map(drop)
            .map_err(|e| MailError(e.to_string()))
    }
}
