"""Database API keys as tenants, end to end: keys made with the real `facecast keys` CLI, a real server on
127.0.0.1 (no workers: every video stays queued, which is all partitioning and quotas need), httpx per key."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_facecast
from tests.support.media import media_path, trim_wav
from tests.support.server import Service

CONFIG_KEY = "config-admin-key"
UNREACHED = "http://127.0.0.1:9"  # allowed by the test server's fetch settings; nothing is fetched without workers


@dataclass
class Tenants:
    service: Service
    keys: dict[str, dict]                # name -> what `facecast keys create` printed
    clients: dict[str, httpx.Client]     # name -> a client sending that key; "config" sends CONFIG_KEY

    def __getitem__(self, name: str) -> httpx.Client:
        return self.clients[name]


def _create_key(data_dir: Path, *args: str) -> dict:
    result = run_facecast("keys", "create", "--data-dir", str(data_dir), *args, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    data_dir = tmp_path_factory.mktemp("tenants") / "data"
    keys = {"alice": _create_key(data_dir, "--name", "alice", "--max-active-jobs", "4"),
            "bob": _create_key(data_dir, "--name", "bob"),
            "ops": _create_key(data_dir, "--name", "ops", "--role", "admin"),
            "eve": _create_key(data_dir, "--name", "eve", "--rate-limit", "3/min")}
    service = Service(data_dir, {"FACECAST_WEBUI": "false"}, workers=0, api_key=CONFIG_KEY).start()
    clients = {name: httpx.Client(base_url=service.url, timeout=30, headers={"X-API-Key": key["key"]})
               for name, key in keys.items()}
    clients["config"] = service.client
    try:
        yield Tenants(service, keys, clients)
    finally:
        for client in clients.values():
            client.close()
        service.stop()


def test_keys_cli_shows_a_key_once_and_stores_only_its_hash(tenants: Tenants) -> None:
    alice = tenants.keys["alice"]
    assert alice["name"] == "alice" and alice["role"] == "user" and alice["id"].startswith("key_")
    assert alice["key"].startswith("fc_") and alice["created_at"] and alice["max_active_jobs"] == 4
    assert tenants.keys["eve"]["rate_limit_per_min"] == 3 and tenants.keys["ops"]["role"] == "admin"
    assert alice["webhook_secret"].startswith("whsec_")
    assert len(base64.b64decode(alice["webhook_secret"].removeprefix("whsec_"))) >= 24

    listed = run_facecast("keys", "list", "--data-dir", str(tenants.service.data_dir), timeout=60)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {row["id"] for row in rows} == {key["id"] for key in tenants.keys.values()}
    assert all("key" not in row and "webhook_secret" not in row for row in rows)
    assert not any(key["key"] in listed.stdout for key in tenants.keys.values())

    with sqlite3.connect(tenants.service.data_dir / "facecast.db") as db:
        stored = db.execute("SELECT * FROM api_keys WHERE id = ?", (alice["id"],)).fetchone()
    assert alice["key"] not in map(str, stored)
    assert hashlib.sha256(alice["key"].encode()).hexdigest() in stored


def test_webhook_secret_of_a_tenant(tenants: Tenants) -> None:
    from facecast.service.db.session import Database
    from facecast.service.keys import KeyStore

    db = Database(f"sqlite:///{tenants.service.data_dir / 'facecast.db'}")
    store = KeyStore(db)
    assert store.webhook_secret(tenants.keys["bob"]["id"]) == tenants.keys["bob"]["webhook_secret"]
    assert store.webhook_secret("default") is None
    db.dispose()


def _hidden(answer: httpx.Response) -> bool:
    """The answer to another tenant's id: 404 problem+json, as for an id that never existed."""
    detail = answer.json().get("detail", "")
    return (answer.status_code == 404 and answer.headers["content-type"].startswith("application/problem+json")
            and ("does not exist" in detail or "no task" in detail))


def _seen(answer: httpx.Response) -> bool:
    """Found: 200, or 409/404 for a reason other than the id (not rendered yet, made from audio)."""
    return answer.status_code in (200, 404, 409) and not _hidden(answer)


def _alice_resources(tenants: Tenants, tmp_path: Path) -> dict[str, str]:
    """One of each kind of thing, made by alice: template, audio, video, batch, gateway task, easy task."""
    alice = tenants["alice"]
    with media_path("portrait.jpg").open("rb") as image:
        template = alice.post("/v1/templates", files={"file": ("alice.jpg", image, "image/jpeg")}).json()
    with trim_wav(media_path("eng.wav"), tmp_path / "a.wav", 1.0).open("rb") as sound:
        audio = alice.post("/v1/audio", files={"file": ("a.wav", sound, "audio/wav")}).json()
    body = {"template_id": template["id"], "audio_id": audio["id"]}
    video = alice.post("/v1/videos", json=body).json()
    batch = alice.post("/v1/batches", json={"template_ids": [template["id"]], "audio_id": audio["id"]}).json()
    task = alice.post("/api/v1/generate-batch", json={"audio_url": f"{UNREACHED}/a.wav",
                                                      "video_templates": [f"{UNREACHED}/t.mp4"]}).json()
    easy = alice.post("/easy/submit", json={"code": "alice-1", "audio_url": f"{UNREACHED}/a.wav",
                                            "video_url": f"{UNREACHED}/t.mp4"}).json()
    assert easy["success"], easy
    return {"template": template["id"], "audio": audio["id"], "video": video["id"], "batch": batch["id"],
            "task": task["task_id"]}


