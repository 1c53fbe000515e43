"""A pool: one kind of runner a platform admin offers, and where and how its VMs are made."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.config import JsonDict

from runner_fleet.forges import Forge
from runner_fleet.warm import cron

# Pool names end up in VM names, tags and runner names: keep them short and DNS-safe.
POOL_NAME = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_SUBNET_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.Network/virtualNetworks/(?P<vnet>[^/]+)/subnets/(?P<subnet>[^/]+)$",
    re.IGNORECASE,
)
_AKS_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+"
    r"/providers/Microsoft\.ContainerService/managedClusters/[^/]+$",
    re.IGNORECASE,
)
_ZONE_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/[^/]+$",
    re.IGNORECASE,
)
# What a pool's jobs reach privately besides the API server: a private endpoint, or the registry or
# vault whose private endpoints the preflight finds.
_PRIVATE_ENDPOINT_TARGET = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/"
    r"(Microsoft\.Network/privateEndpoints|Microsoft\.ContainerRegistry/registries|Microsoft\.KeyVault/vaults)"
    r"/[^/]+$",
    re.IGNORECASE,
)
MAX_PRIVATE_ENDPOINTS = 16
# Labels reach GitHub, GitLab and VM tags; never a shell. Still, refuse anything exotic up front.
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_IMAGE_URN = re.compile(r"^[^:\s]+:[^:\s]+:[^:\s]+:[^:\s]+$")
_GALLERY_IMAGE = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\.Compute/", re.IGNORECASE
)
_VM_SIZE = re.compile(r"^[A-Za-z0-9_]+$")
_GUID = r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
# GitHub's `selected_workflows`: "a ref, tag, or long SHA is required".
_WORKFLOW_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/\.github/workflows/[^/@\s]+\.ya?ml@\S+$")
# GitHub's organisation runner group every org has, open to all its private repositories by default.
DEFAULT_RUNNER_GROUP_ID = 1


def _pattern(*regexes: re.Pattern[str]) -> str:
    """What any of `regexes` matches, as a JSON Schema (ECMA-262) pattern: named groups unnamed and
    IGNORECASE spelled out (`[sS]`), since a schema pattern takes no flags.

    Only the schema (`runner-fleet pools --schema`) reads it; the validators keep their own messages.
    Letters inside a character class are left alone, so a case-insensitive class must list both cases.
    """
    spelled = []
    for regex in regexes:
        source = re.sub(r"\(\?P<\w+>", "(?:", regex.pattern)
        if regex.flags & re.IGNORECASE:
            # Escapes and character classes are matched whole, so only literal letters are spelled out.
            source = re.sub(r"\\.|\[(?:\\.|[^\]])*\]|[A-Za-z]", _both_cases, source)
        spelled.append(source)
    return "|".join(spelled)


def _both_cases(match: re.Match[str]) -> str:
    text = match.group()
    return f"[{text.lower()}{text.upper()}]" if text.isalpha() else text


Label = Annotated[str, Field(min_length=1, max_length=100, json_schema_extra={"pattern": _pattern(_LABEL)})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitHubScope(_Strict):
    """Which GitHub jobs a pool serves, and where its runners register."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"repo_level": {"const": True}}, "required": ["repo_level"]},
                    "then": {
                        "required": ["repositories"],
                        "properties": {"repositories": {"minItems": 1, "maxItems": 1}},
                    },
                },
                {
                    "if": {
                        "properties": {
                            "repo_level": {"const": False},
                            "allow_default_runner_group": {"const": False},
                        }
                    },
                    "then": {
                        "required": ["runner_group_id"],
                        "properties": {"runner_group_id": {"not": {"const": DEFAULT_RUNNER_GROUP_ID}}},
                    },
                },
            ]
        }
    )

    org: str = Field(
        min_length=1,
        max_length=39,
        description="The GitHub organisation (its login) whose jobs the pool serves; runners register "
        "there unless repo_level.",
    )
    repositories: tuple[str, ...] = Field(
        default=(),
        description="Repositories (name or owner/name) whose jobs the pool serves; empty: every "
        "repository of the org. Who may take a runner is still decided by the runner group.",
    )
    repo_level: bool = Field(
        default=False,
        description="Register runners on the one repository in repositories instead of on the org; "
        "they then serve only it and need no runner group. Default false.",
    )
    allow_default_runner_group: bool = Field(
        default=False,
        description="Allow runner_group_id 1, the org's Default runner group, which every private "
        "repository of the org may use. Default false: refused.",
    )
    # The runner group decides who may use an org-level runner: any job its repositories run with
    # fitting labels takes it, before the job it was made for. So never the Default group (1), which
    # every private repository of the org may use, unless the admin says so. (Declared after the
    # fields its check reads.)
    runner_group_id: int = Field(
        default=DEFAULT_RUNNER_GROUP_ID,
        ge=1,
        validate_default=True,
        description="ID of the org's runner group the runners join (GET /orgs/{org}/actions/runner-groups); "
        "any job its repositories run with fitting labels may take them, so give each pool a group of its "
        "own whose repository access is exactly repositories (all repositories when none are listed) "
        "and public repositories off. Default 1, the Default group, is refused unless "
        "allow_default_runner_group or repo_level.",
    )
    allowed_workflows: tuple[
        Annotated[str, Field(json_schema_extra={"pattern": _pattern(_WORKFLOW_REF)})], ...
    ] = Field(
        default=(),
        description="Workflow refs (owner/repo/.github/workflows/<file>.yml@<ref>) the runner group "
        'must be restricted to, exactly ("Restricted to selected workflows"); checked before the first '
        "VM and by doctor. Empty: no restriction is asked for.",
    )
    allow_public_repositories: bool = Field(
        default=False,
        description="Serve jobs of public repositories, whose code anyone can propose (the runner group "
        "must allow public repositories too); a pull request from a fork never gets a runner. Default false.",
    )

    @field_validator("allowed_workflows")
    @classmethod
    def _workflow_refs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [ref for ref in value if not _WORKFLOW_REF.match(ref)]
        if bad:
            raise ValueError(
                f"not workflow refs of the form owner/repo/.github/workflows/<file>.yml@<ref>: {bad}"
            )
        return value

    @model_validator(mode="after")
    def _repo_level_needs_one_repo(self) -> GitHubScope:
        if self.repo_level and len(self.repositories) != 1:
            raise ValueError("repo_level runners need exactly one entry in repositories")
        return self

    @field_validator("runner_group_id")
    @classmethod
    def _not_the_default_group(cls, value: int, info: ValidationInfo) -> int:
        # Repository-level runners serve their one repository, whatever group they are in.
        if value != DEFAULT_RUNNER_GROUP_ID or info.data.get("repo_level"):
            return value
        if info.data.get("allow_default_runner_group"):
            return value
        raise ValueError(
            "group 1 is the org's Default runner group, which every private repository of the org "
            "may use: create a runner group for this pool's repositories and set its id here, or set "
            "allow_default_runner_group: true"
        )

    @property
    def repository_names(self) -> tuple[str, ...]:
        """The listed repositories as `owner/name`."""
        return tuple(r if "/" in r else f"{self.org}/{r}" for r in self.repositories)


