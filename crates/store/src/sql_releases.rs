//! The one SQL implementation of the protected-release port ([`ProtectedReleaseStore`]),
//! instantiated for both databases by [`impl_release_store!`].
//!
//! [`ProtectedReleaseStore`]: gatehouse_domain::waiting::ProtectedReleaseStore

macro_rules! impl_release_store {
    ($store:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use jiff::civil::Date;

            use gatehouse_domain::catalogue::ProductId;
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::store::StoreError;
            use gatehouse_domain::waiting::{NewProtectedRelease, ProtectedRelease, ProtectedReleaseStore};

            use $crate::rows::{date_text, from_ms, map_err, ms, parse_date};

            #[derive(sqlx::FromRow)]
            struct Row {
                id: i64,
                product_id: i64,
                day: String,
                prequeue_opens_at: i64,
                opens_at: i64,
                window_secs: i64,
                seed: Vec<u8>,
                created_by: i64,
                created_at: i64,
            }

            impl Row {
                fn into_domain(self) -> Result<ProtectedRelease, StoreError> {
                    Ok(ProtectedRelease {
                        id: self.id,
                        release: NewProtectedRelease {
                            product: ProductId(self.product_id),
                            day: parse_date(&self.day)?,
                            prequeue_opens_at: from_ms(self.prequeue_opens_at)?,
                            opens_at: from_ms(self.opens_at)?,
                            window_secs: u32::try_from(self.window_secs)
                                .map_err(|_| StoreError::Backend("stored window is malformed".into()))?,
                            seed: self
                                .seed
                                .try_into()
                                .map_err(|_| StoreError::Backend("stored seed is malformed".into()))?,
                            created_by: AccountId(self.created_by),
                            created_at: from_ms(self.created_at)?,
                        },
                    })
                }
            }

            const COLS: &str = "id, product_id, day, prequeue_opens_at, opens_at, window_secs, seed, created_by, created_at";

            #[async_trait]
            impl ProtectedReleaseStore for $store {
                async fn protect_release(&self, new: &NewProtectedRelease) -> Result<ProtectedRelease, StoreError> {
                    let row: Row = sqlx::query_as(&format!(
                        "INSERT INTO protected_releases (product_id, day, prequeue_opens_at, opens_at, window_secs, seed, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLS}"
                    ))
                    .bind(new.product.0)
                    .bind(date_text(new.day))
                    .bind(ms(new.prequeue_opens_at))
                    .bind(ms(new.opens_at))
                    .bind(i64::from(new.window_secs))
                    .bind(new.seed.as_slice())
                    .bind(new.created_by.0)
                    .bind(ms(new.created_at))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    row.into_domain()
                }

                async fn protected_releases(&self, from: Date) -> Result<Vec<ProtectedRelease>, StoreError> {
                    let rows: Vec<Row> = sqlx::query_as(&format!(
                        "SELECT {COLS} FROM protected_releases WHERE day >= $1 ORDER BY day, opens_at, id"
                    ))
                    .bind(date_text(from))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    rows.into_iter().map(Row::into_domain).collect()
                }
            }
        };
    };
}
