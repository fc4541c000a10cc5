"""Real `facecast serve` and `facecast worker` processes on 127.0.0.1, started and stopped by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """`facecast serve` (and extra `facecast worker`s) as subprocesses of the test, stopped by it."""

    def __init__(self, data_dir: Path, env: dict[str, str], workers: int = 1, api_key: str | None = None) -> None:
        self.data_dir, self.workers = data_dir, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "FACECAST_DATA_DIR": str(data_dir), "FACECAST_PORT": str(self.port),
                    "FACECAST_HOST": "127.0.0.1", "FACECAST_FETCH__ALLOW_HOSTS": '["127.0.0.1"]',
                    "FACECAST_WORKER__LEASE_S": "3", "FACECAST_WORKER__SWEEP_INTERVAL_S": "1",
                    "FACECAST_WORKER__POLL_MAX_DELAY_S": "0.2", "FACECAST_DELIVERY__RETRY_DELAYS_S": "[0.5, 1, 2]",
                    "FACECAST_DELIVERY__POLL_S": "0.2", **env}
        self.api: subprocess.Popen[bytes] | None = None
        self.extra: list[subprocess.Popen[bytes]] = []
        if api_key is not None:
            self.env["FACECAST_API_KEYS"] = f'["{api_key}"]'
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self.client = httpx.Client(base_url=self.url, timeout=90.0, headers=headers)

    def _log(self, name: str) -> object:
        return open(self.data_dir / f"{name}.out", "ab")

    def start(self, workers: int | None = None) -> "Service":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        count = self.workers if workers is None else workers
        self.api = subprocess.Popen([sys.executable, "-m", "facecast.service", "serve", "--workers", str(count)],
                                    env=self.env, stdout=self._log("serve"), stderr=subprocess.STDOUT,
                                    start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.api.poll() is None, (self.data_dir / "serve.out").read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("server did not start within 60 s")

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "facecast.service", "worker"], env={**self.env, **env},
                                   stdout=self._log("worker"), stderr=subprocess.STDOUT, start_new_session=True)
        self.extra.append(process)
        return process

    def worker_pids(self) -> list[int]:
        """Pids of live worker processes, as the workers registered them."""
        import sqlite3

        with sqlite3.connect(self.data_dir / "facecast.db") as db:
            return [row[0] for row in db.execute("SELECT pid FROM workers")]

    def kill_api(self) -> None:
        """kill -9 the serve process group (API and the workers it started)."""
        assert self.api is not None
        os.killpg(self.api.pid, signal.SIGKILL)
        self.api.wait(timeout=10)

    def stop(self) -> None:
        for process in [self.api, *self.extra]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [self.api, *self.extra]:
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # workers started by serve are in its session: make sure none outlive the test
        if self.api is not None:
            try:
                os.killpg(self.api.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait_for(self, path: str, done: set[str], timeout_s: float = 180) -> dict:
        """Poll a resource (using ?wait long-polls) until its status is in `done`."""
        deadline = time.monotonic() + timeout_s
        body: dict = {}
        while time.monotonic() < deadline:
            body = self.client.get(path, params={"wait": 5} if "/templates/" not in path else None).json()
            if body.get("status") in done:
                return body
            if "/templates/" in path:
                time.sleep(0.3)
        raise AssertionError(f"{path} still {body.get('status')} after {timeout_s} s: {body}")


def serving(data_dir: Path, **kwargs: Any) -> Iterator[Service]:
    """A started Service for a fixture to yield from; stopped when the fixture ends."""
    service = Service(data_dir, {}, **kwargs).start()
    try:
        yield service
    finally:
        service.stop()
