//! Rate limits with progressive penalties.
//!
//! Every message a client sends costs a token from the bucket of its [`Class`]: pointer motion is cheap and
//! frequent, a `watch` or an MCP screenshot is expensive. Buckets exist per connection ([`Limiter`], owned by the
//! socket or session, no locking) and per token ([`Limits::check_token`], shared: many connections with one token
//! share its budget). A message over its budget is refused with the time after which it would pass and is not
//! carried out; the connection stays open. Each refusal (and each protocol violation) is a *strike* against the
//! client's IP address; [`LimitsConfig::ban_after`] strikes within [`LimitsConfig::ban_window_ms`] ban the address
//! for [`LimitsConfig::ban_ms`], doubled for each further ban within [`BAN_MEMORY`], up to
//! [`LimitsConfig::max_ban_ms`]. A ban closes the offending connection and refuses the address's new connections;
//! its other open connections are left alone.
//!
//! The shared maps are bounded ([`MAX_TRACKED`]): when full, entries idle longest are dropped first (a dropped
//! token bucket refills to full, a dropped strike record forgets old strikes; a live ban is never dropped while
//! a record without one can be).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::LimitsConfig;

/// What a message costs: each class has its own bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Pointer motion and other coalescable input: frequent and cheap.
    Motion,
    /// Clicks, keys, wheel, text: what a fast human or agent produces.
    Input,
    /// What starts work: `watch`, `quality`, HQ frames, SDP offers and answers.
    Expensive,
    /// Cheap control messages: `ping`, `auth`, candidates, `stop`.
    Light,
    /// An MCP tool call.
    McpCall,
    /// A screenshot (MCP or REST): a capture and an encode.
    Screenshot,
}

/// A bucket's refill rate and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens held (the burst).
    pub burst: f64,
}

impl Rate {
    /// This rate and burst times `factor`.
    pub const fn scaled(self, factor: f64) -> Rate {
        Rate {
            per_second: self.per_second * factor,
            burst: self.burst * factor,
        }
    }
}

impl Class {
    /// Every class, in a stable order (for counters).
    pub const ALL: [Class; 6] = [
        Class::Motion,
        Class::Input,
        Class::Expensive,
        Class::Light,
        Class::McpCall,
        Class::Screenshot,
    ];

    /// The name in errors, counters and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Motion => "motion",
            Self::Input => "input",
            Self::Expensive => "expensive",
            Self::Light => "light",
            Self::McpCall => "mcp_call",
            Self::Screenshot => "screenshot",
        }
    }

    /// The class's budget. Motion allows a 240 Hz pointer with room to spare; input a fast typist or an agent's
    /// burst of keys; expensive a few watch changes a second; screenshots a few per second per client.
    pub const fn rate(self) -> Rate {
        match self {
            Self::Motion => Rate {
                per_second: 500.0,
                burst: 1000.0,
            },
            Self::Input => Rate {
                per_second: 100.0,
                burst: 200.0,
            },
            Self::Expensive => Rate {
                per_second: 2.0,
                burst: 10.0,
            },
            Self::Light => Rate {
                per_second: 20.0,
                burst: 50.0,
            },
            Self::McpCall => Rate {
                per_second: 20.0,
                burst: 50.0,
            },
            Self::Screenshot => Rate {
                per_second: 5.0,
                burst: 15.0,
            },
        }
    }

    /// The shared per-token budget: several connections with one token get this many times one connection's.
    pub const fn token_rate(self) -> Rate {
        match self {
            Self::Expensive => self.rate().scaled(TOKEN_FACTOR_EXPENSIVE),
            _ => self.rate().scaled(TOKEN_FACTOR),
        }
    }
}

/// A token's shared budget is this many connections' worth, for most classes. Refusals by the shared budget are not
/// strikes (the token is busy, the client did nothing wrong); only a connection's own budget strikes.
pub const TOKEN_FACTOR: f64 = 4.0;

/// The shared budget of [`Class::Expensive`] is this many connections' worth: a view token shared by a class of
/// students joining at once must not refuse their `watch`es, while one token's connections stay bounded together.
pub const TOKEN_FACTOR_EXPENSIVE: f64 = 16.0;

/// Most tokens and IP addresses tracked in [`Limits`]' maps each (see the module docs for what happens when full).
pub const MAX_TRACKED: usize = 4096;

