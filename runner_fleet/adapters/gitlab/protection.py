"""Whether a job's ref is protected: what a `ref_protected` runner needs before it takes the job.

GitLab decides it when the pipeline is created, from the project's protected branches and tags,
whose names may hold `*` wildcards (`Ci::Runner#can_pick?`, `ProtectedRef.protected?`). The jobs API
does not say it, so the lists are read and matched here, cached a minute per project: protection
rules change rarely, and a job on a ref protected a moment ago is served on the next scan.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from runner_fleet.adapters.gitlab.client import GitLabClient

CACHE_S = 60.0


def _matches(pattern: str, ref: str) -> bool:
    # GitLab's only wildcard is `*`, matching any characters, slashes included.
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), ref) is not None


class ProtectedRefs:
    def __init__(self, client: GitLabClient, *, now: Any = time.monotonic) -> None:
        self._client = client
        self._now = now
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, bool], tuple[float, tuple[str, ...]]] = {}

    def is_protected(self, project_id: int, ref: str, *, tag: bool) -> bool:
        return any(_matches(pattern, ref) for pattern in self._patterns(project_id, tag))

    def _patterns(self, project_id: int, tag: bool) -> tuple[str, ...]:
        key = (project_id, tag)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and self._now() - cached[0] < CACHE_S:
            return cached[1]
        project = self._client.api().projects.get(project_id, lazy=True)
        manager = project.protectedtags if tag else project.protectedbranches
        patterns = tuple(str(item.name) for item in manager.list(iterator=True, per_page=100))
        with self._lock:
            self._cache[key] = (self._now(), patterns)
        return patterns
