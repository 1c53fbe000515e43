"""Guests by forge (the `forge` field of runner.json). A new forge is a module plus one
`register_guest` call in `simulator.arm.guest`."""

from __future__ import annotations

from simulator.arm.guest.base import Guest

_GUESTS: dict[str, Guest] = {}


def register_guest(forge: str, guest: Guest) -> None:
    _GUESTS[forge.lower()] = guest


def unregister_guest(forge: str) -> None:
    _GUESTS.pop(forge.lower(), None)


def guest_for(forge: str) -> Guest | None:
    return _GUESTS.get(forge.lower())


def registered_forges() -> list[str]:
    return sorted(_GUESTS)
