#!/usr/bin/env python3
"""N light WebRTC receivers of sightline in ONE Python process, for issue 12's benchmark (tests/sfu_bench.rs).

Each receiver is a real viewer of sightline's /ws protocol with its own session: it authenticates, sends
`watch` (WebRTC), answers the offer (whoever made it: the gateway itself, or Janus through the gateway's broker),
trickles candidates and completes ICE, DTLS and SRTP with aiortc. Frames are COUNTED, never decoded, so 30
receivers fit beside a gateway and Janus on a two-core machine and what the benchmark measures is the sender's
cost, not the receivers' decoding. Two ways to count (`--count`):
  packets    (default) aiortc's per-packet receive path is replaced: every decrypted RTP packet is counted, a frame
             is counted at each marker bit (the last packet of a frame), an IDR by its NAL type, and losses by
             sequence gaps. No jitter buffer, no depacketizing, no NACK or PLI is ever sent: the receivers add no
             feedback work to the sender either, so both paths forward exactly the stream the encoder makes.
  frames     aiortc reassembles frames as usual (jitter buffer, NACKs, PLIs) and its decoder thread is replaced by
             one that counts the complete encoded frames and decodes nothing. Heavier (about 2.5 % of a core per
             receiver at 720p30 ~3 Mbit/s).

A second `offer` (the gateway moved the viewer, e.g. to local serving when an SFU died) replaces the peer
connection; the counts go on.

Run: .venv-e2e/bin/python tests/e2e/light_viewers.py N WS_URL TOKEN [--screen ID] [--interval S]
        [--seconds S] [--loopback] [--concurrency K] [--count packets|frames]
     WS_URL is the gateway's ws://HOST:PORT/ws. Without --seconds it runs until "stop" or end of stdin.
     --loopback offers only 127.0.0.1 host candidates (aioice skips loopback by default), for a gateway on lo;
     inside a network namespace leave it out (the namespace's own addresses are used).

Output: one JSON object per line on stdout (stderr is free-form log):
  {"event":"counts","t":MS,"ready":R,"viewers":[{"i":I,"session":S,"path":P,"state":C,"offers":O,
   "frames":F,"keyframes":K,"bytes":B,"packets":P,"lost":L,"first_frame_ms":T}...], "cpu_s":CPU}
      every --interval seconds (cumulative counts; "ready": how many have received a frame; "cpu_s": this
      process's CPU time so far)
  {"event":"ready","t":MS,"seconds":S}   once every viewer has received at least one frame (S: since start)
  {"event":"error","i":I,"error":E}      a viewer failed (the others go on)
  {"event":"result", ...counts}          the last line
"""

import argparse
import asyncio
import base64
import json
import os
import resource
import struct
import sys
import threading
import time
import urllib.parse

import aioice.ice
import aiortc.rtcrtpreceiver as rtcrtpreceiver
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

# Largest WebSocket message accepted from the gateway (its offers are a few KiB).
MAX_MESSAGE = 1 << 20
# How long to wait for `welcome` and the first `offer`.
SIGNAL_TIMEOUT = 20.0

# Counters per receiver, keyed by id() of the receiver (--count packets) or of its track's queue (what aiortc hands
# the decoder thread, --count frames). Each is written by one receiver only and read by the reporter.
COUNTERS: dict = {}
COUNTERS_LOCK = threading.Lock()


class Counter:
    __slots__ = ("frames", "keyframes", "bytes", "packets", "lost", "last_seq", "first_t")

    def __init__(self) -> None:
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0
        self.packets = 0
        self.lost = 0
        self.last_seq = None
        self.first_t = None


def counter_for(key) -> Counter:
    """The counter of a receiver track's queue (--count frames) or of a receiver (--count packets)."""
    with COUNTERS_LOCK:
        return COUNTERS.setdefault(id(key), Counter())


def is_idr(data: bytes) -> bool:
    """Whether an Annex B access unit (aiortc's depayloaded H.264) holds an IDR slice or an SPS."""
    i = 0
    n = len(data)
    # Only the first NAL units matter: SPS/PPS/IDR lead an IDR access unit.
    for _ in range(8):
        j = data.find(b"\x00\x00\x01", i)
        if j < 0 or j + 3 >= n:
            return False
        nal_type = data[j + 3] & 0x1F
        if nal_type in (5, 7):
            return True
        if nal_type == 1:
            return False
        i = j + 3
    return False


