"""Inputs from URLs behind an SSRF guard, and media type sniffing from content (never from names).

Only http and https; every address a host resolves to must be public unless allowlisted (settings.fetch.allow_hosts);
redirects are followed by hand so each hop is checked; size and total time are capped.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from facecast.engine.progress import NEVER_CANCELED, CancelToken

from .problems import FetchFailedError, UnsupportedMediaError, UrlRefusedError
from .settings import FetchSettings

# (magic test, kind, extension). Checked against the first 64 bytes.
VIDEO, IMAGE, AUDIO = "video", "image", "audio"


def sniff(head: bytes) -> tuple[str, str]:
    """(kind, extension) from a file's first bytes; raises UnsupportedMediaError for anything else."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return AUDIO, "m4a"
        return VIDEO, "mov" if brand == b"qt  " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return VIDEO, "webm"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return AUDIO, "wav"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return VIDEO, "avi"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return AUDIO, "mp3"
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return AUDIO, "aac"
    if head.startswith(b"OggS"):
        return AUDIO, "ogg"
    if head.startswith(b"fLaC"):
        return AUDIO, "flac"
    if head.startswith(b"\xff\xd8\xff"):
        return IMAGE, "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return IMAGE, "png"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return IMAGE, "webp"
    raise UnsupportedMediaError("the file is not a video, photo or audio format we read "
                                "(mp4, mov, webm, avi, jpg, png, webp, wav, mp3, m4a, aac, ogg, flac)")


def sniff_file(path: Path) -> tuple[str, str]:
    with path.open("rb") as handle:
        return sniff(handle.read(64))


MAX_URL_CHARS = 2048


@dataclass(frozen=True, slots=True)
class PinnedUrl:
    """A URL whose host was resolved and checked once; requests connect to that address and no other.

    Resolving again at connect time would let a DNS answer change between the check and the connection
    (DNS rebinding) and reach an address the check refused.
    """

    url: str
    host: str
    address: str

    def request_target(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL naming the checked address, headers, httpx extensions) for one request to this URL."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = literal + (f":{parts.port}" if parts.port else "")
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = self.host + (f":{parts.port}" if parts.port else "")
        extensions = {"sni_hostname": self.host} if parts.scheme == "https" else {}
        return target, {"Host": host_header}, extensions


