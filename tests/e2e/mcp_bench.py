"""Screenshot round trips through Streamable HTTP with the official Python SDK: one JSON line of figures per case.

    mcp_bench.py --url URL --token TOKEN --iterations 200 --warmup 10 \
        --case 'jpeg80={"format":"jpeg","quality":80,"max_width":1920}' --case 'png={"format":"png","max_width":1920}'

A round trip is `call_tool("screenshot", …)` returning a decoded result: request, capture or latest frame, encode,
base64, transport, and the SDK's parsing. `--mode auto` is the session-less 2026-07-28 path, `--mode legacy` a
2025-11-25 session. Every result is checked (an image of the announced size, the JPEG's own header agreeing) so a
failing call cannot pass for a fast one. `--token ''` sends no Authorization header (the mss peer,
tests/e2e/mss_peer.py, has none).
"""

import argparse
import asyncio
import base64
import json
import math
import statistics
import sys
import time

from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def jpeg_size(data):
    """(width, height) from a JPEG's first SOF marker, or None when `data` is not a JPEG."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    return None


def percentile(values, q):
    """Nearest-rank percentile, as the gateway's monitor computes it."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


async def run(call, name, arguments, iterations, warmup):
    times, sizes = [], []
    for i in range(warmup + iterations):
        t0 = time.perf_counter()
        r = await call("screenshot", arguments)
        dt = (time.perf_counter() - t0) * 1000.0
        if r.is_error:
            raise SystemExit(f"{name}: screenshot failed: {r.content[0].text}")
        image = next(c for c in r.content if c.type == "image")
        data = base64.b64decode(image.data)
        s = r.structured_content
        if len(data) != s["bytes"] or s["image_width"] < 16:
            raise SystemExit(f"{name}: inconsistent result {s}")
        if image.mime_type == "image/jpeg" and jpeg_size(data) != (s["image_width"], s["image_height"]):
            raise SystemExit(f"{name}: the JPEG is {jpeg_size(data)}, the result says {s}")
        if i >= warmup:
            times.append(dt)
            sizes.append(len(data))
    return {
        "case": name,
        "arguments": arguments,
        "n": len(times),
        "median_ms": statistics.median(times),
        "p95_ms": percentile(times, 0.95),
        "min_ms": min(times),
        "max_ms": max(times),
        "bytes": int(statistics.median(sizes)),
        "image": [s["image_width"], s["image_height"]],
    }


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--mode", choices=["auto", "legacy"], default="auto")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--case", action="append", required=True, help="NAME=JSON screenshot arguments")
    args = p.parse_args()
    cases = []
    for c in args.case:
        name, _, arguments = c.partition("=")
        cases.append((name, json.loads(arguments)))
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    http = create_mcp_http_client(headers=headers)
    results = []
    async with http:
        if args.mode == "auto":
            async with Client(streamable_http_client(args.url, http_client=http), mode="auto") as c:
                protocol = c.session.protocol_version
                for name, arguments in cases:
                    results.append(await run(c.call_tool, name, arguments, args.iterations, args.warmup))
        else:
            async with streamable_http_client(args.url, http_client=http) as (read, write):
                async with ClientSession(read, write) as s:
                    protocol = (await s.initialize()).protocol_version
                    for name, arguments in cases:
                        results.append(await run(s.call_tool, name, arguments, args.iterations, args.warmup))
    sys.stdout.write(json.dumps({"protocol": protocol, "results": results}) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
