"""Token-bucket throttling modelled on ARM's and Compute's published behaviour.

ARM keeps read/write/delete buckets per subscription and principal; Compute keeps buckets per
operation group (PutVM3Min, PutVM30Min, ...) per subscription and region. A request is admitted
only if every bucket it draws from has a token, and then it takes one from each.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from simulator.arm.config import BucketSpec, ThrottleConfig
from simulator.arm.errors import ArmError, error_detail, retry_after
from simulator.clock import SimClock

RequestKind = Literal["read", "write", "delete"]


@dataclass
class _Bucket:
    spec: BucketSpec
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.spec.capacity, self.tokens + (now - self.stamp) * self.spec.refill_per_s)
        self.stamp = now

    def wait_s(self) -> float:
        """Simulated seconds until one token is available."""
        if self.tokens >= 1:
            return 0.0
        if self.spec.refill_per_s <= 0:
            return math.inf
        return (1 - self.tokens) / self.spec.refill_per_s


@dataclass
class Admission:
    headers: dict[str, str] = field(default_factory=dict)
    error: ArmError | None = None


class Throttler:
    def __init__(self, clock: SimClock, config: Callable[[], ThrottleConfig]) -> None:
        self._clock = clock
        self._config = config
        self._buckets: dict[tuple[str, ...], _Bucket] = {}

    def reset(self) -> None:
        self._buckets.clear()

    def _now(self) -> float:
        return time.monotonic() * self._clock.time_scale

    def _bucket(self, key: tuple[str, ...], spec: BucketSpec, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.spec != spec:
            bucket = _Bucket(spec, spec.capacity, now)
            self._buckets[key] = bucket
        bucket.refill(now)
        return bucket

    def admit(
        self,
        *,
        kind: RequestKind,
        subscription: str,
        principal: str,
        region: str,
        compute_group: str | None,
    ) -> Admission:
        config = self._config()
        if not config.enabled:
            return Admission()
        now = self._now()
        sub = subscription.lower()
        arm_spec = {"read": config.arm_reads, "write": config.arm_writes, "delete": config.arm_deletes}[kind]
        arm = self._bucket(("arm", sub, principal, kind), arm_spec, now)
        group_specs = config.compute.get(compute_group, {}) if compute_group else {}
        compute = {
            name: self._bucket(("compute", sub, region.lower(), name), spec, now)
            for name, spec in group_specs.items()
        }
        arm_header = f"x-ms-ratelimit-remaining-subscription-{kind}s"

        if arm.tokens < 1:
            wait = arm.wait_s()
            error = ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{kind}' requests for subscription '{subscription}' actor '{principal}' "
                f"exceeded. Please try again after '{math.ceil(wait)}' seconds after additional tokens "
                "are available. Refer to https://aka.ms/arm-throttling for additional information.",
            )
            error.headers = {arm_header: "0", **retry_after(self._clock, wait)}
            return Admission(error=error)

        starved = {name: b.wait_s() for name, b in compute.items() if b.tokens < 1}
        if starved:
            group, wait = max(starved.items(), key=lambda item: item[1])
            error = ArmError(
                429,
                "TooManyRequests",
                f"The request is being throttled as the limit has been reached for operation group "
                f"'{group}'. Please refer to https://aka.ms/computethrottling for details.",
                details=[error_detail("TooManyRequestsReasons", self._reason(group, compute[group]))],
            )
            error.headers = {
                arm_header: str(int(arm.tokens)),
                "x-ms-ratelimit-remaining-resource": self._resource_header(compute),
                **retry_after(self._clock, wait),
            }
            return Admission(error=error)

        arm.tokens -= 1
        for bucket in compute.values():
            bucket.tokens -= 1
        headers = {arm_header: str(int(arm.tokens))}
        if compute:
            headers["x-ms-ratelimit-remaining-resource"] = self._resource_header(compute)
        return Admission(headers=headers)

    @staticmethod
    def _resource_header(compute: dict[str, _Bucket]) -> str:
        return ",".join(f"Microsoft.Compute/{name};{int(b.tokens)}" for name, b in compute.items())

    @staticmethod
    def _reason(group: str, bucket: _Bucket) -> str:
        start = datetime.now(UTC)
        window = bucket.spec.capacity / bucket.spec.refill_per_s if bucket.spec.refill_per_s else 0
        return json.dumps(
            {
                "operationGroup": group,
                "startTime": start.isoformat(),
                "endTime": (start + timedelta(seconds=window)).isoformat(),
                "allowedRequestCount": int(bucket.spec.capacity),
                "measuredRequestCount": int(bucket.spec.capacity),
            }
        )
