//! Breach notification as a service: staff open a breach record, the people affected are
//! computed from the catalogue's locations, the notice is drafted for staff to read, then sent —
//! by text message to each account's sign-in phone, or in the app for accounts without one —
//! and a watcher holds the notices to their deadline, escalating (audit log, log, a text to the
//! escalation phones, an e-mail to the breach mailboxes) when a quarter of the window is left and
//! again once it passed. Once notices are sent, the whole report goes by e-mail to the breach
//! mailboxes (the data-protection officer, the supervising authority).

use gatehouse_domain::account::Account;
use gatehouse_domain::audit::AuditEntry;
use gatehouse_domain::breach::{Breach, BreachReport, Escalation, NoticeChannel, NoticeProgress};
use gatehouse_domain::order::AccountId;
use jiff::Timestamp;

use crate::mail::MailMessage;
use crate::sms::SmsMessage;
use crate::{IdentityError, IdentityService};

/// The longest text of a breach record's fields.
pub const MAX_TEXT: usize = 2_000;
/// Notices sent per database round trip.
const NOTICE_BATCH: u32 = 500;

/// A breach with where its notices stand and the notice text.
#[derive(Debug)]
pub struct BreachView {
    pub breach: Breach,
    pub progress: NoticeProgress,
    pub draft: String,
    pub overdue: bool,
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), IdentityError> {
    let n = text.trim().chars().count();
    if n == 0 || n > max {
        return Err(IdentityError::invalid(
            field,
            format!("1 to {max} characters"),
        ));
    }
    Ok(())
}

impl IdentityService {
    async fn breach_view(&self, breach: Breach) -> Result<BreachView, IdentityError> {
        let progress = self
            .store
            .notice_progress(&breach.id)
            .await
            .map_err(IdentityError::store)?;
        Ok(BreachView {
            overdue: progress.pending + progress.failed > 0
                && self.clock.now() >= breach.deadline_at,
            draft: breach.draft_notice(),
            progress,
            breach,
        })
    }

    /// Opens a breach record and works out whom it affects (no one is notified yet: staff
    /// read the draft first).
    pub async fn open_breach(
        &self,
        staff: &Account,
        report: BreachReport,
    ) -> Result<BreachView, IdentityError> {
        check_text("title", &report.title, 200)?;
        for (field, text) in [
            ("what_happened", &report.what_happened),
            ("systems", &report.systems),
            ("measures", &report.measures),
            ("advice", &report.advice),
            ("contact", &report.contact),
        ] {
            check_text(field, text, MAX_TEXT)?;
        }
        if report.fields.is_empty() {
            return Err(IdentityError::invalid(
                "fields",
                "name at least one kind of personal data",
            ));
        }
        let now = self.clock.now();
        if report.discovered_at > now {
            return Err(IdentityError::invalid("discovered_at", "is in the future"));
        }
        if report.occurred_at > report.discovered_at {
            return Err(IdentityError::invalid(
                "occurred_at",
                "is after it was discovered",
            ));
        }
        let (affected, unattributable) = self
            .store
            .accounts_holding(&report.fields, report.occurred_at)
            .await
            .map_err(IdentityError::store)?;
        let breach = Breach {
            id: uuid::Uuid::now_v7().to_string(),
            deadline_at: report.discovered_at + Breach::notice_window(&report.fields),
            opened_by: staff.id,
            opened_at: now,
            affected: affected.len() as u64,
            unattributable,
            escalated_near_at: None,
            escalated_missed_at: None,
            report,
        };
        self.store
            .open_breach(&breach, &affected)
            .await
            .map_err(IdentityError::store)?;
        let mut entry = AuditEntry::new(
            now,
            Some(staff.id),
            "breach_opened",
            &format!(
                "{} accounts affected; fields {}; notices due by {}",
                breach.affected,
                breach
                    .report
                    .fields
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                breach.deadline_at
            ),
        );
        entry.role = Some(staff.roles.to_string());
        entry.subject = Some(format!("breach:{}", breach.id));
        self.record_durably(entry).await?;
        tracing::warn!(breach = %breach.id, affected = breach.affected, deadline = %breach.deadline_at, "a personal-data breach was opened");
        self.breach_view(breach).await
    }

