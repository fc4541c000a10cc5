"""Job, template and delivery statuses, named once for the schemas, the job state machine and the routes."""

from __future__ import annotations

from typing import Literal, get_args

ActiveStatus = Literal["queued", "processing"]
TerminalStatus = Literal["succeeded", "failed", "canceled"]
JobStatus = Literal[ActiveStatus, TerminalStatus]
TemplateStatus = Literal["preparing", "ready", "failed"]
DeliveryStatus = Literal["pending", "delivered", "failed"]  # pending: waiting for its next attempt

ACTIVE: tuple[str, ...] = get_args(ActiveStatus)
TERMINAL: tuple[str, ...] = get_args(TerminalStatus)
