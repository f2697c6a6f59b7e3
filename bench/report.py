"""The printed table and the summary plot of one `python -m bench` run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def _row(
    label: str, figures: dict[str, Any], rss: list[float] | None = None, extra: str = ""
) -> str:
    rss_text = "/".join(f"{r:.0f}" for r in rss) if rss else "-"
    return (
        f"  {label:<34} {figures['rps']:>9.1f} {figures['p50_ms']:>9.2f} {figures['p99_ms']:>9.2f}"
        f" {figures['errors']:>6} {rss_text:>9}  {extra}"
    )


HEADER = (
    f"  {'case':<34} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>6} {'RSS MB':>9}  ratio"
)


def _print_status(status: dict[str, Any]) -> None:
    refs = status["references"]
    for name, label in (("r0", "R0 bare FastAPI hello"), ("r1", "R1 asyncpg + PyJWT status")):
        for c in ("c1", "c64"):
            print(_row(f"{label} {c}", refs[name][c], refs[name]["rss_mb_per_worker"]))
    for c in ("c1", "c64"):
        print(
            _row(
                f"ours status {c}",
                status[c],
                status["rss_mb_per_worker"],
                f"{status[f'ratio_r1_{c}']:.2f}x R1 (goal >= 0.60)",
            )
        )
    print(f"  {'':<34} ours/R0 c64 {status['ratio_r0_c64']:.2f}; goal c64 p99 <= 50 ms, 0 errors")


def _print_login(login: dict[str, Any]) -> None:
    print(_row("status c64 alone", login["solo"]))
    for n, goal in ((2, 0.8), (8, 0.6)):
        figures = login[f"with_{n}"]
        print(
            _row(
                f"status c64 + {n} login loopers",
                figures,
                None,
                f"{figures['ratio_solo']:.2f}x solo (goal >= {goal}); "
                f"{figures['logins_per_s']}/s logins,"
                f" slowest login {figures['login_max_ms']} ms,"
                f" slowest status {figures['max_ms']} ms",
            )
        )


def _print_generate(generate: dict[str, Any]) -> None:
    for c in ("c1", "c16"):
        print(_row(f"generate accept {c}", generate[c]))
    print(
        _row(
            "status c16 (same rounds)",
            generate["status_c16"],
            None,
            f"generate/status c16 {generate['ratio_status_c16']:.2f}x (goal >= 0.5);"
            f" CR-01 holds: {generate['cr01']['holds']} {generate['cr01']}",
        )
    )
    cpu = generate.get("cpu_ms_per_request")
    if cpu:
        print(
            f"  server CPU per request: accept c1 {cpu['generate_c1']} ms,"
            f" accept c16 {cpu['generate_c16']} ms, status c16 {cpu['status_c16']} ms"
            f" (status/accept {cpu['status_c16'] / max(cpu['generate_c16'], 1e-9):.2f}x)"
        )
    names = {"postgres": "PostgreSQL", "redis": "Redis"}
    for service, by in generate.get("backing_cpu_ms_per_request", {}).items():
        print(
            f"  {names.get(service, service)} CPU per request: accept c1 {by['generate_c1']} ms,"
            f" accept c16 {by['generate_c16']} ms, status c16 {by['status_c16']} ms"
        )


def _print_pipeline(pipeline: dict[str, Any]) -> None:
    print(
        f"  pipeline: {pipeline['completed_per_s']} completed generations/s end to end"
        f" (rounds {pipeline['rounds']}, {pipeline['jobs_per_round']} jobs each; goal >= 50)"
    )


def _print_upload(upload: dict[str, Any]) -> None:
    _print_upload_photo(upload.get("photo", "noise"), upload)
    if "noise" in upload:
        _print_upload_photo("noise", upload["noise"])


def _print_upload_photo(photo: str, upload: dict[str, Any]) -> None:
    print(
        f"  upload {photo} {upload['image_bytes']} B x {4} clients: p95 alone"
        f" {upload['upload_p95_ms_alone']} ms, beside status"
        f" {upload['upload_p95_ms_beside_status']} ms (goal <= 600), errors"
        f" {upload['upload_errors']}"
    )
    print(_row(f"status c64 alone ({photo} rounds)", upload["status_solo"]))
    print(
        _row(
            f"status c64 beside 4 uploaders ({photo})",
            upload["status_beside_uploads"],
            None,
            f"p99 {upload['status_p99_ratio']:.2f}x solo (goal <= 2)",
        )
    )


def _print_memory(memory: dict[str, Any]) -> None:
    last_key = next(k for k in memory if k.startswith("rss_mb_after_") and k != "rss_mb_after_1k")
    later = last_key.removeprefix("rss_mb_")
    print(
        f"  memory: RSS per worker idle {memory['rss_mb_idle']},"
        f" after 1k {memory['rss_mb_after_1k']}, {later} {memory[last_key]} MB;"
        f" growth {memory['growth_ratio']}x (goal <= 120 MB, <= 1.2x)"
    )


def _print_webhook(webhook: dict[str, Any]) -> None:
    print(
        f"  webhook at {webhook['rate_per_s']}/s: p50 {webhook['p50_ms']} ms,"
        f" p99 {webhook['p99_ms']} ms, errors {webhook['errors']} (goal p99 <= 100 ms)"
    )


PRINTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "status": _print_status,
    "login": _print_login,
    "generate": _print_generate,
    "pipeline": _print_pipeline,
    "upload": _print_upload,
    "memory": _print_memory,
    "webhook": _print_webhook,
}


def print_table(results: dict[str, Any]) -> None:
    options = results.get("options", {})
    print(
        f"\n=== bench (median of {options.get('rounds')} interleaved rounds,"
        f" {options.get('duration_s')} s each, wrk -t1, {options.get('images')} images) ==="
    )
    print(HEADER)
    for name, printer in PRINTERS.items():
        if name in results:
            printer(results[name])


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    status = results.get("status")
    panels = [p for p in ("status", "login", "memory") if p in results]
    if not panels:
        return
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        if panel == "status" and status:
            names = ["R0 hello", "R1 status", "ours status"]
            c1 = [
                status["references"]["r0"]["c1"]["rps"],
                status["references"]["r1"]["c1"]["rps"],
                status["c1"]["rps"],
            ]
            c64 = [
                status["references"]["r0"]["c64"]["rps"],
                status["references"]["r1"]["c64"]["rps"],
                status["c64"]["rps"],
            ]
            xs = range(len(names))
            axis.bar([x - 0.2 for x in xs], c1, 0.4, label="c1")
            axis.bar([x + 0.2 for x in xs], c64, 0.4, label="c64")
            axis.set_xticks(list(xs), names)
            axis.set_ylabel("req/s")
            axis.set_title(
                f"status: {status['ratio_r1_c64']}x R1 at c64, p99 {status['c64']['p99_ms']} ms"
            )
            axis.legend()
        elif panel == "login":
            login = results["login"]
            labels = ["alone", "+2 logins", "+8 logins"]
            values = [login["solo"]["rps"], login["with_2"]["rps"], login["with_8"]["rps"]]
            axis.bar(labels, values)
            axis.set_ylabel("status req/s (c64)")
            axis.set_title("login interference")
        elif panel == "memory":
            memory = results["memory"]
            keys = [k for k in memory if k.startswith("rss_mb_")]
            axis.bar([k.removeprefix("rss_mb_") for k in keys], [max(memory[k]) for k in keys])
            axis.axhline(120, color="red", linestyle="--", label="goal 120 MB")
            axis.set_ylabel("max RSS per worker (MB)")
            axis.set_title("memory")
            axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"plot: {path}")
