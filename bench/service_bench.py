"""Service benchmark: submit/status latency for 1,000 jobs from 16 concurrent clients over loopback HTTP while
a worker renders, and batch vs separate jobs.

Writes bench/results_service.md. Run with `make bench` or `.venv/bin/python bench/service_bench.py`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

import httpx
from run import cpu_model  # bench/ is on sys.path when a bench script runs

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
RESULTS = ROOT / "bench" / "results_service.md"


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(data_dir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {**os.environ, "FACECAST_DATA_DIR": str(data_dir), "FACECAST_PORT": str(port),
           "FACECAST_FETCH__ALLOW_HOSTS": '["127.0.0.1"]', "FACECAST_WORKER__POLL_MAX_DELAY_S": "0.2"}
    process = subprocess.Popen([sys.executable, "-m", "facecast.service", "serve", "--workers", str(workers)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def _upload(client: httpx.Client, path: Path, route: str) -> str:
    with path.open("rb") as handle:
        response = client.post(route, files={"file": (path.name, handle)})
    response.raise_for_status()
    return response.json()["id"]


def latency(work: Path, count: int = 1000, clients: int = 16) -> dict[str, float]:
    """`count` submissions, then `count` status reads, each spread over `clients` concurrent clients, while the
    one worker renders a long video (started first, with the submissions queued behind it)."""
    process, url = _serve(work / "latency", workers=1)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            template_id = _upload(client, MEDIA / "talking_man_480.mp4", "/v1/templates")
            while client.get(f"/v1/templates/{template_id}").json()["status"] == "preparing":
                time.sleep(0.2)
            long_audio = _upload(client, _short_wav(work, 120.0, "long.wav"), "/v1/audio")
            long_job = client.post("/v1/videos", json={"template_id": template_id, "audio_id": long_audio}).json()
            while client.get(f"/v1/videos/{long_job['id']}").json()["status"] == "queued":
                time.sleep(0.1)
            audio_id = _upload(client, _short_wav(work), "/v1/audio")
            bodies = [{"template_id": template_id, "audio_id": audio_id, "metadata": {"n": n}} for n in range(count)]
            cpu_start = _cpu_s(process.pid)
            submit, ids = asyncio.run(_timed(url, clients, [("POST", "/v1/videos", body) for body in bodies]))
            cpu_submitted = _cpu_s(process.pid)
            status, _ = asyncio.run(_timed(url, clients, [("GET", f"/v1/videos/{i}", None) for i in ids]))
            cpu_read = _cpu_s(process.pid)
            rendering = client.get(f"/v1/videos/{long_job['id']}").json()["status"] == "processing"
    finally:
        _stop(process)
    submit_p50, submit_p99 = _percentiles(submit)
    status_p50, status_p99 = _percentiles(status)
    return {"submit_p50_ms": submit_p50, "submit_p99_ms": submit_p99, "status_p50_ms": status_p50,
            "status_p99_ms": status_p99, "rendering_throughout": float(rendering), "clients": float(clients),
            "submit_cpu_ms": (cpu_submitted - cpu_start) * 1000 / count,
            "status_cpu_ms": (cpu_read - cpu_submitted) * 1000 / count}


def _cpu_s(pid: int) -> float:
    """CPU seconds the API process has used (user + system, from /proc): a cost per request that, unlike
    latency, does not depend on what else the machine runs. NaN where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(url: str, clients: int, calls: list[tuple[str, str, dict | None]]) -> tuple[list[float], list[str]]:
    """Run `calls` from `clients` concurrent clients, each on its own keep-alive connection; (seconds per call,
    id of each answer, in call order). Each time runs from sending the request to having read the whole answer."""
    pending = list(enumerate(calls))
    pending.reverse()  # popped from the end, so in call order
    seconds: list[float] = []
    ids: list[str] = [""] * len(calls)
    address = httpx.URL(url)

    async def one_client() -> None:
        connection = await _Connection.open(address.host, address.port or 80)
        try:
            while pending:
                index, (method, path, body) = pending.pop()
                start = time.perf_counter()
                status, answer = await connection.request(method, path, body)
                seconds.append(time.perf_counter() - start)
                assert status in (200, 202), answer
                ids[index] = json.loads(answer)["id"]
        finally:
            connection.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return seconds, ids


