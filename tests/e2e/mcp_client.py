"""Drives sightline's MCP server with the official Python SDK (mcp 2.x) and prints one JSON line of results.

Transports:
  --mode auto     `Client` over Streamable HTTP in auto mode (server/discover: the session-less 2026-07-28 path)
  --mode legacy   `streamable_http_client` + `ClientSession.initialize()` (a 2025-11-25 session)
  --mode stdio    `Client` over stdio, launching `--command` with `--arg`s (`sightline mcp`)
HTTP modes send `Authorization: Bearer <--token>`.

Scenarios (the Rust tests check their output and the X server):
  tools       the protocol version and the tool names
  shots       list_screens and a set of screenshots, images saved under --out
  input       a fixed sequence of input tools (see `input`)
  forbidden   input tools that a view token must not be able to use, and an unknown tool
  wait        wait_for_change / wait_until_stable around X clients started on --display
  sessions    list_sessions and monitor_summary
  smoke       list_screens, a PNG screenshot, a click and list_sessions
  resources   screen resources: list, read (images saved under --out), then a subscription (auto: `Client.listen`,
              legacy: `resources/subscribe`) while the screen is static, after one change and during a burst of
              changes made with xsetroot on --display
"""

import argparse
import asyncio
import base64
import warnings
import json
import os
import subprocess
import sys
import time
from contextlib import asynccontextmanager

import anyio
from mcp import Client, ClientSession, StdioServerParameters, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.subscriptions import ResourceUpdated


class Conn:
    """One MCP connection and the protocol version it negotiated."""

    def __init__(self, call, protocol, out):
        self._call = call
        self.protocol = protocol
        self.out = out
        self.saved = 0

    async def tool(self, name, arguments=None, save_as=None):
        """Calls a tool; returns a JSON-able summary (images saved to files, never inlined)."""
        r = await self._call(name, arguments or {})
        summary = {"tool": name, "is_error": bool(r.is_error), "texts": [], "images": []}
        for c in r.content:
            if c.type == "text":
                summary["texts"].append(c.text)
            elif c.type == "image":
                data = base64.b64decode(c.data)
                ext = "png" if c.mime_type == "image/png" else "jpg"
                path = os.path.join(self.out, f"{save_as or name}-{self.saved}.{ext}")
                self.saved += 1
                with open(path, "wb") as f:
                    f.write(data)
                summary["images"].append({"mime": c.mime_type, "file": path, "bytes": len(data)})
        summary["structured"] = r.structured_content
        return summary


@asynccontextmanager
async def connect(args, token):
    if args.mode == "stdio":
        params = StdioServerParameters(command=args.command, args=args.arg or [])
        async with Client(params, mode="auto") as c:
            yield Conn(c.call_tool, c.session.protocol_version, args.out)
        return
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http:
        if args.mode == "auto":
            async with Client(streamable_http_client(args.url, http_client=http), mode="auto") as c:
                yield Conn(c.call_tool, c.session.protocol_version, args.out)
        else:
            async with streamable_http_client(args.url, http_client=http) as (read, write):
                async with ClientSession(read, write) as s:
                    init = await s.initialize()
                    yield Conn(s.call_tool, init.protocol_version, args.out)


async def scenario_tools(args):
    if args.mode == "legacy":
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
        async with http:
            async with streamable_http_client(args.url, http_client=http) as (read, write):
                async with ClientSession(read, write) as s:
                    init = await s.initialize()
                    listed = await s.list_tools()
                    protocol = init.protocol_version
    else:
        if args.mode == "stdio":
            target = StdioServerParameters(command=args.command, args=args.arg or [])
            async with Client(target, mode="auto") as c:
                listed = await c.list_tools()
                protocol = c.session.protocol_version
        else:
            http = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
            async with http:
                async with Client(streamable_http_client(args.url, http_client=http), mode="auto") as c:
                    listed = await c.list_tools()
                    protocol = c.session.protocol_version
    return {
        "protocol": protocol,
        "tools": sorted(t.name for t in listed.tools),
        "schemas": {t.name: t.input_schema for t in listed.tools},
    }


