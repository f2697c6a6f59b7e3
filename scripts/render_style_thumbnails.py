"""Draw the catalogue's thumbnails: one illustrated head per seeded style, into
app/static/styles/ (licence-clean: every pixel comes from the code below).

The style list is read from the seeding migrations themselves (0005's `STYLES`, plus
`NEW_STYLES` of the 0015 migration when that file exists), so after a migration adds styles:

    .venv/bin/python -m scripts.render_style_thumbnails

Each file goes where its migration's rows point (`static/styles/<slug>.jpg`, or the style's own
`thumbnail` when the migration gives one). The hair's shape follows the style: its length
(short, medium, long), texture (straight, wavy, curly, coily), and what its name and prompt say
(braids, locs, buzz cut, bald, updo/bun, bangs); its colours are the style's palette. Admins
can still replace any thumbnail from /admin (an upload goes to storage, not to these files).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ROOT / "alembic" / "versions"
OUT = ROOT / "app" / "static" / "styles"
SIZE = 256
# Drawn 4x larger and scaled down: smooth edges without an antialiasing library.
SCALE = 4
CANVAS = SIZE * SCALE

Style = dict[str, Any]
Point = tuple[float, float]

# Head geometry on the 1024 px canvas.
CX, FACE_CY = 512.0, 470.0
FACE_RX, FACE_RY = 150.0, 185.0
SKULL_TOP = FACE_CY - FACE_RY - 45

SKIN_TONES = ("#f1c9a5", "#e0ac83", "#c68a5e", "#a8724a", "#8d5a3a", "#6b4330")
SHIRTS = ("#334155", "#1e3a5f", "#3f3f46", "#4c1d95", "#14532d", "#7c2d12")
BACKDROPS = {"standard": ("#ede9fe", "#c4b5fd"), "celebrity": ("#fef3c7", "#fbbf24")}


# ---------------------------------------------------------------- reading the migrations


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"seed_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def catalogue(versions: Path = VERSIONS) -> list[Style]:
    """0005's STYLES, then 0015's NEW_STYLES if that migration is there."""
    seed = next(versions.glob("*_0005_*.py"))
    styles: list[Style] = list(_load(seed).STYLES)
    for extra in sorted(versions.glob("*_0015_*.py")):
        styles.extend(getattr(_load(extra), "NEW_STYLES", []))
    return styles


def slug(name: str) -> str:
    return "-".join(name.lower().split())


def thumbnail_path(style: Style) -> Path:
    """Where the migration's row points: its own `thumbnail`, else 0005's convention."""
    given = style.get("thumbnail")
    relative = str(given) if given else f"static/styles/{slug(str(style['name']))}.jpg"
    if not relative.startswith("static/styles/"):
        raise ValueError(f"{style['name']}: thumbnail {relative!r} is not a shipped file")
    return ROOT / "app" / relative


# ---------------------------------------------------------------- what the hair looks like

KINDS = ("bald", "buzz", "short", "bob", "medium", "long", "updo", "braids", "locs", "afro")


@dataclass(frozen=True)
class Hair:
    kind: str  # one of KINDS
    texture: str  # straight | wavy | curly | coily
    bangs: bool
    colours: tuple[str, ...]


def _words(style: Style) -> str:
    tags = style.get("tags") or ()
    if isinstance(tags, str):
        tags = tags.split(",")
    parts = [style.get("name"), style.get("description"), style.get("prompt"), *tags]
    return " ".join(str(part) for part in parts if part).lower()


def _kind(style: Style, words: str, length: str, texture: str) -> str:
    checks = (
        ("bald", r"\bbald\b|shaved head|clean[- ]shaven head"),
        ("buzz", r"\bbuzz|\bcrew cut\b|\bclipper cut\b"),
        ("braids", r"\bbraid|cornrow|\bplait"),
        ("locs", r"\blocs\b|\bdreadlock|\bdreads\b|\bloc\b"),
        ("updo", r"\bupdo\b|\bbuns?\b|chignon|top ?knot|\bponytail\b"),
    )
    for kind, pattern in checks:
        if re.search(pattern, words):
            return kind
    if texture == "coily" or re.search(r"\bafro\b", words):
        return "afro"
    if length == "short" and re.search(r"\bbob\b", words):
        return "bob"  # short, but hanging to the jaw, unlike a crop or pixie
    return length if length in {"short", "medium", "long"} else "medium"


def hair_of(style: Style) -> Hair:
    words = _words(style)
    length = str(style.get("length") or "medium")
    texture = str(style.get("texture") or "straight")
    palette = tuple(c.strip() for c in str(style.get("palette") or "#3b2417").split(",") if c)
    return Hair(
        kind=_kind(style, words, length, texture),
        texture=texture if texture in {"straight", "wavy", "curly", "coily"} else "straight",
        bangs=bool(re.search(r"\bbangs\b|\bfringe\b", words)),
        colours=palette or ("#3b2417",),
    )


# ---------------------------------------------------------------- drawing


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _shade(hex_colour: str, factor: float) -> tuple[int, int, int]:
    """Darker below 1, towards white above 1."""
    r, g, b = _rgb(hex_colour)
    if factor < 1:
        return int(r * factor), int(g * factor), int(b * factor)
    lift = factor - 1
    return int(r + (255 - r) * lift), int(g + (255 - g) * lift), int(b + (255 - b) * lift)


def _pick(options: tuple[str, ...], name: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return options[digest[0] % len(options)]


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> tuple[float, float, float, float]:
    return (cx - rx, cy - ry, cx + rx, cy + ry)


def _wobble(texture: str, y: float) -> float:
    """Sideways offset of a hanging outline at height y: waves for wavy hair."""
    if texture == "wavy":
        return 22 * math.sin(y / 38)
    return 0.0


def _hanging(bottom: float, width: float, texture: str, flare: float = 1.0) -> list[Point]:
    """Hair that falls from around the skull down to `bottom`: the crown arc, then the sides
    (waved for wavy hair), then the ends."""
    crown_cy = FACE_CY - 40
    top: list[Point] = []
    for step in range(0, 181, 6):
        angle = math.radians(180 + step)
        top.append((CX + width * math.cos(angle), crown_cy + (width + 30) * math.sin(angle)))
    right: list[Point] = []
    left: list[Point] = []
    y = crown_cy
    while y <= bottom:
        spread = width + (flare - 1) * width * (y - crown_cy) / max(bottom - crown_cy, 1)
        right.append((CX + spread + _wobble(texture, y), y))
        left.append((CX - spread - _wobble(texture, y + 19), y))
        y += 12
    # The ends: a soft curve under the shoulders' line.
    ends = [
        (CX + width * flare * 0.6, bottom + 18),
        (CX, bottom + 30),
        (CX - width * flare * 0.6, bottom + 18),
    ]
    return top + right + ends + left[::-1]


def _curl_outline(draw: ImageDraw.ImageDraw, points: list[Point], colour: Any, r: float) -> None:
    """Curly hair: the outline made of round curls."""
    for index, (x, y) in enumerate(points):
        if index % 2 == 0:
            draw.ellipse(_ellipse(x, y, r, r), fill=colour)


def _strands(draw: ImageDraw.ImageDraw, hair: Hair, top: float, bottom: float, w: float) -> None:
    """Highlight strands over the hanging hair, in the palette's lighter colours."""
    light = hair.colours[1] if len(hair.colours) > 1 else None
    colour = _rgb(light) if light else _shade(hair.colours[0], 1.25)
    for offset in (-0.75, -0.45, 0.45, 0.75):
        x0 = CX + offset * w
        points = []
        y = top
        while y <= bottom:
            points.append((x0 + _wobble(hair.texture, y) * 0.8, y))
            y += 10
        draw.line(points, fill=colour, width=9, joint="curve")


