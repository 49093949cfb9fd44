//! The trade side of the local Alipay gateway: `alipay.trade.create` (mini-program),
//! `alipay.trade.precreate` (QR code; the trade exists only once scanned), `alipay.trade.page.pay`
//! (the cashier page), query, close, refunds (synchronous, bounded by what was paid), refund
//! query, and the daily bill (`alipay.data.dataservice.bill.downloadurl.query`: a zip of GBK CSV
//! files). Paid trades send `trade_status_sync` notifications signed with Alipay's key, delivered
//! as a [`Courier`](crate::courier::Courier) is told.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::civil::Date;
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::alipay::sign_notification;
use crate::alipay_fake::FakeAlipay;
use crate::beijing::{self, wall_time as alipay_time};
use crate::courier::{Delivery, Outgoing};
use crate::yuan::{fen_to_yuan, yuan_to_fen};
use crate::{lock, random_digits as digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    WaitBuyerPay,
    Success,
    Closed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::WaitBuyerPay => "WAIT_BUYER_PAY",
            Status::Success => "TRADE_SUCCESS",
            Status::Closed => "TRADE_CLOSED",
        }
    }
}

struct Trade {
    trade_no: String,
    amount: u64,
    subject: String,
    buyer: String,
    notify_url: String,
    /// A precreated (QR) trade exists at Alipay only once scanned.
    visible: bool,
    time_expire: Option<Timestamp>,
    status: Status,
    paid_at: Option<Timestamp>,
    refunded: u64,
}

/// A bill event: a payment, or a refund (with its request number).
struct Event {
    at: Timestamp,
    out_trade_no: String,
    out_request_no: Option<String>,
}

#[derive(Default)]
pub(crate) struct TradeBook {
    trades: HashMap<String, Trade>,
    /// Refunded amounts by (out_trade_no, out_request_no).
    refunds: HashMap<(String, String), u64>,
    events: Vec<Event>,
    downloads: HashMap<String, Vec<u8>>,
}

