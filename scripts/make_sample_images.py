"""Draw small original abstract illustrations for the sample articles.

Usage (from the repository root):

    python3 scripts/make_sample_images.py

For every article under content/<section>/*.md whose front matter has an `image` line, this
writes content/media/<article-file-stem>.png (600x338, 8-bit RGB) and rewrites that line to
`image: /media/<article-file-stem>.png` (`image = "..."` in TOML front matter). The URL is
root-relative: the app resolves it against the site URL. Nothing else in the article changes,
articles without an image stay without one, and running the script again gives the same bytes.

Each picture is a flat-shaded landscape: a gradient sky, a sun or moon with halo rings, a few
clouds, layered ridges (or a skyline of blocks, or a strip of water), tinted per section and
laid out from a SHA-256 of the file name. Only the standard library is used.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re
import struct
import sys
import zlib
from pathlib import Path

WIDTH = 600
HEIGHT = 338
ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
MEDIA = CONTENT / "media"

Colour = tuple[int, int, int]

# Base hue (0..1) per section; other sections get a hue from their name.
SECTION_HUES = {
    "world": 0.57,
    "business": 0.11,
    "culture": 0.86,
    "indigenous-affairs": 0.04,
    "international-relations": 0.44,
    "opinion": 0.68,
}

IMAGE_LINE = re.compile(rb"^image(\s*)([:=])[^\r\n]*(\r?\n)?$")


class Seeded:
    """A deterministic stream of numbers from SHA-256 of a name (no `random` state)."""

    def __init__(self, name: str) -> None:
        self.name = name.encode("utf-8")
        self.counter = 0

    def unit(self) -> float:
        """A float in [0, 1)."""
        digest = hashlib.sha256(self.name + b"#" + str(self.counter).encode()).digest()
        self.counter += 1
        return int.from_bytes(digest[:8], "big") / 2**64

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()

    def integer(self, low: int, high: int) -> int:
        """An int in [low, high]."""
        return low + int(self.unit() * (high - low + 1))


def hls(hue: float, lightness: float, saturation: float) -> Colour:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, clamp(lightness), clamp(saturation))
    return (round(red * 255), round(green * 255), round(blue * 255))


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def mix(a: Colour, b: Colour, t: float) -> Colour:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


class Canvas:
    """A row-major RGB buffer drawn with slice assignments (spans and columns), so it is fast
    in pure Python."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(width * height * 3)

    def row_colour(self, y: int) -> Colour:
        """The colour at the left edge of a row (the sky there, before anything else)."""
        i = y * self.width * 3
        return (self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])

    def get(self, x: int, y: int) -> Colour:
        i = (y * self.width + x) * 3
        return (self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])

    def put(self, x: int, y: int, colour: Colour) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i : i + 3] = bytes(colour)

    def blend(self, x: int, y: int, colour: Colour, alpha: float) -> None:
        if 0 <= x < self.width and 0 <= y < self.height and alpha > 0:
            self.put(x, y, mix(self.get(x, y), colour, clamp(alpha)))

    def span(self, y: int, x0: int, x1: int, colour: Colour) -> None:
        """Fill [x0, x1) on row y."""
        x0, x1 = max(0, x0), min(self.width, x1)
        if 0 <= y < self.height and x1 > x0:
            i = (y * self.width + x0) * 3
            self.pixels[i : i + (x1 - x0) * 3] = bytes(colour) * (x1 - x0)

    def column(self, x: int, y0: int, channels: tuple[bytes, bytes, bytes]) -> None:
        """Fill column x from row y0 to the bottom with per-row colours (one byte string per
        channel, indexed by row)."""
        y0 = max(0, y0)
        count = self.height - y0
        if count <= 0 or not 0 <= x < self.width:
            return
        stride = self.width * 3
        for c in range(3):
            start = (y0 * self.width + x) * 3 + c
            self.pixels[start : start + count * stride : stride] = channels[c][y0:]

    def to_png(self) -> bytes:
        stride = self.width * 3
        raw = bytearray()
        for y in range(self.height):
            raw.append(0)  # filter type 0: flat runs already compress to almost nothing
            raw += self.pixels[y * stride : (y + 1) * stride]
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b"")
        )


def chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def gradient(top: Colour, bottom: Colour, y0: int, y1: int, height: int) -> list[Colour]:
    """A colour per row 0..height-1, going from `top` at y0 to `bottom` at y1 (held outside)."""
    span = max(1, y1 - y0)
    return [mix(top, bottom, clamp((y - y0) / span)) for y in range(height)]


