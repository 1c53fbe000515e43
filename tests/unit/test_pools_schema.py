"""The pools file's JSON Schema: generated from the model, committed, described, agreeing with start-up."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from runner_fleet.settings.load import example_pools_text
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.schema import REGENERATE, pools_schema, pools_schema_text, shipped_schema_text
from tests.builders import SUBNET, SUBSCRIPTION, pool_dict

DEFAULTS = Path(__file__).resolve().parents[2] / "runner_fleet" / "defaults"
RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-aks/providers"
ZONE = f"{RG}/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
AKS = f"{RG}/Microsoft.ContainerService/managedClusters/aks-prod"
ACR = f"{RG}/Microsoft.ContainerRegistry/registries/acrprod"
SHA = "ab" * 32
WINDOW = {"start": "30 7 * * 1-5", "end": "0 18 * * 1-5", "timezone": "Europe/Berlin", "warm": 2}


def _schema_errors(entry: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(pools_schema())
    return [error.message for error in validator.iter_errors({"pools": [entry]})]


def _model_accepts(entry: dict[str, Any]) -> bool:
    try:
        Pool.model_validate(entry)
    except ValidationError:
        return False
    return True


def _gitlab(**scope: Any) -> dict[str, Any]:
    return pool_dict(forge="gitlab", github=None, gitlab=scope)


def _with(path: str, value: Any, entry: dict[str, Any] | None = None) -> dict[str, Any]:
    """The builder's pool with one value set at a dotted path."""
    data = copy.deepcopy(entry if entry is not None else pool_dict())
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return data


ACCEPTED = {
    "the builders' pool": pool_dict(),
    "resource IDs in any case": _with(
        "azure.subnet_id",
        SUBNET.replace("resourceGroups", "resourcegroups").replace("Microsoft", "microsoft"),
    ),
    "a gitlab project": _gitlab(project_id=7, access_level="not_protected"),
    "a gitlab group with github: null": {**_gitlab(group_id=201), "github": None},
    "a repository-level runner in the Default group": _with(
        "github", {"org": "example-org", "repositories": ["deploy"], "repo_level": True}
    ),
    "the Default group when allowed": _with(
        "github", {"org": "example-org", "allow_default_runner_group": True}
    ),
    "workflow refs": _with(
        "github.allowed_workflows", ["example-org/deploy/.github/workflows/deploy.yml@main"]
    ),
    "a cluster by resource ID": _with("cluster", {"aks_cluster_id": AKS, "extra_dns_zone_ids": [ZONE]}),
    "a cluster by name and zone": _with(
        "cluster", {"api_server_fqdn": "aks.privatelink.io", "dns_zone_id": ZONE}
    ),
    "private endpoints": _with("private_endpoints", [ACR, f"{RG}/Microsoft.KeyVault/vaults/kv-prod"]),
    "a gallery image": _with(
        "azure.image", f"{RG}/Microsoft.Compute/galleries/gal/images/runner/versions/1.0.0"
    ),
    "a warm number": _with("limits", {"max_runners": 4, "warm": 2}),
    "a warm schedule": _with("limits", {"max_runners": 4, "warm": {"schedule": [WINDOW], "otherwise": 1}}),
    "warm auto": _with("limits.warm", {"auto": {"max": 3, "idle_budget_vm_hours_per_day": 8}}),
    "a runner build of its own": _with(
        "runner_download", {"url": "https://example.test/r.tgz", "sha256": SHA}
    ),
    "a runner mirror": _with("runner_download", {"mirror_url": "https://mirror.example.test/runners"}),
    "labels with . _ : -": _with("labels", ["aks-prod", "team_a:deploy.v2"]),
}

