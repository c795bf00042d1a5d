//! `[sfu]` and `[[whip]]`: publishing the already-encoded screens beyond this machine. `[sfu]` names Janus
//! instances whose Streaming plugin serves viewers the policy sends there ([`crate::sfu`]); `[[whip]]` lists WHIP
//! endpoints (RFC 9725: LiveKit, MediaMTX, Cloudflare-style ingest) a screen is published to at start-up
//! ([`crate::whip`]). Secrets (`api_secret`, `admin_key`, `token`) are never logged or printed by `Debug`.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// Most `[[sfu.janus]]` instances.
pub const MAX_JANUS_INSTANCES: usize = 16;
/// Most `[[whip]]` targets (the REST API shares the same bound, [`crate::whip::MAX_WHIP_PUBLICATIONS`]).
pub const MAX_WHIP_TARGETS: usize = 16;
/// Accepted `health_interval_ms`.
pub const HEALTH_INTERVAL_MS: RangeInclusive<u64> = 200..=60_000;
/// Accepted `health_failures`.
pub const HEALTH_FAILURES: RangeInclusive<u32> = 1..=10;
/// Accepted `linger_ms`: how long a mountpoint nobody watches is kept for the next viewer.
pub const LINGER_MS: RangeInclusive<u64> = 0..=600_000;
/// Accepted `overflow_after`.
pub const OVERFLOW_AFTER: RangeInclusive<usize> = 0..=100_000;
/// Longest instance name.
pub const MAX_NAME_LEN: usize = 32;

/// Which WebRTC viewers of `/ws` an SFU serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SfuPolicy {
    /// None: the gateway serves every viewer itself.
    #[default]
    Off,
    /// Every WebRTC viewer of `/ws` (while a healthy instance exists).
    Always,
    /// Viewers of a screen past `overflow_after` local WebRTC viewers of that screen.
    Overflow,
}

impl SfuPolicy {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Always => "always",
            Self::Overflow => "overflow",
        }
    }
}

/// `[sfu]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SfuConfig {
    /// Which viewers go to an SFU.
    pub policy: SfuPolicy,
    /// `overflow`: local WebRTC viewers of a screen before the next ones go to an SFU.
    pub overflow_after: usize,
    /// How often each instance's API is checked (`GET <url>/info`), ms.
    pub health_interval_ms: u64,
    /// Consecutive failed checks (or a failed check right after a viewer's request failed) that mark an instance
    /// down; its viewers move to another instance or back to the gateway.
    pub health_failures: u32,
    /// How long a published stream nobody watches through an instance is kept before its mountpoint is destroyed, ms.
    pub linger_ms: u64,
    /// The Janus instances.
    pub janus: Vec<JanusInstanceConfig>,
}

impl Default for SfuConfig {
    fn default() -> Self {
        Self {
            policy: SfuPolicy::Off,
            overflow_after: 10,
            health_interval_ms: 1000,
            health_failures: 2,
            linger_ms: 10_000,
            janus: Vec::new(),
        }
    }
}

/// One `[[sfu.janus]]` instance.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JanusInstanceConfig {
    /// Unique name (`[A-Za-z0-9_-]`, at most [`MAX_NAME_LEN`]): in messages, the monitor and metrics.
    pub name: String,
    /// Base URL of the Janus HTTP API (`http://127.0.0.1:8088/janus`).
    pub url: String,
    /// Janus's `api_secret` (janus.jcfg), sent as `apisecret`; empty = none.
    #[serde(default)]
    pub api_secret: String,
    /// The Streaming plugin's `admin_key`, needed to create mountpoints when it is set; empty = none.
    #[serde(default)]
    pub admin_key: String,
    /// The address Janus receives RTP on: the mountpoint binds only there (`iface`) and the gateway sends there.
    #[serde(default = "loopback")]
    pub rtp_host: IpAddr,
}

fn loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

impl fmt::Debug for JanusInstanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JanusInstanceConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("api_secret", &redacted(&self.api_secret))
            .field("admin_key", &redacted(&self.admin_key))
            .field("rtp_host", &self.rtp_host)
            .finish()
    }
}

/// One `[[whip]]` target: a screen published at start-up.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhipTargetConfig {
    /// Screen id; empty = the primary screen.
    #[serde(default)]
    pub screen: String,
    /// The WHIP endpoint (`http://` or `https://`).
    pub url: String,
    /// Bearer token; empty = no `Authorization` header.
    #[serde(default)]
    pub token: String,
    /// Index in the screen's quality ladder (`[congestion] tiers`; 0 = the best).
    #[serde(default)]
    pub tier: usize,
}

impl fmt::Debug for WhipTargetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhipTargetConfig")
            .field("screen", &self.screen)
            .field("url", &self.url)
            .field("token", &redacted(&self.token))
            .field("tier", &self.tier)
            .finish()
    }
}

fn redacted(s: &str) -> &'static str {
    if s.is_empty() { "" } else { "<redacted>" }
}

