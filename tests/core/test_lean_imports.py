"""An API worker loads only what it uses (issue 14, memory): what a deployment never runs is
not imported at all, and what it runs rarely is imported where it runs. Checked in a fresh
interpreter started the way a uvicorn worker of run.py starts (run.py re-imported as
multiprocessing's `__mp_main__`, the app built by app/asgi.py's factory, the lifespan's
start-up run), so nothing the test run imported earlier can hide a module.

Per module, what it costs a worker and where it is imported instead:

- cv2, numpy: the image pipeline, on first use (app/integrations/generator/pipeline.py);
- boto3, botocore: only with STORAGE_BACKEND=s3; dodopayments: only with Dodo;
- authlib: only with Google sign-in; logfire: only with LOGFIRE_TOKEN (its pydantic plugin
  is off, app/__init__.py);
- alembic, mako (~8 MB): run.py's migrations, in the supervisor only;
- rich, pygments (~3 MB): httpx's command-line client, never (app/__init__.py);
- sqladmin, wtforms (~4 MB): the back office, at the first /admin request (app/admin/lazy.py);
- redis, taskiq_redis: only with a Redis URL (JOB_BROKER_URL, RATE_LIMIT_STORAGE_URL);
- prometheus_client: only with METRICS_ENABLED=true;
- aiohttp (~4 MB with yarl, multidict, attrs): taskiq's taskiq-admin client, never
  (app/jobs/taskiq_admin.py);
- cryptography.hazmat (~8 MB): PyJWT is imported without it (HMAC tokens only), so it comes only
  with authlib, for Google sign-in's RS256 id tokens (app/core/optional_imports.py);
- opentelemetry.sdk (~2 MB with psutil): redis-py is imported without it, so it comes only
  with logfire (LOGFIRE_TOKEN); FastAPI's use of OpenTelemetry's API stays;
- watchfiles (~1 MB): uvicorn's reloader, in the supervisor of `run.py --reload` only (run.py);
- SQLAlchemy's PostgreSQL dialect (~2 MB) on SQLite: its INSERT ... ON CONFLICT is imported
  where first used (app/core/repository.py). SQLite's dialect is in every process (the models'
  sqlite_autoincrement option loads it, app/models/base.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import PROJECT_ROOT
from tests.conftest import run_alembic
from tests.redis_server import RedisServer

ALWAYS_ABSENT = (
    "cv2",
    "numpy",
    "boto3",
    "botocore",
    "dodopayments",
    "logfire",
    "authlib",
    "alembic",
    "mako",
    "rich",
    "pygments",
    "sqladmin",
    "wtforms",
    "aiohttp",
    "cryptography.hazmat",
    "opentelemetry.sdk",
    "psutil",
    "watchfiles",
)
# Absent from the embedded defaults (no Redis, no metrics, SQLite).
ABSENT_BY_DEFAULT = (
    *ALWAYS_ABSENT,
    "redis",
    "taskiq_redis",
    "prometheus_client",
    "sqlalchemy.dialects.postgresql",
)

_WORKER = """
import asyncio, json, runpy, sys
runpy.run_path({run_py!r}, run_name="__mp_main__")
from app.asgi import app_factory
app = app_factory()
async def start():
    async with app.router.lifespan_context(app):
        pass
