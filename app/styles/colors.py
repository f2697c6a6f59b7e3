"""The hair colour catalogue (SPEC §4a): natural shades and fashion colours, chosen apart from
the style. Fixed in code, not in the database: a colour id is part of a generation request
and of its idempotency hash, so an id must keep meaning the same colour."""

from __future__ import annotations

from dataclasses import dataclass

KEEP = "keep"


@dataclass(frozen=True, slots=True)
class HairColor:
    id: str
    name: str
    # None only for "keep": the person's own colour, whatever it is.
    hex: str | None


HAIR_COLORS: tuple[HairColor, ...] = (
    HairColor(KEEP, "Your own colour", None),
    HairColor("jet-black", "Jet black", "#0f0e0d"),
    HairColor("soft-black", "Soft black", "#2a2320"),
    HairColor("dark-brown", "Dark brown", "#3b2619"),
    HairColor("chestnut", "Chestnut", "#6a3d24"),
    HairColor("light-brown", "Light brown", "#8b6645"),
    HairColor("honey-blonde", "Honey blonde", "#c39a5c"),
    HairColor("golden-blonde", "Golden blonde", "#d4ad6a"),
    HairColor("platinum", "Platinum blonde", "#e8e2d2"),
    HairColor("auburn", "Auburn", "#7a2e1c"),
    HairColor("copper", "Copper", "#b5562a"),
    HairColor("silver-grey", "Silver grey", "#b4b4b8"),
    HairColor("pastel-pink", "Pastel pink", "#e79bbd"),
    HairColor("rose-gold", "Rose gold", "#c98d7b"),
    HairColor("lavender", "Lavender", "#a88fd1"),
    HairColor("ice-blue", "Ice blue", "#7fb2d9"),
    HairColor("emerald", "Emerald green", "#1f7a55"),
)

_BY_ID = {colour.id: colour for colour in HAIR_COLORS}


def find_color(color_id: str) -> HairColor | None:
    return _BY_ID.get(color_id)
