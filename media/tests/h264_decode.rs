//! The H.264 output checked by an independent decoder (ffmpeg/ffprobe): right size, constrained baseline SPS, a
//! forced keyframe is an IDR carrying SPS and PPS, and the barcodes read back from decoded synthetic frames equal
//! the ones drawn into them — in camera and screen usage, at full size and downscaled.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sightline_media::barcode::{self, Echo};
use sightline_media::convert::{I420Buffer, bgra_to_i420};
use sightline_media::h264::{AccessUnit, H264Encoder, H264Settings, Usage};
use sightline_media::synthetic::SyntheticDesktop;
use sightline_media::{Desktop, Frame, InputEvent, MouseButton};

const T0_MS: u64 = 1_795_000_000_000;
const FRAMES: u64 = 24;
const FORCED: u64 = 15;

/// Fails loudly (never skips) when a tool is missing.
fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{tool}` is required by this test and was not found: run scripts/install-deps.sh --test"
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sightline-h264-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

struct Encoded {
    units: Vec<AccessUnit>,
    echo: Echo,
    width: u32,
    height: u32,
}

/// Encodes `FRAMES` synthetic frames (forcing an IDR at `FORCED`), after injecting some input.
fn encode(usage: Usage, max_width: Option<u32>) -> Encoded {
    let desktop = SyntheticDesktop::new(1280, 720);
    for e in [
        InputEvent::PointerMove { x: 1000, y: 600 },
        InputEvent::Button {
            button: MouseButton::Left,
            down: true,
        },
        InputEvent::Wheel { dx: 0.0, dy: -3.0 },
        InputEvent::Text {
            text: "decoded by ffmpeg".into(),
        },
        InputEvent::Key {
            code: "KeyQ".into(),
            down: true,
        },
    ] {
        desktop.inject("0", &e).unwrap();
    }
    let mut source = desktop.source();
    let mut picture = I420Buffer::new();
    let mut encoder: Option<H264Encoder> = None;
    let mut units = Vec::new();
    for i in 0..FRAMES {
        let frame = source.render(UNIX_EPOCH + Duration::from_millis(T0_MS + i * 33));
        bgra_to_i420(&frame, max_width, &mut picture).unwrap();
        let enc = encoder.get_or_insert_with(|| {
            H264Encoder::new(H264Settings {
                width: picture.width(),
                height: picture.height(),
                fps: 30,
                bitrate_kbps: 3000,
                usage,
                // Every picture must come out: the decoder checks each frame's barcodes.
                frame_skip: false,
            })
            .unwrap()
        });
        let au = enc
            .encode(&picture, i == FORCED, frame.captured_at)
            .unwrap();
        let au = au.unwrap_or_else(|| panic!("frame {i} produced no access unit"));
        assert!(!au.data.is_empty());
        units.push(au);
    }
    Encoded {
        width: picture.width(),
        height: picture.height(),
        units,
        echo: desktop.echo(),
    }
}

fn write_stream(units: &[AccessUnit], path: &Path) {
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.data.iter().copied()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "h264"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Decodes the stream with ffmpeg into BGRA frames.
fn decode(path: &Path, width: u32, height: u32) -> Vec<Frame> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "h264", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "bgra", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = (width * height * 4) as usize;
    assert_eq!(
        out.stdout.len() % size,
        0,
        "decoded bytes are not whole {width}x{height} frames"
    );
    out.stdout
        .chunks_exact(size)
        .enumerate()
        .map(|(i, px)| Frame {
            width,
            height,
            stride: width as usize * 4,
            data: px.into(),
            captured_at: SystemTime::now(),
            seq: i as u64 + 1,
        })
        .collect()
}

fn check(usage: Usage, max_width: Option<u32>, expect: (u32, u32)) {
    require("ffmpeg");
    require("ffprobe");
    let enc = encode(usage, max_width);
    assert_eq!((enc.width, enc.height), expect);
    let path = scratch(&format!(
        "{}-{}.h264",
        usage.as_str(),
        max_width.unwrap_or(0)
    ));
    write_stream(&enc.units, &path);

    // Our own view of the NAL units: IDRs exactly where expected, each with SPS and PPS first.
    for (i, au) in enc.units.iter().enumerate() {
        let i = i as u64;
        let keyframe = i == 0 || i == FORCED;
        assert_eq!(au.keyframe, keyframe, "keyframe flag of unit {i}");
        let types = au.nal_types();
        if keyframe {
            assert_eq!(
                &types[..2],
                &[7, 8],
                "unit {i} starts with SPS, PPS: {types:?}"
            );
            assert!(types.contains(&5), "unit {i} has an IDR slice: {types:?}");
        } else {
            assert!(
                !types.contains(&5) && !types.contains(&7),
                "unit {i} is a plain P frame: {types:?}"
            );
        }
    }

    // ffprobe: size, profile, level.
    let stream = ffprobe(
        &path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,width,height,level",
            "-of",
            "default=nw=1",
        ],
    );
    let field = |k: &str| {
        stream
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("ffprobe gave no {k}: {stream}"))
            .to_owned()
    };
    assert_eq!(field("codec_name"), "h264");
    assert_eq!(field("profile"), "Constrained Baseline");
    assert_eq!(field("width"), expect.0.to_string());
    assert_eq!(field("height"), expect.1.to_string());
    let level: u32 = field("level").parse().unwrap();
    assert_eq!(level, 31, "1280x720 and below is level 3.1");

    // ffprobe per frame: the forced one is a key I frame, every other non-first frame is P.
    let frames = ffprobe(
        &path,
        &[
            "-show_entries",
            "frame=key_frame,pict_type",
            "-of",
            "csv=p=0",
        ],
    );
    let frames: Vec<&str> = frames.lines().collect();
    assert_eq!(frames.len() as u64, FRAMES, "ffprobe frames: {frames:?}");
    for (i, f) in frames.iter().enumerate() {
        let i = i as u64;
        if i == 0 || i == FORCED {
            assert!(
                f.starts_with("1,I"),
                "frame {i} should be a key I frame, got {f}"
            );
        } else {
            assert!(f.starts_with("0,P"), "frame {i} should be P, got {f}");
        }
    }

    // The barcodes drawn into each frame come back out of the decoded pictures.
    let decoded = decode(&path, expect.0, expect.1);
    assert_eq!(decoded.len() as u64, FRAMES);
    for (i, frame) in decoded.iter().enumerate() {
        assert_eq!(
            barcode::decode_timestamp(frame),
            Some(T0_MS + i as u64 * 33),
            "timestamp of decoded frame {i} ({usage:?}, {max_width:?})"
        );
        assert_eq!(
            barcode::decode_echo(frame),
            Some(enc.echo),
            "echo of decoded frame {i}"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn camera_usage_full_size_decodes_with_barcodes() {
    check(Usage::Camera, None, (1280, 720));
}

#[test]
fn screen_usage_full_size_decodes_with_barcodes() {
    check(Usage::Screen, None, (1280, 720));
}

#[test]
fn downscaled_stream_decodes_at_the_smaller_size_with_barcodes() {
    check(Usage::Camera, Some(960), (960, 540));
}

#[test]
fn the_echo_is_the_one_injected() {
    let enc = encode(Usage::Camera, None);
    let typed = "decoded by ffmpegq";
    assert_eq!(
        enc.echo,
        Echo {
            pointer_x: 1000,
            pointer_y: 600,
            button_presses: 1,
            wheel_dy: -3,
            typed_len: typed.len() as u16,
            typed_hash: barcode::fnv1a32(typed.as_bytes()),
            key_presses: 1,
        }
    );
}