def test_each_key_sees_only_its_own_and_admins_see_all(tenants: Tenants, tmp_path: Path) -> None:
    made = _alice_resources(tenants, tmp_path)
    alice, bob = tenants["alice"], tenants["bob"]
    reads = [f"/v1/templates/{made['template']}", f"/v1/templates/{made['template']}/thumbnail",
             f"/v1/audio/{made['audio']}", f"/v1/videos/{made['video']}", f"/v1/videos/{made['video']}/content",
             f"/v1/videos/{made['video']}/thumbnail", f"/v1/videos/{made['video']}/subtitles.srt",
             f"/v1/batches/{made['batch']}", f"/api/v1/task/{made['task']}"]
    for path in reads:
        assert _hidden(bob.get(path)), path
        assert all(_seen(client.get(path)) for client in (alice, tenants["ops"], tenants["config"])), path
    assert bob.get("/easy/query", params={"code": "alice-1"}).json()["code"] == 10004
    assert alice.get("/easy/query", params={"code": "alice-1"}).json()["data"]["status"] == 1
    assert tenants["ops"].get("/easy/query", params={"code": "alice-1"}).json()["data"]["status"] == 1

    def listed(client: httpx.Client, path: str) -> set[str]:
        return {row["id"] for row in client.get(path, params={"limit": 100}).json()["data"]}

    assert made["template"] not in listed(bob, "/v1/templates") and listed(bob, "/v1/videos") == set()
    for client in (alice, tenants["ops"], tenants["config"]):
        assert made["template"] in listed(client, "/v1/templates") and made["video"] in listed(client, "/v1/videos")

    uses = {"template_id": made["template"], "audio_url": f"{UNREACHED}/b.wav"}
    assert bob.post("/v1/videos", json=uses).json()["code"] == "not_found"
    assert bob.post(f"/v1/videos/{made['video']}/cancel").status_code == 404
    assert bob.delete(f"/v1/videos/{made['video']}").status_code == 404
    assert bob.delete(f"/v1/templates/{made['template']}").status_code == 404
    assert bob.patch(f"/v1/templates/{made['template']}", json={"name": "mine"}).status_code == 404
    assert alice.get(f"/v1/videos/{made['video']}").json()["status"] == "queued"
    assert alice.post(f"/v1/videos/{made['video']}/cancel").json()["status"] == "canceled"
    assert alice.delete(f"/v1/videos/{made['video']}").status_code == 204


def test_shared_templates_are_usable_by_every_key_but_changed_only_by_admins(tenants: Tenants) -> None:
    with media_path("portrait.jpg").open("rb") as image:
        shared = tenants["config"].post("/v1/templates", files={"file": ("s.jpg", image, "image/jpeg")}).json()
    bob = tenants["bob"]
    assert shared["id"] in {row["id"] for row in bob.get("/v1/templates").json()["data"]}
    video = bob.post("/v1/videos", json={"template_id": shared["id"], "audio_url": f"{UNREACHED}/b.wav"})
    assert video.status_code == 202, video.text
    assert bob.delete(f"/v1/templates/{shared['id']}").status_code == 404
    assert tenants["alice"].get(f"/v1/videos/{video.json()['id']}").status_code == 404
    assert bob.post(f"/v1/videos/{video.json()['id']}/cancel").json()["status"] == "canceled"


def test_active_job_quota_answers_429_until_a_job_ends(tenants: Tenants, tmp_path: Path) -> None:
    alice = tenants["alice"]
    body = {"template_id": None, "audio_url": f"{UNREACHED}/q.wav"}
    with media_path("portrait.jpg").open("rb") as image:
        body["template_id"] = alice.post("/v1/templates", files={"file": ("q.jpg", image, "image/jpeg")}).json()["id"]
    active = {v["id"] for v in alice.get("/v1/videos", params={"limit": 100}).json()["data"]
              if v["status"] in ("queued", "processing")}
    while len(active) < 4:  # alice's max_active_jobs
        created = alice.post("/v1/videos", json=body)
        assert created.status_code == 202, created.text
        active.add(created.json()["id"])
    refused = alice.post("/v1/videos", json=body)
    assert refused.status_code == 429 and refused.json()["code"] == "quota_exceeded"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["content-type"].startswith("application/problem+json")
    batch = alice.post("/v1/batches", json={"template_ids": [body["template_id"]], "audio_url": body["audio_url"]})
    assert batch.status_code == 429
    alice.post(f"/v1/videos/{active.pop()}/cancel")
    assert alice.post("/v1/videos", json=body).status_code == 202


def test_rate_limit_then_revocation(tenants: Tenants) -> None:
    eve = tenants["eve"]
    assert [eve.get("/v1/templates").status_code for _ in range(3)] == [200, 200, 200]
    limited = eve.get("/v1/templates")
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 20  # 3/min: a token every 20 s
    assert tenants["bob"].get("/v1/templates").status_code == 200  # each key has its own bucket

    revoked = run_facecast("keys", "revoke", tenants.keys["eve"]["id"], "--data-dir",
                           str(tenants.service.data_dir), timeout=60)
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_at"], revoked.stderr
    deadline = time.monotonic() + 10
    while (answer := eve.get("/v1/templates")).status_code != 401 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    assert httpx.get(f"{tenants.service.url}/v1/templates", headers={"X-API-Key": "fc_unknown"}).status_code == 401


def test_without_any_key_serve_stays_on_loopback_and_says_when_keys_are_on(tenants: Tenants, tmp_path: Path) -> None:
    refused = run_facecast("serve", "--host", "0.0.0.0", "--workers", "0", "--data-dir", str(tmp_path),
                           module="facecast.service", timeout=60)
    assert refused.returncode == 2 and "without API keys" in refused.stderr and "facecast keys create" in refused.stderr
    assert "authentication: on" in (tenants.service.data_dir / "serve.out").read_text()
