"""A GitLab simulator (runner registration and management, CI jobs picked up by simulated
runners, Job Hooks with faults) that python-gitlab talks to over plain HTTP on loopback."""

from simulator.gitlab.config import DEFAULT_TOKEN, ApiToken, GitLabSimConfig, Group, Project
from simulator.gitlab.simulator import GitLabSimulator
from simulator.webhooks import WebhookFaults

__all__ = [
    "DEFAULT_TOKEN",
    "ApiToken",
    "GitLabSimConfig",
    "GitLabSimulator",
    "Group",
    "Project",
    "WebhookFaults",
]
