"""seed the style catalogue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

The data lives here, not imported from the app: a migration must keep meaning what it meant
when it was written. Thumbnails ship in app/static/styles/.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every prompt tells the image-editing model the same two things first: this is the same
# person, and only the hair changes. Models drift on identity unless told, in so many words.
_KEEP = (
    "Edit this photo of a person. Keep the same person: identical face, facial features, skin "
    "tone, expression, age, head pose, clothing, background and lighting. Change only the hair: "
)
_FINISH = " Photorealistic, natural hairline, realistic strands, seamless blend with the photo."

STYLES: list[dict[str, object]] = [
    {
        "name": "Classic Bob",
        "description": "A chin-length, blunt-cut bob with a soft inward curve.",
        "prompt": "a sleek chin-length classic bob, blunt ends curving slightly under, side part,"
        " glossy dark brown.",
        "category": "standard",
        "palette": "#3b2417,#4a2e1d",
        "length": "short",
        "texture": "straight",
    },
    {
        "name": "Pixie Cut",
        "description": "Short, textured and tapered at the sides and nape.",
        "prompt": "a short textured pixie cut, tapered sides and nape, slightly longer piecey"
        " top swept to one side, natural dark blonde.",
        "category": "standard",
        "palette": "#8a6a3f,#a27f4d",
        "length": "short",
        "texture": "straight",
    },
    {
        "name": "Long Beach Waves",
        "description": "Loose, sun-kissed waves well past the shoulders.",
        "prompt": "long loose beach waves falling past the shoulders, soft volume, honey blonde"
        " balayage over light brown roots.",
        "category": "standard",
        "palette": "#6b4a2b,#b98a4e,#d9b27a",
        "length": "long",
        "texture": "wavy",
    },
    {
        "name": "Curtain Bangs Shag",
        "description": "A layered shag with face-framing curtain bangs.",
        "prompt": "a shoulder-length layered shag with soft curtain bangs parted in the middle,"
        " feathered layers, warm chestnut brown.",
        "category": "standard",
        "palette": "#5a3320,#7a4a2c",
        "length": "medium",
        "texture": "wavy",
    },
    {
        "name": "Copper Lob",
        "description": "A collarbone-length lob in bright copper.",
        "prompt": "a collarbone-length lob with a slight A-line, smooth with a subtle bend at the"
        " ends, vivid copper red.",
        "category": "standard",
        "palette": "#8c3a17,#b5562a",
        "length": "medium",
        "texture": "straight",
    },
    {
        "name": "Defined Curls",
        "description": "Shoulder-length, springy, well-defined curls.",
        "prompt": "shoulder-length defined ringlet curls with volume at the crown, healthy"
        " shine, deep espresso brown.",
        "category": "standard",
        "palette": "#2a1a12,#3d261a",
        "length": "medium",
        "texture": "curly",
    },
    {
        "name": "Platinum Crop",
        "description": "A short crop in icy platinum blonde.",
        "prompt": "a short cropped cut, neat sides, slightly tousled top, icy platinum blonde"
        " with a cool tone.",
        "category": "standard",
        "palette": "#d8d4c8,#eeeae0",
        "length": "short",
        "texture": "straight",
    },
    {
        "name": "Silver Fox",
        "description": "Short, polished and distinguished in natural silver.",
        "prompt": "a short polished cut combed back at the sides, natural silver grey with"
        " lighter white highlights at the temples.",
        "category": "standard",
        "palette": "#8f8f8f,#c4c4c4",
        "length": "short",
        "texture": "straight",
    },
    {
        "name": "Hollywood Glam Waves",
        "description": "Old-Hollywood sculpted waves with a deep side part.",
        "prompt": "old Hollywood glamour: shoulder-length sculpted S-waves with a deep side part,"
        " high shine, rich golden blonde, in the style of classic red-carpet looks.",
        "category": "celebrity",
        "palette": "#a67c38,#c99b4f",
        "length": "medium",
        "texture": "wavy",
    },
    {
        "name": "Rock Star Shag",
        "description": "A messy, choppy seventies-rock shag with heavy fringe.",
        "prompt": "a choppy seventies rock-star shag with a heavy fringe, messy piecey layers to"
        " the shoulders, jet black, in the style of iconic stage looks.",
        "category": "celebrity",
        "palette": "#121212,#1f1f24",
        "length": "medium",
        "texture": "wavy",
    },
    {
        "name": "Pop Star Pink",
        "description": "Long, sleek hair in a bold pastel pink.",
        "prompt": "long sleek straight hair past the shoulders with a middle part, bold pastel"
        " pink with slightly darker roots, in the style of pop-star stage looks.",
        "category": "celebrity",
        "palette": "#c2457a,#e58fb4",
        "length": "long",
        "texture": "straight",
    },
    {
        "name": "Red Carpet Afro",
        "description": "A full, rounded natural afro with soft definition.",
        "prompt": "a full rounded natural afro with soft coil definition and even volume,"
        " natural black with a warm sheen, in the style of red-carpet natural hair looks.",
        "category": "celebrity",
        "palette": "#1b120d,#2b1c14",
        "length": "medium",
        "texture": "coily",
    },
]


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


def upgrade() -> None:
    styles = sa.table(
        "styles",
        sa.column("name", sa.String),
        sa.column("description", sa.String),
        sa.column("prompt", sa.Text),
        sa.column("category", sa.String),
        sa.column("thumbnail", sa.String),
        sa.column("palette", sa.String),
        sa.column("length", sa.String),
        sa.column("texture", sa.String),
        sa.column("sort_order", sa.Integer),
        sa.column("is_active", sa.Boolean),
    )
    rows = [
        {
            **style,
            "prompt": _KEEP + str(style["prompt"]) + _FINISH,
            "thumbnail": f"static/styles/{_slug(str(style['name']))}.jpg",
            "sort_order": (index + 1) * 10,
            "is_active": True,
        }
        for index, style in enumerate(STYLES)
    ]
    op.bulk_insert(styles, rows)


def downgrade() -> None:
    names = [str(style["name"]) for style in STYLES]
    op.execute(
        sa.text("DELETE FROM styles WHERE name IN :names").bindparams(
            sa.bindparam("names", value=names, expanding=True)
        )
    )