/// The method's response node name, e.g. `alipay_trade_query_response`.
fn node(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

impl FakeAlipay {
    fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    fn business_failure(&self, method: &str, sub_code: &str, sub_msg: &str) -> String {
        self.respond(
            &node(method),
            json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}),
        )
    }

    fn ok(&self, method: &str, mut fields: Value) -> String {
        if let Some(map) = fields.as_object_mut() {
            map.insert("code".into(), json!("10000"));
            map.insert("msg".into(), json!("Success"));
        }
        self.respond(&node(method), fields)
    }

    pub fn set_delivery(&self, mode: Delivery) {
        self.0.courier.set_mode(mode);
    }

    /// Held notifications, unsent.
    pub fn take_held(&self) -> Vec<Outgoing> {
        self.0.courier.take_held()
    }

    /// Answers a trade method whose common parameters and signature were already checked.
    pub(crate) fn trade_answer(&self, params: &BTreeMap<String, String>) -> String {
        let method = params.get("method").map(String::as_str).unwrap_or("");
        let biz: Value = params
            .get("biz_content")
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        let field = |k: &str| biz.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let missing = |what: &str| {
            self.respond(
                &node(method),
                json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": format!("isv.missing-{what}"), "sub_msg": format!("缺少{what}")}),
            )
        };
        let out_trade_no = field("out_trade_no");
        match method {
            "alipay.trade.create" | "alipay.trade.precreate" | "alipay.trade.page.pay" => {
                if out_trade_no.is_empty() || out_trade_no.len() > 64 {
                    return missing("out_trade_no");
                }
                let Some(amount) = yuan_to_fen(&field("total_amount")).filter(|a| *a >= 1) else {
                    return self.business_failure(method, "ACQ.TOTAL_FEE_EXCEED", "订单金额不合法");
                };
                if field("subject").is_empty() {
                    return missing("subject");
                }
                let buyer = match (field("buyer_open_id"), field("buyer_id")) {
                    (a, _) if !a.is_empty() => a,
                    (_, b) => b,
                };
                if method == "alipay.trade.create" && buyer.is_empty() {
                    return self.business_failure(method, "ACQ.BUYER_NOT_EXIST", "买家不存在");
                }
                let time_expire = beijing::parse_wall_time(&field("time_expire"));
                let mut book = lock(&self.0.trades);
                if let Some(t) = book.trades.get(&out_trade_no) {
                    if t.status == Status::Success {
                        return self.business_failure(
                            method,
                            "ACQ.TRADE_HAS_SUCCESS",
                            "交易已被支付",
                        );
                    }
                    if t.amount != amount {
                        return self.business_failure(
                            method,
                            "ACQ.CONTEXT_INCONSISTENT",
                            "交易信息被篡改",
                        );
                    }
                } else {
                    book.trades.insert(
                        out_trade_no.clone(),
                        Trade {
                            trade_no: format!(
                                "{}{}",
                                beijing::date(self.now()).strftime("%Y%m%d"),
                                digits(20)
                            ),
                            amount,
                            subject: field("subject"),
                            buyer,
                            notify_url: params.get("notify_url").cloned().unwrap_or_default(),
                            visible: method != "alipay.trade.precreate",
                            time_expire,
                            status: Status::WaitBuyerPay,
                            paid_at: None,
                            refunded: 0,
                        },
                    );
                }
                let trade_no = book
                    .trades
                    .get(&out_trade_no)
                    .map(|t| t.trade_no.clone())
                    .unwrap_or_default();
                drop(book);
                match method {
                    "alipay.trade.create" => self.ok(method, json!({"out_trade_no": out_trade_no, "trade_no": trade_no})),
                    "alipay.trade.precreate" => self.ok(
                        method,
                        json!({"out_trade_no": out_trade_no, "qr_code": format!("https://qr.alipay.com/bax0{}", &trade_no[8..].chars().take(20).collect::<String>())}),
                    ),
                    // The cashier page the visitor's browser lands on: paying sends the
                    // notification and takes the browser back to `return_url`, as Alipay does.
                    _ => cashier_page(&out_trade_no, &fen_to_yuan(amount), params.get("return_url").map_or("", String::as_str)),
                }
            }
            "alipay.trade.query" => {
                let book = lock(&self.0.trades);
                match book.trades.get(&out_trade_no).filter(|t| t.visible) {
                    None => {
                        drop(book);
                        self.business_failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
                    }
                    Some(t) => {
                        let status = if t.status == Status::WaitBuyerPay
                            && t.time_expire.is_some_and(|e| e <= self.now())
                        {
                            Status::Closed
                        } else {
                            t.status
                        };
                        let answer = json!({
                            "out_trade_no": out_trade_no,
                            "trade_no": t.trade_no,
                            "trade_status": status.as_str(),
                            "total_amount": fen_to_yuan(t.amount),
                            "buyer_pay_amount": if status == Status::Success { fen_to_yuan(t.amount) } else { "0.00".into() },
                            "send_pay_date": t.paid_at.map(alipay_time),
                        });
                        drop(book);
                        self.ok(method, answer)
                    }
                }
            }
            "alipay.trade.close" => {
                let mut book = lock(&self.0.trades);
                match book.trades.get_mut(&out_trade_no).filter(|t| t.visible) {
                    None => {
                        drop(book);
                        self.business_failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
                    }
                    Some(t) if t.status == Status::Success => {
                        drop(book);
                        self.business_failure(method, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
                    }
                    Some(t) => {
                        t.status = Status::Closed;
                        let trade_no = t.trade_no.clone();
                        drop(book);
                        self.ok(
                            method,
                            json!({"out_trade_no": out_trade_no, "trade_no": trade_no}),
                        )
                    }
                }
            }
            "alipay.trade.refund" => {
                let out_request_no = match field("out_request_no") {
                    r if r.is_empty() => out_trade_no.clone(),
                    r => r,
                };
                let Some(amount) = yuan_to_fen(&field("refund_amount")).filter(|a| *a >= 1) else {
                    return self.business_failure(
                        method,
                        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                        "退款金额不合法",
                    );
                };
                let now = self.now();
                let mut book = lock(&self.0.trades);
                let repeat = book
                    .refunds
                    .contains_key(&(out_trade_no.clone(), out_request_no.clone()));
                let Some(t) = book.trades.get_mut(&out_trade_no).filter(|t| t.visible) else {
                    drop(book);
                    return self.business_failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在");
                };
                if t.status != Status::Success {
                    drop(book);
                    return self.business_failure(
                        method,
                        "ACQ.TRADE_STATUS_ERROR",
                        "交易状态不合法",
                    );
                }
                if !repeat && amount > t.amount - t.refunded {
                    drop(book);
                    return self.business_failure(
                        method,
                        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                        "退款金额超限",
                    );
                }
                if !repeat {
                    t.refunded += amount;
                }
                let answer = json!({
                    "out_trade_no": out_trade_no,
                    "trade_no": t.trade_no,
                    "buyer_logon_id": "159****5620",
                    "fund_change": if repeat { "N" } else { "Y" },
                    "refund_fee": fen_to_yuan(t.refunded),
                    "gmt_refund_pay": alipay_time(now),
                });
                if !repeat {
                    book.refunds
                        .insert((out_trade_no.clone(), out_request_no.clone()), amount);
                    book.events.push(Event {
                        at: now,
                        out_trade_no,
                        out_request_no: Some(out_request_no),
                    });
                }
                drop(book);
                self.ok(method, answer)
            }
            "alipay.trade.fastpay.refund.query" => {
                let out_request_no = match field("out_request_no") {
                    r if r.is_empty() => out_trade_no.clone(),
                    r => r,
                };
                let book = lock(&self.0.trades);
                let found = book
                    .refunds
                    .get(&(out_trade_no.clone(), out_request_no.clone()))
                    .copied();
                let total = book
                    .trades
                    .get(&out_trade_no)
                    .map(|t| t.amount)
                    .unwrap_or(0);
                drop(book);
                // Alipay answers success without refund_status for a refund it does not know.
                match found {
                    Some(amount) => self.ok(
                        method,
                        json!({"out_trade_no": out_trade_no, "out_request_no": out_request_no, "refund_amount": fen_to_yuan(amount), "total_amount": fen_to_yuan(total), "refund_status": "REFUND_SUCCESS"}),
                    ),
                    None => self.ok(method, json!({"out_trade_no": out_trade_no, "out_request_no": out_request_no})),
                }
            }
            "alipay.data.dataservice.bill.downloadurl.query" => {
                if field("bill_type") != "trade" {
                    return self.business_failure(
                        method,
                        "isp.bill_type_not_support",
                        "本地账单只提供 trade",
                    );
                }
                let Ok(day) = field("bill_date").parse::<Date>() else {
                    return self.business_failure(
                        method,
                        "isv.invalid-bill-date",
                        "账单日期格式不正确",
                    );
                };
                let Some(zip) = self.bill_zip(day) else {
                    return self.business_failure(method, "isp.bill_not_exist", "账单不存在");
                };
                let token = uuid::Uuid::new_v4().simple().to_string();
                lock(&self.0.trades).downloads.insert(token.clone(), zip);
                let url = format!("{}/bill/download?token={token}", lock(&self.0.base_url));
                self.ok(method, json!({"bill_download_url": url}))
            }
            _ => self.refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-method",
                "不存在的方法名",
            ),
        }
    }

    /// The visitor pays: the trade succeeds and its notification goes out as the courier is
    /// told. Returns Alipay's trade number.
    pub async fn pay(&self, out_trade_no: &str) -> Result<String, String> {
        let now = self.now();
        let trade_no = {
            let mut book = lock(&self.0.trades);
            let t = book.trades.get_mut(out_trade_no).ok_or("no such trade")?;
            if t.status != Status::WaitBuyerPay {
                return Err(format!("trade is {}", t.status.as_str()));
            }
            if t.time_expire.is_some_and(|e| e <= now) {
                t.status = Status::Closed;
                return Err("trade expired".into());
            }
            t.status = Status::Success;
            t.visible = true;
            t.paid_at = Some(now);
            let trade_no = t.trade_no.clone();
            book.events.push(Event {
                at: now,
                out_trade_no: out_trade_no.to_owned(),
                out_request_no: None,
            });
            trade_no
        };
        if let Some(n) = self.paid_notification(out_trade_no, None) {
            self.0.courier.deliver(n).await;
        }
        Ok(trade_no)
    }

    /// The `trade_status_sync` notification of a paid trade, signed with Alipay's key; its
    /// amount replaced if asked (a genuine signature over a mismatched amount).
    pub fn paid_notification(
        &self,
        out_trade_no: &str,
        amount_override: Option<u64>,
    ) -> Option<Outgoing> {
        let book = lock(&self.0.trades);
        let t = book
            .trades
            .get(out_trade_no)
            .filter(|t| t.status == Status::Success)?;
        let amount = fen_to_yuan(amount_override.unwrap_or(t.amount));
        let paid_at = alipay_time(t.paid_at.unwrap_or(self.now()));
        let mut params: BTreeMap<String, String> = [
            ("notify_time", alipay_time(self.now())),
            ("notify_type", "trade_status_sync".into()),
            (
                "notify_id",
                format!("2026{}", uuid::Uuid::new_v4().simple()),
            ),
            ("app_id", self.0.app_id.clone()),
            ("auth_app_id", self.0.app_id.clone()),
            ("charset", "utf-8".into()),
            ("version", "1.0".into()),
            ("trade_no", t.trade_no.clone()),
            ("out_trade_no", out_trade_no.to_owned()),
            ("buyer_open_id", t.buyer.clone()),
            ("seller_id", "2088102119685838".into()),
            ("trade_status", "TRADE_SUCCESS".into()),
            ("total_amount", amount.clone()),
            ("receipt_amount", amount.clone()),
            ("buyer_pay_amount", amount),
            ("subject", t.subject.clone()),
            ("gmt_create", paid_at.clone()),
            ("gmt_payment", paid_at),
        ]
        .into_iter()
        // Alipay leaves out what it has no value for (a QR buyer it does not name): an empty
        // parameter is signed by some SDKs and skipped by others.
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        sign_notification(&mut params, &self.0.alipay_private);
        Some(Outgoing {
            url: t.notify_url.clone(),
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            headers: Vec::new(),
            body: serde_urlencoded::to_string(&params).unwrap_or_default(),
        })
    }

    /// The `trade` bill of `day` as Alipay packs it: a zip holding the detail CSV and its
    /// summary, both GBK-encoded, with `#` comment lines around the table.
    pub fn bill_zip(&self, day: Date) -> Option<Vec<u8>> {
        let book = lock(&self.0.trades);
        let rows: Vec<&Event> = book
            .events
            .iter()
            .filter(|e| beijing::date(e.at) == day)
            .collect();
        if rows.is_empty() {
            return None;
        }
        let mut detail = String::from("#支付宝业务明细查询\r\n#账号：[20881021196858380156]\r\n");
        detail.push_str(&format!(
            "#起始日期：[{day} 00:00:00]   终止日期：[{} 00:00:00]\r\n",
            day.tomorrow().ok()?
        ));
        detail.push_str("#-----------------------------------------业务明细列表----------------------------------------\r\n");
        detail.push_str("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n");
        let (mut paid, mut refunded, mut n_paid, mut n_refunded) = (0u64, 0u64, 0, 0);
        for e in &rows {
            let Some(t) = book.trades.get(&e.out_trade_no) else {
                continue;
            };
            let when = alipay_time(e.at);
            // Refund lines carry negative amounts.
            let (kind, signed, request) = match &e.out_request_no {
                None => {
                    paid += t.amount;
                    n_paid += 1;
                    ("交易", fen_to_yuan(t.amount), String::new())
                }
                Some(r) => {
                    let amount = book
                        .refunds
                        .get(&(e.out_trade_no.clone(), r.clone()))
                        .copied()
                        .unwrap_or(0);
                    refunded += amount;
                    n_refunded += 1;
                    ("退款", format!("-{}", fen_to_yuan(amount)), r.clone())
                }
            };
            detail.push_str(&format!(
                "{}\t,{}\t,{kind},{}\t,{when},{when},,,,,{}\t,{signed},{signed},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,{request}\t,0.00,0.00,\r\n",
                t.trade_no, e.out_trade_no, t.subject, t.buyer
            ));
        }
        detail.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
        detail.push_str(&format!("#交易合计：{n_paid}笔，商家实收共{}元\r\n#退款合计：{n_refunded}笔，商家实收共-{}元\r\n", fen_to_yuan(paid), fen_to_yuan(refunded)));
        detail.push_str(&format!("#导出时间：[{}]\r\n", alipay_time(self.now())));
        let summary = format!(
            "#支付宝业务汇总查询\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）\r\n合计,,{n_paid},{n_refunded},{},{}\r\n",
            fen_to_yuan(paid),
            fen_to_yuan(paid.saturating_sub(refunded))
        );
        drop(book);
        let stem = format!("20881021196858380156_{}", day.strftime("%Y%m%d"));
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in [
            (format!("{stem}_业务明细.csv"), detail),
            (format!("{stem}_业务明细(汇总).csv"), summary),
        ] {
            let (gbk, _, _) = encoding_rs::GBK.encode(&text);
            zip.start_file(name, options).ok()?;
            zip.write_all(&gbk).ok()?;
        }
        Some(zip.finish().ok()?.into_inner())
    }
}

