//! WeChat mini-program sign-in: `code2session` exchanges the `wx.login` code for the user's
//! `openid` (GET `/sns/jscode2session` with the app id and app secret over TLS; WeChat does not
//! sign this answer, the secret and the channel authenticate it). Error codes as documented:
//! 40029 invalid code, 40163 code already used, 45011 rate limited, 40226 high-risk user,
//! -1 system busy.

use async_trait::async_trait;
use gatehouse_identity::{ExternalIdentity, ProviderFailure};

#[derive(Clone)]
pub struct WeChatConfig {
    /// `https://api.weixin.qq.com` in production.
    pub api_base: String,
    pub app_id: String,
    pub app_secret: String,
}

pub struct WeChatClient {
    http: reqwest::Client,
    config: WeChatConfig,
}

impl WeChatClient {
    pub fn new(config: WeChatConfig) -> Self {
        Self {
            http: crate::http_client(),
            config,
        }
    }
}

#[derive(serde::Deserialize)]
struct Session {
    openid: Option<String>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

#[async_trait]
impl ExternalIdentity for WeChatClient {
    fn provider(&self) -> &'static str {
        "wechat"
    }

    async fn subject_for_code(&self, code: &str) -> Result<String, ProviderFailure> {
        let url = format!(
            "{}/sns/jscode2session",
            self.config.api_base.trim_end_matches('/')
        );
        let session: Session = self
            .http
            .get(url)
            .query(&[
                ("appid", self.config.app_id.as_str()),
                ("secret", self.config.app_secret.as_str()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(|e| ProviderFailure::Unavailable(format!("WeChat unreachable: {e}")))?
            .json()
            .await
            .map_err(|_| {
                ProviderFailure::Unavailable("WeChat answered something else than JSON".into())
            })?;
        match (session.errcode, session.openid) {
            (0, Some(openid)) if !openid.is_empty() => Ok(openid),
            (40029 | 40163 | 40226, _) => Err(ProviderFailure::Refused(format!(
                "{} {}",
                session.errcode, session.errmsg
            ))),
            (code, _) => Err(ProviderFailure::Unavailable(format!(
                "{code} {}",
                session.errmsg
            ))),
        }
    }
}
