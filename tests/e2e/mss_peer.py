"""The peer of the screenshot benchmark: the seeds' stack, a Python MCP server (the official SDK's MCPServer,
Streamable HTTP with JSON responses) whose `screenshot` tool grabs the X screen with mss and encodes it with
Pillow. No authentication.

    DISPLAY=:93.0 python mss_peer.py --port 8765 --mss per-call
    DISPLAY=:93.0 python mss_peer.py --port 8765 --mss warm

Two behaviours, both measured by tests/mcp_bench.rs:

- `per-call` (the seed's behaviour, the default): `with mss.MSS() as sct:` inside the tool, the common idiom; each
  call opens an X connection and a shared-memory segment, grabs, and closes them again.
- `warm`: one `mss.MSS()` for the whole process (its XCB connection and shared memory stay open between calls),
  the fastest this stack gets.

The tool grabs the first monitor (`sct.monitors[1]`: the whole X screen on Xvfb), converts BGRX without a copy
(`Image.frombuffer(..., "raw", "BGRX")`) and saves a JPEG (Pillow's libjpeg-turbo, 4:2:0 like sightline), full
size. It returns the image and, as structured content, the same `bytes`, `image_width` and `image_height` fields
sightline's screenshot has, so the benchmark client checks both servers the same way.
"""

import argparse
import io
import threading

import mss
from mcp.server.mcpserver import Image, MCPServer
from mcp.types import CallToolResult, ImageContent
from PIL import Image as PILImage

app = MCPServer("mss-peer")
BEHAVIOUR = {"mss": "per-call"}
WARM = {"sct": None}
# mss instances are lock-protected, but one warm instance for the process is simplest to reason about.
WARM_LOCK = threading.Lock()


def encode(sct, quality):
    shot = sct.grab(sct.monitors[1])
    img = PILImage.frombuffer("RGB", shot.size, shot.raw, "raw", "BGRX", 0, 1)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue(), shot.size


@app.tool()
def screenshot(quality: int = 80) -> CallToolResult:
    """Full-size JPEG of the X screen (its first monitor) at `quality`."""
    if BEHAVIOUR["mss"] == "warm":
        with WARM_LOCK:
            if WARM["sct"] is None:
                WARM["sct"] = mss.MSS()
            data, size = encode(WARM["sct"], quality)
    else:
        with mss.MSS() as sct:
            data, size = encode(sct, quality)
    image = Image(data=data, format="jpeg").to_image_content()
    assert isinstance(image, ImageContent)
    return CallToolResult(
        content=[image],
        structured_content={"bytes": len(data), "image_width": size[0], "image_height": size[1]},
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mss", choices=["per-call", "warm"], default="per-call")
    a = p.parse_args()
    BEHAVIOUR["mss"] = a.mss
    app.run("streamable-http", host="127.0.0.1", port=a.port, json_response=True)


if __name__ == "__main__":
    main()
