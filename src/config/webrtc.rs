//! `[webrtc]`: the ICE servers of the gateway's peers and of browsers, the addresses ICE binds, and how long the
//! page waits for WebRTC.
//!
//! Three server lists, so each side gets only what it needs: `ice_servers` goes to both (the file format of
//! earlier versions, unchanged), `server_ice_servers` only to the gateway's own peers, `client_ice_servers` only
//! to browsers (`welcome`, WHEP `Link` headers). Browsers also get `[turn]`'s relay with a fresh credential.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use crate::peer::IceServer;
use crate::turn::TurnIssuer;

/// `[webrtc]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcConfig {
    /// STUN/TURN servers (static credentials) given to the gateway's peers and to browsers.
    pub ice_servers: Vec<IceServer>,
    /// Servers given to browsers only, after `ice_servers` (e.g. a STUN server the gateway does not need).
    pub client_ice_servers: Vec<IceServer>,
    /// Servers the gateway's own peers use only, after `ice_servers` (e.g. a STUN server that tells a gateway
    /// behind a NAT its public address; browsers never see these).
    pub server_ice_servers: Vec<IceServer>,
    /// UDP addresses the gateway's ICE agent binds. Empty = follow `[server] listen` ([`udp_addrs_for`]): ICE is
    /// reachable where HTTP is, and nowhere else.
    pub udp_addrs: Vec<String>,
    /// How long the viewer page waits for a WebRTC connection before falling back to JPEG, in ms.
    pub fallback_timeout_ms: u64,
}

impl Default for WebrtcConfig {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            client_ice_servers: Vec::new(),
            server_ice_servers: Vec::new(),
            udp_addrs: Vec::new(),
            fallback_timeout_ms: 5000,
        }
    }
}

fn validate_servers(key: &str, servers: &[IceServer]) -> Result<(), ConfigError> {
    for (i, s) in servers.iter().enumerate() {
        let url_key = format!("{key}[{i}].urls");
        if s.urls.is_empty() {
            return Err(invalid(&url_key, "needs at least one URL"));
        }
        for u in &s.urls {
            let scheme = u.split(':').next().unwrap_or_default();
            if !matches!(scheme, "stun" | "stuns" | "turn" | "turns") {
                return Err(invalid(
                    &url_key,
                    format!("{u:?} must start with stun:, stuns:, turn: or turns:"),
                ));
            }
            if scheme.starts_with("turn") && (s.username.is_none() || s.credential.is_none()) {
                return Err(invalid(
                    &format!("{key}[{i}]"),
                    "TURN servers need username and credential (or use [turn] for ephemeral ones)",
                ));
            }
        }
    }
    Ok(())
}

impl WebrtcConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_servers("webrtc.ice_servers", &self.ice_servers)?;
        validate_servers("webrtc.client_ice_servers", &self.client_ice_servers)?;
        validate_servers("webrtc.server_ice_servers", &self.server_ice_servers)?;
        for a in &self.udp_addrs {
            a.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "webrtc.udp_addrs",
                    format!("{a:?} is not an IP:port address"),
                )
            })?;
        }
        if !(500..=60_000).contains(&self.fallback_timeout_ms) {
            return Err(invalid(
                "webrtc.fallback_timeout_ms",
                "must be from 500 to 60000",
            ));
        }
        Ok(())
    }
}

/// The ICE bind addresses that follow an HTTP listen address `listen`:
/// - loopback (`127.0.0.1`, `::1`): that address only; the gateway is reachable from this host alone.
/// - wildcard `0.0.0.0`: `127.0.0.1:0` and `0.0.0.0:0` (webrtc-rs expands a wildcard to every interface address
///   except loopback, so same-host viewers need loopback listed).
/// - wildcard `::`: the same plus `[::]:0` (the IPv6 interfaces).
/// - any other address: that address only. A browser on the same host opened the page at that address and
///   reaches it too (the kernel delivers a packet to one of its own addresses locally).
pub fn udp_addrs_for(listen: IpAddr) -> Vec<String> {
    let port0 = |ip: IpAddr| SocketAddr::new(ip, 0).to_string();
    let v4_any = IpAddr::from([0, 0, 0, 0]);
    let v4_loopback = IpAddr::from([127, 0, 0, 1]);
    match listen {
        ip if ip.is_unspecified() && ip.is_ipv4() => vec![port0(v4_loopback), port0(v4_any)],
        ip if ip.is_unspecified() => vec![port0(v4_loopback), port0(v4_any), port0(ip)],
        ip => vec![port0(ip)],
    }
}