impl SfuConfig {
    /// `health_interval_ms` as a duration.
    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms)
    }

    /// `linger_ms` as a duration.
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
    }

    /// Whether any viewer can be routed to an SFU.
    pub fn enabled(&self) -> bool {
        self.policy != SfuPolicy::Off && !self.janus.is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !HEALTH_INTERVAL_MS.contains(&self.health_interval_ms) {
            return Err(invalid(
                "sfu.health_interval_ms",
                range(&HEALTH_INTERVAL_MS),
            ));
        }
        if !HEALTH_FAILURES.contains(&self.health_failures) {
            return Err(invalid("sfu.health_failures", range(&HEALTH_FAILURES)));
        }
        if !LINGER_MS.contains(&self.linger_ms) {
            return Err(invalid("sfu.linger_ms", range(&LINGER_MS)));
        }
        if !OVERFLOW_AFTER.contains(&self.overflow_after) {
            return Err(invalid("sfu.overflow_after", range(&OVERFLOW_AFTER)));
        }
        if self.policy != SfuPolicy::Off && self.janus.is_empty() {
            return Err(invalid(
                "sfu.policy",
                format!(
                    "\"{}\" needs at least one [[sfu.janus]] instance",
                    self.policy.as_str()
                ),
            ));
        }
        if self.janus.len() > MAX_JANUS_INSTANCES {
            return Err(invalid(
                "sfu.janus",
                format!("at most {MAX_JANUS_INSTANCES} instances"),
            ));
        }
        for (i, j) in self.janus.iter().enumerate() {
            let key = |k: &str| format!("sfu.janus[{i}].{k}");
            if j.name.is_empty()
                || j.name.len() > MAX_NAME_LEN
                || !j
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    &key("name"),
                    format!("1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 - _"),
                ));
            }
            if self.janus[..i].iter().any(|o| o.name == j.name) {
                return Err(invalid(
                    &key("name"),
                    format!("\"{}\" is used twice", j.name),
                ));
            }
            check_url(&key("url"), &j.url)?;
            if j.rtp_host.is_unspecified() || j.rtp_host.is_multicast() {
                return Err(invalid(
                    &key("rtp_host"),
                    "must be the one address Janus receives RTP on (not 0.0.0.0, :: or multicast)",
                ));
            }
        }
        Ok(())
    }
}

/// Validates `[[whip]]`.
pub(super) fn validate_whip(targets: &[WhipTargetConfig]) -> Result<(), ConfigError> {
    if targets.len() > MAX_WHIP_TARGETS {
        return Err(invalid(
            "whip",
            format!("at most {MAX_WHIP_TARGETS} targets"),
        ));
    }
    for (i, t) in targets.iter().enumerate() {
        check_url(&format!("whip[{i}].url"), &t.url)?;
        if t.token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                &format!("whip[{i}].token"),
                "must not contain spaces or control characters",
            ));
        }
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host.
pub fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            invalid(
                key,
                format!("\"{url}\" must start with http:// or https://"),
            )
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty()
        || host.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            key,
            format!("\"{url}\" is not a URL with a host (no user info, no spaces)"),
        ));
    }
    Ok(())
}

fn range<T: fmt::Display>(r: &RangeInclusive<T>) -> String {
    format!("must be between {} and {}", r.start(), r.end())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[sfu]` and `[[whip]]` as the top level of a config file has them.
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        sfu: SfuConfig,
        #[serde(default)]
        whip: Vec<WhipTargetConfig>,
    }

    fn parse(text: &str) -> File {
        toml::from_str(text).expect("parses")
    }

    fn key_of(text: &str) -> String {
        let f = parse(text);
        match f.sfu.validate().and_then(|()| validate_whip(&f.whip)) {
            Err(ConfigError::Invalid { key, .. }) => key,
            Err(e) => e.to_string(),
            Ok(()) => "valid".into(),
        }
    }

    const JANUS: &str = "[[sfu.janus]]\nname = \"j1\"\nurl = \"http://127.0.0.1:8088/janus\"\n";

    #[test]
    fn sfu_and_whip_sections_are_checked_key_by_key() {
        assert_eq!(key_of("[sfu]\npolicy = \"always\"\n"), "sfu.policy");
        assert_eq!(
            key_of(&format!("[sfu]\npolicy = \"always\"\n{JANUS}")),
            "valid"
        );
        assert_eq!(
            key_of(&format!("[sfu]\nhealth_interval_ms = 5\n{JANUS}")),
            "sfu.health_interval_ms"
        );
        assert_eq!(key_of(&format!("{JANUS}{JANUS}")), "sfu.janus[1].name");
        assert_eq!(
            key_of("[[sfu.janus]]\nname = \"a b\"\nurl = \"http://x/janus\"\n"),
            "sfu.janus[0].name"
        );
        assert_eq!(
            key_of("[[sfu.janus]]\nname = \"a\"\nurl = \"ftp://x/janus\"\n"),
            "sfu.janus[0].url"
        );
        assert_eq!(
            key_of(&format!("{JANUS}rtp_host = \"0.0.0.0\"\n")),
            "sfu.janus[0].rtp_host"
        );
        assert_eq!(
            key_of("[[whip]]\nurl = \"http://h/whip\"\ntier = 1\n"),
            "valid"
        );
        assert_eq!(key_of("[[whip]]\nurl = \"whip://h\"\n"), "whip[0].url");
        assert_eq!(
            key_of("[[whip]]\nurl = \"http://h/whip\"\ntoken = \"a b\"\n"),
            "whip[0].token"
        );
        let f = parse(JANUS);
        assert_eq!(
            f.sfu.janus[0].rtp_host,
            loopback(),
            "RTP goes to loopback by default"
        );
        assert!(!f.sfu.enabled(), "policy off routes nobody");
    }

    #[test]
    fn secrets_are_not_printed() {
        let f = parse(&format!(
            "{JANUS}api_secret = \"s3cr3t-api\"\nadmin_key = \"s3cr3t-admin\"\n[[whip]]\nurl = \"http://h/w\"\ntoken = \"s3cr3t-tok\"\n"
        ));
        let dbg = format!("{:?} {:?}", f.sfu, f.whip);
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("<redacted>"), "{dbg}");
    }
}