def _curls(draw: ImageDraw.ImageDraw, hair: Hair, top: float, bottom: float, w: float) -> None:
    """Ringlets: small open loops in the lighter colour, in rows down the hair."""
    light = hair.colours[1] if len(hair.colours) > 1 else None
    colour = _rgb(light) if light else _shade(hair.colours[0], 1.3)
    row = 0
    y = top
    while y < bottom:
        for column in range(6):
            x = CX - w + 20 + column * (2 * w - 40) / 5 + (18 if row % 2 else 0)
            draw.arc(_ellipse(x, y, 20, 16), 30, 300, fill=colour, width=6)
        y += 46
        row += 1


Draw = ImageDraw.ImageDraw
HANGING_BOTTOM = {
    "short": FACE_CY - 10,
    "bob": FACE_CY + 150,
    "medium": FACE_CY + 250,
    "long": FACE_CY + 470,
}
HANGING_WIDTH = {"short": 172.0, "bob": 200.0, "medium": 205.0, "long": 215.0}


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _light(hair: Hair) -> str:
    return hair.colours[1] if len(hair.colours) > 1 else _hex(_shade(hair.colours[0], 1.3))


def _hanging_hair(draw: Draw, hair: Hair) -> None:
    bottom, width = HANGING_BOTTOM[hair.kind], HANGING_WIDTH[hair.kind]
    dark = _shade(hair.colours[0], 0.8)
    outline = _hanging(bottom, width, hair.texture, 1.12 if hair.kind == "long" else 1.0)
    draw.polygon(outline, fill=dark)
    if hair.texture == "curly":
        _curl_outline(draw, outline, dark, 34)
        _curls(draw, hair, FACE_CY - 60, bottom, width)
    elif hair.kind != "short":
        _strands(draw, hair, FACE_CY, bottom - 10, width)


