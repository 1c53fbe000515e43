"""The README lists every instrument as it is defined: name, kind, unit and attributes."""

from __future__ import annotations

from pathlib import Path

from runner_fleet.telemetry.metrics import INSTRUMENTS, PHASES, RUNNER_STATES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _section() -> str:
    start = README.index("## Metrics and traces")
    return README[start : README.index("\n## ", start + 1)]


def test_every_instrument_is_in_the_readme_with_its_kind_unit_and_attributes() -> None:
    """Each instrument has a row: its name, kind, unit and attributes as the code defines them."""
    rows = {
        line.split("|")[1].strip(" `"): line for line in _section().splitlines() if line.startswith("| `")
    }
    for spec in INSTRUMENTS:
        row = rows.get(spec.name)
        assert row is not None, spec.name
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert cells[1:4] == [spec.kind, f"`{spec.unit}`", ", ".join(spec.attributes)], spec.name


def test_the_readme_names_every_startup_phase_and_runner_state() -> None:
    """The phases and runner states an attribute can take are all documented."""
    section = _section()
    assert all(f"`{phase}`" in section for phase in PHASES)
    assert all(state in section for state in RUNNER_STATES)
