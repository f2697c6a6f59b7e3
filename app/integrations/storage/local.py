"""The embedded storage backend: objects are files under one folder (`var/media` in the app).

Clients never read the folder directly. They get signed, expiring URLs on the backend's own
media route, and upload with the same S3-style form POST the SPA uses against S3, to the
backend's upload route, which checks the same policy (`post_policy.py`).

Layout: the object `uploads/user_1/a.jpg` is the file `<root>/uploads/user_1/a.jpg`; its
content type lives beside it in `.a.jpg.meta.json`. Keys may not have dot-leading segments, so
metadata and temporary files can never be addressed, listed or served as objects. Unlike S3, a
key cannot be both an object and a folder (`a` and `a/b`); keys we generate never collide so.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread

from app.integrations.storage import post_policy
from app.integrations.storage.keys import check_content_type, check_key, check_prefix
from app.integrations.storage.port import (
    DEFAULT_URL_EXPIRY_S,
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    PresignedPost,
    StorageError,
)
from app.integrations.storage.post_policy import PolicyCheck, PostPolicy

_URL_CONTEXT = b"hairtryon/media-url\n"  # see post_policy._POLICY_CONTEXT
_META_SUFFIX = ".meta.json"
_WRITE_ATTEMPTS = 3
_IMAGE_EXTENSIONS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
# Errors that mean "no object there": missing file, a folder at the key, or a file where the
# key needs a folder (`a` is a file, `a/b` is asked for).
_ABSENT = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class LocalStorage:
    def __init__(
        self,
        root: Path,
        public_base_url: str,
        signing_key: bytes,
        *,
        upload_path: str = "/api/v1/files/upload-form",
        media_path: str = "/media",
        url_expiry_s: int = DEFAULT_URL_EXPIRY_S,
    ) -> None:
        if len(signing_key) < 16:
            raise ValueError("signing_key must be at least 16 bytes")
        self._root = Path(os.path.abspath(root))
        self._public_base_url = public_base_url.rstrip("/")
        self._signing_key = signing_key
        self._upload_path = upload_path
        self._media_path = media_path.rstrip("/")
        self._url_expiry_s = _positive(url_expiry_s, "url_expiry_s")

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, key: str) -> Path:
        """The file of `key` (validated; it may not exist), for a route that streams it."""
        return self._root / check_key(key)

    # --- the Storage port ---------------------------------------------------------------

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        check_content_type(content_type)
        try:
            await anyio.to_thread.run_sync(self._write, path, data, content_type)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc

    async def put_once(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` only if no object was ever written at `key` since it was last deleted;
        `ObjectExists` otherwise. What makes a presigned form single-use (UP-06): a second
        POST cannot replace bytes that were checked (or are about to be)."""
        path = self.path_for(key)
        check_content_type(content_type)
        try:
            created = await anyio.to_thread.run_sync(self._write_once, path, data, content_type)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc
        if not created:
            raise ObjectExists(key)

    async def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await anyio.to_thread.run_sync(self._read, path)
        except _ABSENT as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            await anyio.to_thread.run_sync(self._remove, path)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    async def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        try:
            return await anyio.to_thread.run_sync(self._remove_prefix, prefix)
        except OSError as exc:
            raise StorageError(f"cannot delete under {prefix!r}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def head(self, key: str) -> ObjectInfo | None:
        path = self.path_for(key)
        try:
            return await anyio.to_thread.run_sync(self._stat, path)
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc

    async def presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int = DEFAULT_URL_EXPIRY_S
    ) -> PresignedPost:
        check_key(key)
        check_content_type(content_type)
        fields = post_policy.sign_post_policy(
            self._signing_key,
            key=key,
            content_type=content_type,
            max_bytes=_positive(max_bytes, "max_bytes"),
            expires_at=int(time.time()) + _positive(expires_in, "expires_in"),
        )
        return PresignedPost(url=self._public_base_url + self._upload_path, fields=fields)

    async def url_for(self, key: str, expires_in: int | None = None) -> str:
        check_key(key)
        lifetime = self._url_expiry_s if expires_in is None else _positive(expires_in, "expires_in")
        expires = int(time.time()) + lifetime
        signature = self._url_signature(key, expires)
        path = quote(key, safe="/")
        return f"{self._public_base_url}{self._media_path}/{path}?expires={expires}&sig={signature}"

    async def ping(self) -> None:
        try:
            await anyio.to_thread.run_sync(self._check_root)
        except OSError as exc:
            raise StorageError(f"media folder {self._root} is not usable: {exc}") from exc

    # --- what the media and upload routes check -----------------------------------------

    def verify_url_signature(
        self, key: str, expires: str | int, sig: str, now: float | None = None
    ) -> bool:
        """Whether a media URL made by `url_for` is genuine and not yet expired."""
        if isinstance(expires, str) and not (expires.isascii() and expires.isdigit()):
            return False  # int() would also take " 12", "1_2" or "+12": not what we signed
        try:
            check_key(key)
        except ValueError:
            return False
        expires_at = int(expires)
        if (time.time() if now is None else now) >= expires_at:
            return False
        expected = self._url_signature(key, expires_at).encode()
        return hmac.compare_digest(expected, sig.encode("utf-8", "replace"))

    def read_post_policy(self, fields: Mapping[str, str], now: float | None = None) -> PostPolicy:
        """The form's verified terms before its file is read (see `post_policy`)."""
        return post_policy.read_post_policy(self._signing_key, fields, now)

    def verify_post_policy(
        self,
        fields: Mapping[str, str],
        file_size: int,
        file_content_type: str | None,
        now: float | None = None,
    ) -> PolicyCheck:
        """The upload the form allows, or `post_policy.PolicyViolation` (render `to_xml()`)."""
        return post_policy.verify_post_policy(
            self._signing_key, fields, file_size, file_content_type, now
        )

    # --- blocking file work, run in worker threads --------------------------------------

    def _url_signature(self, key: str, expires: int) -> str:
        message = _URL_CONTEXT + f"{key}\n{expires}".encode()
        digest = hmac.new(self._signing_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _confined(self, path: Path) -> Path:
        # Keys are validated already; this also defeats a symlink planted inside the root.
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(os.path.realpath(self._root)):
            raise PermissionError(f"{path} resolves outside the media root")
        return path

    def _write(self, path: Path, data: bytes, content_type: str) -> None:
        meta = json.dumps({"content_type": content_type}).encode()
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._confined(path)
                # Metadata first: whenever the object is visible its content type is too.
                _atomic_write(_meta_path(path), meta)
                _atomic_write(path, data)
                return
            except FileNotFoundError:
                # A concurrent delete_prefix pruned the (then empty) folder between our mkdir
                # and the write; make it again.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise

    def _write_once(self, path: Path, data: bytes, content_type: str) -> bool:
        meta = json.dumps({"content_type": content_type}).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._confined(path)
        # The metadata file is the claim: hard-linking it into place fails if it exists, so
        # of two concurrent first writes exactly one gets on (os.replace would let both).
        if not _create_exclusively(_meta_path(path), meta):
            return False
        try:
            _atomic_write(path, data)
        except BaseException:
            _unlink_quietly(_meta_path(path))
            raise
        return True

    def _read(self, path: Path) -> bytes:
        return self._confined(path).read_bytes()

    def _stat(self, path: Path) -> ObjectInfo | None:
        try:
            size = self._confined(path).stat().st_size
            if not path.is_file():
                return None
        except _ABSENT:
            return None
        return ObjectInfo(size=size, content_type=_read_content_type(path))

    def _remove(self, path: Path) -> None:
        self._confined(path)
        if path.is_file():  # a folder at the key is no object: nothing to delete
            _unlink_quietly(path)
        _unlink_quietly(_meta_path(path))

    def _remove_prefix(self, prefix: str) -> int:
        folder, _, _ = prefix.rpartition("/")
        base = self._confined(self._root / folder) if folder else self._root
        removed = 0
        # Bottom-up, so folders emptied by the deletion are pruned after their contents.
        for dirpath, _dirnames, filenames in os.walk(base, topdown=False):
            directory = Path(dirpath)
            relative = directory.relative_to(self._root).as_posix()
            key_folder = "" if relative == "." else relative + "/"
            for name in filenames:
                if not name.startswith(".") and (key_folder + name).startswith(prefix):
                    _unlink_quietly(directory / name)
                    _unlink_quietly(_meta_path(directory / name))
                    removed += 1
            if key_folder.startswith(prefix) and directory != self._root:
                _rmdir_if_empty(directory)
        return removed

    def _check_root(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        if not os.access(self._root, os.W_OK | os.X_OK):
            raise PermissionError(f"no write access to {self._root}")


def _positive(value: int, name: str) -> int:
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value}")
    return value


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{_META_SUFFIX}")


def _read_content_type(path: Path) -> str | None:
    try:
        meta = json.loads(_meta_path(path).read_bytes())
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and isinstance(meta.get("content_type"), str):
        return str(meta["content_type"])
    # Files copied in by hand (style thumbnails) have no metadata. Their name may only give
    # an image type: a guess of text/html for `x.html` would serve it as a page. Anything
    # else has no type, and the media route answers application/octet-stream.
    return _IMAGE_EXTENSIONS.get(path.suffix.lower())


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old bytes or the new bytes, never a partial file (temp file + rename).

    The temp name starts with a dot, so a crash can leave litter but never a fake object.
    Files are created 0600 (mkstemp): only the app serves them, through signed URLs.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        _unlink_quietly(Path(temporary))
        raise


def _create_exclusively(path: Path, data: bytes) -> bool:
    """Write a whole file at `path` unless one is there; False if one is."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        _unlink_quietly(Path(temporary))
    return True


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(*_ABSENT):
        path.unlink()


def _rmdir_if_empty(directory: Path) -> None:
    # Fails when not empty (a concurrent write, leftover temp files) or already gone: both fine.
    with contextlib.suppress(OSError):
        directory.rmdir()
