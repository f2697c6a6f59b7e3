"""Share links of a person's images, and what their public page may show (SPEC §4a).

The page shows the pair (before, after) and the style's name, nothing else of the account:
no name, email, ids or storage keys (keys carry the user id). Its pictures are served by the
share routes for that token only, so the page holds no signed storage URL that would outlive
a revocation, and the link dies the moment its row does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import anyio.to_thread
from PIL import Image as PILImage

from app.core.db import release
from app.core.imaging import decode_image
from app.files.exceptions import ImageNotFound
from app.files.intake import IMAGE_WORK
from app.generation.exceptions import ImageNotReady
from app.generation.repository import ImageRepository
from app.integrations.storage import Storage
from app.integrations.storage.port import ObjectNotFound
from app.models import Image
from app.sharing.exceptions import ShareNotFound
from app.sharing.repository import ShareLinkRepository
from app.sharing.tokens import MAX_TOKEN_LENGTH, PAGE_PREFIX, hash_token, new_token

PREVIEW_HEIGHT = 315  # half of Open Graph's 1200x630: small, and sharp enough in a chat


class Picture(StrEnum):
    BEFORE = "before"
    AFTER = "after"
    PREVIEW = "preview"


@dataclass(frozen=True, slots=True)
class CreatedShare:
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SharedPair:
    """What the page shows: the style's label and where its pictures are served."""

    style_name: str
    before_url: str
    after_url: str
    preview_url: str
    page_url: str


@dataclass(frozen=True, slots=True)
class PictureBytes:
    data: bytes
    content_type: str


class ShareService:
    def __init__(
        self,
        links: ShareLinkRepository,
        images: ImageRepository,
        storage: Storage,
        public_base_url: str,
        max_pixels: int,
    ) -> None:
        self.links = links
        self.images = images
        self.storage = storage
        self.base_url = public_base_url.rstrip("/")
        self.max_pixels = max_pixels

    async def share(self, user_id: int, image_id: int, hours: int) -> CreatedShare:
        """A new link for a finished image of the caller's (replacing any earlier one).
        Someone else's image answers exactly like a missing one (BOLA)."""
        image = await self._owned(user_id, image_id)
        if image.output_key is None:
            raise ImageNotReady()
        token = new_token()
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
        await self.links.replace(image.id, hash_token(token), expires_at)
        return CreatedShare(url=self.page_url(token), expires_at=expires_at)

    async def revoke(self, user_id: int, image_id: int) -> None:
        image = await self._owned(user_id, image_id)
        await self.links.revoke(image.id)

    async def pair(self, token: str) -> SharedPair:
        image = await self._shared(token)
        page = self.page_url(token)
        # The page's own pictures by path (same origin, whatever host served it); Open Graph
        # needs absolute URLs.
        path = f"{PAGE_PREFIX}{token}"
        return SharedPair(
            style_name=image.style_name,
            before_url=f"{path}/{Picture.BEFORE}",
            after_url=f"{path}/{Picture.AFTER}",
            preview_url=f"{page}/{Picture.PREVIEW}",
            page_url=page,
        )

    async def picture(self, token: str, which: Picture) -> PictureBytes:
        image = await self._shared(token)
        assert image.output_key is not None, "live_image only finds finished images"
        # The rest is storage and image work (a preview may queue for the limiter): the pool's
        # connection goes back first, so previews of a public link cannot hold the whole pool.
        await release(self.links.session)
        if which is Picture.BEFORE:
            return await self._object(image.input_key)
        after = await self._object(image.output_key)
        if which is Picture.AFTER:
            return after
        before = await self._object(image.input_key)
        # Decoding and resizing is CPU work: off the event loop (no connection held), and
        # one image at a time with the process's other image work (intake's limiter): anyone
        # with the link may ask, and each preview holds two decoded pictures in memory.
        data = await anyio.to_thread.run_sync(
            self._side_by_side, before.data, after.data, limiter=IMAGE_WORK
        )
        return PictureBytes(data, "image/jpeg")

    def page_url(self, token: str) -> str:
        return f"{self.base_url}{PAGE_PREFIX}{token}"

    async def _owned(self, user_id: int, image_id: int) -> Image:
        image = await self.images.get_owned(image_id, user_id)
        if image is None:
            raise ImageNotFound()
        return image

    async def _shared(self, token: str) -> Image:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise ShareNotFound()
        image = await self.links.live_image(hash_token(token), datetime.now(UTC))
        if image is None:
            raise ShareNotFound()
        return image

    async def _object(self, key: str) -> PictureBytes:
        try:
            data = await self.storage.get(key)
        except ObjectNotFound as exc:
            # The input was purged (retention) or the files are being removed with the image.
            raise ShareNotFound() from exc
        info = await self.storage.head(key)
        return PictureBytes(data, info.content_type if info and info.content_type else "image/jpeg")

    def _side_by_side(self, before: bytes, after: bytes) -> bytes:
        halves: list[PILImage.Image] = []
        for data in (before, after):
            with decode_image(
                data, max_pixels=self.max_pixels, draft_size=PREVIEW_HEIGHT * 2
            ) as im:
                rgb = im.convert("RGB")
            width = max(1, round(rgb.width * PREVIEW_HEIGHT / rgb.height))
            halves.append(rgb.resize((width, PREVIEW_HEIGHT), PILImage.Resampling.LANCZOS))
        canvas = PILImage.new("RGB", (sum(h.width for h in halves), PREVIEW_HEIGHT), "white")
        x = 0
        for half in halves:
            canvas.paste(half, (x, 0))
            x += half.width
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=80, optimize=True)
        return out.getvalue()
