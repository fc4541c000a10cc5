"""A small synchronous client of the facecast HTTP API, as the web UI uses it.

The UI is a client like any other (STYLE 2.9): every action is an HTTP call to /v1, and errors arrive as
RFC 9457 problem+json, which `ApiError` turns into one readable sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from facecast.engine.files import atomic_output

ENDED = ("succeeded", "failed", "canceled")


class ApiError(Exception):
    """An error answer from the API (or no answer at all), carrying the problem's `code` and `detail`."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} ({code})")
        self.status, self.code, self.detail = status, code, detail

    @property
    def message(self) -> str:
        return f"{self.detail} ({self.code})"


class ApiClient:
    """Calls one facecast server. Thread-safe (httpx.Client is), so Gradio handlers can share it."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 120.0,
                 http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def with_key(self, api_key: str | None) -> "ApiClient":
        """A client for the same server that sends `api_key`, sharing this one's connections."""
        return ApiClient(self.base_url, api_key, http=self._http)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, headers=self._headers, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(0, "unreachable", f"the facecast API at {self.base_url} did not answer ({exc})") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._request(method, path, **kwargs).json()

    def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI document, where the UI reads option bounds, allowed values and help."""
        return self._json("GET", "/openapi.json")

    # templates
    def list_templates(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params = {"limit": limit, **({"status": status} if status else {})}
        return self._json("GET", "/v1/templates", params=params)["data"]

    def get_template(self, template_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/templates/{template_id}")

    def upload_template(self, path: Path, name: str | None = None) -> dict[str, Any]:
        with open(path, "rb") as file:
            return self._json("POST", "/v1/templates", files={"file": (Path(path).name, file)},
                              data={"name": name} if name else None)

    def template_from_url(self, url: str, name: str | None = None) -> dict[str, Any]:
        body = {"source_url": url, **({"name": name} if name else {})}
        return self._json("POST", "/v1/templates/from_url", json=body)

    def rename_template(self, template_id: str, name: str) -> dict[str, Any]:
        return self._json("PATCH", f"/v1/templates/{template_id}", json={"name": name})

    def delete_template(self, template_id: str) -> None:
        self._request("DELETE", f"/v1/templates/{template_id}")

    # audio and voices
    def upload_audio(self, path: Path) -> dict[str, Any]:
        with open(path, "rb") as file:
            return self._json("POST", "/v1/audio", files={"file": (Path(path).name, file)})

    def list_voices(self) -> list[dict[str, Any]] | None:
        """The server's voices, or None when it has no voice API (GET /v1/voices answers 404)."""
        try:
            body = self._json("GET", "/v1/voices")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return body.get("data", []) if isinstance(body, dict) else list(body)

    # videos and batches
    def create_video(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/v1/videos", json=body)

    def get_video(self, video_id: str, wait_s: int = 0) -> dict[str, Any]:
        return self._json("GET", f"/v1/videos/{video_id}", params={"wait": wait_s} if wait_s else None)

    def list_videos(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params = {"limit": limit, **({"status": status} if status else {})}
        return self._json("GET", "/v1/videos", params=params)["data"]

    def cancel_video(self, video_id: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/videos/{video_id}/cancel")

    def delete_video(self, video_id: str) -> None:
        self._request("DELETE", f"/v1/videos/{video_id}")

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/v1/batches", json=body)

    def get_batch(self, batch_id: str, wait_s: int = 0) -> dict[str, Any]:
        return self._json("GET", f"/v1/batches/{batch_id}", params={"wait": wait_s} if wait_s else None)

    # files
    def download(self, api_path: str, target: Path) -> Path:
        """Stream an API file (a video or thumbnail path under /v1) to `target`, written whole or not at all."""
        try:
            with self._http.stream("GET", api_path, headers=self._headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_error(response)
                with atomic_output(target) as partial, open(partial, "wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise ApiError(0, "unreachable", f"the facecast API at {self.base_url} did not answer ({exc})") from exc
        return target


def _api_error(response: httpx.Response) -> ApiError:
    """An ApiError from a problem+json body, or from the status line when the body is something else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if not isinstance(detail, str):  # a plain FastAPI validation list
            detail = "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item)
                               for item in detail) if isinstance(detail, list) else str(detail)
        return ApiError(response.status_code, str(body.get("code") or response.reason_phrase), detail)
    return ApiError(response.status_code, f"http_{response.status_code}",
                    f"the API answered {response.status_code} {response.reason_phrase}")