    pub async fn breach(&self, id: &str) -> Result<BreachView, IdentityError> {
        let breach = self
            .store
            .breach(id)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::NotFound { what: "breach" })?;
        self.breach_view(breach).await
    }

    pub async fn breaches(&self, limit: u32) -> Result<Vec<BreachView>, IdentityError> {
        let mut out = Vec::new();
        for b in self
            .store
            .list_breaches(limit.clamp(1, 200))
            .await
            .map_err(IdentityError::store)?
        {
            out.push(self.breach_view(b).await?);
        }
        Ok(out)
    }

    /// Sends every notice not yet sent (failed ones are tried again). Opening each sign-in
    /// phone to text it is a bulk use of personal data: the audit record says how many.
    pub async fn send_breach_notices(
        &self,
        staff: &Account,
        id: &str,
        origin: Option<String>,
    ) -> Result<BreachView, IdentityError> {
        let view = self.breach(id).await?;
        let text = view.breach.draft_notice();
        let mut tried = std::collections::HashSet::new();
        let (mut by_sms, mut in_app, mut failed) = (0u64, 0u64, 0u64);
        loop {
            let batch = self
                .store
                .unsent_notices(id, NOTICE_BATCH)
                .await
                .map_err(IdentityError::store)?;
            let fresh: Vec<AccountId> = batch.into_iter().filter(|a| tried.insert(*a)).collect();
            if fresh.is_empty() {
                break;
            }
            for account in fresh {
                let (channel, sent) = match self.sign_in_phone(account).await {
                    Ok(Some(phone)) => {
                        let message = SmsMessage {
                            phone: phone.expose().to_owned(),
                            text: format!("【{}】{text}", self.config.sms_signature),
                            sent_at: self.clock.now(),
                        };
                        (NoticeChannel::Sms, self.sms.send(message).await.is_ok())
                    }
                    Ok(None) => (NoticeChannel::InApp, true),
                    Err(_) => (NoticeChannel::Sms, false),
                };
                match (channel, sent) {
                    (_, false) => failed += 1,
                    (NoticeChannel::Sms, true) => by_sms += 1,
                    (NoticeChannel::InApp, true) => in_app += 1,
                }
                self.store
                    .notice_outcome(id, account, channel, sent, self.clock.now())
                    .await
                    .map_err(IdentityError::store)?;
            }
        }
        let progress = self
            .store
            .notice_progress(id)
            .await
            .map_err(IdentityError::store)?;
        let (mailed, mailboxes) = self
            .mail_breach_mailboxes(
                &format!("Personal-data breach report: {}", view.breach.report.title),
                &view.breach.officer_report(&progress),
            )
            .await;
        let mut entry = AuditEntry::new(
            self.clock.now(),
            Some(staff.id),
            "breach_notices_sent",
            &format!("{by_sms} by text message (sign-in phones opened), {in_app} in the app, {failed} failed; report e-mailed to {mailed} of {mailboxes} breach mailboxes"),
        );
        entry.role = Some(staff.roles.to_string());
        entry.subject = Some(format!("breach:{id}"));
        entry.field = Some("account_phone".into());
        entry.origin = origin;
        self.record_durably(entry).await?;
        self.breach(id).await
    }

    /// Escalates every breach whose deadline nears or passed with notices unsent; answers what
    /// it escalated. Run by the server every minute.
    pub async fn watch_breaches(&self) -> Result<Vec<(String, Escalation)>, IdentityError> {
        let now = self.clock.now();
        let mut escalated = Vec::new();
        for (breach, unsent) in self
            .store
            .breaches_with_unsent_notices()
            .await
            .map_err(IdentityError::store)?
        {
            let Some(level) = breach.escalation_due(now, unsent) else {
                continue;
            };
            if !self
                .store
                .record_escalation(&breach.id, level, now)
                .await
                .map_err(IdentityError::store)?
            {
                continue;
            }
            let detail = format!("{unsent} notices unsent; deadline {}", breach.deadline_at);
            tracing::error!(breach = %breach.id, level = level.as_str(), unsent, "breach notices are late");
            let mut entry = AuditEntry::new(
                now,
                None,
                "breach_escalated",
                &format!("{}: {detail}", level.as_str()),
            );
            entry.subject = Some(format!("breach:{}", breach.id));
            self.record(entry).await;
            for phone in &self.config.breach_escalation_phones {
                let message = SmsMessage {
                    phone: phone.clone(),
                    text: format!(
                        "【{}】Breach {} ({}): {detail}",
                        self.config.sms_signature,
                        breach.report.title,
                        level.as_str()
                    ),
                    sent_at: now,
                };
                if let Err(e) = self.sms.send(message).await {
                    tracing::error!(error = %e, "an escalation text was not accepted");
                }
            }
            self.mail_breach_mailboxes(
                &format!(
                    "Breach notices {}: {}",
                    match level {
                        Escalation::DeadlineNear => "due soon",
                        Escalation::DeadlineMissed => "LATE",
                    },
                    breach.report.title
                ),
                &format!(
                    "{detail}\n\n{}",
                    breach.officer_report(
                        &self
                            .store
                            .notice_progress(&breach.id)
                            .await
                            .map_err(IdentityError::store)?
                    )
                ),
            )
            .await;
            escalated.push((breach.id.clone(), level));
        }
        Ok(escalated)
    }

    /// E-mails every breach mailbox; how many took the message, of how many.
    async fn mail_breach_mailboxes(&self, subject: &str, body: &str) -> (usize, usize) {
        let mail = self.mail();
        let mut accepted = 0;
        for to in &self.config.breach_emails {
            let message = MailMessage {
                to: to.clone(),
                subject: subject.to_string(),
                body: body.to_string(),
                sent_at: self.clock.now(),
            };
            match mail.send(message).await {
                Ok(()) => accepted += 1,
                Err(e) => tracing::error!(error = %e, "a breach e-mail was not accepted"),
            }
        }
        (accepted, self.config.breach_emails.len())
    }

    /// Breach notices shown in the app to `account`, newest first.
    pub async fn my_notices(
        &self,
        account: AccountId,
    ) -> Result<Vec<(Breach, Timestamp)>, IdentityError> {
        self.store
            .in_app_notices(account)
            .await
            .map_err(IdentityError::store)
    }
}
