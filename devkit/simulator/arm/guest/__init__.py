"""Simulated guests: what runs inside a VM once it has booted, chosen by runner.json's `forge`.
A new forge is a module plus one `register_guest` call here."""

from simulator.arm.guest.base import ApiServer, Guest, GuestContext, GuestError, RunnerFiles
from simulator.arm.guest.github import GitHubGuest
from simulator.arm.guest.gitlab import GitLabGuest

_GUESTS: dict[str, Guest] = {}


def register_guest(forge: str, guest: Guest) -> None:
    _GUESTS[forge.lower()] = guest


def unregister_guest(forge: str) -> None:
    _GUESTS.pop(forge.lower(), None)


def guest_for(forge: str) -> Guest | None:
    return _GUESTS.get(forge.lower())


def registered_forges() -> list[str]:
    return sorted(_GUESTS)


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