def counting_worker(loop, input_q, output_q, decode_error) -> None:
    """Stands in for aiortc's decoder_worker: counts encoded frames, decodes nothing, outputs nothing."""
    c = counter_for(output_q)
    while True:
        task = input_q.get()
        if task is None:
            asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
            break
        _codec, frame = task
        c.frames += 1
        c.bytes += len(frame.data)
        if c.first_t is None:
            c.first_t = time.time()
        if is_idr(frame.data):
            c.keyframes += 1


def starts_idr(payload: bytes) -> bool:
    """Whether an H.264 RTP payload (RFC 6184) starts an IDR access unit: its SPS, alone or first in a STAP-A
    (the encoders here put SPS and PPS in front of every IDR, and only there)."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal == 7:
        return True
    if nal == 24:  # STAP-A: 2-byte size, then the first NAL unit's header
        return len(payload) > 3 and (payload[3] & 0x1F) == 7
    return False


async def counting_rtp_handler(self, packet, arrival_time_ms: int) -> None:
    """Stands in for RTCRtpReceiver._handle_rtp_packet: counts, reassembles nothing, sends no feedback."""
    c = counter_for(self)
    c.packets += 1
    c.bytes += len(packet.payload)
    if c.last_seq is not None:
        gap = (packet.sequence_number - c.last_seq) & 0xFFFF
        if 1 < gap < 0x8000:
            c.lost += gap - 1
    c.last_seq = packet.sequence_number
    if starts_idr(packet.payload):
        c.keyframes += 1
    if packet.marker:
        c.frames += 1
        if c.first_t is None:
            c.first_t = time.time()


def install_counting(how: str) -> None:
    if how == "packets":
        rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet = counting_rtp_handler
    elif how == "frames":
        rtcrtpreceiver.decoder_worker = counting_worker
    else:
        raise SystemExit(f"--count must be packets or frames, not {how}")


def now_ms() -> int:
    return int(time.time() * 1000)


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(text: str) -> None:
    sys.stderr.write(f"light_viewers: {text}\n")
    sys.stderr.flush()


class WebSocket:
    """A minimal RFC 6455 client: text messages, pings answered, no extensions (the stdlib has none)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url: str) -> "WebSocket":
        u = urllib.parse.urlsplit(url)
        if u.scheme != "ws":
            raise ValueError(f"only ws:// URLs are supported: {url}")
        reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        if b" 101 " not in status:
            raise ConnectionError(f"upgrade refused: {status.decode(errors='replace').strip()}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    def _frame(self, opcode: int, payload: bytes) -> None:
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)

    async def send(self, obj: dict) -> None:
        self._frame(0x1, json.dumps(obj).encode())
        await self.writer.drain()

    async def recv(self) -> str:
        """The next text message (binary messages are skipped); raises ConnectionError on close."""
        parts = []
        while True:
            b0, b1 = await self.reader.readexactly(2)
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            if n > MAX_MESSAGE:
                raise ConnectionError(f"a {n}-byte frame")
            payload = await self.reader.readexactly(n)  # server frames are unmasked
            if opcode == 0x9:
                self._frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise ConnectionError(f"closed by the gateway ({code} {payload[2:].decode(errors='replace')})")
            parts.append(payload)
            if b0 & 0x80:
                data = b"".join(parts)
                parts = []
                if opcode in (0x1, 0x0):
                    return data.decode()

    def close(self) -> None:
        try:
            self._frame(0x8, struct.pack("!H", 1000))
            self.writer.close()
        except Exception:
            pass


