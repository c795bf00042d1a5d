//! Which screens an X display offers: every X screen (`:N.0`, `:N.1`, …) split into its RandR monitors.
//!
//! [`query_screens`] asks the server (pipelined: one round trip for all screens, one more for monitor names not
//! seen before); [`build_layout`] is the pure rule that turns the answer into numbered [`Monitor`]s, so ids, names
//! and the primary flag are unit-tested without a server.

use std::collections::HashMap;

use x11rb::connection::Connection;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{Atom, ConnectionExt as _, Window};

use super::display::XError;
use crate::{ScreenInfo, SourceKind};

/// The monitor name used when a screen has no RandR monitors (or the server has no RandR 1.5).
pub(crate) const WHOLE_SCREEN_NAME: &str = "screen";

/// One rectangle of one X screen that sightline offers as a screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Monitor {
    /// What viewers see (id, display name, size, primary flag).
    pub info: ScreenInfo,
    /// Index of the X screen (the `1` of `:91.1`).
    pub screen: usize,
    /// The RandR monitor name, or [`WHOLE_SCREEN_NAME`]; how a capturer finds its monitor again.
    pub monitor_name: String,
    /// Offset of the monitor inside its X screen's root window, in pixels.
    pub x: i32,
    /// See `x`.
    pub y: i32,
}

/// A RandR monitor as the server reports it (not yet clipped to its screen).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawMonitor {
    pub name: String,
    pub primary: bool,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// One X screen: the size of its root window and its RandR monitors in server order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawScreen {
    pub width: u32,
    pub height: u32,
    pub monitors: Vec<RawMonitor>,
}

