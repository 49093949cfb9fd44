//! Alipay payments for the museum's application: `alipay.trade.create` (mini-program),
//! `alipay.trade.precreate` (QR code) and `alipay.trade.page.pay` (web cashier), query, close,
//! refund and refund query, the daily trade bill, and `trade_status_sync` notifications
//! verified with Alipay's public key over the sorted parameters without `sign` and `sign_type`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::payment::{PaidNotice, PaymentChannel, PaymentId, PaymentProvider, RefundId};
use gatehouse_domain::payment_gateway::{
    BillLine, BillLineKind, CheckoutRequest, GatewayError, Notification, NotificationRefused,
    PaymentGateway, ProviderTrade, RefundAsk, RefundOutcome,
};
use gatehouse_domain::Clock;
use gatehouse_identity::ProviderFailure;
use jiff::civil::Date;
use jiff::Timestamp;
use rsa::RsaPublicKey;
use serde_json::{json, Value};

use crate::alipay::{verify_notification, AlipayClient, AlipayConfig};
use crate::rsa_keys::{self, KeyError};
use crate::yuan::{fen_to_yuan, yuan_to_fen};

const PROVIDER: &str = "alipay";

pub struct AlipayPay {
    client: AlipayClient,
    app_id: String,
    gateway: String,
    alipay: RsaPublicKey,
    notify_url: String,
    /// Where the web cashier sends the visitor back.
    return_url: String,
    http: reqwest::Client,
}

