//! What a device ([`crate::fleet::device`]) needs of its own session manager to serve its hub: the local engine's
//! H.264 at exactly the profile the hub asked for, and raw input events for one screen (the hub already checked
//! the caller's role).

use sightline_media::InputEvent;
use sightline_media::engine::{VideoProfile, VideoSubscription};

use super::SessionManager;
use crate::control::Error;

/// Most input events one hub call may carry: a typed text is one event, a click three, a long drag a few dozen.
pub const MAX_INJECTED_EVENTS: usize = 256;

impl SessionManager {
    /// Subscribes to the H.264 of a local screen at `profile`, as given (the hub snapped it to its own profiles;
    /// the engine validates it). The subscription requests an IDR and receives nothing until it.
    pub fn subscribe_video(
        &self,
        screen: &str,
        profile: VideoProfile,
    ) -> Result<VideoSubscription, Error> {
        Ok(self.inner.engine.subscribe_video(screen, profile)?)
    }

    /// Injects `events` into a local screen, in order, as one entry of the engine's input queue (all or nothing
    /// when it is full), recorded as one `input_injection` operation. Pointer positions are clamped to the screen;
    /// texts, key codes and wheel steps are bounded like the viewers' own input.
    pub async fn inject_events(&self, screen: &str, events: Vec<InputEvent>) -> Result<(), Error> {
        if events.is_empty() {
            return Ok(());
        }
        if events.len() > MAX_INJECTED_EVENTS {
            return Err(Error::invalid(format!(
                "{} input events in one call is over the limit of {MAX_INJECTED_EVENTS}",
                events.len()
            )));
        }
        if crate::fleet::is_remote_screen(screen) {
            return Err(Error::not_found(format!(
                "{} is another device's screen, not one of this machine's",
                crate::control::echo(screen)
            )));
        }
        let info = self.find_screen(Some(screen.to_owned())).await?;
        let mut checked = Vec::with_capacity(events.len());
        for event in events {
            checked.push(match event {
                InputEvent::PointerMove { x, y } => InputEvent::PointerMove {
                    x: x.min(info.width.saturating_sub(1)),
                    y: y.min(info.height.saturating_sub(1)),
                },
                InputEvent::Wheel { dx, dy } => {
                    let max = sightline_limits::MAX_WHEEL_STEPS;
                    if !dx.is_finite() || !dy.is_finite() || dx.abs() > max || dy.abs() > max {
                        return Err(Error::invalid(format!(
                            "wheel steps must be finite and at most {max}"
                        )));
                    }
                    InputEvent::Wheel { dx, dy }
                }
                InputEvent::Text { text } => {
                    if text.chars().count() > sightline_limits::MAX_TEXT_CHARS {
                        return Err(Error::invalid(format!(
                            "a text is at most {} characters",
                            sightline_limits::MAX_TEXT_CHARS
                        )));
                    }
                    InputEvent::Text { text }
                }
                InputEvent::Key { code, down } => {
                    if code.is_empty() || code.len() > 32 {
                        return Err(Error::invalid("a key code is 1 to 32 characters"));
                    }
                    InputEvent::Key { code, down }
                }
                other => other,
            });
        }
        let op = self.operation("input_injection", None);
        let result = self
            .inner
            .engine
            .inject_all(&info.id, checked)
            .await
            .map_err(Error::from);
        op.finish_with(result)
    }
}
