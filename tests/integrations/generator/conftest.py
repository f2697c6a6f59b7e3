"""Generator fixtures: the portrait's bytes and a fresh local generator."""

from __future__ import annotations

import pytest

from app.integrations.generator import LocalGenerator
from tests.integrations.generator.images import PORTRAIT


@pytest.fixture(scope="session")
def portrait() -> bytes:
    return PORTRAIT.read_bytes()


@pytest.fixture
def generator() -> LocalGenerator:
    return LocalGenerator()
