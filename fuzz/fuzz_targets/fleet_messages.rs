//! What a device and a hub read from each other (docs/PROTOCOL.md, *Devices and their hub*): the first byte picks
//! the reader, the rest is the message — a device's text (`parse_device`, then the hello and screen checks a hub
//! applies), a hub's text (`parse_hub`), a binary media message (`MediaHeader::decode`, re-encoded to the same
//! bytes), or a `[devices] allowed` entry and a hub URL (`parse_allowed`, `check_hub_url`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::config::{check_hub_url, parse_allowed};
use sightline_signaling::fleet::{
    DeviceMsg, MEDIA_HEADER_LEN, MediaHeader, check_hello, check_screens, parse_device, parse_hub,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 | 1 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if which % 4 == 0 {
                match parse_device(text) {
                    Ok(DeviceMsg::Hello(h)) => {
                        if let Err(reason) = check_hello(&h) {
                            assert!(reason.len() < 512, "{reason}");
                        }
                    }
                    Ok(DeviceMsg::Screens { screens }) => {
                        let _ = check_screens(&screens);
                    }
                    Ok(_) => {}
                    Err(e) => assert!(!e.is_empty()),
                }
            } else {
                let _ = parse_hub(text);
            }
        }
        2 => {
            if let Ok((header, payload)) = MediaHeader::decode(rest) {
                assert!(!payload.is_empty());
                assert_eq!(
                    header.encode(payload),
                    rest[..MEDIA_HEADER_LEN + payload.len()]
                );
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok((id, _)) = parse_allowed(text) {
                assert!(!id.is_empty());
            }
            let _ = check_hub_url(text);
        }
    }
});