class GitLabScope(_Strict):
    """Which GitLab jobs a pool serves: a group's or one project's."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["group_id"], "properties": {"group_id": {"type": "integer"}}},
                {"required": ["project_id"], "properties": {"project_id": {"type": "integer"}}},
            ]
        }
    )

    group_id: int | None = Field(
        default=None,
        ge=1,
        description="ID of the GitLab group whose projects (and its subgroups' projects) the pool serves; "
        "runners register on the group (the token's user needs Owner). Set this or project_id.",
    )
    project_id: int | None = Field(
        default=None,
        ge=1,
        description="ID of the one GitLab project the pool serves; runners register on it (the token's "
        "user needs Maintainer). Set this or group_id.",
    )
    # These runners reach production clusters: by default only jobs of protected branches and tags
    # (which only Maintainers can push to) get one, for at most half an hour.
    access_level: Literal["not_protected", "ref_protected"] = Field(
        default="ref_protected",
        description="The runners' access level: ref_protected (default) takes only jobs of protected "
        "branches and tags; not_protected takes a job of any branch of any project in scope, so only for "
        "pools whose cluster is not production.",
    )
    maximum_timeout_s: int = Field(
        default=1800,
        ge=600,
        description="The longest a job may hold a runner, in seconds (the runner's maximum_timeout); at "
        "least 600, default 1800.",
    )

    @model_validator(mode="after")
    def _exactly_one_scope(self) -> GitLabScope:
        if (self.group_id is None) == (self.project_id is None):
            raise ValueError("set exactly one of group_id or project_id")
        return self


class AzurePlacement(_Strict):
    """Where in Azure a pool's runner VMs are made, and of what."""

    subscription_id: str = Field(
        description="The Azure subscription (GUID) the runner VMs are created in.",
        json_schema_extra={"pattern": f"^{_GUID}$"},
    )
    resource_group: str = Field(
        min_length=1,
        max_length=90,
        description="The resource group, in subscription_id, of the runner VMs (and their NICs and disks).",
    )
    location: str = Field(
        min_length=1,
        description="The Azure region of the VMs, the subnet's region (e.g. westeurope).",
    )
    subnet_id: str = Field(
        description="Resource ID of the runner subnet (/subscriptions/<id>/resourceGroups/<rg>/providers/"
        "Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>), in subscription_id: a VM's network "
        "interface can only use a virtual network in its own subscription.",
        json_schema_extra={"pattern": _pattern(_SUBNET_ID)},
    )
    vm_sizes: tuple[Annotated[str, Field(json_schema_extra={"pattern": _pattern(_VM_SIZE)})], ...] = Field(
        min_length=1,
        description="VM sizes in order of preference (e.g. Standard_D2ads_v5); the next is tried when Azure "
        "refuses one for capacity or quota.",
    )
    image: str = Field(
        default="Canonical:ubuntu-24_04-lts:server:latest",
        description="A Marketplace image URN (publisher:offer:sku:version) or the resource ID of an image "
        "or Compute Gallery image version. Default: Ubuntu 24.04 LTS, on which the runner is downloaded "
        "at boot (see runner_download).",
        json_schema_extra={"pattern": _pattern(_IMAGE_URN, _GALLERY_IMAGE)},
    )
    os_disk: Literal["ephemeral", "managed"] = Field(
        default="ephemeral",
        description="ephemeral (default): the OS disk lives on the VM's host where the size allows it, "
        "else a managed disk; managed: always a managed disk. Deleted with the VM either way.",
    )
    os_disk_size_gb: int = Field(
        default=64, ge=30, le=2048, description="The OS disk's size in GB (30-2048, default 64)."
    )
    spot: bool = Field(
        default=False,
        description="Create Azure Spot VMs (cheaper, may be evicted) in every size before any on-demand "
        "one. Default false.",
    )
    spot_fallback_to_on_demand: bool = Field(
        default=True,
        description="With spot: when no size can be had as spot, try the sizes again on demand. "
        "Default true.",
    )
    admin_username: str = Field(
        default="runneradmin",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="The VM's Linux admin user (Azure requires one); its only SSH key has a private half "
        "nobody holds. Default runneradmin.",
    )

    @field_validator("subscription_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not re.fullmatch(_GUID, value):
            raise ValueError("must be a subscription GUID")
        return value.lower()

    @field_validator("subnet_id")
    @classmethod
    def _subnet(cls, value: str, info: ValidationInfo) -> str:
        match = _SUBNET_ID.match(value)
        if not match:
            raise ValueError(
                "must be a subnet resource ID (/subscriptions/.../virtualNetworks/<vnet>/subnets/<subnet>)"
            )
        # A VM's NIC is created in the VM's subscription, and Azure only attaches a NIC to a VNet in
        # its own subscription: a subnet elsewhere fails every VM create.
        vm_subscription = info.data.get("subscription_id")
        if vm_subscription is not None and match["sub"].lower() != vm_subscription:
            raise ValueError(
                f"is in subscription {match['sub'].lower()}, but the pool's VMs are created in "
                f"subscription {vm_subscription} (azure.subscription_id); a VM's network interface "
                "can only use a virtual network in its own subscription"
            )
        return value

    @field_validator("vm_sizes")
    @classmethod
    def _sizes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if not _VM_SIZE.match(s)]
        if bad:
            raise ValueError(f"not VM size names: {bad}")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not (_IMAGE_URN.match(value) or _GALLERY_IMAGE.match(value)):
            raise ValueError("must be publisher:offer:sku:version or an image / gallery image resource ID")
        return value


