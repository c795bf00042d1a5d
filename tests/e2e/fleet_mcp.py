"""The official Python MCP SDK (mcp 2.x, `Client` in auto mode over Streamable HTTP) on a fleet HUB (issue 15,
tests/fleet.rs): list_devices, list_screens, screenshots of two remote screens (`<device id>/<screen>`), typing into
the first, and screenshots again. Images are saved under --out (the Rust side decodes them and reads the synthetic
screens' input echo); one JSON line of results is printed.

Run: .venv-e2e/bin/python tests/e2e/fleet_mcp.py --url http://127.0.0.1:PORT/mcp --token T --out DIR
        --a DEVICE_A_ID/0 --wa 1280 --b DEVICE_B_ID/0 --wb 960 --text "typed through the hub"
"""

import argparse
import asyncio
import json

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_client import Conn


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--a", required=True)
    ap.add_argument("--wa", type=int, required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--wb", type=int, required=True)
    ap.add_argument("--text", required=True)
    args = ap.parse_args()

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
    result = {}
    async with http:
        async with Client(streamable_http_client(args.url, http_client=http), mode="auto") as client:
            c = Conn(client.call_tool, client.session.protocol_version, args.out)
            result["protocol"] = c.protocol
            listed = await client.list_tools()
            result["tools"] = sorted(t.name for t in listed.tools)
            result["list_devices"] = await c.tool("list_devices", {})
            result["list_screens"] = await c.tool("list_screens", {})
            result["jpeg_a"] = await c.tool("screenshot", {"screen": args.a, "max_width": args.wa}, "jpeg_a")
            result["png_a_before"] = await c.tool(
                "screenshot", {"screen": args.a, "format": "png", "max_width": args.wa}, "png_a_before"
            )
            result["png_b_before"] = await c.tool(
                "screenshot", {"screen": args.b, "format": "png", "max_width": args.wb}, "png_b_before"
            )
            result["type_text"] = await c.tool("type_text", {"screen": args.a, "text": args.text})
            # The echo is drawn into the next captured frame: give the device a few frames.
            await asyncio.sleep(0.5)
            result["png_a_after"] = await c.tool(
                "screenshot", {"screen": args.a, "format": "png", "max_width": args.wa}, "png_a_after"
            )
            result["png_b_after"] = await c.tool(
                "screenshot", {"screen": args.b, "format": "png", "max_width": args.wb}, "png_b_after"
            )
            result["unknown_device"] = await c.tool("screenshot", {"screen": "00000000000000ff/0"})
    print(json.dumps(result))


asyncio.run(main())
