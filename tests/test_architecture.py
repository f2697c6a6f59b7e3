"""The cheap layer rules of STYLE.md, enforced: only the unit of work commits, and routers
stay thin (no SQLAlchemy, no vendor SDK)."""

from __future__ import annotations

import ast
from pathlib import Path

from app.core.config import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
# The only modules allowed to commit: the request/job unit of work.
COMMITTERS = {APP / "core" / "db.py"}
# Route modules that are not named router.py (deps.py is infrastructure, not a router).
ROUTER_MODULES = [APP / "api" / "health.py", APP / "api" / "v1.py"]
FORBIDDEN_IN_ROUTERS = ("sqlalchemy", "boto3", "botocore", "replicate", "dodopayments", "httpx")


def _python_files() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def _imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_unit_of_work_commits() -> None:
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in _python_files()
        if path not in COMMITTERS and ".commit(" in path.read_text()
    ]
    assert offenders == []


def test_routers_import_no_sqlalchemy_and_no_vendor_sdk() -> None:
    routers = [p for p in _python_files() if p.name.endswith("router.py")] + ROUTER_MODULES
    assert routers, "no routers found: the rule would pass vacuously"
    offenders: list[str] = []
    for path in routers:
        for module in _imported_modules(ast.parse(path.read_text())):
            if module.split(".")[0] in FORBIDDEN_IN_ROUTERS:
                offenders.append(f"{path.relative_to(PROJECT_ROOT)} imports {module}")
    assert offenders == []


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The scanners above must see what they look for."""
    tree = ast.parse("from sqlalchemy import select\nimport boto3\n")
    assert {"sqlalchemy", "boto3"} <= _imported_modules(tree)


# What app/core may not import: every layer above it, and the composition root.
ABOVE_CORE = (
    "app.auth",
    "app.users",
    "app.files",
    "app.styles",
    "app.generation",
    "app.credits",
    "app.payments",
    "app.sharing",
    "app.privacy",
    "app.admin",
    "app.playground",
    "app.integrations",
    "app.jobs",
    "app.api",
    "app.main",
    "app.resources",
    "app.wiring",
)


def _imports_above_core(modules: set[str]) -> list[str]:
    return sorted(
        module
        for module in modules
        if any(module == layer or module.startswith(layer + ".") for layer in ABOVE_CORE)
    )


def test_core_imports_nothing_above_it() -> None:
    """app/core is infrastructure (settings, database, errors, logging): the adapters and
    services are built by the composition root in the entry layer (app/wiring.py), so core
    can be reused and tested without any domain — lazy imports inside functions included."""
    core = sorted((APP / "core").rglob("*.py"))
    assert core
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)} imports {module}"
        for path in core
        for module in _imports_above_core(_imported_modules(ast.parse(path.read_text())))
    ]
    assert offenders == []


def test_the_core_rule_sees_a_lazy_import() -> None:
    tree = ast.parse("def f():\n    from app.generation.handlers import build_worker\n")
    assert _imports_above_core(_imported_modules(tree)) == ["app.generation.handlers"]
