//! `gatehouse gateway --upstream URL`: traffic protection in front of any HTTP service, with
//! the same `shield.*` settings and policy file as the server (reloaded when it changes), and
//! the same database's block and allow lists, and the same web application firewall (`waf.*`
//! and the policy's `[firewall]`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// The service to protect, e.g. `http://127.0.0.1:8080`.
    #[arg(long, env = "GATEHOUSE_GATEWAY_UPSTREAM")]
    upstream: String,
    /// Where the gateway listens; port 0 picks a free port (the address is printed).
    #[arg(
        long,
        env = "GATEHOUSE_GATEWAY_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    listen: SocketAddr,
    /// The largest request body the firewall reads before the request goes on (bytes); a
    /// larger one is refused with 413.
    #[arg(
        long,
        env = "GATEHOUSE_GATEWAY_BODY_LIMIT",
        default_value_t = 1024 * 1024
    )]
    body_limit: usize,
}

pub async fn run(config: Config, args: GatewayArgs) -> anyhow::Result<()> {
    crate::init_logging(&config.log);
    let upstream =
        gatehouse_edge::gateway::Upstream::parse(&args.upstream).map_err(anyhow::Error::msg)?;
    // The same database as the server: its block and allow lists apply here too, and the
    // gateway's refusals become security events staff see there.
    let traffic = crate::open_stores(&config).await?.traffic;
    // The server's key set: passes earned through either are good at both.
    let pass_key = crate::pass_key(&crate::keys_cli::load_key_set(&config)?.0);
    let edge = config
        .shield
        .start_edge(
            Some(traffic),
            Arc::new(gatehouse_domain::SystemClock),
            &pass_key,
            // Its own meter: it is another node, and may run beside the server.
            &config.data_dir.join("gateway-meter"),
            &config.waf,
            args.body_limit,
        )
        .await?;
    let app = gatehouse_edge::gateway::router(edge, upstream);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "Gatehouse gateway listening on http://{addr}, forwarding to {}",
            args.upstream
        );
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(crate::shutdown_signal())
    .await?;
    Ok(())
}
