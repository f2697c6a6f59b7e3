"""`python -m app.jobs [--max-async-tasks 4] [--handlers module:function]` (`make worker`, the
compose worker): one job worker process for Redis mode (app/jobs/worker.py: SIGTERM/SIGINT
within JOB_STOP_GRACE_S, exit 2 without JOB_BROKER_URL), with this project's logging (JSON in
production) configured once, before anything else is imported or logs.

Only the standard library and app.core are imported before logging is configured, so warnings
raised while importing the rest are logged in the same format.
"""

from __future__ import annotations

import sys

from app.core.logging import configure_process_logging


def main(argv: list[str] | None = None) -> int:
    configure_process_logging()
    from app.jobs.worker import main as run_worker

    return run_worker(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    # Before anything allocates: huge pages for decoded images' buffers (app/core/memory.py).
    from app.core.memory import restart_with_huge_page_malloc

    restart_with_huge_page_malloc()
    sys.exit(main())
