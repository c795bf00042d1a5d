//! [`Gateway`]: the application state every edge shares (WebSocket transport, WHEP, REST, MCP), and the one
//! control path all of them use to act on a screen.
//!
//! Input from a viewer (normalised coordinates, DOM key codes) and from an agent (screen pixels) both end in
//! [`Gateway::inject`], which records the operation in the monitor, tells viewers what an agent did, and hands the
//! events to the media engine's input thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use sightline_media::engine::Engine;
use sightline_media::{AgentMark, InputEvent, MediaError, MouseButton, ScreenInfo};
use sightline_monitor::{ConnectionId, Monitor};
use sightline_signaling::messages::{Button, KeyAction, PointerAction};
use sightline_signaling::{Command, ErrorCode, ProtocolError, Role};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::auth::{HasTokens, Tokens};
use crate::config::Config;
use crate::session::Sessions;

/// How long the screen list is reused before the backend is asked again. Input maps coordinates through it on every
/// pointer event, so it must not cost a display round trip each time; a vanished monitor is noticed within this.
const SCREEN_CACHE_TTL: Duration = Duration::from_secs(2);

/// Agent activity events buffered per viewer. A viewer that falls further behind misses the oldest (they are
/// cosmetic overlays, never worth blocking an agent for).
const AGENT_EVENTS_CAPACITY: usize = 64;

/// Who is acting: recorded with every injected event.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Session id.
    pub session: String,
    /// The monitor connection the operation belongs to.
    pub connection: Option<ConnectionId>,
    /// The actor's role.
    pub role: Role,
    /// Whether this is an AI agent (MCP): its actions are shown to viewers.
    pub agent: bool,
}

/// What an agent did, for viewers' overlays (sent as `{"type":"agent",…}`).
#[derive(Clone, Debug, Serialize)]
pub struct AgentActivity {
    /// Screen id.
    pub screen: String,
    /// The tool name.
    pub action: String,
    /// Normalised position, when the action has one.
    pub x: Option<f64>,
    /// Normalised position, when the action has one.
    pub y: Option<f64>,
    /// A short description.
    pub detail: Option<String>,
}

/// Why a control action failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The role does not allow input.
    #[error("role {0} cannot send input")]
    Forbidden(Role),
    /// No such screen.
    #[error("unknown screen {0:?}")]
    UnknownScreen(String),
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The input queue is full.
    #[error("input queue is full, retry")]
    Busy,
    /// The backend failed.
    #[error("{0}")]
    Failed(String),
}

impl ControlError {
    /// The WebSocket/data-channel error for this failure.
    pub fn to_protocol(&self, id: Option<serde_json::Value>) -> ProtocolError {
        let code = match self {
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::UnknownScreen(_) => ErrorCode::UnknownScreen,
            Self::Invalid(_) => ErrorCode::BadValue,
            Self::Busy => ErrorCode::Busy,
            Self::Failed(_) => ErrorCode::Failed,
        };
        ProtocolError::new(code, self.to_string()).with_id(id)
    }
}

impl From<MediaError> for ControlError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::UnknownScreen(id) => Self::UnknownScreen(id),
            MediaError::Invalid { .. } => Self::Invalid(e.to_string()),
            other => {
                let text = other.to_string();
                if text.contains("queue is full") {
                    Self::Busy
                } else {
                    Self::Failed(text)
                }
            }
        }
    }
}

struct ScreenCache {
    screens: Vec<ScreenInfo>,
    read_at: Option<Instant>,
}

/// The shared application state. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    tokens: Tokens,
    engine: Engine,
    monitor: Monitor,
    sessions: Sessions,
    shutdown: CancellationToken,
    started: Instant,
    agent_events: broadcast::Sender<AgentActivity>,
    screens: Mutex<ScreenCache>,
    whep: crate::transport::whep::Registry,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl HasTokens for Gateway {
    fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }
}

