"""Runner management through the real python-gitlab: authentication, scopes, create, read,
list with pagination and filters, delete."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import gitlab
import pytest
import requests
from gitlab.v4.objects import CurrentUserRunnerManager

from simulator.gitlab import GitLabSimConfig, GitLabSimulator
from simulator.gitlab.config import MAINTAINER, OWNER, Member
from simulator.gitlab.testing import SimulatorFactory

pytest_plugins = ["gitlab_fixtures"]


def _user_runners(gl: gitlab.Gitlab) -> CurrentUserRunnerManager:
    assert gl.user is not None, "gl.auth() sets the current user"
    return gl.user.runners


def _group_runner(gl: gitlab.Gitlab, tags: list[str], **extra: object) -> dict[str, Any]:
    created = _user_runners(gl).create(
        {"runner_type": "group_type", "group_id": 100, "tag_list": tags, "run_untagged": False, **extra}
    )
    return dict(created.attributes)


def test_auth_reads_the_current_user(gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator) -> None:
    """gl.auth() fetches /user; its web_url lies under the simulator's URL, so no base-URL warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gl.auth()
    assert gl.user is not None
    assert gl.user.username == "root"
    assert gl.user.web_url == f"{gitlab_sim.base_url}/root"
    assert gl.version()[0].startswith("17.")


def test_unknown_token_is_401(
    gitlab_sim: GitLabSimulator,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    gitlab_tokens: dict[str, str],
) -> None:
    """An unknown token answers 401 {"message": "401 Unauthorized"}, python-gitlab's authentication error."""
    client = gitlab_client_for(gitlab_sim, "glpat-NotAToken")
    with pytest.raises(gitlab.GitlabAuthenticationError) as caught:
        client.auth()
    assert caught.value.response_code == 401
    raw = requests.get(f"{gitlab_sim.api_url}/runners", headers={"PRIVATE-TOKEN": "nope"}, timeout=5)
    assert (raw.status_code, raw.json()) == (401, {"message": "401 Unauthorized"})


def test_bearer_authorization_is_accepted(gitlab_sim: GitLabSimulator) -> None:
    """`Authorization: Bearer <token>` authenticates like PRIVATE-TOKEN."""
    answer = requests.get(
        f"{gitlab_sim.api_url}/user", headers={"Authorization": f"Bearer {gitlab_sim.token}"}, timeout=5
    )
    assert answer.status_code == 200
    assert answer.json()["username"] == "root"


def test_group_runner_is_created_with_a_glrt_token(gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator) -> None:
    """gl.user.runners.create for a group answers 201 {id, token: glrt-..., token_expires_at: null}."""
    created = _group_runner(gl, ["deploy", "aks-prod"], description="vm-1", maximum_timeout=3600)

    assert set(created) == {"id", "token", "token_expires_at"}
    assert str(created["token"]).startswith("glrt-")
    assert created["token_expires_at"] is None
    runner = gl.runners.get(created["id"])
    assert runner.runner_type == "group_type"
    assert runner.description == "vm-1"
    assert runner.tag_list == ["deploy", "aks-prod"]
    assert runner.run_untagged is False
    assert (runner.status, runner.online, runner.contacted_at) == ("never_contacted", False, None)
    assert runner.is_shared is False and runner.paused is False and runner.active is True
    assert runner.groups[0]["id"] == 100


def test_project_runner_takes_a_comma_separated_tag_list(gl: gitlab.Gitlab) -> None:
    """A project runner's tag_list may be a comma-separated string; the project lists it."""
    created = _user_runners(gl).create(
        {
            "runner_type": "project_type",
            "project_id": 1002,
            "tag_list": "deploy, linux",
            "run_untagged": False,
        }
    )
    runner = gl.runners.get(created.id)
    assert (runner.runner_type, runner.tag_list) == ("project_type", ["deploy", "linux"])
    assert runner.projects[0]["path_with_namespace"] == "acme/api"
    listed = gl.projects.get("acme/api").runners.list(get_all=True)
    assert [r.id for r in listed] == [created.id]


