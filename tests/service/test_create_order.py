"""Creates share one database writer thread: a create whose callback URL resolves slowly must not hold up the
creates behind it (its URL is checked before it takes the writer), and a repeated Idempotency-Key is answered
with the first job before any URL is checked again. HeyGem submits of one video URL share its template."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facecast.service import library as library_module
from facecast.service import notifiers
from facecast.service.app import create_app
from facecast.service.db.models import Template
from facecast.service.library import Library
from facecast.service.problems import UrlRefusedError
from tests.support.store import make_store

SLOW_RESOLVE_S = 1.5


def test_a_slowly_resolving_callback_url_delays_only_its_own_create(tmp_path: Path, short_wav: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path)
    audio = store.add_audio(short_wav, uploaded_ago_h=0)
    with store.jobs.db.session() as session:
        session.add(Template(id="tpl_x", owner="default", name="x", status="ready", source_key="templates/x.mp4"))
    checked: list[str] = []

    def slow_dns(url: str, *_args: object) -> None:  # stands in for a resolver that takes its time
        checked.append(url)
        time.sleep(SLOW_RESOLVE_S)

    monkeypatch.setattr(notifiers, "check_url", slow_dns)
    app = create_app(store.settings.model_copy(update={"allowed_hosts": ["*"]}))
    with TestClient(app) as client:  # one event loop for both requests, as in the server
        plain_took, plain, slow = _create_beside_a_slow_one(client, {"template_id": "tpl_x", "audio_id": audio.id},
                                                            checked)
    assert checked == ["http://slow.test/hook"]
    assert plain.status_code == 202 and slow["response"].status_code == 202, (plain.text, slow["response"].text)
    assert slow["took"] >= SLOW_RESOLVE_S
    assert plain_took < SLOW_RESOLVE_S / 2, f"the plain create waited {plain_took:.2f} s behind the slow one"


def _create_beside_a_slow_one(client: TestClient, body: dict[str, str],
                              checked: list[str]) -> tuple[float, object, dict[str, object]]:
    """Start a create with a slow callback URL; once its check is under way, time a create without one."""
    slow: dict[str, object] = {}

    def create_with_callback() -> None:
        started = time.monotonic()
        slow["response"] = client.post("/v1/videos", json={**body, "callback_url": "http://slow.test/hook"})
        slow["took"] = time.monotonic() - started

    first = threading.Thread(target=create_with_callback)
    first.start()
    deadline = time.monotonic() + 5
    while not checked and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    plain = client.post("/v1/videos", json=body)
    plain_took = time.monotonic() - started
    first.join(timeout=10)
    return plain_took, plain, slow


def test_a_replayed_create_answers_the_first_job_though_its_callback_host_no_longer_resolves(
        tmp_path: Path, short_wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path)
    audio = store.add_audio(short_wav, uploaded_ago_h=0)
    with store.jobs.db.session() as session:
        session.add(Template(id="tpl_x", owner="default", name="x", status="ready", source_key="templates/x.mp4"))
    resolves = {"http://gone.test/hook": True}

    def dns(url: str, *_args: object) -> None:
        if not resolves[url]:
            raise UrlRefusedError(f"{url} does not resolve")

    monkeypatch.setattr(notifiers, "check_url", dns)
    app = create_app(store.settings.model_copy(update={"allowed_hosts": ["*"]}))
    body = {"template_id": "tpl_x", "audio_id": audio.id, "callback_url": "http://gone.test/hook"}
    with TestClient(app) as client:
        first = client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
        resolves["http://gone.test/hook"] = False
        again = client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
        fresh = client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k2"})
    assert first.status_code == 202 and again.status_code in (200, 202), (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert fresh.status_code == 422 and fresh.json()["code"] == "url_refused", fresh.text


def test_heygem_submits_of_one_video_url_at_the_same_moment_share_one_template(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path)
    monkeypatch.setattr(library_module, "check_url", lambda *_args: None)  # media.test resolves nowhere
    add_template_url = Library.add_template_url

    def slow_add(self: Library, *args: object) -> object:  # the race window a busy database opens
        time.sleep(0.3)
        return add_template_url(self, *args)

    monkeypatch.setattr(Library, "add_template_url", slow_add)
    app = create_app(store.settings.model_copy(update={"allowed_hosts": ["*"]}))
    answers: list[object] = []
    with TestClient(app) as client:
        def submit(code: str) -> None:
            answers.append(client.post("/easy/submit", json={"video_url": "http://media.test/man.mp4",
                                                             "audio_url": "http://media.test/a.wav", "code": code}))

        threads = [threading.Thread(target=submit, args=(f"task-{n}",)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        templates = client.get("/v1/templates").json()["data"]
    assert all(answer.status_code == 200 and answer.json()["code"] == 10000 for answer in answers), answers
    assert len(answers) == 3 and len(templates) == 1, templates