def channels(colours: list[Colour]) -> tuple[bytes, bytes, bytes]:
    return (
        bytes(c[0] for c in colours),
        bytes(c[1] for c in colours),
        bytes(c[2] for c in colours),
    )


def disc(canvas: Canvas, cx: float, cy: float, r: float, colour: Colour, alpha: float) -> None:
    """A disc blended over what is there, shading each row by the colour at its left edge
    (the sky), with anti-aliased ends."""
    for y in range(max(0, int(cy - r)), min(canvas.height, int(cy + r) + 1)):
        dy = y + 0.5 - cy
        if abs(dy) >= r:
            continue
        half = math.sqrt(r * r - dy * dy)
        left, right = cx - half, cx + half
        fill = mix(canvas.row_colour(y), colour, alpha)
        canvas.span(y, math.ceil(left), math.floor(right), fill)
        canvas.blend(math.floor(left), y, fill, math.ceil(left) - left)
        canvas.blend(math.floor(right), y, fill, right - math.floor(right))


def cloud(
    canvas: Canvas, x: float, y: float, length: float, thick: float, colour: Colour, alpha: float
) -> None:
    """A pill-shaped horizontal band (rounded ends) blended over the sky."""
    r = thick / 2
    for row in range(max(0, int(y - r)), min(canvas.height, int(y + r) + 1)):
        dy = row + 0.5 - y
        if abs(dy) >= r:
            continue
        cap = math.sqrt(r * r - dy * dy)
        left, right = x - cap, x + length + cap
        fill = mix(canvas.row_colour(row), colour, alpha)
        canvas.span(row, math.ceil(left), math.floor(right), fill)
        canvas.blend(math.floor(left), row, fill, math.ceil(left) - left)
        canvas.blend(math.floor(right), row, fill, right - math.floor(right))


def ridge(canvas: Canvas, heights: list[float], top: Colour, bottom: Colour) -> None:
    """Fill below a height per column with a vertical gradient; the top pixel of each column
    is blended by its coverage."""
    low = int(min(heights))
    colours = gradient(top, bottom, low, canvas.height, canvas.height)
    planes = channels(colours)
    for x, h in enumerate(heights):
        first = math.ceil(h)
        canvas.column(x, first, planes)
        if 0 < first <= canvas.height:
            canvas.blend(x, first - 1, colours[first - 1], first - h)


def wave(rand: Seeded, base: float, amplitude: float, width: int) -> list[float]:
    """A smooth skyline height per column: a sum of a few seeded sines."""
    terms = []
    for octave in range(3):
        freq = rand.between(0.6, 1.6) * (octave + 1) * math.tau / width
        terms.append((freq, rand.between(0, math.tau), amplitude / (1.8**octave)))
    return [base + sum(a * math.sin(f * x + p) for f, p, a in terms) for x in range(width)]


def blocks(rand: Seeded, base: float, width: int) -> list[float]:
    """A skyline of flat-topped blocks of seeded widths and heights."""
    heights: list[float] = []
    while len(heights) < width:
        run = rand.integer(18, 70)
        top = base - rand.between(0, 70) if rand.unit() < 0.8 else base + rand.between(0, 15)
        heights.extend([top] * run)
    return heights[:width]


