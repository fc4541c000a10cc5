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

POLL_WAIT_S = 20          # one long-poll request; the server answers as soon as the job ends
# The plugin daemon stops a tool call after PLUGIN_MAX_EXECUTION_TIMEOUT (600 s in Dify's docker setup); the
# tools stop polling 60 s before that, so the id and status still come back. The tool YAMLs' max equals this.
MAX_WAIT_S = 540
DEFAULT_MAX_FILE_MB = 15  # Dify's default upload limit; larger videos are returned as links only
TERMINAL = ("succeeded", "failed", "canceled")


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


def max_wait(parameters: Mapping[str, Any]) -> float:
    """The requested wait, clamped to 0..MAX_WAIT_S whatever a workflow or agent passed."""
    return min(MAX_WAIT_S, max(0.0, _number(parameters.get("max_wait_s"), MAX_WAIT_S)))


def _flag(parameters: Mapping[str, Any], name: str, default: bool) -> bool:
    value = parameters.get(name)
    if value is None or value == "":
        return default
    return value if isinstance(value, bool) else str(value).lower() not in ("false", "0", "no")


def wants_file(parameters: Mapping[str, Any]) -> bool:
    return _flag(parameters, "return_file", True)


def concise(parameters: Mapping[str, Any]) -> bool:
    """One sentence only: an agent receives every message (variables, JSON, links) as text for its LLM."""
    return _flag(parameters, "concise", False)


def follow(client: FacecastClient, path: str, first: dict[str, Any], max_wait_s: float) -> dict[str, Any]:
    """Poll a job until it ends or `max_wait_s` passes; returns the last state. Progress is not reported:
    a workflow's tool node drops log messages and an agent would get each one in its tool result."""
    state = first
    for state in client.wait(path, first, max_wait_s):
        pass
    return state


def video_sentence(video: Mapping[str, Any]) -> str:
    if video["status"] == "succeeded" and video.get("needs_review"):
        quality = video.get("quality") or {}
        return (f"The video is ready but its lip-sync is below the server's gate (sync r {quality.get('sync_r')}, "
                f"audio offset {quality.get('offset_ms')} ms); have a person check it before use: {video['video_url']}")
    if video["status"] == "succeeded":
        return f"The video is ready: {video['video_url']}"
    return (f"The video {video['id']} is still {video['status']} ({float(video.get('progress') or 0):.0%}). "
            f"Call get_video with video_id {video['id']} later to get its URL.")


def video_result(tool: Any, client: FacecastClient, video: dict[str, Any],
                 parameters: Mapping[str, Any]) -> Generator[Any, None, None]:
    """The end of a video tool: the variables of output_schema, JSON, a link and the MP4 when small enough,
    or (concise) the sentence alone. A failed video raises, so a workflow's tool node fails (and its error
    branch runs) and an agent reads the reason."""
    status = video["status"]
    if status in ("failed", "canceled"):
        raise FacecastError(f"video {video['id']} {status}: {video.get('error_message') or 'canceled'} "
                            f"[{video.get('error_code') or status}]")
    yield tool.create_text_message(video_sentence(video))
    if concise(parameters):
        return
    yield tool.create_variable_message("video_id", video["id"])
    yield tool.create_variable_message("status", status)
    yield tool.create_variable_message("video_url", video.get("video_url") or "")
    quality = video.get("quality") or {}
    yield tool.create_variable_message("needs_review", bool(video.get("needs_review")))
    if quality.get("sync_r") is not None:
        yield tool.create_variable_message("sync_r", quality["sync_r"])
    yield tool.create_json_message(video)
    if status != "succeeded":
        return
    yield tool.create_link_message(video["video_url"])
    size = int(video.get("size_bytes") or 0)
    if wants_file(parameters) and 0 < size <= client.max_file_bytes:
        yield tool.create_blob_message(client.download(video["video_url"]),
                                       meta={"mime_type": "video/mp4", "filename": f"{video['id']}.mp4"})
