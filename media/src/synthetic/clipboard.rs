//! The synthetic desktop's clipboard: both selections in memory, so headless runs and tests exercise the same
//! paths as a real desktop.

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::MediaError;
use crate::clipboard::{
    Clipboard, ClipboardData, ClipboardKind, ClipboardSerials, Selection, check_size,
};

/// An in-memory [`Clipboard`]: what [`Clipboard::set`] stored, per selection.
#[derive(Debug)]
pub struct SyntheticClipboard {
    content: Mutex<[Option<ClipboardData>; 2]>,
    serials: watch::Sender<ClipboardSerials>,
}

impl Default for SyntheticClipboard {
    fn default() -> Self {
        Self {
            content: Mutex::default(),
            serials: watch::Sender::new(ClipboardSerials::default()),
        }
    }
}

fn slot(selection: Selection) -> usize {
    match selection {
        Selection::Clipboard => 0,
        Selection::Primary => 1,
    }
}

impl Clipboard for SyntheticClipboard {
    fn get(
        &self,
        selection: Selection,
        kind: ClipboardKind,
        max_bytes: usize,
    ) -> Result<Option<ClipboardData>, MediaError> {
        let content = self.content.lock();
        match &content[slot(selection)] {
            Some(data) if data.kind() == kind => {
                check_size(data.len(), max_bytes)?;
                Ok(Some(data.clone()))
            }
            _ => Ok(None),
        }
    }

    fn set(&self, selection: Selection, data: ClipboardData) -> Result<(), MediaError> {
        self.content.lock()[slot(selection)] = Some(data);
        self.serials.send_modify(|s| match selection {
            Selection::Clipboard => s.clipboard += 1,
            Selection::Primary => s.primary += 1,
        });
        Ok(())
    }

    fn changes(&self) -> watch::Receiver<ClipboardSerials> {
        self.serials.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_hold_their_own_content_and_kinds_must_match() {
        let c = SyntheticClipboard::default();
        let changes = c.changes();
        assert_eq!(
            c.get(Selection::Clipboard, ClipboardKind::Text, 100)
                .unwrap(),
            None
        );
        c.set(Selection::Clipboard, ClipboardData::Text("héllo".into()))
            .unwrap();
        c.set(Selection::Primary, ClipboardData::Png(vec![1, 2, 3]))
            .unwrap();
        c.set(Selection::Primary, ClipboardData::Png(vec![4, 5]))
            .unwrap();
        assert_eq!(
            *changes.borrow(),
            ClipboardSerials {
                clipboard: 1,
                primary: 2
            }
        );
        assert!(changes.has_changed().unwrap());
        assert_eq!(
            c.get(Selection::Clipboard, ClipboardKind::Text, 100)
                .unwrap(),
            Some(ClipboardData::Text("héllo".into()))
        );
        assert_eq!(
            c.get(Selection::Clipboard, ClipboardKind::Image, 100)
                .unwrap(),
            None
        );
        assert_eq!(
            c.get(Selection::Primary, ClipboardKind::Image, 100)
                .unwrap(),
            Some(ClipboardData::Png(vec![4, 5]))
        );
        assert_eq!(
            c.get(Selection::Primary, ClipboardKind::Text, 100).unwrap(),
            None
        );
    }

    #[test]
    fn content_over_the_limit_is_refused_with_its_size() {
        let c = SyntheticClipboard::default();
        c.set(Selection::Clipboard, ClipboardData::Text("héllo".into()))
            .unwrap();
        assert!(c.get(Selection::Clipboard, ClipboardKind::Text, 6).is_ok());
        let e = c
            .get(Selection::Clipboard, ClipboardKind::Text, 5)
            .unwrap_err();
        assert_eq!(crate::clipboard::too_large_bytes(&e), Some(6), "{e}");
    }
}
