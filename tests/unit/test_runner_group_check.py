"""The runner group check: a group must admit exactly what its pool serves, no more (a way in) nor less."""

from __future__ import annotations

from typing import Any

from runner_fleet.adapters.github.runner_group import judge_group
from tests.builders import make_pool

ORG_WIDE = make_pool()
SCOPED = make_pool(github={"repositories": ["platform-deploy", "payments-api"]})
DEPLOY = "example-org/platform-deploy/.github/workflows/deploy.yml@refs/heads/main"


def _group(**fields: Any) -> dict[str, Any]:
    return {
        "id": 2,
        "name": "aks",
        "visibility": "all",
        "allows_public_repositories": False,
        "restricted_to_workflows": False,
        "selected_workflows": [],
        **fields,
    }


def test_an_org_wide_pool_fits_a_group_of_all_or_all_private_repositories() -> None:
    """A pool listing no repositories passes with visibility all or private."""
    assert judge_group(ORG_WIDE, _group(), []).ok
    assert judge_group(ORG_WIDE, _group(visibility="private"), []).ok


def test_a_pool_listing_repositories_needs_a_group_of_exactly_those() -> None:
    """Selected with exactly the pool's repositories passes (names case-insensitive); anything wider fails."""
    selected = ["example-org/Platform-Deploy", "example-org/payments-api"]
    assert judge_group(SCOPED, _group(visibility="selected"), selected).ok
    wide = judge_group(SCOPED, _group(), [])
    assert not wide.ok and "admits all repositories" in wide.message and "selected repositories" in wide.fix


def test_a_group_selecting_other_repositories_names_what_to_add_and_remove() -> None:
    """An extra repository in the group (a way in) and a missing one are both named in the fix."""
    verdict = judge_group(
        SCOPED, _group(visibility="selected"), ["example-org/platform-deploy", "example-org/website"]
    )
    assert not verdict.ok
    assert "remove example-org/website and add example-org/payments-api" in verdict.fix


def test_an_org_wide_pool_in_a_group_of_selected_repositories_fails() -> None:
    """A pool serving the whole org cannot use a group that admits only some repositories."""
    verdict = judge_group(ORG_WIDE, _group(visibility="selected"), ["example-org/website"])
    assert not verdict.ok and "org-wide" in verdict.message


def test_public_repositories_must_be_off_unless_the_pool_serves_them() -> None:
    """A group open to public repositories fails a pool that does not serve them, and the reverse."""
    opened = judge_group(ORG_WIDE, _group(allows_public_repositories=True), [])
    assert not opened.ok and "turn off 'Allow public repositories'" in opened.fix
    public_pool = make_pool(github={"allow_public_repositories": True})
    assert judge_group(public_pool, _group(allows_public_repositories=True), []).ok
    assert not judge_group(public_pool, _group(), []).ok


def test_a_pool_naming_workflows_needs_a_group_restricted_to_exactly_them() -> None:
    """allowed_workflows pass only against a group restricted to the same workflows."""
    pool = make_pool(github={"allowed_workflows": [DEPLOY]})
    assert judge_group(pool, _group(restricted_to_workflows=True, selected_workflows=[DEPLOY]), []).ok
    unrestricted = judge_group(pool, _group(), [])
    assert not unrestricted.ok and DEPLOY in unrestricted.fix
    other = judge_group(
        pool, _group(restricted_to_workflows=True, selected_workflows=["o/r/.github/workflows/x.yml@v1"]), []
    )
    assert not other.ok


def test_a_restricted_group_the_pool_does_not_mention_is_a_warning() -> None:
    """A group restricted to workflows the pool does not name passes with a warning: other VMs would idle."""
    verdict = judge_group(ORG_WIDE, _group(restricted_to_workflows=True, selected_workflows=[DEPLOY]), [])
    assert verdict.ok and verdict.warning and "allowed_workflows" in verdict.fix


def test_every_problem_is_one_line_with_one_line_fix() -> None:
    """Several mismatches are reported together, on one line each for the finding and the fix."""
    verdict = judge_group(SCOPED, _group(allows_public_repositories=True), [])
    assert not verdict.ok and verdict.message.count(";") == 1 and verdict.fix.count(";") == 1
    assert "\n" not in verdict.message + verdict.fix
