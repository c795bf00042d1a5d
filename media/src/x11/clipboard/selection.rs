//! The clipboard thread's X side: its connection and window, the selections it owns and serves, and reading
//! selections other applications own (with INCR transfers and size checks before any data is fetched).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::xfixes::{self, ConnectionExt as _, SelectionEventMask};
use x11rb::protocol::xproto::{
    self, AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, CreateWindowAux, EventMask,
    PropMode, Property, SelectionNotifyEvent, SelectionRequestEvent, Timestamp, Window,
    WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use super::{Atoms, MAX_OUTGOING, Target, bump, encode, incr_threshold, offered, slot};
use crate::MediaError;
use crate::clipboard::{
    CLIPBOARD_TIMEOUT, ClipboardData, ClipboardKind, ClipboardSerials, Selection, check_size,
    from_latin1, from_utf8_lossy, too_large,
};
use crate::x11::display::{DisplayTarget, XError};

/// The largest TARGETS list read (16384 atoms).
const TARGETS_MAX: usize = 64 * 1024;

/// What this process offers on a selection it owns.
struct Owned {
    data: ClipboardData,
    time: Timestamp,
}

/// An INCR transfer we serve: the next chunk goes out when the requestor deletes the property.
struct Outgoing {
    requestor: Window,
    property: xproto::Atom,
    type_: xproto::Atom,
    data: Arc<[u8]>,
    sent: usize,
    deadline: Instant,
}

/// The thread's X connection and what it owns.
pub(super) struct XSide {
    conn: RustConnection,
    window: Window,
    atoms: Atoms,
    owned: [Option<Owned>; 2],
    outgoing: Vec<Outgoing>,
    chunk: usize,
}

impl XSide {
    pub(super) fn connect(target: &DisplayTarget) -> Result<Self, XError> {
        let conn = target.connect()?;
        if conn
            .extension_information(xfixes::X11_EXTENSION_NAME)?
            .is_none()
        {
            return Err(XError::Refused(MediaError::Unavailable(
                "the X server has no XFIXES extension: clipboard changes cannot be watched".into(),
            )));
        }
        conn.xfixes_query_version(5, 0)?.reply()?;
        let atoms = Atoms::new(&conn)?.reply()?;
        let root = conn
            .setup()
            .roots
            .first()
            .map(|s| s.root)
            .ok_or_else(|| XError::Protocol("the X server has no screen".into()))?;
        let window = conn.generate_id()?;
        let aux = CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE);
        conn.create_window(
            0,
            window,
            root,
            -1,
            -1,
            1,
            1,
            0,
            WindowClass::INPUT_ONLY,
            0,
            &aux,
        )?
        .check()?;
        let mask = SelectionEventMask::SET_SELECTION_OWNER
            | SelectionEventMask::SELECTION_WINDOW_DESTROY
            | SelectionEventMask::SELECTION_CLIENT_CLOSE;
        for selection in [atoms.CLIPBOARD, AtomEnum::PRIMARY.into()] {
            conn.xfixes_select_selection_input(window, selection, mask)?
                .check()?;
        }
        let chunk = incr_threshold(conn.maximum_request_bytes());
        Ok(Self {
            conn,
            window,
            atoms,
            owned: [None, None],
            outgoing: Vec::new(),
            chunk,
        })
    }

    fn atom_of(&self, selection: Selection) -> xproto::Atom {
        match selection {
            Selection::Clipboard => self.atoms.CLIPBOARD,
            Selection::Primary => AtomEnum::PRIMARY.into(),
        }
    }

    fn selection_of(&self, atom: xproto::Atom) -> Option<Selection> {
        if atom == self.atoms.CLIPBOARD {
            Some(Selection::Clipboard)
        } else if atom == u32::from(AtomEnum::PRIMARY) {
            Some(Selection::Primary)
        } else {
            None
        }
    }

    fn target_of(&self, atom: xproto::Atom) -> Option<Target> {
        let a = &self.atoms;
        let table = [
            (a.TARGETS, Target::Targets),
            (a.TIMESTAMP, Target::Timestamp),
            (a.UTF8_STRING, Target::Utf8String),
            (AtomEnum::STRING.into(), Target::String),
            (a.TEXT, Target::Text),
            (a.TEXT_PLAIN_UTF8, Target::TextPlainUtf8),
            (a.TEXT_PLAIN, Target::TextPlain),
            (a.IMAGE_PNG, Target::Png),
        ];
        table.iter().find(|(x, _)| *x == atom).map(|(_, t)| *t)
    }

    fn atom_for(&self, target: Target) -> xproto::Atom {
        let a = &self.atoms;
        match target {
            Target::Targets => a.TARGETS,
            Target::Timestamp => a.TIMESTAMP,
            Target::Utf8String => a.UTF8_STRING,
            Target::Text => a.TEXT,
            Target::String => AtomEnum::STRING.into(),
            Target::TextPlainUtf8 => a.TEXT_PLAIN_UTF8,
            Target::TextPlain => a.TEXT_PLAIN,
            Target::Png => a.IMAGE_PNG,
        }
    }

    /// Handles everything the server sent, without blocking, and drops INCR transfers their reader abandoned.
    pub(super) fn pump(&mut self, serials: &watch::Sender<ClipboardSerials>) -> Result<(), XError> {
        while let Some(event) = self.conn.poll_for_event()? {
            self.on_event(event, serials)?;
        }
        let now = Instant::now();
        self.outgoing.retain(|o| o.deadline > now);
        self.conn.flush()?;
        Ok(())
    }

    /// Waits up to `deadline` for the event `wanted` picks, handling every other event meanwhile.
    fn wait_for(
        &mut self,
        deadline: Instant,
        what: &str,
        serials: &watch::Sender<ClipboardSerials>,
        wanted: impl Fn(&Event) -> bool,
    ) -> Result<Event, XError> {
        loop {
            while let Some(event) = self.conn.poll_for_event()? {
                if wanted(&event) {
                    return Ok(event);
                }
                self.on_event(event, serials)?;
            }
            self.conn.flush()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(XError::Refused(MediaError::Display(format!(
                    "{what} did not answer within {CLIPBOARD_TIMEOUT:?}"
                ))));
            }
            crate::x11::display::wait_readable(
                "X11 clipboard",
                &[self.conn.stream().as_raw_fd()],
                left,
            );
        }
    }

    fn on_event(
        &mut self,
        event: Event,
        serials: &watch::Sender<ClipboardSerials>,
    ) -> Result<(), XError> {
        match event {
            Event::XfixesSelectionNotify(e) => {
                if let Some(selection) = self.selection_of(e.selection) {
                    bump(serials, selection);
                }
            }
            Event::SelectionClear(e) if e.owner == self.window => {
                if let Some(selection) = self.selection_of(e.selection) {
                    self.owned[slot(selection)] = None;
                }
            }
            Event::SelectionRequest(e) => self.serve(&e)?,
            Event::PropertyNotify(e) if e.state == Property::DELETE => self.next_chunk(&e)?,
            // Errors of requests sent without waiting: a requestor window that vanished mid-transfer.
            Event::Error(e) => {
                tracing::debug!(error = ?XError::from_x11(&e), "X11 clipboard")
            }
            _ => {}
        }
        Ok(())
    }

    /// Answers a reader of a selection we own.
    fn serve(&mut self, req: &SelectionRequestEvent) -> Result<(), XError> {
        let property = if req.property == u32::from(AtomEnum::NONE) {
            req.target // obsolete clients
        } else {
            req.property
        };
        let answered = self.answer(req, property)?;
        let notify = SelectionNotifyEvent {
            response_type: xproto::SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: req.time,
            requestor: req.requestor,
            selection: req.selection,
            target: req.target,
            property: if answered {
                property
            } else {
                AtomEnum::NONE.into()
            },
        };
        self.conn
            .send_event(false, req.requestor, EventMask::NO_EVENT, notify)?;
        Ok(())
    }

    /// Writes the requested conversion to the requestor's property; `false` refuses it.
    fn answer(
        &mut self,
        req: &SelectionRequestEvent,
        property: xproto::Atom,
    ) -> Result<bool, XError> {
        let Some(selection) = self.selection_of(req.selection) else {
            return Ok(false);
        };
        let Some(owned) = self.owned[slot(selection)].as_ref() else {
            return Ok(false);
        };
        if req.owner != self.window {
            return Ok(false);
        }
        let Some(target) = self.target_of(req.target) else {
            return Ok(false); // MULTIPLE and everything we do not offer
        };
        let (requestor, time) = (req.requestor, owned.time);
        match target {
            Target::Targets => {
                let atoms: Vec<u32> = offered(&owned.data)
                    .into_iter()
                    .map(|t| self.atom_for(t))
                    .collect();
                self.conn.change_property32(
                    PropMode::REPLACE,
                    requestor,
                    property,
                    AtomEnum::ATOM,
                    &atoms,
                )?;
            }
            Target::Timestamp => {
                self.conn.change_property32(
                    PropMode::REPLACE,
                    requestor,
                    property,
                    AtomEnum::INTEGER,
                    &[time],
                )?;
            }
            _ => {
                if !offered(&owned.data).contains(&target) {
                    return Ok(false);
                }
                let Some(bytes) = encode(&owned.data, target) else {
                    return Ok(false);
                };
                // TEXT lets the owner choose the encoding: UTF-8.
                let type_ = match target {
                    Target::Text => self.atoms.UTF8_STRING,
                    _ => self.atom_for(target),
                };
                if bytes.len() <= self.chunk {
                    self.conn.change_property8(
                        PropMode::REPLACE,
                        requestor,
                        property,
                        type_,
                        &bytes,
                    )?;
                    return Ok(true);
                }
                if self.outgoing.len() >= MAX_OUTGOING {
                    tracing::warn!("X11 clipboard: too many large transfers at once; refusing one");
                    return Ok(false);
                }
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                let aux = ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE);
                self.conn.change_window_attributes(requestor, &aux)?;
                self.conn.change_property32(
                    PropMode::REPLACE,
                    requestor,
                    property,
                    self.atoms.INCR,
                    &[len],
                )?;
                self.outgoing.push(Outgoing {
                    requestor,
                    property,
                    type_,
                    data: bytes.into(),
                    sent: 0,
                    deadline: Instant::now() + CLIPBOARD_TIMEOUT,
                });
            }
        }
        Ok(true)
    }

    /// Sends the next INCR chunk once the reader deleted the previous one; an empty chunk ends the transfer.
    fn next_chunk(&mut self, e: &xproto::PropertyNotifyEvent) -> Result<(), XError> {
        let Some(i) = self
            .outgoing
            .iter()
            .position(|o| o.requestor == e.window && o.property == e.atom)
        else {
            return Ok(());
        };
        let o = &mut self.outgoing[i];
        let end = (o.sent + self.chunk).min(o.data.len());
        let piece = &o.data[o.sent..end];
        self.conn
            .change_property8(PropMode::REPLACE, o.requestor, o.property, o.type_, piece)?;
        o.deadline = Instant::now() + CLIPBOARD_TIMEOUT;
        if piece.is_empty() {
            let requestor = o.requestor;
            self.outgoing.swap_remove(i);
            if !self.outgoing.iter().any(|o| o.requestor == requestor) {
                let aux = ChangeWindowAttributesAux::new().event_mask(EventMask::NO_EVENT);
                self.conn.change_window_attributes(requestor, &aux)?;
            }
        } else {
            o.sent = end;
        }
        Ok(())
    }

    /// The server's current time: the timestamp of a zero-length append to our own window's property.
    fn server_time(
        &mut self,
        serials: &watch::Sender<ClipboardSerials>,
    ) -> Result<Timestamp, XError> {
        let (window, atom) = (self.window, self.atoms.TIME);
        self.conn
            .change_property8(PropMode::APPEND, window, atom, AtomEnum::STRING, &[])?;
        let deadline = Instant::now() + CLIPBOARD_TIMEOUT;
        let event = self.wait_for(
            deadline,
            "the X server",
            serials,
            |e| matches!(e, Event::PropertyNotify(p) if p.window == window && p.atom == atom),
        )?;
        match event {
            Event::PropertyNotify(p) => Ok(p.time),
            _ => Err(XError::Protocol("unexpected event".into())),
        }
    }

    pub(super) fn set(
        &mut self,
        selection: Selection,
        data: ClipboardData,
        serials: &watch::Sender<ClipboardSerials>,
    ) -> Result<(), XError> {
        let time = self.server_time(serials)?;
        let atom = self.atom_of(selection);
        self.conn.set_selection_owner(self.window, atom, time)?;
        let owner = self.conn.get_selection_owner(atom)?.reply()?.owner;
        // Events sent before that reply (a stale SelectionClear, our own owner change) are handled first, so
        // the serial is bumped before `set` returns and nothing older clears the new content.
        while let Some(event) = self.conn.poll_for_event()? {
            self.on_event(event, serials)?;
        }
        if owner != self.window {
            return Err(XError::Refused(MediaError::Display(format!(
                "another application kept the {} selection",
                selection.as_str()
            ))));
        }
        self.owned[slot(selection)] = Some(Owned { data, time });
        Ok(())
    }

    pub(super) fn get(
        &mut self,
        selection: Selection,
        kind: ClipboardKind,
        max_bytes: usize,
        serials: &watch::Sender<ClipboardSerials>,
    ) -> Result<Option<ClipboardData>, XError> {
        let atom = self.atom_of(selection);
        let owner = self.conn.get_selection_owner(atom)?.reply()?.owner;
        if owner == u32::from(AtomEnum::NONE) {
            return Ok(None);
        }
        if owner == self.window {
            return match &self.owned[slot(selection)] {
                Some(o) if o.data.kind() == kind => {
                    check_size(o.data.len(), max_bytes).map_err(XError::Refused)?;
                    Ok(Some(o.data.clone()))
                }
                _ => Ok(None),
            };
        }
        let deadline = Instant::now() + CLIPBOARD_TIMEOUT;
        let a = self.atoms;
        let string = u32::from(AtomEnum::STRING);
        let wanted = match kind {
            ClipboardKind::Text => vec![a.UTF8_STRING, string],
            ClipboardKind::Image => vec![a.IMAGE_PNG],
        };
        // Owners answer targets they do not offer with whatever they hold (xclip does), so only targets listed in
        // TARGETS are asked for; owners without TARGETS (rare, old) are asked directly.
        let listed = self
            .convert(atom, a.TARGETS, TARGETS_MAX, deadline, serials)?
            .filter(|(type_, _)| *type_ == u32::from(AtomEnum::ATOM) || *type_ == a.TARGETS)
            .map(|(_, v)| -> Vec<u32> {
                v.chunks_exact(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            });
        for target in wanted {
            if listed.as_ref().is_some_and(|l| !l.contains(&target)) {
                continue;
            }
            let Some((type_, bytes)) = self.convert(atom, target, max_bytes, deadline, serials)?
            else {
                continue;
            };
            let text_types = [a.UTF8_STRING, a.TEXT, a.TEXT_PLAIN_UTF8, a.TEXT_PLAIN];
            match kind {
                ClipboardKind::Image if type_ == a.IMAGE_PNG => {
                    return Ok(Some(ClipboardData::Png(bytes)));
                }
                ClipboardKind::Text if type_ == string => {
                    return Ok(Some(ClipboardData::Text(from_latin1(&bytes))));
                }
                ClipboardKind::Text if text_types.contains(&type_) => {
                    return Ok(Some(ClipboardData::Text(from_utf8_lossy(bytes))));
                }
                // Content of another type than asked for: not what the reader wants.
                _ => {}
            }
        }
        Ok(None)
    }

    /// Asks the owner for `target` and reads the answer, with its type; `None` when the owner refuses it.
    fn convert(
        &mut self,
        selection: xproto::Atom,
        target: xproto::Atom,
        max_bytes: usize,
        deadline: Instant,
        serials: &watch::Sender<ClipboardSerials>,
    ) -> Result<Option<(xproto::Atom, Vec<u8>)>, XError> {
        let (window, property) = (self.window, self.atoms.TRANSFER);
        self.conn.delete_property(window, property)?;
        self.conn
            .convert_selection(window, selection, target, property, x11rb::CURRENT_TIME)?;
        let event = self.wait_for(deadline, "the selection's owner", serials, |e| {
            matches!(e, Event::SelectionNotify(n)
                if n.requestor == window && n.selection == selection && n.target == target)
        })?;
        let Event::SelectionNotify(notify) = event else {
            return Ok(None);
        };
        if notify.property == u32::from(AtomEnum::NONE) {
            return Ok(None);
        }
        let head = self
            .conn
            .get_property(false, window, property, AtomEnum::ANY, 0, 1)?
            .reply()?;
        if head.type_ == u32::from(AtomEnum::NONE) {
            return Ok(None);
        }
        if head.type_ == self.atoms.INCR {
            let announced = head.value32().and_then(|mut v| v.next()).unwrap_or(0);
            return self
                .read_incr(announced as usize, max_bytes, deadline, serials)
                .map(Some);
        }
        let total = head.value.len() + head.bytes_after as usize;
        if let Err(e) = check_size(total, max_bytes) {
            self.conn.delete_property(window, property)?;
            return Err(XError::Refused(e));
        }
        let words = u32::try_from(total.div_ceil(4)).unwrap_or(u32::MAX);
        let reply = self
            .conn
            .get_property(true, window, property, AtomEnum::ANY, 0, words)?
            .reply()?;
        Ok(Some((reply.type_, reply.value)))
    }

    /// Reads an INCR transfer: deleting the property asks for each next chunk; an empty chunk ends it. Content
    /// announced (or growing) over `max_bytes` is refused: its remaining chunks are deleted unread (only their
    /// sizes are fetched, so the error names the whole size and the owner is not left waiting).
    fn read_incr(
        &mut self,
        announced: usize,
        max_bytes: usize,
        deadline: Instant,
        serials: &watch::Sender<ClipboardSerials>,
    ) -> Result<(xproto::Atom, Vec<u8>), XError> {
        let (window, property) = (self.window, self.atoms.TRANSFER);
        let mut type_ = u32::from(AtomEnum::NONE);
        let mut over = announced > max_bytes;
        let mut seen = 0;
        let mut data = Vec::with_capacity(if over { 0 } else { announced });
        self.conn.delete_property(window, property)?;
        loop {
            let waited = self.wait_for(deadline, "the selection's owner", serials, |e| {
                matches!(e, Event::PropertyNotify(p)
                    if p.window == window && p.atom == property && p.state == Property::NEW_VALUE)
            });
            if waited.is_err() && over {
                // The owner stopped sending what is refused anyway.
                return Err(XError::Refused(too_large(seen.max(announced), max_bytes)));
            }
            waited?;
            let head = self
                .conn
                .get_property(false, window, property, AtomEnum::ANY, 0, 0)?
                .reply()?;
            let size = head.bytes_after as usize;
            if size == 0 {
                self.conn.delete_property(window, property)?;
                if over {
                    return Err(XError::Refused(too_large(seen.max(announced), max_bytes)));
                }
                return Ok((type_, data));
            }
            seen += size;
            over |= seen > max_bytes;
            if over {
                self.conn.delete_property(window, property)?;
                continue;
            }
            let words = u32::try_from(size.div_ceil(4)).unwrap_or(u32::MAX);
            let chunk = self
                .conn
                .get_property(true, window, property, AtomEnum::ANY, 0, words)?
                .reply()?;
            type_ = chunk.type_;
            data.extend_from_slice(&chunk.value);
        }
    }

    /// The connection's socket, to wait on.
    pub(super) fn fd(&self) -> RawFd {
        self.conn.stream().as_raw_fd()
    }
}
