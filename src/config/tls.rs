//! `[tls]`: HTTPS and WSS on the listen address. Off by default (plain HTTP, right for loopback); on with either a
//! certificate and key from files (reloaded when they change) or a self-signed certificate the gateway generates once
//! and keeps. The work itself is [`crate::edge::tls`]; this is only the validated shape.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// Most extra names a self-signed certificate may carry (`self_signed_names`); a certificate is sent in every
/// handshake, so its size is bounded.
pub const MAX_SELF_SIGNED_NAMES: usize = 32;
/// Longest DNS name (RFC 1035).
const MAX_DNS_NAME: usize = 253;

/// `[tls]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain (leaf first), e.g. Let's Encrypt's `fullchain.pem`. With `key`; empty =
    /// none. Checked for changes every [`crate::edge::tls::RELOAD_POLL`] and reloaded without a restart; a file
    /// that does not load leaves the current certificate in place (and logs why).
    pub cert: String,
    /// PEM file with the private key of `cert` (PKCS#8, PKCS#1 or SEC1). With `cert`; empty = none.
    pub key: String,
    /// Generate a self-signed certificate on first start and keep using it (for a LAN: browsers warn once; compare
    /// the SHA-256 fingerprint printed at start). Not with `cert`/`key`.
    pub self_signed: bool,
    /// Where the self-signed certificate and key are kept; empty = `$XDG_DATA_HOME/sightline/tls` (else
    /// `~/.local/share/sightline/tls`). Delete the files to get a new certificate.
    pub self_signed_dir: String,
    /// Names and IP addresses the self-signed certificate is valid for besides `localhost`, `127.0.0.1`, `::1`,
    /// the listen IP and the machine's host name (`NAME` and `NAME.local`), e.g. the LAN address phones use. A kept
    /// certificate that lacks one of them is replaced by a new one.
    pub self_signed_names: Vec<String>,
    /// An address (e.g. `"0.0.0.0:8081"`) where a plain-HTTP listener answers every request with `308` to the
    /// same path over HTTPS; empty = none. Needs TLS on.
    pub redirect_http: String,
}

/// Where the certificate comes from (a validated [`TlsConfig`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// Plain HTTP.
    Off,
    /// Certificate chain and key files, reloaded on change.
    Files {
        /// `tls.cert`.
        cert: PathBuf,
        /// `tls.key`.
        key: PathBuf,
    },
    /// Generated once and kept in `dir`.
    SelfSigned {
        /// `tls.self_signed_dir`, or the default when empty (`None` when it cannot be found: no `$HOME`).
        dir: Option<PathBuf>,
        /// `tls.self_signed_names`.
        names: Vec<String>,
    },
}

impl TlsConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (self.cert.is_empty(), self.key.is_empty()) {
            (false, true) => return Err(invalid("tls.key", "tls.cert is set: set tls.key too")),
            (true, false) => return Err(invalid("tls.cert", "tls.key is set: set tls.cert too")),
            _ => {}
        }
        if self.self_signed && !self.cert.is_empty() {
            return Err(invalid(
                "tls.self_signed",
                "cannot be combined with tls.cert and tls.key (use one or the other)",
            ));
        }
        if !self.self_signed && !self.self_signed_dir.is_empty() {
            return Err(invalid(
                "tls.self_signed_dir",
                "only used with tls.self_signed = true",
            ));
        }
        if !self.self_signed && !self.self_signed_names.is_empty() {
            return Err(invalid(
                "tls.self_signed_names",
                "only used with tls.self_signed = true",
            ));
        }
        if self.self_signed_names.len() > MAX_SELF_SIGNED_NAMES {
            return Err(invalid(
                "tls.self_signed_names",
                format!("at most {MAX_SELF_SIGNED_NAMES} names"),
            ));
        }
        for name in &self.self_signed_names {
            if !is_valid_name(name) {
                return Err(invalid(
                    "tls.self_signed_names",
                    format!(
                        "{:?} is neither an IP address nor a DNS name",
                        truncate(name)
                    ),
                ));
            }
        }
        if !self.redirect_http.is_empty() {
            if self.redirect_http.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    "tls.redirect_http",
                    format!(
                        "{:?} is not an IP:port address (e.g. \"0.0.0.0:8081\")",
                        truncate(&self.redirect_http)
                    ),
                ));
            }
            if !self.enabled() {
                return Err(invalid(
                    "tls.redirect_http",
                    "redirects to HTTPS, so TLS must be on (tls.cert and tls.key, or tls.self_signed)",
                ));
            }
        }
        Ok(())
    }

    /// Whether the listen address speaks HTTPS.
    pub fn enabled(&self) -> bool {
        self.self_signed || !self.cert.is_empty()
    }

    /// Where the certificate comes from.
    pub fn source(&self) -> TlsSource {
        if !self.cert.is_empty() {
            TlsSource::Files {
                cert: PathBuf::from(&self.cert),
                key: PathBuf::from(&self.key),
            }
        } else if self.self_signed {
            let dir = if self.self_signed_dir.is_empty() {
                default_self_signed_dir()
            } else {
                Some(PathBuf::from(&self.self_signed_dir))
            };
            TlsSource::SelfSigned {
                dir,
                names: self.self_signed_names.clone(),
            }
        } else {
            TlsSource::Off
        }
    }

    /// `tls.redirect_http` as an address, when set (validated).
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_http.parse().ok()
    }
}

