"""The worker container's health check: healthy only when the main process is the job worker
(and, in problems(), when the broker answers)."""

from __future__ import annotations

from pathlib import Path

from app.jobs.healthcheck import worker_is_main_process


def test_the_worker_command_line_is_recognised(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"python\0-m\0app.jobs\0--workers\0001\0")
    assert worker_is_main_process(cmdline)


def test_another_main_process_or_no_proc_is_unhealthy(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"python\0run.py\0--skip-migrations\0")
    assert not worker_is_main_process(cmdline)
    assert not worker_is_main_process(tmp_path / "missing")
