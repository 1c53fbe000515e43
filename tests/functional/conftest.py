from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner_fleet import runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.settings import load_service_settings
from tests.builders import WEBHOOK_SECRET, make_pool
from tests.fakes import FakeCompute, FakeRegistry


@pytest.fixture
def fakes() -> tuple[FakeCompute, FakeRegistry]:
    return FakeCompute(), FakeRegistry()


@pytest.fixture
def installed(fakes: tuple[FakeCompute, FakeRegistry]) -> Iterator[runtime.Runtime]:
    compute, registry = fakes
    settings = load_service_settings({"GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "GITHUB_TOKEN": "t" * 40})
    rt = runtime.Runtime(
        settings,
        (make_pool("aks-prod", ("aks-prod",)),),
        MemoryWorkQueue(),
        MemoryStateTable(),
        lambda: compute,
        {"github": lambda: registry},
        ssh_public_key_factory=lambda: "ssh-ed25519 AAAA test",
    )
    runtime.install(rt)
    yield rt
    runtime.install(None)