def _afro(draw: Draw, hair: Hair) -> None:
    base = _rgb(hair.colours[0])
    cy = FACE_CY - 70
    draw.ellipse(_ellipse(CX, cy, 300, 270), fill=base)
    for step in range(0, 360, 15):
        angle = math.radians(step)
        x, y = CX + 290 * math.cos(angle), cy + 262 * math.sin(angle)
        draw.ellipse(_ellipse(x, y, 46, 46), fill=base)
    for step in range(0, 360, 24):
        angle = math.radians(step + 7)
        x, y = CX + 230 * math.cos(angle), cy + 205 * math.sin(angle)
        draw.ellipse(_ellipse(x, y, 20, 20), fill=_shade(hair.colours[0], 1.15))


def _bun(draw: Draw, hair: Hair) -> None:
    """The bun on top, drawn behind the cap so the cap's edge overlaps it."""
    box = _ellipse(CX, SKULL_TOP - 40, 105, 90)
    draw.ellipse(box, fill=_rgb(hair.colours[0]))
    draw.arc(
        _ellipse(CX, SKULL_TOP - 40, 70, 55), 200, 340, fill=_shade(hair.colours[0], 1.3), width=10
    )


def _locs(draw: Draw, hair: Hair) -> None:
    for index in range(13):
        share = index / 12
        x = CX - 230 + 460 * share
        top = FACE_CY - 160 + abs(share - 0.5) * 160
        bottom = FACE_CY + 330 - abs(share - 0.5) * 80
        points = [
            (x + 10 * math.sin((y - top) / 45 + index), float(y))
            for y in range(int(top), int(bottom), 12)
        ]
        colour = hair.colours[index % len(hair.colours)]
        draw.line(points, fill=_shade(colour, 0.85), width=40, joint="curve")
        for y in range(int(top) + 30, int(bottom), 48):
            draw.line([(x - 16, y), (x + 16, y + 10)], fill=_shade(colour, 0.7), width=5)
        draw.ellipse(_ellipse(*points[-1], 20, 20), fill=_shade(colour, 0.85))


def _braids(draw: Draw, hair: Hair) -> None:
    base, light = hair.colours[0], _light(hair)
    for index in range(8):
        share = index / 7
        x = CX - 215 + 430 * share
        top = FACE_CY - 100 + abs(share - 0.5) * 120
        bottom = FACE_CY + 420 - abs(share - 0.5) * 60
        y, turn = top, 0
        while y < bottom:
            dx = 9 if turn % 2 else -9
            draw.ellipse(
                _ellipse(x + dx, y, 22, 30), fill=_rgb(base), outline=_shade(base, 0.65), width=4
            )
            draw.line([(x + dx - 12, y - 8), (x + dx + 12, y + 8)], fill=_rgb(light), width=4)
            y, turn = y + 34, turn + 1
        draw.ellipse(_ellipse(x, bottom + 14, 14, 18), fill=_rgb(light))


def _nothing(draw: Draw, hair: Hair) -> None:
    return None


BACK_HAIR = {
    "short": _hanging_hair,
    "bob": _hanging_hair,
    "medium": _hanging_hair,
    "long": _hanging_hair,
    "afro": _afro,
    "updo": _bun,
    "locs": _locs,
    "braids": _braids,
    "buzz": _nothing,
    "bald": _nothing,
}


def _back_hair(draw: Draw, hair: Hair) -> None:
    """The hair behind the face and shoulders."""
    BACK_HAIR[hair.kind](draw, hair)


HAIRLINE = FACE_CY - 120
SWEPT = {"short", "bob", "medium", "long"}


def _swept(hair: Hair) -> bool:
    return hair.kind in SWEPT and hair.texture in {"straight", "wavy"}


