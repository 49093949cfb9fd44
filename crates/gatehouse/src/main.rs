//! The `gatehouse` binary: parses the command line and configuration, wires the crates together
//! and runs one command. No logic lives here.

mod audit_cli;
mod breaker_settings;
mod config;
mod fake_provider;
mod gate_cli;
mod gateway_cli;
mod keys_cli;
mod payments_setup;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse_booking::{BookingConfig, BookingService};
use gatehouse_domain::access::Roles;
use gatehouse_domain::account::{AccountStore, SignInMethod};
use gatehouse_domain::audit::AuditStore;
use gatehouse_domain::data_key::DataKeyStore;
use gatehouse_domain::gate::GateStore;
use gatehouse_domain::group::GroupStore;
use gatehouse_domain::measure::MeasureStore;
use gatehouse_domain::no_show::NoShowStore;
use gatehouse_domain::payment_store::PaymentStore;
use gatehouse_domain::risk::RiskStore;
use gatehouse_domain::sealed_column::LegacySealStore;
use gatehouse_domain::store::Store;
use gatehouse_domain::traffic::TrafficStore;
use gatehouse_domain::waiting::ProtectedReleaseStore;
use gatehouse_domain::SystemClock;
use gatehouse_gates::GateService;
use gatehouse_identity::{IdentityService, LocalSms};
use gatehouse_payments::PaymentService;
use gatehouse_privacy::{KeySet, Vault};
use gatehouse_store::{PgStore, SqliteDurability, SqliteStore};

use crate::config::Config;

