//! The media plane of sightline: capture → convert → encode → fan-out. No networking lives here.
//!
//! # Parts
//! - [`Desktop`] is a screen backend: it lists screens, opens a [`FrameSource`] per screen and injects input.
//!   Backends: X11 through x11rb + MIT-SHM + XTest (Linux), xcap + enigo (macOS/Windows), and the synthetic test
//!   screen (everywhere; the default when no display exists). [`open_desktop`] picks one.
//! - A [`FrameSource`] is driven by one capture thread at the pacer's rate and returns a [`Frame`] only when the
//!   screen changed, so an unchanged screen is neither converted nor encoded.
//! - The encoders turn frames into H.264 access units (openh264, constrained baseline) and JPEG images.
//! - The fan-out shares each encoded unit with every subscriber through bounded queues.
//! - The [`Engine`] ties them together: one capture thread per screen, one encode thread per (screen, profile),
//!   started by the first subscriber and stopped with the last ([`engine`] describes the threads).
//! - The synthetic screen ([`synthetic`]) draws its capture time and an echo of its input as barcodes
//!   ([`barcode`]), so latency and input can be read back from any decoded picture.
//!
//! All of it runs on plain threads; async code talks to it through bounded tokio channels and watches.

pub mod barcode;
pub mod clipboard;
pub mod convert;
pub mod cursor;
pub mod desktop;
pub mod engine;
pub mod error;
pub mod fanout;
pub mod font;
pub mod frame;
pub mod h264;
pub mod input;
pub mod jpeg;
pub mod jpeg_stripes;
pub mod keyframe;
mod open;
pub mod pacer;
pub mod still;
pub mod synthetic;
pub mod windows;
#[cfg(target_os = "linux")]
pub mod x11;
#[cfg(any(target_os = "macos", target_os = "windows"))]
pub mod xcap_backend;

pub use clipboard::{Clipboard, ClipboardData, ClipboardKind, ClipboardSerials, Selection};
pub use cursor::{CursorMode, CursorShape, CursorSink, CursorState};
pub use desktop::{
    AgentMark, CaptureOptions, Desktop, FrameSource, ScreenInfo, SourceKind, SourceSelection,
};
pub use engine::{
    Engine, EngineConfig, FrameSubscription, JpegProfile, JpegSubscription, VideoControl,
    VideoProfile, VideoSubscription,
};
pub use error::MediaError;
pub use fanout::SubscriberStats;
pub use frame::Frame;
pub use h264::{AccessUnit, Usage};
pub use input::{InputEvent, MouseButton};
pub use jpeg::JpegFrame;
pub use open::open_desktop;
pub use still::{Rect, Still, StillEncoding, StillRequest};
pub use windows::{WindowId, WindowInfo, WindowList, WindowSource};
