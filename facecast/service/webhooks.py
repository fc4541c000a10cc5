"""Standard Webhooks (https://www.standardwebhooks.com) signing, and one POST to a checked, pinned address.

Each callback carries `webhook-id` (the delivery's id, the same on every retry, so receivers can drop repeats),
`webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: `v1,` + base64 HMAC-SHA256 of
`{id}.{timestamp}.{body}` under the secret's key. Receivers verify with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .fetch import resolve_url, tls_context
from .settings import Settings, whsec_key


@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST got back: the HTTP status and the start of the body (for errors), or why there was none."""

    status_code: int | None
    text: str = ""
    error: str | None = None


def signing_secret(settings: Settings, tenant_secret: str | None) -> str | None:
    """The whsec_ secret that signs a tenant's callbacks, or None to send them unsigned.

    The one place a secret is chosen: the tenant's own (a database key's webhook_secret, from
    KeyStore.webhook_secret) when it has one, else the server-wide webhook_secret.
    """
    if tenant_secret is not None:
        return tenant_secret
    if settings.webhook_secret is None:
        return None
    secret = settings.webhook_secret.get_secret_value()
    return secret if secret.startswith("whsec_") else "whsec_" + base64.b64encode(secret.encode()).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value of one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(whsec_key(secret), signed, hashlib.sha256).digest()).decode()


def webhook_headers(secret: str | None, msg_id: str, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (signed when there is a secret)."""
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret is not None:
        headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return headers


def host_of(url: str) -> str:
    """The URL's host, logged instead of the URL, whose path or query may carry a token."""
    return urlsplit(url).hostname or "?"


def post(settings: Settings, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` once to the address `url` resolves to, if the fetch guard allows it; no redirects followed."""
    import httpx

    try:
        target, pinned_headers, extensions = resolve_url(url, settings.fetch).request_target()
    except Exception as exc:  # refused or unresolvable: checked again at every attempt, the DNS may change
        return Answer(None, error=f"{type(exc).__name__}: {exc}"[:500])
    try:
        with httpx.Client(timeout=settings.delivery.timeout_s, follow_redirects=False, verify=tls_context()) as client:
            request = client.build_request("POST", target, content=body, headers={**headers, **pinned_headers},
                                           extensions=extensions)
            response = client.send(request)
        return Answer(response.status_code, response.text[:2000])
    except httpx.HTTPError as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__)
