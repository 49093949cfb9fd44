//! The stylesheet and script, embedded in the binary and served under names that carry a hash
//! of their content (`app-<hash>.css`), so browsers may keep them for a year and a new build's
//! pages ask for the new files.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

struct Asset {
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    let hash: String = hex::encode(digest).chars().take(12).collect();
    Asset {
        name: format!("{stem}-{hash}.{ext}"),
        body,
        content_type,
    }
}

struct Assets {
    css: Asset,
    js: Asset,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: asset("app", "css", CSS, "text/css; charset=utf-8"),
    js: asset("app", "js", JS, "text/javascript; charset=utf-8"),
});

/// The path the pages link the stylesheet by.
pub fn css_path() -> String {
    format!("/assets/{}", ASSETS.css.name)
}

/// The path the pages load the script from.
pub fn js_path() -> String {
    format!("/assets/{}", ASSETS.js.name)
}

pub async fn serve(Path(name): Path<String>) -> Response {
    match [&ASSETS.css, &ASSETS.js]
        .into_iter()
        .find(|a| a.name == name)
    {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
