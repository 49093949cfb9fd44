//! The firewall's audit log: one JSON line per request the rules had anything to say about —
//! when, which client, the method and path (never the query, which may carry personal data), what
//! was done, the anomaly scores, and each rule that fired with the variable and data it matched.
//! Matched data from personal fields (names, ID numbers, phones) and from credentials (cookies,
//! `Authorization`) is masked before it is written; other data is cut to a few hundred bytes.
//!
//! Lines go to a file through a bounded queue and a writer thread, so a request never waits on
//! the disk; when the queue is full under a flood, lines are counted and dropped, never held.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

use gatehouse_domain::identity::{mask_name, mask_phone};
use gatehouse_waf::firewall::{Outcome, Setup};
use gatehouse_waf::rule::EngineMode;
use serde_json::json;

/// Lines waiting for the writer at most.
const QUEUE: usize = 8_192;
/// The most bytes of matched (non-personal) data kept.
const MAX_DATA: usize = 200;

/// Where audit lines go.
pub(crate) struct AuditLog {
    /// None: to the log (`tracing`, target `gatehouse::waf_audit`).
    file: Option<SyncSender<String>>,
    dropped: AtomicU64,
}

impl AuditLog {
    /// Appends to `path` (created if missing) from a thread of its own; without a path, lines
    /// go to the log.
    pub(crate) fn start(path: Option<PathBuf>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self {
                file: None,
                dropped: AtomicU64::new(0),
            });
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("firewall audit log {}: {e}", path.display()))?;
        let (tx, rx) = sync_channel::<String>(QUEUE);
        std::thread::Builder::new()
            .name("waf-audit".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                while let Ok(line) = rx.recv() {
                    let _ = writeln!(out, "{line}");
                    // Everything queued goes in one write, then to the file.
                    while let Ok(line) = rx.try_recv() {
                        let _ = writeln!(out, "{line}");
                    }
                    if let Err(e) = out.flush() {
                        tracing::error!(error = %e, "firewall audit log not written");
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Self {
            file: Some(tx),
            dropped: AtomicU64::new(0),
        })
    }

    pub(crate) fn write(&self, record: &serde_json::Value) {
        let line = record.to_string();
        match &self.file {
            None => tracing::warn!(target: "gatehouse::waf_audit", record = %line, "firewall"),
            Some(tx) => match tx.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        tracing::warn!(
                            dropped = n,
                            "firewall audit lines dropped: the writer is behind"
                        );
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::error!("firewall audit writer stopped");
                }
            },
        }
    }
}

/// What kind of personal or secret value a variable holds, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Personal {
    Name,
    Phone,
    /// ID numbers, credentials and the like: nothing of it is kept.
    Secret,
}

fn personal(variable: &str) -> Option<Personal> {
    let lower = variable.to_ascii_lowercase();
    let (collection, key) = lower.split_once(':').unwrap_or((lower.as_str(), ""));
    if collection == "request_cookies"
        || collection == "request_cookies_names"
        || matches!(key, "authorization" | "cookie" | "proxy-authorization")
    {
        return Some(Personal::Secret);
    }
    // The last part of a JSON path (`json.tickets.0.visitor.name` → `name`).
    let last = key.rsplit(['.', '[']).next().unwrap_or(key);
    if last.contains("phone") || last.contains("mobile") {
        Some(Personal::Phone)
    } else if last.contains("id_number")
        || last.contains("cert_no")
        || last.contains("idcard")
        || last.contains("passport")
        || last.contains("password")
        || last.contains("token")
        || last.contains("code")
    {
        Some(Personal::Secret)
    } else if last.contains("name") && !last.contains("file") {
        Some(Personal::Name)
    } else {
        None
    }
}

/// The matched data as the audit may show it.
fn shown(variable: &str, data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    match personal(variable) {
        Some(Personal::Name) => mask_name(&text),
        Some(Personal::Phone) => mask_phone(&text),
        Some(Personal::Secret) => format!("[masked: {} bytes]", data.len()),
        None => {
            let mut end = text.len().min(MAX_DATA);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.get(..end).unwrap_or_default().to_owned()
        }
    }
}

