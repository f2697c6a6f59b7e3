"""try-on options: hair colour and a reference photo on each image; catalogue facets, new styles

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

`images.hair_color` is a colour id of app/styles/colors.py; NULL keeps the person's own colour
("keep", also what every earlier image did) or, for a haircut from a photo, takes the
reference's. `images.reference_key` is that reference: the caller's own upload, instead of a
style.

Styles get the facets of SPEC §4a: `gender`, `length` (the column the local generator already
read, now required) and free `tags`. The seeded styles are tagged and their prompts rewritten to
describe the cut only, since the colour is chosen apart (a prompt an admin has edited is left
alone); `NEW_STYLES` grows the catalogue to 30, every gender with every length. The data lives
here, not imported from the app: a migration must keep meaning what it meant when written.
Thumbnails ship in app/static/styles/ (scripts/render_style_thumbnails.py renders them from
this list and 0005's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}

# As in 0005: the same person, only the hair changes, said in so many words.
_KEEP = (
    "Edit this photo of a person. Keep the same person: identical face, facial features, skin "
    "tone, expression, age, head pose, clothing, background and lighting. Change only the hair: "
)
_FINISH = " Photorealistic, natural hairline, realistic strands, seamless blend with the photo."

# The seeded styles of 0005: (their cut-only prompt, the prompt 0005 seeded, gender, tags).
SEEDED: dict[str, tuple[str, str, str, list[str]]] = {
    "Classic Bob": (
        "a sleek chin-length classic bob, blunt ends curving slightly under, side part, glossy.",
        "a sleek chin-length classic bob, blunt ends curving slightly under, side part,"
        " glossy dark brown.",
        "female",
        ["bob", "sleek", "classic"],
    ),
    "Pixie Cut": (
        "a short textured pixie cut, tapered sides and nape, slightly longer piecey top swept to"
        " one side.",
        "a short textured pixie cut, tapered sides and nape, slightly longer piecey"
        " top swept to one side, natural dark blonde.",
        "female",
        ["pixie", "textured", "low-maintenance"],
    ),
    "Long Beach Waves": (
        "long loose beach waves falling past the shoulders, soft volume, sun-tousled texture.",
        "long loose beach waves falling past the shoulders, soft volume, honey blonde"
        " balayage over light brown roots.",
        "female",
        ["waves", "beach", "volume"],
    ),
    "Curtain Bangs Shag": (
        "a shoulder-length layered shag with soft curtain bangs parted in the middle, feathered"
        " layers.",
        "a shoulder-length layered shag with soft curtain bangs parted in the middle,"
        " feathered layers, warm chestnut brown.",
        "female",
        ["shag", "bangs", "layered"],
    ),
    "Copper Lob": (
        "a collarbone-length lob with a slight A-line, smooth with a subtle bend at the ends.",
        "a collarbone-length lob with a slight A-line, smooth with a subtle bend at the"
        " ends, vivid copper red.",
        "female",
        ["lob", "a-line", "sleek"],
    ),
    "Defined Curls": (
        "shoulder-length defined ringlet curls with volume at the crown, healthy shine.",
        "shoulder-length defined ringlet curls with volume at the crown, healthy"
        " shine, deep espresso brown.",
        "unisex",
        ["curls", "natural", "volume"],
    ),
    "Platinum Crop": (
        "a short cropped cut, neat sides, slightly tousled top.",
        "a short cropped cut, neat sides, slightly tousled top, icy platinum blonde"
        " with a cool tone.",
        "unisex",
        ["crop", "textured", "low-maintenance"],
    ),
    "Silver Fox": (
        "a short polished cut combed back at the sides, neat tapered neckline.",
        "a short polished cut combed back at the sides, natural silver grey with"
        " lighter white highlights at the temples.",
        "male",
        ["classic", "polished", "combed-back"],
    ),
    "Hollywood Glam Waves": (
        "old Hollywood glamour: shoulder-length sculpted S-waves with a deep side part, high"
        " shine, in the style of classic red-carpet looks.",
        "old Hollywood glamour: shoulder-length sculpted S-waves with a deep side part,"
        " high shine, rich golden blonde, in the style of classic red-carpet looks.",
        "female",
        ["waves", "glam", "vintage", "red-carpet"],
    ),
    "Rock Star Shag": (
        "a choppy seventies rock-star shag with a heavy fringe, messy piecey layers to the"
        " shoulders, in the style of iconic stage looks.",
        "a choppy seventies rock-star shag with a heavy fringe, messy piecey layers to"
        " the shoulders, jet black, in the style of iconic stage looks.",
        "unisex",
        ["shag", "fringe", "rock"],
    ),
    "Pop Star Pink": (
        "long sleek straight hair past the shoulders with a middle part, in the style of"
        " pop-star stage looks.",
        "long sleek straight hair past the shoulders with a middle part, bold pastel"
        " pink with slightly darker roots, in the style of pop-star stage looks.",
        "female",
        ["sleek", "straight", "pop"],
    ),
    "Red Carpet Afro": (
        "a full rounded natural afro with soft coil definition and even volume, warm sheen, in"
        " the style of red-carpet natural hair looks.",
        "a full rounded natural afro with soft coil definition and even volume,"
        " natural black with a warm sheen, in the style of red-carpet natural hair looks.",
        "unisex",
        ["afro", "natural", "coily", "red-carpet"],
    ),
}

# New styles, shaped like 0005's STYLES plus the facets. Prompts describe the cut only; the
# palette is what the thumbnail (and a preview with no colour chosen) shows.
NEW_STYLES: list[dict[str, object]] = [
    {
        "name": "Textured Crop Fade",
        "description": "A short textured crop over a skin-tight fade.",
        "prompt": "a short textured crop with a messy forward fringe on top and a high skin"
        " fade at the sides and back.",
        "category": "standard",
        "palette": "#2a1d15,#3a2a1f",
        "length": "short",
        "texture": "straight",
        "gender": "male",
        "tags": ["crop", "fade", "textured"],
    },
    {
        "name": "Buzz Cut",
        "description": "An even, close buzz all over.",
        "prompt": "an even close-cropped buzz cut all over the head, clean natural hairline.",
        "category": "standard",
        "palette": "#231913,#2f231b",
        "length": "short",
        "texture": "straight",
        "gender": "male",
        "tags": ["buzz", "low-maintenance", "clean"],
    },
    {
        "name": "Classic Side Part",
        "description": "A tidy, tapered cut with a crisp side part.",
        "prompt": "a classic tapered gentleman's cut with a crisp side part, the top combed"
        " over with a soft natural hold.",
        "category": "standard",
        "palette": "#30221a,#443126",
        "length": "short",
        "texture": "straight",
        "gender": "male",
        "tags": ["classic", "side-part", "polished"],
    },
    {
        "name": "Modern Quiff",
        "description": "Volume swept up and back at the front, short sides.",
        "prompt": "a modern quiff: longer top swept up and back at the front with volume,"
        " short tapered sides.",
        "category": "standard",
        "palette": "#3a281c,#56402d",
        "length": "medium",
        "texture": "straight",
        "gender": "male",
        "tags": ["quiff", "volume", "textured"],
    },
    {
        "name": "Surfer Flow",
        "description": "Relaxed, ear-to-chin waves with a natural part.",
        "prompt": "relaxed surfer flow: chin-length loose waves pushed back off the face, a"
        " natural middle part, lived-in texture.",
        "category": "standard",
        "palette": "#6b4a2b,#9a7446",
        "length": "medium",
        "texture": "wavy",
        "gender": "male",
        "tags": ["flow", "waves", "beach"],
    },
    {
        "name": "Long Layered Flow",
        "description": "Shoulder-grazing layers worn loose or tied back.",
        "prompt": "long straight layered hair reaching past the shoulders, worn loose with a"
        " soft centre part.",
        "category": "standard",
        "palette": "#2e2019,#45312a",
        "length": "long",
        "texture": "straight",
        "gender": "male",
        "tags": ["layered", "flow", "straight"],
    },
    {
        "name": "Long Curly Mane",
        "description": "Long, loose curls with volume through the lengths.",
        "prompt": "long loose curls falling past the shoulders with volume through the"
        " lengths and a natural part.",
        "category": "standard",
        "palette": "#2a1a12,#3d271b",
        "length": "long",
        "texture": "curly",
        "gender": "male",
        "tags": ["curls", "volume", "natural"],
    },
    {
        "name": "French Crop",
        "description": "A short crop with a blunt, straight fringe.",
        "prompt": "a French crop: short all over with a blunt straight fringe across the"
        " forehead and a soft taper.",
        "category": "standard",
        "palette": "#2b1e16,#3c2a1f",
        "length": "short",
        "texture": "straight",
        "gender": "unisex",
        "tags": ["crop", "fringe", "low-maintenance"],
    },
    {
        "name": "Curly Taper",
        "description": "Short defined curls on top, tapered sides.",
        "prompt": "short defined curls on top with a low taper at the sides and neckline.",
        "category": "standard",
        "palette": "#1f150f,#2e2018",
        "length": "short",
        "texture": "curly",
        "gender": "unisex",
        "tags": ["curls", "taper", "natural"],
    },
    {
        "name": "Wolf Cut",
        "description": "Shaggy, choppy layers with a mullet-like shape.",
        "prompt": "a wolf cut: choppy shaggy layers with volume at the crown, wispy fringe and"
        " longer tapered lengths at the nape.",
        "category": "standard",
        "palette": "#3b2a20,#5a4030",
        "length": "medium",
        "texture": "wavy",
        "gender": "unisex",
        "tags": ["shag", "layered", "wolf-cut"],
    },
    {
        "name": "Long Locs",
        "description": "Neat, even locs well past the shoulders.",
        "prompt": "long neat even locs falling well past the shoulders, tidy roots.",
        "category": "standard",
        "palette": "#1b120d,#2b1c14",
        "length": "long",
        "texture": "coily",
        "gender": "unisex",
        "tags": ["locs", "natural", "protective"],
    },
    {
        "name": "Long Straight Layers",
        "description": "Long, sleek hair with soft face-framing layers.",
        "prompt": "long sleek straight hair with soft face-framing layers and a centre part.",
        "category": "standard",
        "palette": "#3a281d,#5b4230",
        "length": "long",
        "texture": "straight",
        "gender": "unisex",
        "tags": ["layered", "sleek", "straight"],
    },
    {
        "name": "Bixie Cut",
        "description": "Between a bob and a pixie: short, soft and piecey.",
        "prompt": "a bixie cut: between a short bob and a pixie, soft piecey layers ending at"
        " the ears, side-swept fringe.",
        "category": "standard",
        "palette": "#4a3323,#6a4b33",
        "length": "short",
        "texture": "straight",
        "gender": "female",
        "tags": ["pixie", "bob", "textured"],
    },
    {
        "name": "Shoulder-Length Blunt Cut",
        "description": "One length at the shoulders, crisp blunt ends.",
        "prompt": "a one-length cut at the shoulders with crisp blunt ends and a centre part.",
        "category": "standard",
        "palette": "#2d1f17,#3f2c21",
        "length": "medium",
        "texture": "straight",
        "gender": "female",
        "tags": ["blunt", "sleek", "classic"],
    },
    {
        "name": "Butterfly Layers",
        "description": "Long hair with short, feathered face-framing layers.",
        "prompt": "long hair with butterfly layers: short feathered layers framing the face"
        " blending into long lengths, bouncy volume.",
        "category": "standard",
        "palette": "#5a3a25,#8a6040",
        "length": "long",
        "texture": "wavy",
        "gender": "female",
        "tags": ["layered", "volume", "butterfly"],
    },
    {
        "name": "Long Box Braids",
        "description": "Long, even box braids past the shoulders.",
        "prompt": "long even box braids falling past the shoulders, neat square partings.",
        "category": "standard",
        "palette": "#1a110c,#2a1b13",
        "length": "long",
        "texture": "coily",
        "gender": "female",
        "tags": ["braids", "protective", "natural"],
    },
    {
        "name": "Supermodel Blowout",
        "description": "A big, bouncy nineties blowout with curled-under ends.",
        "prompt": "a bouncy nineties supermodel blowout: long voluminous layers with ends"
        " curled under and away from the face, in the style of iconic runway looks.",
        "category": "celebrity",
        "palette": "#4a2f1f,#7a5236",
        "length": "long",
        "texture": "wavy",
        "gender": "female",
        "tags": ["blowout", "volume", "vintage"],
    },
    {
        "name": "Rock and Roll Pompadour",
        "description": "A tall, glossy fifties pompadour with short sides.",
        "prompt": "a tall glossy fifties pompadour swept high and back from the forehead,"
        " short neat sides, in the style of classic rock-and-roll stage looks.",
        "category": "celebrity",
        "palette": "#141212,#24201f",
        "length": "medium",
        "texture": "straight",
        "gender": "male",
        "tags": ["pompadour", "vintage", "rock"],
    },
]

_FIRST_NEW_SORT_ORDER = 130  # 0005 seeded 10..120


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


def _facets_and_prompts(*, upgrade: bool) -> None:
    """Tag the seeded styles; swap 0005's prompt for the cut-only one (or back), only where a
    row still holds the text the other side seeded (an admin's edit stays)."""
    bind = op.get_bind()
    for name, (cut_only, seeded, gender, tags) in SEEDED.items():
        old, new = (seeded, cut_only) if upgrade else (cut_only, seeded)
        bind.execute(
            sa.text("UPDATE styles SET prompt = :new WHERE name = :name AND prompt = :old"),
            {"name": name, "new": _KEEP + new + _FINISH, "old": _KEEP + old + _FINISH},
        )
        if upgrade:
            bind.execute(
                sa.text("UPDATE styles SET gender = :gender, tags = :tags WHERE name = :name"),
                {"name": name, "gender": gender, "tags": ",".join(tags)},
            )


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("reference_key", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("hair_color", sa.String(length=32), nullable=True))
    # Styles without a length kept the client's: medium is what the local generator drew.
    op.execute(
        "UPDATE styles SET length = 'medium' WHERE length IS NULL OR length NOT IN"
        " ('short', 'medium', 'long')"
    )
    with op.batch_alter_table("styles", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(
            sa.Column("gender", sa.String(length=16), server_default="unisex", nullable=False)
        )
        batch_op.add_column(
            sa.Column("tags", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.alter_column("length", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_styles_gender_known"), "gender IN ('female', 'male', 'unisex')"
        )
        batch_op.create_check_constraint(
            op.f("ck_styles_length_known"), "length IN ('short', 'medium', 'long')"
        )
    _facets_and_prompts(upgrade=True)
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
        sa.column("gender", sa.String),
        sa.column("tags", sa.String),
        sa.column("sort_order", sa.Integer),
        sa.column("is_active", sa.Boolean),
    )
    rows = [
        {
            **style,
            "prompt": _KEEP + str(style["prompt"]) + _FINISH,
            "tags": ",".join(str(tag) for tag in style["tags"]),  # type: ignore[attr-defined]
            "thumbnail": f"static/styles/{_slug(str(style['name']))}.jpg",
            "sort_order": _FIRST_NEW_SORT_ORDER + index * 10,
            "is_active": True,
        }
        for index, style in enumerate(NEW_STYLES)
    ]
    op.bulk_insert(styles, rows)


def downgrade() -> None:
    names = [str(style["name"]) for style in NEW_STYLES]
    # Images keep their style snapshot (name, description); the link is dropped first.
    op.execute(
        sa.text(
            "UPDATE images SET style_id = NULL WHERE style_id IN"
            " (SELECT id FROM styles WHERE name IN :names)"
        ).bindparams(sa.bindparam("names", value=names, expanding=True))
    )
    op.execute(
        sa.text("DELETE FROM styles WHERE name IN :names").bindparams(
            sa.bindparam("names", value=names, expanding=True)
        )
    )
    _facets_and_prompts(upgrade=False)
    with op.batch_alter_table("styles", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint(op.f("ck_styles_length_known"), type_="check")
        batch_op.drop_constraint(op.f("ck_styles_gender_known"), type_="check")
        batch_op.alter_column("length", existing_type=sa.String(length=16), nullable=True)
        batch_op.drop_column("tags")
        batch_op.drop_column("gender")
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("hair_color")
        batch_op.drop_column("reference_key")
