"""Where OpenTelemetry may be imported in the product (`lint-imports` folds it into one package).

The core records through `runner_fleet.telemetry` (the OpenTelemetry API, imported lazily); only
`telemetry/setup.py` imports the SDK, the OTLP exporter and the Azure Monitor distro, which load
only when an exporter is configured. Every import counts, a lazy one inside a function included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import runner_fleet

PRODUCT = Path(runner_fleet.__file__).parent
ROOT = PRODUCT.parent


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """Each module `path` imports, and whether the import is at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, id(node) in top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, id(node) in top


def _importers(prefixes: tuple[str, ...], *, top_level_only: bool = False) -> set[str]:
    paths = [*PRODUCT.rglob("*.py"), *(ROOT / "functions").rglob("*.py"), ROOT / "function_app.py"]
    return {
        str(path.relative_to(ROOT))
        for path in paths
        if any(
            (name == prefix or name.startswith(prefix + ".")) and (at_top or not top_level_only)
            for name, at_top in _imports(path)
            for prefix in prefixes
        )
    }


def test_only_telemetry_setup_imports_the_sdk_the_exporters_and_the_distro() -> None:
    """The OpenTelemetry SDK, its exporters and the Azure Monitor distro: telemetry/setup.py alone."""
    assert _importers(("opentelemetry.sdk", "opentelemetry.exporter", "azure.monitor")) == {
        "runner_fleet/telemetry/setup.py"
    }


def test_only_the_telemetry_package_imports_opentelemetry_and_never_at_module_level() -> None:
    """The rest of the product records through runner_fleet.telemetry; no module imports
    OpenTelemetry when it is loaded, so a service without an exporter never loads it."""
    assert {
        path for path in _importers(("opentelemetry",)) if not path.startswith("runner_fleet/telemetry/")
    } == set()
    assert _importers(("opentelemetry", "azure.monitor"), top_level_only=True) == set()
