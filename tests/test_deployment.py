"""The deployment files do what the README says: the image has the code, a non-root user that
owns the volume folders and a pinned uv, the build context carries no local state or secrets,
and docker-compose hands every setting of `.env` to the API and the worker, each with a health
check of its own.

No container engine can pull images on the CI machine, so the image is checked by replaying
the Dockerfile's runtime stage into a build root (COPY from the context as filtered by
.dockerignore, WORKDIR, and the `useradd`/`mkdir -p`/`chown -R` steps), and the compose file
with `docker-compose config` when it is installed (else by reading the YAML).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types

from app.core.config import PROJECT_ROOT, Settings
from tests.scale_recipe import README, read_recipe, redis_db

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
# Only these may be set by compose itself: its own services and volumes.
COMPOSE_OVERRIDES = {
    "ENV",
    "DATABASE_URL",
    "RATE_LIMIT_STORAGE_URL",
    "JOB_BROKER_URL",
    "HOST",
    "PORT",
    "MEDIA_DIR",
    "MAIL_DIR",
}


# --- .dockerignore --------------------------------------------------------------------------


def _ignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for raw in (PROJECT_ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, line.lstrip("!").strip("/")))
    return rules


def _ignored(relative: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also covers what is below it."""
    verdict = False
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for negated, pattern in rules:
        plain = pattern.removeprefix("**/")
        for prefix in prefixes:
            name = prefix.rsplit("/", 1)[-1]
            if fnmatch.fnmatch(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatch(name, plain)
            ):
                verdict = not negated
                break
    return verdict


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _stages() -> list[Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append(Stage(rest.split(" AS ")[-1].strip() if " AS " in rest else rest))
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


@dataclass
class BuildRoot:
    root: Path
    users: set[str] = field(default_factory=set)
    owners: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def owner(self, inside: str) -> str:
        """The owner recorded by the last `chown -R` covering `inside` (else root)."""
        found, length = "root", -1
        for path, owner in self.owners.items():
            if (inside == path or inside.startswith(path.rstrip("/") + "/")) and len(path) > length:
                found, length = owner, len(path)
        return found


def _copy_from_context(sources: list[str], dest: str, build: BuildRoot) -> None:
    rules = _ignore_rules()
    target = build.path(dest if dest.startswith("/") else f"{build.workdir}/{dest}")
    for source in sources:
        origin = PROJECT_ROOT / source
        assert origin.exists(), f"COPY {source}: not in the build context"
        assert not _ignored(source, rules), f"COPY {source}: excluded by .dockerignore"
        if origin.is_file():
            destination = target / origin.name if dest.endswith(("/", ".")) else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, destination)
            continue
        for file in origin.rglob("*"):
            relative = file.relative_to(PROJECT_ROOT).as_posix()
            if file.is_file() and not _ignored(relative, rules):
                destination = target / file.relative_to(origin)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)


def _run(command: str, build: BuildRoot) -> None:
    for step in command.split("&&"):
        words = shlex.split(step)
        if not words:
            continue
        if words[0] == "useradd":
            build.users.add(words[-1])
        elif words[:2] == ["mkdir", "-p"]:
            for path in words[2:]:
                build.path(path).mkdir(parents=True, exist_ok=True)
        elif words[:2] == ["chown", "-R"]:
            owner = words[2].split(":")[0]
            assert owner in build.users, f"chown to {owner}, a user the image never creates"
            for path in words[3:]:
                assert build.path(path).exists(), f"chown {path}: not created"
                build.owners[path] = owner


def _replay(stage: Stage, root: Path) -> BuildRoot:
    build = BuildRoot(root)
    for keyword, rest in stage.instructions:
        if keyword == "WORKDIR":
            build.workdir = rest
            build.path(rest).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY" and rest.startswith("--from="):
            # The virtualenv from the build stage: made by `uv sync`, not replayed here.
            build.path(rest.split()[-1]).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, dest = shlex.split(rest)
            _copy_from_context(sources, dest, build)
        elif keyword == "RUN":
            _run(rest, build)
        elif keyword == "USER":
            assert rest in build.users, f"USER {rest} is never created"
            build.user = rest
        elif keyword == "ENV":
            for word in shlex.split(rest):
                name, _, value = word.partition("=")
                build.env[name] = value
        elif keyword == "CMD":
            build.cmd = yaml.safe_load(rest)
    return build


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BuildRoot:
    return _replay(_stages()[-1], tmp_path_factory.mktemp("build-root"))


