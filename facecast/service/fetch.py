"""Inputs from URLs behind an SSRF guard, and media type sniffing from content (never from names).

Only http and https; every address a host resolves to must be public unless allowlisted (settings.fetch.allow_hosts);
redirects are followed by hand so each hop is checked; size and total time are capped.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

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


def check_url(url: str, settings: FetchSettings) -> None:
    """Refuse URLs the service must not fetch from; resolves the host (raises UrlRefusedError)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefusedError(f"only http and https URLs with a host are accepted, got {url[:200]!r}")
    if parts.username or parts.password:
        raise UrlRefusedError("URLs with credentials are refused; make the file reachable without them")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchFailedError(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        ip = ipaddress.ip_address(address)
        public = ip.is_global and not ip.is_multicast
        if not public and not _allowed(parts.hostname, address, settings.allow_hosts):
            raise UrlRefusedError(f"{parts.hostname} resolves to {address}, a private, loopback or link-local "
                                  "address; add it to fetch.allow_hosts in the config to allow it")


def fetch_to_file(url: str, target: Path, settings: FetchSettings) -> tuple[str, str]:
    """Download `url` into `target` within the size and time limits; returns the sniffed (kind, extension)."""
    import httpx

    deadline = time.monotonic() + settings.timeout_s
    target.parent.mkdir(parents=True, exist_ok=True)
    with httpx.Client(follow_redirects=False, timeout=min(settings.timeout_s, 30.0)) as client:
        for _ in range(settings.max_redirects + 1):
            check_url(url, settings)
            with client.stream("GET", url) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise FetchFailedError(f"GET {url[:200]} answered HTTP {response.status_code}")
                declared = int(response.headers.get("content-length") or 0)
                if declared > settings.max_bytes:
                    raise UrlRefusedError(f"{url[:200]} is {declared} bytes; the limit is {settings.max_bytes}")
                size = 0
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(65536):
                        size += len(chunk)
                        if size > settings.max_bytes:
                            raise UrlRefusedError(f"{url[:200]} is larger than the limit of "
                                                  f"{settings.max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise UrlRefusedError(f"downloading {url[:200]} took longer than "
                                                  f"{settings.timeout_s:.0f} s")
                        out.write(chunk)
                return sniff_file(target)
    raise FetchFailedError(f"more than {settings.max_redirects} redirects from {url[:200]}")
