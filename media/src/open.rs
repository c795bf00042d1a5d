//! Picking and opening the screen backend named by the configuration.
//!
//! `auto` prefers a real display and falls back to the synthetic screen, logging at info which one it chose
//! and why: on Linux the X11 display (`display` or `$DISPLAY`), on macOS and Windows xcap.

use std::sync::Arc;

use crate::synthetic::SyntheticDesktop;
use crate::{CaptureOptions, Desktop, MediaError, SourceSelection};

/// Opens the backend `opts` asks for. `x11` and `xcap` fail when unavailable; `auto` never fails.
pub fn open_desktop(opts: &CaptureOptions) -> Result<Arc<dyn Desktop>, MediaError> {
    match opts.source {
        SourceSelection::Synthetic => Ok(synthetic(opts)),
        SourceSelection::X11 => open_x11(opts),
        SourceSelection::Xcap => open_xcap(),
        SourceSelection::Auto => {
            let native = if cfg!(target_os = "linux") {
                open_x11(opts)
            } else {
                open_xcap()
            };
            match native {
                Ok(desktop) => {
                    tracing::info!(source = %desktop.kind(), display = ?opts.display, "capture source: real display");
                    Ok(desktop)
                }
                Err(e) => {
                    tracing::info!(reason = %e, "capture source: synthetic screen (no display could be opened)");
                    Ok(synthetic(opts))
                }
            }
        }
    }
}

fn synthetic(opts: &CaptureOptions) -> Arc<dyn Desktop> {
    let (w, h) = opts.synthetic_size;
    Arc::new(SyntheticDesktop::new(w, h))
}

/// The X11 desktop of `opts.display` (or `$DISPLAY`), its captures handling the cursor as `opts.cursor` says.
#[cfg(target_os = "linux")]
fn open_x11(opts: &CaptureOptions) -> Result<Arc<dyn Desktop>, MediaError> {
    let desktop = crate::x11::X11Desktop::open(opts.display.as_deref())?;
    Ok(Arc::new(desktop.with_cursor_mode(opts.cursor)))
}

#[cfg(not(target_os = "linux"))]
fn open_x11(_opts: &CaptureOptions) -> Result<Arc<dyn Desktop>, MediaError> {
    Err(MediaError::Unavailable(
        "the X11 backend is only built on Linux; use source = \"xcap\" or \"synthetic\"".into(),
    ))
}

#[cfg(any(target_os = "macos", target_os = "windows"))]
fn open_xcap() -> Result<Arc<dyn Desktop>, MediaError> {
    Ok(Arc::new(crate::xcap_backend::XcapDesktop::open()?))
}

#[cfg(not(any(target_os = "macos", target_os = "windows")))]
fn open_xcap() -> Result<Arc<dyn Desktop>, MediaError> {
    Err(MediaError::Unavailable(
        "the xcap backend is only built on macOS and Windows; use source = \"x11\" or \"synthetic\"".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceKind;

    fn opts(source: SourceSelection, display: Option<&str>) -> CaptureOptions {
        CaptureOptions {
            source,
            display: display.map(str::to_owned),
            synthetic_size: (320, 240),
            cursor: crate::CursorMode::Overlay,
        }
    }

    #[test]
    fn synthetic_is_synthetic() {
        let d = open_desktop(&opts(SourceSelection::Synthetic, None)).unwrap();
        assert_eq!(d.kind(), SourceKind::Synthetic);
        assert_eq!(d.screens().unwrap()[0].width, 320);
    }

    #[test]
    fn auto_falls_back_to_synthetic_when_the_display_does_not_open() {
        // Display 4999 is never served on this machine: the socket does not exist.
        let d = open_desktop(&opts(SourceSelection::Auto, Some(":4999"))).unwrap();
        assert_eq!(d.kind(), SourceKind::Synthetic);
    }

    #[test]
    fn explicit_backends_fail_clearly_when_unavailable() {
        assert!(matches!(
            open_desktop(&opts(SourceSelection::X11, Some(":4999"))),
            Err(MediaError::Unavailable(_))
        ));
        #[cfg(target_os = "linux")]
        assert!(matches!(
            open_desktop(&opts(SourceSelection::Xcap, None)),
            Err(MediaError::Unavailable(_))
        ));
    }
}
