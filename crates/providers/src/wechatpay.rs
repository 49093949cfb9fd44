//! WeChat Pay API v3 for a direct merchant: JSAPI / mini-program prepay, query, close, refunds,
//! the daily trade bill, and payment and refund notifications. Every request is signed with the
//! merchant key (`Authorization: WECHATPAY2-SHA256-RSA2048 …`), every answer and notification
//! verified with the platform key named by `Wechatpay-Serial` (see [`crate::wechatpay_sign`]).

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::payment::{PaidNotice, PaymentChannel, PaymentId, PaymentProvider, RefundId};
use gatehouse_domain::payment_gateway::{
    BillLine, BillLineKind, CheckoutRequest, GatewayError, Notification, NotificationRefused,
    PaymentGateway, ProviderTrade, RefundAsk, RefundOutcome,
};
use gatehouse_domain::Clock;
use jiff::civil::Date;
use jiff::Timestamp;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha1::Digest;

use crate::rsa_keys::{self, KeyError};
use crate::wechatpay_sign::{self, SignatureRefused};

const PROVIDER: &str = "wechat_pay";

/// What the WeChat Pay adapter needs.
#[derive(Clone)]
pub struct WeChatPayConfig {
    /// `https://api.mch.weixin.qq.com` in production.
    pub base_url: String,
    pub mchid: String,
    /// The mini-program's (or official account's) app id.
    pub appid: String,
    /// The serial number of the merchant API certificate.
    pub merchant_serial: String,
    pub merchant_private_key: String,
    /// The 32-character APIv3 key that encrypts notification resources.
    pub api_v3_key: String,
    /// The platform certificate's serial and its public key (PEM or base64 DER).
    pub platform_serial: String,
    pub platform_public_key: String,
    /// Where WeChat Pay sends notifications: Gatehouse's `/api/v1/payments/notify/wechat_pay`.
    pub notify_url: String,
}

pub struct WeChatPayClient {
    http: reqwest::Client,
    config: WeChatPayConfig,
    key: RsaPrivateKey,
    platform: RsaPublicKey,
    api_v3_key: [u8; 32],
    clock: Arc<dyn Clock>,
}

fn unavailable(reason: impl Into<String>) -> GatewayError {
    GatewayError::Unavailable {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_u64()
}

/// The refund fields of a refund object (an API answer or a decrypted notification).
fn refund_outcome(v: &Value) -> Result<RefundOutcome, String> {
    let provider_refund_id = str_at(v, &["refund_id"]).unwrap_or_default().to_owned();
    match str_at(v, &["status"]).or_else(|| str_at(v, &["refund_status"])) {
        Some("SUCCESS") => Ok(RefundOutcome::Succeeded { provider_refund_id }),
        Some("PROCESSING") => Ok(RefundOutcome::Processing { provider_refund_id }),
        Some("ABNORMAL") | Some("CLOSED") => Ok(RefundOutcome::Abnormal { provider_refund_id }),
        other => Err(format!("unknown refund status {other:?}")),
    }
}

/// Parses a trade bill (`bill_type=ALL`): a header row, data rows whose fields start with a
/// backtick, then a summary header and row. Columns are found by name, as WeChat advises.
pub fn parse_trade_bill(text: &str) -> Result<Vec<BillLine>, String> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}'))
        .filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty bill")?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or(format!("no column {name}"))
    };
    let (txn, trade_no, status, refund_no, amount, refund_amount) = (
        col("微信订单号")?,
        col("商户订单号")?,
        col("交易状态")?,
        col("商户退款单号")?,
        col("订单金额")?,
        col("申请退款金额")?,
    );
    let mut out = Vec::new();
    for line in lines {
        if line.starts_with("总交易单数") {
            break;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_start_matches('`'))
            .collect();
        let field = |i: usize| {
            fields
                .get(i)
                .copied()
                .ok_or(format!("short bill line: {line}"))
        };
        let fen = |i: usize| {
            field(i).and_then(|f| crate::yuan::yuan_to_fen(f).ok_or(format!("bad amount {f}")))
        };
        let payment_id = PaymentId(field(trade_no)?.to_owned());
        match field(status)? {
            "SUCCESS" => out.push(BillLine {
                kind: BillLineKind::Charge,
                reference: field(txn)?.to_owned(),
                payment_id,
                amount_fen: fen(amount)?,
            }),
            "REFUND" => out.push(BillLine {
                kind: BillLineKind::Refund,
                reference: field(refund_no)?.to_owned(),
                payment_id,
                amount_fen: fen(refund_amount)?,
            }),
            // Closed and revoked trades move no money.
            _ => {}
        }
    }
    Ok(out)
}

