"""A GitLab job cannot get its runner's token by any route, shown on this machine's real Linux.

The real `runner_images/gitlab/start-runner.sh` and `gitlab-executor.sh` run as root in a private
mount and PID namespace (a copy of /etc, its own /home, /mnt and /proc, so the users it creates and
the processes it kills stay there), with a stand-in for `gitlab-runner run-single` that follows the
vendor's code (tests/e2e/gitlab_runner_standin.py), against the GitLab simulator. The job it takes
is hostile (tests/e2e/token_thief.py): it searches its environment, /proc, files, disks and every
route to root for a `glrt-` token and tries whatever it finds on `POST /jobs/request` to steal a
second pending job of another project, whose CI variables hold a deploy key. The service is not
running, so nothing deletes the registration early: the token is alive for the whole job.

Rule gitlab.runner-token.reusable (tests/simulator/test_gitlab_scheduling.py) is what makes a
stolen token worth stealing; the control test shows the thief does find and use a token that a
same-user process holds, which is how the old shell-executor design leaked it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
import yaml

from runner_fleet.cloudinit import RunnerBootConfig, images_dir, render_user_data
from simulator.clock import SimClock
from simulator.gitlab import GitLabSimConfig, GitLabSimulator
from simulator.gitlab.config import CiVariable
from simulator.server import BackgroundLoop
from tests.builders import make_pool

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
RUNNER_NAME = "rf-gl-aks-00c0ffee00"
DEPLOY_KEY = "victim-deploy-key-0f3a"
REPORT = "RF-THIEF-REPORT "

# Inside the namespaces: a private /etc (useradd writes there), /home, /mnt; cloud-init-like copies
# of the secret (root-only) for the start script to scrub. Everything else is the machine's own.
SANDBOX_SETUP = r"""
set -euo pipefail
sandbox=$1
shift
cp -a /etc "$sandbox/etc"
mount --bind "$sandbox/etc" /etc
mount -t tmpfs -o mode=0755 tmpfs /home
mount -t tmpfs -o mode=0755 tmpfs /mnt
install -d -m 0755 /etc/runner-fleet /mnt/cloud
install -m 0644 "$sandbox/runner.json" /etc/runner-fleet/runner.json
install -m 0600 "$sandbox/runner.secret" /etc/runner-fleet/runner.secret
rm -f "$sandbox/runner.secret"
for copy in user-data.txt cloud-config.txt obj.pkl; do
  install -m 0600 /etc/runner-fleet/runner.secret "/mnt/cloud/$copy"
done
exec "$@"
"""

# What the old design did: the runner process, with its token in its environment, ran as the job's
# own user. The thief runs as that user too.
CONTROL = r"""
set -euo pipefail
useradd --create-home --shell /bin/bash ci-user
CI_SERVER_TOKEN=$(cat /etc/runner-fleet/runner.secret) \
  setpriv --reuid=ci-user --regid=ci-user --init-groups -- sleep 60 &
