//! What the fuzz targets share: the gateway's own handling of each kind of network input, end to end through
//! its pure parts (parse → validate → the backend events or the reply), with the invariants the gateway promises
//! checked on every input. Each target in `fuzz_targets/` feeds one entry point; see docs/FUZZING.md.
//!
//! Nothing here does I/O: the async parts (the session manager, webrtc-rs's peer connection) are left out, and
//! the code they would run on the same values is called directly.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;
use sightline::control::{At, Intent, policy};
use sightline::mcp::{audit, geometry, tools};
use sightline::peer::CandidateInit;
use sightline::peer::candidate::{RemoteCandidate, classify};
use sightline_media::{Frame, InputEvent, ScreenInfo, SourceKind};
use sightline_signaling::{ProtocolError, Role};

/// Longest `message` of an `error` reply: refusals name the field and the reason, and never echo unbounded
/// client text (ids travel in their own field).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 512;

/// Screen sizes input is mapped onto: an ordinary one, the smallest possible, the largest `max_width` allows,
/// and a small odd one (small enough to crop for real).
pub fn screens() -> [ScreenInfo; 4] {
    let screen = |id: &str, width, height| ScreenInfo {
        id: id.into(),
        name: id.into(),
        width,
        height,
        source: SourceKind::Synthetic,
        primary: id == "0",
    };
    [
        screen("0", 1920, 1080),
        screen("1", 1, 1),
        screen("2", 8192, 4320),
        screen("3", 63, 47),
    ]
}

/// An error reply as it goes back on the socket or the data channel: serialised, and bounded.
pub fn reply_error(e: ProtocolError) {
    assert!(
        e.message.len() <= MAX_ERROR_MESSAGE_BYTES,
        "an error message of {} bytes echoes client input: {:?}",
        e.message.len(),
        e.message
    );
    let _ = e.to_message().to_json();
}

/// Carries an intent out on every screen as the session manager would (the backend events), checking that
/// every pointer position lands on the screen.
pub fn act(intent: &Intent) {
    let _ = intent.kind();
    assert!(policy::allows(Role::Control, intent.action()));
    for screen in screens() {
        if let Some(at) = intent.at() {
            let (x, y) = at.normalised(&screen);
            assert!(x.is_finite() && y.is_finite(), "{at:?} → ({x}, {y})");
        }
        let Ok(events) = intent.events(&screen) else {
            continue;
        };
        for e in events {
            if let InputEvent::PointerMove { x, y } = e {
                assert!(
                    x < screen.width && y < screen.height,
                    "{intent:?} moves to ({x}, {y}) off a {}x{} screen",
                    screen.width,
                    screen.height
                );
            }
        }
    }
}