if {lifespan!r}:
    asyncio.run(start())
{extra}
# A None entry is an import blocked (run.py's watchfiles), not a module loaded.
print(json.dumps(sorted(name for name in {heavy!r} if sys.modules.get(name) is not None)))
"""


def _worker_modules(
    workdir: Path,
    settings: dict[str, str],
    heavy: tuple[str, ...],
    *,
    lifespan: bool = True,
    extra: str = "",
) -> list[str]:
    """The names of `heavy` a worker has imported once started. Run in `workdir`, so a
    developer's .env does not choose the adapters."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "PYTHONPATH": str(PROJECT_ROOT),
        "ENV": "dev",
        "MEDIA_DIR": str(workdir / "media"),
        "MAIL_DIR": str(workdir / "mail"),
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    script = _WORKER.format(
        run_py=str(PROJECT_ROOT / "run.py"), lifespan=lifespan, extra=extra, heavy=heavy
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


@pytest.fixture
async def embedded_database(tmp_path: Path) -> str:
    """A migrated SQLite file of the test's own: the lifespan's loops read it."""
    url = f"sqlite:///{tmp_path / 'lean.db'}"
    await run_alembic(url, "head")
    return url


async def test_a_worker_with_the_embedded_defaults_imports_none_of_the_heavy_modules(
    tmp_path: Path, embedded_database: str
) -> None:
    found = _worker_modules(tmp_path, {"DATABASE_URL": embedded_database}, ABSENT_BY_DEFAULT)
    assert found == []


def test_a_production_like_worker_imports_only_what_its_settings_use(tmp_path: Path) -> None:
    """PostgreSQL, Redis for jobs and rate limits, metrics on: the app is built (the lifespan
    would connect, so it is not run) without the modules no setting asks for."""
    settings = {
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "JOB_BROKER_URL": "redis://127.0.0.1:1/0",
        "RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:1/1",
        "METRICS_ENABLED": "true",
    }
    found = _worker_modules(tmp_path, settings, ALWAYS_ABSENT, lifespan=False)
    assert found == []


# Inside the lifespan: a readiness check (pings the broker) and a failed login (counted in the
# Redis rate limits), the paths on which redis-py is used.
_SERVE_ON_REDIS = """
import httpx
async def serve():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
            login = await client.post(
                "/api/v1/auth/login",
                json={"email": "nobody@example.org", "password": "wrong-password"},
                headers={"Origin": "http://localhost:5173"},
            )
            assert login.status_code == 401, login.text
asyncio.run(serve())
import redis, limits.aio.storage.redis
"""


@pytest.mark.parametrize("uses", [("JOB_BROKER_URL",), ("RATE_LIMIT_STORAGE_URL",)])
async def test_a_worker_on_redis_imports_neither_cryptography_nor_the_opentelemetry_sdk(
    tmp_path: Path, embedded_database: str, redis_server: RedisServer, uses: tuple[str, ...]
) -> None:
    """redis-py (for jobs, or for rate limits: each is the first to import it in one case) and
    PyJWT are imported without the extras they would load but never use here; the check runs
    after requests that use both."""
    settings = {"DATABASE_URL": embedded_database}
    settings.update({name: redis_server.url(db) for db, name in enumerate(uses)})
    found = _worker_modules(
        tmp_path, settings, ALWAYS_ABSENT, lifespan=False, extra=_SERVE_ON_REDIS
    )
    assert found == []


# What loads each group of modules, and the modules it brings. The two that app/ blocks are
# unblocked first (a None or placeholder entry in sys.modules), so their import can run.
CONTROLS = {
    "import app.integrations.generator.pipeline": ["cv2", "numpy"],
    "import app.integrations.storage.s3": ["boto3", "botocore"],
    "import app.integrations.payments.dodo": ["dodopayments"],
    "import app.core.migrations": ["alembic", "mako"],
    "import app.admin.panel": ["sqladmin", "wtforms"],
    "import app.jobs.redis_stream": ["redis", "taskiq_redis"],
    "import app.metrics.router": ["prometheus_client"],
    "sys.modules.pop('httpx._main'); import httpx._main": ["rich", "pygments"],
    "from app.jobs.taskiq_admin import ADMIN_MODULE; sys.modules.pop(ADMIN_MODULE); "
    "import taskiq.middlewares.taskiq_admin_middleware": ["aiohttp"],
    "import authlib.integrations.starlette_client": ["cryptography.hazmat"],
    "import logfire": ["opentelemetry.sdk", "psutil"],
    "sys.modules.pop('watchfiles'); import uvicorn.supervisors.watchfilesreload": ["watchfiles"],
}


def test_the_check_sees_each_heavy_module_once_its_user_is_imported(tmp_path: Path) -> None:
    """Control: the same check reports the modules when the code that needs them is loaded
    (one interpreter for all of them: a start-up costs seconds on a loaded machine)."""
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    found = _worker_modules(
        tmp_path, settings, ABSENT_BY_DEFAULT, lifespan=False, extra="\n".join(CONTROLS)
    )
    missing = {code: sorted(set(brings) - set(found)) for code, brings in CONTROLS.items()}
    assert {code: names for code, names in missing.items() if names} == {}
