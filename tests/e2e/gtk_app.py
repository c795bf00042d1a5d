"""A GTK 3 form for the accessibility tests (tests/a11y.rs): run with /usr/bin/python3 (python3-gi, gir1.2-gtk-3.0).

A window of a typical size (about 50 accessible elements: labels, entries, check boxes, radio buttons, a list, a
combo box, buttons), placed at --x/--y. What the user (or an agent) does is printed to stdout, one line each, so
the test reads the application's own account of it:

    ready <pid>                          the window is shown
    clicked: <name entry text>           the OK button was pressed
    tapped                               the tap area (a label in an event box: no accessible action) was clicked
    toggled: <check label> <on|off>      a check box changed
    keys: <text>                         the key pad (no editable text) got a key; its text so far
"""

import argparse
import os
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402


def say(line):
    print(line, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--title", default="Sightline A11y Form")
    p.add_argument("--x", type=int, default=100)
    p.add_argument("--y", type=int, default=120)
    a = p.parse_args()

    # A blinking caret repaints twice a second; the tests want a still screen.
    Gtk.Settings.get_default().set_property("gtk-cursor-blink", False)

    win = Gtk.Window(title=a.title)
    win.move(a.x, a.y)
    win.connect("destroy", Gtk.main_quit)

    outer = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6, margin=8)
    outer.pack_start(Gtk.Label(label="Contact details"), False, False, 0)

    grid = Gtk.Grid(column_spacing=8, row_spacing=4)
    entries = {}
    for row, field in enumerate(["Name", "Email", "City"]):
        label = Gtk.Label(label=field + ":", xalign=1.0)
        entry = Gtk.Entry()
        entry.get_accessible().set_name(field)
        label.set_mnemonic_widget(entry)
        grid.attach(label, 0, row, 1, 1)
        grid.attach(entry, 1, row, 1, 1)
        entries[field] = entry
    outer.pack_start(grid, False, False, 0)

    checks = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    for name in ["Newsletter", "Updates", "Terms"]:
        cb = Gtk.CheckButton(label=name)
        cb.connect("toggled", lambda b: say(f"toggled: {b.get_label()} {'on' if b.get_active() else 'off'}"))
        checks.pack_start(cb, False, False, 0)
    outer.pack_start(checks, False, False, 0)

    radios = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    first = None
    for name in ["Email me", "Call me"]:
        rb = Gtk.RadioButton.new_with_label_from_widget(first, name)
        first = first or rb
        radios.pack_start(rb, False, False, 0)
    outer.pack_start(radios, False, False, 0)

    combo = Gtk.ComboBoxText()
    for c in ["Red", "Green", "Blue"]:
        combo.append_text(c)
    combo.set_active(0)
    outer.pack_start(combo, False, False, 0)

    listbox = Gtk.ListBox()
    for item in ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]:
        listbox.add(Gtk.Label(label=item, xalign=0.0))
    outer.pack_start(listbox, False, False, 0)

    tap = Gtk.EventBox()
    tap.add(Gtk.Label(label="Tap area"))
    tap.connect("button-press-event", lambda *_: say("tapped"))
    outer.pack_start(tap, False, False, 0)

    # A focusable widget that takes keys but has no editable-text interface: set_text must type into it.
    pad = Gtk.DrawingArea(can_focus=True)
    pad.set_size_request(-1, 24)
    pad.get_accessible().set_name("Key pad")
    pad.add_events(Gdk.EventMask.KEY_PRESS_MASK | Gdk.EventMask.BUTTON_PRESS_MASK)
    typed = []

    def on_key(_w, ev):
        if ev.state & Gdk.ModifierType.CONTROL_MASK:
            return True
        if ev.keyval == Gdk.KEY_BackSpace:
            typed.clear()
        else:
            code = Gdk.keyval_to_unicode(ev.keyval)
            if code:
                typed.append(chr(code))
        say("keys: " + "".join(typed))
        return True

    pad.connect("key-press-event", on_key)
    pad.connect("button-press-event", lambda w, _e: w.grab_focus())
    outer.pack_start(pad, False, False, 0)

    buttons = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    ok = Gtk.Button(label="OK")
    ok.connect("clicked", lambda _b: say("clicked: " + entries["Name"].get_text()))
    cancel = Gtk.Button(label="Cancel")
    cancel.connect("clicked", lambda _b: say("cancelled"))
    buttons.pack_end(ok, False, False, 0)
    buttons.pack_end(cancel, False, False, 0)
    outer.pack_start(buttons, False, False, 0)

    win.add(outer)
    win.show_all()
    GLib.idle_add(lambda: say(f"ready {os.getpid()}") and False)
    Gtk.main()


if __name__ == "__main__":
    sys.exit(main())