impl WeChatPayClient {
    pub fn new(config: &WeChatPayConfig, clock: Arc<dyn Clock>) -> Result<Self, KeyError> {
        let api_v3_key: [u8; 32] = config
            .api_v3_key
            .as_bytes()
            .try_into()
            .map_err(|_| KeyError::new("the APIv3 key must be 32 characters"))?;
        Ok(Self {
            http: crate::http_client(),
            key: rsa_keys::private_key(&config.merchant_private_key)?,
            platform: rsa_keys::public_key(&config.platform_public_key)?,
            api_v3_key,
            config: config.clone(),
            clock,
        })
    }

    fn now_secs(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// Sends a signed request; returns the status and the body of a verified answer.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        verify: bool,
    ) -> Result<(u16, String), GatewayError> {
        let body_text = body.map(Value::to_string).unwrap_or_default();
        let nonce = nonce();
        let auth = wechatpay_sign::authorization(
            &self.config.mchid,
            &self.config.merchant_serial,
            &self.key,
            method.as_str(),
            path,
            self.now_secs(),
            &nonce,
            &body_text,
        );
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let mut request = self
            .http
            .request(method, url)
            .header("Authorization", auth)
            .header("Accept", "application/json")
            .header("User-Agent", "gatehouse");
        if body.is_some() {
            request = request
                .header("Content-Type", "application/json")
                .body(body_text);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(format!("unreachable: {e}")))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let signed = (
            header("Wechatpay-Timestamp"),
            header("Wechatpay-Nonce"),
            header("Wechatpay-Signature"),
            header("Wechatpay-Serial"),
        );
        let text = response
            .text()
            .await
            .map_err(|e| unavailable(format!("answer unreadable: {e}")))?;
        if verify {
            let (Some(ts), Some(nonce), Some(signature), Some(serial)) = signed else {
                return Err(unavailable("the answer is not signed"));
            };
            if serial != self.config.platform_serial {
                return Err(unavailable(format!(
                    "the answer names an unknown platform key {serial}"
                )));
            }
            let ts: i64 = ts
                .parse()
                .map_err(|_| unavailable("bad Wechatpay-Timestamp"))?;
            wechatpay_sign::verify_response(
                &self.platform,
                ts,
                &nonce,
                &text,
                &signature,
                self.now_secs(),
            )
            .map_err(|e| unavailable(format!("the answer's signature: {e}")))?;
        }
        Ok((status, text))
    }

    /// A JSON answer: 2xx as a value, anything else as WeChat's refusal.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GatewayError> {
        let (status, text) = self.send(method, path, body, true).await?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| unavailable("the answer is not JSON"))?
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let code = str_at(&value, &["code"]).unwrap_or("UNKNOWN").to_owned();
        let message = str_at(&value, &["message"]).unwrap_or_default().to_owned();
        if status >= 500 || code == "SIGN_ERROR" || code == "SYSTEM_ERROR" {
            Err(unavailable(format!("{status} {code}: {message}")))
        } else {
            Err(GatewayError::Refused {
                provider: PROVIDER,
                code,
                message,
            })
        }
    }

    fn trade_path(&self, id: &PaymentId) -> String {
        format!("/v3/pay/transactions/out-trade-no/{}", id.0)
    }
}

#[async_trait]
impl PaymentGateway for WeChatPayClient {
    fn provider(&self) -> PaymentProvider {
        PaymentProvider::WeChatPay
    }

    async fn create(&self, req: &CheckoutRequest) -> Result<String, GatewayError> {
        if req.channel != PaymentChannel::WeChatJsapi {
            return Err(GatewayError::Refused {
                provider: PROVIDER,
                code: "CHANNEL".into(),
                message: format!("WeChat Pay does not serve {}", req.channel.as_str()),
            });
        }
        let body = json!({
            "appid": self.config.appid,
            "mchid": self.config.mchid,
            "description": req.description,
            "out_trade_no": req.payment_id.0,
            "time_expire": crate::beijing::rfc3339(req.expires_at),
            "notify_url": self.config.notify_url,
            "amount": {"total": req.amount_fen, "currency": "CNY"},
            "payer": {"openid": req.payer.clone().unwrap_or_default()},
        });
        let answer = self
            .call(
                reqwest::Method::POST,
                "/v3/pay/transactions/jsapi",
                Some(&body),
            )
            .await?;
        str_at(&answer, &["prepay_id"])
            .map(str::to_owned)
            .ok_or_else(|| unavailable("no prepay_id in the answer"))
    }

