"""A pool: one kind of runner a platform admin offers, and where and how its VMs are made."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

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
# GitHub's `selected_workflows`: "a ref, tag, or long SHA is required".
_WORKFLOW_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/\.github/workflows/[^/@\s]+\.ya?ml@\S+$")
# GitHub's organisation runner group every org has, open to all its private repositories by default.
DEFAULT_RUNNER_GROUP_ID = 1

Label = Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitHubScope(_Strict):
    org: str = Field(min_length=1, max_length=39)
    # Empty: an org-level runner usable by every repository the runner group allows.
    repositories: tuple[str, ...] = ()
    repo_level: bool = False
    allow_default_runner_group: bool = False
    # The runner group decides who may use an org-level runner: any job its repositories run with
    # fitting labels takes it, before the job it was made for. So never the Default group (1), which
    # every private repository of the org may use, unless the admin says so. (Declared after the
    # fields its check reads.)
    runner_group_id: int = Field(default=DEFAULT_RUNNER_GROUP_ID, ge=1, validate_default=True)
    # Workflows (`owner/repo/.github/workflows/file.yml@ref`) the runner group must be restricted to,
    # exactly (checked before the first VM and by doctor); empty: no restriction is asked for.
    allowed_workflows: tuple[str, ...] = ()
    # Public repositories' jobs run code anyone can propose; never served unless asked for (and even
    # then never a pull request from a fork).
    allow_public_repositories: bool = False

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
    group_id: int | None = Field(default=None, ge=1)
    project_id: int | None = Field(default=None, ge=1)
    # These runners reach production clusters: by default only jobs of protected branches and tags
    # (which only Maintainers can push to) get one, for at most half an hour.
    access_level: Literal["not_protected", "ref_protected"] = "ref_protected"
    maximum_timeout_s: int = Field(default=1800, ge=600)

    @model_validator(mode="after")
    def _exactly_one_scope(self) -> GitLabScope:
        if (self.group_id is None) == (self.project_id is None):
            raise ValueError("set exactly one of group_id or project_id")
        return self


class AzurePlacement(_Strict):
    subscription_id: str
    resource_group: str = Field(min_length=1, max_length=90)
    location: str = Field(min_length=1)
    subnet_id: str
    vm_sizes: tuple[str, ...] = Field(min_length=1)
    image: str = "Canonical:ubuntu-24_04-lts:server:latest"
    os_disk: Literal["ephemeral", "managed"] = "ephemeral"
    os_disk_size_gb: int = Field(default=64, ge=30, le=2048)
    spot: bool = False
    spot_fallback_to_on_demand: bool = True
    admin_username: str = Field(default="runneradmin", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")

    @field_validator("subscription_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", value):
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
    aks_cluster_id: str | None = None
    api_server_fqdn: str | None = None
    dns_zone_id: str | None = None
    extra_dns_zone_ids: tuple[str, ...] = ()

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


class WarmWindow(_Strict):
    """A time in which the pool keeps `warm` runners: from each `start` firing to the next `end` one."""

    start: str
    end: str
    timezone: str
    warm: int = Field(ge=0)

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

    schedule: tuple[WarmWindow, ...]
    otherwise: int = Field(default=0, ge=0)

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

    min: int = Field(default=0, ge=0)
    max: int = Field(ge=0)
    # Idle VM time the pool may spend per UTC day on runners nobody used; past it, only `min` are kept.
    idle_budget_vm_hours_per_day: float = Field(gt=0)
    # How far back arrivals are counted for the arrival rate.
    window_s: float = Field(default=900, ge=60, le=86400)
    # The share of jobs that should find a runner waiting.
    target_hit_ratio: float = Field(default=0.9, ge=0.5, le=0.99)

    @model_validator(mode="after")
    def _ordered(self) -> WarmAuto:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) cannot exceed max ({self.max})")
        return self


class WarmAdaptive(_Strict):
    auto: WarmAuto


WarmSetting = int | WarmSchedule | WarmAdaptive
_WARM_FORMS = (
    "a number of runners, {schedule: [...], otherwise: N} or {auto: {min, max, idle_budget_vm_hours_per_day}}"
)


class Limits(_Strict):
    max_runners: int = Field(default=10, ge=1, le=1000)
    # Idle runners kept ready: a number, a schedule, or sized from demand (`runner_fleet/warm/`).
    warm: WarmSetting = 0
    idle_timeout_s: int = Field(default=600, ge=60)
    boot_timeout_s: int = Field(default=600, ge=60)
    max_lifetime_s: int = Field(default=6 * 3600, ge=600)

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

    # A mirror for networks without Internet egress: the pinned file's mirror path is appended.
    mirror_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Another build of the runner altogether (e.g. arm64): its own URL and SHA-256, both or neither.
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")

    @model_validator(mode="after")
    def _url_with_checksum(self) -> RunnerDownload:
        if (self.url is None) != (self.sha256 is None):
            raise ValueError("set url and sha256 together")
        if self.url is not None and self.mirror_url is not None:
            raise ValueError("set mirror_url or url, not both")
        return self


class Pool(_Strict):
    name: str
    forge: Forge
    labels: tuple[Label, ...] = Field(min_length=1)
    os: Literal["linux"] = "linux"
    arch: Literal["x64", "arm64"] = "x64"
    github: GitHubScope | None = None
    gitlab: GitLabScope | None = None
    azure: AzurePlacement
    cluster: PrivateCluster | None = None
    # Resource IDs of the private endpoints the pool's jobs use (Microsoft.Network/privateEndpoints),
    # or of a container registry or key vault whose private endpoints the preflight finds.
    private_endpoints: tuple[str, ...] = Field(default=(), max_length=MAX_PRIVATE_ENDPOINTS)
    limits: Limits = Limits()
    runner_download: RunnerDownload = RunnerDownload()

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
