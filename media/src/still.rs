//! One picture of a screen on demand ([`crate::Engine::still`]): the running capture's latest frame when there is
//! one, otherwise a grab by a warm per-screen grabber that keeps its display connection and shared memory between
//! calls and lets them go after [`STILL_IDLE`]; only the requested region is grabbed, and it is encoded straight
//! from the captured BGRA.
//!
//! # Parts
//! - [`StillSource`]: a backend's warm grabber ([`crate::Desktop::open_still`]). X11 keeps one connection and one
//!   MIT-SHM segment sized for the monitor, asks for nothing but the region's pixels (and the pointer only when it
//!   is drawn in), and lends them as a [`View`] straight out of the shared memory. Other backends wrap their
//!   [`crate::FrameSource`] ([`FrameStill`]): correct, not necessarily fast.
//! - [`StillEncoder`] (`encode`): JPEG from the view with a kept turbojpeg compressor (the view's pitch is the
//!   grab's stride, so a region of a larger frame is never copied at full size), PNG with the fast setting.

mod encode;
mod frame_still;
mod png;
mod types;

pub use encode::{Encoded, StillEncoder};
pub use frame_still::FrameStill;
pub use png::{downscale_rgb, png_from_view};
pub(crate) use types::epoch_ms;
pub use types::{
    Grab, Rect, STILL_IDLE, Still, StillEncoding, StillRequest, StillSource, View, compose,
};
