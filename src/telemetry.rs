//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`, with webrtc-rs's chatty `log` output
//! bridged in and kept at `warn`).

use tracing_subscriber::EnvFilter;

/// The default filter: our info logs and the WebRTC stack's warnings (its DTLS layer warns about every Chromium
/// handshake's unknown extensions, so only its errors).
pub const DEFAULT_FILTER: &str = "info,webrtc=warn,rtc=warn,webrtc_ice=warn,rtc_ice=warn,webrtc_sctp=warn,rtc_dtls=error,rmcp=warn";

/// Installs the subscriber once (later calls are ignored, so tests may call it freely). `quiet` lowers the default
/// to warnings, for one-shot commands and the stdio MCP mode.
pub fn init(quiet: bool) {
    let default = if quiet {
        "warn,webrtc=error,rtc=error,rtc_dtls=error"
    } else {
        DEFAULT_FILTER
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
