//! A minimal outgoing HTTP/1.1 client: the Janus HTTP API ([`crate::sfu::janus`]) and WHIP egress
//! ([`crate::whip`]) are its only users, both talking to a handful of configured endpoints.
//!
//! One call is one connection: [`request`] resolves the host, connects (TCP, or for `https://` TLS 1.3 with
//! rustls/ring and the Mozilla roots from `webpki-roots`; the gateway's rustls is built without TLS 1.2), sends
//! one request on hyper's HTTP/1 client connection, reads the response body up to [`MAX_RESPONSE_BYTES`] and
//! closes. No pooling (a Janus long poll holds its connection for 30 s anyway), no redirects (a `3xx` is returned
//! as it is: the caller decides), no proxies, no cookies. One `timeout` bounds everything, DNS included. The
//! connection future is driven inside the caller's task, so nothing is spawned and nothing outlives the call.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Largest response body read; a longer one fails with [`HttpError::TooLarge`]. Janus replies and WHIP answers
/// (an SDP) are a few kB.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// `User-Agent` of every request.
const AGENT: &str = concat!("sightline/", env!("CARGO_PKG_VERSION"));

/// Longest URL accepted, in bytes.
const MAX_URL_LEN: usize = 4096;

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code (`3xx` included: redirects are not followed).
    pub status: u16,
    /// Header names in lower case, in the order received; values that are not UTF-8 are converted lossily.
    pub headers: Vec<(String, String)>,
    /// The whole body (at most [`MAX_RESPONSE_BYTES`]).
    pub body: Bytes,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request failed. The texts name the cause, never a header value (tokens stay out of logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Not an `http://` or `https://` URL with a host.
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// A method or header that cannot be sent.
    #[error("invalid request: {0}")]
    Request(String),
    /// The name did not resolve or the TCP connection failed.
    #[error("cannot connect to {0}")]
    Connect(String),
    /// The whole exchange took longer than the timeout.
    #[error("timed out")]
    Timeout,
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server broke HTTP/1.1 or closed the connection early.
    #[error("HTTP protocol error: {0}")]
    Protocol(String),
    /// The response body is longer than [`MAX_RESPONSE_BYTES`].
    #[error("response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

/// Sends one request and reads the whole response. `headers` are added as given (after `Host` and
/// `User-Agent`); `body` is `(content type, bytes)`. `timeout` bounds the whole exchange.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Bytes)>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let target = Target::parse(url)?;
    let req = build(method, &target, headers, body)?;
    match tokio::time::timeout(timeout, exchange(&target, req)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout),
    }
}

/// Where a URL points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// Host name or IP address, without IPv6 brackets.
    host: String,
    port: u16,
    /// `Host` header value: the authority as written minus user info (which is refused).
    authority: String,
    /// Path and query (`/` when empty).
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = |why: &str| HttpError::BadUrl(format!("{}: {why}", shorten(url)));
        if url.len() > MAX_URL_LEN {
            return Err(bad("too long"));
        }
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(bad("only http:// and https:// are supported")),
            None => return Err(bad("no scheme")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info is not supported"));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            path: path.to_owned(),
        })
    }
}

fn shorten(url: &str) -> String {
    const SHOWN: usize = 200;
    match url.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}…", &url[..i]),
        None => url.to_owned(),
    }
}

fn build(
    method: &str,
    target: &Target,
    headers: &[(&str, &str)],
    body: Option<(&str, Bytes)>,
) -> Result<Request<Full<Bytes>>, HttpError> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| HttpError::Request(format!("bad method {method:?}")))?;
    let mut req = Request::builder()
        .method(method)
        .uri(target.path.as_str())
        .body(Full::new(Bytes::new()))
        .map_err(|e| HttpError::Request(e.to_string()))?;
    let h = req.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v);
    h.insert(
        HOST,
        value(&target.authority).map_err(|_| HttpError::BadUrl("bad host".into()))?,
    );
    h.insert(USER_AGENT, HeaderValue::from_static(AGENT));
    for (name, v) in headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::Request(format!("bad header name {name:?}")))?;
        // The value is not echoed: it may be a token.
        let v = value(v).map_err(|_| HttpError::Request(format!("bad value for header {n}")))?;
        h.append(n, v);
    }
    if let Some((ctype, bytes)) = body {
        let ct = value(ctype).map_err(|_| HttpError::Request("bad content type".into()))?;
        h.insert(CONTENT_TYPE, ct);
        h.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        *req.body_mut() = Full::new(bytes);
    }
    Ok(req)
}

async fn exchange(target: &Target, req: Request<Full<Bytes>>) -> Result<Response, HttpError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| HttpError::Connect(format!("{}:{}: {e}", target.host, target.port)))?;
    // Small request/response exchanges: do not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    if !target.tls {
        return send(tcp, req).await;
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|_| {
        HttpError::BadUrl(format!("{:?} is not a valid TLS server name", target.host))
    })?;
    let tls = tokio_rustls::TlsConnector::from(tls_config())
        .connect(name, tcp)
        .await
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    send(tls, req).await
}

/// The shared client TLS configuration: ring, the Mozilla roots, ALPN `http/1.1`.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(cfg)
        })
        .clone()
}

