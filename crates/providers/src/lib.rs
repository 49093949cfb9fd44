//! Adapters for the providers Gatehouse talks to, and a faithful local fake of each.
//!
//! An adapter speaks the provider's documented protocol (request signing, response
//! verification, error codes); its fake is a small HTTP server that checks requests and signs
//! answers exactly as the provider documents, so tests, the demo and benchmarks exercise the
//! real protocol code end to end. Fakes are the only stand-ins: the edge we cannot reach.

pub mod alipay;
pub mod alipay_fake;
pub mod alipay_pay;
pub mod alipay_trade_fake;
pub mod aliyun_face;
pub mod aliyun_face_fake;
pub mod aliyun_rpc;
pub mod courier;
pub mod oidc;
pub mod rsa_keys;
pub mod wechat;
pub mod wechat_fake;
pub mod wechatpay;
pub mod wechatpay_fake;
pub mod wechatpay_sign;
pub mod yuan;

/// Why a fake refused a one-time auth code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefused {
    Unknown,
    Used,
}

/// The one-time auth codes a fake provider has handed out (what `my.getAuthCode` or
/// `wx.login` return in a mini-program), each naming a user and redeemable once.
#[derive(Default)]
pub struct OneTimeCodes {
    codes: std::sync::Mutex<(
        std::collections::HashMap<String, String>,
        std::collections::HashSet<String>,
    )>,
}

impl OneTimeCodes {
    /// A fresh code for `user`.
    pub fn issue(&self, user: &str) -> String {
        use rand::RngCore;
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let code = hex::encode(raw);
        self.codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .insert(code.clone(), user.to_owned());
        code
    }

    /// The user a code names, the first time it is presented.
    pub fn redeem(&self, code: &str) -> Result<String, CodeRefused> {
        let mut guard = self
            .codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (issued, used) = &mut *guard;
        let user = issued.get(code).ok_or(CodeRefused::Unknown)?.clone();
        if used.insert(code.to_owned()) {
            Ok(user)
        } else {
            Err(CodeRefused::Used)
        }
    }
}

/// A fake provider listening on a local port; stops when dropped.
pub struct FakeServer {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Serves `app` on 127.0.0.1 at a free port.
    pub async fn start(app: axum::Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake provider stopped");
            }
        });
        Ok(Self { addr, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The HTTP client adapters share: short timeouts, rustls.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(3))
        .build()
        .unwrap_or_default()
}
