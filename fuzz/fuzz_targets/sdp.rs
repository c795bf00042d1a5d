//! Session descriptions from clients: a `/ws` `answer`'s `sdp` and a WHEP offer, through the gateway's H.264
//! check and, when it passes, webrtc-rs's SDP parser (`RTCSessionDescription::offer` / `answer`), as
//! `Peer::answer` and `Peer::set_answer` do.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sdp) = std::str::from_utf8(data) {
        sightline_fuzz::remote_description(sdp);
    }
});
