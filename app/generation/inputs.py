"""Which stored object a client's `image_input_url` names. We only ever accept our own
storage's URLs or keys; any other URL is refused without being fetched (BOLA-02)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from app.core.config import Settings

MEDIA_PREFIX = "/media/"


def key_from_reference(reference: str, settings: Settings) -> str | None:
    reference = reference.strip()
    if "://" not in reference:
        return reference.lstrip("/") or None
    try:
        parts = urlsplit(reference)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host: no URL of ours
        return None
    path = unquote(parts.path)
    for base, prefix in _known_locations(settings):
        if host == base and path.startswith(prefix) and len(path) > len(prefix):
            return path[len(prefix) :]
    return None


def _known_locations(settings: Settings) -> list[tuple[str, str]]:
    """(host, path prefix) pairs under which our storage hands out object URLs."""
    locations = [(urlsplit(settings.public_base_url).hostname or "", MEDIA_PREFIX)]
    if settings.CDN_DOMAIN:
        cdn = settings.CDN_DOMAIN.removeprefix("https://").removeprefix("http://").rstrip("/")
        locations.append((cdn.lower(), "/"))
    for endpoint in (settings.S3_ENDPOINT_URL, settings.S3_PUBLIC_ENDPOINT_URL):
        if endpoint:
            locations.append(
                ((urlsplit(endpoint).hostname or "").lower(), f"/{settings.BUCKET_NAME}/")
            )
    if settings.STORAGE_BACKEND == "s3" and not settings.S3_ENDPOINT_URL:
        bucket_host = f"{settings.BUCKET_NAME}.s3.{settings.AWS_REGION}.amazonaws.com"
        locations.append((bucket_host, "/"))
        locations.append((f"s3.{settings.AWS_REGION}.amazonaws.com", f"/{settings.BUCKET_NAME}/"))
    return [(host, prefix) for host, prefix in locations if host]