def test_token_without_create_runner_scope_is_forbidden(
    gitlab_sim: GitLabSimulator,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    gitlab_tokens: dict[str, str],
) -> None:
    """A token lacking create_runner gets 403 {"message": "403 Forbidden"} as GitlabCreateError."""
    client = gitlab_client_for(gitlab_sim, gitlab_tokens["read_only"])
    client.auth()
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        _user_runners(client).create({"runner_type": "group_type", "group_id": 100, "tag_list": ["x"]})
    assert caught.value.response_code == 403
    assert caught.value.error_message == "403 Forbidden"
    assert gitlab_sim.runners() == []


def test_token_without_manage_runner_scope_cannot_delete(
    make_gitlab_sim: SimulatorFactory,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    gitlab_tokens: dict[str, str],
) -> None:
    """Deleting needs manage_runner: a group Owner's read_api token reads the runner, gets 403 deleting it."""
    sim = make_gitlab_sim(members=(Member("deployer", "group", 100, OWNER),))
    admin = gitlab_client_for(sim, gitlab_tokens["service"])
    admin.auth()
    created = _group_runner(admin, ["x"])
    reader = gitlab_client_for(sim, gitlab_tokens["read_only"])
    assert reader.runners.get(created["id"]).id == created["id"]
    with pytest.raises(gitlab.GitlabDeleteError) as caught:
        reader.runners.delete(created["id"])
    assert caught.value.response_code == 403


def test_runner_without_tags_must_run_untagged(gl: gitlab.Gitlab) -> None:
    """run_untagged false without tags is a 400 validation error on tags_list."""
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        _user_runners(gl).create({"runner_type": "group_type", "group_id": 100, "run_untagged": False})
    assert caught.value.response_code == 400
    assert "tags_list" in str(caught.value.error_message)


def test_invalid_runner_parameters_are_rejected(gl: gitlab.Gitlab) -> None:
    """An unknown runner_type, a missing group_id or an unknown group are rejected, creating nothing."""
    for attrs, code in (
        ({"runner_type": "vm_type"}, 400),
        ({"runner_type": "group_type"}, 400),
        ({"runner_type": "group_type", "group_id": 999, "tag_list": ["x"]}, 404),
        ({"runner_type": "group_type", "group_id": 100, "tag_list": ["x"], "maximum_timeout": 60}, 400),
    ):
        with pytest.raises(gitlab.GitlabCreateError) as caught:
            _user_runners(gl).create(attrs)
        assert caught.value.response_code == code, attrs
    assert gl.runners.list(get_all=True) == []


def test_instance_runners_need_an_admin(
    gitlab_sim: GitLabSimulator,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    gitlab_tokens: dict[str, str],
) -> None:
    """A non-admin user cannot create instance runners or list /runners/all."""
    client = gitlab_client_for(gitlab_sim, gitlab_tokens["non_admin"])
    client.auth()
    with pytest.raises(gitlab.GitlabCreateError) as create_error:
        _user_runners(client).create({"runner_type": "instance_type", "tag_list": ["x"]})
    with pytest.raises(gitlab.GitlabListError) as list_error:
        client.runners.all()
    assert create_error.value.response_code == list_error.value.response_code == 403


def test_delete_removes_the_registration(gl: gitlab.Gitlab, gitlab_sim: GitLabSimulator) -> None:
    """gl.runners.delete answers 204; then the runner is 404 and unlisted, kept flagged in runners()."""
    created = _group_runner(gl, ["x"])
    gl.runners.delete(created["id"])

    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl.runners.get(created["id"])
    assert (caught.value.response_code, caught.value.error_message) == (404, "404 Runner Not Found")
    with pytest.raises(gitlab.GitlabDeleteError) as again:
        gl.runners.delete(created["id"])
    assert again.value.response_code == 404
    assert gl.runners.list(get_all=True) == []
    assert gitlab_sim.runner(int(str(created["id"])))["deleted"] is True


