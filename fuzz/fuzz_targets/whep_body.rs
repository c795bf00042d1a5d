//! WHEP request bodies as raw bytes: the `POST` offer (size bound, UTF-8, then the offer path) and the `PATCH`
//! `trickle-ice-sdpfrag` (UTF-8, the gateway's fragment parser, then each candidate as the peer takes it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::transport::whep::{MAX_OFFER_BYTES, sdpfrag_candidates};

fuzz_target!(|body: &[u8]| {
    if body.len() > MAX_OFFER_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    sightline_fuzz::remote_description(text);
    let candidates = sdpfrag_candidates(text);
    assert!(candidates.len() <= text.lines().count());
    for c in candidates {
        sightline_fuzz::remote_candidate(c);
    }
});
