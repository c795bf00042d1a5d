//! The device table: every device the hub knows — allowed (from `[devices] allowed`, enrolled or approved),
//! pending (refused, waiting for an admin) — with its link when online, when it was last heard from, its screens
//! (kept while offline), version and round-trip time.
//!
//! Plain data behind the hub's mutex, never held across an `.await` or any I/O: the registration decision
//! ([`Registry::admit`]) and every change take `now` and return what the caller must do (end a replaced link,
//! persist, publish an event), so they are tested without sockets.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use sightline_signaling::fleet::{Hello, RemoteScreen};

use super::upstream::LinkShared;
use crate::config::{DevicesConfig, parse_allowed};
use crate::control::{Error, echo};
use sightline_monitor::rfc3339;

/// One device as the hub knows it: connected, known from the allowed list, or pending approval.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceInfo {
    /// The device's stable id (lowercase hex).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is connected now.
    pub online: bool,
    /// `allowed` (in the allowed list), or `pending` (refused, waiting for an admin's approval).
    pub state: &'static str,
    /// When it was last heard from (RFC 3339, UTC); `None` if never since the hub started.
    pub last_seen: Option<String>,
    /// Its screens (the last announced while offline).
    pub screens: Vec<RemoteScreen>,
    /// Its sightline version (empty if never connected since the hub started).
    pub version: String,
    /// The link's round-trip time, ms (online only).
    pub rtt_ms: Option<f64>,
    /// Where it connected from (online only).
    pub remote: Option<String>,
}

/// Devices removed by an admin remembered for the hub's run, so open enrollment does not take them straight back;
/// the oldest removal is forgotten first.
pub const MAX_REMOVED: usize = 1024;

/// Where a device stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Standing {
    /// In `[devices] allowed`: it may connect.
    Allowed,
    /// Refused as unknown; an admin may approve it.
    Pending,
}

/// One device.
pub(super) struct Device {
    pub(super) id: String,
    /// The name the hub shows: the allowed list's, else the device's own.
    pub(super) name: String,
    /// The name in `[devices] allowed` (empty: none given there).
    pub(super) listed_name: String,
    pub(super) standing: Standing,
    /// The current link, while online.
    pub(super) link: Option<Arc<LinkShared>>,
    pub(super) last_seen: Option<SystemTime>,
    /// When its last link ended (for the viewers' message).
    pub(super) offline_at: Option<SystemTime>,
    pub(super) screens: Vec<RemoteScreen>,
    pub(super) version: String,
    pub(super) rtt_ms: Option<f64>,
    pub(super) remote: Option<String>,
}

impl Device {
    fn new(id: &str, listed_name: &str, standing: Standing) -> Self {
        Self {
            id: id.to_owned(),
            name: listed_name.to_owned(),
            listed_name: listed_name.to_owned(),
            standing,
            link: None,
            last_seen: None,
            offline_at: None,
            screens: Vec::new(),
            version: String::new(),
            rtt_ms: None,
            remote: None,
        }
    }

    pub(super) fn info(&self) -> DeviceInfo {
        DeviceInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            online: self.link.is_some(),
            state: match self.standing {
                Standing::Allowed => "allowed",
                Standing::Pending => "pending",
            },
            last_seen: self.last_seen.map(rfc3339),
            screens: self.screens.clone(),
            version: self.version.clone(),
            rtt_ms: self.link.as_ref().and(self.rtt_ms),
            remote: self.link.as_ref().and(self.remote.clone()),
        }
    }

    /// `device "kiosk" (0123…)`.
    pub(super) fn label(&self) -> String {
        crate::fleet::device_label(&self.name, &self.id)
    }
}

/// The decision on a hello.
pub(super) enum Admission {
    /// Accepted: the link is now the device's.
    Accept {
        /// Open enrollment added it to the allowed list (persist it, announce it).
        enrolled: bool,
        /// The device's previous link, to close with 4409.
        replaced: Option<Arc<LinkShared>>,
        /// The screens the previous link announced (to take out of the engine if not announced again).
        previous_screens: Vec<RemoteScreen>,
    },
    /// Refused with this reason.
    Refuse {
        reason: String,
        /// The device was (again) remembered as pending: announce it.
        pending: bool,
    },
}

