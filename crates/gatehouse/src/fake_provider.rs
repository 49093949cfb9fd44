//! `gatehouse fake-provider …`: a local payment provider as its own process, for demos and
//! tests against a separately running server. It keeps its keys in a file (generated on first
//! start) and writes the `[payments]` settings a Gatehouse server needs to use it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use gatehouse_providers::alipay_fake::FakeAlipay;
use gatehouse_providers::wechatpay_fake::{FakeWeChatPay, FakeWeChatPayKeys};

#[derive(Subcommand)]
pub enum FakeProvider {
    /// WeChat Pay API v3 (JSAPI prepay, query, close, refunds, trade bills, notifications).
    /// Control it with `POST /_fake/pay {"out_trade_no"}`, `POST /_fake/settle-refunds` and
    /// `POST /_fake/delivery {"mode": "normal|silent|duplicate|delayed|hold|forged", "release": false}`.
    Wechat {
        #[arg(long, default_value = "127.0.0.1:9801")]
        listen: SocketAddr,
        /// The fake's keys (merchant and platform), created on first start.
        #[arg(long, default_value = "data/fake-wechat-pay.json")]
        keys: PathBuf,
        /// Write the `[payments]` TOML a Gatehouse server needs to use this fake.
        #[arg(long)]
        write_config: Option<PathBuf>,
        /// Complete processing refunds this often (0: only when told).
        #[arg(long, default_value_t = 2000)]
        settle_refunds_every_ms: u64,
    },
    /// Alipay open platform (trade create / precreate / page pay, query, close, refunds, bills,
    /// notifications). Its keys and the application's are generated at each start: write the
    /// settings with `--write-config` and restart Gatehouse with them. Control it with
    /// `POST /_fake/pay {"out_trade_no"}` and `POST /_fake/delivery {"mode", "release"}`.
    Alipay {
        #[arg(long, default_value = "127.0.0.1:9802")]
        listen: SocketAddr,
        #[arg(long, default_value = "2021000117650001")]
        app_id: String,
        /// Write the `[payments]` TOML a Gatehouse server needs to use this fake.
        #[arg(long)]
        write_config: Option<PathBuf>,
        /// Where the web cashier sends the visitor back.
        #[arg(long, default_value = "http://127.0.0.1:8080/")]
        return_url: String,
    },
}

pub async fn run(provider: FakeProvider) -> anyhow::Result<()> {
    match provider {
        FakeProvider::Wechat {
            listen,
            keys,
            write_config,
            settle_refunds_every_ms,
        } => {
            let keys = if keys.exists() {
                serde_json::from_str(&std::fs::read_to_string(&keys)?)
                    .with_context(|| format!("reading {}", keys.display()))?
            } else {
                let generated = FakeWeChatPayKeys::generate()?;
                if let Some(dir) = keys.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&keys, serde_json::to_string_pretty(&generated)?)?;
                generated
            };
            let fake =
                FakeWeChatPay::new(keys, std::sync::Arc::new(gatehouse_domain::SystemClock))?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let url = format!("http://{}", listener.local_addr()?);
            fake.set_base_url(&url);
            if let Some(path) = write_config {
                std::fs::write(&path, settings_toml(fake.keys(), &url))?;
            }
            if settle_refunds_every_ms > 0 {
                let settler = fake.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            settle_refunds_every_ms,
                        ))
                        .await;
                        settler.settle_refunds().await;
                    }
                });
            }
            #[allow(clippy::print_stdout)]
            {
                println!("fake WeChat Pay listening on {url}");
            }
            axum::serve(listener, fake.router()).await?;
            Ok(())
        }
        FakeProvider::Alipay {
            listen,
            app_id,
            write_config,
            return_url,
        } => {
            let (app_private, app_public) = gatehouse_providers::rsa_keys::generate_pem()?;
            let fake = FakeAlipay::new(&app_id, &app_public)?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let url = format!("http://{}", listener.local_addr()?);
            fake.set_base_url(&url);
            if let Some(path) = write_config {
                let q = |s: &str| format!("{s:?}");
                let toml = [
                    "[payments]".to_owned(),
                    "mode = \"providers\"".to_owned(),
                    "[payments.alipay]".to_owned(),
                    format!("gateway = {}", q(&format!("{url}/gateway.do"))),
                    format!("app_id = {}", q(&app_id)),
                    format!("app_private_key = {}", q(&app_private)),
                    format!("alipay_public_key = {}", q(fake.alipay_public_key_pem())),
                    format!("return_url = {}", q(&return_url)),
                ]
                .join("\n")
                    + "\n";
                std::fs::write(&path, toml)?;
            }
            #[allow(clippy::print_stdout)]
            {
                println!("fake Alipay listening on {url}");
            }
            axum::serve(listener, fake.router()).await?;
            Ok(())
        }
    }
}

/// The `[payments]` section for a server using this fake (Rust's `{:?}` of a string is a valid
/// TOML basic string for these ASCII values).
fn settings_toml(keys: &FakeWeChatPayKeys, url: &str) -> String {
    let q = |s: &str| format!("{s:?}");
    [
        "[payments]".to_owned(),
        "mode = \"providers\"".to_owned(),
        "[payments.wechat_pay]".to_owned(),
        format!("base_url = {}", q(url)),
        format!("mchid = {}", q(&keys.mchid)),
        format!("appid = {}", q(&keys.appid)),
        format!("merchant_serial = {}", q(&keys.merchant_serial)),
        format!("merchant_private_key = {}", q(&keys.merchant_private_key)),
        format!("api_v3_key = {}", q(&keys.api_v3_key)),
        format!("platform_serial = {}", q(&keys.platform_serial)),
        format!("platform_public_key = {}", q(&keys.platform_public_key)),
    ]
    .join("\n")
        + "\n"
}
