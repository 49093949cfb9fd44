//! Gatehouse's one configuration struct: defaults, then a TOML file (`--config`, or
//! `gatehouse.toml` in the working directory if present), then `GATEHOUSE_` environment
//! variables (`__` separates nested keys: `GATEHOUSE_DATABASE__URL`). Unknown keys are refused;
//! secrets are never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// A value that must not be printed.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` to use PostgreSQL; unset for the embedded SQLite file in `data_dir`.
    pub url: Option<Secret>,
    /// PostgreSQL schema to use (created if missing); unset for the connection's default.
    pub pg_schema: Option<String>,
    /// SQLite commit durability: `normal` (survives a crash of the process) or `full` (also
    /// survives power loss).
    pub sqlite_durability: String,
}

/// The Alipay open-platform application the mini-program signs in through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipaySettings {
    /// `https://openapi.alipay.com/gateway.do` in production.
    pub gateway: String,
    pub app_id: String,
    /// The application's private key (PEM or base64 DER).
    pub app_private_key: Secret,
    /// Alipay's public key for the application (PEM or base64 DER).
    pub alipay_public_key: String,
}

/// The WeChat mini-program.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatSettings {
    /// `https://api.weixin.qq.com` in production.
    pub api_base: String,
    pub app_id: String,
    pub app_secret: Secret,
}

/// Alibaba Cloud real-person verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliyunFaceSettings {
    /// `https://cloudauth.aliyuncs.com/` in production.
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub scene_id: String,
}

/// Staff single sign-on with an OpenID provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffSsoSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// This server's public `/api/v1/auth/staff/sso/callback`, as registered at the provider.
    pub redirect_uri: String,
    /// Scopes besides `openid`, e.g. `profile groups`.
    #[serde(default)]
    pub scopes: String,
    /// The ID token claim listing the person's Gatehouse roles by name.
    pub role_claim: String,
}

/// Face verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceSettings {
    /// How long a pass counts, in hours.
    pub pass_valid_hours: u32,
    /// This server's public URL of `/api/v1/face/callback`, given to the provider.
    pub callback_url: String,
    /// The provider; face verification is off when unset.
    pub aliyun: Option<AliyunFaceSettings>,
}

impl Default for FaceSettings {
    fn default() -> Self {
        let d = gatehouse_identity::FaceConfig::default();
        Self {
            pass_valid_hours: d.pass_valid_hours,
            callback_url: d.callback_url,
            aliyun: None,
        }
    }
}

/// Sign-in, sessions and frequent visitors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// `local`: text messages stay in memory, readable by staff at `/api/v1/admin/sms-outbox`
    /// (demo and tests). A real provider adapter is configured here when the museum picks one.
    pub sms_provider: String,
    /// The signature a text message starts with, as registered with the SMS provider.
    pub sms_signature: String,
    /// How long a sign-in code works, in seconds.
    pub code_valid_secs: u32,
    /// Wrong tries a sign-in code survives.
    pub code_attempts: u8,
    pub visitor_session_minutes: u32,
    pub visitor_refresh_days: u32,
    pub staff_session_minutes: u32,
    /// How long a validated session is trusted from memory; bounds how late another node sees
    /// a sign-out.
    pub session_cache_secs: u32,
    /// People on one account's frequent-visitor list.
    pub max_frequent_visitors: u32,
    /// Sign-in rate limits: each is `{ burst, period_secs }`.
    pub limits: gatehouse_identity::SignInLimits,
    /// Alipay mini-program sign-in; off when unset.
    pub alipay: Option<AlipaySettings>,
    /// WeChat mini-program sign-in; off when unset.
    pub wechat: Option<WeChatSettings>,
    pub face: FaceSettings,
    /// Staff single sign-on; off when unset (the break-glass administrator still works).
    pub staff_sso: Option<StaffSsoSettings>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        let policy = gatehouse_identity::SessionPolicy::default();
        let otp = gatehouse_identity::OtpPolicy::default();
        let minutes = |d: jiff::SignedDuration| u32::try_from(d.as_secs() / 60).unwrap_or(u32::MAX);
        Self {
            sms_provider: "local".into(),
            sms_signature: "Gatehouse".into(),
            code_valid_secs: otp.valid_secs,
            code_attempts: otp.attempts,
            visitor_session_minutes: minutes(policy.visitor_access),
            visitor_refresh_days: minutes(policy.visitor_refresh) / (24 * 60),
            staff_session_minutes: minutes(policy.staff_access),
            session_cache_secs: u32::try_from(policy.cache_ttl.as_secs()).unwrap_or(60),
            max_frequent_visitors: 20,
            limits: gatehouse_identity::SignInLimits::default(),
            alipay: None,
            wechat: None,
            face: FaceSettings::default(),
            staff_sso: None,
        }
    }
}

