"""Which pool serves a job (DESIGN.md "Label matching")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runner_fleet.settings.pool import Pool


def match_github_pool(job_labels: Iterable[str], pools: Sequence[Pool]) -> Pool | None:
    """The most specific GitHub pool serving every label of the job, or None.

    `self-hosted` and the pool's OS and architecture are implied; labels compare case-insensitively
    as GitHub compares them. Ties on specificity (fewest labels the job did not ask for) go to the
    pool configured first.
    """
    wanted = {label.lower() for label in job_labels}
    if not wanted:
        return None
    best: tuple[int, int, Pool] | None = None
    for order, pool in enumerate(pools):
        if pool.forge != "github":
            continue
        offered = {label.lower() for label in pool.runner_labels}
        if not wanted <= offered:
            continue
        extra = len({label.lower() for label in pool.labels} - wanted)
        if best is None or (extra, order) < best[:2]:
            best = (extra, order, pool)
    return best[2] if best else None
