"""Which pool serves a job (docs/architecture.md "Label matching")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runner_fleet.settings.pool import Pool


def serves_repository(pool: Pool, org: str | None, repository: str | None) -> bool:
    """A GitHub pool serves its org, and only the listed repositories when it lists any."""
    if pool.github is None:
        return False
    if org is None:
        return True
    if pool.github.org.lower() != org.lower():
        return False
    if not pool.github.repositories or repository is None:
        return not pool.github.repositories
    name = repository.split("/")[-1].lower()
    return any(listed.split("/")[-1].lower() == name for listed in pool.github.repositories)


def labels_fit(job_labels: Iterable[str], pool: Pool) -> bool:
    """Every label of the job is served (implied ones count) and the job names one of the pool's own.

    Implied labels alone (`runs-on: self-hosted`, `[linux, x64]`) would let any repository's job take
    any pool's runner: a job gets one only by asking for the pool by name.
    """
    wanted = {label.lower() for label in job_labels}
    if not wanted or not wanted <= {label.lower() for label in pool.runner_labels}:
        return False
    return bool(wanted & {label.lower() for label in pool.labels})


def match_github_pool(
    job_labels: Iterable[str],
    pools: Sequence[Pool],
    *,
    org: str | None = None,
    repository: str | None = None,
    public: bool = False,
) -> Pool | None:
    """The most specific GitHub pool serving the job, or None.

    Labels compare case-insensitively as GitHub compares them (`labels_fit`). Only pools of the job's
    org (and repository, where a pool lists them) are candidates, and for a job of a public
    repository only pools that allow public repositories. Ties on specificity (fewest labels the
    job did not ask for) go to the pool configured first.
    """
    wanted = {label.lower() for label in job_labels}
    best: tuple[int, int, Pool] | None = None
    for order, pool in enumerate(pools):
        if pool.forge != "github" or not serves_repository(pool, org, repository):
            continue
        if public and not (pool.github is not None and pool.github.allow_public_repositories):
            continue
        if not labels_fit(wanted, pool):
            continue
        extra = len({label.lower() for label in pool.labels} - wanted)
        if best is None or (extra, order) < best[:2]:
            best = (extra, order, pool)
    return best[2] if best else None


def match_gitlab_pool(job_tags: Iterable[str], pools: Sequence[Pool]) -> Pool | None:
    """The most specific GitLab pool whose tags include every tag of the job; untagged jobs match nothing.

    Tags compare exactly: a runner registered with a differently cased tag could be refused the job,
    and a VM for a job its runner cannot take would only idle until it is reaped.
    """
    wanted = set(job_tags)
    if not wanted:
        return None
    best: tuple[int, int, Pool] | None = None
    for order, pool in enumerate(pools):
        if pool.gitlab is None or not wanted <= set(pool.labels):
            continue
        extra = len(set(pool.labels) - wanted)
        if best is None or (extra, order) < best[:2]:
            best = (extra, order, pool)
    return best[2] if best else None
