"""Which way imports go inside the product, where `lint-imports` cannot see (it folds every `azure.*`
package into one `azure`). Every import counts, a lazy one inside a function included."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import runner_fleet

PRODUCT = Path(runner_fleet.__file__).parent


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _module(path: Path) -> str:
    parts = path.relative_to(PRODUCT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _importers_of(prefix: str) -> set[str]:
    return {
        _module(path)
        for path in PRODUCT.rglob("*.py")
        if any(name == prefix or name.startswith(prefix + ".") for name in _imports(path))
    }


def test_only_the_local_host_imports_azure_functions() -> None:
    """The core never imports azure.functions: only the local host builds the trigger inputs."""
    assert _importers_of("azure.functions") == {"runner_fleet.host.local"}


def test_azure_core_is_imported_only_by_the_azure_and_storage_adapters() -> None:
    """azure.core (errors, credentials, match conditions) stays in the adapters that talk to Azure."""
    outside = {
        module
        for module in _importers_of("azure.core")
        if not module.startswith(("runner_fleet.adapters.azure", "runner_fleet.adapters.storage"))
    }
    assert outside == set()


def test_the_rules_see_lazy_imports() -> None:
    """The scan finds an import made inside a function, so a lazy import cannot slip past it."""
    assert "runner_fleet.adapters.azure.clients" in _importers_of("runner_fleet.adapters.azure.credentials")
