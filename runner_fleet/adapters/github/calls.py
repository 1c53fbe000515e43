"""GitHub REST calls that keep their credential's budget up to date and turn rate limits into waits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from github import Github, GithubException

from runner_fleet.adapters.github.budget import CredentialBudget


@dataclass(frozen=True)
class Session:
    """A client and the budget of the credential it sends."""

    client: Github
    budget: CredentialBudget


@dataclass(frozen=True)
class Answer:
    status: int  # 200 (any success), or 304 when a conditional GET found nothing new
    headers: dict[str, Any]
    data: Any

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def error_message(exc: GithubException) -> str:
    message = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
    return str(message)


def call(
    session: Session,
    verb: str,
    url: str,
    *,
    parameters: dict[str, Any] | None = None,
    body: Any = None,
    etag: str | None = None,
) -> Answer:
    """One request; `RateLimited` (without sending it) while GitHub asked us to wait.

    With `etag`, the GET is conditional: GitHub answers 304 without counting it against the
    primary limit when nothing changed.
    """
    session.budget.check()
    headers = {"If-None-Match": etag} if etag else None
    try:
        answer_headers, data = session.client.requester.requestJsonAndCheck(
            verb, url, parameters=parameters, headers=headers, input=body
        )
    except GithubException as exc:
        limited = session.budget.refused(exc.status, exc.headers or {}, error_message(exc))
        if limited is not None:
            raise limited from None
        session.budget.observe(exc.headers or {})
        raise
    session.budget.observe(answer_headers)
    session.budget.succeeded()
    # PyGithub hands back no status; a conditional GET with an empty body can only be a 304.
    return Answer(304 if etag and data is None else 200, answer_headers, data)
