"""`python -m app.jobs [taskiq worker options]` (`make worker`, the compose worker): the job
workers for Redis mode, with this project's logging (JSON in production) in the parent process
and in every worker process. Defaults: one process running four jobs at once.

Only the standard library and app.core are imported before logging is configured, so warnings
raised while importing the rest are logged in the same format.
"""

from __future__ import annotations

import sys

from app.core.logging import configure_process_logging

WORKER_FACTORY = "app.jobs.worker:create_broker"
DEFAULT_OPTIONS = ("--workers", "1", "--max-async-tasks", "4")


def main(argv: list[str] | None = None) -> int:
    configure_process_logging()
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker

    options = list(sys.argv[1:] if argv is None else argv) or list(DEFAULT_OPTIONS)
    # Our handlers are in place; taskiq's basicConfig would add plain-text ones.
    args = WorkerArgs.from_cli([WORKER_FACTORY, *options, "--no-configure-logging"])
    return run_worker(args) or 0


if __name__ == "__main__":
    sys.exit(main())
