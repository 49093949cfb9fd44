//! A local Alibaba Cloud real-person verification endpoint. It checks what the real one checks
//! on every RPC call (a known AccessKey, the HMAC-SHA1 signature, the signature method and
//! version, a nonce not seen before, a timestamp within 15 minutes) and answers
//! `InitFaceVerify` / `DescribeFaceVerify` in the documented shape. The person's liveness check
//! happens at `GET /face/{certify_id}?outcome=pass|fail`: the fake then calls the verification's
//! `CallbackUrl` with `certifyId`, `passed`, `subcode` and `callbackToken`, and redirects to its
//! `ReturnUrl`.

use crate::lock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;

use crate::aliyun_rpc;

#[derive(Clone)]
struct Verification {
    callback_url: String,
    callback_token: String,
    return_url: String,
    /// None until the person finished: Some((passed, sub_code)).
    outcome: Option<(bool, String)>,
}

struct Inner {
    access_key_id: String,
    access_key_secret: String,
    scene_id: String,
    base_url: Mutex<String>,
    nonces: Mutex<HashSet<String>>,
    verifications: Mutex<HashMap<String, Verification>>,
    http: reqwest::Client,
}

#[derive(Clone)]
pub struct FakeAliyunFace(Arc<Inner>);

impl FakeAliyunFace {
    pub fn new(access_key_id: &str, access_key_secret: &str, scene_id: &str) -> Self {
        Self(Arc::new(Inner {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            scene_id: scene_id.into(),
            base_url: Mutex::new(String::new()),
            nonces: Mutex::default(),
            verifications: Mutex::default(),
            http: crate::http_client(),
        }))
    }

    /// Tells the fake its own address (for the certify URLs it hands out).
    pub fn set_base_url(&self, url: &str) {
        *lock(&self.0.base_url) = url.trim_end_matches('/').to_owned();
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", any(rpc))
            .route("/face/{certify_id}", get(liveness_page))
            .with_state(self.clone())
    }

    /// The person completes the check; the fake reports it to the callback URL as the provider
    /// does. Returns the return URL.
    pub async fn complete(&self, certify_id: &str, passed: bool) -> Option<String> {
        let (url, back) = self.finish(certify_id, passed)?;
        if let Err(e) = self.0.http.get(url).send().await {
            tracing::warn!(error = %e, "fake cloudauth callback failed");
        }
        Some(back)
    }

    /// Records the person's outcome and returns the callback URL the provider would call (and
    /// the return URL), without calling it: for tests that deliver the callback themselves.
    pub fn finish(&self, certify_id: &str, passed: bool) -> Option<(String, String)> {
        let v = {
            let mut all = lock(&self.0.verifications);
            let v = all.get_mut(certify_id)?;
            v.outcome = Some((passed, if passed { "200" } else { "205" }.into()));
            v.clone()
        };
        let url = format!(
            "{}{}certifyId={}&passed={}&subcode={}&callbackToken={}",
            v.callback_url,
            if v.callback_url.contains('?') {
                '&'
            } else {
                '?'
            },
            certify_id,
            if passed { "T" } else { "F" },
            v.outcome.as_ref().map_or("", |(_, s)| s.as_str()),
            v.callback_token
        );
        Some((url, v.return_url))
    }