def _cap_outline(hair: Hair) -> list[Point]:
    """Over the skull from temple to temple, then back along the hairline: higher in the
    middle (the forehead shows), swept lower on one side for a side part."""
    outer: list[Point] = []
    for step in range(0, 181, 6):
        angle = math.radians(180 + step)
        outer.append(
            (CX + (FACE_RX + 22) * math.cos(angle), FACE_CY - 20 + (FACE_RY + 45) * math.sin(angle))
        )
    inner: list[Point] = []
    for step in range(0, 181, 10):
        t = step / 180  # 0 at the right temple, 1 at the left
        x = CX + FACE_RX * math.cos(math.pi * t)
        lift = math.sin(math.pi * t) * 75
        sweep = 45 * (1 - t) * math.sin(math.pi * t) if _swept(hair) else 0.0
        inner.append((x, FACE_CY - 25 - lift + sweep))
    return outer + inner


def _buzz(image: Image.Image, hair: Hair) -> None:
    """A see-through stubble cap: the scalp shows between the dots."""
    base = _rgb(hair.colours[0])
    cap = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(cap)
    draw.chord(_ellipse(CX, FACE_CY - 20, FACE_RX + 8, FACE_RY + 30), 180, 360, fill=(*base, 190))
    for step in range(400):
        angle = math.radians(180 + (step * 137.5) % 180)
        radius = (step % 17) / 17
        x = CX + (FACE_RX - 10) * radius * math.cos(angle)
        y = FACE_CY - 20 + (FACE_RY + 20) * radius * math.sin(angle)
        draw.ellipse(_ellipse(x, y, 4, 4), fill=(*_shade(hair.colours[0], 0.7), 220))
    image.paste(cap, (0, 0), cap)


def _cap_texture(draw: Draw, hair: Hair) -> None:
    """What the top of the head shows: a part, cornrow roots, loc roots or curls."""
    colour = hair.colours[0]
    if _swept(hair):
        draw.line(
            [(CX - 45, SKULL_TOP + 8), (CX - 30, HAIRLINE - 10)], fill=_shade(colour, 0.7), width=7
        )
    elif hair.kind == "braids":
        for offset in (-90, -45, 0, 45, 90):
            draw.line(
                [(CX + offset * 1.2, HAIRLINE + 10), (CX + offset * 0.8, SKULL_TOP - 5)],
                fill=_shade(colour, 1.35),
                width=6,
            )
    elif hair.kind == "locs":
        for offset in (-80, -30, 20, 70):
            draw.line(
                [(CX + offset, HAIRLINE), (CX + offset * 0.6, SKULL_TOP)],
                fill=_shade(colour, 0.7),
                width=8,
            )
    elif hair.texture in {"curly", "coily"} or hair.kind == "afro":
        for step in range(0, 181, 14):
            angle = math.radians(180 + step)
            x = CX + (FACE_RX + 10) * math.cos(angle)
            y = FACE_CY - 40 + (FACE_RY + 40) * math.sin(angle)
            draw.ellipse(_ellipse(x, y, 36, 36), fill=_rgb(colour))


def _bangs(draw: Draw, hair: Hair) -> None:
    fringe = []
    for index in range(9):
        x = CX - FACE_RX + 10 + index * (2 * FACE_RX - 20) / 8
        fringe.append((x, HAIRLINE + 45 + (12 if index % 2 else 0) - abs(index - 4) * 6))
    draw.polygon(
        [(CX - FACE_RX - 10, HAIRLINE - 40), *fringe, (CX + FACE_RX + 10, HAIRLINE - 40)],
        fill=_rgb(hair.colours[0]),
    )


def _cap(image: Image.Image, hair: Hair) -> None:
    """The hair over the top of the head and the forehead, in front of the face."""
    if hair.kind == "bald":
        return
    if hair.kind == "buzz":
        _buzz(image, hair)
        return
    draw = ImageDraw.Draw(image)
    draw.polygon(_cap_outline(hair), fill=_rgb(hair.colours[0]))
    _cap_texture(draw, hair)
    if hair.bangs:
        _bangs(draw, hair)


