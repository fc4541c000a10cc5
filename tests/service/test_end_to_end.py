"""Templates, audio, videos and batches through a real server and worker, on real media."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from standardwebhooks import Webhook

from facecast.service.lanes import lane_codec_threads


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Serves files from `root` (GET) and records webhook POSTs."""

    root: Path
    posts: list[tuple[dict[str, str], bytes]]

    def do_GET(self) -> None:  # noqa: N802
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_http(tmp_path: Path) -> Iterator[tuple[str, Path, list]]:
    root = tmp_path / "www"
    root.mkdir()
    posts: list = []
    handler = type("Handler", (_Receiver,), {"root": root, "posts": posts})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root, posts
    server.shutdown()


def upload_template(service, path: Path, name: str) -> str:
    with path.open("rb") as handle:
        response = service.client.post("/v1/templates", files={"file": (path.name, handle)}, data={"name": name})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def upload_audio(service, path: Path) -> str:
    with path.open("rb") as handle:
        response = service.client.post("/v1/audio", files={"file": (path.name, handle)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def mp4_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration) / av.time_base


def test_video_from_upload_with_wait_range_and_webhook(make_service, media: Path, short_wav: Path,
                                                       local_http, tmp_path: Path) -> None:
    base, _, posts = local_http
    secret = "whsec_" + base64.b64encode(b"hook-key-of-32-bytes-for-the-test").decode()
    service = make_service(workers=1, FACECAST_WEBHOOK_SECRET=secret).start()
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    template = service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})
    assert template["status"] == "ready", template
    assert template["facts"]["width"] == 480 and template["facts"]["face_coverage"] > 0.8
    thumb = service.client.get(f"/v1/templates/{template_id}/thumbnail")
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"

    audio_id = upload_audio(service, short_wav)
    response = service.client.post("/v1/videos", params={"wait": 60}, json={
        "template_id": template_id, "audio_id": audio_id, "render_mode": "parametric", "callback_url": f"{base}/hook",
        "metadata": {"customer": "c1"}})
    video = response.json()
    assert response.status_code == 200 and video["status"] == "succeeded", video
    assert video["metadata"] == {"customer": "c1"} and video["progress"] == 1.0 and video["attempts"] == 1
    assert abs(video["duration_s"] - 2.5) < 0.1

    full = service.client.get(f"/v1/videos/{video['id']}/content")
    assert full.status_code == 200 and len(full.content) == video["size_bytes"]
    out = tmp_path / "out.mp4"
    out.write_bytes(full.content)
    assert abs(mp4_duration(out) - 2.5) < 0.1
    part = service.client.get(f"/v1/videos/{video['id']}/content", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{video['size_bytes']}"
    assert service.client.get(f"/v1/videos/{video['id']}/thumbnail").content[:3] == b"\xff\xd8\xff"

    for _ in range(50):
        if posts:
            break
        threading.Event().wait(0.1)
    headers, body = posts[0]
    event = Webhook(secret).verify(body, headers)  # Standard Webhooks: webhook-id, -timestamp, -signature
    assert event["data"]["id"] == video["id"] and event["type"] == "video.succeeded"
    assert not list((service.data_dir / "outputs").glob(".*"))  # no temp files left beside outputs


def test_batch_shares_one_audio_url(make_service, media: Path, short_wav: Path, local_http) -> None:
    base, root, _ = local_http
    (root / "speech.wav").write_bytes(short_wav.read_bytes())
    service = make_service(workers=1).start()
    first = upload_template(service, media / "talking_man_480.mp4", "a")
    second = upload_template(service, media / "talking_man_480.mp4", "b")
    created = service.client.post("/v1/batches", json={"template_ids": [first, second],
                                                       "audio_url": f"{base}/speech.wav", "max_height": 240,
                                                       "render_mode": "parametric"})
    assert created.status_code == 202, created.text
    assert [v["template_id"] for v in created.json()["videos"]] == [first, second]
    batch = service.wait_for(f"/v1/batches/{created.json()['id']}", {"succeeded", "failed", "canceled"}, 300)
    assert batch["status"] == "succeeded" and batch["counts"] == {"succeeded": 2}, batch
    assert all(v["height"] == 240 for v in batch["videos"])
    fetched = (service.data_dir / "logs" / "facecast.log").read_text()
    assert fetched.count("status=succeeded") >= 4  # two preparations and two videos
    # One worker renders the two videos of the batch side by side (worker.batch_parallel = 2), each once.
    runs = [service.client.get(f"/v1/videos/{v['id']}").json() for v in batch["videos"]]
    assert all(run["attempts"] == 1 for run in runs)
    (a_start, a_end), (b_start, b_end) = ((run["started_at"], run["finished_at"]) for run in runs)
    assert a_start < b_end and b_start < a_end, runs
    # The second lane is a process of its own (lanes.py), so the two renders do not share one interpreter lock.
    lines = fetched.splitlines()
    pids = {int(next(line for line in lines if f"job={v['id']} status=processing" in line).split()[2])
            for v in batch["videos"]}
    assert len(pids) == 2 and set(service.worker_pids()) & pids, (pids, service.worker_pids())
    # Each lane's x264 took its share of the cores (x264 writes its settings into the stream).
    share = lane_codec_threads(2)
    for video in batch["videos"]:
        assert f"threads={share} ".encode() in (service.data_dir / "outputs" / f"{video['id']}.mp4").read_bytes()
    # The lane process stays for the next batch, and ends with its worker when the server is stopped.
    (lane,) = pids - set(service.worker_pids())
    assert _running(lane)
    service.api.terminate()
    service.api.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _running(lane) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(lane)


def _running(pid: int) -> bool:
    """The process exists and has not ended (a zombie waiting to be reaped has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_bad_template_fails_with_reason(make_service, media: Path) -> None:
    service = make_service(workers=1).start()
    template_id = upload_template(service, media / "portrait.jpg", "painting")
    template = service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})
    if template["status"] == "failed":  # the painted face is small: either outcome must be explained
        assert template["error_code"] and template["error_message"]
    else:
        assert template["facts"]["is_still"] is True


def test_jobs_go_to_the_machine_that_holds_the_template_cache(make_service, media: Path, short_wav: Path) -> None:
    """Two worker 'machines' on one host: videos of a template run where it was prepared, or anywhere once that
    machine is gone."""
    import re
    import signal
    import time

    service = make_service(workers=0).start()
    host_a = service.start_worker(FACECAST_WORKER__HOSTNAME="host-a")
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    assert service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})["status"] == "ready"
    service.start_worker(FACECAST_WORKER__HOSTNAME="host-b")
    deadline = time.monotonic() + 60
    while len(service.worker_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(service.worker_pids()) == 2
    audio_id = upload_audio(service, short_wav)
    body = {"template_id": template_id, "audio_id": audio_id, "render_mode": "parametric", "max_height": 240}
    log = service.data_dir / "logs" / "facecast.log"

    def run(count: int) -> set[str]:
        videos = [service.client.post("/v1/videos", json=body).json() for _ in range(count)]
        for video in videos:
            assert service.wait_for(f"/v1/videos/{video['id']}", {"succeeded", "failed"})["status"] == "succeeded"
        text = log.read_text()
        return {re.search(rf"job={v['id']} status=processing .*worker=(host-\w):", text).group(1) for v in videos}

    assert run(3) == {"host-a"}
    host_a.send_signal(signal.SIGTERM)  # a clean stop unregisters the worker: its machine is gone
    host_a.wait(timeout=60)
    assert run(1) == {"host-b"}


def test_gpu_workers_get_one_gpu_each_and_run_one_job_at_a_time(make_service, media: Path, short_wav: Path) -> None:
    """worker.gpus = [0, 1]: serve starts one worker per GPU, each seeing only its own device, and a GPU worker
    never renders two videos at once (no side-by-side batch rendering there)."""
    import re

    service = make_service(workers=1, FACECAST_WORKER__GPUS="[0, 1]").start()
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    assert service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})["status"] == "ready"
    pids = service.worker_pids()
    assert len(pids) == 2
    devices = sorted(dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                          if "=" in item).get("CUDA_VISIBLE_DEVICES", "") for pid in pids)
    assert devices == ["0", "1"]
    audio_id = upload_audio(service, short_wav)
    batch = service.client.post("/v1/batches", json={"template_ids": [template_id] * 4, "audio_id": audio_id,
                                                     "render_mode": "parametric", "max_height": 240}).json()
    done = service.wait_for(f"/v1/batches/{batch['id']}", {"succeeded", "failed", "canceled"}, 300)
    assert done["status"] == "succeeded", done
    log = (service.data_dir / "logs" / "facecast.log").read_text()
    spans: dict[str, list[tuple[str, str]]] = {}
    for video in done["videos"]:
        worker = re.search(rf"job={video['id']} status=processing .*worker=(\S+)", log).group(1)
        run = service.client.get(f"/v1/videos/{video['id']}").json()
        spans.setdefault(worker, []).append((run["started_at"], run["finished_at"]))
    for runs in spans.values():
        runs.sort()
        assert all(earlier[1] <= later[0] for earlier, later in zip(runs, runs[1:])), spans
