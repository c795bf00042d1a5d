#!/usr/bin/env python3
"""A tiny WHIP ingest server (RFC 9725) whose receiving peer is aiortc: it decodes sightline's published H.264.

It is an independent WebRTC stack (aiortc + PyAV/FFmpeg) behind a minimal HTTP/1.1 server on asyncio streams (the
test venv has no aiohttp), used by tests/whip.rs to prove that sightline's WHIP egress is real, decodable WebRTC.

Run: .venv-e2e/bin/python tests/e2e/whip_ingest.py [--token T]
     (loopback only: listens on 127.0.0.1 on a free port; host candidates are 127.0.0.1)

HTTP
  POST   /whip/endpoint        Content-Type: application/sdp, Authorization: Bearer T (when --token is given;
                               401 otherwise). Answers 201, Location: /whip/resource/N (relative, as many servers
                               send it), Content-Type: application/sdp, the answer with every candidate inside.
  PATCH  /whip/resource/N      405 (aiortc cannot restart ICE): the client must re-publish.
  DELETE /whip/resource/N      closes that peer; 200.

Commands (stdin, one JSON object per line)
  {"cmd": "freeze"}            silently drop every peer's network path (close its ICE sockets, send nothing): to
                               the publisher, the path is gone, as when a NAT binding or a link is lost.
  End of stdin ends the server.

Events (stdout, one JSON object per line, each with "t_ms" = wall clock ms since the epoch)
  {"type": "ready", "port": P, "endpoint": URL}
  {"type": "request", "method": M, "path": P, "status": S}       every request, with the status answered
  {"type": "unauthorized", "authorization": present?}            a POST/DELETE without the right token
  {"type": "created", "resource": R}
  {"type": "state", "resource": R, "state": connectionState}
  {"type": "frame", "resource": R, "n": N, "width": W, "height": H}   one per decoded frame
  {"type": "deleted", "resource": R}
  {"type": "frozen", "peers": N}
"""

import argparse
import asyncio
import json
import sys
import time

import aioice.ice

# aioice skips 127.0.0.1 when listing host addresses; loopback-only tests need exactly that address.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402

# Largest request body accepted (an SDP offer is a few kB).
MAX_BODY = 64 * 1024
# Largest request head (request line + headers).
MAX_HEAD = 16 * 1024


def emit(event: dict) -> None:
    event.setdefault("t_ms", int(time.time() * 1000))
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def log(text: str) -> None:
    sys.stderr.write(f"whip_ingest: {text}\n")
    sys.stderr.flush()


class Ingest:
    def __init__(self, token: str) -> None:
        self.token = token
        self.peers: dict = {}
        self.next_id = 1
        self.tasks: set = set()

    def authorized(self, headers: dict) -> bool:
        if not self.token:
            return True
        return headers.get("authorization", "") == f"Bearer {self.token}"

    async def consume(self, resource: str, track) -> None:
        n = 0
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            n += 1
            emit({"type": "frame", "resource": resource, "n": n, "width": frame.width, "height": frame.height})

    async def create(self, offer: str) -> tuple:
        resource = f"/whip/resource/{self.next_id}"
        self.next_id += 1
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.peers[resource] = pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            emit({"type": "state", "resource": resource, "state": pc.connectionState})

        @pc.on("track")
        def on_track(track) -> None:
            if track.kind == "video":
                task = asyncio.ensure_future(self.consume(resource, track))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # aiortc gathers every candidate here
        emit({"type": "created", "resource": resource})
        return resource, pc.localDescription.sdp

    async def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        """Returns (status, extra headers, body)."""
        if method == "POST" and path == "/whip/endpoint":
            if not self.authorized(headers):
                emit({"type": "unauthorized", "authorization": "authorization" in headers})
                return 401, {"WWW-Authenticate": "Bearer"}, b"invalid bearer token"
            if headers.get("content-type", "").split(";")[0].strip() != "application/sdp":
                return 415, {}, b"expected application/sdp"
            resource, answer = await self.create(body.decode("utf-8", "replace"))
            return 201, {"Location": resource, "Content-Type": "application/sdp"}, answer.encode()
        if path in self.peers:
            if not self.authorized(headers):
                emit({"type": "unauthorized", "authorization": "authorization" in headers})
                return 401, {"WWW-Authenticate": "Bearer"}, b"invalid bearer token"
            if method == "PATCH":
                return 405, {"Allow": "DELETE"}, b"ICE restart not supported"
            if method == "DELETE":
                pc = self.peers.pop(path)
                await pc.close()
                emit({"type": "deleted", "resource": path})
                return 200, {}, b""
            return 405, {"Allow": "PATCH, DELETE"}, b""
        return 404, {}, b"not found"

    def freeze(self) -> int:
        frozen = 0
        for pc in self.peers.values():
            for transceiver in pc.getTransceivers():
                connection = transceiver.receiver.transport.transport._connection
                for protocol in list(connection._protocols):
                    if protocol.transport is not None:
                        protocol.transport.close()
                frozen += 1
        return frozen

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                if len(head) > MAX_HEAD:
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    return
                method, path, _version = parts
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or "0")
                if length > MAX_BODY:
                    return
                body = await reader.readexactly(length) if length else b""
                try:
                    status, extra, payload = await self.handle(method, path.split("?")[0], headers, body)
                except Exception as e:  # noqa: BLE001  (a test server: report, answer 500)
                    log(f"{method} {path}: {e!r}")
                    status, extra, payload = 500, {}, str(e).encode()
                emit({"type": "request", "method": method, "path": path, "status": status})
                reason = {200: "OK", 201: "Created", 401: "Unauthorized", 404: "Not Found",
                          405: "Method Not Allowed", 415: "Unsupported Media Type"}.get(status, "Error")
                out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(payload)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        finally:
            writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", default="", help="required Bearer token (empty: none)")
    args = parser.parse_args()
    ingest = Ingest(args.token)
    server = await asyncio.start_server(ingest.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    emit({"type": "ready", "port": port, "endpoint": f"http://127.0.0.1:{port}/whip/endpoint"})
    # Runs until stdin closes (the test ends) or the process is killed.
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := await stdin.readline():
        try:
            cmd = json.loads(line)
        except ValueError:
            continue
        if cmd.get("cmd") == "freeze":
            emit({"type": "frozen", "peers": ingest.freeze()})
    for pc in list(ingest.peers.values()):
        await pc.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