/// The API's name of the field a variable names: `ARGS:json.tickets.0.visitor.name` →
/// `tickets[0].visitor.name`, `ARGS:q` → `q`; none for headers and the like.
pub(crate) fn api_field(variable: &str) -> Option<String> {
    let key = variable
        .strip_prefix("ARGS:")
        .or_else(|| variable.strip_prefix("ARGS_POST:"))
        .or_else(|| variable.strip_prefix("ARGS_GET:"))?;
    let Some(path) = key.strip_prefix("json.") else {
        return Some(key.to_owned());
    };
    let mut out = String::new();
    for part in path.split('.') {
        if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    Some(out)
}

/// One audit record.
pub(crate) fn record(
    id: &str,
    unix_now: u64,
    client: IpAddr,
    method: &str,
    path: &str,
    setup: &Setup,
    outcome: &Outcome,
) -> serde_json::Value {
    let action = if outcome.stopped.is_some() {
        "blocked"
    } else if outcome.would_stop.is_some() {
        "detected"
    } else {
        "logged"
    };
    let rules: Vec<serde_json::Value> = outcome
        .fired
        .iter()
        .map(|f| {
            let (variable, data) = match &f.matched {
                Some((name, value)) => (name.as_str(), shown(name, value)),
                None => ("", String::new()),
            };
            // A message may quote the matched value; a personal one is masked there too.
            let msg = match (&f.matched, personal(variable)) {
                (Some((_, value)), Some(_)) if !value.is_empty() => f
                    .msg
                    .replace(String::from_utf8_lossy(value).as_ref(), &data),
                _ => f.msg.clone(),
            };
            json!({
                "id": f.id,
                "phase": f.phase,
                "severity": f.severity,
                "msg": msg,
                "matched_variable": variable,
                "matched_data": data,
            })
        })
        .collect();
    json!({
        "id": id,
        "unix_time": unix_now,
        "client": client.to_string(),
        "method": method,
        "path": path,
        "action": action,
        "status": outcome.stopped.as_ref().or(outcome.would_stop.as_ref()).map(|s| s.status),
        "mode": match setup.mode {
            EngineMode::On => "blocking",
            EngineMode::DetectionOnly => "detection_only",
            EngineMode::Off => "off",
        },
        "paranoia_level": setup.paranoia_level,
        "inbound_score": outcome.inbound_score,
        "outbound_score": outcome.outbound_score,
        "rules": rules,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn personal_fields_are_masked_and_others_cut() {
        assert_eq!(
            shown("ARGS:json.tickets.0.visitor.name", "张三丰".as_bytes()),
            "张**"
        );
        assert_eq!(
            shown("ARGS:json.contact_phone", b"13812345678"),
            "138****5678"
        );
        assert_eq!(
            shown(
                "ARGS:json.tickets.0.visitor.id_number",
                b"110101199003070011"
            ),
            "[masked: 18 bytes]"
        );
        assert_eq!(
            shown("REQUEST_COOKIES:gh_session", b"abc"),
            "[masked: 3 bytes]"
        );
        assert_eq!(
            shown("REQUEST_HEADERS:Authorization", b"Bearer x"),
            "[masked: 8 bytes]"
        );
        assert_eq!(shown("ARGS:q", b"1' or '1'='1"), "1' or '1'='1");
        assert_eq!(shown("ARGS:q", &[b'a'; 1000]).len(), MAX_DATA);
        assert_eq!(shown("FILES_NAMES:upload", b"x.php"), "x.php");
    }

    #[test]
    fn variables_name_api_fields() {
        assert_eq!(
            api_field("ARGS:json.tickets.0.visitor.name").as_deref(),
            Some("tickets[0].visitor.name")
        );
        assert_eq!(api_field("ARGS:q").as_deref(), Some("q"));
        assert_eq!(api_field("REQUEST_HEADERS:User-Agent"), None);
    }
}
