//! Who may do what: the one table of roles. Every edge asks it — the `/ws` socket's state machine (handed
//! [`command_role`]) and the data channel for commands, the HTTP extractors for REST, WHEP and MJPEG routes, the MCP
//! handler for tools, and the session manager before it injects input — and the docs
//! (`docs/PROTOCOL.md`, `docs/MCP.md`, `docs/openapi.yaml`) and tool descriptions state the same table.
//!
//! | action | role | what it covers |
//! |---|---|---|
//! | [`Action::Watch`] | view | list screens, watch (WebRTC, JPEG, WHEP, MJPEG), snapshots, HQ frames, MCP `screenshot` and the waits |
//! | [`Action::Inspect`] | view | MCP `list_sessions` and `monitor_summary`: read-only views an agent uses to see who else is there |
//! | [`Action::StreamControl`] | control | `keyframe` and `quality` on one's own WebRTC stream (they cost every viewer of the encoder) |
//! | [`Action::Clipboard`] | view | `clipboard` and `clipboard_get` commands, MCP `get_clipboard`/`set_clipboard`: `[clipboard] read_role` and `write_role` (control by default) decide further |
//! | [`Action::Input`] | control | pointer, wheel, key and text input, from a viewer or an MCP input tool |
//! | [`Action::Operate`] | admin | the operator API: `/api/v1/status`, `sessions`, `performance`, the monitor endpoints, `/metrics`, ending sessions |

use sightline_signaling::{Command, Role};

/// Something a client may ask the gateway to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// See screens.
    Watch,
    /// Read-only views of the gateway for agents.
    Inspect,
    /// Change one's own video stream.
    StreamControl,
    /// Send input to a screen.
    Input,
    /// Read or set the desktop's clipboard, within `[clipboard]`'s roles.
    Clipboard,
    /// Operate the gateway.
    Operate,
}

impl Action {
    /// The lowest role allowed to do this.
    pub const fn required_role(self) -> Role {
        match self {
            Self::Watch | Self::Inspect | Self::Clipboard => Role::View,
            Self::StreamControl | Self::Input => Role::Control,
            Self::Operate => Role::Admin,
        }
    }

    /// How the action reads in a refusal: "role view cannot {describe}".
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Watch => "watch screens",
            Self::Inspect => "inspect the gateway",
            Self::StreamControl => "change the video stream",
            Self::Input => "send input",
            Self::Clipboard => "use the clipboard",
            Self::Operate => "operate the gateway",
        }
    }
}

/// What a `/ws` or data-channel command does: `keyframe` and `quality` change the viewer's stream, the clipboard
/// commands use the clipboard, the rest is input.
pub fn command_action(command: &Command) -> Action {
    match command {
        Command::Keyframe | Command::Quality { .. } => Action::StreamControl,
        Command::ClipboardSet { .. } | Command::ClipboardGet { .. } => Action::Clipboard,
        Command::Pointer { .. }
        | Command::Wheel { .. }
        | Command::Key { .. }
        | Command::Text { .. } => Action::Input,
    }
}

/// The role a command needs (the socket state machine's rule, handed to it).
pub fn command_role(command: &Command) -> Role {
    command_action(command).required_role()
}

/// Whether `role` may do `action`.
pub fn allows(role: Role, action: Action) -> bool {
    role.allows(action.required_role())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        assert!(allows(Role::View, Action::Watch));
        assert!(allows(Role::View, Action::Inspect));
        assert!(!allows(Role::View, Action::Input));
        assert!(!allows(Role::View, Action::StreamControl));
        assert!(allows(Role::Control, Action::Input));
        assert!(!allows(Role::Control, Action::Operate));
        assert!(allows(Role::Admin, Action::Operate));
    }

    #[test]
    fn commands_are_input_or_stream_control() {
        assert_eq!(command_action(&Command::Keyframe), Action::StreamControl);
        let text = Command::Text { text: "x".into() };
        assert_eq!(command_action(&text), Action::Input);
        assert_eq!(command_role(&text), Role::Control);
    }
}
