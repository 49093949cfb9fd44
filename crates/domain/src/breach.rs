//! Personal-data breaches (PIPL art. 57): staff open a record of what happened, when, which
//! kinds of personal data and which systems; Gatehouse works out who is affected from where the
//! catalogue says each kind of data lives, drafts the notice, sends it, and holds each notice to
//! its deadline — 24 hours from discovery when sensitive data (ID numbers, face verification)
//! leaked, 48 hours otherwise — escalating when a deadline nears and again if it passes.
//! Breach records are written by staff for staff and the people affected: they hold no
//! personal data (the people are account numbers; the texts describe, they do not quote).

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::order::AccountId;
use crate::personal_data::{spec, Grade, PersonalField};
use crate::store::StoreError;

/// What staff report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachReport {
    pub title: String,
    pub what_happened: String,
    pub occurred_at: Timestamp,
    pub discovered_at: Timestamp,
    pub fields: Vec<PersonalField>,
    /// Which systems (the database, a backup, a staff laptop…).
    pub systems: String,
    /// What the museum did about it.
    pub measures: String,
    /// What the people affected can do.
    pub advice: String,
    /// How to reach the museum.
    pub contact: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// Less than a quarter of the notice window is left and notices are still unsent.
    DeadlineNear,
    /// The deadline passed with notices unsent.
    DeadlineMissed,
}

impl Escalation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeadlineNear => "deadline_near",
            Self::DeadlineMissed => "deadline_missed",
        }
    }
}

/// A breach as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub id: String,
    pub report: BreachReport,
    pub opened_by: AccountId,
    pub opened_at: Timestamp,
    /// When every notice must have gone out.
    pub deadline_at: Timestamp,
    /// Accounts that hold the leaked kinds of data (erased accounts excepted).
    pub affected: u64,
    /// Kinds of data the museum cannot tie to a person (an IP address, a device id), named so
    /// the notice to the regulator can say so.
    pub unattributable: Vec<PersonalField>,
    pub escalated_near_at: Option<Timestamp>,
    pub escalated_missed_at: Option<Timestamp>,
}

/// How a notice reaches a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeChannel {
    /// A text message to the account's sign-in phone.
    Sms,
    /// Shown in the app (`GET /api/v1/me/notices`): for accounts with no phone (WeChat, Alipay).
    InApp,
}

impl NoticeChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::InApp => "in_app",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sms, Self::InApp]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Where a breach's notices stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoticeProgress {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
}

impl Breach {
    /// 24 hours from discovery if any sensitive kind of data leaked, else 48.
    pub fn notice_window(fields: &[PersonalField]) -> SignedDuration {
        if fields.iter().any(|f| spec(*f).grade == Grade::Sensitive) {
            SignedDuration::from_hours(24)
        } else {
            SignedDuration::from_hours(48)
        }
    }

    /// The escalation due at `now` for notices still unsent, if it has not happened yet.
    pub fn escalation_due(&self, now: Timestamp, unsent: u64) -> Option<Escalation> {
        if unsent == 0 {
            return None;
        }
        let window = Self::notice_window(&self.report.fields);
        let near = self.deadline_at - window / 4;
        if now >= self.deadline_at && self.escalated_missed_at.is_none() {
            Some(Escalation::DeadlineMissed)
        } else if now >= near && now < self.deadline_at && self.escalated_near_at.is_none() {
            Some(Escalation::DeadlineNear)
        } else {
            None
        }
    }

