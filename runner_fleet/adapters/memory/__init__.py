"""In-memory backends for the work queue and the state table (unit tests, the demo, a local host)."""

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable

__all__ = ["MemoryStateTable", "MemoryWorkQueue"]
