//! Re-sealing what was sealed before per-person keys. Values sealed under the key file's one
//! old data key (format 1) are opened with it and sealed again under their owner's own data key,
//! column by column, each replacement conditional on the value not having changed meanwhile (an
//! erasure or a correction wins). Once no column holds any, the old key can leave the key file:
//! until then it could open the values of a person whose own key was shredded.

use gatehouse_domain::sealed_column::{LegacySealStore, LegacySealed, SealedColumn};

use crate::sealing;
use crate::{PrivacyError, Vault};

/// Values read per query.
const BATCH: u32 = 500;

/// The next page of `column`'s legacy values after `after`, which moves on past it.
async fn next_page(
    store: &dyn LegacySealStore,
    column: SealedColumn,
    after: &mut Option<String>,
) -> Result<Vec<LegacySealed>, PrivacyError> {
    let batch = store
        .sealed_with_format(column, sealing::LEGACY, after.as_deref(), BATCH)
        .await?;
    if let Some(last) = batch.last() {
        *after = Some(last.row.clone());
    }
    Ok(batch)
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Values now sealed under their owner's key.
    pub resealed: u64,
    /// Values that changed under the pass (erased or corrected meanwhile): left as they are.
    pub changed_meanwhile: u64,
    /// Values the legacy key did not open (tampered, or another deployment's): left, and logged.
    pub unopenable: u64,
}

impl Vault {
    /// Re-seals every legacy value under its owner's key; safe beside running servers and
    /// another pass (each replacement is conditional).
    pub async fn reseal_legacy(
        &self,
        store: &dyn LegacySealStore,
    ) -> Result<Resealed, PrivacyError> {
        let mut done = Resealed::default();
        for column in SealedColumn::LEGACY_CAPABLE {
            let mut after: Option<String> = None;
            loop {
                let batch = next_page(store, column, &mut after).await?;
                if batch.is_empty() {
                    break;
                }
                for item in batch {
                    let context = column.context(&item.context_id);
                    let key = self.sealing_key(&item.owner).await?;
                    let Ok(clear) = key.open(&item.sealed, &context) else {
                        tracing::error!(
                            column = column.location(),
                            row = %item.row,
                            "a value sealed under the legacy key does not open with it; left as it is"
                        );
                        done.unopenable += 1;
                        continue;
                    };
                    let again = key.seal(&clear, &context);
                    if store
                        .replace_sealed(column, &item.row, &item.sealed, &again)
                        .await?
                    {
                        done.resealed += 1;
                    } else {
                        done.changed_meanwhile += 1;
                    }
                }
            }
        }
        Ok(done)
    }
}

/// How many values each column still holds under the legacy key (none once re-sealed).
pub async fn legacy_left(
    store: &dyn LegacySealStore,
) -> Result<Vec<(SealedColumn, u64)>, PrivacyError> {
    let mut left = Vec::new();
    for column in SealedColumn::LEGACY_CAPABLE {
        let mut count = 0u64;
        let mut after: Option<String> = None;
        loop {
            let batch = next_page(store, column, &mut after).await?;
            if batch.is_empty() {
                break;
            }
            count += batch.len() as u64;
        }
        if count > 0 {
            left.push((column, count));
        }
    }
    Ok(left)
}