    fn client_params(
        &self,
        _channel: PaymentChannel,
        checkout: &str,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>, GatewayError> {
        // `wx.requestPayment` / `WeixinJSBridge` arguments, signed over
        // "appId\ntimeStamp\nnonceStr\npackage\n" with the merchant key.
        let time_stamp = now.as_second().to_string();
        let nonce_str = nonce();
        let package = format!("prepay_id={checkout}");
        let message = format!(
            "{}\n{time_stamp}\n{nonce_str}\n{package}\n",
            self.config.appid
        );
        let pay_sign = rsa_keys::sign(&self.key, &message);
        Ok(vec![
            ("appId".into(), self.config.appid.clone()),
            ("timeStamp".into(), time_stamp),
            ("nonceStr".into(), nonce_str),
            ("package".into(), package),
            ("signType".into(), "RSA".into()),
            ("paySign".into(), pay_sign),
        ])
    }

    async fn query(&self, payment: &PaymentId) -> Result<ProviderTrade, GatewayError> {
        let path = format!("{}?mchid={}", self.trade_path(payment), self.config.mchid);
        let trade = match self.call(reqwest::Method::GET, &path, None).await {
            Ok(t) => t,
            Err(GatewayError::Refused { code, .. }) if code == "ORDER_NOT_EXIST" => {
                return Ok(ProviderTrade::NotPaid)
            }
            Err(e) => return Err(e),
        };
        match str_at(&trade, &["trade_state"]) {
            Some("SUCCESS") | Some("REFUND") => Ok(ProviderTrade::Paid(PaidNotice {
                payment_id: payment.clone(),
                provider_txn: str_at(&trade, &["transaction_id"])
                    .ok_or_else(|| unavailable("a paid trade without transaction_id"))?
                    .to_owned(),
                amount_fen: u64_at(&trade, &["amount", "total"])
                    .ok_or_else(|| unavailable("a paid trade without amount"))?,
                paid_at: str_at(&trade, &["success_time"]).and_then(|t| t.parse().ok()),
            })),
            Some("CLOSED") | Some("REVOKED") | Some("PAYERROR") => Ok(ProviderTrade::Closed),
            _ => Ok(ProviderTrade::NotPaid),
        }
    }

    async fn close(&self, payment: &PaymentId) -> Result<(), GatewayError> {
        let path = format!("{}/close", self.trade_path(payment));
        self.call(
            reqwest::Method::POST,
            &path,
            Some(&json!({"mchid": self.config.mchid})),
        )
        .await
        .map(|_| ())
    }

    async fn refund(&self, ask: &RefundAsk) -> Result<RefundOutcome, GatewayError> {
        let body = json!({
            "out_trade_no": ask.payment_id.0,
            "out_refund_no": ask.refund_id.0,
            "reason": ask.reason.chars().take(80).collect::<String>(),
            "notify_url": self.config.notify_url,
            "amount": {"refund": ask.refund_fen, "total": ask.total_fen, "currency": "CNY"},
        });
        let answer = self
            .call(
                reqwest::Method::POST,
                "/v3/refund/domestic/refunds",
                Some(&body),
            )
            .await?;
        refund_outcome(&answer).map_err(unavailable)
    }

    async fn query_refund(
        &self,
        refund: &RefundId,
        _payment: &PaymentId,
    ) -> Result<RefundOutcome, GatewayError> {
        let path = format!("/v3/refund/domestic/refunds/{}", refund.0);
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        refund_outcome(&answer).map_err(unavailable)
    }

    async fn bill(&self, day: Date) -> Result<Vec<BillLine>, GatewayError> {
        let path = format!("/v3/bill/tradebill?bill_date={day}&bill_type=ALL");
        let answer = match self.call(reqwest::Method::GET, &path, None).await {
            Ok(a) => a,
            // No trade that day: an empty bill.
            Err(GatewayError::Refused { code, .. }) if code == "NO_STATEMENT_EXIST" => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let url =
            str_at(&answer, &["download_url"]).ok_or_else(|| unavailable("no download_url"))?;
        let expected = str_at(&answer, &["hash_value"])
            .unwrap_or_default()
            .to_ascii_lowercase();
        // The download is signed like any request but its answer is not: the hash vouches for it.
        let path = url
            .find("/v3/")
            .and_then(|i| url.get(i..))
            .ok_or_else(|| unavailable("a download_url outside the API"))?;
        let (status, text) = self.send(reqwest::Method::GET, path, None, false).await?;
        if status != 200 {
            return Err(unavailable(format!("bill download answered {status}")));
        }
        let actual = hex::encode(sha1::Sha1::digest(text.as_bytes()));
        if actual != expected {
            return Err(unavailable("the bill's SHA1 does not match hash_value"));
        }
        parse_trade_bill(&text).map_err(unavailable)
    }

    fn verify_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notification, NotificationRefused> {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| NotificationRefused::Malformed(format!("no {name} header")))
        };
        let (ts, nonce, signature, serial) = (
            header("wechatpay-timestamp")?,
            header("wechatpay-nonce")?,
            header("wechatpay-signature")?,
            header("wechatpay-serial")?,
        );
        let text = std::str::from_utf8(body)
            .map_err(|_| NotificationRefused::Malformed("the body is not UTF-8".into()))?;
        if serial != self.config.platform_serial {
            return Err(NotificationRefused::Forged);
        }
        let ts: i64 = ts
            .parse()
            .map_err(|_| NotificationRefused::Malformed("bad Wechatpay-Timestamp".into()))?;
        wechatpay_sign::verify_response(
            &self.platform,
            ts,
            nonce,
            text,
            signature,
            now.as_second(),
        )
        .map_err(|e| match e {
            SignatureRefused::Stale => NotificationRefused::Stale,
            SignatureRefused::Forged => NotificationRefused::Forged,
        })?;
        let malformed = |what: &str| NotificationRefused::Malformed(what.to_owned());
        let event: Value =
            serde_json::from_str(text).map_err(|_| malformed("the body is not JSON"))?;
        let resource = event
            .get("resource")
            .ok_or_else(|| malformed("no resource"))?;
        if str_at(resource, &["algorithm"]) != Some("AEAD_AES_256_GCM") {
            return Err(malformed("unknown resource algorithm"));
        }
        let plain = wechatpay_sign::decrypt_resource(
            &self.api_v3_key,
            str_at(resource, &["associated_data"]).unwrap_or_default(),
            str_at(resource, &["nonce"]).unwrap_or_default(),
            str_at(resource, &["ciphertext"]).unwrap_or_default(),
        )
        .map_err(|_| malformed("the resource does not decrypt with the APIv3 key"))?;
        let object: Value =
            serde_json::from_str(&plain).map_err(|_| malformed("the resource is not JSON"))?;
        if str_at(&object, &["mchid"]) != Some(self.config.mchid.as_str()) {
            return Err(malformed("the resource names another merchant"));
        }
        match str_at(&event, &["event_type"]).unwrap_or_default() {
            "TRANSACTION.SUCCESS" => {
                if str_at(&object, &["trade_state"]) != Some("SUCCESS") {
                    return Ok(Notification::Ignored);
                }
                Ok(Notification::Paid(PaidNotice {
                    payment_id: PaymentId(
                        str_at(&object, &["out_trade_no"])
                            .ok_or_else(|| malformed("no out_trade_no"))?
                            .to_owned(),
                    ),
                    provider_txn: str_at(&object, &["transaction_id"])
                        .ok_or_else(|| malformed("no transaction_id"))?
                        .to_owned(),
                    amount_fen: u64_at(&object, &["amount", "total"])
                        .ok_or_else(|| malformed("no amount.total"))?,
                    paid_at: str_at(&object, &["success_time"]).and_then(|t| t.parse().ok()),
                }))
            }
            "REFUND.SUCCESS" | "REFUND.ABNORMAL" | "REFUND.CLOSED" => Ok(Notification::Refund {
                refund_id: RefundId(
                    str_at(&object, &["out_refund_no"])
                        .ok_or_else(|| malformed("no out_refund_no"))?
                        .to_owned(),
                ),
                outcome: refund_outcome(&object).map_err(NotificationRefused::Malformed)?,
            }),
            _ => Ok(Notification::Ignored),
        }
    }
}
