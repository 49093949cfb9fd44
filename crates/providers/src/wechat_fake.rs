//! A local WeChat `code2session` endpoint: checks the app id and secret (40013 invalid appid,
//! 40125 invalid secret), the grant type, and that the code was issued and not used before
//! (40029, 40163); answers `openid` and a fresh `session_key` as WeChat does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};

use crate::{CodeRefused, OneTimeCodes};

struct Inner {
    app_id: String,
    app_secret: String,
    codes: OneTimeCodes,
}

#[derive(Clone)]
pub struct FakeWeChat(Arc<Inner>);

impl FakeWeChat {
    pub fn new(app_id: &str, app_secret: &str) -> Self {
        Self(Arc::new(Inner {
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
            codes: OneTimeCodes::default(),
        }))
    }

    /// What `wx.login` would return in the mini-program for this user.
    pub fn issue_code(&self, openid: &str) -> String {
        self.0.codes.issue(openid)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/sns/jscode2session", get(code2session))
            .with_state(self.clone())
    }
}

async fn code2session(
    State(fake): State<FakeWeChat>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let error = |code: i64, msg: &str| Json(json!({"errcode": code, "errmsg": msg}));
    if get("appid") != fake.0.app_id {
        return error(40013, "invalid appid");
    }
    if get("secret") != fake.0.app_secret {
        return error(40125, "invalid appsecret");
    }
    if get("grant_type") != "authorization_code" {
        return error(40002, "invalid grant_type");
    }
    let code = get("js_code");
    let openid = match fake.0.codes.redeem(code) {
        Ok(openid) => openid,
        Err(CodeRefused::Unknown) => return error(40029, "invalid code"),
        Err(CodeRefused::Used) => return error(40163, "code been used"),
    };
    let mut key = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut key);
    Json(json!({
        "openid": openid,
        "session_key": base64::engine::general_purpose::STANDARD.encode(key),
    }))
}
