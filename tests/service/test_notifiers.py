"""Chat notifiers through real server and worker processes: each robot's documented JSON and signature, checked
by a real receiver; a robot that refuses leaves the job succeeded and its failure recorded; alerts; settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from facecast.service.alerts import run_alerts
from facecast.service.notifiers import send_alert
from facecast.service.settings import Settings
from facecast.service.webhooks import signing_secret
from tests.service.test_deliveries import _create, _inputs, clip  # noqa: F401  (clip: a fixture)
from tests.support.receiver import Receiver
from tests.support.store import make_store

DING_SECRET, LARK_SECRET = "SEC0123456789abcdef", "lark-signing-secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _notifiers(base: str) -> dict[str, dict]:
    return {"wecom": {"kind": "wecom", "url": f"{base}/wecom?key=k1"},
            "ding": {"kind": "dingtalk", "url": f"{base}/ding?access_token=t1", "secret": DING_SECRET},
            "lark": {"kind": "feishu", "url": f"{base}/lark", "secret": LARK_SECRET},
            "slack": {"kind": "slack", "url": f"{base}/slack"},
            "broken": {"kind": "wecom", "url": f"{base}/broken"}}


def _b64_hmac(key: str, message: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def _blank_png(path: Path) -> Path:
    import cv2
    import numpy as np

    cv2.imwrite(str(path), np.full((240, 240, 3), 128, np.uint8))
    return path


def test_each_robot_gets_its_own_format_and_a_refusing_one_fails_only_its_delivery(
        make_service, receiver: Receiver, portrait_jpg: Path, clip: Path, tmp_path: Path) -> None:  # noqa: F811
    receiver.answers.update({"/broken": [(200, {"errcode": 93000, "errmsg": "invalid webhook url"})],
                             "/lark": [(200, {"code": 0, "msg": "success"})], "/slack": [(200, "ok")]})
    service = make_service(workers=1, FACECAST_NOTIFIERS=json.dumps(_notifiers(receiver.url)),
                           FACECAST_NOTIFY='["wecom"]', FACECAST_DELIVERY__RETRY_DELAYS_S="[0.2]").start()
    inputs = _inputs(service, portrait_jpg, clip)
    video = _create(service, "/v1/videos", {**inputs, "notify": ["wecom", "ding", "lark", "slack", "broken"]})
    with _blank_png(tmp_path / "blank.png").open("rb") as handle:
        blank = service.client.post("/v1/templates", files={"file": ("blank.png", handle)}).json()["id"]
    doomed = _create(service, "/v1/videos", {**inputs, "template_id": blank})  # told the default list: wecom

    done = service.wait_for(f"/v1/videos/{video['id']}", {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    link = done["video_url"]
    started = time.time()

    [wecom] = [p for p in receiver.wait("/wecom", 2) if video["id"] in p.json()["markdown"]["content"]]
    assert wecom.query == {"key": "k1"} and list(wecom.json()) == ["msgtype", "markdown"]
    content = wecom.json()["markdown"]["content"]
    assert wecom.json()["msgtype"] == "markdown" and list(wecom.json()["markdown"]) == ["content"]
    assert "succeeded" in content and "portrait" in content and "1.5 s" in content and f"]({link})" in content

    [ding] = receiver.wait("/ding")
    assert ding.json()["msgtype"] == "markdown" and set(ding.json()["markdown"]) == {"title", "text"}
    assert f"]({link})" in ding.json()["markdown"]["text"] and video["id"] in ding.json()["markdown"]["title"]
    stamp = ding.query["timestamp"]
    assert ding.query["access_token"] == "t1" and abs(int(stamp) / 1000 - started) < 60
    assert ding.query["sign"] == _b64_hmac(DING_SECRET, f"{stamp}\n{DING_SECRET}")  # parse_qs undid the quoting

    [lark] = receiver.wait("/lark")
    body = lark.json()
    assert set(body) == {"timestamp", "sign", "msg_type", "card"} and body["msg_type"] == "interactive", body
    expected = base64.b64encode(hmac.new(f"{body['timestamp']}\n{LARK_SECRET}".encode(), b"",
                                         hashlib.sha256).digest()).decode()
    assert body["sign"] == expected and abs(int(body["timestamp"]) - started) < 60
    assert video["id"] in body["card"]["header"]["title"]["content"]
    assert f"]({link})" in body["card"]["elements"][0]["text"]["content"]

    [slack] = receiver.wait("/slack")
    text = slack.json()["text"]
    assert list(slack.json()) == ["text"] and f"<{link}|" in text and "*Template*: portrait" in text

    deliveries = service.client.get(f"/v1/videos/{video['id']}/deliveries").json()["data"]
    assert {d["kind"] for d in deliveries} == {"wecom", "ding", "lark", "slack", "broken"}
    assert all(d["url"] is None for d in deliveries)  # robot URLs carry tokens: never echoed
    receiver.wait("/broken", 2)
    [broken] = _wait_kind(service, video["id"], "broken", "failed")
    assert [a["status_code"] for a in broken["attempts"]] == [200, 200] and "93000" in broken["attempts"][1]["error"]
    assert service.client.get(f"/v1/videos/{video['id']}").json()["status"] == "succeeded"

    ended = service.wait_for(f"/v1/videos/{doomed['id']}", {"succeeded", "failed"})
    [told] = [p for p in receiver.wait("/wecom", 2) if doomed["id"] in p.json()["markdown"]["content"]]
    assert "failed" in told.json()["markdown"]["content"] and ended["error_code"] in told.json()["markdown"]["content"]


def _wait_kind(service, video_id: str, kind: str, status: str, timeout_s: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [d for d in service.client.get(f"/v1/videos/{video_id}/deliveries").json()["data"]
                 if d["kind"] == kind and d["status"] == status]
        if found:
            return found
        assert time.monotonic() < deadline, f"no {kind} delivery {status}"
        time.sleep(0.1)


def test_service_alerts_reach_the_alert_notifiers_once_per_kind(receiver: Receiver, tmp_path: Path) -> None:
    """A worker's alert check (disk below min_free_disk_mb here) posts to every alert notifier in its format;
    a second check within alerts.repeat_s sends nothing."""
    store = make_store(tmp_path, fetch={"allow_hosts": ["127.0.0.1"]}, alert_notifiers=["ops"],
                       notifiers={"ops": {"kind": "slack", "url": f"{receiver.url}/alert"}}, min_free_disk_mb=10**12)
    [alert] = run_alerts(store.settings, store.jobs)
    assert run_alerts(store.settings, store.jobs) == []
    assert alert.kind == "disk_low"
    assert [p.json() for p in receiver.at("/alert")] == [{"text": f"*{alert.title}*\n{alert.text}"}]
    quiet = Settings(data_dir=tmp_path, notifiers=store.settings.notifiers)
    assert send_alert(quiet, "nobody listens", "no alert_notifiers") == 0


def test_settings_check_notifier_names_and_the_signing_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown notifiers: nope"):
        Settings(data_dir=tmp_path, notify=["nope"])
    with pytest.raises(ValidationError, match="base64"):
        Settings(data_dir=tmp_path, webhook_secret="whsec_not base64!")
    with pytest.raises(ValidationError, match="not 'webhook'"):
        Settings(data_dir=tmp_path, notifiers={"webhook": {"kind": "slack", "url": "https://hooks.slack.com/x"}})
    plain = Settings(data_dir=tmp_path, webhook_secret="plain-words")
    assert signing_secret(plain, None) == "whsec_" + base64.b64encode(b"plain-words").decode()
    assert signing_secret(Settings(data_dir=tmp_path), None) is None
    robot = Settings(data_dir=tmp_path, notifiers={"ops": {
        "kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=TOKEN123"}})
    assert "TOKEN123" not in json.dumps(robot.masked())
