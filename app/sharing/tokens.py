"""Share tokens: 256 random bits in the URL, only their SHA-256 in the database.

A plain hash (not a slow one) is enough: the token is random, not chosen by a person, so
there is nothing to guess from its digest; and the lookup stays one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32
# The public page's path: the segment after it is a token, a credential (never logged).
PAGE_PREFIX = "/s/"
# token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 128


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
