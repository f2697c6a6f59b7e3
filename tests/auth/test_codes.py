"""Email codes (SPEC §1): six digits from `secrets`, stored as an HMAC keyed by the server
secret and bound to their handle."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from datetime import timedelta

import pytest

from app.auth.codes import (
    CODE_TTL,
    MAX_ATTEMPTS,
    CodeHasher,
    generate_code,
    is_well_formed,
    new_handle,
)

SECRET = "server-secret-" + "s" * 40


@pytest.fixture
def hasher() -> CodeHasher:
    return CodeHasher(SECRET)


def test_contract_constants() -> None:
    assert timedelta(minutes=15) == CODE_TTL
    assert MAX_ATTEMPTS == 5


def test_codes_are_six_ascii_digits_and_keep_leading_zeros() -> None:
    codes = [generate_code() for _ in range(5_000)]
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)
    # Each leading digit is expected 500 times (sd ~21); a dropped zero or a biased generator
    # lands far outside this band.
    leading = Counter(code[0] for code in codes)
    assert set(leading) == set("0123456789")
    assert all(350 < count < 650 for count in leading.values()), leading
    assert len(set(codes)) > 4_900  # ~12 collisions expected among 5,000 draws of 10^6


def test_handles_are_opaque_url_safe_and_at_least_128_bits() -> None:
    handles = {new_handle() for _ in range(500)}
    assert len(handles) == 500
    for handle in handles:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", handle)
        raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
        assert len(raw) * 8 >= 128


def test_hash_is_a_keyed_hmac_not_a_bare_digest(hasher: CodeHasher) -> None:
    handle = new_handle()
    stored = hasher.hash("123456", handle)
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert stored == hasher.hash("123456", handle)
    for bare in ("123456", handle + "123456"):
        assert stored != hashlib.sha256(bare.encode()).hexdigest()
    # Without the server secret the stored value does not lead back to the code.
    assert stored != CodeHasher("another-secret-" + "x" * 40).hash("123456", handle)


def test_equal_codes_hash_differently_per_handle(hasher: CodeHasher) -> None:
    assert hasher.hash("000000", new_handle()) != hasher.hash("000000", new_handle())
    # The separator keeps (handle, code) pairs from sliding into each other.
    assert hasher.hash("123456", "ab") != hasher.hash("b12345", "a")


def test_matches_the_right_code_for_the_right_handle(hasher: CodeHasher) -> None:
    handle, code = new_handle(), generate_code()
    stored = hasher.hash(code, handle)
    assert hasher.matches(code, handle, stored) is True
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert hasher.matches(wrong, handle, stored) is False
    assert hasher.matches(code, new_handle(), stored) is False


@pytest.mark.parametrize(
    "guess", ["", "12345", "1234567", " 123456", "123456 ", "12345a", "١٢٣٤٥٦", "12\ud80034"]
)
def test_malformed_guesses_never_match(hasher: CodeHasher, guess: str) -> None:
    handle = new_handle()
    assert is_well_formed(guess) is False
    assert hasher.matches(guess, handle, hasher.hash(guess, handle)) is False


@pytest.mark.parametrize("stored", ["", "zz", "é" * 64, "\ud800"])
def test_corrupt_stored_hashes_are_a_mismatch_not_an_error(hasher: CodeHasher, stored: str) -> None:
    assert hasher.matches("123456", new_handle(), stored) is False


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        CodeHasher("")
