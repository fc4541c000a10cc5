"""A small client of the facecast HTTP API and the message shaping the tools share.

The tools are clients like any other: they call /v1/generate, /v1/videos/{id}?wait=N and friends with the
provider's base URL and API key, and poll long jobs here (the plugin runtime allows minutes; a Dify custom
tool call would time out after 60 s).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx
from dify_plugin.entities.invoke_message import InvokeMessage

LOG_START, LOG_SUCCESS = InvokeMessage.LogMessage.LogStatus.START, InvokeMessage.LogMessage.LogStatus.SUCCESS

POLL_WAIT_S = 20          # one long-poll request; the server answers as soon as the job ends
DEFAULT_MAX_WAIT_S = 540  # below the plugin daemon's default 600 s execution limit
DEFAULT_MAX_FILE_MB = 15  # Dify's default upload limit; larger videos are returned as links only
TERMINAL = ("succeeded", "failed", "canceled")
PROGRESS_FIELDS = ("id", "status", "stage", "progress", "eta_s")


class FacecastError(Exception):
    """The server refused the request or could not be reached; the message says what to do."""


def _number(value: Any, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


class FacecastClient:
    def __init__(self, credentials: Mapping[str, Any], timeout_s: float = POLL_WAIT_S + 30) -> None:
        base_url = str(credentials.get("base_url") or "").strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise FacecastError(f"base_url must start with http:// or https://, got {base_url!r}")
        headers = {"User-Agent": "facecast-dify-plugin"}
        api_key = str(credentials.get("api_key") or "").strip()
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url
        self.max_file_bytes = int(_number(credentials.get("max_file_mb"), DEFAULT_MAX_FILE_MB) * 1024 * 1024)
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise FacecastError(f"cannot reach facecast at {self.base_url}: {exc}; check the base URL as Dify's "
                                "containers see it (not 127.0.0.1)") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                detail = f"{body.get('detail')} [{body.get('code')}]"
            except ValueError:
                detail = response.text[:300]
            raise FacecastError(f"facecast answered {response.status_code}: {detail}")
        return response.json() if response.content else None

    def check(self) -> None:
        """A cheap authenticated call: raises when the URL or key is wrong."""
        self.request("GET", "/v1/templates", params={"limit": 1})

    def upload_audio(self, filename: str, data: bytes, mime_type: str | None) -> str:
        files = {"file": (filename or "speech.wav", data, mime_type or "application/octet-stream")}
        return self.request("POST", "/v1/audio", files=files)["id"]

    def download(self, url: str) -> bytes:
        try:
            response = self.http.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise FacecastError(f"could not download {url}: {exc}") from exc
        return response.content

    def wait(self, path: str, first: dict[str, Any], max_wait_s: float) -> Generator[dict[str, Any], None, None]:
        """Long-poll `path` (a video or batch) until it ends or `max_wait_s` passes, yielding each state."""
        deadline = time.monotonic() + max_wait_s
        state = first
        yield state
        while state["status"] not in TERMINAL and time.monotonic() < deadline:
            wait = int(max(1, min(POLL_WAIT_S, deadline - time.monotonic())))
            state = self.request("GET", path, params={"wait": wait})
            yield state


def progress_line(state: Mapping[str, Any]) -> str:
    eta = f", about {state['eta_s']:.0f} s left" if state.get("eta_s") else ""
    stage = f" ({state['stage']})" if state.get("stage") else ""
    return f"{state['id']}: {state['status']}{stage} {float(state.get('progress') or 0):.0%}{eta}"


def max_wait(parameters: Mapping[str, Any]) -> float:
    return max(0.0, _number(parameters.get("max_wait_s"), DEFAULT_MAX_WAIT_S))


def wants_file(parameters: Mapping[str, Any]) -> bool:
    value = parameters.get("return_file", True)
    return value if isinstance(value, bool) else str(value).lower() not in ("false", "0", "no", "")


def follow(tool: Any, client: FacecastClient, path: str, first: dict[str, Any],
           max_wait_s: float) -> Generator[Any, None, dict[str, Any]]:
    """Poll a job, reporting each change of stage or progress as a log message; returns the last state."""
    started = tool.create_log_message(label=f"facecast {first['id']}", data={"status": first["status"]},
                                      status=LOG_START)
    yield started
    state = first
    last = ""
    for state in client.wait(path, first, max_wait_s):
        line = progress_line(state)
        if line != last:
            yield tool.create_log_message(label=line, data={k: state.get(k) for k in PROGRESS_FIELDS},
                                          parent=started)
            last = line
    done = state["status"] in TERMINAL
    yield tool.finish_log_message(started, status=LOG_SUCCESS if done else LOG_START,
                                  data={"status": state["status"]})
    return state


def video_result(tool: Any, client: FacecastClient, video: dict[str, Any],
                 return_file: bool) -> Generator[Any, None, None]:
    """The end of a video tool: variables, JSON, a link, a sentence, and the MP4 when small enough.
    A failed video raises, so a workflow's tool node fails (and its error branch runs)."""
    status = video["status"]
    if status in ("failed", "canceled"):
        raise FacecastError(f"video {video['id']} {status}: {video.get('error_message') or 'canceled'} "
                            f"[{video.get('error_code') or status}]")
    yield tool.create_variable_message("video_id", video["id"])
    yield tool.create_variable_message("status", status)
    yield tool.create_variable_message("video_url", video.get("video_url") or "")
    quality = video.get("quality") or {}
    yield tool.create_variable_message("needs_review", bool(video.get("needs_review")))
    if quality.get("sync_r") is not None:
        yield tool.create_variable_message("sync_r", quality["sync_r"])
    yield tool.create_json_message(video)
    if status != "succeeded":
        yield tool.create_text_message(
            f"The video {video['id']} is still {status} ({float(video.get('progress') or 0):.0%}). "
            f"Call get_video with video_id {video['id']} later to get its URL.")
        return
    if video.get("needs_review"):
        yield tool.create_text_message(
            f"The video is ready but its lip-sync is below the server's gate (sync r {quality.get('sync_r')}, "
            f"audio offset {quality.get('offset_ms')} ms); have a person check it before use: {video['video_url']}")
    else:
        yield tool.create_text_message(f"The video is ready: {video['video_url']}")
    yield tool.create_link_message(video["video_url"])
    size = int(video.get("size_bytes") or 0)
    if return_file and 0 < size <= client.max_file_bytes:
        yield tool.create_blob_message(client.download(video["video_url"]),
                                       meta={"mime_type": "video/mp4", "filename": f"{video['id']}.mp4"})