impl IdentitySettings {
    pub fn to_config(
        &self,
        museum_tz: jiff::tz::TimeZone,
        provider_breaker: gatehouse_domain::breaker::BreakerPolicy,
        privacy: &PrivacySettings,
    ) -> anyhow::Result<gatehouse_identity::IdentityConfig> {
        for address in privacy.breach_emails.iter().chain([&privacy.mail_from]) {
            gatehouse_providers::smtp::check_address(address)
                .map_err(|m| anyhow::anyhow!("privacy.breach_emails / mail_from: {m}"))?;
        }
        for phone in &privacy.breach_escalation_phones {
            gatehouse_domain::identity::Phone::parse(phone).map_err(|m| {
                anyhow::anyhow!(
                    "privacy.breach_escalation_phones: {}: {m}",
                    gatehouse_domain::identity::mask_phone(phone)
                )
            })?;
        }
        anyhow::ensure!(
            self.sms_provider == "local",
            "unknown identity.sms_provider {:?} (only \"local\" is built in)",
            self.sms_provider
        );
        anyhow::ensure!(
            self.code_attempts >= 1,
            "identity.code_attempts must be at least 1"
        );
        anyhow::ensure!(
            (60..=1800).contains(&self.code_valid_secs),
            "identity.code_valid_secs must be 60..=1800"
        );
        let mins = |m: u32| jiff::SignedDuration::from_mins(i64::from(m.max(1)));
        Ok(gatehouse_identity::IdentityConfig {
            museum_tz,
            sessions: gatehouse_identity::SessionPolicy {
                visitor_access: mins(self.visitor_session_minutes),
                visitor_refresh: mins(self.visitor_refresh_days.saturating_mul(24 * 60)),
                staff_access: mins(self.staff_session_minutes),
                cache_ttl: std::time::Duration::from_secs(u64::from(self.session_cache_secs)),
            },
            otp: gatehouse_identity::OtpPolicy {
                valid_secs: self.code_valid_secs,
                attempts: self.code_attempts,
            },
            limits: self.limits,
            max_frequent_visitors: self.max_frequent_visitors,
            sms_signature: self.sms_signature.clone(),
            face: gatehouse_identity::FaceConfig {
                consent: gatehouse_identity::ConsentText::default(),
                pass_valid_hours: self.face.pass_valid_hours.max(1),
                callback_url: self.face.callback_url.clone(),
            },
            risk_consent: gatehouse_identity::consents::default_risk_text(),
            provider_breaker,
            breach_escalation_phones: privacy.breach_escalation_phones.clone(),
            breach_emails: privacy.breach_emails.clone(),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    pub listen: SocketAddr,
    /// Where the SQLite file and the key file live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    /// The key file for personal data (created with mode 0600 if missing); default `data_dir/keys`.
    pub key_file: Option<PathBuf>,
    /// The keys themselves, in the key file's format, instead of a key file.
    pub keys: Option<Secret>,
    /// The key that signs the audit log's checkpoints (created with mode 0600 if missing);
    /// default `data_dir/audit.key`. Nodes sharing a database share this file's contents.
    pub audit_key_file: Option<PathBuf>,
    /// The museum's IANA time zone: booking windows and slot dates are in it.
    pub museum_timezone: String,
    /// Load the museum's demo catalogue (and keep its next 7 days of slots) at start.
    pub demo_catalogue: bool,
    /// How often unpaid holds are expired, in milliseconds.
    pub housekeeping_interval_ms: u64,
    /// Log filter, e.g. `info` or `gatehouse=debug,info`.
    pub log: String,
    pub identity: IdentitySettings,
    pub payments: crate::payments_setup::PaymentSettings,
    pub tickets: TicketSettings,
    pub groups: GroupSettings,
    /// The waiting room's admission rate.
    pub queue: QueueSettings,
    pub shield: ShieldSettings,
    /// The web application firewall's rule files (how it runs is in the shield's policy).
    pub waf: WafSettings,
    /// Circuit breakers around the database and the providers.
    pub breakers: crate::breaker_settings::Breakers,
    /// Personal-data protection: retention.
    pub privacy: PrivacySettings,
    /// Risk control: the quota bought and the engine's bounds.
    pub risk: RiskSettings,
}

/// Risk control (the "risk identification" product). Policies are loaded and chosen by staff
/// through the API; every node follows the choice within `refresh_secs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskSettings {
    /// `enforce`: the booking path acts on the answers (asks for a challenge, refuses);
    /// `observe`: it only assesses and records them (to watch a policy before it bites).
    pub mode: String,
    /// Assessments bought (the contract's 100 million); 0: no quota.
    pub quota: u64,
    /// How often a node reads which policies run and saves its metered assessments.
    pub refresh_secs: u64,
    /// Keys each feature table holds at most (accounts, devices, phones, ID numbers…).
    pub max_keys: usize,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            mode: "enforce".into(),
            quota: 100_000_000,
            refresh_secs: 2,
            max_keys: gatehouse_risk::features::Limits::default().keys,
        }
    }
}

