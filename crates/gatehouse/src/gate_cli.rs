//! `gatehouse gate`: the gate side. Reads scanned codes from stdin (a scanner in keyboard mode,
//! or a feed piped in), one per line, and prints one verdict per line:
//!
//! ```text
//! ADMIT <ticket> slot=<slot> at=<instant> online|offline
//! ADMIT group=<order> people=<n> slot=<slot> at=<instant> online|offline
//! REFUSE <code> <what the gate shows>
//! ```
//!
//! Online it asks the server (`POST /api/v1/gate/scan`). When the server cannot be reached it
//! carries on offline from the day's bundle (downloaded at start, kept in the state directory
//! for a restart without network), journals every entry it makes (appended and synced before
//! the verdict is printed), and uploads the journal when the server answers again, then goes
//! back online. At the end of input it uploads what is left and prints a JSON summary line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use gatehouse_domain::check_in::Entry;
use gatehouse_domain::Clock;
use gatehouse_gates::{GateBundle, JournalLine, OfflineGate};
use serde_json::{json, Value};

/// How often an offline gate tries the server again.
const RETRY_EVERY: Duration = Duration::from_secs(5);
/// Entries per upload (the server takes at most 250).
const UPLOAD_CHUNK: usize = 200;

#[derive(clap::Args)]
pub struct GateArgs {
    /// The Gatehouse server, e.g. `https://tickets.example.org`.
    #[arg(long, env = "GATEHOUSE_GATE_SERVER")]
    server: String,
    /// The device credential staff were given when they registered this gate.
    #[arg(long, env = "GATEHOUSE_GATE_TOKEN", hide_env_values = true)]
    token: String,
    /// Where the bundle and the journal of offline entries are kept.
    #[arg(long, env = "GATEHOUSE_GATE_STATE_DIR", default_value = "gate-state")]
    state_dir: PathBuf,
    /// The day to work (default: the server's today).
    #[arg(long)]
    date: Option<String>,
}

enum Online {
    Admitted(Value),
    Refused(Value),
    /// The server did not answer (or answered 5xx): decide offline.
    Unreachable,
}

struct Gate {
    http: reqwest::Client,
    server: String,
    token: String,
    offline: OfflineGate,
    journal: PathBuf,
    uploaded_marker: PathBuf,
    online: bool,
    last_try: Instant,
    admitted: u64,
    refused: u64,
    uploaded: u64,
}

pub async fn run(args: GateArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .build()?;
    let server = args.server.trim_end_matches('/').to_owned();
    let saved = args.state_dir.join("bundle.json");
    let (bundle, online) = match download(&http, &server, &args.token, args.date.as_deref()).await?
    {
        Some(bundle) => {
            let tmp = args.state_dir.join("bundle.json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(&bundle)?)?;
            std::fs::rename(&tmp, &saved)?;
            (bundle, true)
        }
        None => {
            let text = std::fs::read(&saved).with_context(|| {
                format!(
                    "the server is unreachable and no bundle is saved in {}",
                    saved.display()
                )
            })?;
            let bundle: GateBundle =
                serde_json::from_slice(&text).context("the saved bundle is damaged")?;
            if args.date.as_deref().is_some_and(|d| d != bundle.day) {
                anyhow::bail!(
                    "the server is unreachable and the saved bundle is for {}",
                    bundle.day
                );
            }
            (bundle, false)
        }
    };
    let mut offline =
        OfflineGate::from_bundle(&bundle).map_err(|e| anyhow::anyhow!("bundle: {e}"))?;
    let journal = args.state_dir.join(format!("journal-{}.tsv", bundle.day));
    let uploaded_marker = args.state_dir.join(format!("uploaded-{}", bundle.day));
    // Entries journalled before a restart are still entries.
    for line in read_journal(&journal)? {
        let entry = Entry {
            at: line.at,
            gate: offline.name().to_owned(),
        };
        let _ = offline.remember(&line.code, line.ticket.as_deref(), entry);
    }
    let mut gate = Gate {
        http,
        server,
        token: args.token,
        offline,
        journal,
        uploaded_marker,
        online,
        last_try: Instant::now(),
        admitted: 0,
        refused: 0,
        uploaded: 0,
    };
    eprintln!(
        "gate ready for {} ({} tickets expected), {}",
        bundle.day,
        bundle.expected.len(),
        if online { "online" } else { "offline" }
    );
    if online {
        gate.upload_pending().await?;
    }
    // Stdin is read on a thread of its own: a scanner blocks between scans.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let code = line.trim();
        if !code.is_empty() {
            gate.scan(code).await?;
        }
    }
    let pending_upload = gate.upload_pending().await;
    let pending = gate.pending()?;
    let summary = json!({
        "admitted": gate.admitted,
        "refused": gate.refused,
        "uploaded": gate.uploaded,
        "pending": pending,
        "online": gate.online,
    });
    say(&format!("SUMMARY {summary}"));
    pending_upload.map(|_| ())
}

/// A field of a JSON answer (null when absent).
fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

async fn download(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    date: Option<&str>,
) -> anyhow::Result<Option<GateBundle>> {
    let mut request = http
        .get(format!("{server}/api/v1/gate/bundle"))
        .bearer_auth(token);
    if let Some(d) = date {
        request = request.query(&[("date", d)]);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("server unreachable ({e}); working offline");
            return Ok(None);
        }
    };
    let status = response.status();
    if status.is_server_error() {
        return Ok(None);
    }
    if !status.is_success() {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::bail!(
            "the server refused the bundle ({status}): {}",
            field(&body, "message")
        );
    }
    Ok(Some(
        response.json().await.context("the bundle is malformed")?,
    ))
}

fn read_journal(path: &Path) -> anyhow::Result<Vec<JournalLine>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().filter_map(JournalLine::parse).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

