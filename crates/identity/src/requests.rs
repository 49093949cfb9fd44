//! Data-subject requests as a service: a visitor files one for staff (or staff file one taken by
//! phone), staff move it forward with an outcome, and whatever a visitor does themselves —
//! export, erasure — is recorded as a request already done, so the ledger is complete. Erasure
//! itself lives here too: it is the crypto-shredding of the person's data key (the vault) and
//! the audit of it.

use gatehouse_domain::account::Account;
use gatehouse_domain::audit::AuditEntry;
use gatehouse_domain::data_key::{DataSubject, Erasure};
use gatehouse_domain::data_request::{
    DataRequest, RequestFilter, RequestKind, RequestStatus, RequestUpdate,
};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::{PersonalField, Sealed, Sensitive};
use gatehouse_domain::sealed_column::SealedColumn;
use gatehouse_domain::store::StoreError;

use crate::{IdentityError, IdentityService};

/// The longest request text accepted.
pub const MAX_REQUEST_CHARS: usize = 1_000;
/// How a request reached the museum.
pub const CHANNELS: [&str; 4] = ["self_service", "phone", "counter", "letter"];

/// A request as shown: its text opened (to its owner, or to staff handling it).
#[derive(Debug)]
pub struct RequestView {
    pub request: DataRequest,
    pub request_text: Sensitive,
    pub overdue: bool,
}

fn context(id: &str) -> String {
    SealedColumn::RequestDetail.context(id)
}

impl IdentityService {
    fn view(&self, key: &gatehouse_privacy::SubjectKey, request: DataRequest) -> RequestView {
        let text = if request.detail.is_erased() {
            String::new()
        } else {
            key.open(&request.detail, &context(&request.id))
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        RequestView {
            overdue: request.is_overdue(self.clock.now()),
            request_text: Sensitive::new(PersonalField::RequestText, text),
            request,
        }
    }

    async fn insert_request(
        &self,
        account: AccountId,
        kind: RequestKind,
        text: &str,
        channel: &str,
        answered: Option<(AccountId, &str)>,
    ) -> Result<DataRequest, IdentityError> {
        let id = uuid::Uuid::now_v7().to_string();
        let detail = if text.is_empty() {
            Sealed(Vec::new())
        } else {
            self.sealing_key(&DataSubject::Account(account))
                .await?
                .seal(text, &context(&id))
        };
        let now = self.clock.now();
        let request = DataRequest {
            id,
            account,
            kind,
            status: if answered.is_some() {
                RequestStatus::Done
            } else {
                RequestStatus::Open
            },
            detail,
            channel: channel.into(),
            received_at: now,
            due_at: DataRequest::due(now),
            handled_by: answered.map(|(by, _)| by),
            outcome: answered.map(|(_, outcome)| outcome.to_string()),
            closed_at: answered.map(|_| now),
        };
        self.store
            .insert_data_request(&request)
            .await
            .map_err(IdentityError::store)?;
        Ok(request)
    }

    /// Files a request for staff to handle: by the visitor (`self_service`) or by staff for a
    /// request taken by phone, at the counter or by letter.
    pub async fn file_data_request(
        &self,
        filed_by: &Account,
        account: AccountId,
        kind: RequestKind,
        request_text: &Sensitive,
        channel: &str,
    ) -> Result<RequestView, IdentityError> {
        let text = request_text.expose().trim();
        if text.chars().count() > MAX_REQUEST_CHARS {
            return Err(IdentityError::invalid(
                "request_text",
                format!("at most {MAX_REQUEST_CHARS} characters"),
            ));
        }
        if kind == RequestKind::Correction && text.is_empty() {
            return Err(IdentityError::invalid(
                "request_text",
                "say what is wrong and what it should be",
            ));
        }
        if !CHANNELS.contains(&channel) {
            return Err(IdentityError::invalid(
                "channel",
                format!("one of {}", CHANNELS.join(", ")),
            ));
        }
        self.store
            .account(account)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::NotFound { what: "account" })?;
        let request = self
            .insert_request(account, kind, text, channel, None)
            .await?;
        let mut entry = AuditEntry::new(
            self.clock.now(),
            Some(filed_by.id),
            "data_request_filed",
            &format!(
                "{} request by {channel}, due {}",
                kind.as_str(),
                request.due_at
            ),
        );
        entry.subject = Some(format!("data_request:{}", request.id));
        self.record(entry).await;
        let key = self.opening_key(&DataSubject::Account(account)).await?;
        Ok(self.view(&key, request))
    }

    /// Records something the visitor did themselves (an export, an erasure) as a request
    /// answered at once.
    pub async fn record_self_service(
        &self,
        account: AccountId,
        kind: RequestKind,
        outcome: &str,
    ) -> Result<DataRequest, IdentityError> {
        self.insert_request(account, kind, "", "self_service", Some((account, outcome)))
            .await
    }

    /// The visitor's own requests, newest deadline last.
    pub async fn my_data_requests(
        &self,
        account: AccountId,
    ) -> Result<Vec<RequestView>, IdentityError> {
        let key = self.opening_key(&DataSubject::Account(account)).await?;
        let filter = RequestFilter {
            account: Some(account),
            ..RequestFilter::default()
        };
        Ok(self
            .store
            .list_data_requests(&filter, 500)
            .await
            .map_err(IdentityError::store)?
            .into_iter()
            .map(|r| self.view(&key, r))
            .collect())
    }

