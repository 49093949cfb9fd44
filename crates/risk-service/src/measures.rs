//! Measures against accounts: taken and lifted by staff (kept through the domain's
//! `MeasureStore`), and the ones in force held in memory so the booking, payment and refund
//! paths ask "does a measure stop this?" without a database read. A node reloads them at each
//! refresh, so a measure another node took is in force here within `risk.refresh_secs`.

use std::collections::HashMap;

use gatehouse_domain::measure::{blocks, Function, Lifted, Measure, MeasureKind, NewMeasure};
use gatehouse_domain::order::AccountId;

use crate::{read, write, RiskError, RiskService};

/// Measures in force, by account.
pub(crate) type InForce = HashMap<AccountId, Vec<Measure>>;

fn text(field: &str, value: &str, max: usize) -> Result<String, RiskError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(RiskError::Invalid {
            field: field.into(),
            message: format!("1 to {max} characters"),
        });
    }
    Ok(v.to_owned())
}

impl RiskService {
    /// Takes a measure (checked: a suspension ends, and whatever ends does so after it was
    /// decided); in force on this node at once.
    pub async fn take_measure(&self, mut new: NewMeasure) -> Result<Measure, RiskError> {
        let now = new.decided_at;
        new.reason = text("reason", &new.reason, 500)?;
        new.notice = text("notice", &new.notice, 500)?;
        match (new.kind, new.until) {
            (MeasureKind::Suspension, None) => {
                return Err(RiskError::Invalid {
                    field: "until".into(),
                    message: "a suspension needs its end".into(),
                })
            }
            (_, Some(until)) if until <= now => {
                return Err(RiskError::Invalid {
                    field: "until".into(),
                    message: "must be in the future".into(),
                })
            }
            _ => {}
        }
        let taken = self.measures.take_measure(&new).await?;
        write(&self.in_force)
            .entry(taken.measure.account)
            .or_default()
            .push(taken.clone());
        Ok(taken)
    }

    /// Lifts a measure in force; NotFound if there is none with that id to lift.
    pub async fn lift_measure(
        &self,
        id: i64,
        by: AccountId,
        reason: &str,
    ) -> Result<Measure, RiskError> {
        let lifted = Lifted {
            by,
            at: self.clock.now(),
            reason: text("reason", reason, 500)?,
        };
        let measure = self
            .measures
            .lift_measure(id, &lifted)
            .await?
            .ok_or(RiskError::NotFound("measure in force"))?;
        if let Some(list) = write(&self.in_force).get_mut(&measure.measure.account) {
            list.retain(|m| m.id != id);
        }
        Ok(measure)
    }

    /// Measures newest first: one account's, or everyone's.
    pub async fn measures(
        &self,
        account: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<Measure>, RiskError> {
        Ok(self.measures.measures(account, limit).await?)
    }

    /// The measure that stops `account` doing `function` now, if any (from memory).
    pub fn blocked(&self, account: AccountId, function: Function) -> Option<Measure> {
        let now = self.clock.now();
        read(&self.in_force)
            .get(&account)
            .and_then(|list| blocks(list, function, now).cloned())
    }

    /// Reads the measures in force again (another node may have taken or lifted some).
    pub async fn reload_measures(&self) -> Result<(), RiskError> {
        let mut fresh = InForce::new();
        for m in self.measures.measures_in_force(self.clock.now()).await? {
            fresh.entry(m.measure.account).or_default().push(m);
        }
        *write(&self.in_force) = fresh;
        Ok(())
    }
}