def test_runner_lists_paginate_as_python_gitlab_expects(gl: gitlab.Gitlab) -> None:
    """More runners than per_page: pages carry X-Page/X-Total/Link and get_all follows them to the end."""
    ids = {_group_runner(gl, ["x"], description=f"vm-{n}")["id"] for n in range(7)}

    first = gl.runners.list(per_page=3, iterator=True)
    page = list(first)
    assert len(page) == 7
    assert (first.per_page, first.total, first.total_pages) == (3, 7, 3)
    assert {r.id for r in gl.runners.list(per_page=3, get_all=True)} == ids
    assert len(gl.runners.list(per_page=3, page=3)) == 1
    assert {r.id for r in gl.runners.all(per_page=2, get_all=True)} == ids
    raw = gl.http_request("get", "/runners", query_data={"per_page": 3, "page": 2})
    assert raw.headers["X-Page"] == "2" and raw.headers["X-Next-Page"] == "3"
    assert raw.headers["X-Prev-Page"] == "1" and raw.headers["X-Total"] == "7"
    assert 'rel="next"' in raw.headers["Link"] and "page=3" in raw.headers["Link"]


def test_runner_lists_filter_by_type_tags_and_status(gl: gitlab.Gitlab) -> None:
    """type, tag_list (all given tags) and status filters; group lists include ancestors' runners."""
    top = _group_runner(gl, ["deploy", "prod"])
    sub = _user_runners(gl).create(
        {"runner_type": "group_type", "group_id": 101, "tag_list": ["deploy"], "run_untagged": False}
    )
    project = _user_runners(gl).create(
        {"runner_type": "project_type", "project_id": 1001, "tag_list": ["deploy"], "run_untagged": False}
    )

    def ids(listing: Sequence[Any]) -> set[Any]:
        return {getattr(r, "id") for r in listing}  # noqa: B009 - python-gitlab attributes are dynamic

    assert ids(gl.runners.list(type="group_type", get_all=True)) == {top["id"], sub.id}
    assert ids(gl.runners.list(tag_list=["deploy", "prod"], get_all=True)) == {top["id"]}
    assert ids(gl.runners.list(status="never_contacted", get_all=True)) == {top["id"], sub.id, project.id}
    assert ids(gl.runners.list(status="online", get_all=True)) == set()
    assert ids(gl.groups.get(101).runners.list(get_all=True)) == {top["id"], sub.id}
    assert ids(gl.groups.get(100).runners.list(get_all=True)) == {top["id"]}
    assert ids(gl.projects.get(1003).runners.list(get_all=True)) == {top["id"], sub.id}
    assert ids(gl.projects.get(1001).runners.list(get_all=True)) == {top["id"], project.id}
    with pytest.raises(gitlab.GitlabListError):
        gl.runners.list(type="vm_type")


def test_projects_and_groups_resolve_by_id_and_encoded_path(gl: gitlab.Gitlab) -> None:
    """Projects and groups are found by id or URL-encoded full path; a group lists its projects."""
    by_path = gl.projects.get("acme/platform/infra")
    assert by_path.id == 1003
    assert by_path.namespace["full_path"] == "acme/platform"
    assert gl.groups.get("acme/platform").id == 101
    assert {p.id for p in gl.groups.get(100).projects.list(get_all=True)} == {1001, 1002}
    nested = gl.groups.get(100).projects.list(get_all=True, include_subgroups=True)
    assert {p.id for p in nested} == {1001, 1002, 1003}
    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl.projects.get(4242)
    assert caught.value.error_message == "404 Project Not Found"


def test_runner_jobs_lists_what_the_runner_runs(gitlab_sim: GitLabSimulator, gl: gitlab.Gitlab) -> None:
    """GET /runners/:id/jobs?status=running lists the job a runner is running, and nothing for an idle one."""
    gl.auth()
    assert gl.user is not None
    created = gl.user.runners.create(
        {
            "runner_type": "group_type",
            "group_id": 100,
            "tag_list": ["deploy"],
            "run_untagged": False,
            "description": "idle",
        }
    )
    runner = gl.runners.get(created.id)
    assert runner.jobs.list(status="running", get_all=True) == []


