//! Finding a window's accessible and walking its tree.
//!
//! Every call of a level is in flight at once: zbus pipelines them over the one socket and the application answers
//! them back to back, so a level costs about one round trip whatever its width. Per element a level asks for role,
//! name, description, states, children, extents and the number of actions (seven calls, no `GetInterfaces`: a
//! method of an interface the element lacks answers `UnknownMethod`, which reads as "none"); action names are
//! asked for once at the end, for the elements that have actions.

use atspi::proxy::accessible::AccessibleProxy;
use atspi::proxy::action::ActionProxy;
use atspi::proxy::component::ComponentProxy;
use atspi::zbus;
use atspi::{CoordType, ObjectRefOwned, Role, State, StateSet};
use futures_util::future::join_all;
use serde::Serialize;
use sightline_media::WindowInfo;

use super::bus::A11y;
use super::types::{A11yError, Bounds, MAX_ACTIONS, MAX_APPS, MAX_FRAMES_PER_APP, clip};

/// The registry's root: its children are the applications.
const REGISTRY: &str = "org.a11y.atspi.Registry";
const ROOT_PATH: &str = "/org/a11y/atspi/accessible/root";

/// A proxy of interface `T` for object `path` of `bus`, without property caching (no round trip to build it).
pub async fn proxy<T>(conn: &zbus::Connection, bus: &str, path: &str) -> zbus::Result<T>
where
    T: From<zbus::Proxy<'static>> + zbus::proxy::Defaults,
{
    zbus::proxy::Builder::<T>::new(conn)
        .destination(bus.to_owned())?
        .path(path.to_owned())?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

/// An object on the bus: its application's unique name and its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obj {
    /// Unique bus name of the application (`:1.7`).
    pub bus: String,
    /// Object path.
    pub path: String,
}

impl Obj {
    /// From a reference an application returned; `None` for a null reference.
    pub fn of(r: &ObjectRefOwned) -> Option<Obj> {
        if r.is_null() {
            return None;
        }
        Some(Obj {
            bus: r.name_as_str()?.to_owned(),
            path: r.path_as_str().to_owned(),
        })
    }

    /// The element id (`:1.7/org/a11y/atspi/accessible/42`).
    pub fn id(&self) -> String {
        format!("{}{}", self.bus, self.path)
    }
}

/// A top-level accessible (a frame, dialog or window) of an application.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The object.
    pub obj: Obj,
    /// The application's process id, from the bus.
    pub pid: Option<u32>,
    /// Its name: the window title.
    pub title: String,
    /// Its states.
    pub states: StateSet,
    /// Its extents in desktop coordinates (with a window manager: the decorated frame).
    pub extents: Option<(i32, i32, i32, i32)>,
}

