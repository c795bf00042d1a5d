//! `[turn]`: a TURN relay (coturn with `use-auth-secret`) for viewers on networks where direct UDP fails, with
//! ephemeral per-session credentials ([`crate::turn`]). The shared secret stays on the gateway: it is never sent to a
//! client, logged, or printed by `Debug`.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::turn::{TurnIssuer, TurnSecret};

/// Accepted credential lifetimes, seconds. Below a minute a slow page could receive a credential that expires
/// before its peer connection asks the TURN server; above a day a leaked credential stays useful too long.
pub const TTL_S: RangeInclusive<u64> = 60..=86_400;
/// Shortest accepted secret: whoever knows it can mint credentials, so it must not be guessable
/// (`openssl rand -hex 32` gives 64 characters).
pub const MIN_SECRET_LEN: usize = 16;
/// Largest `secret_file` read, bytes (a secret is one line; this only keeps a wrong path from being slurped).
pub const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// `[turn]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// `turn:host:port[?transport=udp|tcp]` / `turns:host:port` URLs of the relay, handed to every viewer (in
    /// `welcome` and WHEP's `Link` headers) with a fresh credential. Empty = no TURN.
    pub urls: Vec<String>,
    /// The TURN server's `static-auth-secret`. Required (or `secret_file`) when `urls` is set.
    pub secret: String,
    /// A file holding the secret (one line; surrounding whitespace ignored), instead of `secret`. Read once at
    /// start-up by [`super::Config::load`].
    pub secret_file: String,
    /// How long an issued credential is valid, seconds ([`TTL_S`]). The TURN server checks it when a peer
    /// connection allocates its relay; a relay in use stays up past it.
    pub ttl_s: u64,
    /// Whether the gateway's own peers also gather relay candidates through `urls` (with their own credentials).
    /// Only needed when the gateway itself sits behind a NAT or firewall that blocks UDP to its host candidates.
    pub server_side: bool,
    /// The secret read from `secret_file` (not part of the file format).
    #[serde(skip)]
    file_secret: Option<TurnSecret>,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: String::new(),
            secret_file: String::new(),
            ttl_s: 3600,
            server_side: false,
            file_secret: None,
        }
    }
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &redacted(&self.secret))
            .field("secret_file", &self.secret_file)
            .field("ttl_s", &self.ttl_s)
            .field("server_side", &self.server_side)
            .finish_non_exhaustive()
    }
}