impl Gateway {
    /// Builds the state from its parts.
    pub fn new(
        config: Config,
        tokens: Tokens,
        engine: Engine,
        monitor: Monitor,
        shutdown: CancellationToken,
    ) -> Self {
        let sessions = Sessions::new(config.server.max_sessions, monitor.clone());
        let (agent_events, _) = broadcast::channel(AGENT_EVENTS_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                config,
                tokens,
                engine,
                monitor,
                sessions,
                shutdown,
                started: Instant::now(),
                agent_events,
                screens: Mutex::new(ScreenCache {
                    screens: Vec::new(),
                    read_at: None,
                }),
                whep: crate::transport::whep::Registry::default(),
            }),
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The media engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The monitor.
    pub fn monitor(&self) -> &Monitor {
        &self.inner.monitor
    }

    /// The session table.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Cancelled when the gateway shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The live WHEP resources.
    pub fn whep(&self) -> &crate::transport::whep::Registry {
        &self.inner.whep
    }

    /// When the gateway started.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// Receives what agents do, for viewers' overlays.
    pub fn agent_events(&self) -> broadcast::Receiver<AgentActivity> {
        self.inner.agent_events.subscribe()
    }

    /// The screens (cached for [`SCREEN_CACHE_TTL`]). Blocks briefly on a refresh: call from blocking contexts or
    /// accept a display round trip.
    pub fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        let mut cache = self.inner.screens.lock();
        let fresh = cache
            .read_at
            .is_some_and(|t| t.elapsed() < SCREEN_CACHE_TTL);
        if !fresh {
            cache.screens = self.inner.engine.screens()?;
            cache.read_at = Some(Instant::now());
        }
        Ok(cache.screens.clone())
    }

    /// One screen, re-reading the backend once if the id is unknown (a monitor may have been added).
    pub fn screen(&self, id: &str) -> Result<ScreenInfo, MediaError> {
        if let Some(s) = self.screens()?.into_iter().find(|s| s.id == id) {
            return Ok(s);
        }
        self.inner.screens.lock().read_at = None;
        self.screens()?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| MediaError::UnknownScreen(id.to_owned()))
    }

    /// The primary screen (the target of keyboard input when nothing is watched).
    pub fn primary_screen(&self) -> Result<ScreenInfo, MediaError> {
        let screens = self.screens()?;
        screens
            .iter()
            .find(|s| s.primary)
            .or_else(|| screens.first())
            .cloned()
            .ok_or_else(|| MediaError::Unavailable("no screen is available".into()))
    }

    /// Carries out an input command of the wire protocol (pointer, wheel, key, text) on `screen`.
    /// Keyframe and quality commands belong to a viewer's stream and are handled by its transport.
    pub async fn command(
        &self,
        actor: &Actor,
        screen: Option<&str>,
        command: &Command,
    ) -> Result<(), ControlError> {
        let screen = match screen {
            Some(id) => self.screen(id)?,
            None => self.primary_screen()?,
        };
        let events = input_events(&screen, command)?;
        self.inject(actor, &screen.id, command.kind(), events, None)
            .await
    }

    /// Injects events into a screen through the engine's input thread, recording the operation. `activity` is
    /// shown to viewers when the actor is an agent.
    pub async fn inject(
        &self,
        actor: &Actor,
        screen: &str,
        what: &'static str,
        events: Vec<InputEvent>,
        activity: Option<AgentActivity>,
    ) -> Result<(), ControlError> {
        if !actor.role.allows(Role::Control) {
            return Err(ControlError::Forbidden(actor.role));
        }
        let op = self
            .inner
            .monitor
            .operation("input_injection", actor.connection);
        tracing::trace!(what, screen, agent = actor.agent, "inject");
        for event in events {
            if let Err(e) = self.inner.engine.inject(screen, event).await {
                let e = ControlError::from(e);
                op.fail(e.to_string());
                return Err(e);
            }
        }
        op.ok();
        if actor.agent
            && let Some(a) = activity
        {
            // The synthetic screen paints an agent cursor; real displays are left as they are.
            let at = match (a.x, a.y) {
                (Some(x), Some(y)) => self
                    .screen(screen)
                    .ok()
                    .map(|s| (to_pixel(x, s.width), to_pixel(y, s.height))),
                _ => None,
            };
            let mark = AgentMark {
                at,
                click: a.action.contains("click"),
                action: a.action.clone(),
            };
            self.inner.engine.desktop().show_agent(screen, &mark);
            // No receiver is fine: nobody is watching.
            let _ = self.inner.agent_events.send(a);
        }
        Ok(())
    }
}

