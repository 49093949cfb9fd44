//! A local WeChat Pay API v3 for tests and the demo. It checks every request's merchant
//! signature (mchid, certificate serial, 5-minute timestamp window), keeps trades and refunds
//! as WeChat Pay does (JSAPI prepay, query, close, refunds bounded by what was paid, the daily
//! `ALL` trade bill with its SHA1), signs every answer with its own platform key, and sends
//! notifications with AEAD_AES_256_GCM resources, delivered as a [`Courier`] is told.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_domain::Clock;
use jiff::civil::Date;
use jiff::Timestamp;
use rand::Rng;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha1::Digest;

use crate::beijing::{self, rfc3339 as beijing_rfc3339};
use crate::courier::{Courier, Delivery, Outgoing};
use crate::rsa_keys::{self, KeyError};
use crate::wechatpay::WeChatPayConfig;
use crate::wechatpay_sign::{self, MAX_SKEW_SECS};
use crate::yuan::fen_to_yuan;
use crate::{lock, random_digits as digits};

/// Every key of a fake merchant and its fake platform, generated together.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FakeWeChatPayKeys {
    pub mchid: String,
    pub appid: String,
    pub merchant_serial: String,
    pub merchant_private_key: String,
    pub merchant_public_key: String,
    pub platform_serial: String,
    pub platform_private_key: String,
    pub platform_public_key: String,
    pub api_v3_key: String,
}

impl FakeWeChatPayKeys {
    pub fn generate() -> Result<Self, KeyError> {
        let (merchant_private_key, merchant_public_key) = rsa_keys::generate_pem()?;
        let (platform_private_key, platform_public_key) = rsa_keys::generate_pem()?;
        let serial = || hex::encode_upper(rand::thread_rng().gen::<[u8; 20]>());
        let api_v3_key: String = rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        Ok(Self {
            mchid: "1900000109".into(),
            appid: "wxd678efh567hg6787".into(),
            merchant_serial: serial(),
            merchant_private_key,
            merchant_public_key,
            platform_serial: serial(),
            platform_private_key,
            platform_public_key,
            api_v3_key,
        })
    }

