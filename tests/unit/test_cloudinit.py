import base64
import json

import pytest
import yaml

from runner_fleet.cloudinit import (
    CUSTOM_DATA_LIMIT,
    RunnerBootConfig,
    UserDataTooLarge,
    render_user_data,
    to_custom_data,
)
from runner_fleet.settings.pool import Pool
from tests.builders import make_pool

JIT = base64.b64encode(b'{".runner": "x"}').decode()


def _files(user_data: str) -> dict[str, dict[str, str]]:
    assert user_data.startswith("#cloud-config\n")
    document = yaml.safe_load(user_data)
    return {entry["path"]: entry for entry in document["write_files"]}


def test_renders_runner_config_and_secret_files() -> None:
    """User data writes runner.json and a 0600 secret file, and runs the start script."""
    pool = make_pool(
        cluster={
            "api_server_fqdn": "c.privatelink.westeurope.azmk8s.io",
            "dns_zone_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/"
            "rg/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io",
        }
    )
    text = render_user_data(
        RunnerBootConfig("github", "rf-aks-prod-0123456789", pool, "https://github.com/o", JIT)
    )
    files = _files(text)
    conf = json.loads(files["/etc/runner-fleet/runner.json"]["content"])
    assert conf["runner_name"] == "rf-aks-prod-0123456789"
    assert conf["api_server"] == {"fqdn": "c.privatelink.westeurope.azmk8s.io", "port": 443}
    secret = files["/etc/runner-fleet/runner.secret"]
    assert secret["permissions"] == "0600"
    assert base64.b64decode(secret["content"]).decode() == JIT
    assert yaml.safe_load(text)["runcmd"] == [["/bin/bash", "/opt/runner-fleet/start-runner.sh"]]
    assert "run.sh" in files["/opt/runner-fleet/start-runner.sh"]["content"]


def test_renders_the_private_endpoints_into_runner_json() -> None:
    """Each endpoint name is in runner.json as {fqdn, port 443}, in order; none gives an empty list."""
    names = ("acrprod.azurecr.io", "acrprod.westeurope.data.azurecr.io", "kv-prod.vault.azure.net")
    for pool in (make_pool(), _gitlab_pool()):
        config = RunnerBootConfig(
            pool.forge, "rf-aks-prod-0123456789", pool, "https://f.example", JIT, endpoints=names
        )
        conf = json.loads(_files(render_user_data(config))["/etc/runner-fleet/runner.json"]["content"])
        assert conf["endpoints"] == [{"fqdn": name, "port": 443} for name in names]
    bare = RunnerBootConfig("github", "rf-aks-prod-0123456789", make_pool(), "https://f.example", JIT)
    assert (
        json.loads(_files(render_user_data(bare))["/etc/runner-fleet/runner.json"]["content"])["endpoints"]
        == []
    )


def _gitlab_pool() -> Pool:
    return make_pool("gl-aks", ("deploy",), forge="gitlab", github=None, gitlab={"group_id": 7})


def test_hostile_values_cannot_break_out_of_the_yaml() -> None:
    """A forge URL with YAML and shell metacharacters stays a plain string value."""
    hostile = "https://x/\n- path: /etc/passwd\n  content: 'pwned' $(id) `id`"
    text = render_user_data(RunnerBootConfig("github", "rf-aks-prod-0123456789", make_pool(), hostile, JIT))
    files = _files(text)
    assert set(files) == {
        "/etc/runner-fleet/runner.json",
        "/etc/runner-fleet/runner.secret",
        "/opt/runner-fleet/runner-lib.sh",
        "/opt/runner-fleet/start-runner.sh",
    }
    assert json.loads(files["/etc/runner-fleet/runner.json"]["content"])["forge_url"] == hostile


def test_secret_appears_only_base64_encoded() -> None:
    """The JIT config is never written in clear text into the document."""
    secret = "jit-config-that-must-not-appear-verbatim"
    text = render_user_data(RunnerBootConfig("github", "rf-aks-prod-0123456789", make_pool(), "u", secret))
    assert secret not in text


def test_oversized_user_data_is_refused() -> None:
    """User data over Azure's 64 KiB customData limit raises before any VM is created."""
    with pytest.raises(UserDataTooLarge):
        render_user_data(RunnerBootConfig("github", "n", make_pool(), "u", "x" * CUSTOM_DATA_LIMIT))


def test_custom_data_is_base64_of_the_user_data() -> None:
    """customData is the base64 of the rendered text."""
    assert base64.b64decode(to_custom_data("#cloud-config\n")).decode() == "#cloud-config\n"


def test_gitlab_user_data_runs_one_job_with_the_token_off_the_command_line() -> None:
    """GitLab user data runs run-single for one job with a wait timeout, its token in a config file,
    and writes the executor that runs the job as the unprivileged job user."""
    pool = make_pool(
        "gl-aks",
        ("aks-prod",),
        forge="gitlab",
        github=None,
        gitlab={"group_id": 7},
        limits={"idle_timeout_s": 900},
    )
    text = render_user_data(
        RunnerBootConfig("gitlab", "rf-gl-aks-0123456789", pool, "https://gitlab.example", "glrt-x" * 4)
    )
    files = _files(text)
    conf = json.loads(files["/etc/runner-fleet/runner.json"]["content"])
    assert (conf["forge"], conf["forge_url"], conf["wait_timeout_s"]) == (
        "gitlab",
        "https://gitlab.example",
        900,
    )
    assert conf["job_user"] == "gitlab-job"
    script = files["/opt/runner-fleet/start-runner.sh"]["content"]
    assert "run-single --config" in script and "--max-builds 1" in script and "--wait-timeout" in script
    assert "CI_SERVER_TOKEN" not in script and "--token" not in script
    executor = files["/opt/runner-fleet/gitlab-executor.sh"]
    assert executor["permissions"] == "0755" and "setpriv" in executor["content"]
    assert "glrt-x" not in text
