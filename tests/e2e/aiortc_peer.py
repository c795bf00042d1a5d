#!/usr/bin/env python3
"""A scripted aiortc WebRTC peer that receives and DECODES sightline's H.264 video.

It is an independent WebRTC stack (aiortc + PyAV/FFmpeg), used by the Rust tests to prove that what sightline
sends is real, decodable WebRTC — not only something webrtc-rs can read back.

Run: .venv-e2e/bin/python tests/e2e/aiortc_peer.py [--rcvbuf BYTES]
     (loopback only: host candidates are 127.0.0.1; --rcvbuf sets SO_RCVBUF of the ICE sockets, to emulate a
     receiver with a small socket buffer — Linux doubles the value and applies its minimum)

Protocol: one JSON object per line. Commands arrive on stdin, events leave on stdout (stderr is free-form log).
Every event carries "t_ms", the wall clock in milliseconds since the Unix epoch when it was emitted (for
"frame": when the frame came out of the decoder), so the caller can compute latencies against its own clock
(same host).

Commands (stdin)
  {"cmd": "offer", "sdp": S}        sightline offered (WS /ws flow): answer it. Emits "answer" with all local
                                     candidates inside the SDP (aiortc gathers before answering).
  {"cmd": "create_offer", "datachannel": true|false}
                                     WHEP flow: create a recvonly video offer (plus a "control" data channel when
                                     asked). Emits "offer" with all local candidates inside the SDP.
  {"cmd": "answer", "sdp": S}       the answer to our "create_offer".
  {"cmd": "candidate", "candidate": C, "sdpMid": M, "sdpMLineIndex": I}
                                     a trickled remote candidate; an empty or missing C means end-of-candidates.
  {"cmd": "send", "text": T}        send T on the data channel (emits "error" when none is open).
  {"cmd": "pli"}                    send an RTCP PLI for the received video stream. Emits "pli_sent".
  {"cmd": "stats"}                  emits "stats".
  {"cmd": "reset"}                  close the peer connection (emits "closed") and start a fresh one in the same
                                     process; emits "reset". Saves the interpreter's start-up between many peers.
  {"cmd": "close"}                  close the peer connection, emit "closed", exit 0.
  End of stdin behaves like "close".

Events (stdout)
  {"type": "ready"}                                  the script is listening
  {"type": "answer" | "offer", "sdp": S}
  {"type": "state", "state": connectionState}        "connecting", "connected", "failed", "closed", ...
  {"type": "track", "kind": K}
  {"type": "frame", "n": N, "width": W, "height": H, "key": bool, "pts": P, "barcode_ms": B | null}
                                                     one per decoded video frame; "barcode_ms" is the capture time
                                                     read from sightline's synthetic-screen barcode, when present
  {"type": "burst", "packets": N, "spread_ms": S}  one per received frame of at least BURST_PACKETS RTP packets
                                                     (keyframes): time from its first to its last packet
  {"type": "dc_open", "label": L}
  {"type": "dc_message", "label": L, "text": T}      text received on a data channel
                                                     (a text starting with "echo:" is also sent straight back)
  {"type": "dc_close", "label": L}
  {"type": "pli_sent", "ssrc": S}
  {"type": "stats", "frames": N, "keyframes": K, "width": W, "height": H, "first_frame_t_ms": T | null,
                    "connected_t_ms": T | null, "decode_errors": E}
  {"type": "error", "message": M}
  {"type": "closed"}
"""

import argparse
import asyncio
import json
import socket
import sys
import time

import aioice.ice
import numpy  # noqa: F401  (imported now: PyAV imports it lazily on the first to_ndarray, ~0.3 s)

# aioice skips 127.0.0.1 when listing host addresses; loopback-only tests need exactly that address.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import (  # noqa: E402  (the patch above must come first)
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from aiortc.rtcrtpreceiver import RTCRtpReceiver  # noqa: E402
from aiortc.sdp import candidate_from_sdp  # noqa: E402

# Frames of at least this many packets get a "burst" event (a 720p/1080p keyframe is 15–250 packets).
BURST_PACKETS = 20

