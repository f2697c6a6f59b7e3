"""Render the catalogue's thumbnails with the local generator on the public-domain test
portrait, into app/static/styles/ (run after changing the seeded styles):

    .venv/bin/python -m scripts.render_style_thumbnails
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
from pathlib import Path

from PIL import Image

from app.integrations.generator import GenerationRequest, LocalGenerator, StyleSpec, View

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ROOT / "alembic" / "versions"
# The seeded catalogue: 0005's STYLES, then the styles later migrations add (NEW_STYLES).
SEEDS = (
    (next(VERSIONS.glob("*_0005_seed_styles.py")), "STYLES"),
    (next(VERSIONS.glob("*_0015_*.py")), "NEW_STYLES"),
)
OUT = ROOT / "app" / "static" / "styles"
SIZE = 256
HEAD_BOX = (95, 0, 355, 260)


def _catalogue() -> list[dict[str, object]]:
    styles: list[dict[str, object]] = []
    for path, name in SEEDS:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        styles.extend(getattr(module, name))
    return styles


async def main() -> None:
    portrait = (ROOT / "tests" / "fixtures" / "portrait.jpg").read_bytes()
    generator = LocalGenerator(max_side=512)
    OUT.mkdir(parents=True, exist_ok=True)
    for style in _catalogue():
        name = str(style["name"])
        result = await generator.generate(
            GenerationRequest(
                style=StyleSpec(
                    name=name,
                    prompt=str(style["prompt"]),
                    palette=tuple(str(style["palette"]).split(",")),
                    length=style["length"],  # type: ignore[arg-type]
                    texture=style["texture"],  # type: ignore[arg-type]
                ),
                view=View.FRONT,
                deadline_s=60,
                image_bytes=portrait,
                seed=1,
            )
        )
        image = Image.open(io.BytesIO(result.data)).convert("RGB")
        # A square around the head: the face sits at about (177, 66, 95, 95) in the portrait.
        image = image.crop(HEAD_BOX).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        target = OUT / f"{'-'.join(name.lower().split())}.jpg"
        image.save(target, "JPEG", quality=85)
        print(f"{target.relative_to(ROOT)} {target.stat().st_size} bytes")


if __name__ == "__main__":
    asyncio.run(main())
