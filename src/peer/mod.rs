//! The WebRTC peer wrapper (webrtc-rs 0.21): one peer connection per viewer.
