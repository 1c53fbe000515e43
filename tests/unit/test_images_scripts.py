"""The runner start scripts, run for real by bash in a sandbox.

System commands that would act on the machine (shutdown, useradd, sudo, name resolution, downloads)
are stubs on PATH that record their calls; everything else (python3, tar, sha256sum, timeout) is real.
The sandbox lays out the files cloud-init would write, from the real rendered user data.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner_fleet.cloudinit import RunnerBootConfig, images_dir, render_user_data
from tests.builders import make_pool

JIT = "jit-config-value-7c1e-never-echoed"
TOKEN = "glrt-token-value-4b2d-never-echoed"
ZONE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
    "Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
)

STUBS = {
    # Power and accounts: recorded, never done.
    "shutdown": 'echo "shutdown $*" >>"$RF_TEST_CALLS"',
    "poweroff": 'echo "poweroff $*" >>"$RF_TEST_CALLS"',
    "useradd": 'echo "useradd $*" >>"$RF_TEST_CALLS"',
    "usermod": 'echo "usermod $*" >>"$RF_TEST_CALLS"',
    "chown": 'echo "chown $*" >>"$RF_TEST_CALLS"',
    "id": "exit 1",
    "ldconfig": 'echo "libicuuc.so.74 (libc6,x86-64) => /usr/lib/libicuuc.so.74"',
    # sudo: record the command line (it must never carry a secret), then run the command.
    "sudo": (
        'echo "sudo $*" >>"$RF_TEST_CALLS"\n'
        'case " $* " in *" -- "*) ;; *) exit 1 ;; esac\n'  # `sudo -l`: no rights listed
        'while [ "$1" != "--" ]; do shift; done; shift; exec "$@"'
    ),
    # Names resolve to RF_TEST_RESOLVE, or per name to the address RF_TEST_HOSTS ("name address" lines) gives.
    "getent": """case "$1" in
  ahostsv4)
    # The forge hosts in RF_TEST_FORGES answer on loopback, where the sandbox's forge listens.
    for forge in ${RF_TEST_FORGES:-}; do
      if [ "$forge" = "$2" ]; then echo "127.0.0.1 STREAM $2"; exit 0; fi
    done
    if [ -n "${RF_TEST_HOSTS:-}" ]; then
      awk -v name="$2" '$1 == name {print $2 " STREAM " name}' "$RF_TEST_HOSTS"
    elif [ -n "${RF_TEST_RESOLVE:-}" ]; then echo "$RF_TEST_RESOLVE STREAM $2"; fi ;;
  passwd) echo "$2:x:1001:1001::$RF_TEST_HOME:/bin/bash" ;;
  group) echo "$2:x:999:" ;;
  *) exit 2 ;;
esac""",
    # curl -fsSL ... -o DEST URL: "downloads" the file named by RF_TEST_DOWNLOAD.
    "curl": """dest=""; while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then dest=$2; shift; fi; shift; done
echo "curl $dest" >>"$RF_TEST_CALLS"
[ -n "${RF_TEST_DOWNLOAD:-}" ] && cp "$RF_TEST_DOWNLOAD" "$dest\"""",
}

# The runners themselves: they report what they were given, then finish like the real ones do.
GITHUB_RUN_SH = """#!/bin/bash
{ echo "argv=$*"; echo "jit=${ACTIONS_RUNNER_INPUT_JITCONFIG:-}"; } >"$RF_TEST_SEEN"
ls "$RF_TEST_ETC" >>"$RF_TEST_SEEN"
echo "2025-01-01 00:00:00Z: Job deploy completed with result: Succeeded"
"""
# gitlab-runner runs with a cleared environment: it reports to the file named in its own text.
GITLAB_RUNNER = """#!{python}
import json, os, stat, sys, tomllib
config = sys.argv[sys.argv.index("--config") + 1]
mode = stat.S_IMODE(os.stat(config).st_mode)
folder = stat.S_IMODE(os.stat(os.path.dirname(config)).st_mode)
seen = {{"argv": sys.argv[1:], "env": dict(os.environ), "config": tomllib.load(open(config, "rb")),
        "mode": mode, "dir_mode": folder, "etc": sorted(os.listdir({etc!r}))}}
json.dump(seen, open({seen!r}, "w"))
print("Job succeeded   duration_s=3.2 job=4242")
"""