impl WebrtcConfig {
    /// The UDP addresses ICE binds: `udp_addrs` when set, else [`udp_addrs_for`] the HTTP listen address.
    pub fn bind_addrs(&self, listen: IpAddr) -> Vec<String> {
        if self.udp_addrs.is_empty() {
            udp_addrs_for(listen)
        } else {
            self.udp_addrs.clone()
        }
    }

    /// The ICE servers of the gateway's own peers: `ice_servers`, then `server_ice_servers`. A `[turn]` relay with
    /// `server_side` is added per peer with a fresh credential (`PeerConfig::turn`).
    pub fn server_servers(&self) -> Vec<IceServer> {
        self.ice_servers
            .iter()
            .chain(&self.server_ice_servers)
            .cloned()
            .collect()
    }

    /// The ICE servers a browser gets for session `session` at wall-clock time `now`: `ice_servers`, then
    /// `client_ice_servers`, then the `turn` relay with a credential for this session. Never the TURN secret.
    pub fn client_servers(
        &self,
        turn: Option<&TurnIssuer>,
        session: &str,
        now: SystemTime,
    ) -> Vec<IceServer> {
        self.ice_servers
            .iter()
            .chain(&self.client_ice_servers)
            .cloned()
            .chain(turn.map(|t| t.ice_server(session, now)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::turn::TurnSecret;

    fn addrs(listen: &str) -> Vec<String> {
        udp_addrs_for(listen.parse().unwrap())
    }

    fn parse(text: &str) -> WebrtcConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn bind_addresses_follow_the_listen_address_unless_set() {
        assert_eq!(addrs("127.0.0.1"), ["127.0.0.1:0"]);
        assert_eq!(addrs("::1"), ["[::1]:0"]);
        assert_eq!(addrs("0.0.0.0"), ["127.0.0.1:0", "0.0.0.0:0"]);
        assert_eq!(addrs("::"), ["127.0.0.1:0", "0.0.0.0:0", "[::]:0"]);
        assert_eq!(addrs("192.168.1.5"), ["192.168.1.5:0"]);
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(WebrtcConfig::default().bind_addrs(any), addrs("0.0.0.0"));
        let pinned = parse("udp_addrs = [\"10.0.0.1:0\"]");
        assert_eq!(pinned.bind_addrs(any), ["10.0.0.1:0"]);
    }

    #[test]
    fn each_side_gets_its_own_servers() {
        let c = parse(
            "[[ice_servers]]\nurls = [\"stun:both:3478\"]\n\
             [[client_ice_servers]]\nurls = [\"stun:client:3478\"]\n\
             [[server_ice_servers]]\nurls = [\"stun:server:3478\"]\n",
        );
        c.validate().unwrap();
        let turn = TurnIssuer::new(
            vec!["turn:relay:3478".into()],
            TurnSecret::new("0123456789abcdef0123"),
            Duration::from_secs(600),
        );
        let url = |s: &IceServer| s.urls[0].clone();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let client = c.client_servers(Some(&turn), "abc", now);
        assert_eq!(
            client.iter().map(url).collect::<Vec<_>>(),
            ["stun:both:3478", "stun:client:3478", "turn:relay:3478"]
        );
        assert_eq!(client[2], turn.ice_server("abc", now));
        assert_eq!(client[2].username.as_deref(), Some("1000600:abc"));
        assert_eq!(c.client_servers(None, "abc", now).len(), 2);
        assert_eq!(
            c.server_servers().iter().map(url).collect::<Vec<_>>(),
            ["stun:both:3478", "stun:server:3478"]
        );
    }

    #[test]
    fn validation_names_the_list() {
        let key_of = |text: &str| match parse(text).validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            key_of("[[client_ice_servers]]\nurls = [\"http://x\"]"),
            "webrtc.client_ice_servers[0].urls"
        );
        assert_eq!(
            key_of("[[server_ice_servers]]\nurls = [\"turn:x:1\"]"),
            "webrtc.server_ice_servers[0]"
        );
        assert_eq!(key_of("udp_addrs = [\"localhost\"]"), "webrtc.udp_addrs");
        assert_eq!(
            key_of("fallback_timeout_ms = 1"),
            "webrtc.fallback_timeout_ms"
        );
    }
}