REJECTED = {
    "a wrong type": _with("limits.max_runners", "eight"),
    "a list given as a string": _with("azure.vm_sizes", "Standard_D2s_v5"),
    "an unknown field": _with("azure.vm_size", ["Standard_D2s_v5"]),
    "an unknown top-level field": _with("maxrunners", 3),
    "a VNet ID for the subnet": _with("azure.subnet_id", SUBNET.split("/subnets/")[0]),
    "a subnet ID of another provider": _with(
        "azure.subnet_id", SUBNET.replace("Microsoft.Network", "Microsoft.Compute")
    ),
    "a subscription that is no GUID": _with("azure.subscription_id", "my-subscription"),
    "a pool name with capitals": pool_dict("Aks_Prod"),
    "no labels": _with("labels", []),
    "a label with a space": _with("labels", ["aks prod"]),
    "the same label twice": _with("labels", ["aks-prod", "aks-prod"]),
    "no VM sizes": _with("azure.vm_sizes", []),
    "a VM size with a space": _with("azure.vm_sizes", ["Standard D2s"]),
    "an image that is neither URN nor ID": _with("azure.image", "ubuntu"),
    "an OS disk kind Azure lacks": _with("azure.os_disk", "premium"),
    "a github pool without its scope": _with("github", None),
    "a github pool with a gitlab scope": _with("gitlab", {"group_id": 1}),
    "a gitlab pool with a github scope": {
        **_gitlab(group_id=201),
        "github": {"org": "o", "runner_group_id": 2},
    },
    "the Default group by default": _with("github", {"org": "example-org"}),
    "the Default group by number": _with("github.runner_group_id", 1),
    "a repository-level runner for two repositories": _with(
        "github", {"org": "o", "repositories": ["a", "b"], "repo_level": True, "runner_group_id": 2}
    ),
    "a repository-level runner for none": _with(
        "github", {"org": "o", "repo_level": True, "runner_group_id": 2}
    ),
    "a workflow without a ref": _with(
        "github.allowed_workflows", ["example-org/deploy/.github/workflows/d.yml"]
    ),
    "a gitlab group and project": _gitlab(group_id=1, project_id=2),
    "a gitlab scope naming neither": _gitlab(access_level="ref_protected"),
    "a GitLab timeout under ten minutes": _gitlab(group_id=1, maximum_timeout_s=60),
    "a cluster name without its zone": _with("cluster", {"api_server_fqdn": "aks.privatelink.io"}),
    "a cluster ID of another kind": _with("cluster", {"aks_cluster_id": ZONE}),
    "a storage account as private endpoint": _with(
        "private_endpoints", [f"{RG}/Microsoft.Storage/storageAccounts/stdata"]
    ),
    "seventeen private endpoints": _with("private_endpoints", [f"{ACR}{i}" for i in range(17)]),
    "a negative warm count": _with("limits.warm", -1),
    "warm as a boolean": _with("limits.warm", True),
    "warm by schedule and auto at once": _with(
        "limits.warm", {"schedule": [WINDOW], "auto": {"max": 1, "idle_budget_vm_hours_per_day": 1}}
    ),
    "an empty warm schedule": _with("limits.warm", {"schedule": []}),
    "a cron of four fields": _with("limits.warm", {"schedule": [{**WINDOW, "start": "30 7 * *"}]}),
    "auto without a budget": _with("limits.warm", {"auto": {"max": 1}}),
    "max_runners of zero": _with("limits.max_runners", 0),
    "a runner URL without its checksum": _with("runner_download", {"url": "https://example.test/r.tgz"}),
    "a checksum without a URL": _with("runner_download", {"sha256": SHA}),
    "a runner URL beside a mirror": _with(
        "runner_download", {"url": "https://x.test/r.tgz", "sha256": SHA, "mirror_url": "https://m.test"}
    ),
}

# What JSON Schema cannot say; start-up refuses these with a message naming the pool and the field.
ONLY_AT_START_UP = {
    "a subnet in another subscription": _with(
        "azure.subnet_id", SUBNET.replace(SUBSCRIPTION, "00000000-0000-0000-0000-000000000002")
    ),
    "labels differing only in case": _with("labels", ["aks-prod", "AKS-PROD"]),
    "more warm runners than max_runners": _with("limits", {"max_runners": 2, "warm": 3}),
    "auto with min above max": _with(
        "limits.warm", {"auto": {"min": 3, "max": 2, "idle_budget_vm_hours_per_day": 1}}
    ),
    "an hour 25 in a cron": _with("limits.warm", {"schedule": [{**WINDOW, "start": "0 25 * * *"}]}),
    "a time zone that does not exist": _with(
        "limits.warm", {"schedule": [{**WINDOW, "timezone": "Mars/Olympus"}]}
    ),
}


def test_the_committed_schema_is_the_one_the_model_gives() -> None:
    """The shipped defaults/pools.schema.json is what `runner-fleet pools --schema` prints now."""
    assert shipped_schema_text() == pools_schema_text(), (
        f"runner_fleet/defaults/pools.schema.json is stale; regenerate it with: {REGENERATE}"
    )


