//! Payment settings and their wiring: which providers the server takes payments with, and in
//! `demo` mode the local fake providers it starts inside itself (so the embedded default can be
//! paid end to end with nothing else installed).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use gatehouse_domain::payment_gateway::PaymentGateway;
use gatehouse_domain::Clock;
use gatehouse_providers::alipay::AlipayConfig;
use gatehouse_providers::alipay_fake::FakeAlipay;
use gatehouse_providers::alipay_pay::AlipayPay;
use gatehouse_providers::wechatpay::{WeChatPayClient, WeChatPayConfig};
use gatehouse_providers::wechatpay_fake::{FakeWeChatPay, FakeWeChatPayKeys};
use gatehouse_providers::FakeServer;
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// A WeChat Pay direct merchant (API v3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatPaySettings {
    /// `https://api.mch.weixin.qq.com` in production.
    pub base_url: String,
    /// Digits only; read as text even when the environment gives it as a number.
    #[serde(deserialize_with = "text_or_number")]
    pub mchid: String,
    pub appid: String,
    pub merchant_serial: String,
    pub merchant_private_key: Secret,
    /// The 32-character APIv3 key.
    pub api_v3_key: Secret,
    pub platform_serial: String,
    pub platform_public_key: String,
}

/// An Alipay open-platform application taking payments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipayPaySettings {
    /// `https://openapi.alipay.com/gateway.do` in production.
    pub gateway: String,
    #[serde(deserialize_with = "text_or_number")]
    pub app_id: String,
    pub app_private_key: Secret,
    pub alipay_public_key: String,
    /// Where Alipay's web cashier sends the visitor back (the web app's order page).
    pub return_url: String,
}

/// Merchant ids are digits, which `GATEHOUSE_` variables would otherwise turn into numbers.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(u64),
    }
    Ok(match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(t) => t,
        TextOrNumber::Number(n) => n.to_string(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// `demo`: fake WeChat Pay and Alipay run inside the server (the embedded default); `providers`: the
    /// providers configured below; `off`: no payments (free orders only).
    pub mode: String,
    /// This server's public base URL; notification URLs are built from it. Unset in demo mode:
    /// the listening address is used.
    pub public_url: Option<String>,
    /// The start of every payment's description shown to the payer.
    pub merchant_name: String,
    /// How long before an unpaid order's hold ends its open payments are queried.
    pub query_lead_secs: u32,
    /// When (Beijing time, `HH:MM`) yesterday's bills are reconciled.
    pub reconcile_at: String,
    pub wechat_pay: Option<WeChatPaySettings>,
    pub alipay: Option<AlipayPaySettings>,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            mode: "demo".into(),
            public_url: None,
            merchant_name: "Gatehouse museum".into(),
            query_lead_secs: 60,
            reconcile_at: "10:30".into(),
            wechat_pay: None,
            alipay: None,
        }
    }
}

/// The demo's Alipay application id.
const DEMO_ALIPAY_APP: &str = "2021000117650001";

/// The gateways to pay with, and the fake servers kept alive while the server runs.
pub struct Gateways {
    pub gateways: Vec<Arc<dyn PaymentGateway>>,
    pub fakes: Vec<FakeServer>,
}

impl PaymentSettings {
    pub fn service_config(
        &self,
        provider_breaker: gatehouse_domain::breaker::BreakerPolicy,
    ) -> anyhow::Result<gatehouse_payments::PaymentConfig> {
        let reconcile_at =
            jiff::civil::Time::strptime("%H:%M", &self.reconcile_at).with_context(|| {
                format!("payments.reconcile_at {:?} is not HH:MM", self.reconcile_at)
            })?;
        Ok(gatehouse_payments::PaymentConfig {
            query_lead: jiff::SignedDuration::from_secs(i64::from(
                self.query_lead_secs.clamp(5, 600),
            )),
            merchant_name: self.merchant_name.clone(),
            reconcile_at,
            provider_breaker,
        })
    }

    pub async fn gateways(
        &self,
        listen: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Gateways> {
        let base = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let notify = |provider: &str| {
            format!(
                "{}/api/v1/payments/notify/{provider}",
                base.trim_end_matches('/')
            )
        };
        let mut out = Gateways {
            gateways: Vec::new(),
            fakes: Vec::new(),
        };
        match self.mode.as_str() {
            "off" => {}
            "demo" => {
                let fake = FakeWeChatPay::new(FakeWeChatPayKeys::generate()?, clock.clone())?;
                let server = FakeServer::start(fake.router()).await?;
                let url = server.url("");
                fake.set_base_url(&url);
                let config = fake.keys().client_config(&url, &notify("wechat_pay"));
                out.gateways
                    .push(Arc::new(WeChatPayClient::new(&config, clock.clone())?));
                // The demo's refunds complete a few seconds after they are asked for.
                let settler = fake.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                        settler.settle_refunds().await;
                    }
                });
                tracing::info!(url = %url, "demo WeChat Pay started; pay with POST {url}/_fake/pay {{\"out_trade_no\": …}}");
                out.fakes.push(server);
                let (app_private, app_public) = gatehouse_providers::rsa_keys::generate_pem()?;
                let fake = FakeAlipay::with_clock(DEMO_ALIPAY_APP, &app_public, clock.clone())?;
                let server = FakeServer::start(fake.router()).await?;
                let url = server.url("");
                fake.set_base_url(&url);
                let config = AlipayConfig {
                    gateway: format!("{url}/gateway.do"),
                    app_id: DEMO_ALIPAY_APP.into(),
                    app_private_key: app_private,
                    alipay_public_key: fake.alipay_public_key_pem().to_owned(),
                };
                out.gateways.push(Arc::new(AlipayPay::new(
                    &config,
                    &notify("alipay"),
                    &format!("{base}/orders"),
                    clock.clone(),
                )?));
                tracing::info!(url = %url, "demo Alipay started; pay with POST {url}/_fake/pay {{\"out_trade_no\": …}}");
                out.fakes.push(server);
            }
            "providers" => {
                if let Some(w) = &self.wechat_pay {
                    let config = WeChatPayConfig {
                        base_url: w.base_url.clone(),
                        mchid: w.mchid.clone(),
                        appid: w.appid.clone(),
                        merchant_serial: w.merchant_serial.clone(),
                        merchant_private_key: w.merchant_private_key.expose().to_owned(),
                        api_v3_key: w.api_v3_key.expose().to_owned(),
                        platform_serial: w.platform_serial.clone(),
                        platform_public_key: w.platform_public_key.clone(),
                        notify_url: notify("wechat_pay"),
                    };
                    out.gateways.push(Arc::new(
                        WeChatPayClient::new(&config, clock).context("payments.wechat_pay")?,
                    ));
                }
            }
            other => anyhow::bail!("unknown payments.mode {other:?} (demo, providers or off)"),
        }
        Ok(out)
    }
}