/// What ending a link did.
pub(super) enum LinkDown {
    /// It was the device's current link: the device is offline now; its screens leave the engine.
    Offline,
    /// A newer link of the device took over: nothing to undo.
    Replaced,
    /// The device was removed meanwhile: its screens leave the engine, nothing else.
    Gone,
}

/// The table.
pub(super) struct Registry {
    /// `[devices] allowed` was empty at start-up: unknown devices are enrolled.
    open_enrollment: bool,
    max_devices: usize,
    max_pending: usize,
    devices: BTreeMap<String, Device>,
    /// Pending ids, oldest first.
    pending: VecDeque<String>,
    removed: VecDeque<String>,
}

impl Registry {
    pub(super) fn new(config: &DevicesConfig) -> Self {
        let mut devices = BTreeMap::new();
        for entry in &config.allowed {
            // The configuration was validated: every entry parses.
            if let Ok((id, name)) = parse_allowed(entry) {
                devices.insert(id.clone(), Device::new(&id, &name, Standing::Allowed));
            }
        }
        Self {
            open_enrollment: config.allowed.is_empty(),
            max_devices: config.max_devices,
            max_pending: config.max_pending,
            devices,
            pending: VecDeque::new(),
            removed: VecDeque::new(),
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<&Device> {
        self.devices.get(id)
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    fn online(&self) -> usize {
        self.devices.values().filter(|d| d.link.is_some()).count()
    }

    /// Decides on a checked hello arriving over `link`.
    pub(super) fn admit(
        &mut self,
        hello: &Hello,
        link: &Arc<LinkShared>,
        remote: Option<String>,
        now: SystemTime,
    ) -> Admission {
        let known = self
            .devices
            .get(&hello.id)
            .is_some_and(|d| d.standing == Standing::Allowed);
        let enroll = !known && self.open_enrollment && !self.removed.contains(&hello.id);
        if !known && !enroll {
            return self.refuse_unknown(hello, now);
        }
        let reconnecting = self
            .devices
            .get(&hello.id)
            .is_some_and(|d| d.link.is_some());
        if !reconnecting && self.online() >= self.max_devices {
            return Admission::Refuse {
                reason: format!(
                    "the hub already serves its limit of {} devices ([devices] max_devices); retry later",
                    self.max_devices
                ),
                pending: false,
            };
        }
        self.pending.retain(|p| p != &hello.id);
        let d = self
            .devices
            .entry(hello.id.clone())
            .or_insert_with(|| Device::new(&hello.id, &hello.name, Standing::Allowed));
        if enroll {
            d.standing = Standing::Allowed;
            d.listed_name = hello.name.clone();
        }
        d.name = link.name.clone();
        let replaced = d.link.replace(link.clone());
        let previous_screens = std::mem::replace(&mut d.screens, hello.screens.clone());
        d.version = hello.version.clone();
        d.last_seen = Some(now);
        d.offline_at = None;
        d.rtt_ms = None;
        d.remote = remote;
        Admission::Accept {
            enrolled: enroll,
            replaced,
            previous_screens,
        }
    }

    /// The name the hub shows for a device saying `hello`: the allowed list's, else its own.
    pub(super) fn shown_name(&self, hello: &Hello) -> String {
        match self.devices.get(&hello.id) {
            Some(d) if d.standing == Standing::Allowed && !d.listed_name.is_empty() => {
                d.listed_name.clone()
            }
            _ => hello.name.clone(),
        }
    }

    fn refuse_unknown(&mut self, hello: &Hello, now: SystemTime) -> Admission {
        let reason = format!(
            "device {} ({}) is not in [devices] allowed; an admin can approve it: POST /api/v1/devices/{}/approve",
            hello.id, hello.name, hello.id
        );
        self.pending.retain(|p| p != &hello.id);
        self.pending.push_back(hello.id.clone());
        let d = self
            .devices
            .entry(hello.id.clone())
            .or_insert_with(|| Device::new(&hello.id, &hello.name, Standing::Pending));
        d.name = hello.name.clone();
        d.listed_name = hello.name.clone();
        d.screens = hello.screens.clone();
        d.version = hello.version.clone();
        d.last_seen = Some(now);
        while self.pending.len() > self.max_pending {
            if let Some(old) = self.pending.pop_front() {
                self.devices.remove(&old);
            }
        }
        Admission::Refuse {
            reason,
            pending: true,
        }
    }

    /// Ends `link` of `id` at `now`.
    pub(super) fn link_down(&mut self, id: &str, link: u64, now: SystemTime) -> LinkDown {
        let Some(d) = self.devices.get_mut(id) else {
            return LinkDown::Gone;
        };
        if d.link.as_ref().is_none_or(|l| l.id != link) {
            return if d.standing == Standing::Allowed {
                LinkDown::Replaced
            } else {
                LinkDown::Gone
            };
        }
        d.link = None;
        d.last_seen = Some(now);
        d.offline_at = Some(now);
        d.rtt_ms = None;
        d.remote = None;
        LinkDown::Offline
    }

    /// The device's current link, if `link` is it (a replaced link changes nothing).
    fn current(&mut self, id: &str, link: u64) -> Option<&mut Device> {
        self.devices
            .get_mut(id)
            .filter(|d| d.link.as_ref().is_some_and(|l| l.id == link))
    }

    /// The device's new screen list; the previous one, when `link` is current.
    pub(super) fn set_screens(
        &mut self,
        id: &str,
        link: u64,
        screens: Vec<RemoteScreen>,
    ) -> Option<Vec<RemoteScreen>> {
        self.current(id, link)
            .map(|d| std::mem::replace(&mut d.screens, screens))
    }

    pub(super) fn heard(&mut self, id: &str, link: u64, now: SystemTime) {
        if let Some(d) = self.current(id, link) {
            d.last_seen = Some(now);
        }
    }

    pub(super) fn set_rtt(&mut self, id: &str, link: u64, rtt_ms: f64) {
        if let Some(d) = self.current(id, link) {
            d.rtt_ms = Some(rtt_ms);
        }
    }

    /// What approving `id` (optionally naming it) writes to the allowed list: `(id, name)`. Nothing changes yet.
    pub(super) fn approval(&self, id: &str, name: Option<&str>) -> Result<(String, String), Error> {
        sightline_signaling::fleet::check_device_id(id)
            .map_err(|why| Error::invalid(format!("{}: {why}", echo(id))))?;
        if let Some(n) = name {
            sightline_signaling::fleet::check_name(n).map_err(Error::invalid)?;
        }
        let name = match (name, self.devices.get(id)) {
            (Some(n), _) => n.to_owned(),
            (None, Some(d)) => d.listed_name.clone(),
            (None, None) => String::new(),
        };
        Ok((id.to_owned(), name))
    }

    /// Marks `id` allowed under `name` (after the list was persisted).
    pub(super) fn approve(&mut self, id: &str, name: &str) -> DeviceInfo {
        self.pending.retain(|p| p != id);
        self.removed.retain(|r| r != id);
        let d = self
            .devices
            .entry(id.to_owned())
            .or_insert_with(|| Device::new(id, name, Standing::Allowed));
        d.standing = Standing::Allowed;
        d.listed_name = name.to_owned();
        if !name.is_empty() {
            d.name = name.to_owned();
        }
        d.info()
    }

    /// Whether `id` is known (allowed or pending).
    pub(super) fn contains(&self, id: &str) -> bool {
        self.devices.contains_key(id)
    }

    /// Forgets `id` (after the list was persisted): its link, to close, and its name.
    pub(super) fn remove(&mut self, id: &str) -> Option<(Option<Arc<LinkShared>>, String)> {
        let d = self.devices.remove(id)?;
        self.pending.retain(|p| p != id);
        self.removed.retain(|r| r != id);
        self.removed.push_back(id.to_owned());
        while self.removed.len() > MAX_REMOVED {
            self.removed.pop_front();
        }
        Some((d.link, d.name))
    }
}