impl RawScreen {
    /// The screen's monitors clipped to the root window, empty ones dropped, ordered left to right then top to
    /// bottom (server order changes when the primary changes; position does not). A screen without monitors is
    /// one whole-screen monitor.
    pub(crate) fn clipped_monitors(&self) -> Vec<RawMonitor> {
        let mut out: Vec<RawMonitor> = self
            .monitors
            .iter()
            .filter_map(|m| {
                let x0 = m.x.clamp(0, self.width as i32);
                let y0 = m.y.clamp(0, self.height as i32);
                let x1 =
                    (i64::from(m.x) + i64::from(m.width)).clamp(0, i64::from(self.width)) as i32;
                let y1 =
                    (i64::from(m.y) + i64::from(m.height)).clamp(0, i64::from(self.height)) as i32;
                (x1 > x0 && y1 > y0).then(|| RawMonitor {
                    name: m.name.clone(),
                    primary: m.primary,
                    x: x0,
                    y: y0,
                    width: (x1 - x0) as u32,
                    height: (y1 - y0) as u32,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.x, a.y, &a.name).cmp(&(b.x, b.y, &b.name)));
        if out.is_empty() && self.width > 0 && self.height > 0 {
            out.push(RawMonitor {
                name: WHOLE_SCREEN_NAME.to_owned(),
                primary: false,
                x: 0,
                y: 0,
                width: self.width,
                height: self.height,
            });
        }
        out
    }
}

/// Numbers the monitors of every screen `"0"`, `"1"`, … in screen order and names them `"{display}.{screen}
/// {monitor}"` (`display` is `":91"` or `"host:91"`). Exactly one is primary: the first RandR-primary monitor of
/// the default screen, else the first monitor of the default screen (for `:N` or `:N.0` that is id 0).
pub(crate) fn build_layout(
    display: &str,
    default_screen: usize,
    screens: &[RawScreen],
) -> Vec<Monitor> {
    let mut monitors = Vec::new();
    let mut primary: Option<usize> = None;
    let mut first_of_default: Option<usize> = None;
    for (screen, raw) in screens.iter().enumerate() {
        for m in raw.clipped_monitors() {
            let index = monitors.len();
            if screen == default_screen {
                first_of_default.get_or_insert(index);
                if m.primary {
                    primary.get_or_insert(index);
                }
            }
            monitors.push(Monitor {
                info: ScreenInfo {
                    id: index.to_string(),
                    name: format!("{display}.{screen} {}", m.name),
                    width: m.width,
                    height: m.height,
                    source: SourceKind::X11,
                    primary: false,
                },
                screen,
                monitor_name: m.name,
                x: m.x,
                y: m.y,
            });
        }
    }
    if let Some(m) = primary
        .or(first_of_default)
        .or(Some(0))
        .and_then(|i| monitors.get_mut(i))
    {
        m.info.primary = true;
    }
    monitors
}

/// Monitor-name atoms already resolved on a connection (atom names never change while the server runs).
#[derive(Default)]
pub(crate) struct AtomNames(HashMap<Atom, String>);

impl AtomNames {
    /// Resolves the names of `atoms` not seen before, pipelined in one round trip.
    fn resolve(
        &mut self,
        conn: &impl Connection,
        atoms: impl Iterator<Item = Atom>,
    ) -> Result<(), XError> {
        let mut wanted: Vec<Atom> = atoms.filter(|a| !self.0.contains_key(a)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let cookies = wanted
            .iter()
            .map(|&a| conn.get_atom_name(a).map(|c| (a, c)))
            .collect::<Result<Vec<_>, _>>()?;
        for (atom, cookie) in cookies {
            let name = String::from_utf8_lossy(&cookie.reply()?.name).into_owned();
            self.0.insert(atom, name);
        }
        Ok(())
    }

    fn name(&self, atom: Atom) -> String {
        self.0
            .get(&atom)
            .cloned()
            .unwrap_or_else(|| format!("monitor-{atom}"))
    }
}

/// Whether the server speaks RandR 1.5 (GetMonitors). Asked once per connection.
pub(crate) fn randr_monitors_supported(conn: &impl Connection) -> Result<bool, XError> {
    if conn
        .extension_information(randr::X11_EXTENSION_NAME)?
        .is_none()
    {
        return Ok(false);
    }
    let v = conn.randr_query_version(1, 5)?.reply()?;
    Ok((v.major_version, v.minor_version) >= (1, 5))
}

/// The current size and RandR monitors of each root in `roots`, pipelined.
pub(crate) fn query_screens(
    conn: &impl Connection,
    roots: &[Window],
    randr: bool,
    atoms: &mut AtomNames,
) -> Result<Vec<RawScreen>, XError> {
    let geometry = roots
        .iter()
        .map(|&r| conn.get_geometry(r))
        .collect::<Result<Vec<_>, _>>()?;
    let monitors = if randr {
        roots
            .iter()
            .map(|&r| conn.randr_get_monitors(r, true).map(Some))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        roots.iter().map(|_| None).collect()
    };
    let mut replies = Vec::with_capacity(roots.len());
    for (g, m) in geometry.into_iter().zip(monitors) {
        let g = g.reply()?;
        let m = match m {
            Some(cookie) => cookie.reply()?.monitors,
            None => Vec::new(),
        };
        replies.push((g, m));
    }
    atoms.resolve(
        conn,
        replies.iter().flat_map(|(_, ms)| ms.iter().map(|m| m.name)),
    )?;
    Ok(replies
        .into_iter()
        .map(|(g, ms)| RawScreen {
            width: u32::from(g.width),
            height: u32::from(g.height),
            monitors: ms
                .into_iter()
                .map(|m| RawMonitor {
                    name: atoms.name(m.name),
                    primary: m.primary,
                    x: i32::from(m.x),
                    y: i32::from(m.y),
                    width: u32::from(m.width),
                    height: u32::from(m.height),
                })
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(name: &str, primary: bool, x: i32, y: i32, width: u32, height: u32) -> RawMonitor {
        RawMonitor {
            name: name.into(),
            primary,
            x,
            y,
            width,
            height,
        }
    }

    fn screen(width: u32, height: u32, monitors: Vec<RawMonitor>) -> RawScreen {
        RawScreen {
            width,
            height,
            monitors,
        }
    }

    #[test]
    fn two_screens_without_monitors_are_two_whole_screens() {
        let layout = build_layout(
            ":91",
            0,
            &[screen(1920, 1080, vec![]), screen(1280, 720, vec![])],
        );
        let summary: Vec<_> = layout
            .iter()
            .map(|m| {
                (
                    m.info.id.as_str(),
                    m.info.name.as_str(),
                    m.info.width,
                    m.info.height,
                    m.info.primary,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("0", ":91.0 screen", 1920, 1080, true),
                ("1", ":91.1 screen", 1280, 720, false)
            ]
        );
        assert_eq!((layout[1].screen, layout[1].x, layout[1].y), (1, 0, 0));
    }

    #[test]
    fn monitors_are_ordered_by_position_and_the_default_screens_primary_wins() {
        let screens = [
            screen(
                1920,
                1080,
                vec![
                    monitor("DP-2", false, 960, 0, 960, 1080),
                    monitor("DP-1", false, 0, 0, 960, 1080),
                ],
            ),
            screen(1280, 720, vec![monitor("HDMI-1", true, 0, 0, 1280, 720)]),
        ];
        let layout = build_layout("host:3", 1, &screens);
        let names: Vec<_> = layout.iter().map(|m| m.info.name.as_str()).collect();
        assert_eq!(names, ["host:3.0 DP-1", "host:3.0 DP-2", "host:3.1 HDMI-1"]);
        assert_eq!(layout.iter().filter(|m| m.info.primary).count(), 1);
        assert!(layout[2].info.primary);
        assert_eq!(
            (layout[1].x, layout[1].monitor_name.as_str()),
            (960, "DP-2")
        );
    }

    #[test]
    fn a_primary_on_another_screen_does_not_count() {
        let screens = [
            screen(800, 600, vec![]),
            screen(800, 600, vec![monitor("A", true, 0, 0, 800, 600)]),
        ];
        let layout = build_layout(":1", 0, &screens);
        assert!(layout[0].info.primary);
        assert!(!layout[1].info.primary);
    }

    #[test]
    fn without_any_primary_the_default_screens_first_monitor_is_primary() {
        let screens = [screen(800, 600, vec![]), screen(640, 480, vec![])];
        let layout = build_layout(":1", 1, &screens);
        assert!(!layout[0].info.primary);
        assert!(layout[1].info.primary);
        // A default screen that does not exist falls back to id 0.
        let layout = build_layout(":1", 7, &screens);
        assert!(layout[0].info.primary);
    }

    #[test]
    fn monitors_are_clipped_to_their_screen() {
        let s = screen(
            1000,
            500,
            vec![
                monitor("off", false, 2000, 0, 100, 100),
                monitor("edge", false, 900, -50, 300, 300),
                monitor("empty", false, 10, 10, 0, 10),
            ],
        );
        assert_eq!(
            s.clipped_monitors(),
            [monitor("edge", false, 900, 0, 100, 250)]
        );
        let all_off = screen(1000, 500, vec![monitor("off", false, 2000, 0, 100, 100)]);
        assert_eq!(
            all_off.clipped_monitors(),
            [monitor(WHOLE_SCREEN_NAME, false, 0, 0, 1000, 500)]
        );
    }
}
