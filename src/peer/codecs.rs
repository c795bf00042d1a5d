//! The H.264 formats a peer offers and answers, with their RTCP feedback and RTX, and the header extensions.

use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use webrtc::peer_connection::MediaEngine;

use super::config::{
    H264_BASELINE_PAYLOAD_TYPE, H264_BASELINE_RTX_PAYLOAD_TYPE, H264_FMTP, H264_FMTP_BASELINE,
    H264_PAYLOAD_TYPE, H264_RTX_PAYLOAD_TYPE,
};
use super::error::PeerError;
use super::media::PLAYOUT_DELAY_URI;

/// The H.264 formats we can send, with the feedback we answer (NACK via the responder, PLI/FIR via the
/// forwarder) and an RTX format each for retransmissions.
pub fn register_codecs(me: &mut MediaEngine) -> Result<(), PeerError> {
    let feedback = vec![
        RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: String::new(),
        },
        RTCPFeedback {
            typ: "nack".to_owned(),
            parameter: "pli".to_owned(),
        },
        RTCPFeedback {
            typ: "ccm".to_owned(),
            parameter: "fir".to_owned(),
        },
    ];
    for (pt, rtx_pt, fmtp) in [
        (H264_PAYLOAD_TYPE, H264_RTX_PAYLOAD_TYPE, H264_FMTP),
        (
            H264_BASELINE_PAYLOAD_TYPE,
            H264_BASELINE_RTX_PAYLOAD_TYPE,
            H264_FMTP_BASELINE,
        ),
    ] {
        me.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: h264_codec(fmtp, feedback.clone()),
                payload_type: pt,
            },
            RtpCodecKind::Video,
        )
        .map_err(PeerError::Setup)?;
        me.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: "video/rtx".to_owned(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line: format!("apt={pt}"),
                    rtcp_feedback: vec![],
                },
                payload_type: rtx_pt,
            },
            RtpCodecKind::Video,
        )
        .map_err(PeerError::Setup)?;
    }
    // RFC 8843: with BUNDLE, receivers map packets to sections by MID.
    me.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: rtc::sdp::extmap::SDES_MID_URI.to_owned(),
        },
        RtpCodecKind::Video,
        None,
    )
    .map_err(PeerError::Setup)?;
    // Lets us ask the receiver for no playout delay (see `media::PLAYOUT_DELAY`).
    me.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: PLAYOUT_DELAY_URI.to_owned(),
        },
        RtpCodecKind::Video,
        None,
    )
    .map_err(PeerError::Setup)?;
    Ok(())
}

pub fn h264_codec(fmtp: &str, rtcp_feedback: Vec<RTCPFeedback>) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: rtc::peer_connection::configuration::media_engine::MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: fmtp.to_owned(),
        rtcp_feedback,
    }
}