fn unavailable(reason: impl Into<String>) -> GatewayError {
    GatewayError::Unavailable {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

/// Alipay's refusals read "sub_code sub_msg"; the sub code is what callers branch on.
fn gateway_error(f: ProviderFailure) -> GatewayError {
    match f {
        ProviderFailure::Refused(message) => GatewayError::Refused {
            provider: PROVIDER,
            code: message.split_whitespace().next().unwrap_or("").to_owned(),
            message,
        },
        ProviderFailure::Unavailable(reason) => unavailable(reason),
    }
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Parses the detail CSV of a `trade` bill (GBK already decoded): `#` lines are comments, the
/// first other line names the columns, amounts of refund lines are negative.
pub fn parse_trade_bill(text: &str) -> Result<Vec<BillLine>, String> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
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
    let (trade_no, out_trade_no, kind, amount, request) = (
        col("支付宝交易号")?,
        col("商户订单号")?,
        col("业务类型")?,
        col("订单金额（元）")?,
        col("退款批次号/请求号")?,
    );
    let mut out = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_end_matches('\t').trim())
            .collect();
        let field = |i: usize| {
            fields
                .get(i)
                .copied()
                .ok_or(format!("short bill line: {line}"))
        };
        let fen = |i: usize| {
            field(i).and_then(|f| {
                yuan_to_fen(f.trim_start_matches('-')).ok_or(format!("bad amount {f}"))
            })
        };
        let payment_id = PaymentId(field(out_trade_no)?.to_owned());
        match field(kind)? {
            "交易" => out.push(BillLine {
                kind: BillLineKind::Charge,
                reference: field(trade_no)?.to_owned(),
                payment_id,
                amount_fen: fen(amount)?,
            }),
            "退款" => out.push(BillLine {
                kind: BillLineKind::Refund,
                reference: field(request)?.to_owned(),
                payment_id,
                amount_fen: fen(amount)?,
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// The detail CSV inside a bill zip, decoded from GBK. Found by its columns, not its name:
/// entry names in Alipay's zips are GBK without the UTF-8 flag, so readers decode them
/// differently.
fn bill_csv(zip_bytes: &[u8]) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .map_err(|e| format!("not a zip: {e}"))?;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let (decoded, _, bad) = encoding_rs::GBK.decode(&raw);
        if !bad && decoded.contains("支付宝交易号") && decoded.contains("业务类型") {
            return Ok(decoded.into_owned());
        }
    }
    Err("no detail table (支付宝交易号, 业务类型) in the bill".into())
}

impl AlipayPay {
    pub fn new(
        config: &AlipayConfig,
        notify_url: &str,
        return_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            client: AlipayClient::new(config, clock)?,
            app_id: config.app_id.clone(),
            gateway: config.gateway.clone(),
            alipay: rsa_keys::public_key(&config.alipay_public_key)?,
            notify_url: notify_url.to_owned(),
            return_url: return_url.to_owned(),
            http: crate::http_client(),
        })
    }

    async fn call(&self, method: &str, biz: &Value, notify: bool) -> Result<Value, GatewayError> {
        let biz = biz.to_string();
        let mut extra = vec![("biz_content", biz.as_str())];
        if notify {
            extra.push(("notify_url", self.notify_url.as_str()));
        }
        self.client
            .call(method, &extra)
            .await
            .map_err(gateway_error)
    }
}

#[async_trait]
impl PaymentGateway for AlipayPay {
    fn provider(&self) -> PaymentProvider {
        PaymentProvider::Alipay
    }

    async fn create(&self, req: &CheckoutRequest) -> Result<String, GatewayError> {
        let mut biz = serde_json::Map::new();
        for (k, v) in [
            ("out_trade_no", req.payment_id.0.clone()),
            ("total_amount", fen_to_yuan(req.amount_fen)),
            ("subject", req.description.clone()),
            ("time_expire", crate::beijing::wall_time(req.expires_at)),
        ] {
            biz.insert(k.into(), Value::String(v));
        }
        match req.channel {
            PaymentChannel::AlipayMiniProgram => {
                biz.insert("product_code".into(), json!("JSAPI_PAY"));
                biz.insert(
                    "buyer_open_id".into(),
                    json!(req.payer.clone().unwrap_or_default()),
                );
                let answer = self
                    .call("alipay.trade.create", &Value::Object(biz), true)
                    .await?;
                match text(&answer, "trade_no") {
                    "" => Err(unavailable("no trade_no in the answer")),
                    t => Ok(t.to_owned()),
                }
            }
            PaymentChannel::AlipayQr => {
                let answer = self
                    .call("alipay.trade.precreate", &Value::Object(biz), true)
                    .await?;
                match text(&answer, "qr_code") {
                    "" => Err(unavailable("no qr_code in the answer")),
                    qr => Ok(qr.to_owned()),
                }
            }
            PaymentChannel::AlipayPage => {
                // No call: the visitor's browser takes the signed request to the cashier.
                biz.insert("product_code".into(), json!("FAST_INSTANT_TRADE_PAY"));
                let biz = Value::Object(biz).to_string();
                let params = self.client.signed_params(
                    "alipay.trade.page.pay",
                    &[
                        ("biz_content", biz.as_str()),
                        ("notify_url", self.notify_url.as_str()),
                        ("return_url", self.return_url.as_str()),
                    ],
                );
                let query =
                    serde_urlencoded::to_string(&params).map_err(|e| unavailable(e.to_string()))?;
                Ok(format!("{}?{query}", self.gateway))
            }
            PaymentChannel::WeChatJsapi => Err(GatewayError::Refused {
                provider: PROVIDER,
                code: "CHANNEL".into(),
                message: "Alipay does not serve wechat_jsapi".into(),
            }),
        }
    }

    fn client_params(
        &self,
        channel: PaymentChannel,
        checkout: &str,
        _now: Timestamp,
    ) -> Result<Vec<(String, String)>, GatewayError> {
        let key = match channel {
            // `my.tradePay({tradeNO})` in the mini-program.
            PaymentChannel::AlipayMiniProgram => "tradeNO",
            PaymentChannel::AlipayQr => "qr_code",
            _ => "url",
        };
        Ok(vec![(key.into(), checkout.to_owned())])
    }

    async fn query(&self, payment: &PaymentId) -> Result<ProviderTrade, GatewayError> {
        let answer = match self
            .call(
                "alipay.trade.query",
                &json!({"out_trade_no": payment.0}),
                false,
            )
            .await
        {
            Ok(a) => a,
            // Not created yet (a QR code never scanned, a cashier never opened): not paid.
            Err(GatewayError::Refused { code, .. }) if code == "ACQ.TRADE_NOT_EXIST" => {
                return Ok(ProviderTrade::NotPaid)
            }
            Err(e) => return Err(e),
        };
        match text(&answer, "trade_status") {
            "TRADE_SUCCESS" | "TRADE_FINISHED" => Ok(ProviderTrade::Paid(PaidNotice {
                payment_id: payment.clone(),
                provider_txn: text(&answer, "trade_no").to_owned(),
                amount_fen: yuan_to_fen(text(&answer, "total_amount"))
                    .ok_or_else(|| unavailable("bad total_amount"))?,
                paid_at: crate::beijing::parse_wall_time(text(&answer, "send_pay_date")),
            })),
            "TRADE_CLOSED" => Ok(ProviderTrade::Closed),
            _ => Ok(ProviderTrade::NotPaid),
        }
    }

    async fn close(&self, payment: &PaymentId) -> Result<(), GatewayError> {
        match self
            .call(
                "alipay.trade.close",
                &json!({"out_trade_no": payment.0}),
                false,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(GatewayError::Refused { code, .. }) if code == "ACQ.TRADE_NOT_EXIST" => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn refund(&self, ask: &RefundAsk) -> Result<RefundOutcome, GatewayError> {
        let biz = json!({
            "out_trade_no": ask.payment_id.0,
            "refund_amount": fen_to_yuan(ask.refund_fen),
            "out_request_no": ask.refund_id.0,
            "refund_reason": ask.reason.chars().take(60).collect::<String>(),
        });
        let answer = self.call("alipay.trade.refund", &biz, false).await?;
        let provider_refund_id = text(&answer, "trade_no").to_owned();
        // fund_change "Y": refunded now. "N": this refund number was seen before; ask its state.
        if text(&answer, "fund_change") == "Y" {
            Ok(RefundOutcome::Succeeded { provider_refund_id })
        } else {
            self.query_refund(&ask.refund_id, &ask.payment_id).await
        }
    }

    async fn query_refund(
        &self,
        refund: &RefundId,
        payment: &PaymentId,
    ) -> Result<RefundOutcome, GatewayError> {
        let biz = json!({"out_trade_no": payment.0, "out_request_no": refund.0});
        let answer = self
            .call("alipay.trade.fastpay.refund.query", &biz, false)
            .await?;
        let provider_refund_id = text(&answer, "trade_no").to_owned();
        match text(&answer, "refund_status") {
            "REFUND_SUCCESS" => Ok(RefundOutcome::Succeeded { provider_refund_id }),
            _ => Ok(RefundOutcome::Processing { provider_refund_id }),
        }
    }

    async fn bill(&self, day: Date) -> Result<Vec<BillLine>, GatewayError> {
        let biz = json!({"bill_type": "trade", "bill_date": day.to_string()});
        let answer = match self
            .call(
                "alipay.data.dataservice.bill.downloadurl.query",
                &biz,
                false,
            )
            .await
        {
            Ok(a) => a,
            Err(GatewayError::Refused { code, .. }) if code == "isp.bill_not_exist" => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let url = text(&answer, "bill_download_url");
        if url.is_empty() {
            return Err(unavailable("no bill_download_url"));
        }
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(format!("bill download: {e}")))?;
        if !response.status().is_success() {
            return Err(unavailable(format!(
                "bill download answered {}",
                response.status()
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(format!("bill download: {e}")))?;
        parse_trade_bill(&bill_csv(&bytes).map_err(unavailable)?).map_err(unavailable)
    }

    fn verify_notification(
        &self,
        _headers: &[(String, String)],
        body: &[u8],
        _now: Timestamp,
    ) -> Result<Notification, NotificationRefused> {
        let malformed = |what: &str| NotificationRefused::Malformed(what.to_owned());
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| malformed("the body is not a form"))?;
        let params: BTreeMap<String, String> = pairs.into_iter().collect();
        if params.get("sign").is_none_or(String::is_empty) {
            return Err(malformed("no sign"));
        }
        if params.get("sign_type").map(String::as_str) != Some("RSA2") {
            return Err(malformed("sign_type must be RSA2"));
        }
        if !verify_notification(&params, &self.alipay) {
            return Err(NotificationRefused::Forged);
        }
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        if get("app_id") != self.app_id {
            return Err(malformed("the notification is for another application"));
        }
        match get("trade_status") {
            // A refund is reported on the trade too (refund_fee set); refunds are tracked by
            // the refund API's answer and queries instead.
            "TRADE_SUCCESS" | "TRADE_FINISHED"
                if get("refund_fee").is_empty() && get("gmt_refund").is_empty() =>
            {
                Ok(Notification::Paid(PaidNotice {
                    payment_id: PaymentId(get("out_trade_no").to_owned()),
                    provider_txn: match get("trade_no") {
                        "" => return Err(malformed("no trade_no")),
                        t => t.to_owned(),
                    },
                    amount_fen: yuan_to_fen(get("total_amount"))
                        .ok_or_else(|| malformed("bad total_amount"))?,
                    paid_at: crate::beijing::parse_wall_time(get("gmt_payment")),
                }))
            }
            _ => Ok(Notification::Ignored),
        }
    }
}