impl RiskSettings {
    pub fn service(&self) -> anyhow::Result<gatehouse_risk_service::RiskSettings> {
        anyhow::ensure!(
            (1_000..=50_000_000).contains(&self.max_keys),
            "risk.max_keys must be 1,000 to 50,000,000"
        );
        anyhow::ensure!(
            (1..=3_600).contains(&self.refresh_secs),
            "risk.refresh_secs must be 1 to 3,600"
        );
        let enforce = match self.mode.as_str() {
            "enforce" => true,
            "observe" => false,
            other => anyhow::bail!("risk.mode must be enforce or observe, not {other:?}"),
        };
        Ok(gatehouse_risk_service::RiskSettings {
            enforce,
            quota: (self.quota > 0).then_some(self.quota),
            limits: gatehouse_risk::features::Limits {
                keys: self.max_keys,
                ..gatehouse_risk::features::Limits::default()
            },
        })
    }
}

/// How long personal data is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// Visitors' personal data on orders (contact phone, names, ID numbers) is erased this many
    /// days after the visit (checked every hour; each run that erases is audited).
    pub visitor_retention_days: u32,
    /// Phones texted when a breach's notice deadline nears (a quarter of the 24- or 48-hour
    /// window left) or passes with notices unsent: the data-protection officer, the duty manager.
    pub breach_escalation_phones: Vec<String>,
    /// Mailboxes sent the whole breach report once its notices are sent, and every escalation:
    /// the data-protection officer, the supervising authority's reporting address.
    pub breach_emails: Vec<String>,
    /// The SMTP relay those e-mails go through (`smtp://host:25`,
    /// `smtp://user:pass@host:587?tls=required`, `smtps://user:pass@host:465`); unset, they stay
    /// in an in-memory outbox (the demo).
    pub smtp_url: Option<Secret>,
    /// The sender of those e-mails.
    pub mail_from: String,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            visitor_retention_days: 30,
            breach_escalation_phones: Vec::new(),
            breach_emails: Vec::new(),
            smtp_url: None,
            mail_from: "gatehouse@localhost".into(),
        }
    }
}

