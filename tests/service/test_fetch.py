"""URL inputs against real HTTP servers on 127.0.0.1: total deadline, cancel, address pinning, refusals."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from facecast.engine.errors import CanceledError, FacecastError
from facecast.engine.progress import CancelToken
from facecast.service.fetch import fetch_to_file, resolve_url
from facecast.service.settings import FetchSettings

WAV_HEAD = b"RIFF\x24\x00\x00\x00WAVEfmt "


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"
    hits: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        mode = self.server.mode  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        if mode == "ok":
            body = WAV_HEAD + bytes(100)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.write(WAV_HEAD)
        self.wfile.flush()
        for _ in range(60):  # drip: one byte every 0.3 s; silent: nothing; both end after 18 s at most
            time.sleep(0.3)
            if mode == "drip":
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(mode: str = "ok", host: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
        server = http.server.ThreadingHTTPServer((host, port), _Handler)
        server.mode, server.hits, server.daemon_threads = mode, [], True  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def settings(timeout_s: float = 2.0) -> FetchSettings:
    return FetchSettings(allow_hosts=["127.0.0.1"], timeout_s=timeout_s)


@pytest.mark.parametrize("mode", ["drip", "silent"])
def test_a_slow_server_cannot_hold_a_download_past_its_total_deadline(serve, tmp_path: Path, mode: str) -> None:
    server = serve(mode)
    started = time.monotonic()
    with pytest.raises(FacecastError) as error:
        fetch_to_file(f"http://127.0.0.1:{server.server_port}/slow.wav", tmp_path / "in", settings(2.0))
    assert time.monotonic() - started < 3.5
    assert error.value.code == "url_refused" and "longer than 2 s" in str(error.value)
    assert not (tmp_path / "in").exists()


def test_cancel_interrupts_a_download(serve, tmp_path: Path) -> None:
    server = serve("silent")
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(CanceledError):
        fetch_to_file(f"http://127.0.0.1:{server.server_port}/a.wav", tmp_path / "in", settings(30.0), cancel)
    assert time.monotonic() - started < 1.5
    assert not (tmp_path / "in").exists()


def test_the_connection_goes_to_the_address_that_was_checked(serve, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name first resolves to an allowed address, then to a canary that must see nothing."""
    canary = serve("ok", host="127.0.0.2")
    good = serve("ok", port=canary.server_port)  # same port: only the address tells them apart
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "media.example":
            address = next(answers, "127.0.0.2")
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    kind, ext = fetch_to_file(f"http://media.example:{good.server_port}/a.wav", tmp_path / "in",
                              FetchSettings(allow_hosts=["127.0.0.1", "media.example"], timeout_s=5))
    assert (kind, ext) == ("audio", "wav")
    assert good.hits == ["/a.wav"] and canary.hits == []


@pytest.mark.parametrize("url", ["http://exa mple.com/a.wav", "http://example.com/a\r\nX: y", "file:///etc/passwd",
                                 "http://127.0.0.1:99999999/", "http://" + "a" * 3000 + ".com/", "ftp://x/y",
                                 "http://user:pw@example.com/a.wav"])
def test_malformed_urls_are_refused_before_anything_is_resolved(url: str) -> None:
    with pytest.raises(FacecastError) as error:
        resolve_url(url, settings())
    assert error.value.code == "url_refused"


def test_a_refused_address_is_not_revealed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FacecastError) as error:
        resolve_url("http://localhost:8080/a.wav", FetchSettings())
    assert error.value.code == "url_refused"
    assert "127.0.0.1" not in str(error.value) and "::1" not in str(error.value)