/// Every showing top-level accessible of every application on the bus.
pub async fn frames(a11y: &A11y, conn: &zbus::Connection) -> Result<Vec<Frame>, A11yError> {
    let root: AccessibleProxy = proxy(conn, REGISTRY, ROOT_PATH)
        .await
        .map_err(|e| A11yError::Failed(e.to_string()))?;
    let apps = match root.get_children().await {
        Ok(apps) => apps,
        Err(e) => return Err(a11y.error("the registry", e).await),
    };
    let dbus: zbus::fdo::DBusProxy = proxy(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus")
        .await
        .map_err(|e| A11yError::Failed(e.to_string()))?;
    let apps: Vec<Obj> = apps.iter().filter_map(Obj::of).take(MAX_APPS).collect();
    // Per application: its pid and its top-levels. An application that vanished meanwhile has none.
    let per_app = join_all(apps.iter().map(|app| {
        let dbus = &dbus;
        async move {
            let pid = async {
                let name = zbus::names::BusName::try_from(app.bus.as_str()).ok()?;
                dbus.get_connection_unix_process_id(name).await.ok()
            };
            let children = async {
                let p: AccessibleProxy = proxy(conn, &app.bus, &app.path).await.ok()?;
                p.get_children().await.ok()
            };
            let (pid, children) = tokio::join!(pid, children);
            let tops: Vec<Obj> = children
                .unwrap_or_default()
                .iter()
                .filter_map(Obj::of)
                .take(MAX_FRAMES_PER_APP)
                .collect();
            (pid, tops)
        }
    }))
    .await;
    let tops = per_app
        .into_iter()
        .flat_map(|(pid, tops)| tops.into_iter().map(move |t| (pid, t)));
    let frames = join_all(tops.map(|(pid, obj)| frame(conn, obj, pid))).await;
    Ok(frames
        .into_iter()
        .flatten()
        .filter(|f| f.states.contains(State::Showing) || f.states.contains(State::Visible))
        .collect())
}

/// One top-level's title, states and extents; `None` when it vanished.
pub async fn frame(conn: &zbus::Connection, obj: Obj, pid: Option<u32>) -> Option<Frame> {
    let p: AccessibleProxy = proxy(conn, &obj.bus, &obj.path).await.ok()?;
    let c: ComponentProxy = proxy(conn, &obj.bus, &obj.path).await.ok()?;
    let (title, states, extents) =
        tokio::join!(p.name(), p.get_state(), c.get_extents(CoordType::Screen));
    Some(Frame {
        title: title.ok()?,
        states: states.ok()?,
        extents: extents.ok(),
        obj,
        pid,
    })
}

/// How well window `w` and top-level `f` fit: `None` when they cannot be the same window (different processes),
/// else more for an equal title and a fitting size (equal without a window manager, a little larger with one:
/// the frame's decorations).
fn fit(w: &WindowInfo, f: &Frame) -> Option<u32> {
    if let (Some(a), Some(b)) = (w.pid, f.pid)
        && a != b
    {
        return None;
    }
    let mut score = 0;
    if !w.title.is_empty() && w.title == f.title {
        score += 4;
    }
    if let Some((_, _, fw, fh)) = f.extents {
        let (ww, wh) = (w.width as i32, w.height as i32);
        if (fw, fh) == (ww, wh) {
            score += 2;
        } else if (0..=DECORATION_SLACK).contains(&(fw - ww))
            && (0..=DECORATION_SLACK).contains(&(fh - wh))
        {
            score += 1;
        }
    }
    // The same process alone is not enough: an application has several windows.
    let pid_known = w.pid.is_some() && f.pid.is_some();
    (score >= 4 || (pid_known && score > 0)).then_some(score)
}

/// How much larger than the client area a window manager's frame may be (title bar and borders), in pixels.
const DECORATION_SLACK: i32 = 96;

/// The top-level of `frames` that is window `w`.
pub fn frame_of<'a>(w: &WindowInfo, frames: &'a [Frame]) -> Option<&'a Frame> {
    frames
        .iter()
        .filter_map(|f| fit(w, f).map(|s| (s, f)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, f)| f)
}

/// The window of `windows` that is top-level `f`.
pub fn window_of<'a>(f: &Frame, windows: &'a [WindowInfo]) -> Option<&'a WindowInfo> {
    windows
        .iter()
        .filter(|w| !w.minimized)
        .filter_map(|w| fit(w, f).map(|s| (s, w)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, w)| w)
}

/// Where a window's desktop coordinates are on a screen: screen pixel = desktop − (`dx`, `dy`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// The screen (`None`: no X window matched; coordinates are the desktop's).
    pub screen: Option<String>,
    /// Desktop x of the screen's left edge.
    pub dx: i32,
    /// Desktop y of the screen's top edge.
    pub dy: i32,
}

impl Placement {
    /// Desktop extents to bounds on the screen.
    pub fn bounds(&self, (x, y, width, height): (i32, i32, i32, i32)) -> Bounds {
        Bounds {
            x: x - self.dx,
            y: y - self.dy,
            width,
            height,
        }
    }
}

/// The placement of window `w`, from one of its elements' extents in desktop coordinates (`screen`) and relative
/// to the window's client area (`window`): their difference is the client area's desktop origin, and `w` says
/// where the client area is on its screen.
pub fn placement(
    w: &WindowInfo,
    screen: (i32, i32, i32, i32),
    window: (i32, i32, i32, i32),
) -> Placement {
    let (ox, oy) = (screen.0 - window.0, screen.1 - window.1);
    Placement {
        screen: w.screen.clone(),
        dx: ox - w.x,
        dy: oy - w.y,
    }
}

/// One element of a tree.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// Element id for click_element and set_text.
    pub id: String,
    /// AT-SPI role name (`push button`, `text`, `check box`, …).
    pub role: String,
    /// Accessible name (a button's label, a field's label; not a field's contents).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Description (often a tooltip).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// States (`focused`, `checked`, `editable`, `sensitive`, …).
    pub states: Vec<&'static str>,
    /// Action names (`click`, `activate`, `toggle`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Where it is on the screen, when it has a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
    /// Children that are showing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
}

/// What one level's calls returned for one element.
struct Raw {
    obj: Obj,
    depth: usize,
    parent: Option<usize>,
    role: Role,
    name: String,
    description: String,
    states: StateSet,
    children: Vec<Obj>,
    extents: Option<(i32, i32, i32, i32)>,
    n_actions: i32,
    actions: Vec<String>,
}

