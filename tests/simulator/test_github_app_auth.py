"""GitHub App authentication against the simulator, through the real PyGithub."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from github import Auth, BadCredentialsException, Github, GithubException, UnknownObjectException

from simulator.github import GitHubSimulator
from simulator.github.auth import generate_private_key_pem
from simulator.github.testing import app_integration, installation_client, static_client

pytest_plugins = ["github_fixtures"]


def _jwt(sim: GitHubSimulator, **claims: object) -> str:
    now = int(time.time())
    body: dict[str, object] = {"iat": now - 60, "exp": now + 300, "iss": str(sim.app_id), **claims}
    return jwt.encode(body, sim.app_private_key_pem, algorithm="RS256")


def _get_app_with(sim: GitHubSimulator, token: str) -> None:
    gh = Github(base_url=sim.base_url, auth=Auth.Token(token), retry=None, seconds_between_requests=None)
    gh.requester.requestJsonAndCheck("GET", "/app", headers={"Authorization": f"Bearer {token}"})


def test_app_jwt_is_exchanged_for_an_installation_token(github_sim: GitHubSimulator) -> None:
    """GithubIntegration finds the org installation and gets a one-hour ghs_ token for it."""
    integration = app_integration(github_sim)
    assert integration.get_app().slug == github_sim.config.app_slug
    installation = integration.get_org_installation("acme")
    assert installation.id == github_sim.config.installations["acme"]
    assert installation.account.login == "acme"

    token = integration.get_access_token(installation.id)

    assert token.token.startswith("ghs_")
    assert token.expires_at is not None
    remaining = token.expires_at - datetime.now(UTC)
    assert timedelta(minutes=59) < remaining <= timedelta(hours=1)
    assert github_sim.stats()["installation_tokens_issued"] == 1


def test_installation_token_authenticates_rest_calls(github_sim: GitHubSimulator) -> None:
    """An installation token reads its own organisation and repositories."""
    gh = installation_client(github_sim, "acme")
    assert gh.get_organization("acme").login == "acme"
    repo = gh.get_repo("acme/web")
    assert repo.full_name == "acme/web"
    assert repo.id == 700001


def test_installation_token_cannot_see_another_account(github_sim: GitHubSimulator) -> None:
    """A token of the acme installation gets 404 for a repository of another account."""
    gh = installation_client(github_sim, "acme")
    with pytest.raises(UnknownObjectException):
        gh.get_repo("octocat/hello-world")


def test_user_and_repo_installations_are_found(github_sim: GitHubSimulator) -> None:
    """Installations are found by user account and by repository too."""
    integration = app_integration(github_sim)
    assert integration.get_user_installation("octocat").id == github_sim.config.installations["octocat"]
    assert integration.get_repo_installation("acme", "api").id == github_sim.config.installations["acme"]
    with pytest.raises(UnknownObjectException):
        integration.get_org_installation("no-such-org")


def test_jwt_signed_with_another_key_is_rejected(github_sim: GitHubSimulator) -> None:
    """An App JWT not signed with the App's private key gets 401."""
    integration = app_integration(github_sim, private_key_pem=generate_private_key_pem())
    with pytest.raises(GithubException) as caught:
        integration.get_org_installation("acme")
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("offsets", "other", "message"),
    [
        ({"exp": -10, "iat": -120}, {}, "'Expiration time'"),
        ({"iat": 300, "exp": 500}, {}, "'Issued at'"),
        ({"exp": 3600}, {}, "too far in the future"),
        ({"exp": 640}, {}, "too far in the future"),
        ({}, {"iss": "999"}, "could not be decoded"),
    ],
    ids=["expired", "issued-in-the-future", "too-long-lived", "ten-minutes-and-more", "wrong-issuer"],
)
def test_invalid_jwt_claims_are_rejected(
    github_sim: GitHubSimulator, offsets: dict[str, int], other: dict[str, object], message: str
) -> None:
    """Rule github.app-jwt: expired, future, over ten minutes (by any margin) or foreign JWTs get 401."""
    now = int(time.time())  # at run time: a suite can run minutes after collection
    claims = {name: now + seconds for name, seconds in offsets.items()} | other
    with pytest.raises(GithubException) as caught:
        _get_app_with(github_sim, _jwt(github_sim, **claims))
    assert caught.value.status == 401
    assert message in str(caught.value.data["message"])


def test_installation_token_is_not_an_app_jwt(github_sim: GitHubSimulator) -> None:
    """App endpoints refuse an installation token."""
    token = app_integration(github_sim).get_access_token(github_sim.config.installations["acme"]).token
    with pytest.raises(GithubException) as caught:
        _get_app_with(github_sim, token)
    assert caught.value.status == 401


def test_unknown_token_gets_bad_credentials(github_sim: GitHubSimulator) -> None:
    """A token the simulator never issued gets 401 Bad credentials."""
    gh = Github(base_url=github_sim.base_url, auth=Auth.Token("ghs_nope"), retry=None)
    with pytest.raises(BadCredentialsException):
        gh.get_organization("acme")


def test_static_token_reaches_every_account(github_sim: GitHubSimulator) -> None:
    """The configured personal token is accepted for every account's resources."""
    gh = static_client(github_sim)
    assert gh.get_repo("octocat/hello-world").private is False
    assert gh.get_organization("acme").login == "acme"


def test_permissions_beyond_the_app_are_refused(github_sim: GitHubSimulator) -> None:
    """Asking for a permission the App lacks gets 422."""
    integration = app_integration(github_sim)
    with pytest.raises(GithubException) as caught:
        integration.get_access_token(
            github_sim.config.installations["acme"], permissions={"contents": "write"}
        )
    assert caught.value.status == 422


def test_narrowed_token_cannot_manage_runners(github_sim: GitHubSimulator) -> None:
    """A token requested with only metadata:read gets 403 from the runner endpoints."""
    integration = app_integration(github_sim)
    token = integration.get_access_token(
        github_sim.config.installations["acme"], permissions={"metadata": "read"}
    ).token
    gh = Github(
        base_url=github_sim.base_url, auth=Auth.Token(token), retry=None, seconds_between_requests=None
    )
    org = gh.get_organization("acme")
    with pytest.raises(GithubException) as caught:
        org.create_self_hosted_runner_jitconfig("r", 1, ["self-hosted"])
    assert caught.value.status == 403