    /// The notice the people affected receive: what happened, the impact, what the museum did,
    /// what they can do, how to reach it — in Chinese, then English.
    pub fn draft_notice(&self) -> String {
        let r = &self.report;
        let kinds: Vec<&str> = r.fields.iter().map(|f| spec(*f).description).collect();
        let zh_kinds: Vec<&str> = r.fields.iter().map(|f| zh_name(*f)).collect();
        format!(
            "【个人信息安全事件告知】{title}\n发生了什么：{what}（发生于 {occurred}，发现于 {discovered}）\n可能涉及您的信息：{zh_kinds}\n我们已采取的措施：{measures}\n您可以采取的措施：{advice}\n联系我们：{contact}\n\n\
             [Personal data incident] {title}\nWhat happened: {what} (occurred {occurred}, discovered {discovered}).\nYour data that may be affected: {kinds}.\nWhat we did: {measures}\nWhat you can do: {advice}\nHow to reach us: {contact}",
            title = r.title,
            what = r.what_happened,
            occurred = r.occurred_at,
            discovered = r.discovered_at,
            zh_kinds = zh_kinds.join("、"),
            kinds = kinds.join("; "),
            measures = r.measures,
            advice = r.advice,
            contact = r.contact,
        )
    }
}

impl Breach {
    /// The report for the data-protection officer and the supervising authority: the whole
    /// record, how many people it affects and where their notices stand, and the notice sent to
    /// them. It names kinds of data and counts, never a person.
    pub fn officer_report(&self, progress: &NoticeProgress) -> String {
        let r = &self.report;
        let names = |fields: &[PersonalField]| {
            fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "Personal-data breach {id}: {title}

             What happened: {what}
Occurred: {occurred}
Discovered: {discovered}
             Kinds of personal data: {fields}
Systems: {systems}
Measures taken: {measures}

             People affected: {affected}
Kinds that cannot be tied to a person: {unattributable}
             Notices due by: {deadline}
Notices sent: {sent}; pending: {pending}; failed: {failed}

             The notice sent to the people affected:

{notice}
",
            id = self.id,
            title = r.title,
            what = r.what_happened,
            occurred = r.occurred_at,
            discovered = r.discovered_at,
            fields = names(&r.fields),
            systems = r.systems,
            measures = r.measures,
            affected = self.affected,
            unattributable = if self.unattributable.is_empty() {
                "none".to_string()
            } else {
                names(&self.unattributable)
            },
            deadline = self.deadline_at,
            sent = progress.sent,
            pending = progress.pending,
            failed = progress.failed,
            notice = self.draft_notice(),
        )
    }
}

fn zh_name(field: PersonalField) -> &'static str {
    match field {
        PersonalField::VisitorName => "参观人姓名",
        PersonalField::IdNumber => "证件号码",
        PersonalField::AccountPhone => "登录手机号",
        PersonalField::ContactPhone => "联系电话",
        PersonalField::VisitorPhone => "常用参观人手机号",
        PersonalField::FaceVerification => "人脸核验记录",
        PersonalField::ExternalAccount => "第三方账号标识",
        PersonalField::PayerAccount => "支付账号标识",
        PersonalField::IpAddress => "IP 地址",
        PersonalField::DeviceId => "设备标识",
        PersonalField::DisplayName => "昵称",
        PersonalField::RequestText => "个人信息请求内容",
    }
}

