//! A visitor's profile and frequent-visitor list (the museum's 个人信息 and 观众信息查改): people
//! the account books for, validated like a booking's visitors, sealed at rest, shown masked.
//! Ids are random, and every read and change is scoped to the owning account, so another
//! account's entries answer "not found", exactly like ids that do not exist.

use gatehouse_domain::account::FrequentVisitor;
use gatehouse_domain::data_key::DataSubject;
use gatehouse_domain::identity::{mask_phone, IdDocument, IdKind, PersonName, Phone};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::{BlindIndex, PersonalField, Sealed, Sensitive, ID_NUMBER_INDEX};
use gatehouse_domain::sealed_column::SealedColumn;
use gatehouse_domain::store::StoreError;
use gatehouse_privacy::SubjectKey;
use zeroize::Zeroizing;

use crate::{IdentityError, IdentityService};

/// What a client sends for a frequent visitor (in clear until sealed: `Sensitive`).
#[derive(Debug)]
pub struct VisitorFields {
    pub name: Sensitive,
    pub id_kind: IdKind,
    pub id_number: Sensitive,
    pub phone: Option<Sensitive>,
}

impl VisitorFields {
    pub fn new(
        name: impl Into<String>,
        id_kind: IdKind,
        id_number: impl Into<String>,
        phone: Option<String>,
    ) -> Self {
        Self {
            name: Sensitive::new(PersonalField::VisitorName, name),
            id_kind,
            id_number: Sensitive::new(PersonalField::IdNumber, id_number),
            phone: phone.map(|p| Sensitive::new(PersonalField::VisitorPhone, p)),
        }
    }
}

/// A frequent visitor as shown: masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedVisitor {
    pub id: String,
    pub name: String,
    pub id_kind: IdKind,
    pub id_number: String,
    pub phone: Option<String>,
}

/// A frequent visitor opened to book for (never shown, never logged: `Sensitive`).
#[derive(Debug)]
pub struct OpenedVisitor {
    pub name: Sensitive,
    pub id_kind: IdKind,
    pub id_number: Sensitive,
}

/// The account's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub account: gatehouse_domain::account::Account,
    /// The sign-in phone, masked.
    pub phone: Option<String>, // personal-data: masked
}

fn visitor_error(e: StoreError) -> IdentityError {
    match e {
        StoreError::Conflict(c) if c == "duplicate_visitor" => IdentityError::DuplicateVisitor,
        other => IdentityError::store(other),
    }
}

impl IdentityService {
    fn seal_visitor(
        &self,
        key: &SubjectKey,
        account: AccountId,
        id: String,
        fields: &VisitorFields,
        created_at: jiff::Timestamp,
    ) -> Result<FrequentVisitor, IdentityError> {
        let now = self.clock.now();
        let name = PersonName::parse(fields.name.expose())
            .map_err(|m| IdentityError::invalid("name", m))?;
        let today = now.to_zoned(self.config.museum_tz.clone()).date();
        let document = IdDocument::parse(fields.id_kind, fields.id_number.expose(), today)
            .map_err(|m| IdentityError::invalid("id_number", m))?;
        let phone = fields
            .phone
            .as_ref()
            .map(Sensitive::expose)
            .filter(|p| !p.trim().is_empty())
            .map(|p| Phone::parse(p).map_err(|m| IdentityError::invalid("phone", m)))
            .transpose()?;
        Ok(FrequentVisitor {
            account,
            name: key.seal(name.as_str(), &SealedColumn::VisitorName.context(&id)),
            id_kind: document.kind(),
            id_number: key.seal(
                document.normalised(),
                &SealedColumn::VisitorIdNumber.context(&id),
            ),
            id_blind: BlindIndex(
                self.vault
                    .blind_index(ID_NUMBER_INDEX, document.normalised()),
            ),
            phone: phone.map(|p| key.seal(p.as_str(), &SealedColumn::VisitorPhone.context(&id))),
            id,
            created_at,
            updated_at: now,
        })
    }

    pub(crate) fn open_field(
        key: &SubjectKey,
        sealed: &Sealed,
        id: &str,
        column: SealedColumn,
    ) -> Result<Zeroizing<String>, IdentityError> {
        key.open(sealed, &column.context(id)).map_err(|_| {
            tracing::error!(
                field = column.location(),
                "a frequent visitor's field does not open with the current keys"
            );
            IdentityError::Unavailable
        })
    }

    fn mask_visitor(key: &SubjectKey, v: &FrequentVisitor) -> Result<MaskedVisitor, IdentityError> {
        let name = Self::open_field(key, &v.name, &v.id, SealedColumn::VisitorName)?;
        let number = Self::open_field(key, &v.id_number, &v.id, SealedColumn::VisitorIdNumber)?;
        let phone = v
            .phone
            .as_ref()
            .map(|p| {
                Self::open_field(key, p, &v.id, SealedColumn::VisitorPhone).map(|p| mask_phone(&p))
            })
            .transpose()?;
        Ok(MaskedVisitor {
            id: v.id.clone(),
            name: gatehouse_domain::identity::mask_name(&name),
            id_kind: v.id_kind,
            id_number: gatehouse_domain::identity::mask_id_number(v.id_kind, &number),
            phone,
        })
    }

