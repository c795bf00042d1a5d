//! `Host` and `Origin` allow-lists: who may open a browser-reachable endpoint.
//!
//! - **Host** (against DNS rebinding: a hostile page whose name resolves to the gateway's address): the request's
//!   host, from the `Host` header or the URI's authority, must match an [`AllowedHost`] entry (a name, optionally
//!   with a port).
//! - **Origin** (against cross-site WebSocket hijacking: a hostile page opening a socket to the gateway): a
//!   browser's `Origin` must be the gateway's own (same host and port as the request's `Host`) or match an
//!   [`AllowedOrigin`] entry. Requests without `Origin` come from non-browser clients and pass: the token is
//!   what protects the gateway from them.
//!
//! [`WsAccess`] applies `[server] allowed_hosts` / `allowed_origins` to `/ws`. The parsing helpers are shared with
//! `/mcp`'s checks, which allow only listed origins.

use axum::http::{HeaderMap, Uri, header};

/// The request's host and port: the `Host` header, or the URI's authority (HTTP/2). `None` when neither is there
/// or the header is not a valid authority.
pub fn host_of(uri: &Uri, headers: &HeaderMap) -> Option<(String, Option<u16>)> {
    let authority = match headers.get(header::HOST) {
        Some(h) => axum::http::uri::Authority::try_from(h.to_str().ok()?).ok()?,
        None => uri.authority()?.clone(),
    };
    Some((normalise_host(authority.host()), authority.port_u16()))
}

/// A host name as compared: lower case, IPv6 brackets removed.
pub fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// An allowed host entry: a host, optionally with a port (then only that port matches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `localhost`, `example.com:8080`, `::1`, `[::1]:8080`.
    pub fn parse(entry: &str) -> Self {
        let entry = entry.trim();
        // A bare IPv6 address has several colons and no brackets; it cannot carry a port.
        let bare_ipv6 = !entry.starts_with('[') && entry.matches(':').count() > 1;
        match axum::http::uri::Authority::try_from(entry) {
            Ok(a) if !bare_ipv6 => Self {
                host: normalise_host(a.host()),
                port: a.port_u16(),
            },
            _ => Self {
                host: normalise_host(entry),
                port: None,
            },
        }
    }

    /// Whether a request's host and port match.
    pub fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && self.port.is_none_or(|p| Some(p) == port)
    }
}

/// A browser origin: scheme, host and port (the scheme's default when absent, RFC 6454).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Parses an `Origin` header value; `None` for `null` and anything that is not `scheme://host[:port]`.
    pub fn parse(value: &str) -> Option<Self> {
        let uri: Uri = value.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return None;
        }
        let authority = uri.authority()?;
        let port = authority.port_u16().or_else(|| default_port(&scheme));
        Some(Self {
            scheme,
            host: normalise_host(authority.host()),
            port,
        })
    }

    /// The scheme, lower case.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, as [`normalise_host`] writes it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the origin names none; `None` for schemes without one).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether this is the origin of a page served by the request's own host: same host, and same port (a `Host`
    /// without a port means the origin scheme's default). The scheme is not compared: a TLS-terminating proxy
    /// in front of the gateway changes it.
    pub fn is_same_host(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && self.port == port.or_else(|| default_port(&self.scheme))
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// An allowed origin entry: `https://host` (default port), `https://host:8443`, or `http://host:*` (any port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedOrigin {
    origin: Origin,
    any_port: bool,
}

impl AllowedOrigin {
    /// Parses an entry; `None` when it is not an origin.
    pub fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        match entry.strip_suffix(":*") {
            Some(base) => Some(Self {
                origin: Origin::parse(base)?,
                any_port: true,
            }),
            None => Some(Self {
                origin: Origin::parse(entry)?,
                any_port: false,
            }),
        }
    }

    /// The origin of the entry (with the scheme's default port when it named none).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Whether the entry allows any port (`…:*`).
    pub fn any_port(&self) -> bool {
        self.any_port
    }

    /// Whether a request's origin matches.
    pub fn matches(&self, o: &Origin) -> bool {
        self.origin.scheme == o.scheme
            && self.origin.host == o.host
            && (self.any_port || self.origin.port == o.port)
    }
}

/// Why [`WsAccess::check`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The `Host` is not in `[server] allowed_hosts`.
    Host,
    /// The `Origin` is neither the gateway's own nor in `[server] allowed_origins` (or is not an origin at all).
    Origin,
}

impl Refusal {
    /// The name counted in the diagnostics (`crate::diagnostics::REFUSALS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Origin => "origin",
        }
    }

    /// What the `403` says.
    pub fn message(self) -> &'static str {
        match self {
            Self::Host => "this Host is not in [server] allowed_hosts",
            Self::Origin => {
                "this Origin is neither the gateway's own nor in [server] allowed_origins"
            }
        }
    }
}

/// The `/ws` policy of `[server] allowed_hosts` and `allowed_origins`.
#[derive(Clone, Debug, Default)]
pub struct WsAccess {
    /// Empty: any host.
    hosts: Vec<AllowedHost>,
    origins: Vec<AllowedOrigin>,
}

