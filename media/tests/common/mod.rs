//! Helpers shared by the media crate's X11 tests: a private Xvfb, a painter for known pixels, and an X client that
//! records the input events it receives.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod paint;
pub mod recorder;
pub mod xvfb;
