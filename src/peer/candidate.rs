//! ICE candidates as they cross the signaling channel, and what to do with a remote one.

use serde::{Deserialize, Serialize};
use webrtc::peer_connection::RTCIceCandidateInit;

use super::config::MAX_CANDIDATE_LEN;
use super::error::PeerError;

/// A candidate in the browser's `RTCIceCandidateInit` JSON shape (`candidate`, `sdpMid`, `sdpMLineIndex`).
/// An empty `candidate` means end-of-candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateInit {
    /// `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …`, or empty.
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
}

/// What [`classify`] decided about a remote candidate.
#[derive(Debug, PartialEq, Eq)]
pub enum RemoteCandidate {
    /// The remote finished gathering. Nothing to add: webrtc-rs keeps checking what it has.
    EndOfCandidates,
    /// A `.local` (mDNS) host name. Browsers hide their host addresses this way; resolving it would send
    /// multicast queries on the LAN, and the browser's peer-reflexive candidate reaches us anyway. Ignored.
    Mdns,
    /// A candidate to hand to webrtc-rs.
    Add(RTCIceCandidateInit),
}

/// Sorts a candidate received from a client. Fails only on input no browser sends (oversized or without an
/// address field), so a bad client gets a clear error and the peer is unaffected.
pub fn classify(c: &CandidateInit) -> Result<RemoteCandidate, PeerError> {
    if c.candidate.len() > MAX_CANDIDATE_LEN {
        return Err(PeerError::InvalidCandidate(None));
    }
    let attr = c.candidate.trim();
    let attr = attr.strip_prefix("candidate:").unwrap_or(attr);
    if attr.is_empty() {
        return Ok(RemoteCandidate::EndOfCandidates);
    }
    // Field 4 (0-based) is the connection address.
    let Some(address) = attr.split_ascii_whitespace().nth(4) else {
        return Err(PeerError::InvalidCandidate(None));
    };
    if address
        .get(address.len().saturating_sub(6)..)
        .is_some_and(|tail| tail.eq_ignore_ascii_case(".local"))
    {
        return Ok(RemoteCandidate::Mdns);
    }
    Ok(RemoteCandidate::Add(RTCIceCandidateInit {
        candidate: c.candidate.trim().to_owned(),
        sdp_mid: c.sdp_mid.clone(),
        sdp_mline_index: c.sdp_mline_index,
        ..Default::default()
    }))
}

/// The `mid` of the first media section of `sdp`: with BUNDLE every candidate belongs to it, and browsers
/// look candidates up by `sdpMid` (webrtc-rs itself labels them with an empty mid).
pub(crate) fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .skip_while(|l| !l.starts_with("m="))
        .find_map(|l| l.trim_end_matches('\r').strip_prefix("a=mid:"))
        .map(|mid| mid.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CandidateInit {
        CandidateInit {
            candidate: s.to_owned(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        }
    }

    #[test]
    fn classifies_candidates() {
        assert_eq!(classify(&c("")).unwrap(), RemoteCandidate::EndOfCandidates);
        assert_eq!(
            classify(&c("candidate:")).unwrap(),
            RemoteCandidate::EndOfCandidates
        );
        assert_eq!(
            classify(&c(
                "candidate:1 1 udp 2122260223 4f1d3b7e-63a2-4a7b-9d7e-1b2c3d4e5f60.local 54321 typ host"
            ))
            .unwrap(),
            RemoteCandidate::Mdns
        );
        let host = "candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host";
        match classify(&c(host)).unwrap() {
            RemoteCandidate::Add(init) => {
                assert_eq!(init.candidate, host);
                assert_eq!(init.sdp_mid.as_deref(), Some("0"));
            }
            other => panic!("{other:?}"),
        }
        assert!(classify(&c("candidate:1 1 udp")).is_err());
        assert!(classify(&c(&"x".repeat(MAX_CANDIDATE_LEN + 1))).is_err());
        // Multi-byte text near the end never panics.
        assert!(classify(&c("candidate:1 1 udp 1 ééé 1 typ host")).is_ok());
    }

    #[test]
    fn candidate_json_matches_the_browser_shape() {
        let init: CandidateInit = serde_json::from_str(
            r#"{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#,
        )
        .unwrap();
        assert_eq!(init.sdp_mline_index, Some(0));
        let back = serde_json::to_value(&init).unwrap();
        assert_eq!(back["sdpMLineIndex"], 0);
        assert_eq!(back["sdpMid"], "0");
    }

    #[test]
    fn finds_the_first_mid() {
        let sdp = "v=0\r\na=group:BUNDLE 0 1\r\nm=video 9 X 1\r\na=mid:0\r\nm=application 9 X\r\na=mid:1\r\n";
        assert_eq!(first_mid(sdp).as_deref(), Some("0"));
        assert_eq!(first_mid("v=0\r\n"), None);
    }
}
