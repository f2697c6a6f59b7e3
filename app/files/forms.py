"""Multipart bodies read under a size cap: a 50 MiB body is refused after cap + one chunk,
never read whole (UP-01). The cap is checked on Content-Length first, then on the bytes."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from app.files.exceptions import ImageTooLarge, InvalidImage

# Room for the multipart boundaries and the policy fields around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024


async def _capped(chunks: AsyncIterator[bytes], cap: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > cap:
            raise ImageTooLarge()
        yield chunk


async def read_capped_form(request: Request, max_file_bytes: int) -> FormData:
    cap = max_file_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ImageTooLarge()
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidImage("Send the image as multipart/form-data with a `file` part.")
    parser = MultiPartParser(
        request.headers, _capped(request.stream(), cap), max_files=1, max_fields=20
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise InvalidImage(f"The upload form is malformed: {exc.message}") from None


async def file_bytes(form: FormData, field: str = "file") -> bytes:
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise InvalidImage(f"The form has no `{field}` file part.")
    return await upload.read()


def text_fields(form: FormData) -> dict[str, str]:
    return {name: value for name, value in form.multi_items() if isinstance(value, str)}