def draw(stem: str, section: str) -> bytes:
    """The PNG for one article."""
    rand = Seeded(f"{section}/{stem}")
    if section in SECTION_HUES:
        hue = SECTION_HUES[section]
    else:
        hue = int.from_bytes(hashlib.sha256(section.encode()).digest()[:4], "big") / 2**32
    hue += rand.between(-0.035, 0.035)
    canvas = Canvas(WIDTH, HEIGHT)

    # Sky: dusk (dark top), day (light top) or dawn (warm horizon).
    mood = rand.integer(0, 2)
    horizon = rand.between(0.52, 0.68) * HEIGHT
    if mood == 0:
        sky_top, sky_low = hls(hue + 0.02, 0.22, 0.45), hls(hue + 0.5, 0.72, 0.55)
        glow = hls(hue + 0.55, 0.85, 0.8)
    elif mood == 1:
        sky_top, sky_low = hls(hue, 0.62, 0.55), hls(hue + 0.03, 0.9, 0.45)
        glow = hls(0.14, 0.93, 0.9)
    else:
        sky_top, sky_low = hls(hue + 0.08, 0.45, 0.4), hls(hue - 0.1, 0.82, 0.7)
        glow = hls(hue - 0.12, 0.9, 0.85)
    for y, colour in enumerate(gradient(sky_top, sky_low, 0, int(horizon), HEIGHT)):
        canvas.span(y, 0, WIDTH, colour)

    # Sun or moon with halo rings, then a few clouds.
    sun_x = rand.between(0.15, 0.85) * WIDTH
    sun_y = horizon - rand.between(0.25, 0.75) * horizon
    sun_r = rand.between(18, 38)
    for ring, alpha in ((3.2, 0.12), (2.3, 0.16), (1.6, 0.22)):
        disc(canvas, sun_x, sun_y, sun_r * ring, glow, alpha)
    disc(canvas, sun_x, sun_y, sun_r, glow, 0.95)
    for _ in range(rand.integer(2, 4)):
        cloud(
            canvas,
            rand.between(-60, WIDTH - 60),
            rand.between(0.12, 0.8) * horizon,
            rand.between(60, 200),
            rand.between(10, 24),
            hls(hue, 0.94, 0.3),
            rand.between(0.35, 0.7),
        )

    # Ground: three layers getting darker and more saturated towards the viewer.
    motif = rand.integer(0, 2)
    far = wave(rand, horizon - 10, rand.between(14, 30), WIDTH)
    ridge(canvas, far, hls(hue + 0.5, 0.6, 0.25), hls(hue + 0.5, 0.5, 0.3))
    if motif == 1:
        middle = blocks(rand, horizon + 20, WIDTH)
    else:
        middle = wave(rand, horizon + 25, rand.between(12, 26), WIDTH)
    ridge(canvas, middle, hls(hue + 0.45, 0.42, 0.35), hls(hue + 0.45, 0.3, 0.4))
    if motif == 2:
        # Water: the sky's colours darkened, with a broken reflection of the sun.
        sea = int(horizon + rand.between(55, 80))
        deep = hls(hue + 0.5, 0.12, 0.4)
        surface, bottom = mix(sky_low, deep, 0.35), mix(sky_top, deep, 0.6)
        water = channels(gradient(surface, bottom, sea, HEIGHT, HEIGHT))
        for x in range(WIDTH):
            canvas.column(x, sea, water)
        for band, y in enumerate(range(sea + 4, HEIGHT - 1, 9)):
            half = max(4.0, 40 - band * 3) * rand.between(0.6, 1.2)
            left, right = int(sun_x - half), int(sun_x + half)
            canvas.span(y, left, right, mix(canvas.row_colour(y), glow, 0.55))
            canvas.span(y + 1, left, right, mix(canvas.row_colour(y + 1), glow, 0.3))
    else:
        near = wave(rand, HEIGHT - rand.between(40, 70), rand.between(10, 22), WIDTH)
        ridge(canvas, near, hls(hue + 0.4, 0.25, 0.45), hls(hue + 0.4, 0.12, 0.5))
        # A few posts or trees standing on the near ridge.
        for _ in range(rand.integer(2, 5)):
            x = rand.integer(10, WIDTH - 10)
            tall = rand.between(25, 60)
            colour = hls(hue + 0.4, 0.14, 0.45)
            for y in range(int(near[x] - tall), int(near[x]) + 2):
                canvas.span(y, x - 1, x + 2, colour)
            disc(canvas, x + 0.5, near[x] - tall, rand.between(7, 14), colour, 1.0)
    return canvas.to_png()


def rewrite(text: bytes, stem: str) -> tuple[bytes, bool]:
    """The article with its front-matter `image` line pointing at /media/<stem>.png, and
    whether it has one. Everything but that line is kept byte for byte."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return text, False
    fence = lines[0].rstrip(b"\r\n")
    if fence not in (b"---", b"+++"):
        return text, False
    url = f"/media/{stem}.png".encode()
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip(b"\r\n") == fence:
            break
        match = IMAGE_LINE.match(line)
        if match:
            space, sep, end = match.group(1), match.group(2), match.group(3) or b""
            value = b'"' + url + b'"' if fence == b"+++" else url
            lines[index] = b"image" + space + sep + b" " + value + end
            return b"".join(lines), True
    return text, False


def main() -> int:
    MEDIA.mkdir(parents=True, exist_ok=True)
    count = 0
    for article in sorted(CONTENT.glob("*/*.md")):
        if article.parent == MEDIA:
            continue
        original = article.read_bytes()
        updated, has_image = rewrite(original, article.stem)
        if not has_image:
            continue
        png = draw(article.stem, article.parent.name)
        target = MEDIA / f"{article.stem}.png"
        if not target.exists() or target.read_bytes() != png:
            target.write_bytes(png)
        if updated != original:
            article.write_bytes(updated)
        count += 1
        print(f"{target.relative_to(ROOT)}  {len(png):>6} bytes")
    print(f"{count} images in {MEDIA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