/// Role, name, description, states, children, extents and action count of `obj`, all at once. `Err` only when
/// the element itself is gone or unreadable.
async fn read(conn: &zbus::Connection, obj: &Obj) -> zbus::Result<Raw> {
    let p: AccessibleProxy = proxy(conn, &obj.bus, &obj.path).await?;
    let c: ComponentProxy = proxy(conn, &obj.bus, &obj.path).await?;
    let a: ActionProxy = proxy(conn, &obj.bus, &obj.path).await?;
    let (role, name, description, states, children, extents, n_actions) = tokio::join!(
        p.get_role(),
        p.name(),
        p.description(),
        p.get_state(),
        p.get_children(),
        c.get_extents(CoordType::Screen),
        a.n_actions(),
    );
    Ok(Raw {
        obj: obj.clone(),
        depth: 0,
        parent: None,
        role: role?,
        name: clip(name.unwrap_or_default()),
        description: clip(description.unwrap_or_default()),
        states: states?,
        children: children
            .map(|c| c.iter().filter_map(Obj::of).collect())
            .unwrap_or_default(),
        // Without Component or Action the bridge answers UnknownMethod (a method) or Failed (a property, "Get
        // failed"): none. A vanished element already failed on its role or states.
        extents: extents.ok(),
        n_actions: n_actions.unwrap_or(0).clamp(0, MAX_ACTIONS),
        actions: Vec::new(),
    })
}

/// A walk's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest level below the window.
    pub depth: usize,
    /// Most elements.
    pub nodes: usize,
}

/// A walked tree.
#[derive(Debug)]
pub struct Tree {
    /// The window's element.
    pub root: Node,
    /// How many elements it has.
    pub count: usize,
    /// Why it was cut, when it was.
    pub truncated: Option<String>,
    /// Where its coordinates are.
    pub placement: Placement,
}

/// Walks `top`'s tree (window `w`, when one matched), level by level.
pub async fn walk(
    a11y: &A11y,
    conn: &zbus::Connection,
    top: &Obj,
    w: Option<&WindowInfo>,
    limits: Limits,
) -> Result<Tree, A11yError> {
    let mut raws: Vec<Raw> = Vec::new();
    let mut level: Vec<(Obj, usize, Option<usize>)> = vec![(top.clone(), 0, None)];
    let mut truncated = None;
    while !level.is_empty() {
        let read_all = join_all(level.iter().map(|(obj, _, _)| read(conn, obj))).await;
        let mut next = Vec::new();
        for ((obj, depth, parent), r) in level.into_iter().zip(read_all) {
            let mut raw = match r {
                Ok(raw) => raw,
                Err(e) if parent.is_none() => return Err(a11y.error(&obj.id(), e).await),
                // A child that vanished or will not answer is left out; the rest of the tree is still worth having.
                Err(_) => continue,
            };
            if parent.is_some() && !raw.states.contains(State::Showing) {
                continue;
            }
            if raw.states.contains(State::Defunct) {
                continue;
            }
            raw.depth = depth;
            raw.parent = parent;
            let me = raws.len();
            let kids = std::mem::take(&mut raw.children);
            raws.push(raw);
            if kids.is_empty() {
                continue;
            }
            if depth >= limits.depth {
                truncated.get_or_insert_with(|| {
                    format!(
                        "deeper than {} levels; the deepest are left out",
                        limits.depth
                    )
                });
                continue;
            }
            for k in kids {
                if raws.len() + next.len() >= limits.nodes {
                    truncated.get_or_insert_with(|| {
                        format!("more than {} elements; the rest are left out", limits.nodes)
                    });
                    break;
                }
                next.push((k, depth + 1, Some(me)));
            }
        }
        level = next;
    }
    name_actions(conn, &mut raws).await;
    let placement = match w {
        Some(w) => locate(conn, w, &raws).await,
        None => Placement::default(),
    };
    let count = raws.len();
    let mut root = assemble(raws, &placement);
    if let Some(w) = w {
        // The window's own extents include a window manager's frame; its client area is what list_windows shows.
        root.bounds = Some(Bounds {
            x: w.x,
            y: w.y,
            width: w.width as i32,
            height: w.height as i32,
        });
    }
    Ok(Tree {
        root,
        count,
        truncated,
        placement,
    })
}

/// Fills in the action names of every element that has actions, all at once.
async fn name_actions(conn: &zbus::Connection, raws: &mut [Raw]) {
    let asks = raws
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (0..r.n_actions).map(move |k| (i, k)));
    let named = join_all(asks.map(|(i, k)| {
        let obj = &raws[i].obj;
        async move {
            let a: ActionProxy = proxy(conn, &obj.bus, &obj.path).await.ok()?;
            a.get_name(k).await.ok().map(|n| (i, n))
        }
    }))
    .await;
    for (i, name) in named.into_iter().flatten() {
        if !name.is_empty() {
            raws[i].actions.push(name);
        }
    }
}

