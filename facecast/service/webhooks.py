"""Signed job callbacks: POST the job's JSON to callback_url, HMAC-SHA256 over timestamp and body, bounded retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from .fetch import resolve_url
from .settings import Settings

log = logging.getLogger("facecast.webhooks")
SIGNATURE_HEADER = "X-Facecast-Signature"  # "t=<unix time>,v1=<hex hmac of '<t>.<body>'>"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, tolerance_s: float = 300.0) -> bool:
    """What a receiver runs: the signature matches and is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def deliver(settings: Settings, url: str, event: str, payload: dict[str, Any]) -> bool:
    """POST until a 2xx answer or attempts run out (delay doubling from webhook_retry_s). True if delivered."""
    return deliver_body(settings, url, event, json.dumps({"event": event, "data": payload}, default=str).encode())


def deliver_body(settings: Settings, url: str, event: str, body: bytes) -> bool:
    """deliver() with a body of the caller's shape (gateway routes answer in another API's format)."""
    import httpx

    delay = settings.webhook_retry_s
    for attempt in range(1, settings.webhook_attempts + 1):
        headers = {"Content-Type": "application/json", "X-Facecast-Event": event}
        if settings.webhook_secret is not None:
            headers[SIGNATURE_HEADER] = sign(settings.webhook_secret.get_secret_value(), int(time.time()), body)
        host = urlsplit(url).hostname or "?"  # logged instead of the URL, which may carry a token
        try:
            target, pinned_headers, extensions = resolve_url(url, settings.fetch).request_target()
            with httpx.Client(timeout=10.0, follow_redirects=False) as client:
                request = client.build_request("POST", target, content=body, headers={**headers, **pinned_headers},
                                               extensions=extensions)
                response = client.send(request)
            if 200 <= response.status_code < 300:
                log.info("webhook %s delivered to %s (attempt %d)", event, host, attempt)
                return True
            log.warning("webhook %s to %s answered %d (attempt %d)", event, host, response.status_code, attempt)
        except Exception as exc:  # network errors and refused URLs are retried the same way, then given up
            log.warning("webhook %s to %s failed: %s (attempt %d)", event, host, type(exc).__name__, attempt)
        if attempt < settings.webhook_attempts:
            time.sleep(delay)
            delay *= 2
    return False


def deliver_in_background(settings: Settings, url: str, event: str, payload: dict[str, Any]) -> threading.Thread:
    """Deliver without holding up the worker's next job."""
    thread = threading.Thread(target=deliver, args=(settings, url, event, payload), daemon=True,
                              name="facecast-webhook")
    thread.start()
    return thread
