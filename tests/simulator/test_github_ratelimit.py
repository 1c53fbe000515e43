"""GitHub's primary rate limit and conditional requests, through the real PyGithub over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from github import Github, RateLimitExceededException, UnknownObjectException

from simulator.github import Account, PrimaryRateLimit, Repository
from simulator.github.testing import SimulatorFactory, installation_client, static_client
from simulator.testing import eventually

pytest_plugins = ["github_fixtures"]

FEW = PrimaryRateLimit(base=3, per_extra=0, user_limit=3)


def _get(gh: Github, url: str, **headers: str) -> tuple[dict[str, Any], Any]:
    return gh.requester.requestJsonAndCheck("GET", url, headers=headers or None)


def test_every_answer_carries_the_primary_limit_headers(make_github_sim: SimulatorFactory) -> None:
    """Answers say limit, remaining, used, reset (real epoch s), resource (rule github.rate-limit.headers)."""
    sim = make_github_sim(time_scale=100.0)
    gh = installation_client(sim, "acme")
    before = time.time()
    headers, _ = _get(gh, "/installation/repositories")
    assert headers["x-ratelimit-limit"] == "5000"
    assert (headers["x-ratelimit-remaining"], headers["x-ratelimit-used"]) == ("4999", "1")
    assert headers["x-ratelimit-resource"] == "core"
    # One simulated hour at 100x is 36 real seconds; the reset is when that ends, on the wall clock.
    assert before + 36 - 1 <= int(headers["x-ratelimit-reset"]) <= time.time() + 36 + 1
    headers, _ = _get(gh, "/repos/acme/web/actions/runs")
    assert (headers["x-ratelimit-remaining"], headers["x-ratelimit-used"]) == ("4998", "2")


def test_an_error_answer_costs_a_request_too(make_github_sim: SimulatorFactory) -> None:
    """A 404 is counted against the budget like any answer (rule github.rate-limit.primary)."""
    sim = make_github_sim()
    gh = installation_client(sim, "acme")
    with pytest.raises(UnknownObjectException):
        _get(gh, "/repos/acme/nope/actions/runs")
    headers, _ = _get(gh, "/repos/acme/web/actions/runs")
    assert headers["x-ratelimit-used"] == "2"


def test_installation_limit_grows_with_repositories_and_members(make_github_sim: SimulatorFactory) -> None:
    """5,000 +50 per repository and member over 20, cap 12,500 (rule github.rate-limit.installation-limit)."""
    accounts = (Account("big", 1, "Organization", members=25), Account("huge", 2, "Organization"))
    repositories = tuple(Repository("big", f"r{i}", 100 + i) for i in range(30)) + tuple(
        Repository("huge", f"r{i}", 1000 + i) for i in range(300)
    )
    sim = make_github_sim(accounts=accounts, repositories=repositories, installations={"big": 11, "huge": 12})
    assert _get(installation_client(sim, "big"), "/rate_limit")[1]["rate"]["limit"] == 5000 + 50 * 10 + 50 * 5
    assert _get(installation_client(sim, "huge"), "/rate_limit")[1]["rate"]["limit"] == 12500
    assert static_client(sim).get_rate_limit().rate.limit == 5000


async def test_a_spent_budget_answers_403_until_the_reset(make_github_sim: SimulatorFactory) -> None:
    """A spent budget answers 403 "API rate limit exceeded" until reset (rule github.rate-limit.primary)."""
    sim = make_github_sim(primary_rate_limit=FEW, time_scale=3600.0)  # the hour lasts a real second
    gh = installation_client(sim, "acme")
    for _ in range(3):
        _get(gh, "/repos/acme/web/actions/runs")
    with pytest.raises(RateLimitExceededException) as caught:
        _get(gh, "/repos/acme/web/actions/runs")
    error = caught.value
    assert error.status == 403
    assert error.data["message"].startswith("API rate limit exceeded for installation ID 45000001.")
    assert error.data["documentation_url"].startswith("https://docs.github.com/rest/")
    assert error.headers is not None and error.headers["x-ratelimit-remaining"] == "0"
    assert sim.stats()["primary_rate_limited"] == 1
    assert sim.rate_limits()["installation:45000001"]["refused"] == 1

    def whole_again() -> bool:
        return int(_get(gh, "/rate_limit")[1]["rate"]["remaining"]) == 3

    await eventually(whole_again, within_s=10.0, poll_s=0.05, what="a whole budget after the reset")
    headers, _ = _get(gh, "/repos/acme/web/actions/runs")
    assert headers["x-ratelimit-remaining"] == "2"


def test_a_personal_access_token_is_limited_per_user(make_github_sim: SimulatorFactory) -> None:
    """A spent token's 403 says "... exceeded for user ID <id>." (rule github.rate-limit.user)."""
    sim = make_github_sim(primary_rate_limit=FEW)
    gh = static_client(sim)
    for _ in range(3):
        _get(gh, "/repos/acme/web/actions/runs")
    with pytest.raises(RateLimitExceededException) as caught:
        _get(gh, "/repos/acme/web/actions/runs")
    message = caught.value.data["message"]
    assert message.startswith(f"API rate limit exceeded for user ID {sim.config.sender.id}.")


def test_rate_limit_endpoint_spends_nothing(make_github_sim: SimulatorFactory) -> None:
    """GET /rate_limit reports the core budget and spends none of it (rule github.rate-limit.endpoint)."""
    sim = make_github_sim()
    gh = installation_client(sim, "acme")
    _get(gh, "/repos/acme/web/actions/runs")
    first = gh.get_rate_limit()
    second = gh.get_rate_limit()
    assert first.rate.remaining == second.rate.remaining == 4999
    assert gh.rate_limiting == (4999, 5000)


def test_unchanged_lists_answer_304_for_free(make_github_sim: SimulatorFactory) -> None:
    """If-None-Match gets a free 304 until the list changes (rule github.conditional-requests)."""
    sim = make_github_sim()
    gh = installation_client(sim, "acme")
    url = "/repos/acme/web/actions/runs?status=queued"
    headers, body = _get(gh, url)
    etag = headers["etag"]
    assert body["total_count"] == 0
    again, unchanged = _get(gh, url, **{"If-None-Match": etag})
    assert unchanged is None  # 304: no body
    assert again["x-ratelimit-remaining"] == headers["x-ratelimit-remaining"]
    sim.queue_job("acme", "web", ["self-hosted", "gpu"])
    changed, body = _get(gh, url, **{"If-None-Match": etag})
    assert body["total_count"] == 1 and changed["etag"] != etag
    assert int(changed["x-ratelimit-remaining"]) == int(headers["x-ratelimit-remaining"]) - 1
    counts = sim.request_counts()["GET /repos/{owner}/{repo}/actions/runs"]
    assert counts == {"200": 2, "304": 1}


def test_app_jwt_requests_are_logged_but_not_metered(make_github_sim: SimulatorFactory) -> None:
    """Requests made as the App (JWT) appear in the request log and spend no installation's budget."""
    sim = make_github_sim()
    installation_client(sim, "acme")
    assert "installation:45000001" not in sim.rate_limits()
    counts = sim.request_counts()
    assert counts["POST /app/installations/{installation_id}/access_tokens"] == {"201": 1}