    /// The merchant's side of these keys, for Gatehouse's adapter.
    pub fn client_config(&self, base_url: &str, notify_url: &str) -> WeChatPayConfig {
        WeChatPayConfig {
            base_url: base_url.to_owned(),
            mchid: self.mchid.clone(),
            appid: self.appid.clone(),
            merchant_serial: self.merchant_serial.clone(),
            merchant_private_key: self.merchant_private_key.clone(),
            api_v3_key: self.api_v3_key.clone(),
            platform_serial: self.platform_serial.clone(),
            platform_public_key: self.platform_public_key.clone(),
            notify_url: notify_url.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TradeState {
    NotPay,
    Success,
    Closed,
    Refund,
}

impl TradeState {
    fn as_str(self) -> &'static str {
        match self {
            TradeState::NotPay => "NOTPAY",
            TradeState::Success => "SUCCESS",
            TradeState::Closed => "CLOSED",
            TradeState::Refund => "REFUND",
        }
    }
}

struct Trade {
    description: String,
    amount: u64,
    openid: String,
    notify_url: String,
    prepay_id: String,
    time_expire: Option<Timestamp>,
    state: TradeState,
    transaction_id: Option<String>,
    success_time: Option<Timestamp>,
    refunded: u64,
}

struct FakeRefund {
    out_trade_no: String,
    refund_id: String,
    amount: u64,
    notify_url: String,
    status: &'static str,
    created: Timestamp,
}

/// A line of the fake's books, for its bills.
struct BillEvent {
    at: Timestamp,
    out_trade_no: String,
    out_refund_no: Option<String>,
}

#[derive(Default)]
struct Books {
    trades: HashMap<String, Trade>,
    refunds: HashMap<String, FakeRefund>,
    events: Vec<BillEvent>,
    downloads: HashMap<String, String>,
}

struct Inner {
    keys: FakeWeChatPayKeys,
    /// WeChat Pay's own clock (tests share theirs with it).
    clock: Arc<dyn Clock>,
    merchant_public: RsaPublicKey,
    platform_private: RsaPrivateKey,
    api_v3_key: [u8; 32],
    base_url: Mutex<String>,
    books: Mutex<Books>,
    courier: Courier,
}

#[derive(Clone)]
pub struct FakeWeChatPay(Arc<Inner>);

impl FakeWeChatPay {
    pub fn new(keys: FakeWeChatPayKeys, clock: Arc<dyn Clock>) -> Result<Self, KeyError> {
        let api_v3_key: [u8; 32] = keys
            .api_v3_key
            .as_bytes()
            .try_into()
            .map_err(|_| KeyError::new("the APIv3 key must be 32 characters"))?;
        Ok(Self(Arc::new(Inner {
            merchant_public: rsa_keys::public_key(&keys.merchant_public_key)?,
            platform_private: rsa_keys::private_key(&keys.platform_private_key)?,
            api_v3_key,
            keys,
            clock,
            base_url: Mutex::new(String::new()),
            books: Mutex::new(Books::default()),
            courier: Courier::default(),
        })))
    }

    pub fn keys(&self) -> &FakeWeChatPayKeys {
        &self.0.keys
    }

    fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    /// Where the fake is reachable (bill download URLs point there).
    pub fn set_base_url(&self, url: &str) {
        *lock(&self.0.base_url) = url.trim_end_matches('/').to_owned();
    }

    pub fn set_delivery(&self, mode: Delivery) {
        self.0.courier.set_mode(mode);
    }

    /// Sends held notifications, newest first if `reverse`.
    pub async fn release_held(&self, reverse: bool) -> Vec<u16> {
        self.0.courier.release(reverse).await
    }

    /// Held notifications, unsent.
    pub fn take_held(&self) -> Vec<Outgoing> {
        self.0.courier.take_held()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v3/pay/transactions/jsapi", post(create))
            .route("/v3/pay/transactions/out-trade-no/{id}", get(query))
            .route("/v3/pay/transactions/out-trade-no/{id}/close", post(close))
            .route("/v3/refund/domestic/refunds", post(refund))
            .route("/v3/refund/domestic/refunds/{id}", get(query_refund))
            .route("/v3/bill/tradebill", get(trade_bill))
            .route("/v3/billdownload/file", get(download))
            .route("/_fake/pay", post(control_pay))
            .route("/_fake/settle-refunds", post(control_settle))
            .route("/_fake/delivery", post(control_delivery))
            .with_state(self.clone())
    }

    /// A JSON answer signed with the platform key, as WeChat Pay signs every answer.
    fn answer(&self, status: StatusCode, body: &Value) -> Response {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let ts = self.now().as_second();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature = wechatpay_sign::sign_response(&self.0.platform_private, ts, &nonce, &text);
        let mut response = (status, text).into_response();
        let headers = response.headers_mut();
        for (k, v) in [
            ("Content-Type", "application/json".to_owned()),
            ("Wechatpay-Timestamp", ts.to_string()),
            ("Wechatpay-Nonce", nonce),
            ("Wechatpay-Signature", signature),
            ("Wechatpay-Serial", self.0.keys.platform_serial.clone()),
            ("Request-ID", uuid::Uuid::new_v4().to_string()),
        ] {
            if let Ok(v) = v.parse() {
                headers.insert(k, v);
            }
        }
        response
    }

    fn refuse(&self, status: StatusCode, code: &str, message: &str) -> Response {
        self.answer(status, &json!({"code": code, "message": message}))
    }

    /// Checks the merchant's `Authorization` header over method, path and query, and body.
    #[allow(clippy::result_large_err)] // the refusal is the answer itself; not a hot path
    fn check_signature(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &str,
    ) -> Result<(), Response> {
        let refuse = |m: &str| self.refuse(StatusCode::UNAUTHORIZED, "SIGN_ERROR", m);
        let parts = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(wechatpay_sign::parse_authorization)
            .ok_or_else(|| refuse("Authorization 格式错误"))?;
        if parts.mchid != self.0.keys.mchid {
            return Err(refuse("商户号与证书不匹配"));
        }
        if parts.serial_no != self.0.keys.merchant_serial {
            return Err(refuse("证书序列号错误"));
        }
        if (self.now().as_second() - parts.timestamp).abs() > MAX_SKEW_SECS {
            return Err(refuse("请求时间戳已过期"));
        }
        let url = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        if !wechatpay_sign::verify_request(
            &parts,
            &self.0.merchant_public,
            method.as_str(),
            url,
            body,
        ) {
            return Err(refuse("签名错误"));
        }
        Ok(())
    }

    /// A notification of `event_type` whose resource is `object`, signed now.
    pub fn notification(
        &self,
        url: &str,
        event_type: &str,
        original_type: &str,
        object: &Value,
    ) -> Outgoing {
        let nonce: String = rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(12)
            .map(char::from)
            .collect();
        let ciphertext = wechatpay_sign::encrypt_resource(
            &self.0.api_v3_key,
            original_type,
            &nonce,
            &object.to_string(),
        )
        .unwrap_or_default();
        let body = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "create_time": beijing_rfc3339(self.now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": if event_type.starts_with("REFUND") { "退款成功" } else { "支付成功" },
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": ciphertext,
                "associated_data": original_type,
                "nonce": nonce,
            }
        })
        .to_string();
        let ts = self.now().as_second();
        let header_nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature =
            wechatpay_sign::sign_response(&self.0.platform_private, ts, &header_nonce, &body);
        Outgoing {
            url: url.to_owned(),
            content_type: "application/json",
            headers: vec![
                ("Wechatpay-Timestamp".into(), ts.to_string()),
                ("Wechatpay-Nonce".into(), header_nonce),
                ("Wechatpay-Signature".into(), signature),
                (
                    "Wechatpay-Serial".into(),
                    self.0.keys.platform_serial.clone(),
                ),
            ],
            body,
        }
    }