class Viewer:
    def __init__(self, i: int) -> None:
        self.i = i
        self.session = None
        self.path = None
        self.state = "new"
        self.offers = 0
        # What the counters are keyed by, for every peer connection so far (the counts add up): the receiver
        # track queues (--count frames) and the receivers (--count packets).
        self.keys: list = []
        self.pc = None
        self.ws = None

    def counts(self) -> dict:
        frames = keyframes = nbytes = packets = lost = 0
        first = None
        for key in self.keys:
            c = counter_for(key)
            frames += c.frames
            keyframes += c.keyframes
            nbytes += c.bytes
            packets += c.packets
            lost += c.lost
            if c.first_t is not None and (first is None or c.first_t < first):
                first = c.first_t
        return {
            "i": self.i,
            "session": self.session,
            "path": self.path,
            "state": self.state,
            "offers": self.offers,
            "frames": frames,
            "keyframes": keyframes,
            "bytes": nbytes,
            "packets": packets,
            "lost": lost,
            "first_frame_ms": int(first * 1000) if first else None,
        }

    async def answer(self, msg: dict, pending: list) -> None:
        if self.pc is not None:
            await self.pc.close()
        self.offers += 1
        self.path = msg.get("path") or "local"
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc

        @pc.on("track")
        def on_track(track) -> None:
            self.keys.append(track._queue)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if self.pc is pc:
                self.state = pc.connectionState

        await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="offer"))
        self.keys.extend(pc.getReceivers())
        for c in pending:
            await self.add_candidate(c)
        pending.clear()
        await pc.setLocalDescription(await pc.createAnswer())
        # aiortc gathers before returning: the answer carries every candidate.
        await self.ws.send({"type": "answer", "sdp": pc.localDescription.sdp})
        await self.ws.send({"type": "candidate", "candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})

    async def add_candidate(self, msg: dict) -> None:
        text = msg.get("candidate") or ""
        if text.startswith("candidate:"):
            text = text[len("candidate:") :]
        if not text or ".local" in text:
            return
        c = candidate_from_sdp(text)
        c.sdpMid = msg.get("sdpMid")
        c.sdpMLineIndex = msg.get("sdpMLineIndex")
        await self.pc.addIceCandidate(c)

    async def run(self, url: str, token: str, screen: str, opened: asyncio.Semaphore) -> None:
        async with opened:
            self.ws = await WebSocket.connect(url)
            await self.ws.send({"type": "auth", "token": token})
            welcome = await self.expect("welcome")
            self.session = welcome.get("session")
            if not screen:
                screens = welcome.get("screens") or []
                primary = [s for s in screens if s.get("primary")] or screens
                if not primary:
                    raise RuntimeError(f"the gateway has no screen: {welcome}")
                screen = primary[0]["id"]
            await self.ws.send({"type": "watch", "screen": screen, "transport": "webrtc"})
            pending: list = []
            offer = await self.expect("offer", pending)
            await self.answer(offer, pending)
        while True:
            msg = json.loads(await self.ws.recv())
            await self.handle(msg, pending)

    async def expect(self, kind: str, pending=None) -> dict:
        async def wait() -> dict:
            while True:
                msg = json.loads(await self.ws.recv())
                if msg.get("type") == kind:
                    return msg
                if msg.get("type") == "error":
                    raise RuntimeError(f"the gateway refused: {msg}")
                if msg.get("type") == "candidate" and pending is not None:
                    pending.append(msg)

        return await asyncio.wait_for(wait(), SIGNAL_TIMEOUT)

    async def handle(self, msg: dict, pending: list) -> None:
        kind = msg.get("type")
        if kind == "offer":
            await self.answer(msg, pending)
        elif kind == "candidate":
            if self.pc is not None and self.pc.remoteDescription is not None:
                await self.add_candidate(msg)
            else:
                pending.append(msg)
        elif kind in ("stopped", "fallback", "error"):
            log(f"viewer {self.i}: {msg}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("ws_url")
    ap.add_argument("token")
    ap.add_argument("--screen", default="", help="screen id (default: the primary screen)")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--loopback", action="store_true")
    ap.add_argument("--concurrency", type=int, default=4, help="viewers signalling at once")
    ap.add_argument("--count", default="packets", help="packets (default) or frames, see the top of the file")
    args = ap.parse_args()
    install_counting(args.count)
    if args.loopback:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

    start = time.time()
    viewers = [Viewer(i) for i in range(args.n)]
    opened = asyncio.Semaphore(max(1, args.concurrency))

    async def guarded(v: Viewer) -> None:
        try:
            await v.run(args.ws_url, args.token, args.screen, opened)
        except Exception as e:  # one failed viewer is reported, the others go on
            v.state = "error"
            emit({"event": "error", "i": v.i, "error": f"{type(e).__name__}: {e}"})

    tasks = [asyncio.ensure_future(guarded(v)) for v in viewers]

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line or line.strip() == "stop":
            loop.remove_reader(sys.stdin)
            stop.set()

    if args.seconds <= 0:
        loop.add_reader(sys.stdin, on_stdin)

    def counts() -> dict:
        vs = [v.counts() for v in viewers]
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "t": now_ms(),
            "ready": sum(1 for v in vs if v["frames"] > 0),
            "viewers": vs,
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
        }

    said_ready = False
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), args.interval)
        except asyncio.TimeoutError:
            pass
        c = counts()
        emit({"event": "counts", **c})
        if not said_ready and c["ready"] == args.n:
            said_ready = True
            emit({"event": "ready", "t": c["t"], "seconds": round(time.time() - start, 2)})
        if args.seconds > 0 and time.time() - start >= args.seconds:
            break

    for t in tasks:
        t.cancel()
    for v in viewers:
        if v.ws is not None:
            v.ws.close()
        if v.pc is not None:
            await v.pc.close()
    emit({"event": "result", **counts()})


if __name__ == "__main__":
    asyncio.run(main())
