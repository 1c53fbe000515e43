"""Asynchronous operations: what `Azure-AsyncOperation` and `Location` headers point at, and the
ISO-8601 timestamps ARM writes (`2024-05-01T10:00:00.1234567+00:00`, here to the µs).

The SDK polls `GET .../providers/{ns}/locations/{loc}/operations/{id}` until the status is
terminal, then (for a PUT) reads the resource itself.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from simulator.arm.errors import error_detail


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")


def iso_or_none(epoch: float | None) -> str | None:
    return None if epoch is None else iso(epoch)


Status = Literal["InProgress", "Succeeded", "Failed", "Canceled"]
TERMINAL: frozenset[str] = frozenset({"Succeeded", "Failed", "Canceled"})


@dataclass
class AsyncOperation:
    subscription: str
    location: str
    namespace: str
    kind: str
    resource_id: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: Status = "InProgress"
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def path(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/providers/{self.namespace}/locations/{self.location}"
            f"/operations/{self.id}"
        )

    def succeed(self) -> None:
        if not self.done:
            self.status, self.ended_at = "Succeeded", time.time()

    def fail(self, code: str, message: str, *, status: Status = "Failed") -> None:
        if not self.done:
            self.status, self.ended_at = status, time.time()
            self.error = error_detail(code, message)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"startTime": iso(self.started_at), "status": self.status, "name": self.id}
        if self.ended_at is not None:
            body["endTime"] = iso(self.ended_at)
        if self.error is not None:
            body["error"] = self.error
        return body


class OperationBook:
    def __init__(self, limit: int = 20000) -> None:
        self._ops: OrderedDict[str, AsyncOperation] = OrderedDict()
        self._limit = limit

    def start(
        self, *, subscription: str, location: str, namespace: str, kind: str, resource_id: str
    ) -> AsyncOperation:
        op = AsyncOperation(subscription, location, namespace, kind, resource_id)
        self._ops[op.id] = op
        while len(self._ops) > self._limit:
            self._ops.popitem(last=False)
        return op

    def get(self, op_id: str) -> AsyncOperation | None:
        return self._ops.get(op_id.lower()) or self._ops.get(op_id)