/// Where the web application firewall's rules are. The OWASP CRS and libinjection's data are
/// not part of Gatehouse: a deployment installs them (a checkout finds them in `../shared`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafSettings {
    /// The OWASP CRS v4 directory (`rules/`, `crs-setup.conf.example`); unset: `../shared/crs`
    /// if it is there, else the firewall is off with a warning.
    pub crs_dir: Option<PathBuf>,
    /// libinjection's directory (`src/sqlparse_data.json`); unset: `../shared/libinjection`.
    pub libinjection_dir: Option<PathBuf>,
    /// The audit log (JSON lines); unset: audit records go to the log.
    pub audit_log: Option<PathBuf>,
}

impl WafSettings {
    /// The rule files: those configured (which must be there), else the checkout's neighbours.
    pub fn rule_files(&self) -> anyhow::Result<Option<gatehouse_waf::firewall::RuleFiles>> {
        let found = |configured: &Option<PathBuf>, default: &str| {
            configured.clone().or_else(|| {
                let dir = PathBuf::from(default);
                dir.is_dir().then_some(dir)
            })
        };
        let crs = found(&self.crs_dir, "../shared/crs");
        let libinjection = found(&self.libinjection_dir, "../shared/libinjection");
        match (crs, libinjection) {
            (Some(crs), Some(libinjection)) => Ok(Some(gatehouse_waf::firewall::RuleFiles {
                crs,
                libinjection,
            })),
            _ if self.crs_dir.is_some() || self.libinjection_dir.is_some() => anyhow::bail!(
                "waf: set both crs_dir and libinjection_dir (or neither, to use ../shared)"
            ),
            _ => Ok(None),
        }
    }
}

/// Traffic protection in front of every route.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShieldSettings {
    /// Off: requests pass unexamined (to measure what protection costs, or when another layer
    /// protects this server).
    pub enabled: bool,
    /// The policy file (TOML; see `crates/shield/src/default_policy.toml`). Without one the
    /// built-in policy runs.
    pub policy: Option<PathBuf>,
    /// How often the policy file is checked for changes, in seconds.
    pub reload_secs: u64,
    /// Redis shared by every node (`redis://host:6379`): per-client limits are counted there,
    /// exactly across nodes. Unset: each node counts its own.
    pub redis_url: Option<Secret>,
    /// The prefix of the limits' keys in Redis (one per deployment sharing a Redis).
    pub redis_prefix: String,
}

impl Default for ShieldSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            policy: None,
            reload_secs: 2,
            redis_url: None,
            redis_prefix: "gh".into(),
        }
    }
}

impl ShieldSettings {
    /// The edge with the configured policy (a bad file stops the start, naming the field), its
    /// lists read from `store`, the policy file watched and refusals written as security events.
    pub async fn start_edge(
        &self,
        store: Option<std::sync::Arc<dyn gatehouse_domain::traffic::TrafficStore>>,
        clock: std::sync::Arc<dyn gatehouse_domain::Clock>,
        pass_key: &[u8; 32],
        meter_file: &std::path::Path,
        waf: &WafSettings,
        body_limit: usize,
    ) -> anyhow::Result<std::sync::Arc<gatehouse_edge::Edge>> {
        let edge = self.edge(store, clock)?;
        if self.enabled {
            match waf.rule_files()? {
                Some(files) => {
                    let started = std::time::Instant::now();
                    edge.attach_firewall(files.clone(), body_limit, waf.audit_log.clone())
                        .map_err(|e| anyhow::anyhow!("web application firewall: {e}"))?;
                    tracing::info!(crs = %files.crs.display(), ms = started.elapsed().as_millis() as u64, policy = ?edge.firewall_policy().map(|p| p.mode), "web application firewall loaded");
                }
                None => tracing::warn!(
                    "web application firewall off: no rule set (set waf.crs_dir and waf.libinjection_dir)"
                ),
            }
        }
        edge.shield().set_pass_key(pass_key);
        let meter = gatehouse_meter::CallMeter::open(meter_file)
            .with_context(|| format!("opening the call meter {}", meter_file.display()))?;
        edge.attach_meter(std::sync::Arc::new(meter));
        if let Some(url) = &self.redis_url {
            edge.share_limits(url.expose(), &self.redis_prefix)
                .await
                .map_err(anyhow::Error::msg)?;
        }
        edge.start_background()
            .await
            .context("reading the traffic lists")?;
        if let Some(path) = &self.policy {
            edge.watch(
                path.clone(),
                std::time::Duration::from_secs(self.reload_secs.max(1)),
            );
        }
        Ok(edge)
    }

