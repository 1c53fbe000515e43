"""Where a job's code comes from, read from GitHub's own answers (a workflow run, a repository).

Public repositories run code anyone can propose, and a pull request from a fork of one runs the
fork owner's code: the first reach a private cluster only where a pool says so, the second never.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_public(repository: Mapping[str, Any] | None) -> bool:
    """A repository is private only when GitHub says so; anything unclear counts as public."""
    if not isinstance(repository, Mapping):
        return True
    return repository.get("private") is not True or repository.get("visibility") == "public"


def full_name(repository: Mapping[str, Any] | None) -> str:
    value = repository.get("full_name") if isinstance(repository, Mapping) else None
    return value if isinstance(value, str) else ""


def from_fork(run: Mapping[str, Any]) -> bool:
    """Whether a run's head commit lives outside its repository (a pull request from a fork).

    The run's `event` says what started it; its `head_repository` is where the commit is. A head
    that is missing (a deleted fork) counts as a fork.
    """
    head = full_name(run.get("head_repository"))
    return not head or head.casefold() != full_name(run.get("repository")).casefold()