    fn transaction_object(
        &self,
        out_trade_no: &str,
        t: &Trade,
        amount_override: Option<u64>,
    ) -> Value {
        let total = amount_override.unwrap_or(t.amount);
        json!({
            "appid": self.0.keys.appid,
            "mchid": self.0.keys.mchid,
            "out_trade_no": out_trade_no,
            "transaction_id": t.transaction_id,
            "trade_type": "JSAPI",
            "trade_state": t.state.as_str(),
            "trade_state_desc": if t.state == TradeState::Success { "支付成功" } else { "未支付" },
            "bank_type": "OTHERS",
            "success_time": t.success_time.map(beijing_rfc3339),
            "payer": {"openid": t.openid},
            "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
        })
    }

    /// The paid notification of a paid trade, with its amount replaced if asked (a genuine
    /// signature over a mismatched amount).
    pub fn paid_notification(
        &self,
        out_trade_no: &str,
        amount_override: Option<u64>,
    ) -> Option<Outgoing> {
        let books = lock(&self.0.books);
        let t = books.trades.get(out_trade_no)?;
        t.transaction_id.as_ref()?;
        let object = self.transaction_object(out_trade_no, t, amount_override);
        Some(self.notification(&t.notify_url, "TRANSACTION.SUCCESS", "transaction", &object))
    }

    /// The visitor pays: the trade succeeds and its notification goes out as the courier is
    /// told. Returns the transaction id.
    pub async fn pay(&self, out_trade_no: &str) -> Result<String, String> {
        let txn = {
            let mut books = lock(&self.0.books);
            let t = books.trades.get_mut(out_trade_no).ok_or("no such trade")?;
            if t.state != TradeState::NotPay {
                return Err(format!("trade is {}", t.state.as_str()));
            }
            if t.time_expire.is_some_and(|e| e <= self.now()) {
                t.state = TradeState::Closed;
                return Err("trade expired".into());
            }
            let txn = format!("42000{}", digits(23));
            t.state = TradeState::Success;
            t.transaction_id = Some(txn.clone());
            t.success_time = Some(self.now());
            books.events.push(BillEvent {
                at: self.now(),
                out_trade_no: out_trade_no.to_owned(),
                out_refund_no: None,
            });
            txn
        };
        if let Some(n) = self.paid_notification(out_trade_no, None) {
            self.0.courier.deliver(n).await;
        }
        Ok(txn)
    }

    /// Completes every refund still processing and notifies each. Returns how many.
    pub async fn settle_refunds(&self) -> usize {
        let mut out = Vec::new();
        {
            let mut books = lock(&self.0.books);
            let mut done = Vec::new();
            for (no, r) in books
                .refunds
                .iter_mut()
                .filter(|(_, r)| r.status == "PROCESSING")
            {
                r.status = "SUCCESS";
                done.push(no.clone());
            }
            for no in done {
                if let Some(r) = books.refunds.get(&no) {
                    let object = self.refund_object(&books, &no, r);
                    out.push(self.notification(&r.notify_url, "REFUND.SUCCESS", "refund", &object));
                }
            }
        }
        let n = out.len();
        for o in out {
            self.0.courier.deliver(o).await;
        }
        n
    }