/// How long a past ban makes the next one longer.
pub const BAN_MEMORY: Duration = Duration::from_secs(3600);

/// One token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            last: now,
        }
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / rate.per_second;
            Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
        }
    }
}

/// One connection's buckets.
#[derive(Debug)]
pub struct Limiter {
    buckets: [Option<Bucket>; 6],
    /// `[limits] rate_scale`.
    scale: f64,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    /// Full buckets at the classes' own rates.
    pub fn new() -> Self {
        Self::scaled(1.0)
    }

    /// Full buckets at the classes' rates times `scale`.
    pub fn scaled(scale: f64) -> Self {
        Self {
            buckets: [None; 6],
            scale,
        }
    }

    /// Takes one message of `class` from the budget, or says after how long it would pass.
    pub fn check(&mut self, class: Class, now: Instant) -> Result<(), Duration> {
        let rate = class.rate().scaled(self.scale);
        let slot = &mut self.buckets[index(class)];
        slot.get_or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }
}

fn index(class: Class) -> usize {
    Class::ALL
        .iter()
        .position(|c| *c == class)
        .unwrap_or_default()
}

/// Strikes and bans of one address.
#[derive(Debug, Clone)]
struct Record {
    /// Strikes in the current window and when it started.
    strikes: u32,
    window_start: Instant,
    /// The ban in force, if any.
    banned_until: Option<Instant>,
    /// The last ban's length and when it ended, for doubling.
    last_ban: Option<(Duration, Instant)>,
    seen: Instant,
}

/// The gateway's shared limits: per-token buckets, per-address strikes and bans.
#[derive(Debug)]
pub struct Limits {
    config: LimitsConfig,
    tokens: Mutex<HashMap<(String, Class), Bucket>>,
    addresses: Mutex<HashMap<IpAddr, Record>>,
}

