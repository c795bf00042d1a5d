//! What a viewer is sent besides its picture and its replies: agents' activity, the remote clipboard's changes
//! and the remote pointer. [`Feed`] merges the three sources into one [`Feed::next`] the viewer's event loop
//! awaits; each source is bounded (broadcast queues that drop the oldest, a latest-wins pointer).

use base64::Engine as _;
use serde_json::Value;
use sightline_media::{ClipboardData, ClipboardKind};
use sightline_monitor::ConnectionId;
use sightline_signaling::{Command, ProtocolError, Role, ScreenDescription, ServerMessage};
use tokio::sync::broadcast;

use crate::session::clipboard::{ClipboardContent, ClipboardEvent, ClipboardHub, selection};
use crate::session::cursor::CursorFeed;
use crate::session::{AgentActivity, SessionManager};

/// Something to send to the viewer.
#[derive(Debug)]
pub enum FeedEvent {
    /// An agent acted.
    Agent(AgentActivity),
    /// The remote clipboard changed.
    Clipboard(ClipboardEvent),
    /// The pointer moved or changed shape: `cursor_image` and/or `cursor` messages.
    Cursor(Vec<ServerMessage>),
    /// A device came, went or changed its screens: the screen list is sent again.
    Screens,
}

/// The viewer's feeds; each is absent until it applies (authenticated, watching a screen).
#[derive(Debug, Default)]
pub struct Feed {
    agent: Option<broadcast::Receiver<AgentActivity>>,
    clipboard: Option<broadcast::Receiver<ClipboardEvent>>,
    cursor: Option<CursorFeed>,
    devices: Option<broadcast::Receiver<crate::fleet::hub::DeviceEvent>>,
}

impl Feed {
    /// Subscribes a session of `role` to agents' activity and, if `[clipboard]` lets it read, to the clipboard.
    pub fn authenticated(&mut self, manager: &SessionManager, role: Role) {
        self.agent = Some(manager.agent_events());
        self.clipboard = manager.clipboard().subscribe(role);
        self.devices = Some(manager.hub().subscribe_events());
    }

    /// Follows the pointer of the watched screen (`None`: no watch, or no overlay cursor).
    pub fn set_cursor(&mut self, cursor: Option<CursorFeed>) {
        self.cursor = cursor;
    }

    /// Forgets what pointer messages were sent and returns the current ones (shape and position).
    pub fn resend_cursor(&mut self) -> Vec<ServerMessage> {
        match &mut self.cursor {
            Some(c) => {
                c.reset();
                c.current()
            }
            None => Vec::new(),
        }
    }

    /// The next thing to send; pending forever while no feed has anything.
    pub async fn next(&mut self) -> FeedEvent {
        loop {
            let agent = async {
                match &mut self.agent {
                    Some(rx) => recv(rx).await,
                    None => std::future::pending().await,
                }
            };
            let clipboard = async {
                match &mut self.clipboard {
                    Some(rx) => recv(rx).await,
                    None => std::future::pending().await,
                }
            };
            let cursor = async {
                match &mut self.cursor {
                    Some(c) => c.next().await,
                    None => std::future::pending().await,
                }
            };
            let devices = async {
                match &mut self.devices {
                    Some(rx) => recv(rx).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                d = devices => match d {
                    Some(d) if SCREEN_EVENTS.contains(&d.kind) => return FeedEvent::Screens,
                    Some(_) => {}
                    None => self.devices = None,
                },
                a = agent => match a {
                    Some(a) => return FeedEvent::Agent(a),
                    None => self.agent = None,
                },
                c = clipboard => match c {
                    Some(c) => return FeedEvent::Clipboard(c),
                    None => self.clipboard = None,
                },
                m = cursor => match m {
                    Some(m) if m.is_empty() => {}
                    Some(m) => return FeedEvent::Cursor(m),
                    // The capture ended (the watch ends with it and reports why).
                    None => self.cursor = None,
                },
            }
        }
    }
}

/// The device events after which a viewer is sent the screen list again.
const SCREEN_EVENTS: [&str; 4] = [
    "device_online",
    "device_offline",
    "screens_changed",
    "device_removed",
];

/// The screens a viewer can watch now, as `welcome` and `screens` describe them (empty, with the reason logged and
/// recorded on `conn`, when the display is unavailable: a later watch may work once it is back).
pub async fn screen_descriptions(
    manager: &SessionManager,
    conn: &sightline_monitor::Connection,
) -> Vec<ScreenDescription> {
    manager
        .list_screens()
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "screens unavailable for the viewer");
            conn.event(format!("screens unavailable: {e}"));
            Vec::new()
        })
        .into_iter()
        .map(|s| ScreenDescription {
            id: s.id,
            name: s.name,
            width: s.width,
            height: s.height,
            primary: s.primary,
        })
        .collect()
}

