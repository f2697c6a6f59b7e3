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
# Accounts that own nothing and never sign in during the run: a service with 100k images has
# thousands of users, and with only 100 the users table is 3 pages, so the planner read it
# whole for every lookup by id (the accept's user read and its balance UPDATE: 27k sequential
# scans in one generate scenario; see _history on autovacuum).
DORMANT_USERS = 10_000
STATUS_IDS = 200  # the images the status clients poll (all owned by user 1)


# Users with a live session and an access token: 1 polls status, 2 generates, 3 runs the
# pipeline, 4 uploads. Users 5.. loop on login. The generating users get CREDITS through the
# ledger (balance == SUM(ledger), as CR-01 checks afterwards).
SESSION_USERS = (1, 2, 3, 4)
CREDITS = 1_000_000
HISTORYLESS = (2, 3)  # the generating users: no seeded ledger rows or keys (see _history)


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
        await connection.execute(
            "INSERT INTO users (id, email, name, verified, role, credits)"
            " SELECT g, 'dormant' || g || '@example.com', 'Dormant ' || g, true, 'user', 0"
            " FROM generate_series($1::bigint, $2::bigint) AS g",
            USERS + 1,
            USERS + DORMANT_USERS,
        )
        await connection.execute(f"SELECT setval('users_id_seq', {USERS + DORMANT_USERS})")
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
        await _history(connection)
        # Statistics of tables at their production size: the planner picks its plans from
        # them, and nothing re-analyzes later where autovacuum is off (this machine's server).
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    tokens = build_token_service(settings)
    issued = {
        user: tokens.issue(TokenType.ACCESS, user, extra={SESSION_CLAIM: sid}).token
        for user, sid in sessions.items()
    }
    return Seeded(issued, [row["id"] for row in ids], emails[len(SESSION_USERS) :])


async def _history(connection: asyncpg.Connection) -> None:
    """The ledger and idempotency keys a service with those images would hold: each seeded
    image paid for by a debit (after a grant of as many credits, so every balance still equals
    the sum of its ledger) and answered under an `Idempotency-Key` in the last 24 hours.

    Left empty, the accept's lookups by business key and by idempotency key ran on tables
    analyzed at 2 and 0 rows: the planner chose sequential scans, and nothing re-planned them
    as the run grew the tables to ~10k rows (autovacuum is off on this machine's PostgreSQL),
    so PostgreSQL's CPU per accept was inflated by scans production would never make. The
    bench's own generating users (2 and 3) get no history: CR-01's counts start from zero."""
    await connection.execute(
        """
        INSERT INTO credit_ledger (user_id, delta, reason, business_key, reference_type,
                                   reference_id, balance_after)
        SELECT user_id, count(*), 'admin_adjustment', 'admin_adjustment:user:' || user_id,
               'user', user_id::text, count(*)
        FROM images WHERE user_id NOT IN ($1, $2) GROUP BY user_id
        """,
        *HISTORYLESS,
    )
    await connection.execute(
        """
        INSERT INTO credit_ledger (user_id, delta, reason, business_key, reference_type,
                                   reference_id, balance_after)
        SELECT user_id, -1, 'generation', 'generation:image:' || id, 'image', id::text,
               count(*) OVER (PARTITION BY user_id)
                 - row_number() OVER (PARTITION BY user_id ORDER BY id)
        FROM images WHERE user_id NOT IN ($1, $2)
        """,
        *HISTORYLESS,
    )
    await connection.execute(
        """
        INSERT INTO idempotency_keys (user_id, key, request_hash, response_json, created_at)
        SELECT user_id, md5('key' || id), md5('request' || id),
               '{"image_id": ' || id || ', "message": "Generation started"}',
               now() - (id % 86000) * interval '1 second'
        FROM images WHERE user_id NOT IN ($1, $2)
        """,
        *HISTORYLESS,
    )
