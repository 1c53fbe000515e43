"""Queue trigger settings from host.json, with the Functions host's defaults where unset."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class QueueHostSettings:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout_s: float = 0.0
    max_polling_interval_s: float = 60.0
    # How long a received message stays hidden while its function runs (the host renews it).
    lease_s: float = 600.0


def _timespan(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)", value.strip())
    if not match:
        raise ValueError(f"not a timespan: {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_queue_settings(path: Path) -> QueueHostSettings:
    data = json.loads(path.read_text(encoding="utf-8"))
    queues = data.get("extensions", {}).get("queues", {})
    defaults = QueueHostSettings()
    return QueueHostSettings(
        batch_size=int(queues.get("batchSize", defaults.batch_size)),
        new_batch_threshold=int(queues.get("newBatchThreshold", defaults.new_batch_threshold)),
        max_dequeue_count=int(queues.get("maxDequeueCount", defaults.max_dequeue_count)),
        visibility_timeout_s=_timespan(queues["visibilityTimeout"]) if "visibilityTimeout" in queues else 0.0,
        max_polling_interval_s=_timespan(queues["maxPollingInterval"])
        if "maxPollingInterval" in queues
        else defaults.max_polling_interval_s,
    )
