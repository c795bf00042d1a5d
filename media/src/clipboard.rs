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

/// Refuses `len` bytes over `max_bytes` with [`MediaError::TooLarge`], which names both sizes.
pub fn check_size(len: usize, max_bytes: usize) -> Result<(), MediaError> {
    if len > max_bytes {
        return Err(too_large(len, max_bytes));
    }
    Ok(())
}

/// The error [`check_size`] returns for `len` bytes over `max_bytes`.
pub fn too_large(len: usize, max_bytes: usize) -> MediaError {
    MediaError::TooLarge {
        what: "clipboard content",
        size: len as u64,
        max: max_bytes as u64,
    }
}

/// The size named by an error of [`check_size`], `None` for any other error.
pub fn too_large_bytes(error: &MediaError) -> Option<usize> {
    match error {
        MediaError::TooLarge { size, .. } => usize::try_from(*size).ok(),
        _ => None,
    }
}

/// `text` as Latin-1 (ISO 8859-1) bytes, the encoding of X11's `STRING`; `None` when a character is outside it.
pub fn to_latin1(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

/// Latin-1 bytes (X11's `STRING`) as text. Every byte is a character, so this never fails.
pub fn from_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Text received from another application: UTF-8, with invalid sequences replaced (a truncated or mislabelled
/// transfer still yields text rather than an error).
pub fn from_utf8_lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_over_the_limit_are_refused_with_their_size() {
        assert!(check_size(100, 100).is_ok());
        let e = check_size(101, 100).expect_err("over");
        assert_eq!(
            e.to_string(),
            "clipboard content of 101 bytes is over the limit of 100 bytes"
        );
        assert_eq!(too_large_bytes(&e), Some(101));
        assert_eq!(
            too_large_bytes(&MediaError::invalid("fps", "7 bytes")),
            None
        );
        assert_eq!(too_large_bytes(&MediaError::Stopped), None);
    }

    #[test]
    fn latin1_round_trips_and_refuses_wider_characters() {
        assert_eq!(to_latin1("héllo"), Some(b"h\xe9llo".to_vec()));
        assert_eq!(to_latin1("wörld ÿ"), Some(b"w\xf6rld \xff".to_vec()));
        assert_eq!(to_latin1("€"), None);
        assert_eq!(to_latin1("a😀"), None);
        assert_eq!(from_latin1(b"h\xe9llo"), "héllo");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(to_latin1(&from_latin1(&all)), Some(all));
        assert_eq!(from_utf8_lossy(b"ok \xff".to_vec()), "ok \u{fffd}");
        assert_eq!(from_utf8_lossy("héllo".as_bytes().to_vec()), "héllo");
    }

    #[test]
    fn data_reports_kind_mime_and_size_but_never_content() {
        let t = ClipboardData::Text("secret".into());
        assert_eq!(
            (t.kind(), t.mime(), t.len()),
            (ClipboardKind::Text, "text/plain", 6)
        );
        assert_eq!(format!("{t:?}"), "text/plain(6 bytes)");
        let p = ClipboardData::Png(vec![]);
        assert!(p.is_empty());
        assert_eq!(p.kind(), ClipboardKind::Image);
    }
}