pub(crate) async fn download(
    State(fake): State<FakeAlipay>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let bytes = q
        .get("token")
        .and_then(|t| lock(&fake.0.trades).downloads.get(t).cloned());
    match bytes {
        Some(b) => ([("content-type", "application/zip")], b).into_response(),
        None => (StatusCode::NOT_FOUND, "bill link expired").into_response(),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct PayControl {
    out_trade_no: String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cashier_page(out_trade_no: &str, yuan: &str, return_url: &str) -> String {
    format!(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>支付宝收银台</title>\
         <main><h1>支付宝收银台 (demo)</h1><p>订单 {no}: ¥{yuan}</p>\
         <form method=post action=/_fake/cashier><input type=hidden name=\"out_trade_no\" value=\"{no}\"><input type=hidden name=\"return_url\" value=\"{back}\">\
         <button type=submit>确认付款 Pay ¥{yuan}</button></form></main></html>",
        no = escape(out_trade_no),
        back = escape(return_url),
    )
}

#[derive(serde::Deserialize)]
pub(crate) struct CashierForm {
    out_trade_no: String,
    return_url: String,
}

/// The cashier page's button: pays the trade (the notification goes out) and sends the browser
/// back to the merchant's `return_url` with the trade's numbers, as Alipay's synchronous return
/// does (the merchant trusts the notification, not this).
pub(crate) async fn cashier_pay(State(fake): State<FakeAlipay>, body: String) -> Response {
    let Ok(form) = serde_urlencoded::from_str::<CashierForm>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad form").into_response();
    };
    match fake.pay(&form.out_trade_no).await {
        Ok(trade_no)
            if form.return_url.starts_with("http://")
                || form.return_url.starts_with("https://") =>
        {
            let query = serde_urlencoded::to_string([
                ("out_trade_no", form.out_trade_no.as_str()),
                ("trade_no", trade_no.as_str()),
            ])
            .unwrap_or_default();
            let sep = if form.return_url.contains('?') {
                '&'
            } else {
                '?'
            };
            axum::response::Redirect::to(&format!("{}{sep}{query}", form.return_url))
                .into_response()
        }
        Ok(trade_no) => Json(json!({"trade_no": trade_no})).into_response(),
        Err(e) => (StatusCode::CONFLICT, e).into_response(),
    }
}

pub(crate) async fn control_pay(
    State(fake): State<FakeAlipay>,
    Json(c): Json<PayControl>,
) -> Response {
    match fake.pay(&c.out_trade_no).await {
        Ok(trade_no) => Json(json!({"trade_no": trade_no})).into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({"error": e}))).into_response(),
    }
}

pub(crate) async fn control_delivery(
    State(fake): State<FakeAlipay>,
    Json(c): Json<crate::courier::DeliveryControl>,
) -> Json<Value> {
    Json(fake.0.courier.control(c).await)
}
