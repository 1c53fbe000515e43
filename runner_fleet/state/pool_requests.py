"""Pool runners the reconciler asked for whose provision has not claimed them yet.

A `PoolRunnerRequest` may wait in the queue (a backlog, a pool at capacity) before any VM, lease
or registration shows it; without a note of it, the next round would see the pool still short and
ask again. One row per requested runner in the `pool-request` partition, keyed by the runner's
name: `forge`, `pool`, `key`, `at`. Written by the reconciler when it sends a request; deleted by
it once the runner is observed or its provision holds the lease, and on read once older than
`KEEP_S` (a request still unclaimed by then is presumed lost, and the pool may ask again).
"""

from __future__ import annotations

from dataclasses import dataclass

from runner_fleet.forges import FORGES, Forge
from runner_fleet.state.table import StateTable, encode_key

PARTITION = "pool-request"
# A provision normally claims its runner within seconds; ten minutes covers a queue backlog and a
# pool waiting for a slot, yet a lost request is replaced within a quarter of an hour.
KEEP_S = 600.0


@dataclass(frozen=True)
class PendingRequest:
    forge: Forge
    pool: str
    key: str
    at: float


class PoolRequests:
    def __init__(self, table: StateTable, *, keep_s: float = KEEP_S) -> None:
        self._table = table
        self._keep_s = keep_s

    async def note(self, forge: Forge, pool: str, key: str, runner_name: str, at: float) -> None:
        """A request for the pool runner `runner_name` (from `key`) was sent at `at`."""
        await self._table.upsert(
            PARTITION, encode_key(runner_name), {"forge": forge, "pool": pool, "key": key, "at": at}
        )

    async def pending(self, now: float, *, purge: bool = True) -> dict[str, PendingRequest]:
        """Runner name -> its request, for requests younger than `KEEP_S`; older rows are deleted on
        the way unless `purge` is False (a dry run writes nothing)."""
        found: dict[str, PendingRequest] = {}
        for record in await self._table.query(PARTITION):
            at = float(record.data.get("at") or 0)
            if now - at >= self._keep_s:
                if purge:
                    await self._table.delete(record.partition, record.key)
                continue
            forge = next((f for f in FORGES if f == record.data.get("forge")), None)
            if forge is None:
                continue
            found[record.key] = PendingRequest(
                forge,
                str(record.data.get("pool")),
                str(record.data.get("key")),
                at,
            )
        return found

    async def settle(self, runner_name: str) -> None:
        """The runner was claimed (leased) or seen: it no longer counts as requested."""
        await self._table.delete(PARTITION, encode_key(runner_name))