    fn refund_object(&self, books: &Books, out_refund_no: &str, r: &FakeRefund) -> Value {
        let trade = books.trades.get(&r.out_trade_no);
        json!({
            "mchid": self.0.keys.mchid,
            "out_trade_no": r.out_trade_no,
            "transaction_id": trade.and_then(|t| t.transaction_id.clone()),
            "out_refund_no": out_refund_no,
            "refund_id": r.refund_id,
            "status": r.status,
            "refund_status": r.status,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": beijing_rfc3339(r.created),
            "success_time": (r.status == "SUCCESS").then(|| beijing_rfc3339(self.now())),
            "amount": {
                "total": trade.map(|t| t.amount).unwrap_or(0),
                "refund": r.amount,
                "payer_total": trade.map(|t| t.amount).unwrap_or(0),
                "payer_refund": r.amount,
                "currency": "CNY",
            },
        })
    }

    /// The `ALL` trade bill of `day` (Beijing), as WeChat Pay writes it.
    pub fn bill_text(&self, day: Date) -> Option<String> {
        let books = lock(&self.0.books);
        let rows: Vec<&BillEvent> = books
            .events
            .iter()
            .filter(|e| beijing::date(e.at) == day)
            .collect();
        if rows.is_empty() {
            return None;
        }
        let mut text = String::from("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n");
        let (mut paid, mut refunded) = (0u64, 0u64);
        for e in &rows {
            let Some(t) = books.trades.get(&e.out_trade_no) else {
                continue;
            };
            let when = beijing::wall_time(e.at);
            let txn = t.transaction_id.clone().unwrap_or_default();
            let fields: Vec<String> = match &e.out_refund_no {
                None => {
                    paid += t.amount;
                    vec![
                        when,
                        self.0.keys.appid.clone(),
                        self.0.keys.mchid.clone(),
                        "0".into(),
                        String::new(),
                        txn,
                        e.out_trade_no.clone(),
                        t.openid.clone(),
                        "JSAPI".into(),
                        "SUCCESS".into(),
                        "OTHERS".into(),
                        "CNY".into(),
                        fen_to_yuan(t.amount),
                        "0.00".into(),
                        "0".into(),
                        "0".into(),
                        "0.00".into(),
                        "0.00".into(),
                        String::new(),
                        String::new(),
                        t.description.clone(),
                        String::new(),
                        "0.00000".into(),
                        "0.60%".into(),
                        fen_to_yuan(t.amount),
                        "0.00".into(),
                        String::new(),
                    ]
                }
                Some(no) => {
                    let Some(r) = books.refunds.get(no) else {
                        continue;
                    };
                    refunded += r.amount;
                    vec![
                        when,
                        self.0.keys.appid.clone(),
                        self.0.keys.mchid.clone(),
                        "0".into(),
                        String::new(),
                        txn,
                        e.out_trade_no.clone(),
                        t.openid.clone(),
                        "JSAPI".into(),
                        "REFUND".into(),
                        "OTHERS".into(),
                        "CNY".into(),
                        "0.00".into(),
                        "0.00".into(),
                        r.refund_id.clone(),
                        no.clone(),
                        fen_to_yuan(r.amount),
                        "0.00".into(),
                        "ORIGINAL".into(),
                        r.status.into(),
                        t.description.clone(),
                        String::new(),
                        "0.00000".into(),
                        "0.60%".into(),
                        fen_to_yuan(t.amount),
                        fen_to_yuan(r.amount),
                        String::new(),
                    ]
                }
            };
            let line: Vec<String> = fields.into_iter().map(|f| format!("`{f}")).collect();
            text.push_str(&line.join(","));
            text.push_str("\r\n");
        }
        text.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
        text.push_str(&format!(
            "`{},`{},`{},`0.00,`0.00000,`{},`{}\r\n",
            rows.len(),
            fen_to_yuan(paid),
            fen_to_yuan(refunded),
            fen_to_yuan(paid),
            fen_to_yuan(refunded)
        ));
        Some(text)
    }
}