/// Maps a normalised coordinate to a pixel: `floor(v × size)`, clamped to the last pixel.
pub fn to_pixel(v: f64, size: u32) -> u32 {
    ((v * f64::from(size)).floor().max(0.0) as u32).min(size.saturating_sub(1))
}

fn button(b: Button) -> MouseButton {
    match b {
        Button::Left => MouseButton::Left,
        Button::Middle => MouseButton::Middle,
        Button::Right => MouseButton::Right,
    }
}

/// The backend events for one wire command.
pub fn input_events(
    screen: &ScreenInfo,
    command: &Command,
) -> Result<Vec<InputEvent>, ControlError> {
    let mut out = Vec::new();
    match command {
        Command::Pointer {
            action,
            position,
            button: b,
        } => {
            if let Some((x, y)) = position {
                out.push(InputEvent::PointerMove {
                    x: to_pixel(*x, screen.width),
                    y: to_pixel(*y, screen.height),
                });
            }
            let b = button(*b);
            let press = |out: &mut Vec<InputEvent>| {
                out.push(InputEvent::Button {
                    button: b,
                    down: true,
                });
                out.push(InputEvent::Button {
                    button: b,
                    down: false,
                });
            };
            match action {
                PointerAction::Move => {}
                PointerAction::Down => out.push(InputEvent::Button {
                    button: b,
                    down: true,
                }),
                PointerAction::Up => out.push(InputEvent::Button {
                    button: b,
                    down: false,
                }),
                PointerAction::Click => press(&mut out),
                PointerAction::Dblclick => {
                    press(&mut out);
                    press(&mut out);
                }
            }
        }
        Command::Wheel { dx, dy } => out.push(InputEvent::Wheel { dx: *dx, dy: *dy }),
        Command::Key { action, code } => {
            let down = |d| InputEvent::Key {
                code: code.clone(),
                down: d,
            };
            match action {
                KeyAction::Down => out.push(down(true)),
                KeyAction::Up => out.push(down(false)),
                KeyAction::Press => {
                    out.push(down(true));
                    out.push(down(false));
                }
            }
        }
        Command::Text { text } => out.push(InputEvent::Text { text: text.clone() }),
        Command::Keyframe | Command::Quality { .. } => {
            return Err(ControlError::Invalid(format!(
                "{} is not an input command",
                command.kind()
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_media::SourceKind;

    fn screen() -> ScreenInfo {
        ScreenInfo {
            id: "0".into(),
            name: "s".into(),
            width: 1920,
            height: 1080,
            source: SourceKind::Synthetic,
            primary: true,
        }
    }

    #[test]
    fn normalised_coordinates_map_to_pixels() {
        assert_eq!(to_pixel(0.0, 1920), 0);
        assert_eq!(to_pixel(1.0, 1920), 1919);
        assert_eq!(to_pixel((100.0 + 0.5) / 1920.0, 1920), 100);
        assert_eq!(to_pixel(0.5, 1080), 540);
    }

    #[test]
    fn click_moves_then_presses_and_releases() {
        let c = Command::Pointer {
            action: PointerAction::Click,
            position: Some((0.5, 0.5)),
            button: Button::Right,
        };
        let ev = input_events(&screen(), &c).unwrap();
        assert_eq!(
            ev,
            vec![
                InputEvent::PointerMove { x: 960, y: 540 },
                InputEvent::Button {
                    button: MouseButton::Right,
                    down: true
                },
                InputEvent::Button {
                    button: MouseButton::Right,
                    down: false
                },
            ]
        );
        let dbl = Command::Pointer {
            action: PointerAction::Dblclick,
            position: None,
            button: Button::Left,
        };
        assert_eq!(input_events(&screen(), &dbl).unwrap().len(), 4);
    }

    #[test]
    fn key_press_is_down_then_up() {
        let c = Command::Key {
            action: KeyAction::Press,
            code: "KeyA".into(),
        };
        assert_eq!(input_events(&screen(), &c).unwrap().len(), 2);
        assert!(input_events(&screen(), &Command::Keyframe).is_err());
    }
}
