"""The user's generations as clients see them: status polls, history, likes, deletion."""

from __future__ import annotations

from collections.abc import Callable

from app.core.background import AfterCommit
from app.files.exceptions import ImageNotFound
from app.generation.repository import ImageRepository, ImageViewRepository
from app.generation.result_keys import ResultKeys
from app.generation.schemas import (
    ImageRead,
    ImagesPage,
    SideViewsRead,
)
from app.integrations.storage import Storage
from app.models import Image, ViewsStatus

RECENT_UPLOADS = 5


class GalleryService:
    def __init__(
        self,
        images: ImageRepository,
        views: ImageViewRepository,
        storage: Storage,
        after_commit: Callable[[AfterCommit], None],
        result_keys: ResultKeys,
    ) -> None:
        self.images = images
        self.views = views
        self.storage = storage
        self.after_commit = after_commit
        self.result_keys = result_keys

    async def page(
        self, user_id: int, *, page: int, limit: int, favourites: bool, newest_first: bool
    ) -> ImagesPage:
        images = await self.images.list_for_owner(
            user_id,
            favourites=favourites,
            newest_first=newest_first,
            offset=(page - 1) * limit,
            limit=limit,
        )
        total = await self.images.count_for_owner(user_id, favourites=favourites)
        return ImagesPage(
            images=[await self._read(image) for image in images],
            page=page,
            limit=limit,
            next_page=page + 1 if page * limit < total else None,
            total_images=total,
        )

    async def recent_uploads(self, user_id: int) -> list[str]:
        keys = await self.images.recent_input_keys(user_id, RECENT_UPLOADS)
        return [await self.storage.url_for(key) for key in keys]

    async def set_liked(self, image_id: int, user_id: int, liked: bool) -> None:
        image = await self._owned(image_id, user_id)
        image.liked = liked
        await self.images.session.flush()

    async def delete(self, image_id: int, user_id: int) -> None:
        """Removes the record now and its files once that has committed (a job still
        running finds no row and discards its result)."""
        image = await self._owned(image_id, user_id)
        keys = [
            key
            for key in (
                image.output_key,
                image.right_view_key,
                image.left_view_key,
                image.back_view_key,
            )
            if key
        ]
        # The image's result folder also holds what a crashed attempt stored unrecorded.
        folder = self.result_keys.folder_of(image.user_id, image.id)
        await self.images.delete(image)

        async def remove_files() -> None:
            for key in keys:
                await self.storage.delete(key)
            await self.storage.delete_prefix(folder)

        self.after_commit(remove_files)

    async def _owned(self, image_id: int, user_id: int) -> Image:
        image = await self.images.get_owned(image_id, user_id)
        if image is None:
            raise ImageNotFound()
        return image

    async def _read(self, image: Image) -> ImageRead:
        has_views = image.views_status != ViewsStatus.NONE
        return ImageRead(
            id=image.id,
            input_image_url=await self.storage.url_for(image.input_key),
            output_image_url=await self._url(image.output_key),
            description=image.description,
            style_name=image.style_name,
            side_views=SideViewsRead(
                right_view_url=await self._url(image.right_view_key),
                left_view_url=await self._url(image.left_view_key),
                back_view_url=await self._url(image.back_view_key),
            )
            if has_views
            else None,
            status=image.status,
            views_status=image.views_status,
            liked=image.liked,
            created_at=image.created_at,
            time_taken=image.time_taken,
        )

    async def _url(self, key: str | None) -> str | None:
        return await self.storage.url_for(key) if key else None
