"""The README's scale-out recipe, read from the README itself, so the scale test runs what an
operator is told to run and tests/test_deployment.py can hold the README, the Makefile and
docker-compose.yml to the same commands and settings.

The recipe block (README "Scale-out recipe") is a shell snippet of `export NAME=value` lines
(the settings every process shares), one `run.py` line (the N API processes) and `make worker`
(one worker process; M of them). `make worker` is resolved through the Makefile's own recipe
line, so the worker command is the one `make worker` runs.

What the tests substitute, and only that: N and M, the listening host (loopback instead of
0.0.0.0) and port (a free one instead of 8000), and the servers the URLs name (the test's own
PostgreSQL database and Redis, keeping the Redis database numbers of the recipe).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.core.config import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
MAKEFILE = PROJECT_ROOT / "Makefile"
RECIPE_HEADING = "### Scale-out recipe"
# The placeholder the README uses for the number of API processes.
PROCESSES_PLACEHOLDER = "N"
# `url(db)` of a Redis server (tests/redis_server.py's RedisServer.url).
RedisUrls = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class ScaleRecipe:
    # The shared settings the recipe exports, as written (URLs of the deployment's servers).
    settings: dict[str, str]
    # The API line from `run.py` on, e.g. ("run.py", "--workers", "N", "--host", ...).
    api: tuple[str, ...]
    # The make target of one worker process, and the command that target runs.
    worker_target: str
    worker: tuple[str, ...]

    def api_argv(self, *, processes: int, host: str, port: int) -> list[str]:
        """The API line on this interpreter, with N, the host and the port filled in."""
        values = {"--workers": str(processes), "--host": host, "--port": str(port)}
        argv = list(self.api)
        for index, word in enumerate(argv[:-1]):
            if word in values:
                argv[index + 1] = values[word]
        assert PROCESSES_PLACEHOLDER not in argv, f"unfilled placeholder in {argv}"
        # run.py of this checkout, whatever the working directory.
        return [sys.executable, str(PROJECT_ROOT / argv[0]), *argv[1:]]

    def worker_argv(self) -> list[str]:
        """What `make worker` runs, on this interpreter (the Makefile's `$(RUN) python`)."""
        assert self.worker[0] == "python", self.worker
        return [sys.executable, *self.worker[1:]]

    def environment(self, *, database_url: str, redis_url_of: RedisUrls) -> dict[str, str]:
        """The recipe's settings pointing at the test's servers: the PostgreSQL URL replaced
        by the test database's, each Redis URL by the test Redis with the recipe's db number."""
        resolved: dict[str, str] = {}
        for name, value in self.settings.items():
            scheme = urlsplit(value).scheme
            if scheme.startswith("postgresql"):
                resolved[name] = database_url
            elif scheme == "redis":
                resolved[name] = redis_url_of(redis_db(value))
            else:
                resolved[name] = value
        return resolved


def redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path or 0)


def recipe_block(readme: Path = README) -> str:
    text = readme.read_text()
    start = text.index(RECIPE_HEADING)
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert match is not None, "the scale-out recipe has no ```sh block"
    return match.group(1)


def make_recipe(target: str, makefile: Path = MAKEFILE) -> tuple[str, ...]:
    """The single command line of a Makefile target, without the `$(RUN) ` prefix (uv run)."""
    lines = makefile.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith(f"{target}:"):
            command = lines[index + 1]
            assert command.startswith("\t"), f"make {target} has no recipe line"
            return tuple(shlex.split(command.strip().removeprefix("$(RUN)").strip()))
    raise AssertionError(f"the Makefile has no {target} target")


def read_recipe(readme: Path = README, makefile: Path = MAKEFILE) -> ScaleRecipe:
    settings: dict[str, str] = {}
    api: tuple[str, ...] = ()
    worker_target = ""
    for raw in recipe_block(readme).splitlines():
        words = shlex.split(raw, comments=True)
        if not words:
            continue
        if words[0] == "export":
            for word in words[1:]:
                name, _, value = word.partition("=")
                settings[name] = value
        elif any(word.endswith("run.py") for word in words):
            start = next(i for i, word in enumerate(words) if word.endswith("run.py"))
            api = ("run.py", *words[start + 1 :])
        elif words[0] == "make":
            worker_target = words[1]
        else:
            raise AssertionError(f"a recipe line the tests cannot run: {raw!r}")
    assert settings, "the recipe exports no settings"
    assert api, "the recipe has no run.py line"
    assert worker_target, "the recipe has no make worker line"
    return ScaleRecipe(settings, api, worker_target, make_recipe(worker_target, makefile))
