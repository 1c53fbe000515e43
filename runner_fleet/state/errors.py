from __future__ import annotations


class StateError(Exception):
    """Base for state-table failures the rules react to."""


class AlreadyExists(StateError):
    """An insert found a row with the same partition and key."""


class PreconditionFailed(StateError):
    """A conditional write lost a race: the row's ETag changed since it was read."""


class NotFound(StateError):
    """A conditional write targeted a row that no longer exists."""
