"""The installed packages compiled to bytecode before any server starts, as in the image.

The Dockerfile builds its virtualenv with `UV_COMPILE_BYTECODE=1`, so a production worker loads
`.pyc` files. A development `.venv` made by `uv sync` has none, and where the environment sets
`PYTHONDONTWRITEBYTECODE` (as CI machines and this one do) no process ever writes them: every
worker then compiles each of its ~1100 library modules from source at start-up, and the
compiler's garbage stays in its heap. Measured with `python -m bench.import_rss --no-hook`
(PostgreSQL + Redis settings): 125.8-126.1 MiB per worker from source, 112.1-112.2 MiB from
bytecode; the app's own ~200 modules make no difference either way (0.1 MiB), so only the
libraries are compiled here. `compileall` skips what is up to date: ~12 s the first time on
2 cores, ~2 s after.
"""

from __future__ import annotations

import asyncio
import sys
import sysconfig
import time


async def compile_installed_packages() -> None:
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "compileall",
        "-q",
        "-j0",
        *paths,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    # A file that does not compile (a package's Python 2 example) is no reason to stop: Python
    # would compile it from source at import time as well, if anything imported it.
    await process.wait()
    print(f"installed packages compiled to bytecode in {time.perf_counter() - started:.1f} s")
