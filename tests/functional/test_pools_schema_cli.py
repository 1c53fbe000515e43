"""`runner-fleet pools --schema` on a machine with nothing configured, and the CI check for a stale schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "runner_fleet" / "defaults"
REGENERATE = "runner-fleet pools --schema > runner_fleet/defaults/pools.schema.json"
# Prints the schema through the CLI's entry point, then every Azure, forge and HTTP package loaded.
_PROBE = """
import contextlib, io, sys
from runner_fleet.cli import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        code = main(sys.argv[1:])
except SystemExit as exit:  # argparse: --help, usage errors
    code = exit.code
sys.stdout.write(out.getvalue())
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("azure", "github", "gitlab", "aiohttp"))
sys.stderr.write(" ".join(heavy))
sys.exit(code)
"""


def _bare_env(**extra: str) -> dict[str, str]:
    """An environment with no runner-fleet, forge or Azure settings at all."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep} | extra


def _pools(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, "pools", *args],
        capture_output=True,
        text=True,
        env=_bare_env(**env),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_schema_needs_no_settings_and_loads_no_sdk() -> None:
    """Nothing configured: `pools --schema` prints the committed schema and loads no Azure or forge SDK."""
    result = _pools("--schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (DEFAULTS / "pools.schema.json").read_text(encoding="utf-8")
    assert result.stderr == ""


def test_schema_ignores_broken_settings() -> None:
    """Settings that would fail start-up do not stop `pools --schema`: it reads none."""
    result = _pools("--schema", RUNNER_POOLS="not json", RUNNER_POOLS_FILE="/nonexistent.yaml")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "runner-fleet pools"


def test_schema_with_json_prints_the_same_schema() -> None:
    """`--schema --json` prints the same schema: it is JSON either way."""
    assert _pools("--schema", "--json").stdout == _pools("--schema").stdout


def test_schema_and_example_together_are_a_usage_error() -> None:
    """`--schema` with `--example` is refused with exit 2, naming both options."""
    result = _pools("--schema", "--example")
    assert result.returncode == 2
    assert "--example" in result.stderr and "--schema" in result.stderr


def test_pools_help_documents_schema() -> None:
    """`runner-fleet pools --help` lists --schema and says it needs no settings."""
    result = _pools("--help")
    assert result.returncode == 0
    assert "--schema" in result.stdout and "JSON Schema" in result.stdout and "no settings" in result.stdout


def _validate_schema(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "validate"), "schema"],
        capture_output=True,
        text=True,
        env=dict(os.environ, VALIDATE_ROOT=str(root)),
        timeout=120,
        check=False,
    )


def _tree(tmp_path: Path) -> Path:
    shutil.copytree(DEFAULTS, tmp_path / "runner_fleet" / "defaults")
    return tmp_path


def test_validate_passes_on_this_tree(tmp_path: Path) -> None:
    """`scripts/validate schema` passes when the committed schema is current and the example valid."""
    result = _validate_schema(_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schema: pools.schema.json is current" in result.stdout


def test_validate_fails_on_a_stale_schema_with_the_command_to_regenerate(tmp_path: Path) -> None:
    """A committed schema differing from the model fails the build with the diff and how to regenerate."""
    schema = _tree(tmp_path) / "runner_fleet" / "defaults" / "pools.schema.json"
    schema.write_text(schema.read_text().replace("The Azure subscription (GUID)", "The subscription"))
    result = _validate_schema(tmp_path)
    assert result.returncode == 1
    assert "+" in result.stdout and "The Azure subscription (GUID)" in result.stdout
    assert REGENERATE in result.stderr and "validate: FAILED: schema" in result.stderr


def test_validate_fails_when_the_example_pools_break_the_schema(tmp_path: Path) -> None:
    """An example pools file the schema refuses fails the build, naming the file and the field's path."""
    example = _tree(tmp_path) / "runner_fleet" / "defaults" / "example-pools.yaml"
    example.write_text(example.read_text().replace("max_runners: 8", "max_runners: eight", 1))
    result = _validate_schema(tmp_path)
    assert result.returncode == 1
    assert "example-pools.yaml: pools/0/limits/max_runners: 'eight' is not of type 'integer'" in result.stderr