def test_group_runners_need_the_owner_role_and_project_runners_maintainer(
    make_gitlab_sim: SimulatorFactory,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    gitlab_tokens: dict[str, str],
) -> None:
    """Rule gitlab.runner-create.roles: a group Maintainer may create project runners, not group runners."""
    sim = make_gitlab_sim(
        members=(Member("deployer", "group", 100, MAINTAINER), Member("deployer", "group", 101, OWNER))
    )
    client = gitlab_client_for(sim, gitlab_tokens["non_admin"])
    client.auth()
    runners = _user_runners(client)

    with pytest.raises(gitlab.GitlabCreateError) as refused:
        runners.create({"runner_type": "group_type", "group_id": 100, "tag_list": ["x"]})
    assert (refused.value.response_code, refused.value.error_message) == (
        403,
        "403 Forbidden - Insufficient permissions",
    )
    assert runners.create({"runner_type": "group_type", "group_id": 101, "tag_list": ["x"]}).id
    assert runners.create({"runner_type": "project_type", "project_id": 1001, "tag_list": ["x"]}).id


def test_members_api_reports_inherited_roles(
    make_gitlab_sim: SimulatorFactory, gitlab_client_for: Callable[..., gitlab.Gitlab]
) -> None:
    """A role given on a group is reported on its subgroups and projects (members/all); none is 404."""
    sim = make_gitlab_sim(members=(Member("deployer", "group", 100, OWNER),))
    client = gitlab_client_for(sim)
    deployer = next(u for u in sim.config.users if u.username == "deployer")

    assert client.groups.get(101, lazy=True).members_all.get(deployer.id).access_level == OWNER
    assert client.projects.get(1003, lazy=True).members_all.get(deployer.id).access_level == OWNER
    root = next(u for u in sim.config.users if u.username == "root")
    with pytest.raises(gitlab.GitlabGetError) as missing:
        client.groups.get(100, lazy=True).members_all.get(root.id)
    assert missing.value.response_code == 404


def test_protected_branches_list_the_default_branch_and_patterns(
    make_gitlab_sim: SimulatorFactory, gitlab_client_for: Callable[..., gitlab.Gitlab]
) -> None:
    """By default only the default branch is protected; configured names and wildcards are listed."""
    project = dataclasses.replace(GitLabSimConfig().projects[0], protected_branches=("main", "release/*"))
    sim = make_gitlab_sim(projects=(project, *GitLabSimConfig().projects[1:]))
    client = gitlab_client_for(sim)

    assert [b.name for b in client.projects.get(1001, lazy=True).protectedbranches.list()] == [
        "main",
        "release/*",
    ]
    assert [b.name for b in client.projects.get(1002, lazy=True).protectedbranches.list()] == ["main"]
    assert client.projects.get(1001, lazy=True).protectedtags.list() == []


def test_runners_are_read_and_deleted_only_with_the_role_that_creates_them(
    gl: gitlab.Gitlab,
    gitlab_sim: GitLabSimulator,
    gitlab_client_for: Callable[..., gitlab.Gitlab],
    gitlab_tokens: dict[str, str],
) -> None:
    """Rule gitlab.runner-manage.roles: a group Maintainer gets 403 reading or deleting the group's runner."""
    created = _group_runner(gl, ["x"])
    maintainer = gitlab_client_for(gitlab_sim, gitlab_tokens["non_admin"])

    with pytest.raises(gitlab.GitlabGetError) as reading:
        maintainer.runners.get(created["id"])
    with pytest.raises(gitlab.GitlabDeleteError) as deleting:
        maintainer.runners.delete(created["id"])
    with pytest.raises(gitlab.GitlabListError) as listing:
        maintainer.groups.get(100, lazy=True).runners.list()

    assert reading.value.response_code == deleting.value.response_code == listing.value.response_code == 403
    assert gl.runners.get(created["id"]).id == created["id"]
