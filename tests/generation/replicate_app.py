"""The app with `GENERATOR=replicate` against the loopback fake Replicate, for the test
modules that drive it: their settings and resources differ only in how completions arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.core.db import Database
from app.integrations.generator.replicate import ReplicateGenerator
from app.resources import Resources
from app.wiring import build_generator
from tests.conftest import build_test_resources
from tests.integrations.generator.fake_replicate import API_TOKEN, FakeReplicate


def replicate_settings(
    database_url: str,
    tmp_path: Path,
    replicate: FakeReplicate,
    *,
    webhooks: Literal["on", "off"],
) -> Settings:
    """Polling every 10 ms; `webhooks="on"` forces signed webhooks on although the test
    client's host is not public, so both completion paths run."""
    return Settings(
        _env_file=None,
        ENV="dev",
        DATABASE_URL=database_url,
        MAIL_DIR=tmp_path / "mail",
        MEDIA_DIR=tmp_path / "media",
        RATE_LIMIT_ENABLED=False,
        FREE_USER_CREDITS=4,
        GENERATOR="replicate",
        REPLICATE_API_TOKEN=API_TOKEN,
        REPLICATE_BASE_URL=replicate.base_url,
        REPLICATE_POLL_INTERVAL_S=0.01,
        REPLICATE_WEBHOOKS=webhooks,
        PUBLIC_BASE_URL="http://testserver",
    )


@asynccontextmanager
async def replicate_resources(
    settings: Settings, connection: AsyncConnection, replicate: FakeReplicate
) -> AsyncIterator[Resources]:
    """The test's resources on its connection, with Replicate's file CDN faked at the HTTP
    boundary behind the production fetcher rules."""
    replicate.reset()
    resources = build_test_resources(settings, Database(connection))
    assert isinstance(resources.generator, ReplicateGenerator)
    await resources.generator.aclose()
    resources.generator = build_generator(settings, output_fetcher=replicate.output_fetcher())
    try:
        yield resources
    finally:
        # Work the test's requests left running (an upload's photo check) uses the test's
        # connection: it ends before that transaction rolls back, or it would commit after it.
        await resources.database.background.drain()
        await resources.generator.aclose()  # type: ignore[attr-defined]