impl Limits {
    /// Limits with `[limits]`'s ban settings.
    pub fn new(config: LimitsConfig) -> Self {
        Self {
            config,
            tokens: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one message of `class` from the shared budget of the token identified by `token_key` (any stable
    /// key: the token itself is fine, it never leaves this map), or says after how long it would pass.
    pub fn check_token(&self, token_key: &str, class: Class, now: Instant) -> Result<(), Duration> {
        let rate = class.token_rate().scaled(self.config.rate_scale);
        let mut map = self.tokens.lock();
        let key = (token_key.to_owned(), class);
        if !map.contains_key(&key) && map.len() >= MAX_TRACKED {
            // Drop the fullest-refilled (idle longest) bucket: it would be full again anyway.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.entry(key)
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }

    /// A connection's own buckets, at `[limits] rate_scale`.
    pub fn connection_limiter(&self) -> Limiter {
        Limiter::scaled(self.config.rate_scale)
    }

    /// Records a strike (a rate-limit hit or a protocol violation) against `ip`. Returns the ban's length when
    /// this strike bans the address.
    pub fn strike(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let window = Duration::from_millis(self.config.ban_window_ms);
        let mut map = self.addresses.lock();
        if !map.contains_key(&ip) && map.len() >= MAX_TRACKED {
            evict(&mut map, now);
        }
        let r = map.entry(ip).or_insert_with(|| Record {
            strikes: 0,
            window_start: now,
            banned_until: None,
            last_ban: None,
            seen: now,
        });
        r.seen = now;
        if r.banned_until.is_some_and(|until| until > now) {
            return None;
        }
        if now.saturating_duration_since(r.window_start) > window {
            r.strikes = 0;
            r.window_start = now;
        }
        r.strikes += 1;
        if r.strikes < self.config.ban_after {
            return None;
        }
        let base = Duration::from_millis(self.config.ban_ms);
        let max = Duration::from_millis(self.config.max_ban_ms);
        let length = match r.last_ban {
            Some((last, ended)) if now.saturating_duration_since(ended) < BAN_MEMORY => {
                (last * 2).min(max)
            }
            _ => base,
        };
        r.banned_until = Some(now + length);
        r.last_ban = Some((length, now + length));
        r.strikes = 0;
        r.window_start = now;
        Some(length)
    }

    /// The rest of `ip`'s ban, if it is banned.
    pub fn banned(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.addresses.lock();
        let until = map.get(&ip)?.banned_until?;
        (until > now).then(|| until - now)
    }

    /// Addresses banned now, with the rest of their bans (for the diagnostics report).
    pub fn bans(&self, now: Instant) -> Vec<(IpAddr, Duration)> {
        let map = self.addresses.lock();
        let mut v: Vec<_> = map
            .iter()
            .filter_map(|(ip, r)| {
                let until = r.banned_until?;
                (until > now).then(|| (*ip, until - now))
            })
            .collect();
        v.sort();
        v
    }
}

/// Makes room for one record: the record seen longest ago that is not banned now, else the ban that ends first.
fn evict(map: &mut HashMap<IpAddr, Record>, now: Instant) {
    let victim = map
        .iter()
        .filter(|(_, r)| r.banned_until.is_none_or(|u| u <= now))
        .min_by_key(|(_, r)| r.seen)
        .or_else(|| map.iter().min_by_key(|(_, r)| r.banned_until))
        .map(|(ip, _)| *ip);
    if let Some(ip) = victim {
        map.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LimitsConfig {
        LimitsConfig {
            ban_after: 3,
            ban_window_ms: 1000,
            ban_ms: 10_000,
            max_ban_ms: 25_000,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_says_when() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        let burst = Class::Expensive.rate().burst as usize;
        for _ in 0..burst {
            assert!(l.check(Class::Expensive, t0).is_ok());
        }
        let wait = l.check(Class::Expensive, t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Other classes are untouched.
        assert!(l.check(Class::Motion, t0).is_ok());
        // After the wait one more passes, and only one.
        let t1 = t0 + wait;
        assert!(l.check(Class::Expensive, t1).is_ok());
        assert!(l.check(Class::Expensive, t1).is_err());
    }

    #[test]
    fn a_token_budget_is_shared_and_larger() {
        let t0 = Instant::now();
        let limits = Limits::new(config());
        let burst = Class::Screenshot.token_rate().burst as usize;
        for _ in 0..burst {
            assert!(limits.check_token("a", Class::Screenshot, t0).is_ok());
        }
        assert!(limits.check_token("a", Class::Screenshot, t0).is_err());
        assert!(limits.check_token("b", Class::Screenshot, t0).is_ok());
    }

    #[test]
    fn strikes_ban_and_repeated_bans_double_up_to_the_cap() {
        let t0 = Instant::now();
        let limits = Limits::new(config());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limits.strike(ip, t0), None);
        assert_eq!(limits.strike(ip, t0), None);
        assert_eq!(limits.strike(ip, t0), Some(Duration::from_secs(10)));
        assert_eq!(limits.banned(ip, t0), Some(Duration::from_secs(10)));
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(limits.banned(other, t0), None);
        // Strikes during a ban do not extend it.
        assert_eq!(limits.strike(ip, t0 + Duration::from_secs(1)), None);
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(limits.banned(ip, t1), None);
        for _ in 0..2 {
            assert_eq!(limits.strike(ip, t1), None);
        }
        assert_eq!(limits.strike(ip, t1), Some(Duration::from_secs(20)));
        let t2 = t1 + Duration::from_secs(21);
        for _ in 0..2 {
            limits.strike(ip, t2);
        }
        assert_eq!(limits.strike(ip, t2), Some(Duration::from_secs(25)));
        assert_eq!(limits.bans(t2), vec![(ip, Duration::from_secs(25))]);
    }

    #[test]
    fn strikes_outside_the_window_do_not_add_up() {
        let t0 = Instant::now();
        let limits = Limits::new(config());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..10 {
            assert_eq!(
                limits.strike(ip, t0 + Duration::from_millis(600 * i)),
                None,
                "strike {i}"
            );
        }
    }

    #[test]
    fn the_address_map_is_bounded_and_keeps_bans() {
        let t0 = Instant::now();
        let limits = Limits::new(LimitsConfig {
            ban_after: 2,
            ..config()
        });
        let banned: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(limits.strike(banned, t0).is_none());
        assert!(limits.strike(banned, t0).is_some());
        for i in 0..(MAX_TRACKED as u32 + 10) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            limits.strike(ip, t0 + Duration::from_millis(1));
        }
        assert!(limits.addresses.lock().len() <= MAX_TRACKED);
        assert!(
            limits
                .banned(banned, t0 + Duration::from_millis(2))
                .is_some()
        );
    }
}