/// A client's ICE candidate as the peer takes it: sorted by the gateway, then parsed by webrtc-rs's ICE agent
/// (what `add_ice_candidate` does with it).
pub fn remote_candidate(c: CandidateInit) {
    match classify(&c) {
        Ok(RemoteCandidate::Add(init)) => {
            let raw = init
                .candidate
                .strip_prefix("candidate:")
                .unwrap_or(&init.candidate);
            if let Ok(parsed) = rtc::ice::candidate::unmarshal_candidate(raw) {
                let _ = parsed.to_string();
            }
        }
        Ok(RemoteCandidate::EndOfCandidates | RemoteCandidate::Mdns) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A remote session description as the peer takes it: the gateway's H.264 check, then (only when it passes,
/// as in `Peer::answer` and `Peer::set_answer`) webrtc-rs's SDP parser.
pub fn remote_description(sdp: &str) {
    if sightline::peer::sdp::check_h264_video(sdp, "offer").is_ok() {
        let _ = webrtc::peer_connection::RTCSessionDescription::offer(sdp.to_owned());
    }
    if sightline::peer::sdp::check_h264_video(sdp, "answer").is_ok() {
        let _ = webrtc::peer_connection::RTCSessionDescription::answer(sdp.to_owned());
    }
}

/// A point given by an agent, checked on every screen and, when on it, clicked there.
fn agent_point(p: geometry::Point) -> Vec<At> {
    screens()
        .iter()
        .filter_map(|s| geometry::check_point(&s.id, p, s.width, s.height).ok())
        .map(|p| At::Pixel { x: p.x, y: p.y })
        .collect()
}

/// A region given by an agent, checked on every screen; when it fits, the screenshot's size and mapping are
/// worked out as `tools::screenshot` does, and on the smallest screens the crop is taken.
fn agent_region(region: Option<geometry::Region>, max_width: Option<u32>) {
    for s in screens() {
        let region = match region {
            Some(r) => match r.check(&s.id, s.width, s.height) {
                Ok(r) => r,
                Err(_) => continue,
            },
            None => geometry::Region::full(s.width, s.height),
        };
        let Ok(target) = geometry::target_width(region.width, region.height, max_width) else {
            continue;
        };
        let (w, h) = geometry::image_size(region.width, region.height, target);
        let m = geometry::Mapping::new(region, w, h);
        for (ix, iy) in [(0, 0), (w.saturating_sub(1), h.saturating_sub(1))] {
            let p = m.to_screen(ix, iy);
            assert!(
                p.x < s.width && p.y < s.height,
                "{region:?} as {w}x{h} maps ({ix}, {iy}) to {p:?}"
            );
        }
        if u64::from(s.width) * u64::from(s.height) <= 64 * 48 {
            let frame = Arc::new(Frame {
                width: s.width,
                height: s.height,
                stride: s.width as usize * 4,
                data: vec![0; s.width as usize * s.height as usize * 4].into(),
                captured_at: SystemTime::UNIX_EPOCH,
                seq: 1,
            });
            let crop = geometry::crop(&frame, region);
            assert_eq!((crop.width, crop.height), (region.width, region.height));
        }
    }
}

/// One MCP tool call after rmcp has routed it: the audit trail's copy of the arguments, then rmcp's
/// `Parameters<T>` extraction (`serde_json::from_value` of the arguments object) and the tool's own checks up to
/// the input it would inject.
pub fn tool_call(name: &str, arguments: Option<serde_json::Map<String, Value>>) {
    let _ = audit::started(name, arguments.as_ref()).to_string();
    let _ = audit::finished(name, arguments.as_ref(), name).to_string();
    if tools::required_role(name).is_none() {
        return;
    }
    let args = Value::Object(arguments.unwrap_or_default());
    fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Option<T> {
        serde_json::from_value(v).ok()
    }
    let pointer = |action, at| Intent::Pointer {
        action,
        at: Some(at),
        button: Default::default(),
    };
    use sightline_signaling::messages::{KeyAction, PointerAction};
    match name {
        "screenshot" => {
            if let Some(a) = parse::<tools::ScreenshotArgs>(args) {
                let q = u32::from(a.quality.unwrap_or(tools::DEFAULT_JPEG_QUALITY));
                if sightline_limits::check("quality", q, &sightline_limits::JPEG_QUALITY).is_ok() {
                    agent_region(a.region, a.max_width);
                }
            }
        }
        "wait_for_change" => {
            if let Some(a) = parse::<tools::WaitForChangeArgs>(args) {
                agent_region(a.region, None);
            }
        }
        "wait_until_stable" => {
            if let Some(a) = parse::<tools::WaitUntilStableArgs>(args) {
                agent_region(a.region, None);
            }
        }
        "click" => {
            if let Some(a) = parse::<tools::ClickArgs>(args) {
                let action = if a.double == Some(true) {
                    PointerAction::Dblclick
                } else {
                    PointerAction::Click
                };
                for at in agent_point(geometry::Point { x: a.x, y: a.y }) {
                    act(&pointer(action, at));
                }
            }
        }
        "move_pointer" => {
            if let Some(a) = parse::<tools::MoveArgs>(args) {
                for at in agent_point(geometry::Point { x: a.x, y: a.y }) {
                    act(&pointer(PointerAction::Move, at));
                }
            }
        }
        "drag" => {
            if let Some(a) = parse::<tools::DragArgs>(args) {
                for (from, to) in agent_point(a.from).into_iter().zip(agent_point(a.to)) {
                    act(&Intent::Drag {
                        from,
                        to,
                        button: a.button.unwrap_or_default(),
                    });
                }
            }
        }
        "scroll" => {
            // The tool checks dx/dy first; the intent checks them again as the last line. Both run here.
            if let Some(a) = parse::<tools::ScrollArgs>(args) {
                let (dx, dy) = (a.dx.unwrap_or(0.0), a.dy.unwrap_or(0.0));
                let at = match (a.x, a.y) {
                    (Some(x), Some(y)) => agent_point(geometry::Point { x, y }).first().copied(),
                    _ => None,
                };
                act(&Intent::Wheel { at, dx, dy });
            }
        }
        "type_text" => {
            if let Some(a) = parse::<tools::TypeTextArgs>(args) {
                act(&Intent::Text { text: a.text });
            }
        }
        "press_keys" => {
            if let Some(a) = parse::<tools::PressKeysArgs>(args) {
                for code in a.keys.into_iter().take(sightline_limits::MAX_KEYS) {
                    act(&Intent::Key {
                        action: KeyAction::Down,
                        code,
                    });
                }
            }
        }
        _ => {}
    }
}
