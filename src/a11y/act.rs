//! One element by its id: its states, its actions, its editable text, and where it is on which screen.

use atspi::proxy::accessible::AccessibleProxy;
use atspi::proxy::action::ActionProxy;
use atspi::proxy::component::ComponentProxy;
use atspi::proxy::editable_text::EditableTextProxy;
use atspi::proxy::text::TextProxy;
use atspi::zbus;
use atspi::{CoordType, State, StateSet};
use futures_util::future::join_all;
use sightline_media::WindowInfo;

use super::bus::A11y;
use super::bus::{Fault, fault, optional};
use super::types::{A11yError, Bounds, MAX_ACTIONS, MAX_DEPTH, clip, parse_id};
use super::walk::{Obj, Placement, frame, placement, proxy, window_of};

/// The path of an application's own object: a top-level's parent.
const APP_PATH: &str = "/org/a11y/atspi/accessible/root";

/// Action names that press an element, most specific first; an element with none of them gets its first action.
pub const PRESS_ACTIONS: [&str; 6] = ["click", "press", "activate", "toggle", "jump", "open"];

/// An element to act on.
#[derive(Debug)]
pub struct Element {
    a11y: A11y,
    conn: zbus::Connection,
    obj: Obj,
}

impl Element {
    /// Element `id` on the accessibility bus (connecting first if needed). Checks the id's form, not that it
    /// exists: [`Element::states`] does that.
    pub async fn open(a11y: &A11y, id: &str) -> Result<Element, A11yError> {
        let (bus, path) = parse_id(id)?;
        let conn = a11y.connection().await?;
        Ok(Element {
            a11y: a11y.clone(),
            conn,
            obj: Obj {
                bus: bus.to_owned(),
                path: path.to_owned(),
            },
        })
    }

    /// The element id.
    pub fn id(&self) -> String {
        self.obj.id()
    }

    async fn fail(&self, e: zbus::Error) -> A11yError {
        self.a11y.error(&self.id(), e).await
    }

    async fn p<T>(&self) -> Result<T, A11yError>
    where
        T: From<zbus::Proxy<'static>> + zbus::proxy::Defaults,
    {
        match proxy(&self.conn, &self.obj.bus, &self.obj.path).await {
            Ok(p) => Ok(p),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// Role name, name and states; [`A11yError::Gone`] when the element is gone (or defunct).
    pub async fn describe(&self) -> Result<(String, String, StateSet), A11yError> {
        let p: AccessibleProxy = self.p().await?;
        let (role, name, states) = tokio::join!(p.get_role(), p.name(), p.get_state());
        let states = match states {
            Ok(s) => s,
            Err(e) => return Err(self.fail(e).await),
        };
        if states.contains(State::Defunct) {
            return Err(A11yError::Gone(self.id()));
        }
        let role = role.map(|r| r.name().to_owned()).unwrap_or_default();
        Ok((role, clip(name.unwrap_or_default()), states))
    }

    /// Does the element's pressing action ([`PRESS_ACTIONS`], else its first); the action's name, or `None` when
    /// it has no actions. An application that refuses the action is an error.
    pub async fn press(&self) -> Result<Option<String>, A11yError> {
        let a: ActionProxy = self.p().await?;
        // A property of an interface the element lacks answers Failed ("Get failed"), not UnknownMethod.
        let n = match a.n_actions().await {
            Ok(n) => n.clamp(0, MAX_ACTIONS),
            Err(e) if fault(&e) == Fault::Gone => return Err(self.fail(e).await),
            Err(_) => 0,
        };
        if n == 0 {
            return Ok(None);
        }
        let names: Vec<String> = join_all((0..n).map(|i| a.get_name(i)))
            .await
            .into_iter()
            .map(|r| r.unwrap_or_default())
            .collect();
        let index = PRESS_ACTIONS
            .iter()
            .find_map(|want| names.iter().position(|n| n.eq_ignore_ascii_case(want)))
            .unwrap_or(0);
        let name = names[index].clone();
        match a.do_action(index as i32).await {
            Ok(true) => Ok(Some(name)),
            Ok(false) => Err(A11yError::Failed(format!(
                "the application refused action {name:?} of element {}",
                self.id()
            ))),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// Replaces the text through the EditableText interface: `Ok(false)` when the element lacks it or the
    /// application refused.
    pub async fn set_text_contents(&self, text: &str) -> Result<bool, A11yError> {
        let t: EditableTextProxy = self.p().await?;
        match optional(t.set_text_contents(text).await) {
            Ok(done) => Ok(done.unwrap_or(false)),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// The element's text through the Text interface, when it has one.
    pub async fn text(&self) -> Result<Option<String>, A11yError> {
        let t: TextProxy = self.p().await?;
        match optional(t.get_text(0, -1).await) {
            Ok(text) => Ok(text),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// Gives the element the keyboard focus; whether the application did.
    pub async fn grab_focus(&self) -> Result<bool, A11yError> {
        let c: ComponentProxy = self.p().await?;
        match optional(c.grab_focus().await) {
            Ok(done) => Ok(done.unwrap_or(false)),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// Where the element is: its bounds on its window's screen, and that screen (`None` when no X window of
    /// `windows` is its window: the bounds are then the desktop's). `None` when it has no place on screen.
    pub async fn locate(
        &self,
        windows: &[WindowInfo],
    ) -> Result<Option<(Placement, Bounds)>, A11yError> {
        let c: ComponentProxy = self.p().await?;
        let (screen, window) = tokio::join!(
            c.get_extents(CoordType::Screen),
            c.get_extents(CoordType::Window)
        );
        let screen = match optional(screen) {
            Ok(Some(s)) if s.2 > 0 && s.3 > 0 => s,
            Ok(_) => return Ok(None),
            Err(e) => return Err(self.fail(e).await),
        };
        let top = self.top_level().await?;
        let pid = async {
            let dbus: zbus::fdo::DBusProxy =
                proxy(&self.conn, "org.freedesktop.DBus", "/org/freedesktop/DBus")
                    .await
                    .ok()?;
            let name = zbus::names::BusName::try_from(self.obj.bus.as_str()).ok()?;
            dbus.get_connection_unix_process_id(name).await.ok()
        };
        let pid = pid.await;
        let place = match frame(&self.conn, top, pid).await {
            Some(f) => match (window_of(&f, windows), window) {
                (Some(w), Ok(window)) => placement(w, screen, window),
                (Some(w), Err(_)) => Placement {
                    screen: w.screen.clone(),
                    ..Placement::default()
                },
                (None, _) => Placement::default(),
            },
            None => Placement::default(),
        };
        let bounds = place.bounds(screen);
        Ok(Some((place, bounds)))
    }

    /// The element's top-level (frame, dialog, window): the ancestor whose parent is the application.
    async fn top_level(&self) -> Result<Obj, A11yError> {
        let mut cur = self.obj.clone();
        for _ in 0..=MAX_DEPTH {
            let p: AccessibleProxy = match proxy(&self.conn, &cur.bus, &cur.path).await {
                Ok(p) => p,
                Err(e) => return Err(self.fail(e).await),
            };
            let parent = match p.parent().await {
                Ok(r) => r,
                Err(e) => return Err(self.fail(e).await),
            };
            match Obj::of(&parent) {
                Some(up) if up.path != APP_PATH => cur = up,
                _ => return Ok(cur),
            }
        }
        Err(A11yError::Failed(format!(
            "element {} is more than {MAX_DEPTH} levels below its window",
            self.id()
        )))
    }
}