/// The window's placement from its first element with extents (one more call: its extents relative to the
/// window); the screen's origin at the desktop's when none answers.
async fn locate(conn: &zbus::Connection, w: &WindowInfo, raws: &[Raw]) -> Placement {
    let fallback = Placement {
        screen: w.screen.clone(),
        dx: 0,
        dy: 0,
    };
    let Some(probe) = raws
        .iter()
        .skip(1)
        .find(|r| r.extents.is_some_and(|(_, _, w, h)| w > 0 && h > 0))
    else {
        return fallback;
    };
    let relative = async {
        let c: ComponentProxy = proxy(conn, &probe.obj.bus, &probe.obj.path).await?;
        c.get_extents(CoordType::Window).await
    };
    match (relative.await, probe.extents) {
        (Ok(window), Some(screen)) => placement(w, screen, window),
        _ => fallback,
    }
}

/// The flat list (parents before children) as a tree.
fn assemble(raws: Vec<Raw>, placement: &Placement) -> Node {
    let mut nodes: Vec<Option<Node>> = Vec::with_capacity(raws.len());
    let mut parents = Vec::with_capacity(raws.len());
    for r in raws {
        parents.push(r.parent);
        nodes.push(Some(Node {
            id: r.obj.id(),
            role: r.role.name().to_owned(),
            name: r.name,
            description: r.description,
            states: r.states.iter().map(|s| s.to_static_str()).collect(),
            actions: r.actions,
            bounds: r
                .extents
                .map(|e| placement.bounds(e))
                .filter(|b| !b.is_empty()),
            children: Vec::new(),
        }));
    }
    // Children come after their parents, so folding from the end attaches every subtree complete.
    for i in (1..nodes.len()).rev() {
        let mut node = nodes[i].take().expect("each node is taken once");
        node.children.reverse();
        let parent = parents[i].expect("only the first node has no parent");
        nodes[parent]
            .as_mut()
            .expect("a parent comes before its children")
            .children
            .push(node);
    }
    let mut root = nodes
        .into_iter()
        .next()
        .flatten()
        .expect("the walk keeps its root");
    root.children.reverse();
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(title: &str, pid: Option<u32>, w: u32, h: u32) -> WindowInfo {
        WindowInfo {
            id: 1,
            title: title.into(),
            app: None,
            pid,
            screen: Some("0".into()),
            x: 101,
            y: 140,
            width: w,
            height: h,
            focused: true,
            minimized: false,
        }
    }

    fn top(title: &str, pid: Option<u32>, w: i32, h: i32) -> Frame {
        Frame {
            obj: Obj {
                bus: ":1.0".into(),
                path: "/a".into(),
            },
            pid,
            title: title.into(),
            states: StateSet::empty(),
            extents: Some((100, 120, w, h)),
        }
    }

    #[test]
    fn windows_match_top_levels_by_process_title_and_size() {
        let w = window("A11y Probe", Some(7), 168, 74);
        assert!(fit(&w, &top("A11y Probe", Some(7), 168, 74)).is_some());
        assert!(
            fit(&w, &top("A11y Probe", Some(8), 168, 74)).is_none(),
            "another process"
        );
        assert!(
            fit(&w, &top("Other", None, 300, 300)).is_none(),
            "nothing fits"
        );
        assert!(
            fit(&w, &top("Other", Some(7), 170, 99)).is_some(),
            "same process, decorated size"
        );
        let frames = [
            top("Other", Some(7), 168, 74),
            top("A11y Probe", Some(7), 170, 99),
        ];
        assert_eq!(frame_of(&w, &frames).unwrap().title, "A11y Probe");
    }

    #[test]
    fn placement_maps_desktop_extents_to_the_window_screen() {
        // A window whose client area is at (101, 140) of a screen whose left edge is desktop x 1920.
        let mut w = window("A", None, 168, 74);
        w.screen = Some("1".into());
        let p = placement(&w, (1920 + 111, 150, 50, 20), (10, 10, 50, 20));
        assert_eq!(
            p,
            Placement {
                screen: Some("1".into()),
                dx: 1920,
                dy: 0
            }
        );
        assert_eq!(
            p.bounds((1920 + 111, 150, 50, 20)),
            Bounds {
                x: 111,
                y: 150,
                width: 50,
                height: 20
            }
        );
    }
}
