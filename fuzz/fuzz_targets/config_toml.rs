//! The configuration file: `Config::parse`, `validate`, and everything derived from a validated configuration
//! (listen address, the media, monitor and peer settings, the quality ladder and each screen's tiers), which must
//! then never fail or panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text) else {
        return;
    };
    if config.validate().is_err() {
        return;
    }
    config.listen_addr().expect("validated");
    config.synthetic_size().expect("validated");
    let _ = (config.display(), config.log_dir(), config.leak_grace());
    let _ = config.monitor_settings();
    let _ = config.engine_settings();
    let _ = config.preview_profile();
    let peer = config.peer_settings();
    peer.validate()
        .expect("peer settings of a valid configuration");
    let _ = config.limits.header_timeout();
    let _ = config.limits.auth_timeout();
    let _ = config.limits.heartbeat();
    let _ = config.limits.idle_timeout();
    for screen in sightline_fuzz::screens() {
        for max_width in [None, Some(16), Some(641), Some(8192)] {
            let _ = config.video_profile(max_width);
            let tiers = config.tiers(&screen, max_width);
            assert!(!tiers.is_empty());
        }
    }
});
