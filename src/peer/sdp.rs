//! Checks on a remote session description before webrtc-rs sees it.
//!
//! webrtc-rs accepts an offer without a usable video codec and simply answers with the video section
//! rejected; the viewer would then connect and never get a picture. This check turns that into a clear error
//! up front. It reads the SDP as text (RFC 8866 lines) and needs no runtime.

use super::config::MAX_SDP_LEN;
use super::error::PeerError;

/// Profile bytes (profile_idc + constraint flags, hex) of the H.264 formats we register in the media engine.
/// webrtc-rs matches H.264 formats on exactly these two bytes plus `packetization-mode`, so accepting anything
/// else here would pass this check and still fail negotiation.
const ACCEPTED_PROFILES: [&str; 2] = ["42e0", "4200"];

/// Checks that `sdp` (the remote `what`: "offer" or "answer") has a live video section in which the remote side
/// receives H.264 that we can send: packetization-mode 1 and a baseline profile-level-id.
pub fn check_h264_video(sdp: &str, what: &'static str) -> Result<(), PeerError> {
    if sdp.len() > MAX_SDP_LEN {
        return Err(PeerError::InvalidSdp("it is too large"));
    }
    if !sdp.trim_start().starts_with("v=0") {
        return Err(PeerError::InvalidSdp("it is not an SDP (no v=0 line)"));
    }

    let mut session_direction = Direction::SendRecv;
    let mut current: Option<Section> = None;
    let mut found = false;
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(m) = line.strip_prefix("m=") {
            if let Some(section) = current.take() {
                found |= section.accepts_h264();
            }
            current = Some(Section::parse(m, session_direction));
        } else if let Some(attr) = line.strip_prefix("a=") {
            match current.as_mut() {
                Some(section) => section.attribute(attr),
                None => {
                    if let Some(d) = Direction::parse(attr) {
                        session_direction = d;
                    }
                }
            }
        }
    }
    if let Some(section) = current {
        found |= section.accepts_h264();
    }
    if found {
        Ok(())
    } else {
        Err(PeerError::NoH264(what))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn parse(attr: &str) -> Option<Self> {
        match attr {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// One `m=` section: what it is and which H.264 payload types it declares.
#[derive(Debug)]
struct Section {
    video: bool,
    /// Port 0 marks a rejected or disabled section.
    live: bool,
    direction: Direction,
    h264_payload_types: Vec<String>,
    /// `a=fmtp` parameter strings, by payload type.
    fmtps: Vec<(String, String)>,
}

impl Section {
    fn parse(m: &str, direction: Direction) -> Self {
        let mut fields = m.split_ascii_whitespace();
        let video = fields.next() == Some("video");
        let live = fields.next().is_some_and(|port| port != "0");
        Self {
            video,
            live,
            direction,
            h264_payload_types: Vec::new(),
            fmtps: Vec::new(),
        }
    }

    fn attribute(&mut self, attr: &str) {
        if let Some(d) = Direction::parse(attr) {
            self.direction = d;
        } else if let Some(rest) = attr.strip_prefix("rtpmap:") {
            if let Some((pt, codec)) = rest.split_once(' ')
                && codec.trim().eq_ignore_ascii_case("H264/90000")
            {
                self.h264_payload_types.push(pt.trim().to_owned());
            }
        } else if let Some(rest) = attr.strip_prefix("fmtp:")
            && let Some((pt, params)) = rest.split_once(' ')
        {
            self.fmtps
                .push((pt.trim().to_owned(), params.trim().to_owned()));
        }
    }

    /// Whether the remote side of this section can receive our H.264 stream.
    fn accepts_h264(&self) -> bool {
        if !self.video
            || !self.live
            || !matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
        {
            return false;
        }
        self.h264_payload_types.iter().any(|pt| {
            self.fmtps
                .iter()
                .filter(|(fpt, _)| fpt == pt)
                .any(|(_, params)| fmtp_matches(params))
        })
    }
}

/// `packetization-mode=1` and a profile-level-id whose profile bytes we registered.
fn fmtp_matches(params: &str) -> bool {
    let mut mode_one = false;
    let mut profile_ok = false;
    for param in params.split(';') {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "packetization-mode" => mode_one = value == "1",
            "profile-level-id" => {
                profile_ok = value.len() == 6
                    && value.get(..4).is_some_and(|v| {
                        ACCEPTED_PROFILES.iter().any(|p| v.eq_ignore_ascii_case(p))
                    })
            }
            _ => {}
        }
    }
    mode_one && profile_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chromium's recvonly WHEP offer (trimmed), H.264 formats among others.
    const CHROME_RECVONLY: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102 103 104\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
        a=recvonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n\
        a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
        a=rtpmap:104 H264/90000\r\na=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n";

    #[test]
    fn accepts_a_browser_recvonly_offer() {
        check_h264_video(CHROME_RECVONLY, "offer").unwrap();
    }

    #[test]
    fn rejects_offers_we_cannot_serve() {
        let vp8_only = CHROME_RECVONLY.replace("H264/90000", "VP9/90000");
        assert!(matches!(
            check_h264_video(&vp8_only, "offer"),
            Err(PeerError::NoH264("offer"))
        ));
        let sendonly = CHROME_RECVONLY.replace("a=recvonly", "a=sendonly");
        assert!(check_h264_video(&sendonly, "offer").is_err());
        let rejected = CHROME_RECVONLY.replace("m=video 9", "m=video 0");
        assert!(check_h264_video(&rejected, "offer").is_err());
        let mode0 = CHROME_RECVONLY.replace("packetization-mode=1", "packetization-mode=0");
        assert!(check_h264_video(&mode0, "offer").is_err());
        let high = CHROME_RECVONLY.replace("42001f", "640032");
        assert!(check_h264_video(&high, "offer").is_err());
        let audio = CHROME_RECVONLY.replace("m=video", "m=audio");
        assert!(check_h264_video(&audio, "offer").is_err());
    }

    #[test]
    fn session_level_direction_applies_to_sections() {
        let inactive = CHROME_RECVONLY
            .replace("a=recvonly\r\n", "")
            .replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
        assert!(check_h264_video(&inactive, "offer").is_err());
        let default_sendrecv = CHROME_RECVONLY.replace("a=recvonly\r\n", "");
        check_h264_video(&default_sendrecv, "offer").unwrap();
    }

    #[test]
    fn rejects_garbage_and_huge_input_without_panicking() {
        assert!(matches!(
            check_h264_video("hello", "offer"),
            Err(PeerError::InvalidSdp(_))
        ));
        let huge = format!("v=0\r\n{}", "a=x\r\n".repeat(MAX_SDP_LEN));
        assert!(matches!(
            check_h264_video(&huge, "offer"),
            Err(PeerError::InvalidSdp(_))
        ));
        // Truncated and odd lines parse as "no H.264", never panic.
        for s in [
            "v=0\nm=",
            "v=0\nm=video",
            "v=0\nm=video 9\na=rtpmap:",
            "v=0\nm=video 9 x 1\na=fmtp:1 profile-level-id=4\na=rtpmap:1 H264/90000",
            "v=0\nm=video 9 x 1\na=fmtp:1 packetization-mode=1;profile-level-id=é2e01f\na=rtpmap:1 H264/90000",
            "v=0\nm=video 9 x 1\na=fmtp:1 packetization-mode=1;profile-level-id=abcé1\na=rtpmap:1 H264/90000",
        ] {
            assert!(check_h264_video(s, "offer").is_err(), "{s:?}");
        }
    }
}
