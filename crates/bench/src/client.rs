//! A minimal HTTP/1.1 JSON client over one kept-alive connection per task: what a load
//! generator needs and nothing more (no pooling, no redirects), so its own cost stays small.

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("status {} with a non-JSON body", self.status))
    }

    /// The `code` of an error answer, or "" if none. Found without parsing the whole body.
    pub fn code(&self) -> &str {
        let text = std::str::from_utf8(&self.body).unwrap_or_default();
        text.split_once(r#""code":""#)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map_or("", |(code, _)| code)
    }

    /// How an answer is tallied in a bench's JSON: `200`, or the status and its error code.
    pub fn tally_key(&self) -> String {
        if self.status == 200 {
            "200".to_owned()
        } else {
            format!("{} {}", self.status, self.code())
        }
    }
}

impl Conn {
    pub async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        Self::handshake(stream, addr).await
    }

    /// A connection from a chosen local address (on loopback any 127.x.y.z works): a crowd of
    /// clients with addresses of their own, as traffic protection sees a real crowd.
    pub async fn open_from(addr: &str, local: std::net::IpAddr) -> anyhow::Result<Self> {
        let remote: std::net::SocketAddr =
            addr.parse().with_context(|| format!("address {addr}"))?;
        let socket = match local {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(std::net::SocketAddr::new(local, 0))?;
        let stream = socket
            .connect(remote)
            .await
            .with_context(|| format!("connecting to {addr} from {local}"))?;
        Self::handshake(stream, addr).await
    }

    /// The same connection, naming the server as a browser would (`Host: museum.example`) rather
    /// than by its numeric address, which the firewall's rules notice and log.
    pub fn with_host(mut self, host: &str) -> Self {
        host.clone_into(&mut self.host);
        self
    }

    async fn handshake(stream: TcpStream, addr: &str) -> anyhow::Result<Self> {
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            host: addr.to_owned(),
        })
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Reply> {
        let payload = match body {
            Some(b) => Some(serde_json::to_vec(b)?),
            None => None,
        };
        self.request(method, path, token, payload).await
    }

    /// [`Conn::send`] with more headers.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let payload = match body {
            Some(b) => Some(serde_json::to_vec(b)?),
            None => None,
        };
        self.request_with(method, path, token, payload, headers)
            .await
    }

    /// Sends an already-serialised JSON body.
    pub async fn send_raw(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        json: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        self.request(method, path, token, Some(json)).await
    }

    /// Posts a body as a provider would: its own content type and headers, no session.
    pub async fn post_with_headers(
        &mut self,
        path: &str,
        content_type: &str,
        headers: &[(String, String)],
        body: String,
    ) -> anyhow::Result<Reply> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", &self.host)
            .header("content-type", content_type);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(req.body(Full::new(Bytes::from(body)))?)
            .await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        json: Option<Vec<u8>>,
    ) -> anyhow::Result<Reply> {
        self.request_with(method, path, token, json, &[]).await
    }

    pub(crate) async fn request_with(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        json: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let payload = match json {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(b)
            }
            None => {
                // A bodiless POST says so, as browsers do (without it the firewall logs the
                // request: CRS 920180).
                if [Method::POST, Method::PUT, Method::PATCH]
                    .contains(req.method_ref().unwrap_or(&Method::GET))
                {
                    req = req.header("content-length", "0");
                }
                Bytes::new()
            }
        };
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(req.body(Full::new(payload))?)
            .await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }
}