impl Gate {
    async fn scan(&mut self, code: &str) -> anyhow::Result<()> {
        if !self.online && self.last_try.elapsed() >= RETRY_EVERY {
            self.last_try = Instant::now();
            if self.upload_pending().await.is_ok() {
                self.online = true;
                eprintln!("server reachable again; back online");
            }
        }
        if self.online {
            match self.ask_server(code).await? {
                Online::Admitted(a) => {
                    let at = field(&a, "at").as_str().unwrap_or_default();
                    if let Ok(at) = at.parse() {
                        let gate = self.offline.name().to_owned();
                        let _ = self.offline.remember(code, None, Entry { at, gate });
                    }
                    let people = field(&a, "people").as_u64().unwrap_or(1);
                    self.admitted += people;
                    let who = match field(&a, "group").get("order").and_then(Value::as_str) {
                        Some(order) => format!("group={order} people={people}"),
                        None => field(&a, "ticket").as_str().unwrap_or("?").to_owned(),
                    };
                    say(&format!(
                        "ADMIT {who} slot={} at={at} online",
                        field(&a, "slot")
                    ));
                    return Ok(());
                }
                Online::Refused(e) => {
                    // Used elsewhere: this gate must refuse it offline too.
                    if let (Some(Ok(at)), Some(gate)) = (
                        field(&e, "used_at").as_str().map(str::parse),
                        field(&e, "gate").as_str(),
                    ) {
                        let _ = self.offline.remember(
                            code,
                            None,
                            Entry {
                                at,
                                gate: gate.to_owned(),
                            },
                        );
                    }
                    self.refused += 1;
                    say(&format!(
                        "REFUSE {} {}",
                        field(&e, "code").as_str().unwrap_or("refused"),
                        field(&e, "message").as_str().unwrap_or_default()
                    ));
                    return Ok(());
                }
                Online::Unreachable => {
                    self.online = false;
                    self.last_try = Instant::now();
                    eprintln!("server unreachable; working offline");
                }
            }
        }
        let now = gatehouse_domain::SystemClock.now();
        match self.offline.scan(code, now) {
            Ok(admitted) => {
                self.journal(&admitted.lines)?;
                let people = admitted.tickets.len();
                self.admitted += people as u64;
                let who = match (&admitted.group, admitted.tickets.first()) {
                    (Some(g), _) => format!("group={} people={people}", g.order.0),
                    (None, Some(t)) => t.0.clone(),
                    (None, None) => "?".into(),
                };
                say(&format!(
                    "ADMIT {who} slot={} at={} offline",
                    admitted.slot.0, admitted.entry.at
                ));
            }
            Err(e) => {
                self.refused += 1;
                let (code, message) = match &e {
                    gatehouse_gates::GateError::Refused(r) => (r.code(), self.offline.describe(r)),
                    gatehouse_gates::GateError::Code(c) => ("ticket_code_invalid", c.to_string()),
                    other => ("refused", other.to_string()),
                };
                say(&format!("REFUSE {code} {message}"));
            }
        }
        Ok(())
    }

    async fn ask_server(&self, code: &str) -> anyhow::Result<Online> {
        let sent = self
            .http
            .post(format!("{}/api/v1/gate/scan", self.server))
            .bearer_auth(&self.token)
            .json(&json!({ "code": code }))
            .send()
            .await;
        let Ok(response) = sent else {
            return Ok(Online::Unreachable);
        };
        let status = response.status();
        if status.is_server_error() {
            return Ok(Online::Unreachable);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            anyhow::bail!(
                "the server refused this gate's credential: {}",
                field(&body, "message")
            );
        }
        Ok(if status.is_success() {
            Online::Admitted(body)
        } else {
            Online::Refused(body)
        })
    }

    /// Appends a scan's entries to the journal and syncs them before the gate opens.
    fn journal(&self, lines: &[JournalLine]) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.journal)
            .with_context(|| format!("opening {}", self.journal.display()))?;
        let text: String = lines.iter().map(|l| l.to_line() + "\n").collect();
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        Ok(())
    }

    fn uploaded_count(&self) -> usize {
        std::fs::read_to_string(&self.uploaded_marker)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn pending(&self) -> anyhow::Result<usize> {
        Ok(read_journal(&self.journal)?
            .len()
            .saturating_sub(self.uploaded_count()))
    }

    /// Uploads journalled entries the server has not acknowledged yet. The server treats a
    /// repeated entry as the same entry, so a crash between upload and marker is harmless.
    async fn upload_pending(&mut self) -> anyhow::Result<()> {
        let lines = read_journal(&self.journal)?;
        let mut done = self.uploaded_count();
        while let Some(chunk) = lines.get(done..).filter(|rest| !rest.is_empty()) {
            let chunk = chunk.get(..UPLOAD_CHUNK.min(chunk.len())).unwrap_or(chunk);
            let entries: Vec<Value> = chunk
                .iter()
                .map(|l| json!({"code": l.code, "at": l.at.to_string(), "ticket": l.ticket}))
                .collect();
            let response = self
                .http
                .post(format!("{}/api/v1/gate/entries", self.server))
                .bearer_auth(&self.token)
                .json(&json!({ "entries": entries }))
                .send()
                .await?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                anyhow::bail!("upload refused ({status}): {}", field(&body, "message"));
            }
            if field(&body, "double_uses").as_u64().unwrap_or(0) > 0 {
                eprintln!(
                    "{} ticket(s) this gate let in had been used elsewhere",
                    field(&body, "double_uses")
                );
            }
            done += chunk.len();
            self.uploaded += chunk.len() as u64;
            std::fs::write(&self.uploaded_marker, done.to_string())?;
        }
        Ok(())
    }
}
