"""The forges runner-fleet serves; every `forge` argument, record and message names one of these."""

from __future__ import annotations

from typing import Literal

Forge = Literal["github", "gitlab"]
FORGES: tuple[Forge, ...] = ("github", "gitlab")