    #[allow(clippy::disallowed_methods)] // the fake stands for Alibaba Cloud, with its own clock
    fn answer(
        &self,
        method: &Method,
        params: &BTreeMap<String, String>,
    ) -> (StatusCode, serde_json::Value) {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let refuse = |status: StatusCode, code: &str, message: &str| {
            (
                status,
                json!({"RequestId": request_id, "HostId": "cloudauth.aliyuncs.com", "Code": code, "Message": message}),
            )
        };
        if get("AccessKeyId") != self.0.access_key_id {
            return refuse(
                StatusCode::NOT_FOUND,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            );
        }
        if get("SignatureMethod") != "HMAC-SHA1" || get("SignatureVersion") != "1.0" {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidSignatureMethod",
                "Specified signature method is not supported.",
            );
        }
        if !aliyun_rpc::verify(&self.0.access_key_secret, method.as_str(), params) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            );
        }
        let fresh = get("Timestamp").parse::<jiff::Timestamp>().is_ok_and(|t| {
            jiff::Timestamp::now().duration_since(t).abs() < jiff::SignedDuration::from_mins(15)
        });
        if !fresh {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            );
        }
        if get("SignatureNonce").is_empty()
            || !lock(&self.0.nonces).insert(get("SignatureNonce").to_owned())
        {
            return refuse(
                StatusCode::BAD_REQUEST,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            );
        }
        if get("Version") != crate::aliyun_face::API_VERSION {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            );
        }
        if get("SceneId") != self.0.scene_id {
            return (
                StatusCode::OK,
                json!({"RequestId": request_id, "Code": "401", "Message": "参数非法: SceneId"}),
            );
        }
        match get("Action") {
            "InitFaceVerify" => {
                for required in [
                    "OuterOrderNo",
                    "ProductCode",
                    "CertType",
                    "CertName",
                    "CertNo",
                    "ReturnUrl",
                ] {
                    if get(required).is_empty() {
                        return (
                            StatusCode::OK,
                            json!({"RequestId": request_id, "Code": "401", "Message": format!("参数非法: {required}")}),
                        );
                    }
                }
                let certify_id = uuid::Uuid::new_v4().simple().to_string();
                lock(&self.0.verifications).insert(
                    certify_id.clone(),
                    Verification {
                        callback_url: get("CallbackUrl").to_owned(),
                        callback_token: get("CallbackToken").to_owned(),
                        return_url: get("ReturnUrl").to_owned(),
                        outcome: None,
                    },
                );
                let url = format!("{}/face/{certify_id}", lock(&self.0.base_url));
                (
                    StatusCode::OK,
                    json!({"RequestId": request_id, "Code": "200", "Message": "success",
                    "ResultObject": {"CertifyId": certify_id, "CertifyUrl": url}}),
                )
            }
            "DescribeFaceVerify" => {
                let found = lock(&self.0.verifications).get(get("CertifyId")).cloned();
                match found {
                    None => (
                        StatusCode::OK,
                        json!({"RequestId": request_id, "Code": "401", "Message": "参数非法: CertifyId"}),
                    ),
                    Some(v) => {
                        let (passed, sub_code) = v.outcome.unwrap_or((false, "205".into()));
                        (
                            StatusCode::OK,
                            json!({"RequestId": request_id, "Code": "200", "Message": "success",
                            "ResultObject": {"Passed": if passed { "T" } else { "F" }, "SubCode": sub_code,
                                "MaterialInfo": "{\"faceAttack\":\"F\",\"facialPictureFront\":{\"pictureUrl\":\"https://example.invalid/face.jpg\"}}"}}),
                        )
                    }
                }
            }
            _ => refuse(
                StatusCode::NOT_FOUND,
                "InvalidAction.NotFound",
                "Specified api is not found.",
            ),
        }
    }
}

async fn rpc(
    State(fake): State<FakeAliyunFace>,
    method: Method,
    RawQuery(query): RawQuery,
    _: HeaderMap,
    body: String,
) -> Response {
    let mut params = BTreeMap::new();
    for source in [query.unwrap_or_default(), body] {
        if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&source) {
            params.extend(pairs);
        }
    }
    let (status, answer) = fake.answer(&method, &params);
    (status, Json(answer)).into_response()
}

async fn liveness_page(
    State(fake): State<FakeAliyunFace>,
    Path(certify_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match q.get("outcome").map(String::as_str) {
        Some(outcome @ ("pass" | "fail")) => {
            match fake.complete(&certify_id, outcome == "pass").await {
                Some(back) => Redirect::to(&back).into_response(),
                None => (StatusCode::NOT_FOUND, "unknown verification").into_response(),
            }
        }
        _ => (
            StatusCode::OK,
            "Fake liveness check: add ?outcome=pass or ?outcome=fail",
        )
            .into_response(),
    }
}
