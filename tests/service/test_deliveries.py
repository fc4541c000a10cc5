"""Callbacks as deliveries through real server and worker processes: Standard Webhooks signatures checked with the
reference library, retries on a schedule, rows that outlive killed processes, the list and redeliver routes, the
batch's end event and the HeyGem gateway's callback; and two senders on one database never sending one attempt."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from facecast.service.db.models import Delivery, DeliveryAttempt, Job, utcnow
from facecast.service.db.session import Database
from facecast.service.deliveries import Deliveries
from facecast.service.keys import KeyStore
from facecast.service.settings import Settings
from facecast.service.tenants import Caller
from tests.service.test_backends import postgres_url  # noqa: F401  (fixture: a PostgreSQL server on 127.0.0.1)
from tests.service.test_end_to_end import upload_audio, upload_template
from tests.support.media import trim_wav
from tests.support.receiver import Receiver
from tests.support.server import Service
from tests.support.store import make_store

SECRET = "whsec_" + base64.b64encode(b"a 32-byte key for signing tests.").decode()
REFUSED = "http://10.1.2.3/hook"  # private and not in fetch.allow_hosts


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def clip(tmp_path: Path, eng_wav: Path) -> Path:
    return trim_wav(eng_wav, tmp_path / "clip.wav", 1.5)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, portrait_jpg: Path,
           eng_wav: Path) -> Iterator[tuple[Service, Receiver, dict[str, str]]]:
    """One server with a signing secret, its receiver and a template and audio, shared by the tests below."""
    folder = tmp_path_factory.mktemp("signed")
    service, receiver = Service(folder / "data", {"FACECAST_WEBHOOK_SECRET": SECRET}), Receiver()
    try:
        service.start()
        yield service, receiver, _inputs(service, portrait_jpg, trim_wav(eng_wav, folder / "clip.wav", 1.5))
    finally:
        service.stop()
        receiver.close()


def _inputs(service, portrait: Path, clip: Path) -> dict[str, str]:
    return {"template_id": upload_template(service, portrait, "portrait"), "audio_id": upload_audio(service, clip),
            "render_mode": "parametric"}


def _create(service, path: str, body: dict) -> dict:
    response = service.client.post(path, json=body)
    assert response.status_code == 202, response.text
    return response.json()


def _deliveries(service, path: str, until: str = "delivered", count: int = 1, timeout_s: float = 30) -> list[dict]:
    """GET path once its deliveries number `count` and all have status `until` (the last attempt is recorded just
    after the receiver answers it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        data = service.client.get(path).json()["data"]
        if len(data) == count and all(d["status"] == until for d in data):
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.1)


def test_a_signed_callback_is_retried_until_taken_then_listed_and_redelivered(signed) -> None:
    service, receiver, inputs = signed
    receiver.answers["/hook"] = [(500, {"error": "busy"}), (503, {}), (200, {"ok": True})]
    refused = service.client.post("/v1/videos", json={**inputs, "callback_url": REFUSED})
    assert refused.status_code == 422 and refused.json()["code"] == "url_refused", refused.text
    unknown = service.client.post("/v1/videos", json={**inputs, "notify": ["nobody"]})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_notifier", unknown.text
    assert "nobody" in unknown.json()["detail"]

    video = _create(service, "/v1/videos", {**inputs, "callback_url": f"{receiver.url}/hook?token=t1"})
    posts = receiver.wait("/hook", 3)
    ended = service.client.get(f"/v1/videos/{video['id']}").json()
    for post in posts:  # every attempt is signed afresh, under the same webhook-id
        event = Webhook(SECRET).verify(post.body, post.headers)
        assert event["type"] == "video.succeeded" and event["data"]["video_url"] == ended["video_url"], event
        assert post.query == {"token": "t1"}
    assert len({post.headers["webhook-id"] for post in posts}) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(posts[0].body.replace(b"succeeded", b"failed"), posts[0].headers)

    path = f"/v1/videos/{video['id']}/deliveries"
    [delivery] = _deliveries(service, path)
    assert delivery["id"] == posts[0].headers["webhook-id"] and delivery["kind"] == "webhook"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200], delivery
    assert "500" in delivery["attempts"][0]["error"] and delivery["attempts"][2]["error"] is None
    assert _seconds_between(delivery["attempts"][0], delivery["attempts"][1]) >= 0.4  # the first retry's delay

    again = service.client.post(f"{path}/redeliver")
    assert again.status_code == 202 and again.json()["data"][0]["status"] == "pending", again.text
    post = receiver.wait("/hook", 4)[3]
    assert Webhook(SECRET).verify(post.body, post.headers)["data"]["id"] == video["id"]
    assert post.headers["webhook-id"] == delivery["id"]
    assert len(_deliveries(service, path)[0]["attempts"]) == 4
    assert service.client.get("/v1/videos/vid_missing/deliveries").status_code == 404


