//! The remote pointer for viewers (`[capture] cursor = "overlay"`): a [`CursorFeed`] per watch turns the engine's
//! per-tick [`CursorState`]s into `cursor_image` messages (when the shape changes, PNG-encoded once per shape for
//! every viewer by the [`ShapeCache`]) and `cursor` messages (positions, as the engine publishes them: on X11 as
//! the pointer moves, coalesced to one per 4 ms).

use std::sync::Arc;

use base64::Engine as _;
use parking_lot::Mutex;
use sightline_media::engine::CursorSubscription;
use sightline_media::{CursorShape, CursorState, ScreenInfo};
use sightline_signaling::ServerMessage;

use crate::control::intent::normalised;

/// Shapes kept encoded: a desktop cycles through a handful (arrow, I-beam, hands, resize arrows, busy frames).
const SHAPE_CACHE_ENTRIES: usize = 32;

/// PNG data URLs of cursor shapes, by serial, shared by every viewer so a shape is encoded once.
#[derive(Debug, Default)]
pub struct ShapeCache {
    /// Most recently used last.
    entries: Mutex<Vec<(u32, Arc<str>)>>,
}

impl ShapeCache {
    /// The `data:image/png;base64,…` URL of `shape`; `None` if it cannot be encoded (a malformed shape).
    pub fn data_url(&self, shape: &CursorShape) -> Option<Arc<str>> {
        {
            let mut entries = self.entries.lock();
            if let Some(i) = entries.iter().position(|(s, _)| *s == shape.serial) {
                let hit = entries.remove(i);
                let url = Arc::clone(&hit.1);
                entries.push(hit);
                return Some(url);
            }
        }
        let url: Arc<str> = encode_png(shape)?.into();
        let mut entries = self.entries.lock();
        if entries.len() >= SHAPE_CACHE_ENTRIES {
            entries.remove(0);
        }
        entries.push((shape.serial, Arc::clone(&url)));
        Some(url)
    }
}

fn encode_png(shape: &CursorShape) -> Option<String> {
    let expected = shape.width as usize * shape.height as usize * 4;
    if shape.width == 0 || shape.height == 0 || shape.rgba.len() != expected {
        return None;
    }
    let mut png = Vec::with_capacity(expected / 2 + 64);
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    image::ImageEncoder::write_image(
        encoder,
        &shape.rgba,
        shape.width,
        shape.height,
        image::ExtendedColorType::Rgba8,
    )
    .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    ))
}

/// One viewer's stream of pointer messages for one screen.
pub struct CursorFeed {
    sub: CursorSubscription,
    screen: ScreenInfo,
    cache: Arc<ShapeCache>,
    /// The serial of the shape this viewer was last sent; `None` until one was (or after [`CursorFeed::reset`]).
    sent_shape: Option<u32>,
    /// The last position sent, so an unchanged one is not repeated.
    sent_position: Option<(u32, u32, bool)>,
}

impl std::fmt::Debug for CursorFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorFeed")
            .field("screen", &self.screen.id)
            .field("sent_shape", &self.sent_shape)
            .finish_non_exhaustive()
    }
}

impl CursorFeed {
    /// A feed of `sub` (the engine's pointer of `screen`).
    pub fn new(sub: CursorSubscription, screen: ScreenInfo, cache: Arc<ShapeCache>) -> Self {
        Self {
            sub,
            screen,
            cache,
            sent_shape: None,
            sent_position: None,
        }
    }

    /// Forgets what was sent: the next messages carry the shape and the position again (a data channel opened, a
    /// page reconnected).
    pub fn reset(&mut self) {
        self.sent_shape = None;
        self.sent_position = None;
    }

    /// The messages owed for the current state without waiting (after [`CursorFeed::reset`]).
    pub fn current(&mut self) -> Vec<ServerMessage> {
        match self.sub.latest() {
            Some(state) => self.messages(&state),
            None => Vec::new(),
        }
    }

    /// Waits for the pointer to change and returns the messages for it (empty when nothing a viewer sees
    /// changed); `None` when the capture ended.
    pub async fn next(&mut self) -> Option<Vec<ServerMessage>> {
        let state = self.sub.changed().await?;
        Some(self.messages(&state))
    }

    fn messages(&mut self, state: &CursorState) -> Vec<ServerMessage> {
        let mut out = Vec::with_capacity(2);
        let serial = state.shape.as_ref().map_or(0, |s| s.serial);
        if let Some(shape) = &state.shape
            && self.sent_shape != Some(shape.serial)
            && let Some(image) = self.cache.data_url(shape)
        {
            self.sent_shape = Some(shape.serial);
            out.push(ServerMessage::CursorImage {
                screen: self.screen.id.clone(),
                serial: shape.serial,
                width: shape.width,
                height: shape.height,
                hot_x: shape.hot_x,
                hot_y: shape.hot_y,
                screen_width: self.screen.width,
                screen_height: self.screen.height,
                image: image.to_string(),
            });
        }
        let position = (state.x, state.y, state.visible);
        if self.sent_position != Some(position) || !out.is_empty() {
            self.sent_position = Some(position);
            out.push(ServerMessage::Cursor {
                screen: self.screen.id.clone(),
                x: normalised(state.x, self.screen.width),
                y: normalised(state.y, self.screen.height),
                visible: state.visible,
                serial,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(serial: u32) -> CursorShape {
        CursorShape {
            serial,
            width: 2,
            height: 2,
            hot_x: 1,
            hot_y: 0,
            rgba: vec![255, 0, 0, 255, 0, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255],
        }
    }

    #[test]
    fn shapes_are_encoded_once_and_malformed_ones_refused() {
        let cache = ShapeCache::default();
        let a = cache.data_url(&shape(1)).unwrap();
        assert!(a.starts_with("data:image/png;base64,iVBORw0KGgo"), "{a}");
        let again = cache.data_url(&shape(1)).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let mut bad = shape(2);
        bad.rgba.pop();
        assert!(cache.data_url(&bad).is_none());
        for s in 10..10 + SHAPE_CACHE_ENTRIES as u32 + 5 {
            cache.data_url(&shape(s)).unwrap();
        }
        assert_eq!(cache.entries.lock().len(), SHAPE_CACHE_ENTRIES);
    }
}
