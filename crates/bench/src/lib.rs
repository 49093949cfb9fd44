//! Benchmarks that replay the museum's hard moments against a real Gatehouse server over
//! loopback HTTP and print their figures as JSON. They never run as unit tests: timing belongs
//! here, in a command the repo keeps, with results recorded in BENCHMARKS.md.

mod auth;
mod bare;
mod client;
mod flood;
mod gate;
mod gate_online;
mod pay;
mod queue;
mod queue_sell;
mod risk;
mod risk_service;
mod rush;
pub mod seats;
mod server;
mod setup;
mod shield;
mod shield_http;
mod signin;
mod sim_people;
mod sim_rush;
mod vault;
mod waf;

pub use auth::AuthArgs;
pub use client::{Conn, Reply};
pub use gate::GateArgs;
pub use pay::{wechat_pay_env, PayArgs};
pub use queue::QueueArgs;
pub use risk::RiskArgs;
pub use rush::RushArgs;
pub use seats::SeatsArgs;
pub use server::OPEN_POLICY;
pub use shield::ShieldArgs;
pub use signin::sign_in_visitors;
pub use sim_rush::SimRushArgs;
pub use waf::WafArgs;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Replay a 09:00 release: everyone books at once.
    Rush(RushArgs),
    /// What authentication costs: session validation per request, sign-ins per second.
    Auth(AuthArgs),
    /// What paying costs: provider notifications verified and applied per second, and the
    /// pay → confirmed path.
    Pay(PayArgs),
    /// What checking tickets costs: offline decisions per second on one core, durable online
    /// check-ins per second.
    Gate(GateArgs),
    /// Clients racing for one cinema showing's seats: none sold twice.
    Seats(SeatsArgs),
    /// What traffic protection costs per request, and its memory bound under rotating keys.
    Shield(ShieldArgs),
    /// What the firewall costs with the whole OWASP CRS: load time, memory, CPU per request.
    Waf(WafArgs),
    /// What protecting personal data costs: sealing and opening a field, audit records made
    /// durable per second.
    Vault(vault::VaultArgs),
    /// What the waiting room costs: joins and position polls per second over HTTP.
    Queue(QueueArgs),
    /// What a risk assessment costs in-process: p50 / p99 alone, and per second on every core.
    Risk(RiskArgs),
}

/// Simulations of the museum's hard moments with labelled populations, printing JSON.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// A protected 09:00 release driven by families, casual scalpers, scalper rings and bots:
    /// who got the tickets, and how well risk control told them apart.
    Rush(SimRushArgs),
}

/// Runs a simulation and prints its JSON result on stdout.
pub async fn run_sim(command: SimCommand) -> anyhow::Result<()> {
    let result = match command {
        SimCommand::Rush(args) => sim_rush::run(args).await?,
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}

/// Runs a benchmark and prints its JSON result on stdout.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    let result = match command {
        BenchCommand::Rush(args) => rush::run(args).await?,
        BenchCommand::Auth(args) => auth::run(args).await?,
        BenchCommand::Pay(args) => pay::run(args).await?,
        BenchCommand::Gate(args) => gate::run(args).await?,
        BenchCommand::Seats(args) => seats::run(args).await?,
        BenchCommand::Shield(args) => shield::run(args).await?,
        BenchCommand::Waf(args) => waf::run(args).await?,
        BenchCommand::Vault(args) => vault::run(args).await?,
        BenchCommand::Queue(args) => queue::run(args).await?,
        BenchCommand::Risk(args) => risk::run(args).await?,
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}
