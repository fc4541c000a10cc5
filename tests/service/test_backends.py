"""The same service on PostgreSQL and Redis (several workers, as on a farm), with real server processes."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import free_port
from test_end_to_end import upload_audio, upload_template

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    """postgres refuses to run as root; CI runs as root, so drop to the postgres user there."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is missing: run `make system-deps` (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="facecast-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = free_port()
    data = root / "data"
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True, timeout=120)
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
                                 "-o", f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off", "start"]),
                   check=True, capture_output=True, timeout=90)
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                     "facecast"]), check=True, capture_output=True, timeout=30)
        yield f"postgresql://postgres@127.0.0.1:{port}/facecast"
    finally:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: run `make system-deps` (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize("queue", ["redis", "postgres"])
def test_postgres_database_with_redis_or_postgres_queue(queue: str, make_service, postgres_url: str,
                                                        request: pytest.FixtureRequest, media: Path,
                                                        short_wav: Path) -> None:
    queue_url = request.getfixturevalue("redis_url") if queue == "redis" else postgres_url
    service = make_service(workers=0, FACECAST_DATABASE_URL=postgres_url, FACECAST_QUEUE_URL=queue_url)
    request.addfinalizer(service.stop)  # before the database and queue servers stop
    service.start()
    workers = [service.start_worker(), service.start_worker()]
    ready = service.client.get("/readyz").json()
    assert ready["status"] == "ok", ready
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    audio_id = upload_audio(service, short_wav)
    body = {"template_id": template_id, "audio_id": audio_id, "max_height": 240, "render_mode": "parametric"}
    created = [service.client.post("/v1/videos", json=body, headers={"Idempotency-Key": f"k{i}"}).json()
               for i in range(3)]
    replay = service.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k0"}).json()
    assert replay["id"] == created[0]["id"]
    for video in created:
        done = service.wait_for(f"/v1/videos/{video['id']}", {"succeeded", "failed"}, 300)
        assert done["status"] == "succeeded", done
    assert all(w.poll() is None for w in workers)
    log = (service.data_dir / "logs" / "facecast.log").read_text()
    assert sum(log.count(f"job={v['id']} status=succeeded") for v in created) == 3
    assert not (service.data_dir / "facecast.db").exists() and not (service.data_dir / "queue.db").exists()


NUL = "\u0000"
NUL_REQUESTS = [  # (method, path, httpx keyword arguments): a NUL (%00 in paths) in every id, code, key, name
    ("GET", "/v1/videos/vid_%00", {}), ("DELETE", "/v1/videos/vid_%00", {}),
    ("POST", "/v1/videos/vid_%00/cancel", {}), ("GET", "/v1/videos/vid_%00/content", {}),
    ("GET", "/v1/templates/tpl_%00", {}), ("PATCH", "/v1/templates/tpl_%00", {"json": {"name": "n"}}),
    ("DELETE", "/v1/templates/tpl_%00", {}), ("GET", "/v1/audio/aud_%00", {}),
    ("GET", "/v1/batches/bat_%00", {}), ("GET", "/v1/voices/espeak:en%00/preview", {}),
    ("GET", "/v1/videos", {"params": {"cursor": f"1.0_vid_{NUL}"}}),
    ("GET", "/v1/videos", {"params": {"status": f"queued{NUL}"}}),
    ("GET", "/v1/templates", {"params": {"cursor": f"1.0_{NUL}"}}),
    ("GET", "/easy/query", {"params": {"code": f"task{NUL}"}}),
    ("POST", "/easy/submit", {"json": {"audio_url": "a.wav", "video_url": "v.mp4", "code": f"task{NUL}"}}),
    ("POST", "/easy/submit", {"json": {"audio_url": "a.wav", "video_url": f"v{NUL}.mp4", "code": "task"}}),
    ("POST", "/v1/videos", {"json": {"template_id": f"tpl_{NUL}", "text": "Hi."}}),
    ("POST", "/v1/videos", {"json": {"template_id": "tpl_x", "audio_id": f"aud_{NUL}"}}),
    ("POST", "/v1/batches", {"json": {"template_ids": [f"tpl_{NUL}"], "text": "Hi."}}),
    ("POST", "/v1/generate", {"json": {"template_id": f"presenter{NUL}", "text": "Hi."}}),
    ("POST", "/v1/generate", {"json": {"template_id": f"tpl_{NUL}", "text": "Hi."}}),
    ("POST", "/v1/generate/batch", {"json": {"template_ids": f"demo,x{NUL}", "text": "Hi."}}),
    ("PATCH", "/v1/templates/tpl_x", {"json": {"name": f"a{NUL}b"}}),
    ("POST", "/v1/templates/from_url", {"json": {"source_url": "http://127.0.0.1/v.mp4", "name": f"a{NUL}"}}),
]


def test_a_nul_anywhere_is_refused_with_4xx_on_postgres(make_service, postgres_url: str,
                                                         request: pytest.FixtureRequest) -> None:
    """PostgreSQL cannot store NUL in text: each of these would be a 500 DataError if it reached a query."""
    import socket

    service = make_service(workers=0, FACECAST_DATABASE_URL=postgres_url)
    request.addfinalizer(service.stop)  # before the database server stops
    service.start()
    for method, path, kwargs in NUL_REQUESTS:
        answer = service.client.request(method, path, **kwargs)
        assert 400 <= answer.status_code < 500, (method, path, kwargs, answer.status_code, answer.text[:300])
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:  # httpx refuses to send it
        sock.sendall(b"POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: k\x00\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        assert sock.recv(100).split()[1].startswith(b"4")
    assert service.client.get("/healthz").status_code == 200
    assert "DataError" not in (service.data_dir / "serve.out").read_text()