#[async_trait]
pub trait BreachStore: Send + Sync + 'static {
    /// Accounts (not erased) holding any of `fields` as stored by `occurred_at`, and the fields
    /// that cannot be tied to an account.
    async fn accounts_holding(
        &self,
        fields: &[PersonalField],
        occurred_at: Timestamp,
    ) -> Result<(Vec<AccountId>, Vec<PersonalField>), StoreError>;
    /// Stores the breach and one pending notice per affected account, in one transaction.
    async fn open_breach(&self, breach: &Breach, affected: &[AccountId]) -> Result<(), StoreError>;
    async fn breach(&self, id: &str) -> Result<Option<Breach>, StoreError>;
    /// Newest first.
    async fn list_breaches(&self, limit: u32) -> Result<Vec<Breach>, StoreError>;
    async fn notice_progress(&self, id: &str) -> Result<NoticeProgress, StoreError>;
    /// Up to `limit` accounts whose notice is pending (or failed, to retry).
    async fn unsent_notices(&self, id: &str, limit: u32) -> Result<Vec<AccountId>, StoreError>;
    /// Records one notice's outcome.
    async fn notice_outcome(
        &self,
        id: &str,
        account: AccountId,
        channel: NoticeChannel,
        sent: bool,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Records an escalation once; false if it was already recorded.
    async fn record_escalation(
        &self,
        id: &str,
        escalation: Escalation,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Breaches with notices still unsent (what the watcher looks at).
    async fn breaches_with_unsent_notices(&self) -> Result<Vec<(Breach, u64)>, StoreError>;
    /// The in-app notices of an account, newest first: (breach id, sent at, text source).
    async fn in_app_notices(
        &self,
        account: AccountId,
    ) -> Result<Vec<(Breach, Timestamp)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breach(fields: Vec<PersonalField>) -> Breach {
        let discovered: Timestamp = "2026-11-20T02:00:00Z".parse().unwrap();
        Breach {
            id: "b".into(),
            deadline_at: discovered + Breach::notice_window(&fields),
            report: BreachReport {
                title: "备份盘遗失 A backup disk was lost".into(),
                what_happened: "a backup disk left the building".into(),
                occurred_at: discovered - SignedDuration::from_hours(5),
                discovered_at: discovered,
                fields,
                systems: "backups".into(),
                measures: "keys rotated".into(),
                advice: "beware of calls claiming to be the museum".into(),
                contact: "0371-12345678".into(),
            },
            opened_by: AccountId(1),
            opened_at: discovered,
            affected: 10,
            unattributable: vec![],
            escalated_near_at: None,
            escalated_missed_at: None,
        }
    }

    #[test]
    fn sensitive_data_gets_twenty_four_hours_and_other_data_forty_eight() {
        assert_eq!(
            Breach::notice_window(&[PersonalField::ContactPhone, PersonalField::IdNumber]),
            SignedDuration::from_hours(24)
        );
        assert_eq!(
            Breach::notice_window(&[PersonalField::ContactPhone]),
            SignedDuration::from_hours(48)
        );
    }

    #[test]
    fn escalation_comes_in_the_last_quarter_and_again_once_missed() {
        let mut b = breach(vec![PersonalField::IdNumber]);
        let start = b.report.discovered_at;
        assert_eq!(
            b.escalation_due(start + SignedDuration::from_hours(17), 5),
            None
        );
        assert_eq!(
            b.escalation_due(start + SignedDuration::from_hours(18), 5),
            Some(Escalation::DeadlineNear)
        );
        assert_eq!(
            b.escalation_due(start + SignedDuration::from_hours(18), 0),
            None,
            "all sent"
        );
        b.escalated_near_at = Some(start);
        assert_eq!(
            b.escalation_due(start + SignedDuration::from_hours(20), 5),
            None,
            "once"
        );
        assert_eq!(
            b.escalation_due(start + SignedDuration::from_hours(24), 5),
            Some(Escalation::DeadlineMissed)
        );
        b.escalated_missed_at = Some(start);
        assert_eq!(
            b.escalation_due(start + SignedDuration::from_hours(30), 5),
            None
        );
    }

    #[test]
    fn the_draft_says_what_happened_the_impact_what_we_did_what_to_do_and_whom_to_call() {
        let text =
            breach(vec![PersonalField::IdNumber, PersonalField::ContactPhone]).draft_notice();
        for part in [
            "a backup disk left the building",
            "证件号码、联系电话",
            "a resident ID, passport or permit number",
            "keys rotated",
            "beware of calls",
            "0371-12345678",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
    }

    #[test]
    fn the_officer_report_has_the_record_the_counts_and_the_notice() {
        let mut b = breach(vec![PersonalField::IdNumber, PersonalField::IpAddress]);
        b.unattributable = vec![PersonalField::IpAddress];
        let report = b.officer_report(&NoticeProgress {
            pending: 3,
            sent: 6,
            failed: 1,
        });
        for part in [
            "Personal-data breach b: 备份盘遗失",
            "Kinds of personal data: id_number, ip_address",
            "Systems: backups",
            "People affected: 10",
            "cannot be tied to a person: ip_address",
            "Notices due by: 2026-11-21T02:00:00Z",
            "Notices sent: 6; pending: 3; failed: 1",
            "What you can do: beware of calls",
        ] {
            assert!(report.contains(part), "{part} in {report}");
        }
    }
}