def test_a_delivery_survives_killing_every_process_mid_retry(make_service, receiver: Receiver, portrait_jpg: Path,
                                                             clip: Path) -> None:
    receiver.answers["/hook"] = [(500, {}), (200, {})]
    service = make_service(workers=1, FACECAST_DELIVERY__RETRY_DELAYS_S="[3]").start()
    video = _create(service, "/v1/videos", {**_inputs(service, portrait_jpg, clip),
                                            "callback_url": f"{receiver.url}/hook"})
    path = f"/v1/videos/{video['id']}/deliveries"
    [waiting] = _deliveries(service, path, until="pending", timeout_s=60)
    while not waiting["attempts"]:
        [waiting] = _deliveries(service, path, until="pending")
    service.kill_api()  # kill -9 the API and its worker while the retry waits
    assert len(receiver.at("/hook")) == 1
    service.start()  # new processes: the row is still there, and due
    receiver.wait("/hook", 2)
    [delivery] = _deliveries(service, path)
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200], delivery


def test_the_batch_end_and_the_gateway_task_are_one_signed_delivery_each(signed, portrait_jpg: Path,
                                                                         tmp_path: Path, eng_wav: Path) -> None:
    service, receiver, inputs = signed
    batch = _create(service, "/v1/batches", {"template_ids": [inputs["template_id"]] * 2,
                                             "audio_id": inputs["audio_id"], "callback_url": f"{receiver.url}/b"})
    posts = receiver.wait("/b", 3, timeout_s=120)
    events = {post.headers["webhook-id"]: Webhook(SECRET).verify(post.body, post.headers) for post in posts}
    assert sorted(e["type"] for e in events.values()) == ["batch.succeeded", "video.succeeded", "video.succeeded"]
    [(batch_event_id, end)] = [(i, e) for i, e in events.items() if e["type"] == "batch.succeeded"]
    assert end["data"]["id"] == batch["id"] and end["data"]["counts"] == {"succeeded": 2}, end
    [listed] = _deliveries(service, f"/v1/batches/{batch['id']}/deliveries")
    assert listed["id"] == batch_event_id and listed["event"] == "batch.succeeded"

    clip = trim_wav(eng_wav, tmp_path / "clip.wav", 1.5)
    receiver.files.update({"/face.jpg": portrait_jpg.read_bytes(), "/speech.wav": clip.read_bytes()})
    gateway = {"audio_url": f"{receiver.url}/speech.wav", "video_templates": [f"{receiver.url}/face.jpg"]}
    templates = len(service.client.get("/v1/templates").json()["data"])
    refused = service.client.post("/api/v1/generate-batch", json={**gateway, "callback_url": REFUSED})
    assert refused.status_code == 422 and refused.json()["code"] == "url_refused", refused.text
    assert len(service.client.get("/v1/templates").json()["data"]) == templates  # nothing was created
    task = _create(service, "/api/v1/generate-batch", {**gateway, "callback_url": f"{receiver.url}/task"})
    [post] = receiver.wait("/task", 1, timeout_s=120)
    body = Webhook(SECRET).verify(post.body, post.headers)  # the HeyGem body itself, signed like every callback
    assert body["task_id"] == task["task_id"] and body["status"] == "completed" and len(body["result"]) == 1, body
    assert service.client.get(f"/api/v1/task/{task['task_id']}").json() == body
    [listed] = _deliveries(service, f"/v1/batches/{body['batch_id']}/deliveries")
    assert listed["event"] == "task.ended" and len(listed["attempts"]) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_senders_on_one_database_never_send_the_same_attempt(backend: str, tmp_path: Path, receiver: Receiver,
                                                                 request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'f.db'}"
    settings = Settings(data_dir=tmp_path, database_url=url, fetch={"allow_hosts": ["127.0.0.1"]})
    databases = [Database(url), Database(url)]
    databases[0].migrate()
    senders = [Deliveries(settings, db) for db in databases]
    with databases[0].session() as session:
        session.add_all([Job(id=f"vid_{i}", kind="video", owner="default", status="succeeded",
                             callback_url=f"{receiver.url}/hook", created_at=utcnow()) for i in range(16)])
        session.flush()
        for i in [*range(16), 0, 1]:  # an end recorded twice is one delivery
            senders[0].record_end(session, f"vid_{i}")
    start = threading.Barrier(2)

    def send(sender: Deliveries, worker_id: str) -> None:
        start.wait()
        while sender.send_due(worker_id):
            pass

    threads = [threading.Thread(target=send, args=(s, f"w{i}")) for i, s in enumerate(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [post.headers["webhook-id"] for post in receiver.at("/hook")]
    assert len(ids) == 16 and len(set(ids)) == 16, ids
    for i in range(16):
        [delivery] = senders[1].list_for(Caller(), "video", f"vid_{i}")
        assert delivery.status == "delivered"
        assert [a.status_code for a in delivery.attempts] == [200]
    for db in databases:
        db.dispose()


def test_a_database_key_signs_its_tenants_callbacks_with_its_own_secret(tmp_path: Path, receiver: Receiver) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'f.db'}", webhook_secret=SECRET,
                        fetch={"allow_hosts": ["127.0.0.1"]})
    db = Database(settings.database_url)
    db.migrate()
    key, _, own_secret = KeyStore(db).create("alice")
    sender = Deliveries(settings, db)
    with db.session() as session:
        session.add_all([Job(id=f"vid_{owner}", kind="video", owner=owner, status="succeeded",
                             callback_url=f"{receiver.url}/{owner}", created_at=utcnow())
                         for owner in (key.id, "default")])
        session.flush()
        for owner in (key.id, "default"):
            sender.record_end(session, f"vid_{owner}")
    while sender.send_due("w0"):
        pass
    [tenant_post], [default_post] = receiver.at(f"/{key.id}"), receiver.at("/default")
    Webhook(own_secret).verify(tenant_post.body, tenant_post.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tenant_post.body, tenant_post.headers)
    Webhook(SECRET).verify(default_post.body, default_post.headers)  # config keys: the server-wide secret
    db.dispose()


