#!/usr/bin/env python3
"""Draws the agent app's icons (PNG) with nothing but the standard library.

The picture is the dashboard's brand: a white speech bubble on the accent
blue, holding the green "on air" light. `icon-*.png` have rounded corners
and a transparent outside; `maskable-*.png` fill the square and keep the
picture inside the central 80 % that every mask leaves (the W3C "safe
zone"). `icon.svg` is the same picture by hand. Run from anywhere:
`python3 www/icons/generate.py`.
"""

import math
import os
import struct
import zlib

BLUE = (0x25, 0x59, 0xD6)
WHITE = (0xFF, 0xFF, 0xFF)
GREEN = (0x1A, 0x8A, 0x3A)
HALO = (0xBF, 0xE5, 0xC9)


def rounded_rect(x, y, x0, y0, x1, y1, r):
    """Signed distance to a rounded rectangle (negative inside)."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx, hy = (x1 - x0) / 2 - r, (y1 - y0) / 2 - r
    qx, qy = abs(x - cx) - hx, abs(y - cy) - hy
    outside = math.hypot(max(qx, 0), max(qy, 0))
    return outside + min(max(qx, qy), 0) - r


def circle(x, y, cx, cy, r):
    return math.hypot(x - cx, y - cy) - r


def triangle(x, y, a, b, c):
    """Signed distance to a triangle (Inigo Quilez's formula)."""
    def sub(p, q):
        return (p[0] - q[0], p[1] - q[1])

    def dot(p, q):
        return p[0] * q[0] + p[1] * q[1]

    p = (x, y)
    edges = [(a, b), (b, c), (c, a)]
    d = float("inf")
    signs = []
    for v0, v1 in edges:
        e = sub(v1, v0)
        w = sub(p, v0)
        t = max(0.0, min(1.0, dot(w, e) / dot(e, e)))
        proj = (w[0] - e[0] * t, w[1] - e[1] * t)
        d = min(d, dot(proj, proj))
        signs.append(e[0] * w[1] - e[1] * w[0])
    inside = all(s >= 0 for s in signs) or all(s <= 0 for s in signs)
    return -math.sqrt(d) if inside else math.sqrt(d)


def picture(u, v, scale):
    """The picture's layers at (u, v) in 0..1, content scaled about the centre."""
    # Back to the unscaled picture's coordinates.
    x = 0.5 + (u - 0.5) / scale
    y = 0.5 + (v - 0.5) / scale
    bubble = min(
        rounded_rect(x, y, 0.2, 0.24, 0.8, 0.7, 0.16),
        triangle(x, y, (0.3, 0.62), (0.27, 0.84), (0.5, 0.66)),
    )
    return [
        (WHITE, bubble * scale),
        (HALO, circle(x, y, 0.5, 0.47, 0.135) * scale),
        (GREEN, circle(x, y, 0.5, 0.47, 0.085) * scale),
    ]


def render(size, maskable):
    rows = []
    scale = 0.8 if maskable else 1.0
    for j in range(size):
        row = bytearray([0])  # filter type: none
        for i in range(size):
            u, v = (i + 0.5) / size, (j + 0.5) / size
            if maskable:
                alpha = 1.0
            else:
                d = rounded_rect(u, v, 0, 0, 1, 1, 0.22) * size
                alpha = max(0.0, min(1.0, 0.5 - d))
            color = BLUE
            for layer, distance in picture(u, v, scale):
                cover = max(0.0, min(1.0, 0.5 - distance * size))
                color = tuple(c * (1 - cover) + l * cover for c, l in zip(color, layer))
            row += bytes(round(c) for c in color) + bytes([round(alpha * 255)])
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(width, height, raw):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <rect width="100" height="100" rx="22" fill="#2559d6"/>
  <path d="M36 24h28a16 16 0 0 1 16 16v14a16 16 0 0 1-16 16H50L27 84l3-14a16 16 0 0 1-10-16V40a16 16 0 0 1 16-16z" fill="#fff"/>
  <circle cx="50" cy="47" r="13.5" fill="#bfe5c9"/>
  <circle cx="50" cy="47" r="8.5" fill="#1a8a3a"/>
</svg>
"""


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for size in (192, 512):
        for maskable in (False, True):
            name = ("maskable-%d.png" if maskable else "icon-%d.png") % size
            with open(os.path.join(here, name), "wb") as f:
                f.write(render(size, maskable))
    with open(os.path.join(here, "icon.svg"), "w") as f:
        f.write(SVG)


if __name__ == "__main__":
    main()
