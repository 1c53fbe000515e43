"""scripts/validate fails the build when a deployable file is broken, and passes on this tree."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _validate(*checks: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if root is not None:
        env["VALIDATE_ROOT"] = str(root)
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "validate"), *checks],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the deployable files, to break."""
    for part in ("runner_images", "infra"):
        shutil.copytree(ROOT / part, tmp_path / part)
    return tmp_path


def test_this_tree_passes_shellcheck_and_packer() -> None:
    """The repository's own shell scripts and Packer template pass."""
    result = _validate("shellcheck", "packer")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validate: all checks passed" in result.stdout


def test_a_shell_script_finding_fails_the_build(tree: Path) -> None:
    """One ShellCheck finding in a runner script makes validate exit non-zero and name the file."""
    script = tree / "runner_images" / "github" / "start-runner.sh"
    script.write_text(script.read_text() + "\necho $unquoted_variable\n")
    result = _validate("shellcheck", root=tree)
    assert result.returncode == 1
    assert "start-runner.sh" in result.stdout and "SC2154" in result.stdout
    assert "validate: FAILED: shellcheck" in result.stderr


def test_a_broken_packer_template_fails_the_build(tree: Path) -> None:
    """A Packer template naming an option the Azure builder does not have makes validate fail."""
    template = tree / "runner_images" / "packer" / "runner-image.pkr.hcl"
    template.write_text(
        template.read_text().replace(
            "  vm_size                   = var.vm_size\n", "  vm_sise = var.vm_size\n"
        )
    )
    result = _validate("packer", root=tree)
    assert result.returncode == 1
    assert "vm_sise" in result.stdout + result.stderr


def test_a_failed_checkov_check_fails_the_build(tree: Path) -> None:
    """Bicep that lets storage accept TLS 1.0 fails checkov, and so validate."""
    service = tree / "infra" / "modules" / "service.bicep"
    service.write_text(
        service.read_text().replace("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")
    )
    result = _validate("checkov", root=tree)
    assert result.returncode == 1
    assert "failed: CKV_AZURE_44 Microsoft.Storage/storageAccounts.storage" in result.stderr


def test_a_bicep_parse_error_fails_the_build(tree: Path) -> None:
    """Bicep checkov cannot parse is a failure, not a silent pass."""
    (tree / "infra" / "modules" / "identity.bicep").write_text("resource broken 'x' = {\n")
    result = _validate("checkov", root=tree)
    assert result.returncode == 1
    assert "parse error" in result.stderr
