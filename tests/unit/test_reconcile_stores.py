"""The reconciler's small state stores: job starts reported, pool runners requested, the last round."""

from __future__ import annotations

from datetime import timedelta

from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.state.pool_requests import KEEP_S, PendingRequest, PoolRequests
from runner_fleet.state.pool_rounds import PoolRound, PoolRounds
from runner_fleet.state.runner_starts import RunnerStarts

NOW = 1_800_000_000.0


async def test_starts_are_read_within_the_window_and_purged_by_age() -> None:
    """`started_since` returns starts noted within the window, per forge; `purge` drops the old ones."""
    table = MemoryStateTable()
    starts = RunnerStarts(table, clock=lambda: NOW)
    await starts.note("github", "rf-aks-prod-00000000aa", 1, NOW - 30)
    await starts.note("github", "rf-aks-prod-00000000bb", 2, NOW - 300)
    await starts.note("gitlab", "rf-gl-aks-00000000cc", 3, NOW - 10)
    assert await starts.started_since("github", NOW, 120) == {"rf-aks-prod-00000000aa": NOW - 30}
    assert await starts.purge("github", timedelta(minutes=2)) == 1
    assert await starts.started_since("github", NOW, 3600) == {"rf-aks-prod-00000000aa": NOW - 30}
    assert await starts.started_since("gitlab", NOW, 120) == {"rf-gl-aks-00000000cc": NOW - 10}


async def test_a_later_start_of_the_same_runner_wins() -> None:
    """Noting a runner's start twice keeps the later time (a redelivered webhook moves nothing back)."""
    starts = RunnerStarts(MemoryStateTable())
    await starts.note("github", "rf-aks-prod-00000000aa", 1, NOW - 100)
    await starts.note("github", "rf-aks-prod-00000000aa", 1, NOW - 5)
    assert await starts.started_since("github", NOW, 60) == {"rf-aks-prod-00000000aa": NOW - 5}


async def test_requests_are_pending_until_settled_or_too_old() -> None:
    """A noted request is pending; settled, or older than ten minutes (then deleted), it is not."""
    table = MemoryStateTable()
    requests = PoolRequests(table)
    await requests.note("github", "aks-prod", "w1-0", "rf-aks-prod-00000000aa", NOW - 60)
    await requests.note("github", "aks-prod", "w1-1", "rf-aks-prod-00000000bb", NOW - 60)
    await requests.note("gitlab", "gl-aks", "w0-0", "rf-gl-aks-00000000cc", NOW - KEEP_S)
    assert await requests.pending(NOW, purge=False) == {
        "rf-aks-prod-00000000aa": PendingRequest("github", "aks-prod", "w1-0", NOW - 60),
        "rf-aks-prod-00000000bb": PendingRequest("github", "aks-prod", "w1-1", NOW - 60),
    }
    assert len(await table.query("pool-request")) == 3  # a dry run deletes nothing
    await requests.settle("rf-aks-prod-00000000aa")
    assert set(await requests.pending(NOW)) == {"rf-aks-prod-00000000bb"}
    assert [r.key for r in await table.query("pool-request")] == ["rf-aks-prod-00000000bb"]


async def test_a_pools_round_is_kept_and_forgotten() -> None:
    """The last round's time, warm and online runners come back as written; a forgotten pool's row goes."""
    rounds = PoolRounds(MemoryStateTable())
    warm = frozenset({"rf-aks-prod-00000000aa", "rf-aks-prod-00000000bb"})
    online = frozenset({"rf-aks-prod-00000000aa", "rf-aks-prod-00000000cc"})
    await rounds.record("aks-prod", PoolRound(NOW, warm, online))
    await rounds.record("gl-aks", PoolRound(NOW - 60))
    assert await rounds.last() == {"aks-prod": PoolRound(NOW, warm, online), "gl-aks": PoolRound(NOW - 60)}
    await rounds.forget("gl-aks")
    assert set(await rounds.last()) == {"aks-prod"}


async def test_a_round_stores_names_of_its_own_pool_only() -> None:
    """A name not of the pool (another pool's, or not one of ours) is not stored in its row."""
    rounds = PoolRounds(MemoryStateTable())
    names = frozenset({"rf-aks-prod-00000000aa", "rf-aks-dev-00000000bb", "someone-elses-runner"})
    await rounds.record("aks-prod", PoolRound(NOW, names, names))
    kept = (await rounds.last())["aks-prod"]
    assert kept.warm == kept.online == frozenset({"rf-aks-prod-00000000aa"})
