//! The one SQL implementation of the identity storage port ([`AccountStore`]), instantiated for
//! both databases by [`impl_account_store!`]; only the statements that unpack a list (of token
//! hashes, of account ids) differ between dialects.
//!
//! [`AccountStore`]: gatehouse_domain::account::AccountStore

macro_rules! account_cols {
    () => {
        "a.id, a.display_name, a.roles, a.locked_until, a.created_at"
    };
}
macro_rules! session_cols {
    () => {
        "s.id AS session_id, s.token_hash, s.family, s.method, s.expires_at, s.refresh_expires_at, s.revoked_at, a.id, a.display_name, a.roles, a.locked_until, a.created_at"
    };
}
macro_rules! visitor_cols {
    () => {
        "id, account_id, name, id_kind, id_number, id_blind, phone, created_at, updated_at"
    };
}

macro_rules! face_cols {
    () => {
        "id, account_id, consent_id, id_blind, provider, certify_id, callback_token_hash, state, detail, started_at, completed_at, valid_until"
    };
}
macro_rules! consent_cols {
    () => {
        "id, account_id, purpose, text_version, collected, reason, session_id, given_at, withdrawn_at"
    };
}

macro_rules! impl_account_store {
    ($store:ident, sessions_by_tokens: $tokens_sql:expr, person_keys: $keys_sql:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::Timestamp;

            use gatehouse_domain::access::Roles;
            use gatehouse_domain::account::{
                Account, AccountStore, AuditEvent, FrequentVisitor, NewSession, OtpAttempt,
                OtpChallenge, SessionRecord, StaffCredential,
            };
            use gatehouse_domain::face::{Consent, FaceState, FaceVerification};
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::personal::{BlindIndex, Sealed};
            use gatehouse_domain::store::StoreError;

            use $crate::rows::*;

            #[async_trait]
            impl AccountStore for $store {
                async fn create_account(&self, display_name: &str, roles: Roles, at: Timestamp) -> Result<Account, StoreError> {
                    sqlx::query_as::<_, AccountRow>("INSERT INTO accounts (display_name, roles, created_at) VALUES ($1, $2, $3) RETURNING id, display_name, roles, locked_until, created_at")
                        .bind(display_name)
                        .bind(roles.to_string())
                        .bind(ms(at))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_domain()
                }

                async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
                    sqlx::query_as::<_, AccountRow>(concat!("SELECT ", account_cols!(), " FROM accounts a WHERE a.id = $1"))
                        .bind(id.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(AccountRow::into_domain)
                        .transpose()
                }

                async fn phone_account(&self, phone: BlindIndex, display_name: &str, at: Timestamp) -> Result<(Account, bool), StoreError> {
                    let find = concat!("SELECT ", account_cols!(), ", a.phone_sealed IS NOT NULL AS phone_is_sealed FROM accounts a WHERE a.phone_index = $1");
                    if let Some(found) = sqlx::query_as::<_, PhoneAccountRow>(find).bind(&phone.0[..]).fetch_optional(&self.pool).await.map_err(map_err)? {
                        return Ok((found.account.into_domain()?, found.phone_is_sealed));
                    }
                    // Insert-if-absent, then read: two racing first sign-ins meet at the unique index.
                    let created = sqlx::query_as::<_, AccountRow>("INSERT INTO accounts (display_name, roles, phone_index, created_at) VALUES ($1, 'visitor', $2, $3) ON CONFLICT (phone_index) WHERE phone_index IS NOT NULL DO NOTHING RETURNING id, display_name, roles, locked_until, created_at")
                        .bind(display_name)
                        .bind(&phone.0[..])
                        .bind(ms(at))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    if let Some(row) = created {
                        return Ok((row.into_domain()?, false));
                    }
                    let found = sqlx::query_as::<_, PhoneAccountRow>(find)
                        .bind(&phone.0[..])
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok((found.account.into_domain()?, found.phone_is_sealed))
                }

                async fn seal_account_phone(&self, id: AccountId, sealed: &Sealed) -> Result<(), StoreError> {
                    sqlx::query("UPDATE accounts SET phone_sealed = $1 WHERE id = $2 AND phone_sealed IS NULL")
                        .bind(&sealed.0)
                        .bind(id.0)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn linked_account(&self, provider: &str, subject: &str, display_name: &str, roles: Roles, at: Timestamp) -> Result<Account, StoreError> {
                    let find = concat!("SELECT ", account_cols!(), " FROM account_links l JOIN accounts a ON a.id = l.account_id WHERE l.provider = $1 AND l.subject = $2");
                    if let Some(row) = sqlx::query_as::<_, AccountRow>(find).bind(provider).bind(subject).fetch_optional(&self.pool).await.map_err(map_err)? {
                        return row.into_domain();
                    }
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    let id: i64 = sqlx::query_scalar("INSERT INTO accounts (display_name, roles, created_at) VALUES ($1, $2, $3) RETURNING id")
                        .bind(display_name)
                        .bind(roles.to_string())
                        .bind(ms(at))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    let linked = sqlx::query("INSERT INTO account_links (provider, subject, account_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                        .bind(provider)
                        .bind(subject)
                        .bind(id)
                        .bind(ms(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if linked.rows_affected() == 1 {
                        tx.commit().await.map_err(map_err)?;
                    } else {
                        // Another sign-in linked the subject first: use its account.
                        tx.rollback().await.map_err(map_err)?;
                    }
                    sqlx::query_as::<_, AccountRow>(find).bind(provider).bind(subject).fetch_one(&self.pool).await.map_err(map_err)?.into_domain()
                }

                async fn set_roles(&self, id: AccountId, roles: Roles) -> Result<(), StoreError> {
                    let done = sqlx::query("UPDATE accounts SET roles = $1 WHERE id = $2").bind(roles.to_string()).bind(id.0).execute(&self.pool).await.map_err(map_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("account"));
                    }
                    Ok(())
                }

                async fn phone_of(&self, id: AccountId) -> Result<Option<(BlindIndex, Sealed)>, StoreError> {
                    let row: Option<(Option<Vec<u8>>, Option<Vec<u8>>)> = sqlx::query_as("SELECT phone_index, phone_sealed FROM accounts WHERE id = $1").bind(id.0).fetch_optional(&self.pool).await.map_err(map_err)?;
                    match row {
                        Some((Some(index), Some(sealed))) => {
                            let index = BlindIndex::from_slice(&index).ok_or_else(|| StoreError::Backend("stored phone index is malformed".into()))?;
                            Ok(Some((index, Sealed(sealed))))
                        }
                        _ => Ok(None),
                    }
                }

                async fn rename_account(&self, id: AccountId, display_name: &str) -> Result<(), StoreError> {
                    let done = sqlx::query("UPDATE accounts SET display_name = $1 WHERE id = $2").bind(display_name).bind(id.0).execute(&self.pool).await.map_err(map_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("account"));
                    }
                    Ok(())
                }

                async fn insert_session(&self, s: &NewSession) -> Result<i64, StoreError> {
                    sqlx::query_scalar("INSERT INTO sessions (account_id, token_hash, refresh_hash, family, method, created_at, expires_at, refresh_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
                        .bind(s.account.0)
                        .bind(&s.token_hash[..])
                        .bind(s.refresh_hash.as_ref().map(|h| h.to_vec()))
                        .bind(&s.family[..])
                        .bind(s.method.as_str())
                        .bind(ms(s.created_at))
                        .bind(ms(s.expires_at))
                        .bind(s.refresh_expires_at.map(ms))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)
                }

                async fn sessions_by_tokens(&self, token_hashes: &[[u8; 32]], now: Timestamp) -> Result<Vec<([u8; 32], SessionRecord)>, StoreError> {
                    if token_hashes.is_empty() {
                        return Ok(Vec::new());
                    }
                    let hex_list = serde_json::Value::Array(token_hashes.iter().map(|h| serde_json::Value::String(hex::encode(h))).collect()).to_string();
                    let rows: Vec<SessionRow> = sqlx::query_as($tokens_sql).bind(hex_list).bind(ms(now)).fetch_all(&self.pool).await.map_err(map_err)?;
                    rows.into_iter().map(SessionRow::into_domain).collect()
                }

                async fn person_keys(&self, accounts: &[AccountId]) -> Result<Vec<(AccountId, BlindIndex)>, StoreError> {
                    if accounts.is_empty() {
                        return Ok(Vec::new());
                    }
                    let list = serde_json::Value::Array(accounts.iter().map(|a| serde_json::Value::from(a.0)).collect()).to_string();
                    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as($keys_sql).bind(&list).bind(&list).fetch_all(&self.pool).await.map_err(map_err)?;
                    rows.into_iter()
                        .map(|(account, index)| {
                            BlindIndex::from_slice(&index)
                                .map(|i| (AccountId(account), i))
                                .ok_or_else(|| StoreError::Backend("stored blind index is malformed".into()))
                        })
                        .collect()
                }

                async fn session_by_refresh(&self, refresh_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
                    sqlx::query_as::<_, SessionRow>(concat!("SELECT ", session_cols!(), " FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.refresh_hash = $1"))
                        .bind(&refresh_hash[..])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(|r| r.into_domain().map(|(_, s)| s))
                        .transpose()
                }

                async fn revoke_session(&self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
                    let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL").bind(ms(at)).bind(id).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn revoke_family(&self, family: &[u8; 16], at: Timestamp) -> Result<u64, StoreError> {
                    let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL").bind(ms(at)).bind(&family[..]).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected())
                }

                async fn revoke_account_sessions(&self, account: AccountId, at: Timestamp) -> Result<u64, StoreError> {
                    let done = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL").bind(ms(at)).bind(account.0).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected())
                }

                async fn put_otp(&self, c: &OtpChallenge) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO otp_challenges (phone_index, code_mac, expires_at, attempts_left) VALUES ($1, $2, $3, $4) ON CONFLICT (phone_index) DO UPDATE SET code_mac = excluded.code_mac, expires_at = excluded.expires_at, attempts_left = excluded.attempts_left")
                        .bind(&c.phone.0[..])
                        .bind(&c.code_mac[..])
                        .bind(ms(c.expires_at))
                        .bind(i64::from(c.attempts_left))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn attempt_otp(&self, phone: BlindIndex, code_mac: &[u8; 32], now: Timestamp) -> Result<OtpAttempt, StoreError> {
                    // A matching live code is consumed by the DELETE, so it works exactly once.
                    let taken = sqlx::query("DELETE FROM otp_challenges WHERE phone_index = $1 AND code_mac = $2 AND attempts_left > 0 AND expires_at > $3")
                        .bind(&phone.0[..])
                        .bind(&code_mac[..])
                        .bind(ms(now))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    if taken.rows_affected() == 1 {
                        return Ok(OtpAttempt::Accepted);
                    }
                    let left: Option<i64> = sqlx::query_scalar("UPDATE otp_challenges SET attempts_left = attempts_left - 1 WHERE phone_index = $1 AND attempts_left > 0 AND expires_at > $2 RETURNING attempts_left")
                        .bind(&phone.0[..])
                        .bind(ms(now))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(match left {
                        Some(n) => OtpAttempt::Wrong { attempts_left: u8::try_from(n).unwrap_or(0) },
                        None => OtpAttempt::NoChallenge,
                    })
                }

                async fn insert_visitor(&self, v: &FrequentVisitor, max: u32) -> Result<(), StoreError> {
                    // The count and the insert are one statement, so racing adds can't pass the limit.
                    let done = sqlx::query(concat!("INSERT INTO frequent_visitors (", visitor_cols!(), ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE (SELECT count(*) FROM frequent_visitors WHERE account_id = $2) < $10"))
                        .bind(&v.id)
                        .bind(v.account.0)
                        .bind(&v.name.0)
                        .bind(v.id_kind.as_str())
                        .bind(&v.id_number.0)
                        .bind(&v.id_blind.0[..])
                        .bind(v.phone.as_ref().map(|p| p.0.clone()))
                        .bind(ms(v.created_at))
                        .bind(ms(v.updated_at))
                        .bind(i64::from(max))
                        .execute(&self.pool)
                        .await
                        .map_err(|e| match map_err(e) {
                            StoreError::Conflict(_) => StoreError::Conflict("duplicate_visitor".into()),
                            other => other,
                        })?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("visitor_limit".into()));
                    }
                    Ok(())
                }

                async fn list_visitors(&self, account: AccountId) -> Result<Vec<FrequentVisitor>, StoreError> {
                    let rows: Vec<VisitorRow> = sqlx::query_as(concat!("SELECT ", visitor_cols!(), " FROM frequent_visitors WHERE account_id = $1 ORDER BY created_at, id"))
                        .bind(account.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter().map(VisitorRow::into_domain).collect()
                }

                async fn update_visitor(&self, v: &FrequentVisitor) -> Result<(), StoreError> {
                    let done = sqlx::query("UPDATE frequent_visitors SET name = $1, id_kind = $2, id_number = $3, id_blind = $4, phone = $5, updated_at = $6 WHERE id = $7 AND account_id = $8")
                        .bind(&v.name.0)
                        .bind(v.id_kind.as_str())
                        .bind(&v.id_number.0)
                        .bind(&v.id_blind.0[..])
                        .bind(v.phone.as_ref().map(|p| p.0.clone()))
                        .bind(ms(v.updated_at))
                        .bind(&v.id)
                        .bind(v.account.0)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| match map_err(e) {
                            StoreError::Conflict(_) => StoreError::Conflict("duplicate_visitor".into()),
                            other => other,
                        })?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("visitor"));
                    }
                    Ok(())
                }

                async fn delete_visitor(&self, account: AccountId, id: &str) -> Result<(), StoreError> {
                    let done = sqlx::query("DELETE FROM frequent_visitors WHERE id = $1 AND account_id = $2").bind(id).bind(account.0).execute(&self.pool).await.map_err(map_err)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("visitor"));
                    }
                    Ok(())
                }

                async fn put_staff_credential(&self, c: &StaffCredential) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO staff_credentials (account_id, username, password_hash, totp_secret, last_totp_step) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET username = excluded.username, password_hash = excluded.password_hash, totp_secret = excluded.totp_secret, last_totp_step = excluded.last_totp_step")
                        .bind(c.account.0)
                        .bind(&c.username)
                        .bind(&c.password_hash)
                        .bind(&c.totp_secret.0)
                        .bind(c.last_totp_step)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn staff_credential(&self, username: &str) -> Result<Option<StaffCredential>, StoreError> {
                    let row: Option<StaffCredentialRow> = sqlx::query_as("SELECT account_id, username, password_hash, totp_secret, last_totp_step FROM staff_credentials WHERE username = $1")
                        .bind(username)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(row.map(StaffCredentialRow::into_domain))
                }

                async fn advance_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError> {
                    let done = sqlx::query("UPDATE staff_credentials SET last_totp_step = $1 WHERE account_id = $2 AND last_totp_step < $1").bind(step).bind(account.0).execute(&self.pool).await.map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn insert_consent(&self, c: &Consent) -> Result<(), StoreError> {
                    sqlx::query(concat!("INSERT INTO consents (", consent_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                        .bind(&c.id)
                        .bind(c.account.0)
                        .bind(&c.purpose)
                        .bind(&c.text_version)
                        .bind(&c.collected)
                        .bind(&c.reason)
                        .bind(c.session_id)
                        .bind(ms(c.given_at))
                        .bind(c.withdrawn_at.map(ms))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn current_consent(&self, account: AccountId, purpose: &str) -> Result<Option<Consent>, StoreError> {
                    sqlx::query_as::<_, ConsentRow>(concat!("SELECT ", consent_cols!(), " FROM consents WHERE account_id = $1 AND purpose = $2 AND withdrawn_at IS NULL ORDER BY given_at DESC, id DESC LIMIT 1"))
                        .bind(account.0)
                        .bind(purpose)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(ConsentRow::into_domain)
                        .transpose()
                }

                async fn list_consents(&self, account: AccountId) -> Result<Vec<Consent>, StoreError> {
                    sqlx::query_as::<_, ConsentRow>(concat!("SELECT ", consent_cols!(), " FROM consents WHERE account_id = $1 ORDER BY given_at, id"))
                        .bind(account.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .into_iter()
                        .map(ConsentRow::into_domain)
                        .collect()
                }

                async fn withdraw_consent(&self, account: AccountId, purpose: &str, at: Timestamp) -> Result<u64, StoreError> {
                    let done = sqlx::query("UPDATE consents SET withdrawn_at = $1 WHERE account_id = $2 AND purpose = $3 AND withdrawn_at IS NULL")
                        .bind(ms(at))
                        .bind(account.0)
                        .bind(purpose)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected())
                }

                async fn insert_face(&self, f: &FaceVerification) -> Result<(), StoreError> {
                    sqlx::query(concat!("INSERT INTO face_verifications (", face_cols!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
                        .bind(&f.id)
                        .bind(f.account.0)
                        .bind(&f.consent_id)
                        .bind(&f.id_blind.0[..])
                        .bind(&f.provider)
                        .bind(&f.certify_id)
                        .bind(&f.callback_token_hash[..])
                        .bind(f.state.as_str())
                        .bind(&f.detail)
                        .bind(ms(f.started_at))
                        .bind(f.completed_at.map(ms))
                        .bind(f.valid_until.map(ms))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn face(&self, account: AccountId, id: &str) -> Result<Option<FaceVerification>, StoreError> {
                    sqlx::query_as::<_, FaceRow>(concat!("SELECT ", face_cols!(), " FROM face_verifications WHERE id = $1 AND account_id = $2"))
                        .bind(id)
                        .bind(account.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(FaceRow::into_domain)
                        .transpose()
                }

                async fn face_by_certify_id(&self, certify_id: &str) -> Result<Option<FaceVerification>, StoreError> {
                    sqlx::query_as::<_, FaceRow>(concat!("SELECT ", face_cols!(), " FROM face_verifications WHERE certify_id = $1"))
                        .bind(certify_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(FaceRow::into_domain)
                        .transpose()
                }

                async fn complete_face(&self, id: &str, state: FaceState, detail: &str, at: Timestamp, valid_until: Option<Timestamp>) -> Result<bool, StoreError> {
                    let done = sqlx::query("UPDATE face_verifications SET state = $1, detail = $2, completed_at = $3, valid_until = $4 WHERE id = $5 AND state = 'pending'")
                        .bind(state.as_str())
                        .bind(detail)
                        .bind(ms(at))
                        .bind(valid_until.map(ms))
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn face_passes(&self, account: AccountId, now: Timestamp) -> Result<Vec<BlindIndex>, StoreError> {
                    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT id_blind FROM face_verifications WHERE account_id = $1 AND state = 'passed' AND valid_until > $2")
                        .bind(account.0)
                        .bind(ms(now))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter()
                        .map(|(b,)| BlindIndex::from_slice(&b).ok_or_else(|| StoreError::Backend("stored blind index is malformed".into())))
                        .collect()
                }

                async fn record_audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO audit_events (at, actor, action, detail) VALUES ($1, $2, $3, $4)")
                        .bind(ms(e.at))
                        .bind(e.actor.map(|a| a.0))
                        .bind(&e.action)
                        .bind(&e.detail)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn legacy_audit(&self, limit: u32) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
                    let rows: Vec<(i64, i64, Option<i64>, String, String)> = sqlx::query_as("SELECT id, at, actor, action, detail FROM audit_events ORDER BY id LIMIT $1")
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.into_iter()
                        .map(|(id, at, actor, action, detail)| Ok((id, AuditRow { at, actor, action, detail }.into_domain()?)))
                        .collect()
                }

                async fn forget_legacy_audit(&self, through_id: i64) -> Result<u64, StoreError> {
                    let done = sqlx::query("DELETE FROM audit_events WHERE id <= $1")
                        .bind(through_id)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}
