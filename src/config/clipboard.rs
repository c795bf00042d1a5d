//! `[clipboard]`: copy and paste between viewers (and MCP clients) and the remote desktop, both ways, with a
//! size limit and the least role allowed each way.

use serde::{Deserialize, Serialize};
use sightline_signaling::Role;

use super::error::{ConfigError, invalid};

/// Largest `max_bytes`: the content, base64-encoded inside one JSON message, must fit the socket's and the data
/// channel's message limit ([`sightline_limits::MAX_MESSAGE_BYTES`], 256 KiB) with room for the envelope.
pub const MAX_CLIPBOARD_BYTES: usize = 180 * 1024;

/// `[clipboard]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipboardConfig {
    /// Whether the clipboard is shared at all.
    pub enabled: bool,
    /// Least role that receives the remote clipboard's changes and may read it (MCP `get_clipboard` too).
    pub read_role: Role,
    /// Least role that may set the remote clipboard (a viewer's paste, MCP `set_clipboard`).
    pub write_role: Role,
    /// Largest content either way, in bytes (text as UTF-8, images as PNG).
    pub max_bytes: usize,
    /// Also send changes of X11's PRIMARY selection (the last text selected) to viewers.
    pub primary: bool,
    /// Images (PNG) as well as text.
    pub images: bool,
}

impl Default for ClipboardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            read_role: Role::Control,
            write_role: Role::Control,
            max_bytes: 128 * 1024,
            primary: false,
            images: true,
        }
    }
}

impl ClipboardConfig {
    /// Checks the keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 || self.max_bytes > MAX_CLIPBOARD_BYTES {
            return Err(invalid(
                "clipboard.max_bytes",
                format!(
                    "{} is out of range (1..={MAX_CLIPBOARD_BYTES}: the content must fit one message)",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_are_named() {
        ClipboardConfig::default().validate().unwrap();
        let too_big = ClipboardConfig {
            max_bytes: MAX_CLIPBOARD_BYTES + 1,
            ..Default::default()
        };
        let e = too_big.validate().unwrap_err().to_string();
        assert!(e.contains("clipboard.max_bytes"), "{e}");
        let cfg: ClipboardConfig =
            toml::from_str("read_role = \"view\"\nwrite_role = \"admin\"\nmax_bytes = 1000")
                .unwrap();
        assert_eq!(cfg.read_role, Role::View);
        assert_eq!(cfg.write_role, Role::Admin);
        assert!(toml::from_str::<ClipboardConfig>("read_role = \"root\"").is_err());
    }
}