async fn send<S>(io: S, req: Request<Full<Bytes>>) -> Result<Response, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| HttpError::Protocol(e.to_string()))?;
    let work = async move {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| HttpError::Protocol(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(HttpError::TooLarge);
        }
        let body = Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    HttpError::TooLarge
                } else {
                    HttpError::Protocol(e.to_string())
                }
            })?
            .to_bytes();
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(Response {
            status: parts.status.as_u16(),
            headers,
            body,
        })
    };
    // Drive the connection here (not in a spawned task) until the response is complete.
    let mut work = std::pin::pin!(work);
    let mut conn = std::pin::pin!(conn);
    let mut conn_done = false;
    loop {
        tokio::select! {
            r = &mut work => return r,
            c = &mut conn, if !conn_done => {
                conn_done = true;
                if let Err(e) = c {
                    return Err(HttpError::Protocol(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot server: accepts one connection, reads the request head (and a body when
    /// `Content-Length` says so), writes `reply` (unless `None`: then it holds the connection open).
    async fn server(reply: Option<Vec<u8>>) -> (String, tokio::task::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            match reply {
                Some(r) => {
                    s.write_all(&r).await.unwrap();
                    s.shutdown().await.ok();
                }
                None => tokio::time::sleep(Duration::from_secs(30)).await,
            }
            String::from_utf8_lossy(&buf).to_string()
        });
        (format!("http://{addr}"), task)
    }

    #[tokio::test]
    async fn reads_status_headers_and_body_and_sends_the_request() {
        let reply = b"HTTP/1.1 201 Created\r\nLocation: /res/1\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n".to_vec();
        let (base, task) = server(Some(reply)).await;
        let r = request(
            "POST",
            &format!("{base}/whip?x=1"),
            &[("Authorization", "Bearer t0k")],
            Some(("application/sdp", Bytes::from_static(b"offer"))),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 201);
        assert!(r.is_success());
        assert_eq!(r.header("location"), Some("/res/1"));
        assert_eq!(r.header("CONTENT-TYPE"), Some("application/sdp"));
        assert_eq!(&r.body[..], b"v=0\r\n");
        let seen = task.await.unwrap();
        assert!(seen.starts_with("POST /whip?x=1 HTTP/1.1\r\n"), "{seen}");
        let lower = seen.to_ascii_lowercase();
        assert!(lower.contains("host: 127.0.0.1:"), "{seen}");
        assert!(lower.contains("authorization: bearer t0k"), "{seen}");
        assert!(lower.contains("content-type: application/sdp"), "{seen}");
        assert!(seen.ends_with("\r\n\r\noffer"), "{seen}");
    }

    #[tokio::test]
    async fn redirects_are_returned_not_followed() {
        let reply = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n".to_vec();
        let (base, _task) = server(Some(reply)).await;
        let r = request("GET", &base, &[], None, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.status, 307);
        assert_eq!(r.header("location"), Some("http://elsewhere/"));
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_too_large() {
        // Declared too large.
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_RESPONSE_BYTES + 1
        );
        let (base, _task) = server(Some(reply.into_bytes())).await;
        let r = request("GET", &base, &[], None, Duration::from_secs(5)).await;
        assert_eq!(r.unwrap_err(), HttpError::TooLarge);
        // Undeclared (read until close) and too large.
        let mut reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        reply.resize(reply.len() + MAX_RESPONSE_BYTES + 10, b'x');
        let (base, _task) = server(Some(reply)).await;
        let r = request("GET", &base, &[], None, Duration::from_secs(5)).await;
        assert_eq!(r.unwrap_err(), HttpError::TooLarge);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let (base, task) = server(None).await;
        let t0 = std::time::Instant::now();
        let r = request("GET", &base, &[], None, Duration::from_millis(200)).await;
        assert_eq!(r.unwrap_err(), HttpError::Timeout);
        assert!(t0.elapsed() < Duration::from_secs(2));
        task.abort();
    }

    #[tokio::test]
    async fn bad_urls_and_requests_are_refused_before_connecting() {
        let t = Duration::from_secs(1);
        for url in [
            "ftp://h/x",
            "127.0.0.1:80/x",
            "http://",
            "http://user:pw@h/",
            "not a url",
        ] {
            let r = request("GET", url, &[], None, t).await;
            assert!(matches!(r, Err(HttpError::BadUrl(_))), "{url}: {r:?}");
        }
        let r = request("G ET", "http://127.0.0.1:9/", &[], None, t).await;
        assert!(matches!(r, Err(HttpError::Request(_))), "{r:?}");
        let r = request("GET", "http://127.0.0.1:9/", &[("a\nb", "v")], None, t).await;
        assert!(matches!(r, Err(HttpError::Request(_))), "{r:?}");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let r = request(
            "GET",
            &format!("http://{addr}/"),
            &[],
            None,
            Duration::from_secs(2),
        )
        .await;
        assert!(matches!(r, Err(HttpError::Connect(_))), "{r:?}");
    }

    #[test]
    fn urls_are_split_into_host_port_and_path() {
        let t = Target::parse("https://[::1]:8089/janus/1?maxev=5").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "::1".into(),
                port: 8089,
                authority: "[::1]:8089".into(),
                path: "/janus/1?maxev=5".into(),
            }
        );
        let t = Target::parse("http://janus.example").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert_eq!(Target::parse("https://h/").unwrap().port, 443);
    }
}