    pub async fn add_visitor(
        &self,
        account: AccountId,
        fields: &VisitorFields,
    ) -> Result<MaskedVisitor, IdentityError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = self.sealing_key(&DataSubject::Account(account)).await?;
        let visitor = self.seal_visitor(&key, account, id, fields, self.clock.now())?;
        let max = self.config.max_frequent_visitors;
        self.store
            .insert_visitor(&visitor, max)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(c) if c == "visitor_limit" => {
                    IdentityError::VisitorLimit { max }
                }
                other => visitor_error(other),
            })?;
        Self::mask_visitor(&key, &visitor)
    }

    /// What makes an account's holder one person in a waiting room's line, as blind indexes
    /// (nothing is opened): the sign-in phone, and every ID number on the frequent-visitor list
    /// — the people the account books for. Another account holding a place with any of them is
    /// the same person, or the same borrowed ID number.
    pub async fn person_keys(&self, account: AccountId) -> Result<Vec<[u8; 32]>, IdentityError> {
        self.person_keys
            .get(account.0)
            .await
            .map(Option::unwrap_or_default)
            .map_err(IdentityError::store)
    }

    pub async fn list_visitors(
        &self,
        account: AccountId,
    ) -> Result<Vec<MaskedVisitor>, IdentityError> {
        let key = self.opening_key(&DataSubject::Account(account)).await?;
        self.store
            .list_visitors(account)
            .await
            .map_err(IdentityError::store)?
            .iter()
            .map(|v| Self::mask_visitor(&key, v))
            .collect()
    }

    async fn find_visitor(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<FrequentVisitor, IdentityError> {
        self.store
            .list_visitors(account)
            .await
            .map_err(IdentityError::store)?
            .into_iter()
            .find(|v| v.id == id)
            .ok_or(IdentityError::NotFound { what: "visitor" })
    }

    pub async fn get_visitor(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<MaskedVisitor, IdentityError> {
        let key = self.opening_key(&DataSubject::Account(account)).await?;
        Self::mask_visitor(&key, &self.find_visitor(account, id).await?)
    }

    pub async fn update_visitor(
        &self,
        account: AccountId,
        id: &str,
        fields: &VisitorFields,
    ) -> Result<MaskedVisitor, IdentityError> {
        let existing = self.find_visitor(account, id).await?;
        let key = self.sealing_key(&DataSubject::Account(account)).await?;
        let visitor = self.seal_visitor(&key, account, existing.id, fields, existing.created_at)?;
        self.store
            .update_visitor(&visitor)
            .await
            .map_err(visitor_error)?;
        Self::mask_visitor(&key, &visitor)
    }

    pub async fn delete_visitor(&self, account: AccountId, id: &str) -> Result<(), IdentityError> {
        self.store
            .delete_visitor(account, id)
            .await
            .map_err(IdentityError::store)
    }

    /// Opens frequent visitors of an account to book for them, in the order asked.
    pub async fn open_visitors(
        &self,
        account: AccountId,
        ids: &[&str],
    ) -> Result<Vec<OpenedVisitor>, IdentityError> {
        let list = self
            .store
            .list_visitors(account)
            .await
            .map_err(IdentityError::store)?;
        let key = self.opening_key(&DataSubject::Account(account)).await?;
        ids.iter()
            .map(|id| {
                let v = list
                    .iter()
                    .find(|v| v.id == *id)
                    .ok_or(IdentityError::NotFound { what: "visitor" })?;
                Ok(OpenedVisitor {
                    name: Sensitive::new(
                        PersonalField::VisitorName,
                        Self::open_field(&key, &v.name, &v.id, SealedColumn::VisitorName)?.as_str(),
                    ),
                    id_kind: v.id_kind,
                    id_number: Sensitive::new(
                        PersonalField::IdNumber,
                        Self::open_field(&key, &v.id_number, &v.id, SealedColumn::VisitorIdNumber)?
                            .as_str(),
                    ),
                })
            })
            .collect()
    }

    pub async fn profile(&self, account: AccountId) -> Result<Profile, IdentityError> {
        let found = self
            .store
            .account(account)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::NotFound { what: "account" })?;
        let phone = self.sign_in_phone(account).await?.map(|p| p.masked());
        Ok(Profile {
            account: found,
            phone,
        })
    }

    pub async fn rename(
        &self,
        account: AccountId,
        display_name: &str,
    ) -> Result<Profile, IdentityError> {
        crate::check_display_name(display_name)?;
        self.store
            .rename_account(account, display_name.trim())
            .await
            .map_err(IdentityError::store)?;
        self.forget_account(account);
        self.profile(account).await
    }
}