class PrivateCluster(_Strict):
    """The private AKS cluster a pool's jobs deploy to: found from its resource ID, or its API server's
    private name and private DNS zone."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["aks_cluster_id"], "properties": {"aks_cluster_id": {"type": "string"}}},
                {
                    "required": ["api_server_fqdn", "dns_zone_id"],
                    "properties": {
                        "api_server_fqdn": {"type": "string", "minLength": 1},
                        "dns_zone_id": {"type": "string"},
                    },
                },
            ]
        }
    )

    aks_cluster_id: str | None = Field(
        default=None,
        description="Resource ID of the AKS cluster (Microsoft.ContainerService/managedClusters), from which "
        "its API server's private name and DNS zone are read. Or set api_server_fqdn and dns_zone_id.",
        json_schema_extra={"pattern": _pattern(_AKS_ID)},
    )
    api_server_fqdn: str | None = Field(
        default=None,
        description="The API server's private name (e.g. <name>.privatelink.<region>.azmk8s.io); with "
        "aks_cluster_id it replaces the name read from the cluster.",
    )
    dns_zone_id: str | None = Field(
        default=None,
        description="Resource ID of the private DNS zone (Microsoft.Network/privateDnsZones) holding the API "
        "server's record, which must be linked to the runner VNet; with aks_cluster_id it replaces the "
        "cluster's zone.",
        json_schema_extra={"pattern": _pattern(_ZONE_ID)},
    )
    extra_dns_zone_ids: tuple[
        Annotated[str, Field(json_schema_extra={"pattern": _pattern(_ZONE_ID)})], ...
    ] = Field(
        default=(),
        description="Resource IDs of further private DNS zones the jobs need, each checked to be linked "
        "to the runner VNet (doctor's dns-link rows).",
    )

    @field_validator("aks_cluster_id")
    @classmethod
    def _aks(cls, value: str | None) -> str | None:
        if value is not None and not _AKS_ID.match(value):
            raise ValueError("must be a Microsoft.ContainerService/managedClusters resource ID")
        return value

    @field_validator("dns_zone_id")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not _ZONE_ID.match(value):
            raise ValueError("must be a Microsoft.Network/privateDnsZones resource ID")
        return value

    @field_validator("extra_dns_zone_ids")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for zone in value:
            if not _ZONE_ID.match(zone):
                raise ValueError(f"{zone!r} is not a Microsoft.Network/privateDnsZones resource ID")
        return value

    @model_validator(mode="after")
    def _one_way_to_find_the_cluster(self) -> PrivateCluster:
        if self.aks_cluster_id is None and not (self.api_server_fqdn and self.dns_zone_id):
            raise ValueError("set aks_cluster_id, or both api_server_fqdn and dns_zone_id")
        return self


_CRON: JsonDict = {"pattern": r"^\s*\S+(\s+\S+){4}\s*$"}


class WarmWindow(_Strict):
    """A time in which the pool keeps `warm` runners: from each `start` firing to the next `end` one."""

    start: str = Field(
        description="When the window starts: five-field cron (minute hour day-of-month month day-of-week, "
        "e.g. 30 7 * * 1-5) in timezone.",
        json_schema_extra=_CRON,
    )
    end: str = Field(
        description="When the window ends: five-field cron in timezone; the window is in force from a start "
        "firing until the next end firing.",
        json_schema_extra=_CRON,
    )
    timezone: str = Field(
        description="The IANA time zone the cron expressions are read in (e.g. Europe/Berlin, UTC).",
    )
    warm: int = Field(ge=0, description="Warm runners while the window is in force (at most max_runners).")

    @field_validator("start", "end")
    @classmethod
    def _cron(cls, value: str, info: ValidationInfo) -> str:
        parsed = cron.parse(value)
        if not parsed.fires_every_year():
            raise ValueError(
                f"{value!r} does not fire in every year, so the window would rarely if ever {info.field_name}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        cron.zone(value)
        return value

    def describe(self) -> str:
        return f"{self.start} .. {self.end} {self.timezone}"


class WarmSchedule(_Strict):
    """Warm runners by time: the largest `warm` of the windows in force, else `otherwise`."""

    schedule: tuple[WarmWindow, ...] = Field(
        description="The windows, at least one; where several are in force, the largest warm counts.",
        json_schema_extra={"minItems": 1},
    )
    otherwise: int = Field(
        default=0, ge=0, description="Warm runners when no window is in force (default 0)."
    )

    @field_validator("schedule")
    @classmethod
    def _some_window(cls, value: tuple[WarmWindow, ...]) -> tuple[WarmWindow, ...]:
        # Checked here rather than with min_length, which also complains when a window is invalid.
        if not value:
            raise ValueError("needs at least one window")
        return value

    @property
    def ceiling(self) -> int:
        return max(self.otherwise, *(window.warm for window in self.schedule))


class WarmAuto(_Strict):
    """Warm runners sized from the pool's recent demand (`runner_fleet/warm/auto.py` says how)."""

    min: int = Field(
        default=0, ge=0, description="Warm runners at least, also once the idle budget is spent (default 0)."
    )
    max: int = Field(ge=0, description="Warm runners at most (not above max_runners, not below min).")
    idle_budget_vm_hours_per_day: float = Field(
        gt=0,
        description="Idle VM time (VMs booting or waiting for a job, in VM-hours) the pool may spend per UTC "
        "day; once spent, only min runners are kept until midnight UTC.",
    )
    window_s: float = Field(
        default=900,
        ge=60,
        le=86400,
        description="How far back job arrivals are counted for the arrival rate, in seconds (60-86400, "
        "default 900).",
    )
    target_hit_ratio: float = Field(
        default=0.9,
        ge=0.5,
        le=0.99,
        description="The share of jobs that should find a runner waiting (0.5-0.99, default 0.9).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> WarmAuto:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) cannot exceed max ({self.max})")
        return self