def _seconds_between(first: dict, second: dict) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(second["at"]) - datetime.fromisoformat(first["at"])).total_seconds()


def test_the_receiver_in_the_docs_verifies_our_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from facecast.service.webhooks import webhook_headers

    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    code = docs.split("A receiver\nthat verifies", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("FACECAST_WEBHOOK_SECRET", SECRET)
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - the documented receiver, as written
    client = TestClient(namespace["app"])
    body = b'{"type":"video.succeeded","data":{"id":"vid_1","video_url":"http://x/v.mp4"}}'
    signed = client.post("/facecast", content=body, headers=webhook_headers(SECRET, "dlv_1", body))
    assert signed.status_code == 200, signed.text
    forged = client.post("/facecast", content=body, headers=webhook_headers(SECRET[:-4] + "AAA=", "dlv_1", body))
    assert forged.status_code == 400


def test_deleting_a_video_deletes_its_deliveries_and_their_attempts(tmp_path: Path, talking_man_mp4: Path) -> None:
    store = make_store(tmp_path)
    kept, deleted = store.add_video(mp4=talking_man_mp4), store.add_video(mp4=talking_man_mp4)
    with store.jobs.db.session() as session:
        for job in (kept, deleted):
            session.add(Delivery(id=f"dlv_{job.id}", owner="default", subject_id=job.id, kind="webhook",
                                 event="video.succeeded", url="http://127.0.0.1:9/hook", body="{}",
                                 status="delivered", attempts=1, round_attempts=1))
            session.add(DeliveryAttempt(delivery_id=f"dlv_{job.id}", number=1, status_code=200))
    store.jobs.delete_video(Caller(), deleted.id)
    with store.jobs.db.session() as session:
        left = session.scalars(select(Delivery.subject_id)).all()
        attempts = session.scalars(select(DeliveryAttempt.delivery_id)).all()
    assert left == [kept.id] and attempts == [f"dlv_{kept.id}"]
