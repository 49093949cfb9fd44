//! A bare HTTP/1.1 client for the benches whose load generator shares the server's two cores
//! and whose requests are tiny (the waiting room's joins and polls): one task per connection
//! writes the request and reads the answer itself, with no connection task beside it and no
//! channel between them, so less of the machine goes to the client and more to the server
//! being measured. Answers are read by `httparse`; a body comes by `Content-Length` or chunked.

use anyhow::{bail, Context};
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::Reply;

/// The most an answer's head may take.
const MAX_HEAD: usize = 16 * 1024;
/// The most an answer's body may take.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub struct BareConn {
    stream: TcpStream,
    host: String,
    /// The request being written, kept from one request to the next.
    out: Vec<u8>,
    /// What was read and not yet used.
    read: Vec<u8>,
}

impl BareConn {
    /// A connection to `addr` whose requests name `host` (as a browser names the museum).
    pub async fn open(addr: &str, host: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            host: host.to_owned(),
            out: Vec::with_capacity(512),
            read: Vec::with_capacity(4096),
        })
    }

    /// A bodiless request (a POST says `Content-Length: 0`, as browsers do), with the bearer
    /// `token` if any.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<Reply> {
        self.out.clear();
        let line = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        self.out.extend_from_slice(line.as_bytes());
        if let Some(t) = token {
            self.out.extend_from_slice(b"Authorization: Bearer ");
            self.out.extend_from_slice(t.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        if matches!(method, "POST" | "PUT" | "PATCH") {
            self.out.extend_from_slice(b"Content-Length: 0\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        self.stream.write_all(&self.out).await?;
        self.answer().await
    }

    /// Reads one answer.
    async fn answer(&mut self) -> anyhow::Result<Reply> {
        let (status, head_len, framing) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.read)? {
                httparse::Status::Complete(len) => {
                    let status = response.code.unwrap_or(0);
                    break (status, len, framing(response.headers)?);
                }
                httparse::Status::Partial => {
                    if self.read.len() > MAX_HEAD {
                        bail!("an answer's head is over {MAX_HEAD} bytes");
                    }
                    self.fill().await?;
                }
            }
        };
        self.read.drain(..head_len);
        let body = match framing {
            Framing::Length(n) => {
                if n > MAX_BODY {
                    bail!("an answer's body is over {MAX_BODY} bytes");
                }
                while self.read.len() < n {
                    self.fill().await?;
                }
                Bytes::from(self.read.drain(..n).collect::<Vec<u8>>())
            }
            Framing::Chunked => self.chunked().await?,
        };
        Ok(Reply { status, body })
    }

    /// A chunked body, put together.
    async fn chunked(&mut self) -> anyhow::Result<Bytes> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.read.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(self.read.get(..line_end).unwrap_or(&[]))?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .with_context(|| format!("a chunk size {size_text:?}"))?;
            if body.len() + size > MAX_BODY {
                bail!("an answer's body is over {MAX_BODY} bytes");
            }
            // The size line, the chunk and its CRLF (the last chunk: the empty trailer line).
            let need = line_end + 2 + size + 2;
            while self.read.len() < need {
                self.fill().await?;
            }
            body.extend_from_slice(
                self.read
                    .get(line_end + 2..line_end + 2 + size)
                    .unwrap_or(&[]),
            );
            self.read.drain(..need);
            if size == 0 {
                return Ok(Bytes::from(body));
            }
        }
    }

    /// Reads more from the connection; the server closing it mid-answer is an error.
    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection mid-answer");
        }
        self.read.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        Ok(())
    }
}

/// How an answer's body is delimited.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

fn framing(headers: &[httparse::Header<'_>]) -> anyhow::Result<Framing> {
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value.eq_ignore_ascii_case(b"chunked")
        {
            return Ok(Framing::Chunked);
        }
    }
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)?.trim().parse()?;
            return Ok(Framing::Length(n));
        }
    }
    // Neither: this client only talks to a server that frames every answer.
    bail!("an answer without Content-Length or chunked framing")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request on one connection with the next of `answers`, and
    /// hands back what it was sent.
    async fn serve(answers: Vec<&'static [u8]>) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for answer in answers {
                let mut buf = [0u8; 1024];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    seen.extend_from_slice(&buf[..n]);
                    if seen.ends_with(b"\r\n\r\n") {
                        break;
                    }
                }
                // In two writes, so the client has to read more than once.
                let (a, b) = answer.split_at(answer.len() / 2);
                s.write_all(a).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                s.write_all(b).await.unwrap();
            }
            seen
        });
        (addr, task)
    }

    #[tokio::test]
    async fn answers_by_length_and_by_chunks_on_one_connection() {
        let (addr, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
            b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"code\":\"\r\n8\r\nsold_out\r\n2;x=y\r\n\"}\r\n0\r\n\r\n",
        ])
        .await;
        let mut c = BareConn::open(&addr, "tickets.museum.example")
            .await
            .unwrap();
        let r = c
            .send("POST", "/api/v1/releases/7/join", Some("gh_abc"))
            .await
            .unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"{\"ok\":true}"[..]));
        let r = c.send("GET", "/q/7/x", None).await.unwrap();
        assert_eq!(r.status, 409);
        assert_eq!(r.code(), "sold_out");
        drop(c);
        let sent = String::from_utf8(server.await.unwrap()).unwrap();
        assert_eq!(
            sent,
            "POST /api/v1/releases/7/join HTTP/1.1\r\nHost: tickets.museum.example\r\n\
             Authorization: Bearer gh_abc\r\nContent-Length: 0\r\n\r\n\
             GET /q/7/x HTTP/1.1\r\nHost: tickets.museum.example\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_connection_closed_mid_answer_or_unframed_is_an_error() {
        let (addr, _server) =
            serve(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort"]).await;
        let mut c = BareConn::open(&addr, "h").await.unwrap();
        assert!(c.send("GET", "/", None).await.is_err());
        let (addr, _server) = serve(vec![b"HTTP/1.1 200 OK\r\n\r\nbody"]).await;
        let mut c = BareConn::open(&addr, "h").await.unwrap();
        let e = c.send("GET", "/", None).await.unwrap_err();
        assert!(e.to_string().contains("framing"), "{e}");
    }
}
