"""An API process loads only what it uses (issue 14, memory): the image pipeline (NumPy,
OpenCV), boto3, the Dodo SDK, authlib (Google sign-in) and logfire are imported where they
run, not at start-up. Checked in a fresh interpreter's `sys.modules`, so nothing the test run
imported earlier can hide them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core.config import PROJECT_ROOT

# Each costs 15-40 MB of RSS per process (bench/memory_rss.py measures the sum).
HEAVY = ("cv2", "numpy", "boto3", "botocore", "dodopayments", "logfire", "authlib")

_STARTUP = """
import json, os, sys, tempfile
os.environ["MEDIA_DIR"] = tempfile.mkdtemp()
os.environ["MAIL_DIR"] = tempfile.mkdtemp()
from app.core.config import Settings
from app.main import create_app
from app.wiring import build_resources
settings = Settings(_env_file=None)
create_app(settings)
build_resources(settings)
{extra}
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def _heavy_modules_after_startup(extra: str = "") -> list[str]:
    # The embedded defaults: local generator, local storage, local checkout.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(PROJECT_ROOT)}
    output = subprocess.run(
        [sys.executable, "-c", _STARTUP.format(extra=extra, heavy=HEAVY)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found: list[str] = json.loads(output.strip().splitlines()[-1])
    return found


def test_an_api_process_does_not_import_the_heavy_modules_at_startup() -> None:
    assert _heavy_modules_after_startup() == []


@pytest.mark.parametrize(
    ("module", "brings"),
    [
        ("app.integrations.generator.pipeline", ["cv2", "numpy"]),
        ("app.integrations.storage.s3", ["boto3", "botocore"]),
        ("app.integrations.payments.dodo", ["dodopayments"]),
    ],
)
def test_the_check_sees_a_heavy_module_once_its_user_is_imported(
    module: str, brings: list[str]
) -> None:
    """Control: the same check reports the modules when the code that needs them is loaded."""
    found = _heavy_modules_after_startup(f"import {module}")
    assert set(brings) <= set(found)
