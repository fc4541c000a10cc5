"""API keys: the config's (settings.api_keys, admin, tenant "default") and the database's (`facecast keys`).

A database key is shown once at creation and stored only as its SHA-256; each one is its own tenant (its id
owns what it creates) with its own webhook secret and limits. Requests are authenticated by `Authenticator`,
which caches lookups for KEY_CACHE_S so a busy key costs no query per request and a revoked one stops
working within that time. The only writer of api_keys rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from .db.models import ApiKey, utcnow
from .db.session import Database
from .pages import new_id
from .problems import NotFoundError
from .settings import Settings
from .tenants import Caller

Role = Literal["admin", "user"]
ROLES: tuple[Role, ...] = ("admin", "user")
KEY_PREFIX = "fc_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # Standard Webhooks: whsec_ + base64 of the signing key
KEY_CACHE_S = 2.0       # how long a lookup (found, revoked or unknown) is reused; bounds revocation delay
CACHE_MAX_ENTRIES = 10_000  # unknown keys are cached too; past this the cache starts over


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A database key as `facecast keys list` shows it: never the key itself."""

    id: str
    name: str
    role: str
    key_prefix: str
    rate_limit_per_min: int | None
    max_active_jobs: int | None
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(row.id, row.name, row.role, row.key_prefix, row.rate_limit_per_min, row.max_active_jobs,
                   row.created_at.isoformat(), row.revoked_at.isoformat() if row.revoked_at else None)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def key_matches(keys: Sequence[bytes], given: str | None) -> bool:
    """Whether `given` is one of `keys`, comparing every key in constant time (no early exit)."""
    if given is None:
        return False
    encoded, found = given.encode("utf-8", "replace"), False
    for key in keys:
        found |= hmac.compare_digest(encoded, key)
    return found


class KeyStore:
    """Database keys: create, list, revoke, look up by hash, and each tenant's webhook secret."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, role: Role = "user", rate_limit_per_min: int | None = None,
               max_active_jobs: int | None = None) -> tuple[KeyInfo, str, str]:
        """A new key: (its info, the key, its webhook secret). The key is not kept and cannot be shown again."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        secret = WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        row = ApiKey(id=new_id("key"), name=name, role=role, key_hash=hash_key(key), key_prefix=key[:10],
                     webhook_secret=secret, rate_limit_per_min=rate_limit_per_min, max_active_jobs=max_active_jobs,
                     created_at=utcnow())
        with self.db.session() as session:
            session.add(row)
        return KeyInfo.of(row), key, secret

    def list(self) -> list[KeyInfo]:
        with self.db.session() as session:
            return [KeyInfo.of(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.created_at))]

    def revoke(self, key_id: str) -> KeyInfo:
        """Stop a key from working (within KEY_CACHE_S on running servers); what it created stays."""
        with self.db.session() as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                raise NotFoundError(f"key {key_id} does not exist; list them with `facecast keys list`")
            row.revoked_at = row.revoked_at or utcnow()
            return KeyInfo.of(row)

    def find(self, key_hash: str) -> ApiKey | None:
        """The unrevoked key with this hash, or None."""
        with self.db.session() as session:
            return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))

    def any(self) -> bool:
        """Whether a key was ever created, revoked ones included: once there is one, the server needs keys."""
        with self.db.session() as session:
            return session.scalar(select(ApiKey.id).limit(1)) is not None

    def webhook_secret(self, owner: str) -> str | None:
        """The webhook signing secret (whsec_...) of the tenant `owner`; None for tenants that are not database
        keys (config keys, no keys): sign those with settings.webhook_secret."""
        with self.db.session() as session:
            return session.scalar(select(ApiKey.webhook_secret).where(ApiKey.id == owner))


class Authenticator:
    """Turns a presented key into a Caller: config keys first (constant time), then database keys by hash."""

    def __init__(self, settings: Settings, store: KeyStore, cache_s: float = KEY_CACHE_S) -> None:
        self.store, self.cache_s, self.limits = store, cache_s, settings.key_limits
        self.config_keys = tuple(key.get_secret_value().encode() for key in settings.api_keys)
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._any: tuple[float, bool] = (0.0, False)
        self._lock = threading.Lock()

    def required(self) -> bool:
        """Whether requests need a key: config keys are set or a database key was ever created."""
        if self.config_keys:
            return True
        now = time.monotonic()
        expires, found = self._any
        if now >= expires and not found:  # once found, keys stay required: revoking all must not open the server
            self._any = (now + self.cache_s, self.store.any())
        return self._any[1]

    def known(self, key: str | None) -> tuple[bool, Caller | None]:
        """(True, what `caller(key)` returns) when that needs no query (config key, cached, no key); else
        (False, None). Lets the async guard stay on its event loop for all but cache misses."""
        if key is None:
            return True, None
        if key_matches(self.config_keys, key):
            return True, Caller()
        with self._lock:
            cached = self._cache.get(hash_key(key))
        if cached is not None and cached[0] > time.monotonic():
            return True, cached[1]
        return False, None

    def caller(self, key: str | None) -> Caller | None:
        """The caller `key` authenticates, or None when it is missing, unknown or revoked."""
        known, caller = self.known(key)
        if known or key is None:
            return caller
        digest, now = hash_key(key), time.monotonic()
        caller = self._lookup(digest)
        with self._lock:
            if len(self._cache) >= CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[digest] = (now + self.cache_s, caller)
        return caller

    def _lookup(self, digest: str) -> Caller | None:
        row = self.store.find(digest)
        if row is None:
            return None
        rate = row.rate_limit_per_min if row.rate_limit_per_min is not None else self.limits.rate_limit_per_min
        active = row.max_active_jobs if row.max_active_jobs is not None else self.limits.max_active_jobs
        return Caller(tenant_id=row.id, admin=row.role == "admin", rate_limit_per_min=rate, max_active_jobs=active)


class RateLimiter:
    """A token bucket per tenant, in this process: a full minute's allowance may be spent at once, then it
    refills evenly. Several API processes each allow the rate."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, monotonic time of that count)
        self._lock = threading.Lock()

    def wait_s(self, tenant: str, per_min: int) -> float:
        """Take one request's token: 0.0 when allowed, else the seconds until a token is there (nothing taken)."""
        now, rate = time.monotonic(), per_min / 60.0
        with self._lock:
            tokens, then = self._buckets.get(tenant, (float(per_min), now))
            tokens = min(float(per_min), tokens + (now - then) * rate)
            if tokens >= 1.0:
                self._buckets[tenant] = (tokens - 1.0, now)
                return 0.0
            self._buckets[tenant] = (tokens, now)
            return (1.0 - tokens) / rate
