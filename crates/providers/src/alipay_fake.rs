//! A local Alipay open-platform gateway for tests and the demo. It checks what the real gateway
//! checks for `alipay.system.oauth.token` (the app id, the RSA2 request signature with the
//! app's public key, the sign type, the timestamp's format, a live one-time auth code)
//! and answers the documented JSON, signed with its own Alipay key over the exact response text.
//! Accepts the parameters as a query string (as python-alipay-sdk sends them) or a form body.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::routing::any;
use axum::Router;
use rand::RngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};

use gatehouse_domain::Clock;

use crate::alipay::{verify_request, OAUTH_TOKEN};
use crate::rsa_keys::{self, KeyError};
use crate::OneTimeCodes;

pub(crate) struct Inner {
    pub(crate) app_id: String,
    app_public: RsaPublicKey,
    pub(crate) alipay_private: RsaPrivateKey,
    alipay_public_pem: String,
    /// Live auth codes and the user each names.
    codes: OneTimeCodes,
    /// Alipay's own clock (tests share theirs with it).
    pub(crate) clock: Arc<dyn Clock>,
    /// Trades, refunds and bills (see `alipay_trade_fake`).
    pub(crate) trades: std::sync::Mutex<crate::alipay_trade_fake::TradeBook>,
    pub(crate) courier: crate::courier::Courier,
    pub(crate) base_url: std::sync::Mutex<String>,
}

/// The fake gateway's state; clone it into tests to mint auth codes.
#[derive(Clone)]
pub struct FakeAlipay(pub(crate) Arc<Inner>);

impl FakeAlipay {
    /// A gateway for one application, with a fresh Alipay key pair, on the system clock.
    pub fn new(app_id: &str, app_public_key: &str) -> Result<Self, KeyError> {
        Self::with_clock(
            app_id,
            app_public_key,
            Arc::new(gatehouse_domain::SystemClock),
        )
    }

    /// A gateway on the given clock.
    pub fn with_clock(
        app_id: &str,
        app_public_key: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyError> {
        let (private, public) = rsa_keys::generate_pem()?;
        Ok(Self(Arc::new(Inner {
            app_id: app_id.to_owned(),
            app_public: rsa_keys::public_key(app_public_key)?,
            alipay_private: rsa_keys::private_key(&private)?,
            alipay_public_pem: public,
            codes: OneTimeCodes::default(),
            clock,
            trades: std::sync::Mutex::default(),
            courier: crate::courier::Courier::default(),
            base_url: std::sync::Mutex::default(),
        })))
    }

    /// Where the fake is reachable (bill download URLs point there).
    pub fn set_base_url(&self, url: &str) {
        *self
            .0
            .base_url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            url.trim_end_matches('/').to_owned();
    }

    /// The key the application verifies responses with.
    pub fn alipay_public_key_pem(&self) -> &str {
        &self.0.alipay_public_pem
    }

    /// What the mini-program's `my.getAuthCode` would return for this user.
    pub fn issue_code(&self, user_id: &str) -> String {
        self.0.codes.issue(user_id)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/gateway.do", any(gateway))
            .route(
                "/bill/download",
                axum::routing::get(crate::alipay_trade_fake::download),
            )
            .route(
                "/_fake/pay",
                axum::routing::post(crate::alipay_trade_fake::control_pay),
            )
            .route(
                "/_fake/cashier",
                axum::routing::post(crate::alipay_trade_fake::cashier_pay),
            )
            .route(
                "/_fake/delivery",
                axum::routing::post(crate::alipay_trade_fake::control_delivery),
            )
            .with_state(self.clone())
    }

    pub(crate) fn respond(&self, node_name: &str, node: serde_json::Value) -> String {
        let text = node.to_string();
        let sign = rsa_keys::sign(&self.0.alipay_private, &text);
        format!("{{\"{node_name}\":{text},\"sign\":\"{sign}\"}}")
    }

    pub(crate) fn refuse(&self, code: &str, msg: &str, sub_code: &str, sub_msg: &str) -> String {
        self.respond(
            "error_response",
            serde_json::json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}),
        )
    }

    fn answer(&self, params: &BTreeMap<String, String>) -> String {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        for required in [
            "app_id",
            "method",
            "charset",
            "sign_type",
            "sign",
            "timestamp",
            "version",
        ] {
            if get(required).is_empty() {
                return self.refuse(
                    "40001",
                    "Missing Required Arguments",
                    &format!("isv.missing-{}", required.replace('_', "-")),
                    "缺少必选参数",
                );
            }
        }
        if get("app_id") != self.0.app_id {
            return self.refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-app-id",
                "无效的AppID参数",
            );
        }
        if get("sign_type") != "RSA2" {
            return self.refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature-type",
                "无效的签名类型",
            );
        }
        if !verify_request(params, &self.0.app_public) {
            return self.refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature",
                "验签出错",
            );
        }
        // Alipay documents the format (Beijing time) but no tolerance, so only the format is
        // checked.
        if jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", get("timestamp")).is_err() {
            return self.refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-timestamp",
                "非法的时间戳参数",
            );
        }
        if get("method") != OAUTH_TOKEN {
            return self.trade_answer(params);
        }
        if get("grant_type") != "authorization_code" {
            return self.refuse(
                "40002",
                "Invalid Arguments",
                "isv.grant-type-invalid",
                "grant_type参数不正确",
            );
        }
        let code = get("code");
        let user = self.0.codes.redeem(code).ok();
        let Some(user) = user else {
            return self.refuse(
                "40002",
                "Invalid Arguments",
                "isv.code-invalid",
                "授权码code无效",
            );
        };
        let now = crate::beijing::wall_time(self.0.clock.now());
        let mut token = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut token);
        self.respond(
            "alipay_system_oauth_token_response",
            serde_json::json!({
                "user_id": user,
                "access_token": format!("authusrB{}", hex::encode(token)),
                "expires_in": 1_296_000,
                "refresh_token": format!("authusrB{}", hex::encode(&token[..8])),
                "re_expires_in": 2_592_000,
                "auth_start": now,
            }),
        )
    }
}

async fn gateway(
    State(fake): State<FakeAlipay>,
    RawQuery(query): RawQuery,
    body: String,
) -> ([(&'static str, &'static str); 1], String) {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for source in [query.unwrap_or_default(), body] {
        if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&source) {
            params.extend(pairs);
        }
    }
    (
        [("content-type", "text/html;charset=utf-8")],
        fake.answer(&params),
    )
}