// mimalloc: the request path allocates small, short-lived buffers on two threads; glibc's malloc
// spent about a tenth of the server's CPU on them in the rush benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Timed, real-name museum booking with its own risk control"
)]
struct Cli {
    /// Configuration file (TOML); `gatehouse.toml` in the working directory is read if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Staff tasks run against the database directly.
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
    /// The tamper-evident audit log: verify its chain and checkpoints.
    Audit {
        #[command(subcommand)]
        task: audit_cli::AuditTask,
    },
    /// The keys that protect personal data: rotate the master key, show its versions.
    Keys {
        #[command(subcommand)]
        task: keys_cli::KeysTask,
    },
    /// Benchmarks that print JSON.
    Bench {
        #[command(subcommand)]
        bench: gatehouse_bench::BenchCommand,
    },
    /// Simulations that print JSON (`sim rush`: the 09:00 release with labelled populations).
    Sim {
        #[command(subcommand)]
        sim: gatehouse_bench::SimCommand,
    },
    /// Work a gate: read scanned codes from stdin, check them in online, or offline from the
    /// day's bundle when the server is unreachable (entries are uploaded on reconnect).
    Gate(gate_cli::GateArgs),
    /// Protect any HTTP service: the traffic-protection layer (the `shield.*` settings and
    /// policy file) in front of a proxy to `--upstream`.
    Gateway(gateway_cli::GatewayArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Run a local payment provider (for the demo, tests and benchmarks): it checks and signs
    /// exactly as the provider documents, with its own generated keys.
    FakeProvider {
        #[command(subcommand)]
        provider: fake_provider::FakeProvider,
    },
}

#[derive(Subcommand)]
enum AdminTask {
    /// Create an account with roles and print a session token for it (shown only once; staff
    /// sessions last `identity.staff_session_minutes`). For operators on the server itself.
    CreateAccount {
        #[arg(long, default_value = "staff")]
        name: String,
        /// Comma-separated roles, e.g. `administrator` or `gate_staff,customer_support`.
        #[arg(long, default_value = "administrator")]
        roles: String,
    },
    /// Create or reset the break-glass administrator: prints a new password and TOTP secret.
    BreakGlass {
        #[arg(long, default_value = "breakglass")]
        username: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve => runtime.block_on(serve(Config::load(cli.config.as_deref())?)),
        Command::Admin { task } => {
            runtime.block_on(admin(Config::load(cli.config.as_deref())?, task))
        }
        Command::Audit { task } => {
            let code =
                runtime.block_on(audit_cli::run(Config::load(cli.config.as_deref())?, task))?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Keys { task } => {
            runtime.block_on(keys_cli::run(Config::load(cli.config.as_deref())?, task))
        }
        Command::Bench { bench } => runtime.block_on(gatehouse_bench::run(bench)),
        Command::Sim { sim } => runtime.block_on(gatehouse_bench::run_sim(sim)),
        Command::FakeProvider { provider } => runtime.block_on(fake_provider::run(provider)),
        Command::Gate(args) => runtime.block_on(gate_cli::run(args)),
        Command::Gateway(args) => {
            runtime.block_on(gateway_cli::run(Config::load(cli.config.as_deref())?, args))
        }
        Command::Openapi => {
            let doc = serde_json::to_string_pretty(&gatehouse_api::openapi())?;
            #[allow(clippy::print_stdout)]
            {
                println!("{doc}");
            }
            Ok(())
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

struct Services {
    booking: Arc<BookingService>,
    identity: Arc<IdentityService>,
    payment_store: Arc<dyn PaymentStore>,
    gates: Arc<GateService>,
    groups: Arc<gatehouse_groups::GroupService>,
    traffic: Arc<dyn TrafficStore>,
    releases: Arc<dyn ProtectedReleaseStore>,
    risk: Arc<dyn RiskStore>,
    measures: Arc<dyn MeasureStore>,
    pass_key: [u8; 32],
    admission_key: [u8; 32],
    risk_key: [u8; 32],
    clock: Arc<dyn gatehouse_domain::Clock>,
}

/// The gate and group services' store: check-ins, no-shows, organisations.
trait GateStores: GateStore + NoShowStore + GroupStore {}
impl<S: GateStore + NoShowStore + GroupStore> GateStores for S {}

/// The configured database through each of its ports.
struct Ports {
    store: Arc<dyn Store>,
    accounts: Arc<dyn AccountStore>,
    payments: Arc<dyn PaymentStore>,
    gates: Arc<dyn GateStores>,
    traffic: Arc<dyn TrafficStore>,
    audit: Arc<dyn AuditStore>,
    data_keys: Arc<dyn DataKeyStore>,
    legacy_seals: Arc<dyn LegacySealStore>,
    releases: Arc<dyn ProtectedReleaseStore>,
    risk: Arc<dyn RiskStore>,
    measures: Arc<dyn MeasureStore>,
}

fn ports<
    S: Store
        + AccountStore
        + PaymentStore
        + GateStores
        + TrafficStore
        + AuditStore
        + DataKeyStore
        + LegacySealStore
        + ProtectedReleaseStore
        + RiskStore
        + MeasureStore,
>(
    s: S,
) -> Ports {
    let s = Arc::new(s);
    Ports {
        store: s.clone(),
        accounts: s.clone(),
        payments: s.clone(),
        gates: s.clone(),
        traffic: s.clone(),
        audit: s.clone(),
        data_keys: s.clone(),
        legacy_seals: s.clone(),
        releases: s.clone(),
        risk: s.clone(),
        measures: s,
    }
}

/// The configured database (PostgreSQL, or the SQLite file in the data directory) through
/// each of its ports.
async fn open_stores(config: &Config) -> anyhow::Result<Ports> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    Ok(match &config.database.url {
        Some(url) => ports(
            PgStore::connect(url.expose(), config.database.pg_schema.as_deref())
                .await
                .context("connecting to PostgreSQL")?,
        ),
        None => {
            let durability: SqliteDurability = config
                .database
                .sqlite_durability
                .parse()
                .map_err(anyhow::Error::msg)?;
            let path = config.data_dir.join("gatehouse.db");
            ports(
                SqliteStore::open(&path, durability)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?,
            )
        }
    })
}

/// Erases visitors' personal data on orders `retention_days` after the visit, and releases the
/// ended no-show locks of erased people: at start, then every hour; each run that erased
/// something is in the audit log.
fn spawn_retention(
    service: Arc<BookingService>,
    identity: Arc<IdentityService>,
    retention_days: u32,
) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match service.purge_personal_data(retention_days).await {
                Ok(purged) if purged.orders > 0 => {
                    identity
                        .audit(
                            None,
                            "retention_purge",
                            &format!(
                                "visitors' personal data erased {retention_days} days after the visit: {} orders, {} tickets",
                                purged.orders, purged.tickets
                            ),
                        )
                        .await;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            }
            if let Err(e) = identity.finish_erasures().await {
                tracing::error!(error = %e, "finishing erasures failed");
            }
        }
    });
}

/// Holds breach notices to their deadlines: every minute, escalates a breach whose deadline
/// nears or passed with notices unsent.
fn spawn_breach_watch(identity: Arc<IdentityService>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = identity.watch_breaches().await {
                tracing::error!(error = %e, "watching breach deadlines failed");
            }
        }
    });
}