def _allowed(host: str, address: str, allow: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    for entry in allow:
        if entry == host:
            return True
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_url_syntax(url: str) -> None:
    """Refuse what is not a plain http(s) URL with a host, before anything is resolved or stored."""
    if len(url) > MAX_URL_CHARS:
        raise UrlRefusedError(f"URLs are limited to {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UrlRefusedError("the URL contains spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(url)
        hostname, _ = parts.hostname, parts.port  # port raises ValueError when it is not a number
    except ValueError:
        raise UrlRefusedError("the URL is malformed; give an http(s) URL such as https://host/file.mp4") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise UrlRefusedError("only http and https URLs with a host are accepted")
    if parts.username or parts.password:
        raise UrlRefusedError("URLs with credentials are refused; make the file reachable without them")


def resolve_url(url: str, settings: FetchSettings) -> PinnedUrl:
    """Check the URL and the address its host resolves to; the result pins that address for the request.

    Raises UrlRefusedError without saying what the host resolved to (that would be a DNS oracle).
    """
    check_url_syntax(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchFailedError(f"cannot resolve the host {host[:100]!r}") from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        public = ip.is_global and not ip.is_multicast
        if not public and not _allowed(host, str(ip), settings.allow_hosts):
            raise UrlRefusedError(f"fetching from {host[:100]} is not allowed; an administrator can allow it with "
                                  "fetch.allow_hosts")
    return PinnedUrl(url, host, addresses[0])


def check_url(url: str, settings: FetchSettings) -> None:
    """Refuse URLs the service must not fetch from (raises UrlRefusedError or FetchFailedError)."""
    resolve_url(url, settings)


class _Deadline:
    """Closes a streaming response when the whole download's time is up or the job is canceled.

    A read timeout restarts with every byte, so a server sending one byte a second would otherwise hold the
    download for as long as it likes.
    """

    def __init__(self, seconds: float, cancel: CancelToken) -> None:
        self.ends_at = time.monotonic() + seconds
        self.cancel = cancel
        self.expired = False
        self._response: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="fetch-deadline")

    def watch(self, response: Any) -> None:
        self._response = response
        if not self._thread.is_alive():
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            if self.cancel.canceled or time.monotonic() > self.ends_at:
                self.expired = True
                self._interrupt()
                return

    def _interrupt(self) -> None:
        """Shut the connection's socket down: that wakes a read blocked in another thread, close() does not."""
        stream = self._response.extensions.get("network_stream") if self._response is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed: the read has ended anyway
            pass

    def check(self, url: str, timeout_s: float) -> None:
        self.cancel.raise_if_canceled()
        if self.expired or time.monotonic() > self.ends_at:
            raise UrlRefusedError(f"downloading {url[:200]} took longer than {timeout_s:.0f} s")

    def stop(self) -> None:
        self._stop.set()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of every download and webhook: httpx would build a new one per client, loading the
    CA bundle each time (about 16 ms)."""
    import httpx

    return httpx.create_ssl_context()


def fetch_to_file(url: str, target: Path, settings: FetchSettings,
                  cancel: CancelToken = NEVER_CANCELED) -> tuple[str, str]:
    """Download `url` into `target` within the size and total-time limits; returns the sniffed (kind, extension).

    Every hop connects to the address its check approved; cancel stops a download within a fraction of a second.
    """
    import httpx

    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = _Deadline(settings.timeout_s, cancel)
    try:
        with httpx.Client(follow_redirects=False, timeout=min(settings.timeout_s, 30.0),
                          verify=tls_context()) as client:
            for _ in range(settings.max_redirects + 1):
                pinned = resolve_url(url, settings)
                location = _download(client, pinned, target, settings, deadline)
                if location is None:
                    return sniff_file(target)
                url = urljoin(url, location)
        raise FetchFailedError(f"more than {settings.max_redirects} redirects from {url[:200]}")
    except httpx.HTTPError as exc:
        target.unlink(missing_ok=True)
        deadline.check(url, settings.timeout_s)
        raise FetchFailedError(f"GET {url[:200]} failed: {type(exc).__name__}") from None
    except BaseException:
        target.unlink(missing_ok=True)  # nothing half-written stays behind
        raise
    finally:
        deadline.stop()


def _download(client: Any, pinned: PinnedUrl, target: Path, settings: FetchSettings,
              deadline: _Deadline) -> str | None:
    """One hop: write the body to `target` and return None, or return the redirect's Location."""
    address_url, headers, extensions = pinned.request_target()
    request = client.build_request("GET", address_url, headers=headers, extensions=extensions)
    response = client.send(request, stream=True)
    deadline.watch(response)
    try:
        if response.is_redirect:
            return response.headers.get("location", "")
        if response.status_code != 200:
            raise FetchFailedError(f"GET {pinned.url[:200]} answered HTTP {response.status_code}")
        declared = int(response.headers.get("content-length") or 0)
        if declared > settings.max_bytes:
            raise UrlRefusedError(f"the file is {declared} bytes; the limit is {settings.max_bytes}")
        size = 0
        with target.open("wb") as out:
            for chunk in response.iter_bytes():  # each piece as it arrives, decoded
                deadline.check(pinned.url, settings.timeout_s)
                size += len(chunk)
                if size > settings.max_bytes:
                    raise UrlRefusedError(f"the file is larger than the limit of {settings.max_bytes} bytes")
                out.write(chunk)
        deadline.check(pinned.url, settings.timeout_s)
        return None
    finally:
        response.close()
