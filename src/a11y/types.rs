//! What the accessibility parts share: bounds, limits, errors and element ids.

use std::time::Duration;

use atspi::zbus;

/// Deepest level of a tree walk below the window (the window is level 0). GTK and Qt windows are 6–15 levels deep;
/// deeper trees are cut here and say so.
pub const MAX_DEPTH: usize = 40;
/// Most elements in one tree: a window with more (a long list, a big table) is cut here and says so. Output stays
/// readable by a model and a walk stays well under a second.
pub const MAX_NODES: usize = 2000;
/// Most actions read per element (widgets have 1–3).
pub const MAX_ACTIONS: i32 = 8;
/// Longest name or description kept per element, in characters; longer ones end with `…`.
pub const MAX_TEXT_CHARS: usize = 200;
/// Most top-level windows looked at per application when finding a window (dialogs, menus, tooltips).
pub const MAX_FRAMES_PER_APP: usize = 64;
/// Most applications looked at on the bus.
pub const MAX_APPS: usize = 256;
/// Longest element id accepted (a bus name is at most 255 bytes, paths are short).
pub const MAX_ID_LEN: usize = 512;
/// Opening the accessibility bus (session bus, `GetAddress`, then the bus itself); the launcher answers in
/// milliseconds, so this only fires on a wedged bus.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One call to an application; a busy application answers in milliseconds, a hung one never.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole tree walk or action, a hung application included.
pub const WALK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an accessibility call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum A11yError {
    /// There is no accessibility bus to connect to.
    #[error(
        "no accessibility bus: {0}. Start at-spi-bus-launcher (package at-spi2-core) in the desktop's D-Bus \
         session, or set AT_SPI_BUS_ADDRESS for the gateway"
    )]
    NoBus(String),
    /// The element's object (or its application) is gone.
    #[error("element {0} no longer exists; call ui_tree again for current ids")]
    Gone(String),
    /// A malformed id or argument.
    #[error("{0}")]
    Invalid(String),
    /// No window or element matches.
    #[error("{0}")]
    NotFound(String),
    /// The application did not answer in time.
    #[error("the application did not answer the accessibility call within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The call failed otherwise (the message says how).
    #[error("accessibility call failed: {0}")]
    Failed(String),
}

/// An element's rectangle in pixels of its screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bounds {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: i32,
    /// Height.
    pub height: i32,
}

impl Bounds {
    /// The centre point, where a pointer click lands.
    pub fn centre(&self) -> (i32, i32) {
        (self.x + self.width / 2, self.y + self.height / 2)
    }

    /// Whether it has an area (applications report `-1`/`0` sizes for what has none).
    pub fn is_empty(&self) -> bool {
        self.width <= 0 || self.height <= 0
    }
}

/// `text` cut to [`MAX_TEXT_CHARS`] characters.
pub(crate) fn clip(text: String) -> String {
    if text.chars().count() <= MAX_TEXT_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_TEXT_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// An element id split into its bus name and object path, checked.
pub fn parse_id(id: &str) -> Result<(&str, &str), A11yError> {
    let bad = || {
        A11yError::Invalid(format!(
            "{id:?} is not an element id from ui_tree (like \":1.7/org/a11y/atspi/accessible/42\")"
        ))
    };
    if id.len() > MAX_ID_LEN {
        return Err(bad());
    }
    let slash = id.find('/').ok_or_else(bad)?;
    let (name, path) = id.split_at(slash);
    if zbus::names::BusName::try_from(name).is_err()
        || zbus::zvariant::ObjectPath::try_from(path).is_err()
    {
        return Err(bad());
    }
    Ok((name, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_into_bus_name_and_path() {
        assert_eq!(
            parse_id(":1.7/org/a11y/atspi/accessible/42"),
            Ok((":1.7", "/org/a11y/atspi/accessible/42"))
        );
        assert_eq!(
            parse_id("org.a11y.atspi.Registry/org/a11y/atspi/accessible/root"),
            Ok(("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root"))
        );
        for bad in ["", "42", ":1.7", "/org/a", ":1.7/org//a", ":1.7/a b"] {
            assert!(matches!(parse_id(bad), Err(A11yError::Invalid(_))), "{bad}");
        }
        assert!(parse_id(&format!(":1.7/{}", "a".repeat(MAX_ID_LEN))).is_err());
    }

    #[test]
    fn long_texts_are_clipped() {
        assert_eq!(clip("OK".into()), "OK");
        let long = clip("x".repeat(MAX_TEXT_CHARS + 5));
        assert_eq!(long.chars().count(), MAX_TEXT_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn the_centre_is_where_a_click_lands() {
        let b = Bounds {
            x: 100,
            y: 160,
            width: 168,
            height: 34,
        };
        assert_eq!(b.centre(), (184, 177));
        assert!(!b.is_empty());
        assert!(Bounds { width: -1, ..b }.is_empty());
    }
}
