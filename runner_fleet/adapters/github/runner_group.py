"""Does a pool's runner group admit exactly what the pool serves? Pure logic over GitHub's answers.

Any job that the group lets use the runner, with fitting labels, takes it before the job it was made
for: the group, not the pool's `repositories`, is the access control. The fields are GitHub's
("Get a self-hosted runner group for an organization"): `visibility` (`all`: every private
repository of the org, `private`: the same, `selected`: those listed under `.../repositories`),
`allows_public_repositories`, `restricted_to_workflows` and `selected_workflows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runner_fleet.settings.pool import Pool


@dataclass(frozen=True)
class GroupVerdict:
    ok: bool
    message: str  # one line: what was found
    fix: str = ""  # one line: what to change (empty when ok)
    warning: bool = False  # not a way in for others, but jobs would get VMs that only idle


def _names(repositories: Iterable[str]) -> set[str]:
    return {name.casefold() for name in repositories}


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def judge_group(pool: Pool, group: Mapping[str, Any], selected: Iterable[str]) -> GroupVerdict:
    """The verdict on `group` (GitHub's JSON) and the repositories it selects (`owner/name`) for `pool`."""
    scope = pool.github
    assert scope is not None
    label = f"runner group {group.get('id')} {group.get('name')!r}"
    selected = list(selected)
    problems: list[tuple[str, str]] = []
    visibility = str(group.get("visibility"))
    wanted = set(scope.repository_names)
    if wanted:
        admitted = set(selected) if visibility == "selected" else set()
        if visibility != "selected":
            problems.append(
                (
                    f"admits all {'private ' if visibility == 'private' else ''}repositories of the org, "
                    f"the pool only {_listed(wanted)}",
                    f"set its repository access to selected repositories: {_listed(wanted)}",
                )
            )
        elif _names(admitted) != _names(wanted):
            extra = {n for n in admitted if n.casefold() not in _names(wanted)}
            missing = {n for n in wanted if n.casefold() not in _names(admitted)}
            problems.append(
                (
                    f"admits {_listed(admitted)}, the pool lists {_listed(wanted)}",
                    f"remove {_listed(extra)} and add {_listed(missing)} in the group, or list the same "
                    "repositories in the pool",
                )
            )
    elif visibility == "selected":
        problems.append(
            (
                f"admits only {_listed(selected)}, but the pool lists no repositories (org-wide)",
                "list those repositories in the pool, or give the group all repositories",
            )
        )
    public = bool(group.get("allows_public_repositories"))
    if public and not scope.allow_public_repositories:
        problems.append(
            (
                "lets public repositories use its runners",
                "turn off 'Allow public repositories' for the group",
            )
        )
    elif scope.allow_public_repositories and not public:
        problems.append(
            (
                "does not let public repositories use its runners, which the pool serves",
                "turn on 'Allow public repositories', or drop allow_public_repositories from the pool",
            )
        )
    restricted = bool(group.get("restricted_to_workflows"))
    workflows = [str(w) for w in group.get("selected_workflows") or []] if restricted else []
    if scope.allowed_workflows and (not restricted or _names(workflows) != _names(scope.allowed_workflows)):
        found = f"restricted to {_listed(workflows)}" if restricted else "not restricted to workflows"
        problems.append(
            (
                f"is {found}, the pool allows {_listed(scope.allowed_workflows)}",
                f"restrict the group to exactly these workflows: {_listed(scope.allowed_workflows)}",
            )
        )
    if problems:
        return GroupVerdict(
            False,
            f"{label} " + "; ".join(message for message, _ in problems),
            "; ".join(fix for _, fix in problems),
        )
    if restricted and not scope.allowed_workflows:
        return GroupVerdict(
            True,
            f"{label} runs only {_listed(workflows)}: other workflows' jobs would get a runner that idles",
            "list these workflows in the pool's allowed_workflows",
            warning=True,
        )
    reach = _listed(wanted) if wanted else f"all {'private ' if visibility == 'private' else ''}repositories"
    return GroupVerdict(
        True,
        f"{label} admits {reach}, public repositories "
        f"{'on' if public else 'off'}, {'workflows ' + _listed(workflows) if restricted else 'any workflow'}",
    )