class _Connection:
    """A bare HTTP/1.1 keep-alive client connection: the load generator shares the machine with the server,
    and a full client library spent about as much CPU per request as the server did."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, body: dict | None) -> tuple[int, bytes]:
        """(status, body) of one request; the answer must carry Content-Length (the API's JSON answers do)."""
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: application/json\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(":", 1) for line in lines[1:] if line)
        length = next(int(v) for k, v in headers.items() if k.lower() == "content-length")
        return int(lines[0].split(" ", 2)[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _short_wav(work: Path, seconds: float = 3.0, name: str = "speech.wav") -> Path:
    """The first `seconds` of eng.wav, looped when it is shorter."""
    target = work / name
    if not target.exists():
        with wave.open(str(MEDIA / "eng.wav")) as reader:
            wanted, params = int(reader.getframerate() * seconds), reader.getparams()
            frames = reader.readframes(wanted)
        frames = (frames * (wanted * params.sampwidth * params.nchannels // max(len(frames), 1) + 1))
        with wave.open(str(target), "wb") as writer:
            writer.setparams(params)
            writer.writeframes(frames[:wanted * params.sampwidth * params.nchannels])
    return target


def batch_ratio(work: Path, templates: int = 10, rounds: int = 3) -> dict[str, Any]:
    """Wall time of one batch (1 audio URL x N templates) against N separate jobs with the same audio URL, in
    `rounds` interleaved rounds on one server; the fastest of each is compared, as the engine bench does."""
    www = work / "www"
    www.mkdir(exist_ok=True)
    shutil.copy(_short_wav(work), www / "speech.wav")
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {
        "__init__": lambda self, *a, **k: http.server.SimpleHTTPRequestHandler.__init__(self, *a, directory=str(www),
                                                                                        **k),
        "log_message": lambda self, *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    audio_url = f"http://127.0.0.1:{server.server_address[1]}/speech.wav"
    process, url = _serve(work / "batch", workers=1)
    options = {"render_mode": "parametric", "max_height": 240}
    separate, batches = [], []
    try:
        with httpx.Client(base_url=url, timeout=90) as client:
            ids = [_upload(client, MEDIA / "talking_man_480.mp4", "/v1/templates") for _ in range(templates)]
            for template_id in ids:
                while client.get(f"/v1/templates/{template_id}").json()["status"] == "preparing":
                    time.sleep(0.2)
            for _ in range(rounds):
                separate.append(_separate_s(client, ids, {"audio_url": audio_url, **options}))
                batches.append(_batch_s(client, ids, {"audio_url": audio_url, **options}))
    finally:
        _stop(process)
        server.shutdown()
    return {"separate_s": min(separate), "batch_s": min(batches), "ratio": min(batches) / min(separate),
            "rounds": [b / s for s, b in zip(separate, batches)]}


def _separate_s(client: httpx.Client, template_ids: list[str], body: dict[str, Any]) -> float:
    """Seconds from the first of one video per template accepted to the last one ended, by the server's clock."""
    videos = [client.post("/v1/videos", json={"template_id": t, **body}).json() for t in template_ids]
    ended = []
    for video in videos:
        while (view := client.get(f"/v1/videos/{video['id']}", params={"wait": 30}).json())["status"] in (
                "queued", "processing"):
            pass
        ended.append(view)
    return _span_s(ended)


def _batch_s(client: httpx.Client, template_ids: list[str], body: dict[str, Any]) -> float:
    """Seconds from one batch of the templates accepted to its last video ended, by the server's clock."""
    batch = client.post("/v1/batches", json={"template_ids": template_ids, **body}).json()
    while (view := client.get(f"/v1/batches/{batch['id']}", params={"wait": 30}).json())["status"] in (
            "queued", "processing"):
        pass
    return _span_s(view["videos"])


def _span_s(videos: list[dict[str, Any]]) -> float:
    """From the first video accepted to the last ended: the jobs' own timestamps, which a client polling
    every 0.2 s (the long-poll's step) would round by as much as a tenth of these few seconds."""
    accepted = min(dt.datetime.fromisoformat(video["created_at"]) for video in videos)
    return (max(dt.datetime.fromisoformat(video["finished_at"]) for video in videos) - accepted).total_seconds()


def latency_rows(lat: dict[str, float]) -> list[str]:
    """The latency table rows (with the conditions they were measured under)."""
    during = "while 1 worker renders a 120 s video" if lat["rendering_throughout"] else \
        "(the long render ended before the reads did)"
    clients = int(lat["clients"])
    return [f"| submit `POST /v1/videos`, 1,000 jobs, {clients} clients, {during}, p50 / p99 | "
            f"{lat['submit_p50_ms']:.1f} / {lat['submit_p99_ms']:.1f} ms | p99 < 50 ms |",
            f"| status `GET /v1/videos/{{id}}`, 1,000 reads, {clients} clients, {during}, p50 / p99 | "
            f"{lat['status_p50_ms']:.1f} / {lat['status_p99_ms']:.1f} ms | p99 < 50 ms |",
            f"| API process CPU per submit / per status read | {lat['submit_cpu_ms']:.2f} / "
            f"{lat['status_cpu_ms']:.2f} ms | |"]


def batch_rows(ratio: dict[str, Any]) -> str:
    """The batch vs separate table rows."""
    rounds = " ".join(f"{value:.2f}" for value in ratio["rounds"])
    met = "✅" if ratio["ratio"] <= 0.8 else "❌"
    return "\n".join([f"| 10 separate jobs (same audio URL, 1 worker), fastest round | {ratio['separate_s']:.1f} s | |",
                      f"| 1 batch of 10 templates x 1 audio URL (1 worker), fastest round | {ratio['batch_s']:.1f} s | |",
                      f"| batch / separate wall time (each round: {rounds}; the worker's lane process, started "
                      f"in the first, stays for the next) | **{ratio['ratio']:.2f}** | <= 0.8 {met} |"])


def main() -> None:
    if sys.argv[1:] == ["latency"]:  # only the latency part, printed (the results file is left as it is)
        with tempfile.TemporaryDirectory(prefix="facecast-bench-") as tmp:
            print("\n".join(latency_rows(latency(Path(tmp)))))
        return
    if sys.argv[1:] == ["batch"]:  # only batch vs separate, printed (the results file is left as it is)
        with tempfile.TemporaryDirectory(prefix="facecast-bench-") as tmp:
            print(batch_rows(batch_ratio(Path(tmp))))
        return
    with tempfile.TemporaryDirectory(prefix="facecast-bench-") as tmp:
        work = Path(tmp)
        lat = latency(work)
        ratio = batch_ratio(work)
    lines = [
        "## Service",
        "",
        f"Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, SQLite database "
        "and queue (defaults). Command: `make bench` (`.venv/bin/python bench/service_bench.py`).",
        "",
        "| measure | value | goal |",
        "| --- | --- | --- |",
        *latency_rows(lat),
        batch_rows(ratio),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
