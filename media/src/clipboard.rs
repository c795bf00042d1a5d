//! The desktop's clipboard: read it, set it, and learn when another application changed it.
//!
//! Backends that have one return it from [`crate::Desktop::clipboard`]: X11 (CLIPBOARD and PRIMARY selections,
//! served by a thread of its own) and the synthetic screen (in memory, so headless runs behave the same).

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::MediaError;

/// Which selection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The clipboard of Ctrl+C / Ctrl+V.
    #[default]
    Clipboard,
    /// X11's PRIMARY: the last text selected, pasted with a middle click.
    Primary,
}

impl Selection {
    /// The wire name: `clipboard` or `primary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clipboard => "clipboard",
            Self::Primary => "primary",
        }
    }
}

/// Which kind of content a reader wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardKind {
    /// UTF-8 text.
    Text,
    /// A PNG image.
    Image,
}

/// Clipboard content.
#[derive(Clone, PartialEq, Eq)]
pub enum ClipboardData {
    /// UTF-8 text.
    Text(String),
    /// A PNG file's bytes.
    Png(Vec<u8>),
}

impl ClipboardData {
    /// Size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Png(p) => p.len(),
        }
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind.
    pub fn kind(&self) -> ClipboardKind {
        match self {
            Self::Text(_) => ClipboardKind::Text,
            Self::Png(_) => ClipboardKind::Image,
        }
    }

    /// The MIME type: `text/plain` or `image/png`.
    pub fn mime(&self) -> &'static str {
        match self {
            Self::Text(_) => "text/plain",
            Self::Png(_) => "image/png",
        }
    }
}

impl std::fmt::Debug for ClipboardData {
    // Clipboards carry passwords: logs get the kind and size, never the content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({} bytes)", self.mime(), self.len())
    }
}

/// How many times each selection changed owner since the clipboard was opened; a reader compares two of these to
/// learn which selection changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClipboardSerials {
    /// Changes of CLIPBOARD.
    pub clipboard: u64,
    /// Changes of PRIMARY.
    pub primary: u64,
}

impl ClipboardSerials {
    /// The counter of `selection`.
    pub fn of(&self, selection: Selection) -> u64 {
        match selection {
            Selection::Clipboard => self.clipboard,
            Selection::Primary => self.primary,
        }
    }
}

/// A desktop's clipboard. Methods block for at most [`CLIPBOARD_TIMEOUT`] (a round trip to the application that
/// owns the selection) and are called from blocking threads, never on the async runtime.
pub trait Clipboard: Send + Sync {
    /// Reads `selection` as `kind`. `Ok(None)` when the selection is empty or its owner offers no such content.
    /// Content over `max_bytes` is refused with [`MediaError::Invalid`] naming its size, never read whole.
    fn get(
        &self,
        selection: Selection,
        kind: ClipboardKind,
        max_bytes: usize,
    ) -> Result<Option<ClipboardData>, MediaError>;

    /// Makes the desktop's `selection` hold `data` until another application takes it. Applications pasting
    /// text get it as UTF-8 (and Latin-1 `STRING` when it fits); images are offered as `image/png`.
    fn set(&self, selection: Selection, data: ClipboardData) -> Result<(), MediaError>;

    /// Counters bumped each time a selection changes, whoever changed it ([`Clipboard::set`] included).
    fn changes(&self) -> watch::Receiver<ClipboardSerials>;
}

/// The longest a clipboard read or write waits for the owning application.
pub const CLIPBOARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
