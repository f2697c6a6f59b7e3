"""taskiq without its taskiq-admin client (issue 14, memory).

taskiq's package `__init__` imports `TaskiqAdminMiddleware`, a client that reports tasks to a
taskiq-admin dashboard over HTTP, and with it aiohttp: ~80 modules (aiohttp, yarl, multidict,
attrs, ...) and ~4 MB in every process that queues or runs a job, that is every API worker.
We never install that middleware. So, until taskiq imports it where it is used, its module is
a placeholder here whose class refuses to be built; everything else of taskiq is the real
thing. Only if taskiq is not imported yet: a process that imported it first keeps it whole.
"""

from __future__ import annotations

import sys
import types

ADMIN_MODULE = "taskiq.middlewares.taskiq_admin_middleware"


class TaskiqAdminMiddleware:
    """The placeholder: taskiq's package imports the name, nothing of ours builds one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError(
            "TaskiqAdminMiddleware is not loaded in HairTryOn processes (app/jobs/taskiq_admin.py)"
        )


def skip_taskiq_admin_client() -> None:
    if "taskiq" in sys.modules or ADMIN_MODULE in sys.modules:
        return
    placeholder = types.ModuleType(ADMIN_MODULE, __doc__)
    vars(placeholder).update(
        TaskiqAdminMiddleware=TaskiqAdminMiddleware, __all__=["TaskiqAdminMiddleware"]
    )
    sys.modules[ADMIN_MODULE] = placeholder