class WarmAdaptive(_Strict):
    """Warm runners sized from demand."""

    auto: WarmAuto = Field(
        description="Warm runners sized from the pool's recent demand within a daily idle budget."
    )


WarmSetting = Annotated[int, Field(json_schema_extra={"minimum": 0})] | WarmSchedule | WarmAdaptive
_WARM_FORMS = (
    "a number of runners, {schedule: [...], otherwise: N} or {auto: {min, max, idle_budget_vm_hours_per_day}}"
)


class Limits(_Strict):
    """How many runners a pool has, how many wait warm, and how long each may live."""

    max_runners: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="The most runner VMs the pool has at once (1-1000, default 10); a job beyond it "
        "waits for a runner to free up and is never dropped.",
    )
    warm: WarmSetting = Field(
        default=0,
        description="Idle runners kept registered and waiting for jobs: a number (default 0), "
        "{schedule: [...], otherwise: N} by time, or {auto: {...}} sized from demand; never above "
        "max_runners.",
    )
    idle_timeout_s: int = Field(
        default=600,
        ge=60,
        description="Seconds a runner made for a job waits for one, and an idle runner beyond the warm "
        "target stays, before it is retired (at least 60, default 600).",
    )
    boot_timeout_s: int = Field(
        default=600,
        ge=60,
        description="Seconds a VM's runner has to come online; a VM whose runner has not is deleted "
        "(at least 60, default 600).",
    )
    max_lifetime_s: int = Field(
        default=6 * 3600,
        ge=600,
        description="Seconds after which a runner VM is deleted, even a busy one, and a warm runner retired "
        "for a fresh one (at least 600, default 21600 = 6 h).",
    )

    @field_validator("warm", mode="before")
    @classmethod
    def _warm_form(cls, value: object) -> object:
        # Chosen by shape, so that an error names the field inside the form the admin wrote
        # (`warm.schedule[0].start`) rather than listing how the value fails every form.
        if isinstance(value, bool) or not isinstance(value, int | dict | WarmSchedule | WarmAdaptive):
            raise ValueError(f"must be {_WARM_FORMS}")
        if isinstance(value, int) and value < 0:
            raise ValueError("must be at least 0")
        if isinstance(value, dict):
            if "auto" in value and "schedule" in value:
                raise ValueError("set schedule or auto, not both")
            if "auto" in value:
                return WarmAdaptive.model_validate(value)
            if "schedule" in value:
                return WarmSchedule.model_validate(value)
            raise ValueError(f"must be {_WARM_FORMS}")
        return value

    @model_validator(mode="after")
    def _warm_fits(self) -> Limits:
        too_many = [(where, count) for where, count in self._warm_counts() if count > self.max_runners]
        if too_many:
            named = ", ".join(f"{where} is {count}" if where else str(count) for where, count in too_many)
            raise ValueError(f"warm cannot exceed max_runners ({self.max_runners}): {named}")
        return self

    def _warm_counts(self) -> list[tuple[str, int]]:
        warm = self.warm
        if isinstance(warm, WarmSchedule):
            return [
                *((f"warm.schedule[{i}].warm", w.warm) for i, w in enumerate(warm.schedule)),
                ("warm.otherwise", warm.otherwise),
            ]
        if isinstance(warm, WarmAdaptive):
            return [("warm.auto.max", warm.auto.max)]
        return [("", warm)]

    @property
    def static_warm(self) -> int | None:
        """The configured number of warm runners; None when it follows a schedule or demand."""
        return self.warm if isinstance(self.warm, int) else None

    @property
    def warm_schedule(self) -> WarmSchedule | None:
        return self.warm if isinstance(self.warm, WarmSchedule) else None

    @property
    def warm_auto(self) -> WarmAuto | None:
        return self.warm.auto if isinstance(self.warm, WarmAdaptive) else None


