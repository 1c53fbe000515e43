"""Queue trigger settings from host.json, with the Functions host's defaults where unset.

Defaults and limits are the Storage queues extension's (`QueuesOptions.cs` in
Microsoft.Azure.WebJobs.Extensions.Storage.Queues 5.x, Azure/azure-sdk-for-net
sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.Common/src/Shared/Queues/): batchSize 16
(1 to 32), newBatchThreshold `batchSize / 2 * processorCount` when unset (processorCount is 1 on the
Consumption plan, `WEBSITE_SKU=Dynamic`, and the machine's core count otherwise, `SkuUtility.cs`),
maxDequeueCount 5 (at least 1), visibilityTimeout 0, maxPollingInterval one minute (at least 100 ms,
`QueuePollingIntervals.cs`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_BATCH_SIZE = 32  # QueuesOptions.MaxBatchSize: what one Get Messages call may return
MIN_POLLING_INTERVAL_S = 0.1  # QueuePollingIntervals.Minimum
# QueueListener's `_visibilityTimeout`: a received message is hidden this long, renewed at half of it.
RECEIVE_VISIBILITY_S = 600.0


@dataclass(frozen=True)
class QueueHostSettings:
    batch_size: int = 16
    new_batch_threshold: int = 8  # the extension's default for 16 on one core; host.json reads compute it
    max_dequeue_count: int = 5
    visibility_timeout_s: float = 0.0
    max_polling_interval_s: float = 60.0
    # How long a received message stays hidden while its function runs; the host renews it at half.
    lease_s: float = RECEIVE_VISIBILITY_S


def processor_count(environ: Mapping[str, str] | None = None) -> int:
    """The extension's `SkuUtility.ProcessorCount`: 1 on the Consumption (Dynamic) SKU, else the cores."""
    env = os.environ if environ is None else environ
    if env.get("WEBSITE_SKU", "").lower() == "dynamic":
        return 1
    return os.cpu_count() or 1


def _timespan(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)", value.strip())
    if not match:
        raise ValueError(f"not a timespan: {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_queue_settings(path: Path, *, processors: int | None = None) -> QueueHostSettings:
    """`extensions.queues` of the host.json at `path`; refuses what the extension would refuse.

    `processors` stands in for `processor_count()` (the default newBatchThreshold depends on it).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    queues = data.get("extensions", {}).get("queues", {})
    defaults = QueueHostSettings()
    batch_size = int(queues.get("batchSize", defaults.batch_size))
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batchSize must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")
    if "newBatchThreshold" in queues:
        new_batch_threshold = int(queues["newBatchThreshold"])
    else:
        new_batch_threshold = batch_size // 2 * (processor_count() if processors is None else processors)
    if new_batch_threshold < 0:
        raise ValueError(f"newBatchThreshold must not be negative, got {new_batch_threshold}")
    max_dequeue_count = int(queues.get("maxDequeueCount", defaults.max_dequeue_count))
    if max_dequeue_count < 1:
        raise ValueError(f"maxDequeueCount must not be less than 1, got {max_dequeue_count}")
    max_polling_interval_s = (
        _timespan(queues["maxPollingInterval"])
        if "maxPollingInterval" in queues
        else defaults.max_polling_interval_s
    )
    if max_polling_interval_s < MIN_POLLING_INTERVAL_S:
        raise ValueError(f"maxPollingInterval must be at least 100 ms, got {max_polling_interval_s}s")
    return QueueHostSettings(
        batch_size=batch_size,
        new_batch_threshold=new_batch_threshold,
        max_dequeue_count=max_dequeue_count,
        visibility_timeout_s=_timespan(queues["visibilityTimeout"]) if "visibilityTimeout" in queues else 0.0,
        max_polling_interval_s=max_polling_interval_s,
    )