def _face(draw: ImageDraw.ImageDraw, skin: str) -> None:
    tone = _rgb(skin)
    shadow = _shade(skin, 0.85)
    # Neck, ears, face.
    draw.rectangle((CX - 62, FACE_CY + 120, CX + 62, FACE_CY + 260), fill=shadow)
    for side in (-1, 1):
        draw.ellipse(_ellipse(CX + side * (FACE_RX - 4), FACE_CY + 10, 28, 42), fill=shadow)
    draw.ellipse(_ellipse(CX, FACE_CY, FACE_RX, FACE_RY), fill=tone)
    # Eyes, brows, nose, mouth, cheeks.
    for side in (-1, 1):
        ex = CX + side * 58
        draw.ellipse(_ellipse(ex, FACE_CY + 5, 20, 13), fill=(255, 255, 255))
        draw.ellipse(_ellipse(ex, FACE_CY + 6, 10, 11), fill=(50, 38, 34))
        draw.line(
            [(ex - 28, FACE_CY - 34 - side * 2), (ex + 26, FACE_CY - 38 + side * 2)],
            fill=(70, 50, 40),
            width=9,
        )
        draw.ellipse(_ellipse(CX + side * 88, FACE_CY + 68, 26, 15), fill=_shade(skin, 0.95))
    draw.line(
        [(CX, FACE_CY + 20), (CX - 10, FACE_CY + 70), (CX + 8, FACE_CY + 74)], fill=shadow, width=7
    )
    draw.arc(_ellipse(CX, FACE_CY + 92, 48, 30), 20, 160, fill=(150, 70, 70), width=9)


def _shoulders(draw: ImageDraw.ImageDraw, shirt: str) -> None:
    draw.ellipse(_ellipse(CX, FACE_CY + 560, 380, 330), fill=_rgb(shirt))
    draw.chord(_ellipse(CX, FACE_CY + 240, 80, 40), 0, 180, fill=_shade(shirt, 0.8))


def _backdrop(category: str) -> Image.Image:
    inner, outer = BACKDROPS.get(category, BACKDROPS["standard"])
    image = Image.new("RGB", (CANVAS, CANVAS), _rgb(outer))
    glow = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(glow).ellipse(_ellipse(CX, FACE_CY - 40, 420, 420), fill=255)
    glow = glow.filter(ImageFilter.GaussianBlur(120))
    image.paste(Image.new("RGB", (CANVAS, CANVAS), _rgb(inner)), (0, 0), glow)
    return image


def draw_style(style: Style) -> Image.Image:
    """The thumbnail of one style, SIZE x SIZE."""
    hair = hair_of(style)
    name = str(style["name"])
    image = _backdrop(str(style.get("category") or "standard"))
    draw = ImageDraw.Draw(image)
    _back_hair(draw, hair)
    _shoulders(draw, _pick(SHIRTS, name, "shirt"))
    if hair.kind in {"long", "medium", "braids", "locs"}:
        # Long hair falls over the shoulders: draw its front part again, over the shirt.
        layer = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
        _back_hair(ImageDraw.Draw(layer), hair)
        mask = Image.new("L", (CANVAS, CANVAS), 0)
        _back_hair_mask(mask)
        alpha = Image.composite(layer.getchannel("A"), mask, mask)
        image.paste(layer.convert("RGB"), (0, 0), alpha)
        draw = ImageDraw.Draw(image)
    _face(draw, _pick(SKIN_TONES, name, "skin"))
    _cap(image, hair)
    if hair.kind == "bald":
        draw.arc(_ellipse(CX - 40, FACE_CY - 120, 60, 40), 200, 300, fill=(255, 255, 255), width=10)
    return image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def _back_hair_mask(mask: Image.Image) -> None:
    """Where long hair lies over the shoulders: beside the neck, below the chin."""
    draw = ImageDraw.Draw(mask)
    draw.rectangle((CX - 300, FACE_CY + 200, CX - 75, CANVAS), fill=255)
    draw.rectangle((CX + 75, FACE_CY + 200, CX + 300, CANVAS), fill=255)


def main(argv: list[str]) -> None:
    styles = catalogue()
    wanted = {slug(name) for name in argv}
    OUT.mkdir(parents=True, exist_ok=True)
    for style in styles:
        if wanted and slug(str(style["name"])) not in wanted:
            continue
        target = thumbnail_path(style)
        image = draw_style(style)
        fmt = "PNG" if target.suffix == ".png" else "JPEG"
        options: dict[str, Any] = (
            {"optimize": True} if fmt == "PNG" else {"quality": 92, "subsampling": 0}
        )
        image.save(target, fmt, **options)
        hair = hair_of(style)
        print(
            f"{target.relative_to(ROOT)} {hair.kind}/{hair.texture} {target.stat().st_size} bytes"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