class RunnerDownload(_Strict):
    """Where a VM without a prebaked runner fetches it (the pinned versions are in runner_images/)."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"required": ["url"], "properties": {"url": {"type": "string"}}},
            "then": {
                "required": ["sha256"],
                "properties": {"sha256": {"type": "string"}, "mirror_url": {"type": "null"}},
            },
            "else": {"properties": {"sha256": {"type": "null"}}},
        }
    )

    mirror_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="Base URL of a mirror for networks without Internet egress: the pinned file's "
        "mirror_path (runner_images/versions.json) is appended, and its pinned SHA-256 still checked.",
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="URL of another build of the runner altogether (e.g. arm64, which versions.json does not "
        "pin); set with sha256, not with mirror_url.",
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="The SHA-256 (hex) of the file at url; the VM refuses a download that does not match.",
    )

    @model_validator(mode="after")
    def _url_with_checksum(self) -> RunnerDownload:
        if (self.url is None) != (self.sha256 is None):
            raise ValueError("set url and sha256 together")
        if self.url is not None and self.mirror_url is not None:
            raise ValueError("set mirror_url or url, not both")
        return self


class Pool(_Strict):
    """One kind of runner a platform admin offers: the jobs it serves, and where and how its VMs are made."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"forge": {"const": forge}}, "required": ["forge"]},
                    "then": {
                        "required": [forge],
                        "properties": {forge: {"type": "object"}, other: {"type": "null"}},
                    },
                }
                for forge, other in (("github", "gitlab"), ("gitlab", "github"))
            ]
        }
    )

    name: str = Field(
        description="The pool's name, unique among pools: 2-20 characters of a-z, 0-9 and '-', starting with "
        "a letter; part of VM names, runner names and tags.",
        json_schema_extra={"pattern": _pattern(POOL_NAME)},
    )
    forge: Forge = Field(
        description="Whose jobs the pool serves: github (set github) or gitlab (set gitlab).",
    )
    labels: tuple[Label, ...] = Field(
        min_length=1,
        description="GitHub: the runner's labels; a job matches when its runs-on names at least one of "
        "them and nothing the pool lacks (self-hosted, the OS and the architecture are implied). GitLab: "
        "the runner's tags; a job's tags must all be here. Letters, digits and . _ : -, unique regardless "
        "of case.",
        json_schema_extra={"uniqueItems": True},
    )
    os: Literal["linux"] = Field(default="linux", description="The runners' operating system: linux.")
    arch: Literal["x64", "arm64"] = Field(
        default="x64",
        description="The CPU architecture of the VM sizes and image: x64 (default) or arm64, which needs a "
        "prebaked image or runner_download.url.",
    )
    github: GitHubScope | None = Field(
        default=None, description="For forge github: the org, repositories and runner group."
    )
    gitlab: GitLabScope | None = Field(
        default=None, description="For forge gitlab: the group or project, and which of its jobs get runners."
    )
    azure: AzurePlacement = Field(description="Where and how the runner VMs are made.")
    cluster: PrivateCluster | None = Field(
        default=None,
        description="The private AKS cluster the jobs deploy to, whose API server the preflight checks the "
        "runners can reach (and each VM before its runner registers).",
    )
    private_endpoints: tuple[
        Annotated[str, Field(json_schema_extra={"pattern": _pattern(_PRIVATE_ENDPOINT_TARGET)})], ...
    ] = Field(
        default=(),
        max_length=MAX_PRIVATE_ENDPOINTS,
        description="Resource IDs of what the jobs reach privately besides the API server: private "
        "endpoints (Microsoft.Network/privateEndpoints), or container registries "
        "(Microsoft.ContainerRegistry/registries) and key vaults (Microsoft.KeyVault/vaults) whose private "
        "endpoints the preflight finds; each checked like the API server. At most 16.",
        json_schema_extra={"uniqueItems": True},
    )
    limits: Limits = Field(
        default=Limits(), description="How many runners, how many kept warm, and how long they may live."
    )
    runner_download: RunnerDownload = Field(
        default=RunnerDownload(),
        description="Where a VM without a prebaked runner downloads it; default: the pinned URL in "
        "runner_images/versions.json.",
    )

    @field_validator("private_endpoints")
    @classmethod
    def _private_endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _PRIVATE_ENDPOINT_TARGET.match(item):
                raise ValueError(
                    f"{item!r} is not the resource ID of a private endpoint "
                    "(Microsoft.Network/privateEndpoints), a container registry "
                    "(Microsoft.ContainerRegistry/registries) or a key vault (Microsoft.KeyVault/vaults)"
                )
        lowered = [item.lower() for item in value]
        if len(set(lowered)) != len(lowered):
            raise ValueError("lists the same resource twice")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not POOL_NAME.match(value):
            raise ValueError("must be 2-20 characters of a-z, 0-9 and '-', starting with a letter")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [label for label in value if not _LABEL.match(label)]
        if bad:
            raise ValueError(f"labels may hold only letters, digits and . _ : - (got {bad})")
        lowered = [label.lower() for label in value]
        if len(set(lowered)) != len(lowered):
            raise ValueError("labels are case-insensitive and must be unique")
        return value

    @model_validator(mode="after")
    def _scope_matches_forge(self) -> Pool:
        if self.forge == "github" and (self.github is None or self.gitlab is not None):
            raise ValueError("a github pool needs a 'github' scope and no 'gitlab' scope")
        if self.forge == "gitlab" and (self.gitlab is None or self.github is not None):
            raise ValueError("a gitlab pool needs a 'gitlab' scope and no 'github' scope")
        return self

    @property
    def implied_labels(self) -> tuple[str, ...]:
        """Labels GitHub runners carry besides the configured ones (`self-hosted`, OS, architecture)."""
        return ("self-hosted", self.os, self.arch)

    @property
    def runner_labels(self) -> tuple[str, ...]:
        """Every label a runner of this pool registers with, implied ones first, without duplicates."""
        seen: dict[str, str] = {}
        for label in (*self.implied_labels, *self.labels):
            seen.setdefault(label.lower(), label)
        return tuple(seen.values())

    @property
    def registration_repository(self) -> str | None:
        """`owner/name` for repo-level GitHub runners; None where runners register on the org or group."""
        if self.github is None or not self.github.repo_level:
            return None
        repo = self.github.repositories[0]
        return repo if "/" in repo else f"{self.github.org}/{repo}"
