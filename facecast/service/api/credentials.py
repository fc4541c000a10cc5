"""How a caller presents an API key: one reading for the server's guard and for the web UI, which acts for
whoever calls it. Kept free of other imports so a client can use it without loading the service."""

from __future__ import annotations

from collections.abc import Mapping


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in `X-API-Key` or `Authorization: Bearer` (header names in any case), or None."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("x-api-key"):
        return lowered["x-api-key"]
    authorization = lowered.get("authorization", "")
    if not authorization.lower().startswith("bearer "):
        return None
    return authorization[7:].strip() or None
