"""Who is calling, and which rows that caller may see: the one ownership rule of the service.

Every row has an `owner`, the tenant that created it: a database key's id, or DEFAULT_TENANT for config keys
(settings.api_keys) and servers without keys. A user key sees only its own rows; an admin key sees every
tenant's. Templates owned by DEFAULT_TENANT are the shared library (the demo template, and what the operator
uploads with a config key): every key may list and use them, only admins may rename or delete them.
Another tenant's row answers exactly like a row that does not exist (404).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from .db.models import Template
from .problems import NotFoundError

DEFAULT_TENANT = "default"
SHARED_MODELS: tuple[type, ...] = (Template,)  # whose DEFAULT_TENANT rows every tenant may read
Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Caller:
    """The tenant a request acts for (a database key's id, else DEFAULT_TENANT) and that key's limits."""

    tenant_id: str = DEFAULT_TENANT
    admin: bool = True                     # config keys and keyless servers administer everything
    rate_limit_per_min: int | None = None  # None: not limited
    max_active_jobs: int | None = None     # queued + processing videos; None: not limited

    def own(self) -> Caller:
        """This caller seeing only its own tenant's rows, admin or not (e.g. to find its own task codes)."""
        return replace(self, admin=False)


# Worker-side code reads rows a create already checked (a job's template, its audio): it acts for everyone.
SYSTEM = Caller("system", admin=True)


def _readable_owners(model: type, caller: Caller, write: bool) -> tuple[str, ...] | None:
    """The owners whose rows of `model` `caller` may read (or change, with `write`); None means every owner."""
    if caller.admin:
        return None
    if not write and model in SHARED_MODELS and caller.tenant_id != DEFAULT_TENANT:
        return (caller.tenant_id, DEFAULT_TENANT)
    return (caller.tenant_id,)


def visible_to(model: Any, caller: Caller) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows of `model` that `caller` may list."""
    owners = _readable_owners(model, caller, write=False)
    return true() if owners is None else model.owner.in_(owners)


def owned_or_raise(session: Session, model: type[Row], row_id: str, caller: Caller, noun: str, hint: str = "",
                   *, write: bool = False, **expected: Any) -> Row:
    """The row `row_id` of `model` if `caller` may read it (change it, with `write`) and its columns equal
    `expected`; otherwise NotFoundError, so another tenant's ids look exactly like ids that do not exist."""
    row = session.get(model, row_id)
    owners = _readable_owners(model, caller, write)
    if (row is None or (owners is not None and getattr(row, "owner") not in owners)
            or any(getattr(row, k) != v for k, v in expected.items())):
        raise NotFoundError(f"{noun} {row_id} does not exist" + (f"; {hint}" if hint else ""))
    return row
