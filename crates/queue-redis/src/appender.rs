//! This node's appends to the shared log, sent in batches. At 09:00 thousands of joins a second
//! each add an event; one `XADD` per join would cost a Redis command, a reply to parse and a
//! stream entry to read back for every one of them. Instead one task takes whatever has queued
//! while its previous write was under way and adds it as one entry per release, its events in
//! order as repeated `e` (the event) and `o` (`node:seq`) fields. The reader applies an entry's
//! events in that order, so the stream still gives every node one line.

use std::sync::Weak;

use gatehouse_queue::Event;
use tokio::sync::mpsc;

use crate::{unavailable, RedisLog};

/// The most events one entry carries (and one write sends).
pub(crate) const MAX_EVENTS: usize = 256;

/// An event waiting to be added to `release`'s log; `seq` finds its waiter.
pub(crate) struct Pending {
    pub(crate) release: u64,
    pub(crate) event: Event,
    pub(crate) seq: u64,
}

/// Runs until the log is gone (its sender with it).
pub(crate) async fn run(log: Weak<RedisLog>, mut queued: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_EVENTS);
    while let Some(first) = queued.recv().await {
        batch.push(first);
        while batch.len() < MAX_EVENTS {
            match queued.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let Some(log) = log.upgrade() else { return };
        if let Err(e) = write(&log, &batch).await {
            for p in &batch {
                log.settle(p.seq, Err(unavailable(&e)));
            }
        }
        batch.clear();
    }
}

/// Adds `batch` to the logs: one entry per release, the events in the order they queued.
async fn write(log: &RedisLog, batch: &[Pending]) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for (release, events) in by_release(batch) {
        let key = log.log_key(release);
        let xadd = pipe.cmd("XADD").arg(&key).arg("*");
        let mut expires = None;
        for p in events {
            xadd.arg("e")
                .arg(p.event.encode())
                .arg("o")
                .arg(format!("{}:{}", log.node, p.seq));
            if let Event::Admit { at, .. } = &p.event {
                // The log outlives the release's admissions by three days, then goes.
                let ends = at.as_millisecond().saturating_add(3 * 86_400_000);
                expires = expires.max(Some(ends));
            }
        }
        xadd.ignore();
        if let Some(ends) = expires {
            pipe.cmd("PEXPIREAT").arg(&key).arg(ends).ignore();
        }
    }
    let mut c = log.connection.clone();
    pipe.query_async::<()>(&mut c).await
}

/// The batch's events grouped by release, releases in the order they first appear.
fn by_release(batch: &[Pending]) -> Vec<(u64, Vec<&Pending>)> {
    let mut groups: Vec<(u64, Vec<&Pending>)> = Vec::new();
    for p in batch {
        match groups.iter_mut().find(|(r, _)| *r == p.release) {
            Some((_, events)) => events.push(p),
            None => groups.push((p.release, vec![p])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_grouped_by_release_keeping_each_releases_order() {
        let pending = |release, seq| Pending {
            release,
            event: Event::SellOut {
                at: jiff::Timestamp::from_second(i64::try_from(seq).unwrap()).unwrap(),
            },
            seq,
        };
        let batch = [pending(7, 1), pending(9, 2), pending(7, 3), pending(9, 4)];
        let groups: Vec<(u64, Vec<u64>)> = by_release(&batch)
            .into_iter()
            .map(|(r, events)| (r, events.iter().map(|p| p.seq).collect()))
            .collect();
        assert_eq!(groups, vec![(7, vec![1, 3]), (9, vec![2, 4])]);
    }
}