def _module_file(root: Path, module: str) -> Path | None:
    base = root / "app" / Path(*module.split(".")[1:]) if module.startswith("app") else None
    if base is None:
        return None
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _python_modules(command: list[str]) -> list[str]:
    return [command[i + 1] for i, word in enumerate(command[:-1]) if word == "-m"]


# --- the image ------------------------------------------------------------------------------


def test_image_runs_as_a_non_root_user_that_owns_the_volume_folders(image: BuildRoot) -> None:
    assert image.user not in {"root", "0"}
    for volume in ("/app/var/media", "/app/var/mail"):
        assert image.path(volume).is_dir(), f"{volume} is not created in the image"
        assert image.owner(volume) == image.user, f"{volume} is not owned by {image.user}"
    assert image.env["MEDIA_DIR"] == "/app/var/media"


def test_image_has_the_code_the_commands_need(image: BuildRoot) -> None:
    app_root = image.path("/app")
    for needed in ("run.py", "alembic.ini", "alembic/env.py", "app/main.py", "app/asgi.py"):
        assert (app_root / needed).is_file(), needed
    assert image.cmd[:2] == ["python", "run.py"]
    assert list(app_root.rglob("__pycache__")) == []


def test_build_context_never_carries_local_state_or_secrets() -> None:
    rules = _ignore_rules()
    for path in (".venv/bin/python", "var/mail/x.eml", "var/hairtryon.db", ".env", ".git/HEAD"):
        assert _ignored(path, rules), f"{path} would be sent to the build"
    for path in ("app/__pycache__/main.cpython-311.pyc", ".pytest_cache/v", ".mypy_cache/x"):
        assert _ignored(path, rules), path
    for path in ("app/main.py", "uv.lock", "pyproject.toml", "alembic/env.py"):
        assert not _ignored(path, rules), path


def test_uv_is_pinned_and_the_lock_is_honoured() -> None:
    build = _stages()[0]
    runs = " ".join(rest for keyword, rest in build.instructions if keyword in {"RUN", "ARG"})
    assert re.search(r"UV_VERSION=\d+\.\d+\.\d+", runs)
    assert '"uv==${UV_VERSION}"' in runs
    assert "uv sync --frozen --no-dev" in runs


def test_image_has_no_http_healthcheck_shared_by_the_worker() -> None:
    assert all(keyword != "HEALTHCHECK" for stage in _stages() for keyword, _ in stage.instructions)


# --- docker-compose -------------------------------------------------------------------------


def test_every_compose_command_is_a_module_in_the_image(image: BuildRoot) -> None:
    services = _compose()["services"]
    for name in ("migrate", "api", "worker"):
        command = services[name]["command"]
        for module in _python_modules(command):
            assert _module_file(image.path("/app"), module), f"{name}: python -m {module}"
        if "run.py" in command:
            assert image.path("/app/run.py").is_file()
    assert _python_modules(services["worker"]["command"]) == ["app.jobs"]
    assert _python_modules(services["migrate"]["command"]) == ["app.core.migrations"]


def test_api_and_worker_read_env_file_and_override_only_compose_parts() -> None:
    services = _compose()["services"]
    for name in ("api", "worker", "migrate"):
        service = services[name]
        assert service["env_file"] == ".env"
        assert set(service["environment"]) <= COMPOSE_OVERRIDES, name
        assert "media:/app/var/media" in service["volumes"]


def test_each_service_has_its_own_health_check() -> None:
    services = _compose()["services"]
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    worker_check = " ".join(services["worker"]["healthcheck"]["test"])
    assert "/ready" in api_check
    assert "http" not in worker_check
    assert "app.jobs.healthcheck" in worker_check
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def _sample_settings() -> list[str]:
    names = []
    for line in (PROJECT_ROOT / "sample.env").read_text().splitlines():
        match = re.match(r"#?\s*([A-Z][A-Z0-9_]+)=", line)
        if match:
            names.append(match.group(1))
    return names


