//! Data-subject rights, the identity side: everything Gatehouse holds about an account — its
//! profile, sign-in phone, frequent visitors and consents — opened for the person it is about.
//! Clear values travel as `Sensitive`; only the export that hands them to their owner exposes
//! them. (Orders are the booking service's part of the export.)

use gatehouse_domain::account::Account;
use gatehouse_domain::data_key::DataSubject;
use gatehouse_domain::face::Consent;
use gatehouse_domain::identity::IdKind;
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::{PersonalField, Sensitive};
use gatehouse_domain::sealed_column::SealedColumn;

use crate::{IdentityError, IdentityService};

/// A frequent visitor, opened for its owner.
#[derive(Debug)]
pub struct ExportedVisitor {
    pub id: String,
    pub name: Sensitive,
    pub id_kind: IdKind,
    pub id_number: Sensitive,
    pub phone: Option<Sensitive>,
    pub created_at: jiff::Timestamp,
}

/// What the identity service holds about one account.
#[derive(Debug)]
pub struct AccountData {
    pub account: Account,
    pub sign_in_phone: Option<Sensitive>,
    pub visitors: Vec<ExportedVisitor>,
    pub consents: Vec<Consent>,
}

impl IdentityService {
    /// The phone `account` signs in with, opened.
    pub(crate) async fn sign_in_phone(
        &self,
        account: AccountId,
    ) -> Result<Option<Sensitive>, IdentityError> {
        let Some((index, sealed)) = self
            .store
            .phone_of(account)
            .await
            .map_err(IdentityError::store)?
        else {
            return Ok(None);
        };
        let key = self.opening_key(&DataSubject::Account(account)).await?;
        let clear = key
            .open(&sealed, &crate::phone::phone_context(&index))
            .map_err(|_| IdentityError::Unavailable)?;
        Ok(Some(Sensitive::new(
            PersonalField::AccountPhone,
            clear.as_str(),
        )))
    }

    /// Everything held about `account`, opened (for the person's own export).
    pub async fn account_data(&self, account: AccountId) -> Result<AccountData, IdentityError> {
        let found = self
            .store
            .account(account)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::NotFound { what: "account" })?;
        let sign_in_phone = self.sign_in_phone(account).await?;
        let key = self.opening_key(&DataSubject::Account(account)).await?;
        let mut visitors = Vec::new();
        for v in self
            .store
            .list_visitors(account)
            .await
            .map_err(IdentityError::store)?
        {
            let open =
                |field: PersonalField, sealed: &gatehouse_domain::personal::Sealed, column| {
                    Self::open_field(&key, sealed, &v.id, column)
                        .map(|clear| Sensitive::new(field, clear.as_str()))
                };
            visitors.push(ExportedVisitor {
                name: open(
                    PersonalField::VisitorName,
                    &v.name,
                    SealedColumn::VisitorName,
                )?,
                id_kind: v.id_kind,
                id_number: open(
                    PersonalField::IdNumber,
                    &v.id_number,
                    SealedColumn::VisitorIdNumber,
                )?,
                phone: v
                    .phone
                    .as_ref()
                    .map(|p| open(PersonalField::VisitorPhone, p, SealedColumn::VisitorPhone))
                    .transpose()?,
                created_at: v.created_at,
                id: v.id.clone(),
            });
        }
        let consents = self
            .store
            .list_consents(account)
            .await
            .map_err(IdentityError::store)?;
        Ok(AccountData {
            account: found,
            sign_in_phone,
            visitors,
            consents,
        })
    }
}