/// The key that signs the audit log's checkpoints (its own file, created on first start).
fn load_audit_signer(config: &Config) -> anyhow::Result<gatehouse_audit::CheckpointSigner> {
    let path = config.audit_key_file();
    gatehouse_audit::CheckpointSigner::load_or_create(&path)
        .with_context(|| format!("audit key file {}", path.display()))
}

/// The key traffic protection signs challenges and passes with: derived from the key set under
/// a label of its own, so every node shares it and no other key file is needed.
fn pass_key(keys: &KeySet) -> [u8; 32] {
    keys.derived_key("traffic-pass-key")
}

async fn open(config: &Config) -> anyhow::Result<Services> {
    let Ports {
        store,
        accounts,
        payments: payment_store,
        gates: gate_store,
        traffic,
        audit: audit_store,
        data_keys,
        legacy_seals,
        releases,
        risk,
        measures,
    } = open_stores(config).await?;
    let (key_set, masters) = keys_cli::load_key_set(config)?;
    let museum_tz = jiff::tz::TimeZone::get(&config.museum_timezone)?;
    let pass_key = pass_key(&key_set);
    // Admission tokens of the waiting room: every node derives the same key.
    let admission_key = key_set.derived_key("admission-token-key");
    // Risk control blinds phones, ID numbers, devices and payment accounts with its own key.
    let risk_key = key_set.derived_key("risk-subject-key");
    let clock: Arc<dyn gatehouse_domain::Clock> = Arc::new(SystemClock);
    let keys = Arc::new(
        Vault::new(&key_set, masters, data_keys, clock.clone())
            .with_shred_list(keys_cli::shred_list(config)),
    );
    // A database restored from a backup must not bring an erased person back.
    let erased_again = keys
        .replay_shred_list()
        .await
        .context("erasing again the people on the shred list")?;
    if erased_again > 0 {
        tracing::warn!(
            erased_again,
            "people on the shred list were back in the database (a restored backup?) and are erased again"
        );
    }
    keys_cli::spawn_key_refresh(keys.clone(), legacy_seals);
    let audit_log = gatehouse_audit::AuditLog::start(
        audit_store,
        Arc::new(load_audit_signer(config)?),
        clock.clone(),
        gatehouse_audit::AppendSettings::default(),
    );
    let adopted = gatehouse_audit::adopt_legacy(&audit_log, accounts.as_ref())
        .await
        .context("moving the old audit trail into the chained log")?;
    if adopted > 0 {
        tracing::info!(
            lines = adopted,
            "the old audit trail is now in the chained log"
        );
    }
    let identity = IdentityService::start(
        accounts,
        keys.clone(),
        clock.clone(),
        Arc::new(LocalSms::default()),
        audit_log,
        config.identity.to_config(
            museum_tz.clone(),
            config.breakers.identity.policy(),
            &config.privacy,
        )?,
    );
    if let Some(url) = &config.privacy.smtp_url {
        identity.use_mail(Arc::new(
            gatehouse_providers::smtp::SmtpMail::new(url.expose(), &config.privacy.mail_from)
                .context("privacy.smtp_url")?,
        ));
    }
    if let Some(a) = &config.identity.alipay {
        let client = gatehouse_providers::alipay::AlipayClient::new(
            &gatehouse_providers::alipay::AlipayConfig {
                gateway: a.gateway.clone(),
                app_id: a.app_id.clone(),
                app_private_key: a.app_private_key.expose().to_owned(),
                alipay_public_key: a.alipay_public_key.clone(),
            },
            clock.clone(),
        )
        .context("identity.alipay")?;
        identity.register_external(Arc::new(client));
    }
    if let Some(w) = &config.identity.wechat {
        identity.register_external(Arc::new(gatehouse_providers::wechat::WeChatClient::new(
            gatehouse_providers::wechat::WeChatConfig {
                api_base: w.api_base.clone(),
                app_id: w.app_id.clone(),
                app_secret: w.app_secret.expose().to_owned(),
            },
        )));
    }
    if let Some(s) = &config.identity.staff_sso {
        identity.register_staff_sso(Arc::new(gatehouse_providers::oidc::OidcClient::new(
            gatehouse_providers::oidc::OidcConfig {
                issuer: s.issuer.clone(),
                client_id: s.client_id.clone(),
                client_secret: s.client_secret.expose().to_owned(),
                redirect_uri: s.redirect_uri.clone(),
                scopes: s.scopes.clone(),
                role_claim: s.role_claim.clone(),
            },
            clock.clone(),
        )));
    }
    if let Some(f) = &config.identity.face.aliyun {
        identity.register_face_provider(Arc::new(
            gatehouse_providers::aliyun_face::AliyunFaceClient::new(
                gatehouse_providers::aliyun_face::AliyunFaceConfig {
                    endpoint: f.endpoint.clone(),
                    access_key_id: f.access_key_id.clone(),
                    access_key_secret: f.access_key_secret.expose().to_owned(),
                    scene_id: f.scene_id.clone(),
                },
                clock.clone(),
            ),
        ));
    }
    // The ticket-signing key is derived from the keyring under a label of its own: every node
    // signs with the same key and no other key file is needed. Key id 1 names this derivation.
    let ticket_codes = gatehouse_tickets::TicketCodes::from_secret(
        1,
        key_set.derived_key("ticket-signing-key"),
        jiff::SignedDuration::from_mins(i64::from(config.tickets.early_entry_minutes)),
        jiff::SignedDuration::from_mins(i64::from(config.tickets.late_entry_minutes)),
    )
    .map_err(|e| anyhow::anyhow!("ticket signing key: {e}"))?;
    let groups = Arc::new(gatehouse_groups::GroupService::new(
        gate_store.clone(),
        clock.clone(),
        config.groups.require_approval,
    ));
    let gates = Arc::new(GateService::start(
        gate_store.clone(),
        gate_store,
        clock.clone(),
        config
            .tickets
            .gate_config(museum_tz.clone(), config.breakers.database.policy()),
        vec![ticket_codes.public_key()],
    )?);
    let booking = BookingService::start(
        store,
        keys,
        clock.clone(),
        BookingConfig {
            museum_tz,
            database_breaker: config.breakers.database.policy(),
        },
    )
    .await?;
    booking.set_code_issuer(Arc::new(ticket_codes));
    Ok(Services {
        booking,
        identity,
        payment_store,
        gates,
        groups,
        traffic,
        releases,
        risk,
        measures,
        pass_key,
        admission_key,
        risk_key,
        clock,
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(&config.log);
    let Services {
        booking: service,
        identity,
        payment_store,
        gates,
        groups,
        traffic,
        releases,
        risk,
        measures,
        pass_key,
        admission_key,
        risk_key,
        clock,
    } = open(&config).await?;
    if config.demo_catalogue {
        let created = service.seed_demo().await?;
        tracing::info!(slots_created = created, "demo catalogue loaded");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Notification URLs need the address the server listens on, so providers come after the bind.
    let gateways = config.payments.gateways(addr, clock.clone()).await?;
    let payments = PaymentService::new(
        service.clone(),
        payment_store,
        gateways.gateways,
        config
            .payments
            .service_config(config.breakers.payments.policy())?,
    );
    // Payment housekeeping runs the booking service's too (holds expire after their payments
    // were queried).
    payments.spawn_housekeeping(Duration::from_millis(
        config.housekeeping_interval_ms.max(10),
    ));
    spawn_retention(
        service.clone(),
        identity.clone(),
        config.privacy.visitor_retention_days,
    );
    spawn_breach_watch(identity.clone());
    let _fakes = gateways.fakes;
    #[allow(clippy::print_stdout)]
    {
        println!("Gatehouse listening on http://{addr}");
    }
    tracing::info!(%addr, database = if config.database.url.is_some() { "postgresql" } else { "sqlite" }, "serving");
    let edge = config
        .shield
        .start_edge(
            Some(traffic),
            clock.clone(),
            &pass_key,
            &config.data_dir.join("traffic-meter"),
            &config.waf,
            gatehouse_api::MAX_BODY_BYTES,
        )
        .await?;
    let yesterday = clock
        .now()
        .to_zoned(service.museum_tz().clone())
        .date()
        .yesterday()?;
    let queue = Arc::new(
        gatehouse_queue::WaitingRoomService::load(
            gatehouse_queue::WaitingRoom::new(
                gatehouse_queue::TokenKey::new(admission_key),
                config.queue.rate()?,
            ),
            releases,
            clock.clone(),
            yesterday,
        )
        .await?,
    );
    let risk = gatehouse_risk_service::RiskService::start(
        risk,
        measures,
        clock.clone(),
        risk_key,
        config.risk.service()?,
    )
    .await?;
    if let Some(meter) = edge.meter() {
        risk.attach_meter(meter);
    }
    risk.watch(Duration::from_secs(config.risk.refresh_secs));
    let state = gatehouse_api::AppState::new(gatehouse_api::Services {
        service,
        identity,
        payments,
        gates,
        groups,
        edge,
        queue,
        risk,
    });
    spawn_no_show_sweeps(state.clone());
    if let Some(url) = &config.shield.redis_url {
        // One waiting room for every node: the lines live in Redis's log.
        let log = gatehouse_queue_redis::RedisLog::start(
            &state.queue,
            url.expose(),
            &config.shield.redis_prefix,
            state.service.museum_tz().clone(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        tracing::info!(
            node = log.node(),
            "the waiting room is shared through Redis"
        );
    }
    // The waiting room's lines move ten times a second.
    let queue = state.queue.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_millis(100));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = queue.tick().await {
                tracing::warn!(error = %e, "the waiting room could not admit this tick");
            }
        }
    });
    state
        .edge
        .use_challenge_page(gatehouse_web::challenge_page());
    let app = gatehouse_api::router_with_pages(state, gatehouse_web::pages());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

/// Once a minute: no-shows of slots whose entry closed, and the locks the rule places.
fn spawn_no_show_sweeps(state: gatehouse_api::AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = gatehouse_api::sweep_no_shows(&state).await {
                tracing::warn!(error = %e, "no-show sweep failed; will retry");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn admin(config: Config, task: AdminTask) -> anyhow::Result<()> {
    init_logging("warn");
    let Services { identity, .. } = open(&config).await?;
    let printed = match task {
        AdminTask::CreateAccount { name, roles } => {
            let roles = Roles::parse(&roles).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(!roles.is_empty(), "give at least one role");
            let account = identity.create_account(&name, roles).await?;
            identity
                .audit(
                    None,
                    "account_created",
                    &format!("console: account {} as {roles}", account.id.0),
                )
                .await;
            let session = identity
                .issue_session(account, SignInMethod::Console)
                .await?;
            serde_json::json!({
                "account_id": session.account.id.0,
                "roles": roles.to_string(),
                "token": session.access_token,
                "expires_at": session.expires_at.to_string(),
            })
        }
        AdminTask::BreakGlass { username } => {
            let s = identity.create_break_glass(&username).await?;
            serde_json::json!({
                "account_id": s.account.id.0,
                "username": username,
                "password": s.password.as_str(),
                "totp_secret": s.totp_secret_base32.as_str(),
                "otpauth_uri": s.otpauth_uri.as_str(),
            })
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{printed}");
    }
    Ok(())
}