def test_the_schema_is_a_draft_2020_12_schema_with_an_id_and_a_title() -> None:
    """The schema declares draft 2020-12, an $id and a title, and is valid under its meta-schema."""
    schema = pools_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (schema["$id"], schema["title"]) == ("urn:runner-fleet:pools", "runner-fleet pools")
    assert schema["required"] == ["pools"]


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "pools", schema["properties"]["pools"]
    for model, definition in schema["$defs"].items():
        yield model, definition
        for name, field in definition["properties"].items():
            yield f"{model}.{name}", field


def test_every_model_and_field_has_a_description() -> None:
    """Every model and every field of every model carries a description, and no field an echo of its name."""
    schema = pools_schema()
    undescribed = [where for where, node in _properties(schema) if not node.get("description", "").strip()]
    assert undescribed == []
    assert set(schema["$defs"]) >= {
        "Pool", "GitHubScope", "GitLabScope", "AzurePlacement", "PrivateCluster", "Limits",
        "WarmSchedule", "WarmWindow", "WarmAdaptive", "WarmAuto", "RunnerDownload",
    }  # fmt: skip
    assert not [where for where, node in _properties(schema) if "." in where and "title" in node]


def test_constraints_appear_in_the_schema() -> None:
    """Patterns, bounds, enums and required fields from the model and its validators are in the schema."""
    defs = pools_schema()["$defs"]
    azure, pool, limits = defs["AzurePlacement"]["properties"], defs["Pool"]["properties"], defs["Limits"]
    subnet = azure["subnet_id"]["pattern"]
    assert re.search(subnet, SUBNET.lower()) and not re.search(subnet, SUBNET.split("/subnets/")[0])
    assert pool["name"]["pattern"] == "^[a-z][a-z0-9-]{0,18}[a-z0-9]$"
    assert (azure["os_disk_size_gb"]["minimum"], azure["os_disk_size_gb"]["maximum"]) == (30, 2048)
    assert azure["os_disk"]["enum"] == ["ephemeral", "managed"]
    assert pool["private_endpoints"]["maxItems"] == 16
    max_runners = limits["properties"]["max_runners"]
    assert (max_runners["minimum"], max_runners["maximum"], max_runners["default"]) == (1, 1000, 10)
    assert set(defs["Pool"]["required"]) == {"name", "forge", "labels", "azure"}
    assert all(definition["additionalProperties"] is False for definition in defs.values())


def test_the_example_pools_name_the_schema_for_the_yaml_language_server() -> None:
    """The example pools file's first line points the YAML language server at the committed schema."""
    first = (DEFAULTS / "example-pools.yaml").read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, first
    assert (DEFAULTS / match[1]).resolve() == (DEFAULTS / "pools.schema.json").resolve()


def test_the_example_pools_validate_against_the_schema() -> None:
    """The built-in example pools file is valid under the committed schema."""
    schema = json.loads(shipped_schema_text())
    document = yaml.safe_load(example_pools_text())
    assert [error.message for error in Draft202012Validator(schema).iter_errors(document)] == []


@pytest.mark.parametrize("entry", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_the_schema_accepts_what_start_up_accepts(entry: dict[str, Any]) -> None:
    """A pool the model accepts is valid under the schema too (an editor never flags a good pool)."""
    assert _model_accepts(entry)
    assert _schema_errors(entry) == []


@pytest.mark.parametrize("entry", REJECTED.values(), ids=REJECTED.keys())
def test_the_schema_rejects_what_start_up_rejects(entry: dict[str, Any]) -> None:
    """A wrong type, an unknown field, a bad resource ID or a broken rule fails in the editor too."""
    assert not _model_accepts(entry)
    assert _schema_errors(entry) != []


@pytest.mark.parametrize("entry", ONLY_AT_START_UP.values(), ids=ONLY_AT_START_UP.keys())
def test_what_only_start_up_can_check(entry: dict[str, Any]) -> None:
    """Rules across fields or outside JSON Schema (a zone, a cron's ranges) are left to start-up."""
    assert _schema_errors(entry) == []
    assert not _model_accepts(entry)


def test_a_pools_file_needs_a_non_empty_pools_list() -> None:
    """The file's top level is `pools:` with at least one pool; other top-level keys (anchors) are allowed."""
    validator = Draft202012Validator(pools_schema())
    assert not validator.is_valid({})
    assert not validator.is_valid({"pools": []})
    assert validator.is_valid({"pools": [pool_dict()], "x-defaults": {"location": "westeurope"}})
