"""What the last reconcile round saw of each pool, for the next round to compare with.

One row per pool in the `reconcile-round` partition, overwritten every round (never more rows than
pools; a pool removed from the configuration has its row deleted by the next round): `at` (when the
round ran, so idle VM-seconds are counted over the time between rounds), `warm` (the idle runners it
kept as the pool's warm ones, so a runner that drops out of that set is retired at a measured pace)
and `online` (the runners it saw online, so a runner's first sighting online, its cold start, is
noted once). Runner names are stored as their 10-hex suffix: a row stays far below Azure Tables'
64 KiB per property even at 1,000 runners.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runner_fleet import naming
from runner_fleet.state.table import StateTable, encode_key

PARTITION = "reconcile-round"


@dataclass(frozen=True)
class PoolRound:
    at: float
    warm: frozenset[str] = frozenset()  # runner names
    online: frozenset[str] = frozenset()  # runner names


def _suffixes(pool: str, names: Iterable[str]) -> str:
    prefix = f"{naming.PREFIX}-{pool}-"
    return " ".join(sorted(name.removeprefix(prefix) for name in names if naming.pool_of(name) == pool))


def _names(pool: str, stored: object) -> frozenset[str]:
    return frozenset(f"{naming.PREFIX}-{pool}-{s}" for s in str(stored or "").split())


class PoolRounds:
    def __init__(self, table: StateTable) -> None:
        self._table = table

    async def last(self) -> dict[str, PoolRound]:
        """Pool name -> what the last round recorded for it."""
        return {
            record.key: PoolRound(
                float(record.data.get("at") or 0),
                _names(record.key, record.data.get("warm")),
                _names(record.key, record.data.get("online")),
            )
            for record in await self._table.query(PARTITION)
        }

    async def record(self, pool: str, this_round: PoolRound) -> None:
        await self._table.upsert(
            PARTITION,
            encode_key(pool),
            {
                "at": this_round.at,
                "warm": _suffixes(pool, this_round.warm),
                "online": _suffixes(pool, this_round.online),
            },
        )

    async def forget(self, pool: str) -> None:
        await self._table.delete(PARTITION, encode_key(pool))