async def scenario_shots(args):
    async with connect(args, args.token) as c:
        screens = await c.tool("list_screens")
        shots = {
            "s0_png_full": await c.tool("screenshot", {"screen": "0", "format": "png", "max_width": 1920}, "s0_png_full"),
            "s1_png": await c.tool("screenshot", {"screen": "1", "format": "png"}, "s1_png"),
            "s0_jpeg_default": await c.tool("screenshot", {}, "s0_jpeg_default"),
            "s0_png_region": await c.tool(
                "screenshot",
                {"screen": "0", "format": "png", "region": {"x": 100, "y": 200, "width": 300, "height": 150}},
                "s0_png_region",
            ),
            "s0_png_half": await c.tool("screenshot", {"screen": "0", "format": "png", "max_width": 960}, "s0_png_half"),
            "bad_region": await c.tool(
                "screenshot", {"screen": "1", "region": {"x": 1200, "y": 0, "width": 100, "height": 10}}
            ),
            "bad_screen": await c.tool("screenshot", {"screen": "7"}),
        }
        return {"protocol": c.protocol, "screens": screens, "shots": shots}


async def scenario_input(args):
    steps = [
        ("move_pointer", {"screen": "0", "x": 100, "y": 200}),
        ("click", {"screen": "1", "x": 300, "y": 400, "button": "right"}),
        ("click", {"screen": "0", "x": 640, "y": 360, "double": True}),
        ("drag", {"screen": "0", "from": {"x": 500, "y": 500}, "to": {"x": 700, "y": 600}}),
        ("scroll", {"screen": "0", "dy": 3, "x": 800, "y": 300}),
        ("type_text", {"text": "Hello, wörld!"}),
        ("press_keys", {"keys": ["ControlLeft", "ShiftLeft", "KeyT"]}),
        ("click", {"screen": "0", "x": 1920, "y": 5}),
        ("press_keys", {"keys": ["ShiftLeft", "NoSuchKey"]}),
        ("move_pointer", {"screen": "1", "x": 1000, "y": 700}),
    ]
    results = []
    async with connect(args, args.token) as c:
        for name, arguments in steps:
            results.append(await c.tool(name, arguments))
        return {"protocol": c.protocol, "results": results}


async def scenario_forbidden(args):
    async with connect(args, args.token) as c:
        results = [
            await c.tool("click", {"screen": "0", "x": 42, "y": 42, "button": "middle"}),
            await c.tool("move_pointer", {"screen": "0", "x": 43, "y": 43}),
            await c.tool("type_text", {"text": "nope"}),
            await c.tool("list_sessions"),
            await c.tool("screenshot", {"max_width": 64}),
        ]
        try:
            await c.tool("no_such_tool")
            unknown = None
        except Exception as e:  # the SDK raises on a JSON-RPC error
            unknown = f"{type(e).__name__}: {e}"
        return {"protocol": c.protocol, "results": results, "unknown_tool_error": unknown}


