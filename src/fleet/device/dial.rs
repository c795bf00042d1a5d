//! Dialling the hub: the connect URL built from `[hub] url`, TCP, TLS for `wss://` (rustls with ring, the Mozilla
//! roots plus `[hub] ca_file`), and the WebSocket handshake with the device token as a bearer token.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use sightline_signaling::fleet::{CONNECT_PATH, MAX_MESSAGE_BYTES};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long TCP, TLS and the WebSocket handshake may take together.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// A byte stream to the hub, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The WebSocket to the hub.
pub type HubSocket = WebSocketStream<Box<dyn Io>>;

/// Where the device dials: parsed from `[hub] url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `wss` (TLS) or `ws`.
    pub secure: bool,
    /// Host name or address (an IPv6 address without brackets).
    pub host: String,
    /// TCP port (80 / 443 when the URL names none).
    pub port: u16,
    /// The WebSocket URL: `ws[s]://host[:port]<prefix>/api/v1/devices/connect`.
    pub url: String,
}

/// Builds the connect URL from the hub's base URL: `http` becomes `ws`, `https` becomes `wss`, a path prefix is
/// kept (without its trailing `/`) and [`CONNECT_PATH`] appended.
pub fn target(base: &str) -> Result<Target, String> {
    if base.contains(['?', '#', ' ']) {
        return Err(format!("{base:?} must have no query, fragment or spaces"));
    }
    let (secure, rest) = if let Some(r) = base.strip_prefix("wss://") {
        (true, r)
    } else if let Some(r) = base.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = base.strip_prefix("ws://") {
        (false, r)
    } else if let Some(r) = base.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "{base:?} must start with ws://, wss://, http:// or https://"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!(
            "{base:?}: put the token in [hub] token, not in the URL"
        ));
    }
    let bad_port = || format!("{base:?} has a bad port");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{base:?} has an unclosed IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad_port())?),
            None if after.is_empty() => None,
            None => return Err(bad_port()),
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                Some(p.parse::<u16>().map_err(|_| bad_port())?),
            ),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() || port == Some(0) {
        return Err(format!("{base:?} must name a host and a non-zero port"));
    }
    let port = port.unwrap_or(if secure { 443 } else { 80 });
    let shown_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let prefix = path.trim_end_matches('/');
    let url = format!(
        "{}://{shown_host}:{port}{prefix}{CONNECT_PATH}",
        if secure { "wss" } else { "ws" }
    );
    Ok(Target {
        secure,
        host,
        port,
        url,
    })
}

/// The client TLS configuration for `wss://`: ring, TLS 1.3/1.2 as rustls builds them, the Mozilla roots and every
/// certificate of `ca_file` (empty: none).
pub fn tls_config(ca_file: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if !ca_file.is_empty() {
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| format!("[hub] ca_file {ca_file}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("[hub] ca_file {ca_file}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("[hub] ca_file {ca_file} holds no PEM certificate"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("[hub] ca_file {ca_file}: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The hub answered the upgrade with 401 or 403: the token is wrong or not a device token. Retrying later is
    /// still right (the operator may fix the hub), but at the longest delay.
    #[error("the hub refused the token (HTTP {0}): {1}")]
    Unauthorized(u16, String),
    /// Anything else: unreachable, TLS, a broken handshake, the timeout.
    #[error("{0}")]
    Failed(String),
}

/// Connects to `target` and completes the WebSocket handshake with `token`, within [`DIAL_TIMEOUT`].
pub async fn dial(
    target: &Target,
    token: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<HubSocket, DialError> {
    tokio::time::timeout(DIAL_TIMEOUT, dial_inner(target, token, tls))
        .await
        .map_err(|_| {
            DialError::Failed(format!(
                "no answer from {} within {DIAL_TIMEOUT:?}",
                target.url
            ))
        })?
}

async fn dial_inner(
    target: &Target,
    token: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<HubSocket, DialError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        DialError::Failed(format!("{what} {}: {e}", target.url))
    };
    let mut request = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| failed("bad URL", &e))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        DialError::Failed("the device token has characters a header cannot carry".into())
    })?;
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| failed("cannot connect to", &e))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if target.secure {
        let cfg =
            tls.ok_or_else(|| DialError::Failed("wss:// needs a TLS configuration".into()))?;
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| failed("bad TLS server name for", &e))?;
        let stream = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| failed("TLS with", &e))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    match tokio_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(|b| {
                    String::from_utf8_lossy(&b[..b.len().min(300)])
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                Err(DialError::Unauthorized(status.as_u16(), body))
            } else {
                Err(DialError::Failed(format!(
                    "{} answered HTTP {status}: {body}",
                    target.url
                )))
            }
        }
        Err(e) => Err(failed("WebSocket handshake with", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_urls_are_built_from_the_base() {
        let t = target("ws://10.0.0.1:8080").unwrap();
        assert_eq!(
            (t.secure, t.host.as_str(), t.port),
            (false, "10.0.0.1", 8080)
        );
        assert_eq!(t.url, "ws://10.0.0.1:8080/api/v1/devices/connect");
        let t = target("https://hub.example.com/fleet/").unwrap();
        assert_eq!((t.secure, t.port), (true, 443));
        assert_eq!(
            t.url,
            "wss://hub.example.com:443/fleet/api/v1/devices/connect"
        );
        let t = target("http://hub").unwrap();
        assert_eq!(t.url, "ws://hub:80/api/v1/devices/connect");
        let t = target("wss://[::1]:9443/p").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9443));
        assert_eq!(t.url, "wss://[::1]:9443/p/api/v1/devices/connect");
        for bad in [
            "ftp://h",
            "ws://",
            "ws://h:x",
            "ws://h:0",
            "ws://u:p@h",
            "ws://[::1",
            "ws://h/?q",
            "ws://h:99999",
        ] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_an_error() {
        assert!(tls_config("").is_ok());
        let err = tls_config("/nonexistent/ca.pem").unwrap_err();
        assert!(err.contains("ca_file"), "{err}");
        let empty =
            std::env::temp_dir().join(format!("sightline-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err = tls_config(empty.to_str().unwrap()).unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        std::fs::remove_file(empty).unwrap();
    }
}
