"""GitLab's authenticated API rate limit, as the simulator applies it when configured."""

from __future__ import annotations

import time

import gitlab
import requests

from simulator.gitlab.testing import SimulatorFactory

pytest_plugins = ["gitlab_fixtures"]


def test_every_api_answer_says_how_much_of_the_minute_is_left(make_gitlab_sim: SimulatorFactory) -> None:
    """Rule gitlab.rate-limit.headers: RateLimit-Limit, -Observed, -Remaining, -Reset on every answer."""
    sim = make_gitlab_sim(time_scale=1.0, api_rate_limit_per_minute=100)
    headers = {"PRIVATE-TOKEN": sim.token}

    first = requests.get(f"{sim.api_url}/projects/1001", headers=headers, timeout=5)
    second = requests.get(f"{sim.api_url}/projects/1001", headers=headers, timeout=5)

    assert first.headers["RateLimit-Name"] == "throttle_authenticated_api"
    assert (first.headers["RateLimit-Limit"], first.headers["RateLimit-Observed"]) == ("100", "1")
    assert (second.headers["RateLimit-Observed"], second.headers["RateLimit-Remaining"]) == ("2", "98")
    assert 0 < int(second.headers["RateLimit-Reset"]) - time.time() <= 61


def test_past_the_limit_gitlab_answers_429_retry_later(make_gitlab_sim: SimulatorFactory) -> None:
    """Rule gitlab.rate-limit.429: plain-text "Retry later" with Retry-After and RateLimit-ResetTime."""
    sim = make_gitlab_sim(time_scale=1.0, api_rate_limit_per_minute=3)
    headers = {"PRIVATE-TOKEN": sim.token}
    for _ in range(3):
        assert requests.get(f"{sim.api_url}/user", headers=headers, timeout=5).status_code == 200

    refused = requests.get(f"{sim.api_url}/user", headers=headers, timeout=5)

    assert (refused.status_code, refused.text) == (429, "Retry later\n")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0" and "GMT" in refused.headers["RateLimit-ResetTime"]
    assert sim.stats()["api_throttled"] == 1


def test_python_gitlab_waits_out_a_429_when_told_to_retry(make_gitlab_sim: SimulatorFactory) -> None:
    """python-gitlab with retry_transient_errors obeys Retry-After and gets its answer in the next window."""
    sim = make_gitlab_sim(time_scale=60.0, api_rate_limit_per_minute=2)  # a window of one real second
    client = gitlab.Gitlab(sim.base_url, private_token=sim.token, retry_transient_errors=True)
    for _ in range(2):
        client.projects.get(1001)

    project = client.projects.get(1001)

    assert project.id == 1001 and sim.stats()["api_throttled"] >= 1
    client.session.close()


def test_runner_api_calls_are_not_counted_against_the_user(make_gitlab_sim: SimulatorFactory) -> None:
    """The runner API authenticates with runner and job tokens; the user's budget is untouched by it."""
    sim = make_gitlab_sim(time_scale=1.0, api_rate_limit_per_minute=1)
    for _ in range(3):
        answer = requests.post(f"{sim.api_url}/jobs/request", json={"token": "glrt-nope"}, timeout=5)
        assert answer.status_code == 403 and "RateLimit-Limit" not in answer.headers
    assert sim.stats()["api_throttled"] == 0
