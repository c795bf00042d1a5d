//! TURN with ephemeral credentials: the "TURN REST API" scheme (draft-uberti-behave-turn-rest) that coturn's
//! `use-auth-secret` + `static-auth-secret` implements.
//!
//! The gateway and the TURN server share one secret, which never leaves the gateway (it is not sent, logged or
//! serialized: [`TurnSecret`] prints as `<redacted>`). Each viewer gets its own credential:
//! - user name `"<expiry, unix seconds>:<session id>"`,
//! - password `base64(HMAC-SHA1(secret, user name))`.
//!
//! The TURN server recomputes the HMAC and refuses (`401 Unauthorized`) a wrong one or an expiry in the past. coturn
//! checks when an allocation is created, so a relay that is up stays up past the expiry, but a new peer connection
//! made with an old credential gathers no relay candidate. The credential in `welcome` therefore lasts `[turn] ttl_s`; a page that connected
//! longer ago gets a fresh one when it reconnects.
//!
//! [`credential`] is the pure computation; [`TurnIssuer`] holds the configured URLs, secret and lifetime and turns
//! them into the [`IceServer`] entry a viewer (or, with `[turn] server_side`, the gateway's own peer) is given.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::peer::IceServer;

/// Longest user part (after the expiry) of an issued user name. Session ids are 32 hex digits; anything longer is
/// cut so a user name stays a bounded, log-safe string.
pub const MAX_USER_LEN: usize = 64;

/// The user part of the gateway's own credentials (`[turn] server_side`).
pub const GATEWAY_USER: &str = "sightline-gateway";

/// The shared secret (`[turn] secret`). Its `Debug` never shows it; it has no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnSecret(Arc<str>);

impl TurnSecret {
    /// Wraps a secret.
    pub fn new(secret: &str) -> Self {
        Self(secret.into())
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnSecret(<redacted>)")
    }
}

/// `base64(HMAC-SHA1(secret, username))`: the password a TURN server with `use-auth-secret` expects for `username`.
pub fn credential(secret: &[u8], username: &str) -> String {
    // HMAC takes keys of any length (longer ones are hashed first), so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `"<expires_unix>:<user>"`, with `user` reduced to ASCII letters, digits, `-`, `_` and `.` and at most
/// [`MAX_USER_LEN`] characters: `:` is coturn's separator between expiry and user, and the name ends up in the TURN
/// server's log. An empty result becomes `viewer`.
pub fn username(expires_unix: u64, user: &str) -> String {
    let clean: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(MAX_USER_LEN)
        .collect();
    let user = if clean.is_empty() { "viewer" } else { &clean };
    format!("{expires_unix}:{user}")
}

/// Issues credentials for the configured TURN servers (`[turn]`): one [`IceServer`] entry carrying every URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnIssuer {
    urls: Vec<String>,
    secret: TurnSecret,
    ttl: Duration,
}

impl TurnIssuer {
    /// An issuer for `urls` (`turn:`/`turns:`), signing with `secret`, credentials valid for `ttl`.
    pub fn new(urls: Vec<String>, secret: TurnSecret, ttl: Duration) -> Self {
        Self { urls, secret, ttl }
    }

    /// The TURN URLs.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// How long an issued credential is valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The entry for `user` (a session id) at wall-clock time `now`: valid until `now + ttl`.
    pub fn ice_server(&self, user: &str, now: SystemTime) -> IceServer {
        let now_unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let username = username(now_unix.saturating_add(self.ttl.as_secs()), user);
        IceServer {
            urls: self.urls.clone(),
            credential: Some(credential(self.secret.bytes(), &username)),
            username: Some(username),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with Python:
    //   base64.b64encode(hmac.new(secret, username, hashlib.sha1).digest())
    #[test]
    fn credential_matches_an_independent_hmac_sha1() {
        assert_eq!(
            credential(b"sightline-test-secret", "1700003600:5f2c9a0e7b1d4c3a"),
            "nLUPORrA9cMBk+l0ifhgnaHQHcU="
        );
        assert_eq!(
            credential(b"correct-horse-battery-staple", "1796299556:gateway"),
            "Nh0ujTuMn9cmAFZ4B9BPskNtX5w="
        );
    }

    #[test]
    fn issued_entry_expires_after_the_ttl_and_signs_its_user_name() {
        let issuer = TurnIssuer::new(
            vec![
                "turn:turn.example:3478".into(),
                "turns:turn.example:5349".into(),
            ],
            TurnSecret::new("sightline-test-secret"),
            Duration::from_secs(3600),
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let s = issuer.ice_server("5f2c9a0e7b1d4c3a", now);
        assert_eq!(s.urls, issuer.urls());
        assert_eq!(s.username.as_deref(), Some("1700003600:5f2c9a0e7b1d4c3a"));
        assert_eq!(
            s.credential.as_deref(),
            Some("nLUPORrA9cMBk+l0ifhgnaHQHcU=")
        );
    }

    #[test]
    fn user_part_is_bounded_and_separator_free() {
        assert_eq!(username(5, "a:b c\n<d>"), "5:abcd");
        assert_eq!(username(5, "::"), "5:viewer");
        let long = "x".repeat(500);
        assert_eq!(username(5, &long).len(), 2 + MAX_USER_LEN);
    }

    #[test]
    fn the_secret_never_prints() {
        let issuer = TurnIssuer::new(
            vec!["turn:t:3478".into()],
            TurnSecret::new("do-not-print-me"),
            Duration::from_secs(60),
        );
        let shown = format!("{issuer:?}");
        assert!(!shown.contains("do-not-print-me"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
