"""Simulated guests: what runs inside a VM once it has booted, chosen by runner.json's `forge`."""

from simulator.arm.guest.base import ApiServer, Guest, GuestContext, GuestError, RunnerFiles
from simulator.arm.guest.github import GitHubGuest
from simulator.arm.guest.gitlab import GitLabGuest
from simulator.arm.guest.registry import guest_for, register_guest, registered_forges, unregister_guest

register_guest("github", GitHubGuest())
register_guest("gitlab", GitLabGuest())

__all__ = [
    "ApiServer",
    "GitHubGuest",
    "GitLabGuest",
    "Guest",
    "GuestContext",
    "GuestError",
    "RunnerFiles",
    "guest_for",
    "register_guest",
    "registered_forges",
    "unregister_guest",
]
