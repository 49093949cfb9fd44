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
pub mod smtp;
pub mod wechat;
pub mod wechat_fake;
pub mod wechatpay;
pub mod wechatpay_fake;
pub mod wechatpay_sign;
pub mod yuan;

/// A mutex guard, also after a panic elsewhere: the fakes' books stay usable in tests.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `n` random decimal digits (the fakes' transaction and refund numbers).
pub(crate) fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// Providers' wall-clock times: `2026-11-23 09:05:00` in Beijing (Alipay's parameters, both
/// providers' bills) and RFC 3339 with the +08:00 offset (WeChat Pay v3).
pub mod beijing {
    use gatehouse_domain::payment::provider_time_zone;
    use jiff::Timestamp;

    const WALL: &str = "%Y-%m-%d %H:%M:%S";

    pub fn wall_time(t: Timestamp) -> String {
        t.to_zoned(provider_time_zone()).strftime(WALL).to_string()
    }

    pub fn parse_wall_time(text: &str) -> Option<Timestamp> {
        jiff::civil::DateTime::strptime(WALL, text)
            .ok()?
            .to_zoned(provider_time_zone())
            .ok()
            .map(|z| z.timestamp())
    }

    pub fn rfc3339(t: Timestamp) -> String {
        t.to_zoned(provider_time_zone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    pub fn date(t: Timestamp) -> jiff::civil::Date {
        t.to_zoned(provider_time_zone()).date()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn wall_times_round_trip_in_beijing() {
            let t: jiff::Timestamp = "2026-11-23T01:05:00Z".parse().unwrap();
            assert_eq!(super::wall_time(t), "2026-11-23 09:05:00");
            assert_eq!(super::parse_wall_time("2026-11-23 09:05:00"), Some(t));
            assert_eq!(super::rfc3339(t), "2026-11-23T09:05:00+08:00");
            assert_eq!(super::parse_wall_time("2026-11-23T09:05:00"), None);
        }
    }
}

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
