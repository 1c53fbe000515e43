"""A GitLab simulator (runner registration and management, CI jobs picked up by simulated
runners, Job Hooks with faults) that python-gitlab talks to over plain HTTP on loopback."""

from simulator.gitlab.config import (
    DEFAULT_TOKEN,
    ApiToken,
    GitLabSimConfig,
    Group,
    Project,
    User,
)
from simulator.gitlab.errors import ApiError
from simulator.gitlab.simulator import GitLabSimulator
from simulator.gitlab.webhooks import standard_webhooks_signature
from simulator.webhooks import WebhookFaults

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "ApiToken",
    "GitLabSimConfig",
    "GitLabSimulator",
    "Group",
    "Project",
    "User",
    "WebhookFaults",
    "standard_webhooks_signature",
]