# Barcode of sightline's synthetic screen (media/src/barcode.rs): 64 cells across the full width in the top
# H_bar = max(8, W // 64) rows; white = 1, black = 0, MSB first; bits 0..48 = capture ms since the epoch (low 48
# bits), bits 48..64 = (t & 0xFFFF) ^ ((t >> 16) & 0xFFFF) ^ ((t >> 32) & 0xFFFF) ^ 0xA5A5.
BARCODE_CELLS = 64


def now_ms() -> int:
    return int(time.time() * 1000)


def emit(event: dict) -> None:
    event.setdefault("t_ms", now_ms())
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def log(text: str) -> None:
    sys.stderr.write(f"aiortc_peer: {text}\n")
    sys.stderr.flush()


def set_rcvbuf(size: int) -> None:
    """Makes every ICE socket aioice opens use SO_RCVBUF = size."""
    original = aioice.ice.StunProtocol.connection_made

    def connection_made(self, transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        original(self, transport)

    aioice.ice.StunProtocol.connection_made = connection_made


def measure_bursts() -> None:
    """Reports how long the packets of each large frame took to arrive (first to last, by RTP timestamp)."""
    original = RTCRtpReceiver._handle_rtp_packet
    frames: dict = {}

    async def handle(self, packet, arrival_time_ms: int) -> None:
        now = time.monotonic()
        key = (packet.ssrc, packet.timestamp)
        first, count = frames.get(key, (now, 0))
        frames[key] = (first, count + 1)
        if packet.marker:
            frames.pop(key, None)
            if count + 1 >= BURST_PACKETS:
                emit({"type": "burst", "packets": count + 1, "spread_ms": round((now - first) * 1000, 2)})
        if len(frames) > 64:  # frames whose marker never came (lost): forget the oldest
            frames.pop(next(iter(frames)))
        await original(self, packet, arrival_time_ms)

    RTCRtpReceiver._handle_rtp_packet = handle


def decode_barcode_ms(gray) -> "int | None":
    """Reads the capture timestamp from the top barcode of a luma plane (numpy array), or None."""
    height, width = gray.shape
    bar_h = max(8, width // BARCODE_CELLS)
    if height < bar_h or width < BARCODE_CELLS:
        return None
    cy = bar_h // 2
    value = 0
    for i in range(BARCODE_CELLS):
        x0 = i * width // BARCODE_CELLS
        x1 = (i + 1) * width // BARCODE_CELLS
        cx = (x0 + x1) // 2
        patch = gray[max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2]
        value = (value << 1) | (1 if patch.mean() >= 128 else 0)
    t = value >> 16
    check = value & 0xFFFF
    expected = (t & 0xFFFF) ^ ((t >> 16) & 0xFFFF) ^ ((t >> 32) & 0xFFFF) ^ 0xA5A5
    return t if check == expected else None


class Peer:
    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = None
        self.video_receiver = None
        self.frames = 0
        self.keyframes = 0
        self.width = 0
        self.height = 0
        self.first_frame_t_ms = None
        self.connected_t_ms = None
        self.decode_errors = 0
        self.tasks = []

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            state = self.pc.connectionState
            if state == "connected" and self.connected_t_ms is None:
                self.connected_t_ms = now_ms()
            emit({"type": "state", "state": state})

        @self.pc.on("datachannel")
        def on_datachannel(channel) -> None:
            self.attach_channel(channel)
            # A channel announced by the remote side is already open.
            emit({"type": "dc_open", "label": channel.label})

        @self.pc.on("track")
        def on_track(track) -> None:
            emit({"type": "track", "kind": track.kind})
            if track.kind == "video":
                for transceiver in self.pc.getTransceivers():
                    if transceiver.receiver.track is track:
                        self.video_receiver = transceiver.receiver
                self.tasks.append(asyncio.ensure_future(self.consume(track)))

    def attach_channel(self, channel) -> None:
        self.channel = channel

        @channel.on("message")
        def on_message(message) -> None:
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            emit({"type": "dc_message", "label": channel.label, "text": message})
            if message.startswith("echo:"):
                channel.send(message)

        @channel.on("close")
        def on_close() -> None:
            emit({"type": "dc_close", "label": channel.label})

    async def consume(self, track) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            decoded_t_ms = now_ms()
            self.frames += 1
            if self.first_frame_t_ms is None:
                self.first_frame_t_ms = decoded_t_ms
            key = bool(frame.key_frame)
            if key:
                self.keyframes += 1
            self.width, self.height = frame.width, frame.height
            try:
                barcode = decode_barcode_ms(frame.to_ndarray(format="gray"))
            except Exception as exc:  # a frame format numpy cannot take: report, keep receiving
                self.decode_errors += 1
                log(f"barcode read failed: {exc}")
                barcode = None
            emit(
                {
                    "type": "frame",
                    "n": self.frames,
                    "width": frame.width,
                    "height": frame.height,
                    "key": key,
                    "pts": frame.pts,
                    "barcode_ms": barcode,
                    "t_ms": decoded_t_ms,
                }
            )

    async def handle(self, msg: dict) -> bool:
        """Runs one command; returns False when the script should exit."""
        cmd = msg.get("cmd")
        if cmd == "offer":
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            emit({"type": "answer", "sdp": self.pc.localDescription.sdp})
        elif cmd == "create_offer":
            self.pc.addTransceiver("video", direction="recvonly")
            if msg.get("datachannel"):
                channel = self.pc.createDataChannel("control")
                self.attach_channel(channel)

                @channel.on("open")
                def on_open() -> None:
                    emit({"type": "dc_open", "label": channel.label})

            await self.pc.setLocalDescription(await self.pc.createOffer())
            emit({"type": "offer", "sdp": self.pc.localDescription.sdp})
        elif cmd == "answer":
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
        elif cmd == "candidate":
            text = msg.get("candidate") or ""
            if text.startswith("candidate:"):
                text = text[len("candidate:") :]
            if not text:
                await self.pc.addIceCandidate(None)
            else:
                candidate = candidate_from_sdp(text)
                candidate.sdpMid = msg.get("sdpMid")
                candidate.sdpMLineIndex = msg.get("sdpMLineIndex")
                await self.pc.addIceCandidate(candidate)
        elif cmd == "send":
            if self.channel is None or self.channel.readyState != "open":
                emit({"type": "error", "message": "no open data channel"})
            else:
                self.channel.send(msg["text"])
        elif cmd == "pli":
            sources = self.video_receiver.getSynchronizationSources() if self.video_receiver else []
            if not sources:
                emit({"type": "error", "message": "no video stream to send a PLI for"})
            else:
                ssrc = sources[0].source
                await self.video_receiver._send_rtcp_pli(ssrc)
                emit({"type": "pli_sent", "ssrc": ssrc})
        elif cmd == "stats":
            emit(
                {
                    "type": "stats",
                    "frames": self.frames,
                    "keyframes": self.keyframes,
                    "width": self.width,
                    "height": self.height,
                    "first_frame_t_ms": self.first_frame_t_ms,
                    "connected_t_ms": self.connected_t_ms,
                    "decode_errors": self.decode_errors,
                }
            )
        elif cmd == "close":
            return False
        else:
            emit({"type": "error", "message": f"unknown command {cmd!r}"})
        return True

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        emit({"type": "closed"})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rcvbuf", type=int, help="SO_RCVBUF of the ICE sockets, bytes")
    args = parser.parse_args()
    if args.rcvbuf:
        set_rcvbuf(args.rcvbuf)
    measure_bursts()
    peer = Peer()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit({"type": "ready"})
    while True:
        line = await reader.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
            if msg.get("cmd") == "reset":
                await peer.close()
                peer = Peer()
                emit({"type": "reset"})
                continue
            if not await peer.handle(msg):
                break
        except Exception as exc:  # report every failure to the caller instead of dying silently
            log(f"command failed: {exc!r}")
            emit({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
    await peer.close()


if __name__ == "__main__":
    asyncio.run(main())