setpriv --reuid=ci-user --regid=ci-user --init-groups --reset-env -- /usr/bin/python3 "$@"
"""

STUBS = {
    # Never act on the machine: the start script ends by powering the VM off.
    "shutdown": 'echo "shutdown $*" >>"$RF_TEST_CALLS"',
    "poweroff": 'echo "poweroff $*" >>"$RF_TEST_CALLS"',
}


def _as_root() -> list[str]:
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], check=False).returncode == 0:
        return [sudo, "-n", "-E"]
    pytest.fail("this test makes Linux users in a private mount namespace: run the suite as root (CI does)")


def _in_namespace(sandbox: Path, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    namespace = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--"]
    return subprocess.run(
        [*_as_root(), *namespace, "/bin/bash", "-c", SANDBOX_SETUP, "setup", str(sandbox), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def forge() -> Iterator[GitLabSimulator]:
    base = GitLabSimConfig()
    victim = dataclasses.replace(
        base.projects[1], variables=(CiVariable("DEPLOY_KEY", DEPLOY_KEY, protected=True),)
    )
    config = GitLabSimConfig(projects=(base.projects[0], victim, *base.projects[2:]))
    loop = BackgroundLoop("gitlab-isolation")
    sim = GitLabSimulator(loop, clock=SimClock(1.0), config=config)
    sim.start()
    yield sim
    sim.stop()
    loop.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    for name, body in STUBS.items():
        stub = tmp_path / "bin" / name
        stub.parent.mkdir(exist_ok=True)
        stub.write_text(f"#!/bin/bash\n{body}\n")
        stub.chmod(0o755)
    (tmp_path / "console").write_text("")
    standin = tmp_path / "gitlab-runner"
    shutil.copy(HERE / "gitlab_runner_standin.py", standin)
    standin.chmod(0o755)
    return tmp_path


def _register(sim: GitLabSimulator) -> tuple[int, str]:
    client = gitlab.Gitlab(sim.base_url, private_token=sim.token)
    client.auth()
    assert client.user is not None
    created = client.user.runners.create(
        {"runner_type": "group_type", "group_id": 100, "tag_list": ["deploy"], "run_untagged": False}
    )
    return int(created.id), str(created.token)


def _write_boot_files(sandbox: Path, sim: GitLabSimulator, token: str) -> None:
    """runner.json and runner.secret exactly as the rendered cloud-init writes them, pointed here."""
    pool = make_pool("gl-aks", ("deploy",), forge="gitlab", github=None, gitlab={"group_id": 100})
    user_data = render_user_data(RunnerBootConfig("gitlab", RUNNER_NAME, pool, sim.base_url, token))
    files = {entry["path"]: entry for entry in yaml.safe_load(user_data)["write_files"]}
    conf: dict[str, Any] = json.loads(files["/etc/runner-fleet/runner.json"]["content"])
    conf |= {"runner_path": str(sandbox / "gitlab-runner"), "wait_timeout_s": 60, "api_server": None}
    (sandbox / "runner.json").write_text(json.dumps(conf))
    secret = sandbox / "runner.secret"
    secret.write_bytes(base64.b64decode(files["/etc/runner-fleet/runner.secret"]["content"]))
    secret.chmod(0o600)


def _thief_job_script(sim: GitLabSimulator) -> list[str]:
    code = base64.b64encode((HERE / "token_thief.py").read_bytes()).decode()
    return [f'echo {code} | base64 -d > "$HOME/thief.py"', f'python3 "$HOME/thief.py" {sim.base_url}']


def _environment(sandbox: Path) -> dict[str, str]:
    return {
        "PATH": f"{sandbox / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "RF_LIB": str(images_dir() / "common" / "runner-lib.sh"),
        "RF_EXECUTOR": str(images_dir() / "gitlab" / "gitlab-executor.sh"),
        "RF_GITLAB_DIR": "/mnt/runner-fleet",
        "RF_LOG_DIR": str(sandbox / "log"),
        "RF_CONSOLES": str(sandbox / "console"),
        "RF_USER_DATA_COPIES": "/mnt/cloud/user-data.txt /mnt/cloud/cloud-config.txt /mnt/cloud/obj.pkl",
        "RF_TEST_CALLS": str(sandbox / "calls"),
    }


def _report(text: str) -> dict[str, Any]:
    line = next(line for line in text.splitlines() if line.startswith(REPORT))
    parsed: dict[str, Any] = json.loads(line.removeprefix(REPORT))
    return parsed


def test_a_gitlab_job_finds_no_runner_token_by_any_route(forge: GitLabSimulator, sandbox: Path) -> None:
    """Environment, /proc, files, disks, sudo, su, Docker: the job finds no live token and steals no job."""
    thief = forge.create_job(1001, ["deploy"], script=_thief_job_script(forge), duration_s=3600)
    victim = forge.create_job(1002, ["deploy"], duration_s=3600)
    runner_id, token = _register(forge)
    _write_boot_files(sandbox, forge, token)

    start = images_dir() / "gitlab" / "start-runner.sh"
    run = _in_namespace(sandbox, ["/bin/bash", str(start)], _environment(sandbox))

    log = (sandbox / "log" / "runner.log").read_text()
    assert run.returncode == 0, run.stdout + run.stderr + log
    report = _report(log)
    assert token not in report["found_full"], report["tokens_found"]
    assert all(attempt["job_taken"] is None for attempt in report["attempts"]), report["attempts"]
    assert forge.job(victim["id"])["status"] == "pending"
    assert (forge.job(thief["id"])["status"], forge.job(thief["id"])["runner_id"]) == ("success", runner_id)
    # It really looked, as a real job, with nothing of the runner's environment.
    assert report["uid"] != 0 and report["euid"] != 0
    assert "CI_JOB_TOKEN" in report["environment_keys"]
    assert not [key for key in report["environment_keys"] if key.startswith(("CUSTOM_ENV_", "RF_"))]
    assert report["proc"]["other_users_processes"] > 0
    assert report["proc"]["other_users_environ_readable"] == 0
    assert report["proc"]["other_users_mem_opened"] == 0
    assert report["files"]["read"] > 100 and report["files"]["denied"] > 0
    assert report["devices_readable"] == []
    assert not any(report["privilege"].values()), report["privilege"]
    assert token not in log
    assert "runner-fleet: result: job succeeded" in (sandbox / "console").read_text()


def test_the_thief_finds_and_uses_a_token_held_by_a_process_of_its_own_user(
    forge: GitLabSimulator, sandbox: Path
) -> None:
    """Control: with the token in the environment of a same-user process, the thief takes the victim's job."""
    victim = forge.create_job(1002, ["deploy"], duration_s=3600)
    _, token = _register(forge)
    _write_boot_files(sandbox, forge, token)
    thief = sandbox / "thief.py"
    shutil.copy(HERE / "token_thief.py", thief)
    thief.chmod(0o755)
    readable = Path("/mnt/thief.py")  # copied there inside the namespace: the sandbox is root-only

    script = f"install -m 0755 {thief} {readable}\n{CONTROL}"
    command = ["/bin/bash", "-c", script, "control", str(readable), forge.base_url]
    run = _in_namespace(sandbox, command, _environment(sandbox))

    assert run.returncode == 0, run.stdout + run.stderr
    report = _report(run.stdout)
    assert token in report["found_full"]
    assert any(a["status"] == 201 and a["job_taken"] == victim["id"] for a in report["attempts"])
    assert forge.job(victim["id"])["status"] == "running"
