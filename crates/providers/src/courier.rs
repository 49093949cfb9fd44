//! How a fake provider delivers its notifications, as chosen by a test or the demo: at once,
//! not at all, twice, late, held back and released in any order, or preceded by a forged copy
//! (one byte changed after signing), so every way real notifications misbehave can be rehearsed.

use std::sync::Mutex;

use crate::lock;
use std::time::Duration;

/// One notification ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub url: String,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Outgoing {
    /// A copy with one byte of the body changed: its signature no longer matches.
    pub fn forged(&self) -> Outgoing {
        let mut body = self.body.clone().into_bytes();
        // Flip a digit or letter in the middle; stays valid UTF-8 and valid syntax.
        if let Some(b) = body
            .iter_mut()
            .skip(self.body.len() / 2)
            .find(|b| b.is_ascii_alphanumeric())
        {
            *b = if *b == b'1' { b'2' } else { b'1' };
        }
        Outgoing {
            body: String::from_utf8(body).unwrap_or_default(),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Sent at once.
    #[default]
    Normal,
    /// Never sent (the merchant must query).
    Silent,
    /// Sent twice.
    Duplicate,
    /// Sent after a second.
    Delayed,
    /// Kept until released (then in any order).
    Hold,
    /// A forged copy first, then the genuine one.
    Forged,
}

/// `POST /_fake/delivery` on a local provider: a new mode, and optionally release what was held.
#[derive(Debug, serde::Deserialize)]
pub struct DeliveryControl {
    pub mode: Delivery,
    /// Release held notifications now: `true` newest first, `false` oldest first.
    #[serde(default)]
    pub release: Option<bool>,
}

#[derive(Default)]
pub struct Courier {
    mode: Mutex<Delivery>,
    held: Mutex<Vec<Outgoing>>,
    http: reqwest::Client,
}

impl Courier {
    pub fn set_mode(&self, mode: Delivery) {
        *lock(&self.mode) = mode;
    }

    pub fn mode(&self) -> Delivery {
        *lock(&self.mode)
    }

    /// Sends one notification; returns the HTTP status of each attempt made now.
    pub async fn deliver(&self, n: Outgoing) -> Vec<u16> {
        match self.mode() {
            Delivery::Normal => vec![self.send(&n).await],
            Delivery::Silent => Vec::new(),
            Delivery::Duplicate => vec![self.send(&n).await, self.send(&n).await],
            Delivery::Delayed => {
                let http = self.http.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    send_with(&http, &n).await
                });
                Vec::new()
            }
            Delivery::Hold => {
                lock(&self.held).push(n);
                Vec::new()
            }
            Delivery::Forged => vec![self.send(&n.forged()).await, self.send(&n).await],
        }
    }

    /// Applies a delivery control; answers the mode and the statuses of released notifications.
    pub async fn control(&self, c: DeliveryControl) -> serde_json::Value {
        self.set_mode(c.mode);
        let released = match c.release {
            Some(reverse) => self.release(reverse).await,
            None => Vec::new(),
        };
        serde_json::json!({"mode": c.mode, "released": released})
    }

    /// Hands over what was held, unsent (a test delivers it itself).
    pub fn take_held(&self) -> Vec<Outgoing> {
        std::mem::take(&mut *lock(&self.held))
    }

    /// Sends what was held, newest first if `reverse`; returns each status.
    pub async fn release(&self, reverse: bool) -> Vec<u16> {
        let mut held = std::mem::take(&mut *lock(&self.held));
        if reverse {
            held.reverse();
        }
        let mut out = Vec::with_capacity(held.len());
        for n in &held {
            out.push(self.send(n).await);
        }
        out
    }

    pub async fn send(&self, n: &Outgoing) -> u16 {
        send_with(&self.http, n).await
    }
}

async fn send_with(http: &reqwest::Client, n: &Outgoing) -> u16 {
    let mut request = http
        .post(&n.url)
        .header("Content-Type", n.content_type)
        .body(n.body.clone());
    for (k, v) in &n.headers {
        request = request.header(k, v);
    }
    match request.send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => {
            tracing::warn!(error = %e, url = %n.url, "fake provider could not deliver a notification");
            0
        }
    }
}
