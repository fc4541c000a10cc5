"""Ids, request fingerprints and newest-first pages with opaque cursors: what every store of the service shares."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import Select, and_, or_

from .db.session import Database
from .problems import InvalidStateError


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def encode_cursor(created_at: dt.datetime, row_id: str) -> str:
    return f"{created_at.timestamp():.6f}_{row_id}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        stamp, row_id = cursor.split("_", 1)
        return dt.datetime.fromtimestamp(float(stamp), dt.timezone.utc), row_id
    except ValueError as exc:
        raise InvalidStateError(f"cursor {cursor!r} is not one this API returned; start without a cursor") from exc


def newest_first_page(db: Database, query: Select, model: Any, cursor: str | None,
                      limit: int) -> tuple[list[Any], str | None]:
    """One page of `query` ordered newest first, and the cursor of the next page (None on the last)."""
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(or_(model.created_at < created_at, and_(model.created_at == created_at, model.id < row_id)))
    query = query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    with db.session() as session:
        rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
