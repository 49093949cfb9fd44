//! This node's reader of the shared log: it follows every protected release's stream, and the
//! stream announcing new releases, applying each event to the node's room in the stream's order
//! and handing this node's own appends their outcome. It holds a connection of its own, since
//! it waits in `XREAD BLOCK`.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use gatehouse_queue::Event;
use redis::Value;

use crate::{EntryId, RedisLog};

/// How long one `XREAD` waits for news.
const BLOCK_MS: u64 = 1_000;
/// At most this many entries per stream per read.
const COUNT: usize = 4_096;

pub(crate) async fn run(log: Weak<RedisLog>) {
    // Where each stream is read from: every release's log from its start (replaying it), and
    // announcements from their start too (loading a release twice changes nothing).
    let mut from: HashMap<u64, EntryId> = HashMap::new();
    let mut announcements = EntryId::default();
    let mut connection = None;
    loop {
        let Some(log) = log.upgrade() else { return };
        let Some(service) = log.service.upgrade() else {
            return;
        };
        if connection.is_none() {
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_millis(BLOCK_MS + 2_000)))
                .set_connection_timeout(Some(crate::REDIS_TIMEOUT));
            match log
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "the waiting room's log reader cannot reach Redis");
                    drop(log);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let Some(c) = connection.as_mut() else {
            continue;
        };
        for release in service.release_ids() {
            from.entry(release).or_default();
        }
        let releases: Vec<(u64, EntryId)> = from.iter().map(|(r, id)| (*r, *id)).collect();
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(COUNT)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(log.announcements_key());
        for (release, _) in &releases {
            cmd.arg(log.log_key(*release));
        }
        cmd.arg(announcements.to_string());
        for (_, id) in &releases {
            cmd.arg(id.to_string());
        }
        let reply: Value = match cmd.query_async(c).await {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "the waiting room's log reader lost Redis");
                connection = None;
                drop(log);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for (key, entries) in streams(&reply) {
            if key == log.announcements_key().as_bytes() {
                if let Some((last, _)) = entries.last() {
                    announcements = *last;
                }
                let today = service.today(&log.tz);
                if let Err(e) = service.reload(today).await {
                    tracing::error!(error = %e, "could not load an announced protected release");
                }
                continue;
            }
            let Some(release) = release_of(&log, key) else {
                continue;
            };
            for (id, fields) in &entries {
                apply(&log, &service, release, fields);
                from.insert(release, *id);
            }
            if let Some((last, _)) = entries.last() {
                log.mark_applied(release, *last);
            }
        }
        log.wake();
    }
}

fn release_of(log: &RedisLog, key: &[u8]) -> Option<u64> {
    let prefix = log.log_key(0);
    let prefix = prefix.strip_suffix('0')?;
    std::str::from_utf8(key.strip_prefix(prefix.as_bytes())?)
        .ok()?
        .parse()
        .ok()
}

/// Applies one entry's events in order (each an `e` field, the event, followed by `o`,
/// `node:seq` of whoever appended it) and hands this node's own their outcome.
fn apply(
    log: &RedisLog,
    service: &gatehouse_queue::WaitingRoomService,
    release: u64,
    fields: &[(&[u8], &[u8])],
) {
    for (event, origin) in events(fields) {
        let Ok(event) = Event::decode(event) else {
            tracing::error!(
                release,
                "skipped an entry of the waiting room's log that is not an event"
            );
            continue;
        };
        let outcome = service.apply_logged(release, event);
        let mine = origin
            .and_then(|o| std::str::from_utf8(o).ok())
            .and_then(|o| o.split_once(':'))
            .filter(|(node, _)| *node == log.node)
            .and_then(|(_, seq)| seq.parse::<u64>().ok());
        if let Some(seq) = mine {
            log.settle(seq, outcome);
        }
    }
}

/// An entry's events in order, each with the origin that follows it (other fields are skipped).
fn events<'a>(fields: &[(&'a [u8], &'a [u8])]) -> Vec<(&'a [u8], Option<&'a [u8]>)> {
    let mut out = Vec::new();
    let mut rest = fields.iter().peekable();
    while let Some(&(name, value)) = rest.next() {
        if name != b"e" {
            continue;
        }
        let origin = rest.next_if(|(n, _)| *n == b"o").map(|(_, o)| *o);
        out.push((value, origin));
    }
    out
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => &[],
    }
}

type Entry<'a> = (EntryId, Vec<(&'a [u8], &'a [u8])>);

/// An `XREAD` reply: each stream's key and entries (RESP2 arrays, or a RESP3 map).
fn streams(reply: &Value) -> Vec<(&[u8], Vec<Entry<'_>>)> {
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        other => items(other)
            .iter()
            .filter_map(|s| match items(s) {
                [k, v] => Some((k, v)),
                _ => None,
            })
            .collect(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((bytes(k)?, entries(v))))
        .collect()
}

/// A list of stream entries (`XRANGE`, `XREVRANGE`, or one stream of `XREAD`).
pub(crate) fn entries(v: &Value) -> Vec<Entry<'_>> {
    items(v)
        .iter()
        .filter_map(|e| match items(e) {
            [id, fields] => {
                let id = EntryId::parse(std::str::from_utf8(bytes(id)?).ok()?)?;
                let fields = items(fields)
                    .chunks_exact(2)
                    .filter_map(|kv| match kv {
                        [k, v] => Some((bytes(k)?, bytes(v)?)),
                        _ => None,
                    })
                    .collect();
                Some((id, fields))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    #[test]
    fn xread_replies_are_read_in_both_protocols_and_junk_is_skipped() {
        let entry = |id: &str, e: &[u8]| {
            Value::Array(vec![
                bulk(id.as_bytes()),
                Value::Array(vec![bulk(b"e"), bulk(e), bulk(b"o"), bulk(b"n:1")]),
            ])
        };
        let stream = Value::Array(vec![
            entry("5-0", b"x"),
            Value::Int(3),
            entry("bad", b"y"),
            entry("5-1", b"z"),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk(b"k"), stream.clone()])]);
        let resp3 = Value::Map(vec![(bulk(b"k"), stream)]);
        for reply in [resp2, resp3] {
            let got = streams(&reply);
            assert_eq!(got.len(), 1);
            let (key, entries) = &got[0];
            assert_eq!(*key, b"k");
            let ids: Vec<String> = entries.iter().map(|(id, _)| id.to_string()).collect();
            assert_eq!(ids, ["5-0", "5-1"]);
            assert_eq!(
                entries[1].1,
                vec![(&b"e"[..], &b"z"[..]), (&b"o"[..], &b"n:1"[..])]
            );
        }
        assert!(streams(&Value::Nil).is_empty());
    }

    #[test]
    fn an_entrys_events_come_in_order_each_with_its_origin() {
        let fields: Vec<(&[u8], &[u8])> = vec![
            (b"e", b"one"),
            (b"o", b"n:1"),
            (b"x", b"junk"),
            (b"e", b"two"),
            (b"e", b"three"),
            (b"o", b"n:3"),
        ];
        assert_eq!(
            events(&fields),
            vec![
                (&b"one"[..], Some(&b"n:1"[..])),
                (&b"two"[..], None),
                (&b"three"[..], Some(&b"n:3"[..])),
            ]
        );
        assert!(events(&[(b"o", b"n:1")]).is_empty());
    }
}
