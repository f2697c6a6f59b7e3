"""Six-digit email codes (SPEC §1): generated with `secrets`, stored only as a keyed hash, found
through an opaque handle.

Why HMAC and not SHA-256: there are only a million codes, so anyone who reads a bare SHA-256 of
one (a database dump, a backup) finds the code in about a second. Keyed by the server secret the
stored hash is useless without that secret, and mixing in the handle makes every hash different
even for equal codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

CODE_LENGTH = 6
CODE_TTL = timedelta(minutes=15)
MAX_ATTEMPTS = 5
# 32 random bytes = 256 bits: handles are bearer-ish (they pick the code to check), so they must
# be unguessable on their own.
HANDLE_BYTES = 32

# Domain separation: the server secret also signs JWTs; deriving a key for this one purpose
# means nothing computed here can ever be replayed as, or reveal, something computed there.
_KEY_LABEL = b"hairtryon/email-code/v1"


def generate_code() -> str:
    # randbelow is uniform over 0..999999; zero-padding keeps codes like "004211" six digits.
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def new_handle() -> str:
    """An opaque, URL-safe handle (the `token` / `verify_token` the client sees)."""
    return secrets.token_urlsafe(HANDLE_BYTES)


def is_well_formed(code: str) -> bool:
    # isdigit() alone accepts non-ASCII digits such as "١٢٣٤٥٦".
    return len(code) == CODE_LENGTH and code.isascii() and code.isdigit()


class CodeHasher:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the code hashing secret must not be empty")
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()

    def hash(self, code: str, handle: str) -> str:
        """Hex HMAC-SHA256 over handle and code, to store instead of the code."""
        # The NUL separator keeps (handle, code) pairs unambiguous: "ab"+"1..." vs "a"+"b1...".
        message = _utf8(handle) + b"\x00" + _utf8(code)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def matches(self, code: str, handle: str, stored_hash: str) -> bool:
        # A malformed guess cannot match; answering early leaks only that it was malformed.
        if not is_well_formed(code):
            return False
        # Compare bytes: compare_digest refuses non-ASCII str, and a corrupt stored value must
        # read as "no match", not as an exception.
        expected = self.hash(code, handle).encode()
        return hmac.compare_digest(expected, _utf8(stored_hash))


def _utf8(text: str) -> bytes:
    # Client-supplied strings can hold lone surrogates (valid in JSON); never raise on them.
    return text.encode("utf-8", "surrogatepass")