/// The next value of a broadcast, skipping what was missed; `None` when it closed.
async fn recv<T: Clone>(rx: &mut broadcast::Receiver<T>) -> Option<T> {
    loop {
        match rx.recv().await {
            Ok(v) => return Some(v),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// The overlay message for an agent's activity, when it is on the watched screen.
pub fn agent_message(watched: Option<&str>, a: AgentActivity) -> Option<ServerMessage> {
    if watched != Some(a.screen.as_str()) {
        return None;
    }
    Some(ServerMessage::Agent {
        screen: a.screen,
        action: a.action,
        x: a.x,
        y: a.y,
        detail: a.detail,
    })
}

/// Carries out a clipboard command of a session of `role`: `clipboard` sets the remote clipboard and returns once
/// it is set (the viewer reads its next command only then, so a Ctrl+V after it pastes the new content);
/// `clipboard_get` answers with a `clipboard` message. `Ok(None)` for any other command.
pub async fn clipboard_command(
    hub: &ClipboardHub,
    role: Role,
    conn: ConnectionId,
    command: &Command,
    id: Option<Value>,
) -> Result<Option<ServerMessage>, ProtocolError> {
    match command {
        Command::ClipboardSet {
            selection: s,
            payload,
        } => hub
            .set(role, Some(conn), selection(*s), payload.clone())
            .await
            .map(|()| None),
        Command::ClipboardGet {
            selection: s,
            image,
        } => {
            let kind = if *image {
                ClipboardKind::Image
            } else {
                ClipboardKind::Text
            };
            let selection = selection(*s);
            hub.get(role, Some(conn), selection, kind)
                .await
                .map(|content| {
                    Some(clipboard_message(
                        &ClipboardEvent { selection, content },
                        id,
                    ))
                })
        }
        _ => Ok(None),
    }
    .map_err(|e| e.to_protocol())
}

/// The `clipboard` message for a selection's content (`id`: the `clipboard_get` it answers).
pub fn clipboard_message(event: &ClipboardEvent, id: Option<Value>) -> ServerMessage {
    let selection = event.selection.as_str().to_owned();
    let (mime, text, data, bytes, too_large) = match &event.content {
        ClipboardContent::Empty => ("text/plain", None, None, 0, false),
        ClipboardContent::Data(d) => match &**d {
            ClipboardData::Text(t) => ("text/plain", Some(t.clone()), None, t.len() as u64, false),
            ClipboardData::Png(p) => (
                "image/png",
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(p)),
                p.len() as u64,
                false,
            ),
        },
        ClipboardContent::TooLarge { kind, bytes } => {
            let mime = match kind {
                ClipboardKind::Text => "text/plain",
                ClipboardKind::Image => "image/png",
            };
            (mime, None, None, *bytes, true)
        }
    };
    ServerMessage::Clipboard {
        selection,
        mime: mime.to_owned(),
        text,
        data,
        bytes,
        too_large,
        id,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use sightline_media::Selection;

    use super::*;

    #[test]
    fn clipboard_messages_carry_text_images_or_only_a_size() {
        let ev = |content| ClipboardEvent {
            selection: Selection::Clipboard,
            content,
        };
        let text = ev(ClipboardContent::Data(Arc::new(ClipboardData::Text(
            "héllo".into(),
        ))));
        let v: Value =
            serde_json::from_str(&clipboard_message(&text, Some(json!(4))).to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"clipboard","selection":"clipboard","mime":"text/plain","text":"héllo","bytes":6,"id":4})
        );
        let png = ev(ClipboardContent::Data(Arc::new(ClipboardData::Png(vec![
            1, 2, 3,
        ]))));
        let v: Value = serde_json::from_str(&clipboard_message(&png, None).to_json()).unwrap();
        assert_eq!(v["data"], "AQID");
        assert_eq!(v["mime"], "image/png");
        let big = ClipboardEvent {
            selection: Selection::Primary,
            content: ClipboardContent::TooLarge {
                kind: ClipboardKind::Text,
                bytes: 1 << 20,
            },
        };
        let v: Value = serde_json::from_str(&clipboard_message(&big, None).to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"clipboard","selection":"primary","mime":"text/plain","bytes":1048576,"too_large":true})
        );
        let empty = ev(ClipboardContent::Empty);
        let v: Value = serde_json::from_str(&clipboard_message(&empty, None).to_json()).unwrap();
        assert_eq!(v["bytes"], 0);
        assert!(v.get("text").is_none());
    }
}