    /// The edge with the configured policy (a bad file stops the start, naming the field).
    pub fn edge(
        &self,
        store: Option<std::sync::Arc<dyn gatehouse_domain::traffic::TrafficStore>>,
        clock: std::sync::Arc<dyn gatehouse_domain::Clock>,
    ) -> anyhow::Result<std::sync::Arc<gatehouse_edge::Edge>> {
        if !self.enabled {
            tracing::warn!("traffic protection is off (shield.enabled = false)");
            return Ok(gatehouse_edge::Edge::disabled());
        }
        let text = match &self.policy {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the shield policy {}", path.display()))?,
            None => gatehouse_shield::DEFAULT_POLICY.to_owned(),
        };
        let policy = gatehouse_shield::Policy::from_toml(&text).map_err(|e| {
            anyhow::anyhow!(
                "shield policy {}: {e}",
                self.policy
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(built in)".into())
            )
        })?;
        Ok(match store {
            Some(store) => gatehouse_edge::Edge::with_store(policy, store, clock),
            None => gatehouse_edge::Edge::new(policy),
        })
    }
}

/// Group bookings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// Whether staff approve an organisation before it books as a group.
    pub require_approval: bool,
}

impl Default for GroupSettings {
    fn default() -> Self {
        Self {
            require_approval: true,
        }
    }
}

/// How fast the waiting room admits: it starts at `start_per_s` and adapts (additive increase
/// while the booking path's p99 and the admitted people inside their window are under target,
/// multiplicative decrease when over) between the bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    pub start_per_s: f64,
    pub min_per_s: f64,
    pub max_per_s: f64,
    /// Booking p99 (ms, the slowest node's) above which admission slows.
    pub target_p99_ms: f64,
    /// Admitted people inside their window above which admission slows.
    pub max_in_flight: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        let r = gatehouse_queue::RateSettings::default();
        Self {
            start_per_s: r.start_per_s,
            min_per_s: r.min_per_s,
            max_per_s: r.max_per_s,
            target_p99_ms: r.target_p99_ms,
            max_in_flight: r.max_in_flight,
        }
    }
}

impl QueueSettings {
    /// The rate's settings, checked: positive, and the start within the bounds.
    pub fn rate(&self) -> anyhow::Result<gatehouse_queue::RateSettings> {
        anyhow::ensure!(
            self.min_per_s > 0.0 && self.min_per_s <= self.max_per_s,
            "queue.min_per_s must be above 0 and at most queue.max_per_s"
        );
        anyhow::ensure!(
            (self.min_per_s..=self.max_per_s).contains(&self.start_per_s),
            "queue.start_per_s must lie between queue.min_per_s and queue.max_per_s"
        );
        anyhow::ensure!(
            self.target_p99_ms > 0.0 && self.max_in_flight > 0,
            "queue.target_p99_ms and queue.max_in_flight must be above 0"
        );
        Ok(gatehouse_queue::RateSettings {
            start_per_s: self.start_per_s,
            min_per_s: self.min_per_s,
            max_per_s: self.max_per_s,
            target_p99_ms: self.target_p99_ms,
            max_in_flight: self.max_in_flight,
            ..gatehouse_queue::RateSettings::default()
        })
    }
}

/// Ticket codes at the gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSettings {
    /// How long before its slot starts a ticket admits.
    pub early_entry_minutes: u32,
    /// How long after its slot ends a ticket still admits.
    pub late_entry_minutes: u32,
    /// No-shows (valid tickets never checked in) within `no_show_window_days` that lock the
    /// account and the ID number for `no_show_lock_days`; 0 turns the rule off.
    pub no_show_threshold: u32,
    pub no_show_window_days: u32,
    pub no_show_lock_days: u32,
}

