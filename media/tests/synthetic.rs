//! The synthetic screen through the engine: input injected with `Engine::inject` shows up in the very next
//! frames' echo barcodes, and every frame's top barcode is its capture time (so latency can be read from it).

use std::sync::Arc;
use std::time::Duration;

use sightline_media::barcode::{self, Echo};
use sightline_media::engine::{Engine, EngineConfig};
use sightline_media::synthetic::SyntheticDesktop;
use sightline_media::{InputEvent, MouseButton};
use sightline_monitor::{Monitor, MonitorConfig};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_input_is_echoed_in_the_next_frames_and_each_frame_carries_its_capture_time() {
    let desktop = Arc::new(SyntheticDesktop::new(1280, 720));
    let engine = Engine::new(
        desktop.clone(),
        EngineConfig::default(),
        Monitor::new(MonitorConfig::default()),
    );
    let mut frames = engine.subscribe_frames("0").unwrap();

    let fresh = timeout(WAIT, frames.changed()).await.unwrap().unwrap();
    assert_eq!(
        barcode::decode_echo(&fresh),
        Some(Echo {
            typed_hash: barcode::FNV_OFFSET,
            ..Echo::default()
        })
    );

    let events = [
        InputEvent::PointerMove { x: 640, y: 360 },
        InputEvent::Button {
            button: MouseButton::Left,
            down: true,
        },
        InputEvent::Button {
            button: MouseButton::Left,
            down: false,
        },
        InputEvent::Wheel { dx: 0.0, dy: 1.0 },
        InputEvent::Key {
            code: "ShiftLeft".into(),
            down: true,
        },
        InputEvent::Key {
            code: "KeyA".into(),
            down: true,
        },
        InputEvent::Key {
            code: "ShiftLeft".into(),
            down: false,
        },
        InputEvent::Text {
            text: "bc ~ é".into(),
        },
    ];
    for e in events {
        engine.inject("0", e).await.unwrap();
    }
    let typed = "Abc ~ é";
    let expected = Echo {
        pointer_x: 640,
        pointer_y: 360,
        button_presses: 1,
        wheel_dy: 1,
        typed_len: typed.chars().count() as u16,
        typed_hash: barcode::fnv1a32(typed.as_bytes()),
        key_presses: 2,
    };
    assert_eq!(desktop.echo(), expected);

    // inject() returned after the event was applied, so at most the frame being drawn right now predates it.
    let mut last_seq = 0;
    let mut echoed = 0;
    for _ in 0..4 {
        let frame = timeout(WAIT, frames.changed()).await.unwrap().unwrap();
        assert!(frame.seq > last_seq);
        last_seq = frame.seq;
        assert_eq!(
            barcode::decode_timestamp(&frame),
            Some(frame.captured_at_ms() & 0xFFFF_FFFF_FFFF)
        );
        if barcode::decode_echo(&frame) == Some(expected) {
            echoed += 1;
        }
    }
    assert!(
        echoed >= 3,
        "the echo shows in the frames after injection ({echoed} of 4)"
    );
    engine.shutdown();
}