impl WsAccess {
    /// The policy of `[server]`. Entries that are not origins are skipped (they can match nothing).
    pub fn new(allowed_hosts: &[String], allowed_origins: &[String]) -> Self {
        Self {
            hosts: allowed_hosts
                .iter()
                .map(|h| AllowedHost::parse(h))
                .collect(),
            origins: allowed_origins
                .iter()
                .filter_map(|o| AllowedOrigin::parse(o))
                .collect(),
        }
    }

    /// Checks one upgrade request.
    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = host_of(uri, headers);
        if !self.hosts.is_empty() {
            match &host {
                Some((h, p)) if self.hosts.iter().any(|a| a.matches(h, *p)) => {}
                _ => return Err(Refusal::Host),
            }
        }
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = value
            .to_str()
            .ok()
            .and_then(Origin::parse)
            .ok_or(Refusal::Origin)?;
        let same = host
            .as_ref()
            .is_some_and(|(h, p)| origin.is_same_host(h, *p));
        if same || self.origins.iter().any(|a| a.matches(&origin)) {
            Ok(())
        } else {
            Err(Refusal::Origin)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn access(hosts: &[&str], origins: &[&str]) -> WsAccess {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        WsAccess::new(&own(hosts), &own(origins))
    }

    #[test]
    fn hosts_match_by_name_and_by_port_when_the_entry_has_one() {
        let local = AllowedHost::parse("localhost");
        assert!(local.matches("localhost", Some(8080)));
        assert!(local.matches("localhost", None));
        assert!(!local.matches("evil.example", Some(8080)));
        let pinned = AllowedHost::parse("Example.com:8443");
        assert!(pinned.matches("example.com", Some(8443)));
        assert!(!pinned.matches("example.com", Some(8080)));
        assert!(AllowedHost::parse("::1").matches("::1", Some(8080)));
        let v6_port = AllowedHost::parse("[::1]:9000");
        assert!(v6_port.matches("::1", Some(9000)) && !v6_port.matches("::1", Some(1)));
        assert_eq!(
            host_of(&"/".parse().unwrap(), &headers(&[("host", "[::1]:8080")])),
            Some(("::1".into(), Some(8080)))
        );
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let claude = AllowedOrigin::parse("https://claude.ai").unwrap();
        assert!(claude.matches(&Origin::parse("https://claude.ai").unwrap()));
        assert!(claude.matches(&Origin::parse("https://claude.ai:443").unwrap()));
        assert!(!claude.matches(&Origin::parse("https://claude.ai:8443").unwrap()));
        assert!(!claude.matches(&Origin::parse("http://claude.ai").unwrap()));
        assert!(!claude.matches(&Origin::parse("https://evil.claude.ai.example").unwrap()));
        let dev = AllowedOrigin::parse("http://localhost:*").unwrap();
        assert!(dev.matches(&Origin::parse("http://localhost:6274").unwrap()));
        assert!(!dev.matches(&Origin::parse("https://localhost:6274").unwrap()));
        assert_eq!(Origin::parse("null"), None);
        assert_eq!(Origin::parse("https://a.example/path"), None);
    }

    #[test]
    fn ws_allows_same_origin_listed_origins_and_no_origin() {
        let uri: Uri = "/ws".parse().unwrap();
        let open = access(&[], &[]);
        // No Origin: a non-browser client.
        assert_eq!(
            open.check(&uri, &headers(&[("host", "127.0.0.1:8080")])),
            Ok(())
        );
        // The gateway's own page.
        let own = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert_eq!(open.check(&uri, &own), Ok(()));
        // Default ports on both sides, and behind a TLS proxy (scheme differs, host and port agree).
        let tls = headers(&[("host", "view.example"), ("origin", "https://view.example")]);
        assert_eq!(open.check(&uri, &tls), Ok(()));
        // Another site, another port of the same host, a broken or `null` origin.
        for origin in [
            "https://evil.example",
            "http://127.0.0.1:9999",
            "null",
            "not an origin",
        ] {
            let h = headers(&[("host", "127.0.0.1:8080"), ("origin", origin)]);
            assert_eq!(open.check(&uri, &h), Err(Refusal::Origin), "{origin}");
        }
        // Listed.
        let listed = access(&[], &["https://app.example", "http://localhost:*"]);
        for origin in ["https://app.example", "http://localhost:5173"] {
            let h = headers(&[("host", "127.0.0.1:8080"), ("origin", origin)]);
            assert_eq!(listed.check(&uri, &h), Ok(()), "{origin}");
        }
    }

    #[test]
    fn ws_hosts_are_checked_only_when_listed() {
        let uri: Uri = "/ws".parse().unwrap();
        let pinned = access(&["view.example", "127.0.0.1:8080"], &[]);
        for (host, ok) in [
            ("view.example", true),
            ("VIEW.example:443", true),
            ("127.0.0.1:8080", true),
            ("127.0.0.1:9", false),
            ("rebound.example", false),
        ] {
            let r = pinned.check(&uri, &headers(&[("host", host)]));
            assert_eq!(r.is_ok(), ok, "{host}: {r:?}");
        }
        assert_eq!(
            pinned.check(&uri, &HeaderMap::new()),
            Err(Refusal::Host),
            "no Host at all"
        );
        // A listed host still needs a same or listed origin.
        let h = headers(&[("host", "view.example"), ("origin", "https://evil.example")]);
        assert_eq!(pinned.check(&uri, &h), Err(Refusal::Origin));
    }
}
