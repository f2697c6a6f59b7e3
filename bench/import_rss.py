"""RSS per imported module of an API worker (issue 14, memory): which imports cost what.

Starts one interpreter the way a uvicorn worker of run.py starts (run.py re-imported as
multiprocessing's `__mp_main__`, uvicorn's `Config.load()` of the factory, the lifespan's
start-up), with a meta-path hook that reads VmRSS before and after each module's own code runs.
A module's "self" figure is its growth minus that of the modules it imported meanwhile; the
figures are summed per top-level package. Prints the total RSS, the module count, the biggest
packages and, with `--why NAME`, the chain of imports that first brought NAME in.

    .venv/bin/python -m bench.import_rss [--top 25] [--why cryptography] [--no-lifespan]

Settings come from the environment (DATABASE_URL, JOB_BROKER_URL, ...), as for a worker; run it
in an empty directory so a developer's .env does not choose the adapters. The figures are
first-touch RSS: a module's share of memory that later code allocates in the same pages can
land on another module, so read them as a ranking with a ~0.2 MB grain, not as exact costs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import importlib.machinery
import runpy
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

# Not app.core.config's: importing it here would load pydantic before the hook.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _Recorder:
    def __init__(self) -> None:
        self.self_kib: dict[str, int] = {}
        self.parent: dict[str, str | None] = {}
        self._stack: list[list[Any]] = []  # [name, start_kib, children_kib]

    def enter(self, name: str) -> None:
        self.parent[name] = self._stack[-1][0] if self._stack else None
        self._stack.append([name, _rss_kib(), 0])

    def leave(self) -> None:
        name, start, children = self._stack.pop()
        total = _rss_kib() - start
        self.self_kib[name] = total - children
        if self._stack:
            self._stack[-1][2] += total


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, recorder: _Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._recorder.enter(module.__name__)
        try:
            self._inner.exec_module(module)
        finally:
            self._recorder.leave()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder
        self._busy = False

    def find_spec(
        self, fullname: str, path: Any, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec: importlib.machinery.ModuleSpec | None = finder.find_spec(
                    fullname, path, target
                )
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader, self._recorder)
                    return spec
            return None
        finally:
            self._busy = False


def _start_worker(lifespan: bool) -> None:
    runpy.run_path(str(PROJECT_ROOT / "run.py"), run_name="__mp_main__")
    import uvicorn

    config = uvicorn.Config("app.asgi:app_factory", factory=True, log_config=None)
    config.load()
    if lifespan:
        from uvicorn.lifespan.on import LifespanOn

        async def start() -> None:
            on = LifespanOn(config)
            await on.startup()
            await on.shutdown()

        asyncio.run(start())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--why", action="append", default=[])
    parser.add_argument("--no-lifespan", action="store_true")
    parser.add_argument("--modules", action="store_true", help="rank modules, not packages")
    parser.add_argument("--no-hook", action="store_true", help="only the total (no hook's cost)")
    parser.add_argument(
        "--block", action="append", default=[], help="a module to make unimportable (what-if)"
    )
    args = parser.parse_args(argv)
    for name in args.block:
        sys.modules[name] = None  # type: ignore[assignment]
    recorder = _Recorder()
    start_kib = _rss_kib()
    start_modules = len(sys.modules)
    if not args.no_hook:
        sys.meta_path.insert(0, _Finder(recorder))
    _start_worker(not args.no_lifespan)
    per_package: dict[str, int] = defaultdict(int)
    for name, kib in recorder.self_kib.items():
        per_package[name if args.modules else name.split(".")[0]] += kib
    print(
        f"RSS {_rss_kib() / 1024:.1f} MiB ({start_kib / 1024:.1f} before the worker's imports),"
        f" {len(sys.modules)} modules ({start_modules} before)"
    )
    ranked = sorted(per_package.items(), key=lambda item: -item[1])[: args.top]
    for package, kib in ranked:
        print(f"  {kib / 1024:6.1f} MiB  {package}")
    for name in args.why:
        chain = [name] if name in recorder.parent else []
        while chain and (parent := recorder.parent.get(chain[-1])):
            chain.append(parent)
        print(f"why {name}: {' <- '.join(chain) if chain else 'not imported'}")


if __name__ == "__main__":
    main()
