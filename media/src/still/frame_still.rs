//! [`FrameStill`]: the [`StillSource`] of backends without a dedicated grabber.

use super::types::{Grab, Rect, StillSource, View, compose};
use crate::{Frame, FrameSource, MediaError};

/// The [`StillSource`] of backends without a dedicated grabber: their [`FrameSource`], kept open, captures the
/// whole screen each time (`capture(true)`); the region is a view into that frame.
pub struct FrameStill {
    source: Box<dyn FrameSource>,
    frame: Option<Frame>,
    /// The region with the pointer drawn in (a copy of the region only), when asked for.
    composed: Vec<u8>,
    broken: bool,
}

impl FrameStill {
    /// Keeps `source` warm for stills.
    pub fn new(source: Box<dyn FrameSource>) -> Self {
        Self {
            source,
            frame: None,
            composed: Vec::new(),
            broken: false,
        }
    }
}

impl StillSource for FrameStill {
    fn grab(&mut self, region: Option<Rect>, include_cursor: bool) -> Result<Grab<'_>, MediaError> {
        let frame = match self.source.capture(true) {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Err(MediaError::Capture(
                    "a forced capture returned no frame".into(),
                ));
            }
            Err(e) => {
                self.broken = matches!(e, MediaError::Display(_));
                return Err(e);
            }
        };
        let region = Rect::checked(region, frame.width, frame.height)?;
        let cursor = include_cursor.then(|| self.source.cursor()).flatten();
        let (seq, captured_at) = (frame.seq, frame.captured_at);
        let (screen_width, screen_height) = (frame.width, frame.height);
        let frame = self.frame.insert(frame);
        let view = match cursor {
            Some(c) => compose(
                View::of_frame(frame, region)?,
                region,
                &c,
                &mut self.composed,
            )?,
            None => View::of_frame(frame, region)?,
        };
        Ok(Grab {
            view,
            region,
            screen_width,
            screen_height,
            seq,
            captured_at,
        })
    }

    fn is_broken(&self) -> bool {
        self.broken
    }
}
