//! The standalone gateway (`gatehouse gateway --upstream URL`): the same shield and policy file
//! in front of any HTTP service, so a museum can protect the ticketing system it already has.
//! A refused request never reaches the upstream; an allowed one is forwarded with its method,
//! path, query, headers (less the hop-by-hop ones) and streamed body, with the connection's
//! address appended to `X-Forwarded-For`; the answer streams back the same way.
//!
//! The upstream is plain `http://` (the gateway usually runs beside it); TLS to the client is
//! the load balancer's job in front.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::Edge;

/// Where the gateway forwards to.
#[derive(Debug, Clone)]
pub struct Upstream {
    scheme_authority: String,
    authority: HeaderValue,
}

impl Upstream {
    /// `http://host:port` (a trailing `/` is allowed; a path, query or other scheme is not).
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .trim_end_matches('/')
            .parse()
            .map_err(|_| format!("{url:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(
                "the upstream must be an http:// URL (TLS ends at the load balancer)".into(),
            );
        }
        let authority = uri
            .authority()
            .ok_or_else(|| "the upstream URL has no host".to_owned())?;
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err("the upstream URL must not have a path or query".into());
        }
        Ok(Self {
            scheme_authority: format!("http://{authority}"),
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|_| "the upstream host is not a valid header".to_owned())?,
        })
    }
}

struct Gateway {
    client: Client<HttpConnector, Body>,
    upstream: Upstream,
}

/// The gateway's application: the shield, the firewall, then the proxy.
pub fn router(edge: Arc<Edge>, upstream: Upstream) -> Router {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let gateway = Arc::new(Gateway { client, upstream });
    Router::new()
        .fallback(proxy)
        .with_state(gateway)
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            crate::firewall::inspect,
        ))
        .layer(axum::middleware::from_fn_with_state(edge, crate::protect))
}

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

async fn proxy(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Ok(uri) = format!("{}{path}", gw.upstream.scheme_authority).parse::<Uri>() else {
        return bad_gateway("the request's path cannot be forwarded");
    };
    parts.uri = uri;
    strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(header::HOST, gw.upstream.authority.clone());
    if let Some(peer) = peer {
        let forwarded = match parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(existing) => format!("{existing}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded) {
            parts.headers.insert("x-forwarded-for", v);
        }
    }
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    match gw.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "upstream unreachable");
            bad_gateway("the upstream service did not answer")
        }
    }
}

fn bad_gateway(message: &str) -> Response {
    crate::error_response(StatusCode::BAD_GATEWAY, "bad_gateway", message, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_plain_http_hosts() {
        assert!(Upstream::parse("http://127.0.0.1:8080").is_ok());
        assert!(Upstream::parse("http://tickets.internal:8080/").is_ok());
        assert!(Upstream::parse("https://x")
            .unwrap_err()
            .contains("http://"));
        assert!(Upstream::parse("http://x/app")
            .unwrap_err()
            .contains("path"));
        assert!(Upstream::parse("not a url").is_err());
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("close, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("authorization", HeaderValue::from_static("Bearer t"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("authorization"));
    }
}
