"""Who may do what, read from infra/'s Bicep: the app's identity holds blob roles only on the host's
containers (never on its code package), the runner-VM role only VM, NIC and disk actions, subnet
join only on the runner subnet, and Azure Policy denies runner VMs an identity and NICs a public IP."""

from __future__ import annotations

from typing import Any

import pytest

from runner_fleet import naming
from runner_fleet.adapters.azure.vm_body import OsDiskPlan, vm_body
from runner_fleet.ports.compute import VmSpec
from tests.builders import make_pool
from tests.functional.bicep import Opaque, Ref, Template

BLOB_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_ROLES = {BLOB_OWNER, BLOB_CONTRIBUTOR}
NO_PUBLIC_IP_ON_NIC = (
    "/providers/Microsoft.Authorization/policyDefinitions/83a86a26-fd1f-447c-b59d-e51f44264114"
)
SERVICE = Template("modules/service.bicep")
ROLE = Template("modules/provisioner-role.bicep")


def assignments(template: Template) -> list[dict[str, Any]]:
    document = template.document["resources"]
    kinds = [n for n, r in document.items() if r["type"] == "Microsoft.Authorization/roleAssignments"]
    return [c for name in kinds for c in template.configs(name)]


def scope_text(assignment: dict[str, Any]) -> str:
    scope = assignment.get("scope", "resourceGroup")
    return scope.text() if isinstance(scope, Opaque) else str(scope)


def role_of(assignment: dict[str, Any]) -> str:
    return str(assignment["properties"]["roleDefinitionId"]).rsplit("/", 1)[-1]


def test_the_apps_identity_has_blob_roles_only_on_the_hosts_containers() -> None:
    """Storage Blob Data Owner for the provisioner identity on azure-webjobs-hosts and -secrets alone."""
    blob = [a for a in assignments(SERVICE) if role_of(a) in BLOB_ROLES]
    mine = [a for a in blob if a["properties"]["principalId"] == Ref("identityPrincipalId")]
    assert [(role_of(a), scope_text(a)) for a in mine] == [(BLOB_OWNER, "hostContainer[index]")] * 2
    assert SERVICE.variable("hostContainers") == ["azure-webjobs-hosts", "azure-webjobs-secrets"]
    assert all(scope_text(a) != "storage" for a in blob)


def test_only_the_deployment_identity_may_touch_the_code_package() -> None:
    """app-package: Storage Blob Data Contributor for the deployment identity, which the platform uses."""
    package = [a for a in assignments(SERVICE) if scope_text(a) == "packageContainer"]
    assert [(role_of(a), a["properties"]["principalId"]) for a in package] == [
        (BLOB_CONTRIBUTOR, Ref("deployIdentityPrincipalId"))
    ]
    deployment = SERVICE.config("app")["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert deployment["authentication"]["userAssignedIdentityResourceId"] == Ref("deployIdentityId")
    settings = SERVICE.variable("baseSettings")
    assert settings["AZURE_CLIENT_ID"] == settings["AzureWebJobsStorage__clientId"] == Ref("identityClientId")


def test_the_runner_vm_role_holds_only_vm_nic_and_disk_actions() -> None:
    """The role on the runner resource group: no subnet join, no public IP, no reads of anything else."""
    [permissions] = ROLE.config("runnerVms")["properties"]["permissions"]
    prefixes = (
        "Microsoft.Compute/virtualMachines/",
        "Microsoft.Network/networkInterfaces/",
        "Microsoft.Compute/disks/",
    )
    assert permissions["actions"] and all(a.startswith(prefixes) for a in permissions["actions"])
    assert not any("*" in a for a in permissions["actions"])


def test_subnet_join_is_granted_on_the_runner_subnet_only() -> None:
    """subnets/join/action is its own role, assigned with the runner subnet as its scope."""
    [permissions] = ROLE.config("subnetJoin")["properties"]["permissions"]
    assert permissions["actions"] == ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    scopes = {scope_text(a): a for a in assignments(ROLE)}
    assert set(scopes) == {"resourceGroup", "subnet", "gallery", "vnet", "nsg"}
    assert ROLE.resource("subnet")["existing"] and ROLE.config("subnet")["name"] == Ref("subnetName")


def test_public_ips_on_nics_are_denied_by_the_built_in_policy() -> None:
    """The runner resource group carries the built-in "Network interfaces should not have public IPs"."""
    policy = Template("modules/runner-policy.bicep", {"prefix": "rf"})
    assert policy.config("denyPublicIp")["properties"]["policyDefinitionId"] == NO_PUBLIC_IP_ON_NIC
    module = Template("main.bicep").resource("runnerPolicy")["config"]
    assert module["scope"] == "runnerGroup"


def vm_request(identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The VM PUT the service sends, as Azure Policy sees it (type and body)."""
    spec = VmSpec(
        naming.runner_name("aks-prod", "github", "1"), make_pool(), "Standard_D2s_v5", "", {}, "ssh-ed25519 A"
    )
    body = vm_body(spec, OsDiskPlan(None, 64), network_api_version="2024-05-01")
    return {
        "type": "Microsoft.Compute/virtualMachines",
        **body,
        **({"identity": identity} if identity else {}),
    }


@pytest.mark.parametrize(
    ("identity", "denied"),
    [
        (None, False),
        ({"type": "None"}, False),
        ({"type": "SystemAssigned"}, True),
        ({"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/x/id": {}}}, True),
    ],
)
def test_the_custom_policy_denies_runner_vms_with_any_identity(
    identity: dict[str, Any] | None, denied: bool
) -> None:
    """The service's own VM body passes; any system- or user-assigned identity on it is denied."""
    rule = Template("main.bicep", {"prefix": "rf"}).config("noVmIdentity")["properties"]["policyRule"]
    assert rule["then"]["effect"] == "deny"
    assert matches(rule["if"], vm_request(identity)) is denied


def matches(condition: dict[str, Any], resource: dict[str, Any]) -> bool:
    """Azure Policy's condition semantics for what the rule uses: allOf, field with in, exists,
    notEquals (string comparisons ignore case; a missing field is null)."""
    if "allOf" in condition:
        return all(matches(c, resource) for c in condition["allOf"])
    value: Any = resource
    for part in condition["field"].split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if "exists" in condition:
        return (value is not None) == (str(condition["exists"]).lower() == "true")
    text = str(value).lower() if value is not None else None
    if "in" in condition:
        return text in [str(v).lower() for v in condition["in"]]
    if "notEquals" in condition:
        return text != str(condition["notEquals"]).lower()
    raise AssertionError(f"condition not understood: {condition}")


def test_gitlab_hooks_must_be_signed_unless_the_deployment_says_otherwise() -> None:
    """The GitLab settings carry GITLAB_WEBHOOK_SIGNING_TOKEN from Key Vault, on by default."""
    main = Template("main.bicep")
    assert main.document["parameters"]["gitlabWebhookSigning"]["default"] is True
    signing = SERVICE.variable("gitlabSigning")
    assert list(signing) == ["GITLAB_WEBHOOK_SIGNING_TOKEN"]
    assert "gitlab-webhook-signing-token" in str(signing["GITLAB_WEBHOOK_SIGNING_TOKEN"])