/// Reads a signed JSON request, or the refusal to answer.
#[allow(clippy::result_large_err)] // the refusal is the answer itself; not a hot path
fn signed_json(
    fake: &FakeWeChatPay,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Response> {
    let text = std::str::from_utf8(body)
        .map_err(|_| fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", "body is not UTF-8"))?;
    fake.check_signature(method, uri, headers, text)?;
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|_| fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", "body is not JSON"))
}

fn text_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

async fn create(
    State(fake): State<FakeWeChatPay>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match signed_json(&fake, &method, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let bad = |m: &str| fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", m);
    if text_at(&req, &["appid"]) != fake.0.keys.appid {
        return fake.refuse(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        );
    }
    if text_at(&req, &["mchid"]) != fake.0.keys.mchid {
        return fake.refuse(StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "商户号不存在");
    }
    let out_trade_no = text_at(&req, &["out_trade_no"]).to_owned();
    if !(6..=32).contains(&out_trade_no.len())
        || !out_trade_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
    {
        return bad("out_trade_no 格式错误");
    }
    let description = text_at(&req, &["description"]).to_owned();
    if description.is_empty() || description.len() > 127 {
        return bad("description 长度错误");
    }
    let Some(amount) = req
        .pointer("/amount/total")
        .and_then(Value::as_u64)
        .filter(|a| *a >= 1)
    else {
        return bad("amount.total 必须为正整数");
    };
    let openid = text_at(&req, &["payer", "openid"]).to_owned();
    if openid.is_empty() {
        return bad("payer.openid 不能为空");
    }
    let notify_url = text_at(&req, &["notify_url"]).to_owned();
    if !notify_url.starts_with("http") {
        return bad("notify_url 格式错误");
    }
    let time_expire = match text_at(&req, &["time_expire"]) {
        "" => None,
        t => match t.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => return bad("time_expire 格式错误"),
        },
    };
    let mut books = lock(&fake.0.books);
    if let Some(existing) = books.trades.get(&out_trade_no) {
        if existing.amount != amount || existing.openid != openid {
            return fake.refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "201 商户订单号重复",
            );
        }
        if existing.state != TradeState::NotPay {
            return fake.refuse(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付");
        }
        let prepay_id = existing.prepay_id.clone();
        drop(books);
        return fake.answer(StatusCode::OK, &json!({"prepay_id": prepay_id}));
    }
    let prepay_id = format!("wx{}", uuid::Uuid::new_v4().simple());
    books.trades.insert(
        out_trade_no,
        Trade {
            description,
            amount,
            openid,
            notify_url,
            prepay_id: prepay_id.clone(),
            time_expire,
            state: TradeState::NotPay,
            transaction_id: None,
            success_time: None,
            refunded: 0,
        },
    );
    drop(books);
    fake.answer(StatusCode::OK, &json!({"prepay_id": prepay_id}))
}

async fn query(
    State(fake): State<FakeWeChatPay>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = fake.check_signature(&method, &uri, &headers, "") {
        return r;
    }
    if q.get("mchid") != Some(&fake.0.keys.mchid) {
        return fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 错误");
    }
    let object = {
        let mut books = lock(&fake.0.books);
        let Some(t) = books.trades.get_mut(&id) else {
            drop(books);
            return fake.refuse(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在");
        };
        if t.state == TradeState::NotPay && t.time_expire.is_some_and(|e| e <= fake.now()) {
            t.state = TradeState::Closed;
        }
        let t = &*t;
        fake.transaction_object(&id, t, None)
    };
    fake.answer(StatusCode::OK, &object)
}

async fn close(
    State(fake): State<FakeWeChatPay>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match signed_json(&fake, &method, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if text_at(&req, &["mchid"]) != fake.0.keys.mchid {
        return fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 错误");
    }
    let mut books = lock(&fake.0.books);
    match books.trades.get_mut(&id) {
        None => {
            drop(books);
            fake.refuse(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")
        }
        Some(t) if matches!(t.state, TradeState::Success | TradeState::Refund) => {
            drop(books);
            fake.refuse(StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付")
        }
        Some(t) => {
            t.state = TradeState::Closed;
            drop(books);
            fake.answer(StatusCode::NO_CONTENT, &Value::Null)
        }
    }
}

async fn refund(
    State(fake): State<FakeWeChatPay>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match signed_json(&fake, &method, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let bad = |m: &str| fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", m);
    let out_refund_no = text_at(&req, &["out_refund_no"]).to_owned();
    if out_refund_no.is_empty() || out_refund_no.len() > 64 {
        return bad("out_refund_no 格式错误");
    }
    let (Some(refund_fen), Some(total)) = (
        req.pointer("/amount/refund")
            .and_then(Value::as_u64)
            .filter(|a| *a >= 1),
        req.pointer("/amount/total").and_then(Value::as_u64),
    ) else {
        return bad("amount.refund 与 amount.total 必填");
    };
    let mut books = lock(&fake.0.books);
    if books.refunds.contains_key(&out_refund_no) {
        // The same refund number asked again: the same refund.
        let object = books
            .refunds
            .get(&out_refund_no)
            .map(|r| fake.refund_object(&books, &out_refund_no, r))
            .unwrap_or_default();
        drop(books);
        return fake.answer(StatusCode::OK, &object);
    }
    let out_trade_no = match (
        text_at(&req, &["out_trade_no"]),
        text_at(&req, &["transaction_id"]),
    ) {
        ("", txn) => books
            .trades
            .iter()
            .find(|(_, t)| t.transaction_id.as_deref() == Some(txn))
            .map(|(k, _)| k.clone())
            .unwrap_or_default(),
        (no, _) => no.to_owned(),
    };
    let Some(trade) = books.trades.get_mut(&out_trade_no) else {
        drop(books);
        return fake.refuse(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在");
    };
    if !matches!(trade.state, TradeState::Success | TradeState::Refund) {
        drop(books);
        return fake.refuse(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "订单未支付");
    }
    if total != trade.amount {
        drop(books);
        return fake.refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "订单金额与原订单不符",
        );
    }
    if refund_fen > trade.amount - trade.refunded {
        drop(books);
        return fake.refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "申请退款金额超过订单可退金额",
        );
    }
    trade.refunded += refund_fen;
    trade.state = TradeState::Refund;
    let refund = FakeRefund {
        out_trade_no: out_trade_no.clone(),
        refund_id: format!("50300{}", digits(24)),
        amount: refund_fen,
        notify_url: match text_at(&req, &["notify_url"]) {
            "" => trade.notify_url.clone(),
            url => url.to_owned(),
        },
        status: "PROCESSING",
        created: fake.now(),
    };
    books.events.push(BillEvent {
        at: fake.now(),
        out_trade_no,
        out_refund_no: Some(out_refund_no.clone()),
    });
    let object = fake.refund_object(&books, &out_refund_no, &refund);
    books.refunds.insert(out_refund_no, refund);
    drop(books);
    fake.answer(StatusCode::OK, &object)
}

async fn query_refund(
    State(fake): State<FakeWeChatPay>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = fake.check_signature(&method, &uri, &headers, "") {
        return r;
    }
    let books = lock(&fake.0.books);
    let object = books
        .refunds
        .get(&id)
        .map(|r| fake.refund_object(&books, &id, r));
    drop(books);
    match object {
        Some(o) => fake.answer(StatusCode::OK, &o),
        None => fake.refuse(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在"),
    }
}

async fn trade_bill(
    State(fake): State<FakeWeChatPay>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = fake.check_signature(&method, &uri, &headers, "") {
        return r;
    }
    let Some(day) = q.get("bill_date").and_then(|d| d.parse::<Date>().ok()) else {
        return fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", "bill_date 格式错误");
    };
    if q.get("bill_type").is_some_and(|t| t != "ALL") {
        return fake.refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", "本地账单只提供 ALL");
    }
    let Some(text) = fake.bill_text(day) else {
        return fake.refuse(StatusCode::BAD_REQUEST, "NO_STATEMENT_EXIST", "账单不存在");
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let hash = hex::encode(sha1::Sha1::digest(text.as_bytes()));
    lock(&fake.0.books).downloads.insert(token.clone(), text);
    let url = format!(
        "{}/v3/billdownload/file?token={token}",
        lock(&fake.0.base_url)
    );
    fake.answer(
        StatusCode::OK,
        &json!({"hash_type": "SHA1", "hash_value": hash, "download_url": url}),
    )
}

async fn download(
    State(fake): State<FakeWeChatPay>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = fake.check_signature(&method, &uri, &headers, "") {
        return r;
    }
    let text = q
        .get("token")
        .and_then(|t| lock(&fake.0.books).downloads.get(t).cloned());
    match text {
        Some(t) => (StatusCode::OK, t).into_response(),
        None => fake.refuse(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "下载链接无效"),
    }
}

// Controls for `gatehouse fake-provider wechat`: what the visitor and the test would do.

#[derive(serde::Deserialize)]
struct PayControl {
    out_trade_no: String,
}

async fn control_pay(State(fake): State<FakeWeChatPay>, Json(c): Json<PayControl>) -> Response {
    match fake.pay(&c.out_trade_no).await {
        Ok(txn) => Json(json!({"transaction_id": txn})).into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({"error": e}))).into_response(),
    }
}

async fn control_settle(State(fake): State<FakeWeChatPay>) -> Json<Value> {
    Json(json!({"settled": fake.settle_refunds().await}))
}

pub(crate) async fn control_delivery(
    State(fake): State<FakeWeChatPay>,
    Json(c): Json<crate::courier::DeliveryControl>,
) -> Json<Value> {
    Json(fake.0.courier.control(c).await)
}
