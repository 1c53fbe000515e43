"""A GitHub simulator (App auth, JIT runners, Actions scheduling, App webhooks) for PyGithub clients."""

from simulator.github.config import Account, GitHubSimConfig, PrimaryRateLimit, Repository, RunnerGroup
from simulator.github.errors import ApiError
from simulator.github.simulator import GitHubSimulator
from simulator.webhooks import WebhookFaults

__all__ = [
    "Account",
    "ApiError",
    "GitHubSimConfig",
    "GitHubSimulator",
    "PrimaryRateLimit",
    "Repository",
    "RunnerGroup",
    "WebhookFaults",
]