fn check_secret(key: &str, secret: &str) -> Result<(), ConfigError> {
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(invalid(
            key,
            format!("must be at least {MIN_SECRET_LEN} characters (e.g. `openssl rand -hex 32`)"),
        ));
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            key,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

impl TurnConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for u in &self.urls {
            let (scheme, rest) = u.split_once(':').unwrap_or_default();
            if !matches!(scheme, "turn" | "turns") {
                return Err(invalid(
                    "turn.urls",
                    format!("{u:?} must start with turn: or turns:"),
                ));
            }
            let host = rest.split(['?', ':']).next().unwrap_or_default();
            if host.is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid(
                    "turn.urls",
                    format!("{u:?} must look like turn:host:port"),
                ));
            }
        }
        let has_secret = !self.secret.is_empty() || !self.secret_file.is_empty();
        if !self.secret.is_empty() && !self.secret_file.is_empty() {
            return Err(invalid(
                "turn.secret",
                "set secret or secret_file, not both",
            ));
        }
        if !self.secret.is_empty() {
            check_secret("turn.secret", &self.secret)?;
        }
        if !self.urls.is_empty() && !has_secret {
            return Err(invalid(
                "turn.secret",
                "is required when turn.urls is set (the TURN server's static-auth-secret), or set turn.secret_file",
            ));
        }
        if self.urls.is_empty() && has_secret {
            return Err(invalid(
                "turn.urls",
                "needs at least one turn: URL when a secret is set",
            ));
        }
        if self.server_side && self.urls.is_empty() {
            return Err(invalid("turn.server_side", "needs turn.urls"));
        }
        if !TTL_S.contains(&self.ttl_s) {
            return Err(invalid(
                "turn.ttl_s",
                format!("must be from {} to {}", TTL_S.start(), TTL_S.end()),
            ));
        }
        Ok(())
    }

    /// Reads `secret_file` when set (once, at start-up): the first line, trimmed, checked like `secret`.
    pub fn load_secret_file(&mut self) -> Result<(), ConfigError> {
        if self.secret_file.is_empty() {
            return Ok(());
        }
        let key = "turn.secret_file";
        let path = Path::new(&self.secret_file);
        let len = std::fs::metadata(path)
            .map_err(|e| invalid(key, format!("cannot read {path:?}: {e}")))?
            .len();
        if len > MAX_SECRET_FILE_BYTES {
            return Err(invalid(
                key,
                format!(
                    "{path:?} is {len} bytes; a secret file holds one line (at most {MAX_SECRET_FILE_BYTES} bytes)"
                ),
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(key, format!("cannot read {path:?}: {e}")))?;
        let secret = text.trim();
        check_secret(key, secret)?;
        self.file_secret = Some(TurnSecret::new(secret));
        Ok(())
    }

    /// Credential lifetime.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_s)
    }

    /// The credential issuer, when TURN is configured (`urls` and a secret; a `secret_file` must have been read by
    /// [`TurnConfig::load_secret_file`]).
    pub fn issuer(&self) -> Option<TurnIssuer> {
        if self.urls.is_empty() {
            return None;
        }
        let secret = if self.secret.is_empty() {
            self.file_secret.clone()?
        } else {
            TurnSecret::new(&self.secret)
        };
        Some(TurnIssuer::new(self.urls.clone(), secret, self.ttl()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TurnConfig {
        toml::from_str(text).expect("parses")
    }

    fn key_of(text: &str) -> String {
        match parse(text).validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{text}: expected an invalid key, got {other:?}"),
        }
    }

    const SECRET: &str = "0123456789abcdef0123";

    #[test]
    fn validation_names_the_bad_key() {
        assert_eq!(
            key_of(&format!("urls = [\"stun:x:3478\"]\nsecret = \"{SECRET}\"")),
            "turn.urls"
        );
        assert_eq!(
            key_of(&format!("urls = [\"turn::3478\"]\nsecret = \"{SECRET}\"")),
            "turn.urls"
        );
        assert_eq!(key_of("urls = [\"turn:x:3478\"]"), "turn.secret");
        assert_eq!(
            key_of("urls = [\"turn:x:3478\"]\nsecret = \"short\""),
            "turn.secret"
        );
        assert_eq!(
            key_of(&format!(
                "urls = [\"turn:x:3478\"]\nsecret = \"{SECRET}\"\nsecret_file = \"/s\""
            )),
            "turn.secret"
        );
        assert_eq!(key_of(&format!("secret = \"{SECRET}\"")), "turn.urls");
        assert_eq!(key_of("server_side = true"), "turn.server_side");
        assert_eq!(
            key_of(&format!(
                "urls = [\"turn:x:3478\"]\nsecret = \"{SECRET}\"\nttl_s = 10"
            )),
            "turn.ttl_s"
        );
    }

    #[test]
    fn issuer_only_with_urls_and_a_secret() {
        assert!(TurnConfig::default().issuer().is_none());
        let c = parse(&format!(
            "urls = [\"turn:127.0.0.1:3478\", \"turns:t.example:5349\"]\nsecret = \"{SECRET}\"\nttl_s = 600"
        ));
        c.validate().unwrap();
        let issuer = c.issuer().expect("issuer");
        assert_eq!(issuer.urls().len(), 2);
        assert_eq!(issuer.ttl(), Duration::from_secs(600));
        let shown = format!("{c:?}");
        assert!(!shown.contains(SECRET), "Debug shows the secret: {shown}");
    }

    #[test]
    fn secret_file_is_read_trimmed_and_checked() {
        let dir = std::env::temp_dir().join(format!("sightline-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, format!("{SECRET}\n")).unwrap();
        let mut c = TurnConfig {
            urls: vec!["turn:127.0.0.1:3478".into()],
            secret_file: good.display().to_string(),
            ..TurnConfig::default()
        };
        c.validate().unwrap();
        assert!(c.issuer().is_none(), "not read yet");
        c.load_secret_file().unwrap();
        let from_file = c
            .issuer()
            .expect("issuer")
            .ice_server("s", std::time::UNIX_EPOCH);
        let inline = TurnConfig {
            urls: c.urls.clone(),
            secret: SECRET.into(),
            ..TurnConfig::default()
        };
        assert_eq!(
            inline
                .issuer()
                .unwrap()
                .ice_server("s", std::time::UNIX_EPOCH),
            from_file
        );

        let short = dir.join("short");
        std::fs::write(&short, "abc\n").unwrap();
        c.secret_file = short.display().to_string();
        assert!(
            matches!(c.load_secret_file(), Err(ConfigError::Invalid { key, .. }) if key == "turn.secret_file")
        );
        c.secret_file = dir.join("missing").display().to_string();
        assert!(
            matches!(c.load_secret_file(), Err(ConfigError::Invalid { key, .. }) if key == "turn.secret_file")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