    /// Requests for staff, oldest deadline first, their texts opened for the people handling
    /// them: a bulk read of personal data, so it is audited with its filter and count.
    pub async fn data_requests_for_staff(
        &self,
        staff: &Account,
        filter: &RequestFilter,
        limit: u32,
        origin: Option<String>,
    ) -> Result<Vec<RequestView>, IdentityError> {
        let found = self
            .store
            .list_data_requests(filter, limit.clamp(1, 500))
            .await
            .map_err(IdentityError::store)?;
        let mut entry = AuditEntry::new(
            self.clock.now(),
            Some(staff.id),
            "data_requests_listed",
            &format!(
                "{} requests (status {}, account {}, due before {})",
                found.len(),
                filter.status.map_or("any", RequestStatus::as_str),
                filter.account.map_or("any".into(), |a| a.0.to_string()),
                filter.due_before.map_or("any".into(), |t| t.to_string()),
            ),
        );
        entry.role = Some(staff.roles.to_string());
        entry.field = Some("request_text".into());
        entry.origin = origin;
        self.record_durably(entry).await?;
        let mut out = Vec::with_capacity(found.len());
        for r in found {
            let key = self.opening_key(&DataSubject::Account(r.account)).await?;
            out.push(self.view(&key, r));
        }
        Ok(out)
    }

    pub async fn data_request(&self, id: &str) -> Result<DataRequest, IdentityError> {
        self.store
            .data_request(id)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::NotFound {
                what: "data request",
            })
    }

    /// Moves a request forward (taken on, done, refused) with what was done; audited.
    pub async fn answer_data_request(
        &self,
        staff: &Account,
        id: &str,
        to: RequestStatus,
        outcome: Option<&str>,
    ) -> Result<DataRequest, IdentityError> {
        let current = self.data_request(id).await?;
        if !current.status.may_become(to) {
            return Err(IdentityError::StateConflict {
                message: format!(
                    "a request that is {} cannot become {}",
                    current.status.as_str(),
                    to.as_str()
                ),
            });
        }
        let outcome = outcome.map(str::trim).filter(|o| !o.is_empty());
        if to == RequestStatus::Refused && outcome.is_none() {
            return Err(IdentityError::invalid(
                "outcome",
                "a refusal must give its reason",
            ));
        }
        if outcome.is_some_and(|o| o.chars().count() > MAX_REQUEST_CHARS) {
            return Err(IdentityError::invalid(
                "outcome",
                format!("at most {MAX_REQUEST_CHARS} characters"),
            ));
        }
        let update = RequestUpdate {
            from: current.status,
            to,
            handled_by: staff.id,
            outcome: outcome.map(str::to_string),
            at: self.clock.now(),
        };
        let updated = self
            .store
            .update_data_request(id, &update)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(message) => IdentityError::StateConflict { message },
                other => IdentityError::store(other),
            })?;
        let mut entry = AuditEntry::new(
            self.clock.now(),
            Some(staff.id),
            "data_request_answered",
            &format!(
                "{} request {} -> {}",
                updated.kind.as_str(),
                current.status.as_str(),
                to.as_str()
            ),
        );
        entry.role = Some(staff.roles.to_string());
        entry.subject = Some(format!("data_request:{id}"));
        self.record_durably(entry).await?;
        Ok(updated)
    }

    /// Finishes erasures that had to wait: an erased person's no-show lock that was still running
    /// stops leading to their ID number once it ends. Audited when it released any; how many.
    pub async fn finish_erasures(&self) -> Result<u64, IdentityError> {
        let released = self
            .vault
            .release_ended_locks()
            .await
            .map_err(crate::vault_error)?;
        if released > 0 {
            self.audit(
                None,
                "erasure_finished",
                &format!("{released} ended no-show locks of erased people no longer lead to an ID number"),
            )
            .await;
        }
        Ok(released)
    }

    /// Erases an account (see `Vault::erase_account`): its data key shredded, its personal data
    /// gone or unlinkable, its sessions ended. `by` is the person themselves or staff answering
    /// their request. The audit record names only the account number.
    pub async fn erase_account(
        &self,
        by: &Account,
        account: AccountId,
    ) -> Result<Erasure, IdentityError> {
        let erased = self
            .vault
            .erase_account(account)
            .await
            .map_err(|e| match e {
                gatehouse_privacy::PrivacyError::Store(StoreError::NotFound(what)) => {
                    IdentityError::NotFound { what }
                }
                other => crate::vault_error(other),
            })?;
        self.forget_account(account);
        let mut entry = AuditEntry::new(
            self.clock.now(),
            Some(by.id),
            "account_erased",
            &format!(
                "data key shredded; {} orders and {} tickets kept without personal data; {} frequent visitors deleted",
                erased.orders, erased.tickets, erased.visitors
            ),
        );
        entry.subject = Some(format!("account:{}", account.0));
        if by.id != account {
            entry.role = Some(by.roles.to_string());
        }
        self.record_durably(entry).await?;
        Ok(erased)
    }
}
