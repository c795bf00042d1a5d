//! A client's session description applied to a peer connection set up like the gateway's (its H.264 formats, a
//! sendonly video transceiver, the `control` data channel), on webrtc-rs's sans-I/O core: as a WHEP offer
//! (set_remote_description, create_answer, set_local_description) and as the answer to the `/ws` offer
//! (create_offer, set_local_description, set_remote_description), each only after the gateway's own H.264 check
//! passed. Lines starting with `a=candidate:` are then added as trickled candidates.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use sightline::peer::codecs::{h264_codec, register_codecs};
use sightline::peer::sdp::check_h264_video;
use sightline::peer::{CONTROL_LABEL, H264_FMTP};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSessionDescription};

/// A peer with the gateway's media: H.264 formats and one sendonly video track.
fn peer(now: Instant) -> RTCPeerConnection {
    let mut me = MediaEngine::default();
    register_codecs(&mut me).expect("the gateway's codecs register");
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(me)
        .build(now)
        .expect("a peer connection with the default configuration");
    let track = MediaStreamTrack::new(
        "sightline".to_owned(),
        "screen".to_owned(),
        "screen".to_owned(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(1),
                ..Default::default()
            },
            codec: h264_codec(H264_FMTP, vec![]),
            ..Default::default()
        }],
    );
    pc.add_transceiver_from_track(
        track,
        Some(RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendonly,
            ..Default::default()
        }),
    )
    .expect("a sendonly video transceiver");
    pc
}

fn candidates(pc: &mut RTCPeerConnection, sdp: &str) {
    for line in sdp.lines().filter_map(|l| l.trim().strip_prefix("a=")) {
        if line.starts_with("candidate:") {
            let _ = pc.add_remote_candidate(RTCIceCandidateInit {
                candidate: line.to_owned(),
                sdp_mid: Some("0".to_owned()),
                sdp_mline_index: Some(0),
                ..Default::default()
            });
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else {
        return;
    };
    let now = Instant::now();
    // WHEP: the client offers, the gateway answers.
    if check_h264_video(sdp, "offer").is_ok()
        && let Ok(offer) = RTCSessionDescription::offer(sdp.to_owned())
    {
        let mut pc = peer(now);
        if pc.set_remote_description(now, offer).is_ok() {
            if let Ok(answer) = pc.create_answer(None) {
                let _ = pc.set_local_description(now, answer);
            }
            candidates(&mut pc, sdp);
        }
    }
    // /ws: the gateway offers (video and the control channel), the client answers.
    if check_h264_video(sdp, "answer").is_ok()
        && let Ok(answer) = RTCSessionDescription::answer(sdp.to_owned())
    {
        let mut pc = peer(now);
        let _ = pc.create_data_channel(CONTROL_LABEL, None);
        let offer = pc.create_offer(None).expect("the gateway's offer");
        pc.set_local_description(now, offer)
            .expect("the gateway's own offer applies");
        if pc.set_remote_description(now, answer).is_ok() {
            candidates(&mut pc, sdp);
        }
    }
});