def test_sample_env_lists_every_setting() -> None:
    assert set(Settings.model_fields) <= set(_sample_settings())


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_config_hands_every_setting_of_env_to_api_and_worker(
    tmp_path: Path,
) -> None:
    names = _sample_settings()
    (tmp_path / ".env").write_text("".join(f"{name}=from-dotenv-{name}\n" for name in names))
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME"}}
    result = subprocess.run(
        ["docker-compose", "config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        for setting in names:
            if setting in COMPOSE_OVERRIDES - {"ENV"}:
                continue
            assert environment.get(setting) == f"from-dotenv-{setting}", (name, setting)
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert environment["JOB_BROKER_URL"] == "redis://redis:6379/1"


# --- the scale-out recipe -----------------------------------------------------------------------


def test_readme_scale_recipe_shares_compose_servers_and_database_numbers() -> None:
    """The README's exports name the settings compose sets for every service, on the same
    kinds of server (PostgreSQL, Redis) and the same Redis databases."""
    recipe = read_recipe()
    compose = _compose()["x-app"]["environment"]
    assert set(recipe.settings) == {"DATABASE_URL", "JOB_BROKER_URL", "RATE_LIMIT_STORAGE_URL"}
    for name, value in recipe.settings.items():
        assert urlsplit(value).scheme == urlsplit(compose[name]).scheme, name
    assert urlsplit(recipe.settings["DATABASE_URL"]).scheme == "postgresql"
    for name in ("JOB_BROKER_URL", "RATE_LIMIT_STORAGE_URL"):
        assert redis_db(recipe.settings[name]) == redis_db(compose[name]), name
    # The queue and the rate-limit counters never share a Redis database.
    assert redis_db(recipe.settings["JOB_BROKER_URL"]) != redis_db(
        recipe.settings["RATE_LIMIT_STORAGE_URL"]
    )


def test_readme_scale_recipe_runs_the_commands_of_make_and_compose() -> None:
    """`make worker` in the recipe is the compose worker's command; the API line is run.py
    with N processes (compose: run.py with WEB_CONCURRENCY=N)."""
    recipe = read_recipe()
    services = _compose()["services"]
    assert recipe.worker_target == "worker"
    assert list(recipe.worker) == services["worker"]["command"]
    assert list(recipe.worker) == ["python", "-m", "app.jobs", "--max-async-tasks", "4"]
    assert recipe.api[0] == "run.py"
    assert recipe.api[recipe.api.index("--workers") + 1] == "N"
    assert services["api"]["command"][:2] == ["python", "run.py"]
    readme = README.read_text()
    assert "WEB_CONCURRENCY=N" in readme
    assert "--scale worker=M" in readme
    assert "--scale worker=M" in COMPOSE.read_text()


def test_the_scale_test_runs_the_readme_recipe() -> None:
    """What tests/e2e/test_scale_e2e.py starts is the recipe with only N, M, the host, the
    port and the servers filled in, and every setting it adds is a real setting."""
    from tests.e2e import test_scale_e2e as scale

    recipe = read_recipe()
    assert scale.API_PROCESSES >= 2
    assert scale.WORKER_PROCESSES >= 2
    api = recipe.api_argv(processes=scale.API_PROCESSES, host="127.0.0.1", port=18000)
    expected = [
        {"N": str(scale.API_PROCESSES), "0.0.0.0": "127.0.0.1", "8000": "18000"}.get(w, w)
        for w in recipe.api
    ]
    assert api[1:] == [str(PROJECT_ROOT / "run.py"), *expected[1:]]
    assert recipe.worker_argv()[1:] == list(recipe.worker[1:])

    env = scale.recipe_environment(
        recipe,
        database_url="postgresql://tester@127.0.0.1:5432/scale",
        redis_url_of=lambda db: f"redis://127.0.0.1:6390/{db}",
        replicate_url="http://127.0.0.1:6391",
        workdir=Path("/nonexistent"),
        port=18000,
    )
    assert env["DATABASE_URL"] == "postgresql://tester@127.0.0.1:5432/scale"
    for name in ("JOB_BROKER_URL", "RATE_LIMIT_STORAGE_URL"):
        assert env[name] == f"redis://127.0.0.1:6390/{redis_db(recipe.settings[name])}"
    added = {name for name in env if os.environ.get(name) != env[name]}
    unknown = added - set(Settings.model_fields)
    assert not unknown, f"the scale test sets what no setting reads: {unknown}"
    # Rate limits stay on, on the shared Redis store, as in the recipe.
    assert "RATE_LIMIT_ENABLED" not in added
