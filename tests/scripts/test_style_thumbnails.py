"""The catalogue's thumbnails are drawn by scripts/render_style_thumbnails.py from the seeding
migrations: every seeded style has its committed file, the files are what the script draws
today, a style the 0015 migration adds is picked up, and each kind of hair gets its own
shape."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from scripts.render_style_thumbnails import (
    SIZE,
    VERSIONS,
    catalogue,
    draw_style,
    hair_of,
    thumbnail_path,
)


def _style(
    name: str, prompt: str, length: str = "medium", texture: str = "straight"
) -> dict[str, object]:
    return {
        "name": name,
        "description": prompt,
        "prompt": prompt,
        "category": "standard",
        "palette": "#3b2417,#8a5a3a",
        "length": length,
        "texture": texture,
    }


def _difference(a: Image.Image, b: Image.Image) -> float:
    return float(sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3)


def test_every_seeded_style_has_the_thumbnail_the_script_draws() -> None:
    styles = catalogue()
    assert len(styles) >= 12
    for style in styles:
        path = thumbnail_path(style)
        assert path.is_file(), f"{style['name']}: run python -m scripts.render_style_thumbnails"
        with Image.open(path) as committed:
            assert committed.size == (SIZE, SIZE)
            # JPEG is lossy: the committed file is within a few levels of a fresh drawing.
            assert _difference(committed.convert("RGB"), draw_style(style)) < 4, style["name"]


def test_the_styles_of_migration_0015_are_read_when_it_exists(tmp_path: Path) -> None:
    seed = next(VERSIONS.glob("*_0005_*.py"))
    shutil.copy(seed, tmp_path / seed.name)
    before = catalogue(tmp_path)
    (tmp_path / "20261203_0015_more_styles.py").write_text(
        "NEW_STYLES = [{'name': 'Knotless Braids', 'description': 'Long knotless braids.',"
        " 'prompt': 'long knotless box braids', 'category': 'standard',"
        " 'palette': '#1b120d,#4a3020', 'length': 'long', 'texture': 'coily'}]\n"
    )
    after = catalogue(tmp_path)
    assert [style["name"] for style in after] == [
        *(style["name"] for style in before),
        "Knotless Braids",
    ]
    assert hair_of(after[-1]).kind == "braids"
    assert thumbnail_path(after[-1]).name == "knotless-braids.jpg"


@pytest.mark.parametrize(
    ("style", "kind"),
    [
        (_style("Buzz Cut", "a short buzz cut", "short"), "buzz"),
        (_style("Clean Dome", "a smooth bald head", "short"), "bald"),
        (_style("Box Braids", "long box braids", "long", "coily"), "braids"),
        (_style("Faux Locs", "shoulder-length faux locs", "long", "coily"), "locs"),
        (_style("Ballet Bun", "a sleek high bun", "long"), "updo"),
        (_style("Big Afro", "a rounded afro", "medium", "coily"), "afro"),
        (_style("Classic Bob", "a chin-length bob", "short"), "bob"),
        (_style("Pixie", "a textured pixie", "short"), "short"),
        (_style("Lob", "a collarbone lob", "medium"), "medium"),
        (_style("Mermaid", "waist-length waves", "long", "wavy"), "long"),
    ],
)
def test_each_kind_of_hair_is_recognised(style: dict[str, object], kind: str) -> None:
    assert hair_of(style).kind == kind


def test_each_kind_of_hair_is_drawn_with_its_own_shape() -> None:
    """Same palette, same name-derived face: only the hair differs, and visibly."""
    prompts = {
        "buzz": ("a buzz cut", "short", "straight"),
        "bald": ("bald", "short", "straight"),
        "braids": ("box braids", "long", "coily"),
        "locs": ("locs", "long", "coily"),
        "updo": ("a bun", "long", "straight"),
        "afro": ("an afro", "medium", "coily"),
        "short": ("a crop", "short", "straight"),
        "medium": ("a lob", "medium", "straight"),
        "long-straight": ("long hair", "long", "straight"),
        "long-curly": ("long curls", "long", "curly"),
    }
    drawings = {
        key: draw_style({**_style("Same Person", prompt, length, texture)})
        for key, (prompt, length, texture) in prompts.items()
    }
    keys = list(drawings)
    for index, first in enumerate(keys):
        for second in keys[index + 1 :]:
            assert _difference(drawings[first], drawings[second]) > 1, (first, second)
