//! The one SQL implementation of the legacy re-sealing port ([`LegacySealStore`]) for both
//! databases (`substr` on a blob/bytea and the paging are the same in each): per sealed column,
//! the statement that pages through its values of one format with their owners, and the
//! conditional update that replaces one.
//!
//! [`LegacySealStore`]: gatehouse_domain::sealed_column::LegacySealStore

macro_rules! impl_legacy_seal_store {
    ($store:ident) => {
        const _: () = {
            use async_trait::async_trait;

            use gatehouse_domain::data_key::DataSubject;
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::personal::Sealed;
            use gatehouse_domain::sealed_column::{LegacySealStore, LegacySealed, SealedColumn};
            use gatehouse_domain::store::StoreError;

            use $crate::rows::map_err;

            /// Row key (text), owning account (none for staff), the phone's blind index (the
            /// account phone's context), the sealed value.
            type SealedRow = (String, Option<i64>, Option<Vec<u8>>, Vec<u8>);

            /// `$1` the format byte, `$2` the row after which to start, `$3` the limit.
            fn select(column: SealedColumn) -> &'static str {
                match column {
                    SealedColumn::AccountPhone => "SELECT CAST(id AS TEXT) AS row_key, id, phone_index, phone_sealed FROM accounts WHERE phone_sealed IS NOT NULL AND phone_index IS NOT NULL AND substr(phone_sealed, 1, 1) = $1 AND ($2 IS NULL OR id > CAST($2 AS BIGINT)) ORDER BY id LIMIT $3",
                    SealedColumn::StaffTotp => "SELECT username, NULL, NULL, totp_secret FROM staff_credentials WHERE substr(totp_secret, 1, 1) = $1 AND ($2 IS NULL OR username > $2) ORDER BY username LIMIT $3",
                    SealedColumn::VisitorName => "SELECT id, account_id, NULL, name FROM frequent_visitors WHERE substr(name, 1, 1) = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    SealedColumn::VisitorIdNumber => "SELECT id, account_id, NULL, id_number FROM frequent_visitors WHERE substr(id_number, 1, 1) = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    SealedColumn::VisitorPhone => "SELECT id, account_id, NULL, phone FROM frequent_visitors WHERE phone IS NOT NULL AND substr(phone, 1, 1) = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    SealedColumn::OrderContactPhone => "SELECT id, account_id, NULL, contact_phone FROM orders WHERE contact_phone IS NOT NULL AND substr(contact_phone, 1, 1) = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    SealedColumn::TicketVisitorName => "SELECT t.id, o.account_id, NULL, t.visitor_name FROM tickets t JOIN orders o ON o.id = t.order_id WHERE substr(t.visitor_name, 1, 1) = $1 AND ($2 IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3",
                    SealedColumn::TicketIdNumber => "SELECT t.id, o.account_id, NULL, t.id_number FROM tickets t JOIN orders o ON o.id = t.order_id WHERE substr(t.id_number, 1, 1) = $1 AND ($2 IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3",
                    SealedColumn::RequestDetail => "SELECT id, account_id, NULL, detail FROM data_requests WHERE substr(detail, 1, 1) = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                }
            }

            /// `$1` the new value, `$2` the row, `$3` the old value.
            fn replace(column: SealedColumn) -> &'static str {
                match column {
                    SealedColumn::AccountPhone => "UPDATE accounts SET phone_sealed = $1 WHERE id = CAST($2 AS BIGINT) AND phone_sealed = $3",
                    SealedColumn::StaffTotp => "UPDATE staff_credentials SET totp_secret = $1 WHERE username = $2 AND totp_secret = $3",
                    SealedColumn::VisitorName => "UPDATE frequent_visitors SET name = $1 WHERE id = $2 AND name = $3",
                    SealedColumn::VisitorIdNumber => "UPDATE frequent_visitors SET id_number = $1 WHERE id = $2 AND id_number = $3",
                    SealedColumn::VisitorPhone => "UPDATE frequent_visitors SET phone = $1 WHERE id = $2 AND phone = $3",
                    SealedColumn::OrderContactPhone => "UPDATE orders SET contact_phone = $1 WHERE id = $2 AND contact_phone = $3",
                    SealedColumn::TicketVisitorName => "UPDATE tickets SET visitor_name = $1 WHERE id = $2 AND visitor_name = $3",
                    SealedColumn::TicketIdNumber => "UPDATE tickets SET id_number = $1 WHERE id = $2 AND id_number = $3",
                    SealedColumn::RequestDetail => "UPDATE data_requests SET detail = $1 WHERE id = $2 AND detail = $3",
                }
            }

            fn legacy(column: SealedColumn, (row, account, phone_index, sealed): SealedRow) -> Result<LegacySealed, StoreError> {
                let owner = match (column, account) {
                    (SealedColumn::StaffTotp, _) => DataSubject::Staff(row.clone()),
                    (_, Some(id)) => DataSubject::Account(AccountId(id)),
                    (_, None) => return Err(StoreError::Backend(format!("{} row {row} has no owner", column.location()))),
                };
                let context_id = match phone_index {
                    Some(index) => hex::encode(index),
                    None => row.clone(),
                };
                Ok(LegacySealed { column, row, context_id, owner, sealed: Sealed(sealed) })
            }

            #[async_trait]
            impl LegacySealStore for $store {
                async fn sealed_with_format(&self, column: SealedColumn, format: u8, after: Option<&str>, limit: u32) -> Result<Vec<LegacySealed>, StoreError> {
                    sqlx::query_as::<_, SealedRow>(select(column))
                        .bind(vec![format])
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(|row| legacy(column, row))
                        .collect()
                }

                async fn replace_sealed(&self, column: SealedColumn, row: &str, old: &Sealed, new: &Sealed) -> Result<bool, StoreError> {
                    let done = sqlx::query(replace(column))
                        .bind(&new.0)
                        .bind(row)
                        .bind(&old.0)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        };
    };
}