def x_client(display, *argv):
    """Starts an X client (xlogo, …) on `display`; the caller kills it."""
    return subprocess.Popen(list(argv), env={**os.environ, "DISPLAY": display},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def scenario_wait(args):
    clients = []
    try:
        async with connect(args, args.token) as c:
            out = {"protocol": c.protocol}
            # Nothing happens on screen 1: the wait times out.
            out["idle"] = await c.tool("wait_for_change", {"screen": "1", "timeout_ms": 800})

            # A window appears at (50, 50) on screen 0, outside the watched region: still no change there.
            async def outside():
                await asyncio.sleep(0.3)
                clients.append(x_client(args.display + ".0", "xlogo", "-geometry", "100x100+50+50"))
            task = asyncio.create_task(outside())
            out["outside_region"] = await c.tool(
                "wait_for_change",
                {"screen": "0", "region": {"x": 1500, "y": 800, "width": 300, "height": 200}, "timeout_ms": 2000},
            )
            await task

            # A window appears inside the region: the wait returns early.
            async def inside():
                await asyncio.sleep(0.5)
                clients.append(x_client(args.display + ".0", "xlogo", "-geometry", "120x120+1550+850"))
            task = asyncio.create_task(inside())
            t0 = time.monotonic()
            out["inside_region"] = await c.tool(
                "wait_for_change",
                {"screen": "0", "region": {"x": 1500, "y": 800, "width": 300, "height": 200}, "timeout_ms": 20000},
            )
            out["inside_region_client_s"] = time.monotonic() - t0
            await task

            out["stable"] = await c.tool("wait_until_stable", {"screen": "0", "quiet_ms": 300, "timeout_ms": 10000})
            out["bad_timeout"] = await c.tool("wait_for_change", {"timeout_ms": 600001})
            return out
    finally:
        for p in clients:
            p.kill()
            p.wait()


async def scenario_clipboard(args):
    """set_clipboard, read back by xclip; an X copy by xclip, read by get_clipboard; an empty PRIMARY."""
    env = {**os.environ, "DISPLAY": args.display}
    async with connect(args, args.token) as c:
        r = {"set": await c.tool("set_clipboard", {"text": "agent ✓ wrote this"})}
        if not r["set"]["is_error"]:
            out = subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=env,
                                 capture_output=True, timeout=10)
            r["xclip_after_set"] = out.stdout.decode()
            subprocess.run(["xclip", "-selection", "clipboard", "-i"], env=env, input="X wrote ✓ this".encode(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
            # The forked xclip takes the selection a moment after its parent exits.
            for _ in range(250):
                out = subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=env,
                                     capture_output=True, timeout=10)
                if out.stdout.decode() == "X wrote ✓ this":
                    break
                time.sleep(0.02)
        r["get"] = await c.tool("get_clipboard")
        r["get_primary"] = await c.tool("get_clipboard", {"selection": "primary"})
        r["bad"] = await c.tool("set_clipboard", {"png_base64": "bm90IGEgcG5n"})
        return r


async def scenario_cursor(args):
    """A PNG of the 24x24 px under the pointer, without and with include_cursor."""
    async with connect(args, args.token) as c:
        region = {"x": 500, "y": 400, "width": 24, "height": 24}
        r = {"move": await c.tool("move_pointer", {"x": 500, "y": 400})}
        time.sleep(0.3)
        r["plain"] = await c.tool("screenshot", {"format": "png", "region": region}, save_as="plain")
        r["with_cursor"] = await c.tool("screenshot", {"format": "png", "region": region, "include_cursor": True},
                                        save_as="with-cursor")
        return r


async def scenario_smoke(args):
    async with connect(args, args.token) as c:
        return {
            "protocol": c.protocol,
            "screens": await c.tool("list_screens"),
            "shot": await c.tool("screenshot", {"format": "png"}, "smoke"),
            "click": await c.tool("click", {"x": 5, "y": 6}),
            "sessions": await c.tool("list_sessions"),
        }


async def scenario_sessions(args):
    async with connect(args, args.token) as c:
        return {
            "protocol": c.protocol,
            "sessions": await c.tool("list_sessions"),
            "summary": await c.tool("monitor_summary"),
        }


def save_contents(out, name, result):
    """A resources/read result as JSON: blobs saved to files, texts inlined."""
    contents = []
    for i, c in enumerate(result.contents):
        item = {"uri": str(c.uri), "mime": c.mime_type}
        if getattr(c, "blob", None) is not None:
            data = base64.b64decode(c.blob)
            path = os.path.join(out, f"{name}-{i}.jpg")
            with open(path, "wb") as f:
                f.write(data)
            item.update(file=path, bytes=len(data))
        else:
            item["text"] = c.text
        contents.append(item)
    return {"contents": contents, "ttl_ms": getattr(result, "ttl_ms", None)}


async def error_of(coro):
    """The text of the error a request fails with, or None when it succeeds."""
    try:
        await coro
        return None
    except Exception as e:  # the SDK raises MCPError on a JSON-RPC error
        return f"{type(e).__name__}: {e}"


class Updates:
    """Collects resource-updated notifications with their arrival times (time.monotonic())."""

    def __init__(self):
        self.seen = []
        self.event = anyio.Event()

    def add(self, uri):
        self.seen.append({"uri": str(uri), "t": time.monotonic()})
        self.event.set()

    async def wait_first(self, since, timeout):
        """The first notification after `since`, or None after `timeout` s."""
        with anyio.move_on_after(timeout):
            while True:
                hit = [u for u in self.seen if u["t"] > since]
                if hit:
                    return hit[0]
                self.event = anyio.Event()
                await self.event.wait()
        return None


async def exercise_updates(args, updates):
    """Static screen, one change, a burst of changes; paint times and notifications for the Rust test to judge."""
    env = {**os.environ, "DISPLAY": args.display + ".0"}

    def paint(colour):
        subprocess.run(["xsetroot", "-solid", colour], env=env, check=True, timeout=10)
        return time.monotonic()

    t0 = time.monotonic()
    await anyio.sleep(2.0)
    static = [u for u in updates.seen if u["t"] > t0]
    painted = paint("#aa2200")
    first = await updates.wait_first(painted, 10)
    await anyio.sleep(1.0)
    burst = []
    for i in range(12):
        burst.append(paint(f"#00{(i * 20) % 256:02x}{(255 - i * 20) % 256:02x}"))
        await anyio.sleep(0.04)
    await anyio.sleep(1.5)
    in_burst = [u for u in updates.seen if u["t"] > burst[0]]
    return {
        "static": static,
        "first_after_s": None if first is None else first["t"] - painted,
        "burst_paints": [t - burst[0] for t in burst],
        "burst_updates": [u["t"] - burst[0] for u in in_burst],
    }


async def scenario_resources(args):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
    out = {}
    async with http:
        if args.mode == "auto":
            async with Client(streamable_http_client(args.url, http_client=http), mode="auto") as c:
                out["protocol"] = c.session.protocol_version
                listed = await c.list_resources()
                out["resources"] = [r.model_dump(mode="json", by_alias=True) for r in listed.resources]
                out["read0"] = save_contents(args.out, "auto-read0", await c.read_resource("screen://0"))
                out["read1"] = save_contents(args.out, "auto-read1", await c.read_resource("screen://1"))
                out["read_unknown"] = await error_of(c.read_resource("screen://9"))
                out["read_bad"] = await error_of(c.read_resource("file:///etc/passwd"))
                updates = Updates()
                async with c.listen(resource_subscriptions=["screen://0", "file:///x"]) as sub:
                    out["honored"] = sub.honored.resource_subscriptions

                    async def consume():
                        async for ev in sub:
                            if isinstance(ev, ResourceUpdated):
                                updates.add(ev.uri)

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(consume)
                        out["updates"] = await exercise_updates(args, updates)
                        tg.cancel_scope.cancel()
                out["seen"] = updates.seen

                # An unknown screen is not honoured; with nothing to watch the server closes the stream at once.
                out["listen_unknown"] = {"honored": "no answer", "events": 0}
                with anyio.move_on_after(10):
                    async with c.listen(resource_subscriptions=["screen://9"]) as sub:
                        out["listen_unknown"]["honored"] = sub.honored.resource_subscriptions
                        async for _ in sub:
                            out["listen_unknown"]["events"] += 1
                        out["listen_unknown"]["closed"] = True
        else:
            updates = Updates()

            async def on_message(m):
                if isinstance(m, types.ResourceUpdatedNotification):
                    updates.add(m.params.uri)

            async with streamable_http_client(args.url, http_client=http) as (read, write):
                async with ClientSession(read, write, message_handler=on_message) as s:
                    init = await s.initialize()
                    out["protocol"] = init.protocol_version
                    out["capabilities"] = init.capabilities.model_dump(mode="json", by_alias=True)
                    listed = await s.list_resources()
                    out["resources"] = [r.model_dump(mode="json", by_alias=True) for r in listed.resources]
                    out["read0"] = save_contents(args.out, "legacy-read0", await s.read_resource("screen://0"))
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        out["subscribe_unknown"] = await error_of(s.subscribe_resource("screen://9"))
                        await s.subscribe_resource("screen://0")
                        out["updates"] = await exercise_updates(args, updates)
                        await s.unsubscribe_resource("screen://0")
                    env = {**os.environ, "DISPLAY": args.display + ".0"}
                    await anyio.sleep(0.5)
                    after = time.monotonic()
                    subprocess.run(["xsetroot", "-solid", "#123456"], env=env, check=True, timeout=10)
                    await anyio.sleep(1.5)
                    out["after_unsubscribe"] = [u for u in updates.seen if u["t"] > after]
                    out["seen"] = updates.seen
    return out


SCENARIOS = {
    "tools": scenario_tools,
    "shots": scenario_shots,
    "input": scenario_input,
    "forbidden": scenario_forbidden,
    "wait": scenario_wait,
    "clipboard": scenario_clipboard,
    "cursor": scenario_cursor,
    "sessions": scenario_sessions,
    "smoke": scenario_smoke,
    "resources": scenario_resources,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--mode", choices=["auto", "legacy", "stdio"], default="auto")
    p.add_argument("--url")
    p.add_argument("--token")
    p.add_argument("--command", help="stdio: the server command")
    p.add_argument("--arg", action="append", help="stdio: one argument of the command (repeat)")
    p.add_argument("--out", default=".")
    p.add_argument("--display", help="X display for scenario wait, e.g. :93")
    args = p.parse_args()
    result = asyncio.run(SCENARIOS[args.scenario](args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
