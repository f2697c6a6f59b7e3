"""Bench data: users with live sessions and 100k images, written straight in SQL (fast), plus
access tokens minted with the app's own token service, as the login would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]

from app.auth.passwords import PasswordHasher
from app.auth.sessions import SESSION_CLAIM
from app.auth.tokens import TokenType
from app.core.config import Settings
from app.wiring import build_token_service

PASSWORD = "bench-password-123"
USERS = 100
STATUS_IDS = 200  # the images the status clients poll (all owned by user 1)


# Users with a live session and an access token: 1 polls status, 2 generates, 3 runs the
# pipeline, 4 uploads. Users 5.. loop on login. The generating users get CREDITS through the
# ledger (balance == SUM(ledger), as CR-01 checks afterwards).
SESSION_USERS = (1, 2, 3, 4)
CREDITS = 1_000_000


@dataclass(frozen=True)
class Seeded:
    tokens: dict[int, str]  # user id -> a real access token of a live session
    image_ids: list[int]  # user 1's images, in a polled state
    login_emails: list[str]

    @property
    def access_token(self) -> str:
        return self.tokens[1]


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def seed(url: str, settings: Settings, *, images: int) -> Seeded:
    now = datetime.now(UTC)
    hashed = await PasswordHasher().hash(PASSWORD)
    emails = [f"bench{i}@example.com" for i in range(1, USERS + 1)]
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.executemany(
            "INSERT INTO users (id, email, name, hashed_password, verified, role, credits)"
            " VALUES ($1, $2, $3, $4, true, 'user', 0)",
            [(i, email, f"Bench {i}", hashed) for i, email in enumerate(emails, start=1)],
        )
        await connection.execute(f"SELECT setval('users_id_seq', {USERS})")
        sessions = {user: secrets.token_urlsafe(24) for user in SESSION_USERS}
        await connection.executemany(
            "INSERT INTO auth_sessions (id, user_id, current_jti, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            [
                (sid, user, secrets.token_hex(16), now + timedelta(days=30))
                for user, sid in sessions.items()
            ],
        )
        await connection.executemany(
            "INSERT INTO credit_ledger (user_id, delta, reason, business_key, balance_after)"
            " VALUES ($1, $2, 'admin_adjustment', $3, $2)",
            [(user, CREDITS, f"bench-grant-{user}") for user in (2, 3)],
        )
        await connection.execute(
            "UPDATE users SET credits = $1 WHERE id = ANY($2::bigint[])", CREDITS, [2, 3]
        )
        # Every user owns images; user 1's first STATUS_IDS are running jobs (what is polled),
        # the rest a mix of finished and failed ones.
        await connection.execute(
            """
            INSERT INTO images (user_id, style_name, description, input_key, output_key,
                                status, views_status, error_code, error_message, deadline_at)
            SELECT CASE WHEN g <= $2 THEN 1 ELSE 1 + g % $3 END,
                   'Bob', 'A short bob', 'uploads/' || g || '.jpg',
                   CASE WHEN g > $2 AND g % 5 <> 0 THEN 'results/' || g || '.jpg' END,
                   CASE WHEN g <= $2 THEN 'processing' WHEN g % 5 = 0 THEN 'failed'
                        ELSE 'completed' END,
                   'none',
                   CASE WHEN g > $2 AND g % 5 = 0 THEN 'GENERATION_FAILED' END,
                   CASE WHEN g > $2 AND g % 5 = 0 THEN 'The provider failed' END,
                   now() + interval '1 hour'
            FROM generate_series(1, $1) AS g
            """,
            images,
            STATUS_IDS,
            USERS,
        )
        ids = await connection.fetch(
            "SELECT id FROM images WHERE user_id = 1 AND status = 'processing' ORDER BY id"
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    tokens = build_token_service(settings)
    issued = {
        user: tokens.issue(TokenType.ACCESS, user, extra={SESSION_CLAIM: sid}).token
        for user, sid in sessions.items()
    }
    return Seeded(issued, [row["id"] for row in ids], emails[len(SESSION_USERS) :])