/// `$XDG_DATA_HOME/sightline/tls`, else `$HOME/.local/share/sightline/tls` (`%APPDATA%\sightline\tls` on Windows).
fn default_self_signed_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("APPDATA")
    } else {
        env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local/share")))
    };
    base.map(|b| b.join("sightline").join("tls"))
}

/// An IP address, or a DNS name of letter/digit/hyphen labels (a leading `*.` wildcard allowed).
fn is_valid_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= MAX_DNS_NAME
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A value quoted in an error, cut to a readable length.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(c: TlsConfig) -> String {
        match c.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a refused key, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_plain_http() {
        let c = TlsConfig::default();
        c.validate().expect("defaults validate");
        assert!(!c.enabled());
        assert_eq!(c.source(), TlsSource::Off);
        assert_eq!(c.redirect_addr(), None);
    }

    #[test]
    fn cert_and_key_come_together() {
        let cert_only = TlsConfig {
            cert: "c.pem".into(),
            ..TlsConfig::default()
        };
        assert_eq!(key_of(cert_only), "tls.key");
        let key_only = TlsConfig {
            key: "k.pem".into(),
            ..TlsConfig::default()
        };
        assert_eq!(key_of(key_only), "tls.cert");
        let both = TlsConfig {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            ..TlsConfig::default()
        };
        both.validate().expect("both set");
        assert_eq!(
            both.source(),
            TlsSource::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            }
        );
    }

    #[test]
    fn self_signed_excludes_files_and_owns_its_keys() {
        let mixed = TlsConfig {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            self_signed: true,
            ..TlsConfig::default()
        };
        assert_eq!(key_of(mixed), "tls.self_signed");
        let names_without = TlsConfig {
            self_signed_names: vec!["box.lan".into()],
            ..TlsConfig::default()
        };
        assert_eq!(key_of(names_without), "tls.self_signed_names");
        let dir_without = TlsConfig {
            self_signed_dir: "/tmp/x".into(),
            ..TlsConfig::default()
        };
        assert_eq!(key_of(dir_without), "tls.self_signed_dir");
        let ok = TlsConfig {
            self_signed: true,
            self_signed_dir: "/tmp/x".into(),
            self_signed_names: vec![
                "box.lan".into(),
                "192.168.1.5".into(),
                "*.example.org".into(),
            ],
            ..TlsConfig::default()
        };
        ok.validate().expect("self-signed with names");
        assert!(ok.enabled());
    }

    #[test]
    fn bad_names_are_refused_with_the_key() {
        for bad in ["", "a b", "-x.lan", "x..lan", "http://x", &"a".repeat(300)] {
            let c = TlsConfig {
                self_signed: true,
                self_signed_names: vec![bad.to_owned()],
                ..TlsConfig::default()
            };
            assert_eq!(key_of(c), "tls.self_signed_names", "{bad:?}");
        }
        let many = TlsConfig {
            self_signed: true,
            self_signed_names: (0..=MAX_SELF_SIGNED_NAMES)
                .map(|i| format!("h{i}.lan"))
                .collect(),
            ..TlsConfig::default()
        };
        assert_eq!(key_of(many), "tls.self_signed_names");
    }

    #[test]
    fn redirect_needs_an_address_and_tls() {
        let no_tls = TlsConfig {
            redirect_http: "0.0.0.0:8081".into(),
            ..TlsConfig::default()
        };
        assert_eq!(key_of(no_tls), "tls.redirect_http");
        let bad = TlsConfig {
            self_signed: true,
            redirect_http: "port 80".into(),
            ..TlsConfig::default()
        };
        assert_eq!(key_of(bad), "tls.redirect_http");
        let ok = TlsConfig {
            self_signed: true,
            redirect_http: "0.0.0.0:8081".into(),
            ..TlsConfig::default()
        };
        ok.validate().expect("redirect");
        assert_eq!(ok.redirect_addr(), Some("0.0.0.0:8081".parse().unwrap()));
    }
}
