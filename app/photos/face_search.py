"""The photo check's face search: the cascade's scales scanned from the largest window down,
stopped as soon as the windows not yet scanned can no longer change what is measured.

Most of a full scan's time goes on its smallest windows (a 24 px window visits about as many
positions at 1024x768 as all windows above 48 px together), and the common photo, one large
face, is settled by the large ones. The answer is the one `find_faces(grey, min_side)` gives;
here is why, step by step.

**What a full scan is.** `detectMultiScale2` scans each window width w_k = round(24 * 1.1^k)
from `min_side` up on its own resize of the image, collects every accepted window, and groups
them (`groupRectangles`, eps 0.2): windows are linked when their four edges lie within
delta = 0.2 * (the smaller width), the groups are the linked components, a group's box is the
mean of its windows and its votes their count; groups of 5 votes or fewer are dropped, and so
is a group lying inside another (with 20 % slack) that has more votes. `find_faces` then keeps
the groups with at least 30 % of the strongest group's votes ("confident"), largest first.
The measurement uses only: the largest confident face L (its box gives `face_share` and
`face_sharpness`) and the confident faces at least half as wide as L (`face_count`).

**Scanning by scales.** Each scale's windows are the same whichever other scales are scanned
(`raw_windows`), and grouping the windows of every scale with OpenCV's own `groupRectangles`
gives the full scan's groups exactly (tests/photos/test_face_search.py checks both). So after
the widths down to w_a, the windows still unscanned are all at most u = w_(a-1) wide.

**Which unscanned windows can change the answer.** Two linked windows differ in width by at
most twice delta, so the wider is at most 1.4 times the narrower: an unscanned window can join
only a group holding a window at most 1.4 * u wide ("near the cut"). Every other group, and
every group linked to none near the cut, is in the full scan exactly as it is now (its windows
and their links are all scanned already). What the rest of the scan can add or change is then:
(1) groups made only of unscanned windows, at most u wide; (2) the groups reached from a
window near the cut, at most M wide, M the widest window reachable from one through links.
A group at most m wide can (a) be or become L, or count beside it, only if m >= L / 2; (b) drop
a counted face F "inside" it only if 1.4 * m + 1 >= F's width (an inside box is at most the
outer width plus twice the slack, rounded: 1.4 * m + 1). So with m = max(u, M), when m < L / 2
and 1.4 * m + 1 < the narrowest counted face, no unscanned window can change L's box or which
faces count, and the search stops. (For one face, the first: windows down to about half its
width settle it; the second matters only for two faces side by side.)

**The votes.** Confidence is relative to the strongest group, and the groups still to come can
only be stronger (a group only gains windows, and the strongest group is never dropped as
inside another, which would need more votes). Unscanned windows can therefore never make a
face count that does not count now, but a group of small windows with more than 1 / 0.3 times
a counted face's votes would drop that face from a full scan. Votes do not grow with the size
of a face (the windows step by 1.1 in width and by a fraction of the width in position), so no
bound comes from the sizes; the search stops early only when every counted face has at least
`SETTLED_VOTES` (20), which a group in the unscanned windows could outvote only with more than
66. The fixture portrait pasted at 28-178 px had 9-38 votes, two side by side 40 and 45: this is
the one measured premise, and a photo that meets it settles the same as a full scan. A weaker
face (a blurred or half-turned one, a pattern in clothing) scans on down, as does a photo
without a face: no early answer is ever "no face".

**What each verdict needs, then** (PHOTO_TOO_DARK does not depend on faces): one large sharp
face (accepted, or PHOTO_TOO_BLURRY) stops once the windows down to about half its width are
scanned, e.g. 91 px for a face of 23 % of a 768 px side (about a fifth of the full scan's work);
MULTIPLE_FACES among large faces stops the same way, once the windows are narrower than 0.7 of
the narrower counted face as well; NO_FACE_DETECTED and FACE_TOO_SMALL (and two small faces,
MULTIPLE_FACES) scan every window down to `min_side`, the full scan, since only the smallest
windows can tell them apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from app.integrations.generator.faces import (
    GROUP_EPS,
    FaceBox,
    group_windows,
    raw_windows,
    window_sides,
)

# A face counts beside the largest when it is at least this wide relative to it.
COMPARABLE_FACE = 0.5
SETTLED_VOTES = 20
# Above this many windows the stopping test (pairwise links) is skipped and the scan goes on.
_MAX_WINDOWS_TESTED = 3000
# Two linked windows differ in width by at most 2 * GROUP_EPS of the narrower.
_LINK_REACH = 1 + 2 * GROUP_EPS

Window = tuple[int, int, int, int]


def search_faces(grey: npt.NDArray[Any], min_side: int) -> list[FaceBox]:
    """`find_faces(grey, min_side)`: the confident faces largest first, the same whenever the
    largest is settled by the larger windows (see the module's docstring), found for less."""
    return search_faces_scanned(grey, min_side)[0]


def search_faces_scanned(grey: npt.NDArray[Any], min_side: int) -> tuple[list[FaceBox], int]:
    """The faces and the narrowest window width scanned to find them (0: none scanned)."""
    sides = [side for side in window_sides(min(grey.shape[:2])) if side >= min_side]
    windows: list[Window] = []
    for index in range(len(sides) - 1, -1, -1):
        windows += raw_windows(grey, sides[index])
        found = group_windows(windows)
        if index == 0 or _settled(found, windows, unscanned=sides[index - 1]):
            return [face for face, _ in found], sides[index]
    return [], 0


def _settled(found: list[tuple[FaceBox, int]], windows: list[Window], unscanned: int) -> bool:
    """Whether no window of width `unscanned` or less can change the largest face's box or
    which faces count beside it."""
    if not found:
        return False
    largest = found[0][0].w
    counted = [(face.w, votes) for face, votes in found if face.w >= COMPARABLE_FACE * largest]
    if min(v for _, v in counted) < SETTLED_VOTES or len(windows) > _MAX_WINDOWS_TESTED:
        return False
    reach = max(unscanned, _widest_reached(windows, _LINK_REACH * unscanned))
    narrowest = min(w for w, _ in counted)
    return reach < largest * COMPARABLE_FACE and _LINK_REACH * reach + 1 < narrowest


def _widest_reached(windows: list[Window], near: float) -> int:
    """The widest window linked, directly or through others, to a window at most `near`
    wide (0 when there is none)."""
    boxes = np.array(windows, dtype=np.float64)
    reached = boxes[:, 2] <= near
    if not reached.any():
        return 0
    x, y, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    # OpenCV's SimilarRects: every edge within delta of the other window's.
    delta = GROUP_EPS * (np.minimum.outer(w, w) + np.minimum.outer(h, h)) * 0.5
    linked = (
        (np.abs(np.subtract.outer(x, x)) <= delta)
        & (np.abs(np.subtract.outer(y, y)) <= delta)
        & (np.abs(np.subtract.outer(x + w, x + w)) <= delta)
        & (np.abs(np.subtract.outer(y + h, y + h)) <= delta)
    )
    while True:
        grown = reached | linked[reached].any(axis=0)
        if (grown == reached).all():
            return int(w[reached].max())
        reached = grown
