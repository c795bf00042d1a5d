"""Moves the X pointer with XTest (as input devices and sightline's own input do), one move per line of stdin.

Each line `X Y` moves the pointer of the default screen there with XTestFakeMotionEvent, waits until the server has
processed it (XSync), and answers `ok` on stdout. xdotool's `mousemove` warps the pointer instead (XWarpPointer),
which input devices never do and which XInput2 raw events do not report.

Usage: DISPLAY=:N python3 xtest_mover.py
"""
import ctypes
import ctypes.util
import sys

x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
xtst = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")
x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ulong]

display = x11.XOpenDisplay(None)
if not display:
    sys.exit("xtest_mover: cannot open the display (DISPLAY unset or wrong)")
for line in sys.stdin:
    x, y = (int(v) for v in line.split())
    xtst.XTestFakeMotionEvent(display, -1, x, y, 0)
    x11.XSync(display, 0)
    sys.stdout.write("ok\n")
    sys.stdout.flush()