@dataclass
class Run:
    code: int
    output: str
    console: str
    calls: str
    seen: str


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc"
        self.bin = root / "bin"
        self.copies = [root / "user-data.txt", root / "ovf-env.xml"]
        for directory in (self.etc, self.bin, root / "home"):
            directory.mkdir()
        for name, body in STUBS.items():
            self._executable(self.bin / name, f"#!/bin/bash\n{body}\n")
        # The forge: its hosts resolve to loopback, where this listener stands in for port 443.
        self.forge = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.forge.bind(("127.0.0.1", 0))
        self.forge.listen(16)
        self.env: dict[str, str] = {
            "RF_FORGE_PORT": str(self.forge.getsockname()[1]),
            "RF_TEST_FORGES": "github.com gitlab.example f.example x.example",
        }

    def close(self) -> None:
        self.forge.close()

    @staticmethod
    def _executable(path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def write_user_data(self, user_data: str, *, runner_path: Path) -> dict[str, Any]:
        """Write runner.json and runner.secret as cloud-init would, pointing runner_path into the sandbox."""
        files = {entry["path"]: entry for entry in yaml.safe_load(user_data)["write_files"]}
        conf: dict[str, Any] = json.loads(files["/etc/runner-fleet/runner.json"]["content"])
        conf["runner_path"] = str(runner_path)
        (self.etc / "runner.json").write_text(json.dumps(conf))
        secret = base64.b64decode(files["/etc/runner-fleet/runner.secret"]["content"])
        (self.etc / "runner.secret").write_bytes(secret)
        for copy in self.copies:
            copy.write_bytes(b"#cloud-config\n" + secret)
        return conf

    def prebake_github(self) -> Path:
        runner = self.root / "actions-runner"
        runner.mkdir()
        self._executable(runner / "run.sh", GITHUB_RUN_SH)
        return runner

    def prebake_gitlab(self) -> Path:
        binary = self.root / "gitlab-runner"
        text = GITLAB_RUNNER.format(
            python=sys.executable, etc=str(self.etc), seen=str(self.root / "seen.log")
        )
        self._executable(binary, text)
        return binary

    def run_prebaked(self, forge: str, user_data: str | None = None, **env: str) -> Run:
        """`run` on `user_data` (the forge's default) with the forge's runner baked into the image."""
        if forge == "github":
            self.write_user_data(user_data or _github_user_data(), runner_path=self.prebake_github())
        else:
            self.write_user_data(user_data or _gitlab_user_data(), runner_path=self.prebake_gitlab())
        return self.run(forge, **env)

    def run(self, forge: str, **env: str) -> Run:
        calls, seen, console = self.root / "calls.log", self.root / "seen.log", self.root / "console"
        for path in (calls, seen, console):
            path.write_text("")
        environment = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "RF_ETC": str(self.etc),
            "RF_LIB": str(images_dir() / "common" / "runner-lib.sh"),
            "RF_LOG_DIR": str(self.root / "log"),
            "RF_CONSOLES": str(console),
            "RF_USER_DATA_COPIES": " ".join(str(copy) for copy in self.copies),
            "RF_TEST_CALLS": str(calls),
            "RF_TEST_SEEN": str(seen),
            "RF_TEST_ETC": str(self.etc),
            "RF_TEST_HOME": str(self.root / "home"),
            "RF_GITLAB_DIR": str(self.root / "gitlab"),
            **self.env,
            **env,
        }
        script = images_dir() / forge / "start-runner.sh"
        result = subprocess.run(
            ["/bin/bash", str(script)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=self.root,
        )
        return Run(
            result.returncode,
            result.stdout + result.stderr,
            console.read_text(),
            calls.read_text(),
            seen.read_text(),
        )


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    yield box
    box.close()


def _github_user_data(forge_url: str = "https://github.com/example-org", **pool: Any) -> str:
    return render_user_data(
        RunnerBootConfig("github", "rf-aks-prod-0123456789", make_pool(**pool), forge_url, JIT)
    )


def _gitlab_user_data(forge_url: str = "https://gitlab.example") -> str:
    pool = make_pool("gl-aks", ("deploy",), forge="gitlab", github=None, gitlab={"group_id": 7})
    return render_user_data(RunnerBootConfig("gitlab", "rf-gl-aks-0123456789", pool, forge_url, TOKEN))


def _cluster() -> dict[str, Any]:
    return {"cluster": {"api_server_fqdn": "aks.privatelink.westeurope.azmk8s.io", "dns_zone_id": ZONE}}


@pytest.fixture
def api_server() -> Iterator[int]:
    """A TCP listener on loopback standing in for the private API server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield int(listener.getsockname()[1])


def test_github_runner_gets_the_jit_config_only_through_its_environment(sandbox: Sandbox) -> None:
    """The JIT config reaches run.sh in its environment, never on a command line, never in the output."""
    run = sandbox.run_prebaked("github")
    assert run.code == 0, run.output
    assert f"jit={JIT}" in run.seen
    assert "argv=\n" in run.seen
    assert JIT not in run.output + run.console + run.calls
    assert "sudo -H -u runner --preserve-env=ACTIONS_RUNNER_INPUT_JITCONFIG" in run.calls


def test_github_secret_and_user_data_copies_are_gone_before_the_job_runs(sandbox: Sandbox) -> None:
    """runner.secret and cloud-init's copies of the user data are deleted before run.sh starts."""
    run = sandbox.run_prebaked("github")
    assert "runner.secret" not in run.seen.splitlines()
    assert "runner.json" in run.seen.splitlines()
    assert not any(copy.exists() for copy in sandbox.copies)


def test_github_result_and_power_off_are_on_the_console(sandbox: Sandbox) -> None:
    """The job's result is written to the serial console, then the VM powers off."""
    run = sandbox.run_prebaked("github")
    assert "runner-fleet: result: job Succeeded (runner exit status 0)" in run.console
    assert "runner-fleet: powering off" in run.console
    assert "shutdown -h now" in run.calls


def test_unprivileged_user_is_created_when_missing(sandbox: Sandbox) -> None:
    """A missing runner user is created without sudo rights; the runner runs as that user."""
    run = sandbox.run_prebaked("github")
    assert "useradd --create-home --shell /bin/bash runner" in run.calls
    assert not [line for line in run.calls.splitlines() if line.startswith("usermod") and "sudo" in line]


def test_unresolvable_api_server_exits_early_without_registering(sandbox: Sandbox) -> None:
    """An API server name that does not resolve stops the VM before the runner starts, with the reason."""
    run = sandbox.run_prebaked("github", _github_user_data(**_cluster()))
    assert run.code == 1
    assert "does not resolve: is the private DNS zone linked to the runner VNet?" in run.console
    assert "early exit: not registering" in run.console
    assert "result: no job was run" in run.console
    assert run.seen == ""
    assert "shutdown -h now" in run.calls
    assert not (sandbox.etc / "runner.secret").exists()


def test_public_api_server_address_exits_early(sandbox: Sandbox) -> None:
    """An API server name that resolves to a public address is refused."""
    run = sandbox.run_prebaked("github", _github_user_data(**_cluster()), RF_TEST_RESOLVE="20.50.2.1")
    assert run.code == 1
    assert "resolves to public address 20.50.2.1" in run.console
    assert run.seen == ""


def test_reachable_api_server_lets_the_runner_start(sandbox: Sandbox, api_server: int) -> None:
    """A private address whose port answers passes the check and the runner starts."""
    conf = sandbox.write_user_data(_github_user_data(**_cluster()), runner_path=sandbox.prebake_github())
    conf["api_server"]["port"] = api_server
    (sandbox.etc / "runner.json").write_text(json.dumps(conf))
    run = sandbox.run("github", RF_TEST_RESOLVE="127.0.0.1")
    assert run.code == 0, run.output
    assert f"reachable at 127.0.0.1:{api_server}" in run.console
    assert f"jit={JIT}" in run.seen


def _runner_archive(tmp_path: Path) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        body = GITHUB_RUN_SH.encode()
        info = tarfile.TarInfo("run.sh")
        info.size, info.mode = len(body), 0o755
        archive.addfile(info, io.BytesIO(body))
    path = tmp_path / "actions-runner.tgz"
    path.write_bytes(buffer.getvalue())
    return path


def test_runner_is_downloaded_and_verified_when_not_prebaked(sandbox: Sandbox, tmp_path: Path) -> None:
    """Without a prebaked runner, the pinned download is fetched, checked against its SHA-256 and run."""
    archive = _runner_archive(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    user_data = _github_user_data(
        runner_download={"url": "https://mirror.example/runner.tgz", "sha256": digest}
    )
    sandbox.write_user_data(user_data, runner_path=tmp_path / "missing-runner")
    run = sandbox.run("github", RF_TEST_DOWNLOAD=str(archive))
    assert run.code == 0, run.output
    assert "downloading version" in run.console
    assert f"jit={JIT}" in run.seen


def test_checksum_mismatch_exits_early_and_runs_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    """A download whose SHA-256 differs from the pinned one is discarded and the VM stops with the reason."""
    archive = _runner_archive(tmp_path)
    user_data = _github_user_data(
        runner_download={"url": "https://mirror.example/runner.tgz", "sha256": "0" * 64}
    )
    sandbox.write_user_data(user_data, runner_path=tmp_path / "missing-runner")
    run = sandbox.run("github", RF_TEST_DOWNLOAD=str(archive))
    assert run.code == 1
    assert "checksum mismatch for https://mirror.example/runner.tgz" in run.console
    assert "early exit: could not get a verified runner" in run.console
    assert not (tmp_path / "missing-runner" / "run.sh").exists()
    assert not (sandbox.etc / "runner.secret").exists()


def test_no_runner_and_no_download_is_explained(sandbox: Sandbox, tmp_path: Path) -> None:
    """An arm64 pool without a prebaked runner or its own download says so on the console."""
    sandbox.write_user_data(_github_user_data(arch="arm64"), runner_path=tmp_path / "missing-runner")
    run = sandbox.run("github")
    assert run.code == 1
    assert "no prebaked runner" in run.console and "no download URL with a checksum" in run.console


def test_gitlab_runner_reads_its_token_from_a_root_only_file_never_env_or_argv(sandbox: Sandbox) -> None:
    """run-single gets the token only in a 0600 config file (0700 directory): not in env, argv or output."""
    run = sandbox.run_prebaked("gitlab")
    assert run.code == 0, run.output
    seen = json.loads(run.seen)
    config = seen["config"]["runners"][0]
    assert config["token"] == TOKEN and config["url"] == "https://gitlab.example"
    assert (config["executor"], config["custom"]["run_args"]) == ("custom", ["run"])
    assert (seen["mode"], seen["dir_mode"]) == (0o600, 0o700)
    assert seen["argv"][:3] == ["run-single", "--config", str(sandbox.root / "gitlab" / "config.toml")]
    assert seen["argv"][3:] == [
        "--runner",
        "rf-gl-aks-0123456789",
        "--max-builds",
        "1",
        "--wait-timeout",
        "600",
    ]
    assert TOKEN not in json.dumps(seen["env"]) + json.dumps(seen["argv"])
    assert seen["env"]["RF_JOB_USER"] == "gitlab-job"
    assert TOKEN not in run.output + run.console + run.calls
    assert "runner.secret" not in seen["etc"]
    assert not (sandbox.root / "gitlab" / "config.toml").exists()
    assert "runner-fleet: result: job succeeded" in run.console
    assert "shutdown -h now" in run.calls


def test_gitlab_job_user_is_created_outside_the_docker_group(sandbox: Sandbox) -> None:
    """GitLab's job user is created unprivileged and never added to the docker group; GitHub's runner is."""
    run = sandbox.run_prebaked("gitlab")
    assert "useradd --create-home --shell /bin/bash gitlab-job" in run.calls
    assert "usermod" not in run.calls
    assert "usermod -aG docker runner" in sandbox.run_prebaked("github").calls


def test_a_job_user_in_a_root_equivalent_group_stops_the_vm(sandbox: Sandbox) -> None:
    """If the image put the job user in the docker group, no runner starts: the console says why."""
    sandbox.write_user_data(_gitlab_user_data(), runner_path=sandbox.prebake_gitlab())
    sandbox.env["RF_PRIVILEGED_GROUPS"] = "docker"
    (sandbox.bin / "id").write_text(
        '#!/bin/bash\nif [ "$1" = "-nG" ]; then echo "gitlab-job docker"; else exit 0; fi\n'
    )
    run = sandbox.run("gitlab")
    assert run.code == 1
    assert "job user gitlab-job is in group docker, which is root-equivalent" in run.console
    assert run.seen == ""
    assert not (sandbox.etc / "runner.secret").exists()


def test_hostile_forge_url_stays_data_in_the_shell(sandbox: Sandbox) -> None:
    """A URL with quotes, $(...) and backticks reaches the runner verbatim and runs nothing."""
    marker = sandbox.root / "pwned"
    hostile = f"https://x.example/'\"; touch {marker}; $(touch {marker}) `touch {marker}` \\"
    run = sandbox.run_prebaked("gitlab", _gitlab_user_data(hostile))
    assert run.code == 0, run.output
    assert json.loads(run.seen)["config"]["runners"][0]["url"] == hostile
    assert not marker.exists()


ACR = "acrprod.azurecr.io"
ACR_DATA = "acrprod.westeurope.data.azurecr.io"
VAULT = "kv-prod.vault.azure.net"


def _with_endpoints(sandbox: Sandbox, forge: str, names: tuple[str, ...], port: int = 443) -> None:
    """runner.json as rendered for a pool (no private cluster) whose preflight found these endpoints,
    their port moved to `port`, and the forge's runner prebaked."""
    if forge == "github":
        pool, runner = make_pool(), sandbox.prebake_github()
    else:
        pool = make_pool("gl-aks", ("deploy",), forge="gitlab", github=None, gitlab={"group_id": 7})
        runner = sandbox.prebake_gitlab()
    secret = JIT if forge == "github" else TOKEN
    config = RunnerBootConfig(
        pool.forge, f"rf-{pool.name}-0123456789", pool, "https://f.example", secret, endpoints=names
    )
    conf = sandbox.write_user_data(render_user_data(config), runner_path=runner)
    conf["endpoints"] = [dict(entry, port=port) for entry in conf["endpoints"]]
    (sandbox.etc / "runner.json").write_text(json.dumps(conf))


def _hosts(sandbox: Sandbox, entries: dict[str, str]) -> dict[str, str]:
    """The getent stub's answers, one address per name; other names do not resolve."""
    path = sandbox.root / "hosts"
    path.write_text("".join(f"{name} {address}\n" for name, address in entries.items()))
    return {"RF_TEST_HOSTS": str(path)}


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _endpoint_lines(run: Run) -> list[str]:
    return [line for line in run.console.splitlines() if line.startswith("runner-fleet: endpoint ")]


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_reachable_endpoints_are_each_reported_and_the_runner_starts(
    sandbox: Sandbox, api_server: int, forge: str
) -> None:
    """Each endpoint resolving privately and answering is named on the console, after the API server check."""
    _with_endpoints(sandbox, forge, (ACR, ACR_DATA, VAULT), api_server)
    run = sandbox.run(forge, **_hosts(sandbox, {ACR: "127.0.0.1", ACR_DATA: "127.0.0.1", VAULT: "127.0.0.1"}))
    assert run.code == 0, run.output
    assert _endpoint_lines(run) == [
        f"runner-fleet: endpoint {ACR} reachable at 127.0.0.1:{api_server}",
        f"runner-fleet: endpoint {ACR_DATA} reachable at 127.0.0.1:{api_server}",
        f"runner-fleet: endpoint {VAULT} reachable at 127.0.0.1:{api_server}",
    ]
    console = run.console
    assert console.index("skipping the reachability check") < console.index("runner-fleet: endpoint ")
    if forge == "github":
        assert f"jit={JIT}" in run.seen
    else:
        assert json.loads(run.seen)["config"]["runners"][0]["token"] == TOKEN


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_an_unresolvable_endpoint_stops_the_vm_before_its_runner_registers(
    sandbox: Sandbox, forge: str
) -> None:
    """A name whose private zone is not linked: the console says so, no runner starts, the secret is gone."""
    _with_endpoints(sandbox, forge, (ACR,))
    run = sandbox.run(forge, **_hosts(sandbox, {}))
    assert run.code == 1
    assert _endpoint_lines(run) == [
        f"runner-fleet: endpoint {ACR} does not resolve: is its private DNS zone linked to the runner VNet?"
    ]
    refusal = "not registering" if forge == "github" else "not taking a job"
    assert (
        f"runner-fleet: early exit: {refusal}: this runner could not reach the private endpoints"
        in run.console
    )
    assert "runner-fleet: result: no job was run" in run.console
    assert run.seen == ""
    assert not (sandbox.etc / "runner.secret").exists()
    assert "shutdown -h now" in run.calls


def test_an_endpoint_resolving_to_a_public_address_is_refused(sandbox: Sandbox) -> None:
    """A name answered by public DNS (its zone not linked) resolves to the public address: refused."""
    _with_endpoints(sandbox, "github", (VAULT,))
    run = sandbox.run("github", **_hosts(sandbox, {VAULT: "20.61.4.9"}))
    assert run.code == 1
    assert _endpoint_lines(run) == [
        f"runner-fleet: endpoint {VAULT} resolves to public address 20.61.4.9, not its private endpoint"
    ]
    assert run.seen == ""


def test_every_failing_endpoint_is_named_not_only_the_first(
    sandbox: Sandbox, api_server: int, closed_port: int
) -> None:
    """One silent endpoint among answering ones: all are reported, the silent one with address and port."""
    _with_endpoints(sandbox, "github", (ACR, VAULT), closed_port)
    conf = json.loads((sandbox.etc / "runner.json").read_text())
    conf["endpoints"][1]["port"] = api_server
    (sandbox.etc / "runner.json").write_text(json.dumps(conf))
    run = sandbox.run("github", **_hosts(sandbox, {ACR: "127.0.0.1", VAULT: "127.0.0.1"}))
    assert run.code == 1
    assert _endpoint_lines(run) == [
        f"runner-fleet: endpoint {ACR} (127.0.0.1:{closed_port}) does not answer: "
        "check peering, NSG and routes",
        f"runner-fleet: endpoint {VAULT} reachable at 127.0.0.1:{api_server}",
    ]
    assert run.seen == ""


def test_without_endpoints_nothing_is_checked(sandbox: Sandbox) -> None:
    """A pool whose report names no endpoints: no endpoint line, and the runner starts."""
    _with_endpoints(sandbox, "github", ())
    run = sandbox.run("github", **_hosts(sandbox, {}))
    assert run.code == 0, run.output
    assert _endpoint_lines(run) == []
    assert f"jit={JIT}" in run.seen


def test_a_hostile_endpoint_name_stays_data_in_the_shell(sandbox: Sandbox) -> None:
    """A name with $(...), backticks and quotes is only ever an argument: nothing runs, nothing resolves."""
    marker = sandbox.root / "pwned"
    hostile = f"x.example$(touch${{IFS}}{marker})`touch${{IFS}}{marker}`';touch${{IFS}}{marker}'"
    _with_endpoints(sandbox, "github", (hostile,))
    run = sandbox.run("github", **_hosts(sandbox, {}))
    assert run.code == 1
    assert _endpoint_lines(run) == [
        f"runner-fleet: endpoint {hostile} does not resolve: "
        "is its private DNS zone linked to the runner VNet?"
    ]
    assert not marker.exists()


def test_an_endpoint_name_with_whitespace_refuses_the_whole_list(sandbox: Sandbox) -> None:
    """A name holding a newline is no DNS name: the runner refuses to start rather than check pieces of it."""
    _with_endpoints(sandbox, "github", (f"{ACR}\n{VAULT}",))
    run = sandbox.run("github", **_hosts(sandbox, {ACR: "127.0.0.1", VAULT: "127.0.0.1"}))
    assert run.code == 1
    assert "runner-fleet: runner.json lists an endpoint that is not a DNS name and port" in run.console
    assert _endpoint_lines(run) == []
    assert run.seen == ""


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_a_forge_that_does_not_resolve_stops_the_vm_before_anything_is_downloaded(
    sandbox: Sandbox, forge: str
) -> None:
    """No way out to the forge (here: its name does not resolve): named on the console, no runner."""
    run = sandbox.run_prebaked(forge, RF_TEST_FORGES="")
    host = "github.com" if forge == "github" else "gitlab.example"
    refusal = "not registering" if forge == "github" else "not taking a job"
    assert run.code == 1
    assert (
        f"runner-fleet: cannot reach {host}:{sandbox.env['RF_FORGE_PORT']}: it does not resolve"
        in run.console
    )
    assert f"runner-fleet: early exit: {refusal}: this runner cannot reach its forge" in run.console
    assert run.seen == "" and "curl" not in run.calls
    assert not (sandbox.etc / "runner.secret").exists()


def test_a_forge_that_does_not_answer_is_named_with_the_way_out_to_check(
    sandbox: Sandbox, closed_port: int
) -> None:
    """The name resolves but nothing answers on its port (a firewall drops it): the console says so."""
    run = sandbox.run_prebaked("github", RF_FORGE_PORT=str(closed_port))
    assert run.code == 1
    assert (
        f"runner-fleet: cannot reach github.com:{closed_port}: 127.0.0.1 does not answer: check the "
        "subnet's way out (NAT gateway, firewall rules)"
    ) in run.console
    assert run.seen == ""


def test_a_reachable_forge_is_reported_before_the_runner_starts(sandbox: Sandbox) -> None:
    """The forge answers: one line says so, then the runner runs."""
    run = sandbox.run_prebaked("github")
    assert run.code == 0, run.output
    assert (
        f"runner-fleet: forge github.com reachable at 127.0.0.1:{sandbox.env['RF_FORGE_PORT']}" in run.console
    )
