//! The one SQL implementation of the data-subject requests port ([`DataRequestStore`]),
//! instantiated for both databases by [`impl_data_request_store!`].
//!
//! [`DataRequestStore`]: gatehouse_domain::data_request::DataRequestStore

macro_rules! impl_data_request_store {
    ($store:ident) => {
        const _: () = {
            use async_trait::async_trait;

            use gatehouse_domain::data_request::{
                DataRequest, DataRequestStore, RequestFilter, RequestKind, RequestStatus, RequestUpdate,
            };
            use gatehouse_domain::order::AccountId;
            use gatehouse_domain::personal::Sealed;
            use gatehouse_domain::store::StoreError;

            use $crate::rows::{from_ms, map_err, ms};

            const COLS: &str = "SELECT id, account_id, kind, status, detail, channel, received_at, due_at, handled_by, outcome, closed_at FROM data_requests";

            type Row = (String, i64, String, String, Vec<u8>, String, i64, i64, Option<i64>, Option<String>, Option<i64>);

            fn request(row: Row) -> Result<DataRequest, StoreError> {
                let (id, account, kind, status, detail, channel, received_at, due_at, handled_by, outcome, closed_at) = row;
                let corrupt = |what: &str| StoreError::Backend(format!("stored data request {what} is malformed"));
                Ok(DataRequest {
                    id,
                    account: AccountId(account),
                    kind: RequestKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
                    status: RequestStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
                    detail: Sealed(detail),
                    channel,
                    received_at: from_ms(received_at)?,
                    due_at: from_ms(due_at)?,
                    handled_by: handled_by.map(AccountId),
                    outcome,
                    closed_at: closed_at.map(from_ms).transpose()?,
                })
            }

            #[async_trait]
            impl DataRequestStore for $store {
                async fn insert_data_request(&self, r: &DataRequest) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO data_requests (id, account_id, kind, status, detail, channel, received_at, due_at, handled_by, outcome, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                        .bind(&r.id)
                        .bind(r.account.0)
                        .bind(r.kind.as_str())
                        .bind(r.status.as_str())
                        .bind(&r.detail.0)
                        .bind(&r.channel)
                        .bind(ms(r.received_at))
                        .bind(ms(r.due_at))
                        .bind(r.handled_by.map(|a| a.0))
                        .bind(&r.outcome)
                        .bind(r.closed_at.map(ms))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn data_request(&self, id: &str) -> Result<Option<DataRequest>, StoreError> {
                    sqlx::query_as::<_, Row>(&format!("{COLS} WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .map(request)
                        .transpose()
                }

                async fn list_data_requests(&self, filter: &RequestFilter, limit: u32) -> Result<Vec<DataRequest>, StoreError> {
                    sqlx::query_as::<_, Row>(&format!(
                        "{COLS} WHERE ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR status = $2) \
                         AND ($3 IS NULL OR (due_at < $3 AND status IN ('open', 'in_progress'))) \
                         ORDER BY due_at, id LIMIT $4"
                    ))
                    .bind(filter.account.map(|a| a.0))
                    .bind(filter.status.map(RequestStatus::as_str))
                    .bind(filter.due_before.map(ms))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .into_iter()
                    .map(request)
                    .collect()
                }

                async fn update_data_request(&self, id: &str, u: &RequestUpdate) -> Result<DataRequest, StoreError> {
                    let closed = u.to.is_final().then(|| ms(u.at));
                    let done = sqlx::query("UPDATE data_requests SET status = $1, handled_by = $2, outcome = COALESCE($3, outcome), closed_at = $4 WHERE id = $5 AND status = $6")
                        .bind(u.to.as_str())
                        .bind(u.handled_by.0)
                        .bind(&u.outcome)
                        .bind(closed)
                        .bind(id)
                        .bind(u.from.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let found = self.data_request(id).await?.ok_or(StoreError::NotFound("data request"))?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict(format!("the request is {}", found.status.as_str())));
                    }
                    Ok(found)
                }
            }
        };
    };
}