impl TicketSettings {
    /// How the gates work, for the museum's time zone.
    pub fn gate_config(
        &self,
        museum_tz: jiff::tz::TimeZone,
        database_breaker: gatehouse_domain::breaker::BreakerPolicy,
    ) -> gatehouse_gates::GateConfig {
        let days = |d: u32| jiff::SignedDuration::from_hours(i64::from(d) * 24);
        gatehouse_gates::GateConfig {
            museum_tz,
            late_entry: jiff::SignedDuration::from_mins(i64::from(self.late_entry_minutes)),
            no_show: gatehouse_domain::no_show::NoShowRule {
                threshold: self.no_show_threshold,
                window: days(self.no_show_window_days),
                lock_for: days(self.no_show_lock_days),
            },
            database_breaker,
        }
    }
}

impl Default for TicketSettings {
    fn default() -> Self {
        Self {
            early_entry_minutes: 30,
            late_entry_minutes: 0,
            no_show_threshold: 3,
            no_show_window_days: 90,
            no_show_lock_days: 30,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database: DatabaseConfig {
                url: None,
                pg_schema: None,
                sqlite_durability: "normal".into(),
            },
            key_file: None,
            audit_key_file: None,
            keys: None,
            museum_timezone: "Asia/Shanghai".into(),
            demo_catalogue: true,
            housekeeping_interval_ms: 1000,
            log: "info".into(),
            identity: IdentitySettings::default(),
            payments: crate::payments_setup::PaymentSettings::default(),
            tickets: TicketSettings::default(),
            groups: GroupSettings::default(),
            queue: QueueSettings::default(),
            risk: RiskSettings::default(),
            shield: ShieldSettings::default(),
            waf: WafSettings::default(),
            breakers: crate::breaker_settings::Breakers::default(),
            privacy: PrivacySettings::default(),
        }
    }
}

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "config file {} does not exist",
                    path.display()
                );
                figment = figment.merge(Toml::file(path));
            }
            None if Path::new("gatehouse.toml").exists() => {
                figment = figment.merge(Toml::file("gatehouse.toml"))
            }
            None => {}
        }
        let config: Config = figment
            .merge(Env::prefixed("GATEHOUSE_").split("__"))
            .extract()
            .context("invalid configuration")?;
        jiff::tz::TimeZone::get(&config.museum_timezone)
            .with_context(|| format!("unknown museum_timezone {:?}", config.museum_timezone))?;
        config.breakers.validate()?;
        Ok(config)
    }

    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }

    pub fn audit_key_file(&self) -> PathBuf {
        self.audit_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_printed() {
        let mut c = Config {
            keys: Some(Secret("gatehouse-keys-v1:abc:def".into())),
            ..Config::default()
        };
        c.database.url = Some(Secret("postgres://user:pw@host/db".into()));
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("abc:def") && !printed.contains("pw@"),
            "{printed}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9\"\nlisten_typo = 1\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(format!("{err:#}").contains("listen_typo"), "{err:#}");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9\"\n[database]\nsqlite_durability = \"full\"\n",
        )
        .unwrap();
        let ok = Config::load(Some(&path)).unwrap();
        assert_eq!(ok.listen.port(), 9);
        assert_eq!(ok.database.sqlite_durability, "full");
    }

    #[test]
    fn the_waiting_rooms_rate_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(
            &path,
            "[queue]
start_per_s = 400
max_in_flight = 900
",
        )
        .unwrap();
        let rate = Config::load(Some(&path)).unwrap().queue.rate().unwrap();
        assert_eq!((rate.start_per_s, rate.max_in_flight), (400.0, 900));
        assert_eq!(rate.max_per_s, 2_000.0, "the rest keep their defaults");
        for bad in [
            "start_per_s = 3000",
            "start_per_s = 1",
            "min_per_s = 0",
            "min_per_s = 10\nmax_per_s = 5",
            "target_p99_ms = 0",
            "max_in_flight = 0",
        ] {
            let text = format!("[queue]\n{bad}\n");
            std::fs::write(&path, text).unwrap();
            let err = Config::load(Some(&path)).unwrap().queue.rate().unwrap_err();
            assert!(format!("{err}").contains("queue."), "{bad}: {err}");
        }
    }
}
