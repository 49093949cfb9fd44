//! Alibaba Cloud real-person verification (实人认证, API version 2019-03-07): `InitFaceVerify`
//! starts a verification and returns the certify id and the URL where the person does the
//! liveness check; `DescribeFaceVerify` returns the outcome (`Passed` T/F and a `SubCode`).
//! Requests are RPC-signed ([`crate::aliyun_rpc`]) and sent as a POST form, so the name and
//! ID number travel in the TLS body, never in a URL. The outcome's `MaterialInfo` (which links
//! the face images) is ignored: nothing of it is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::Clock;
use gatehouse_identity::{FaceOutcome, FaceProvider, FaceStart, FaceStarted, ProviderFailure};

use crate::aliyun_rpc;

pub const API_VERSION: &str = "2019-03-07";

#[derive(Clone)]
pub struct AliyunFaceConfig {
    /// `https://cloudauth.aliyuncs.com/` in production.
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The verification scene created in the console.
    pub scene_id: String,
}

pub struct AliyunFaceClient {
    http: reqwest::Client,
    config: AliyunFaceConfig,
    clock: Arc<dyn Clock>,
}

impl AliyunFaceClient {
    pub fn new(config: AliyunFaceConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            http: crate::http_client(),
            config,
            clock,
        }
    }

    /// The signed parameters of a call to `action`.
    pub fn signed_params(&self, action: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let timestamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut params: BTreeMap<String, String> = [
            ("Action", action),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", self.config.access_key_id.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce.as_str()),
            ("Timestamp", timestamp.as_str()),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let signature = aliyun_rpc::signature(&self.config.access_key_secret, "POST", &params);
        params.insert("Signature".into(), signature);
        params
    }

    async fn call(
        &self,
        action: &str,
        extra: &[(&str, &str)],
    ) -> Result<serde_json::Value, ProviderFailure> {
        let params = self.signed_params(action, extra);
        let answer: serde_json::Value = self
            .http
            .post(&self.config.endpoint)
            .form(&params)
            .send()
            .await
            .map_err(|e| ProviderFailure::Unavailable(format!("cloudauth unreachable: {e}")))?
            .json()
            .await
            .map_err(|_| {
                ProviderFailure::Unavailable("cloudauth answered something else than JSON".into())
            })?;
        let code = answer.get("Code").and_then(|c| c.as_str()).unwrap_or("");
        let message = answer.get("Message").and_then(|c| c.as_str()).unwrap_or("");
        match code {
            "200" => answer
                .get("ResultObject")
                .cloned()
                .ok_or_else(|| ProviderFailure::Unavailable("no ResultObject".into())),
            // The person's data was refused (e.g. 401 invalid parameters, 417 ID not matching).
            "400" | "401" | "417" => Err(ProviderFailure::Refused(format!("{code} {message}"))),
            _ => Err(ProviderFailure::Unavailable(format!("{code} {message}"))),
        }
    }
}

fn text(v: &serde_json::Value, key: &str) -> String {
    v.get(key).and_then(|x| x.as_str()).unwrap_or("").to_owned()
}

#[async_trait]
impl FaceProvider for AliyunFaceClient {
    fn name(&self) -> &'static str {
        "aliyun_cloudauth"
    }

    async fn start(&self, r: FaceStart<'_>) -> Result<FaceStarted, ProviderFailure> {
        let result = self
            .call(
                "InitFaceVerify",
                &[
                    ("SceneId", self.config.scene_id.as_str()),
                    ("OuterOrderNo", r.outer_order_no),
                    ("ProductCode", "ID_PRO"),
                    ("Model", "LIVENESS"),
                    ("CertType", "IDENTITY_CARD"),
                    ("CertName", r.cert_name),
                    ("CertNo", r.cert_no),
                    ("ReturnUrl", r.return_url),
                    ("CallbackUrl", r.callback_url),
                    ("CallbackToken", r.callback_token),
                ],
            )
            .await?;
        let started = FaceStarted {
            certify_id: text(&result, "CertifyId"),
            certify_url: text(&result, "CertifyUrl"),
        };
        if started.certify_id.is_empty() || started.certify_url.is_empty() {
            return Err(ProviderFailure::Unavailable(
                "no CertifyId or CertifyUrl".into(),
            ));
        }
        Ok(started)
    }

    async fn outcome(&self, certify_id: &str) -> Result<FaceOutcome, ProviderFailure> {
        let result = self
            .call(
                "DescribeFaceVerify",
                &[
                    ("SceneId", self.config.scene_id.as_str()),
                    ("CertifyId", certify_id),
                ],
            )
            .await?;
        let sub_code = text(&result, "SubCode");
        // The documentation: judge by Passed alone.
        Ok(match text(&result, "Passed").as_str() {
            "T" => FaceOutcome::Passed { sub_code },
            _ => FaceOutcome::Failed { sub_code },
        })
    }
}
