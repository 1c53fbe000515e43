"""The simulated cloud the demo, `serve --simulate`, e2e tests and benchmarks run against.

One background loop hosts the ARM simulator (HTTPS) and the GitHub simulator; `service_environment`
gives the settings that point the service's real clients at them.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from simulator.arm import ArmConfig, ArmSimulator, Timing
from simulator.clock import SimClock
from simulator.github import Account, GitHubSimConfig, GitHubSimulator, Repository, RunnerGroup
from simulator.gitlab import ApiToken, GitLabSimConfig, GitLabSimulator, Group, Project
from simulator.gitlab.config import OWNER, Member, User
from simulator.server import BackgroundLoop

DEMO_ORG = "example-org"
DEMO_REPOSITORIES = ("platform-deploy", "payments-api")
DEMO_INSTALLATION_ID = 83000001
# The runner groups the example and benchmark pools name: one per pool's reach, never the Default
# group. An org-wide pool's group admits every private repository; the others only theirs.
DEMO_GROUP_ORG_WIDE = 2
DEMO_GROUP_PLATFORM_DEPLOY = 3
DEMO_GROUP_OPS = 4
DEMO_GROUP_PAYMENTS = 5
DEMO_RUNNER_GROUPS = (
    RunnerGroup(DEMO_GROUP_ORG_WIDE, "aks-prod"),
    RunnerGroup(DEMO_GROUP_PLATFORM_DEPLOY, "aks-dev", "selected", (f"{DEMO_ORG}/platform-deploy",)),
    RunnerGroup(DEMO_GROUP_OPS, "aks-ops"),
    RunnerGroup(DEMO_GROUP_PAYMENTS, "payments", "selected", (f"{DEMO_ORG}/payments-api",)),
)
# GitLab: a group with a platform subgroup; the example GitLab pool serves the subgroup's projects.
DEMO_GITLAB_GROUP_ID = 201
DEMO_GITLAB_PROJECT_ID = 2101
DEMO_GITLAB_OTHER_PROJECT_ID = 2102
# Only the scopes and the role the service needs (a non-admin user, Owner of the top group, so of
# its subgroup: group runners need Owner): proof that they suffice.
DEMO_GITLAB_TOKEN = "glpat-simulated-least-privilege-token"  # noqa: S105 - accepted only by the simulator
DEMO_GITLAB_USER = "runner-fleet"


def demo_github_config(**overrides: object) -> GitHubSimConfig:
    """The GitHub the example pools expect: org `example-org` with the App installed."""
    values: dict[str, object] = {
        "accounts": (Account(DEMO_ORG, 81000001, "Organization"),),
        "repositories": tuple(
            Repository(DEMO_ORG, name, 82000001 + i) for i, name in enumerate(DEMO_REPOSITORIES)
        ),
        "installations": {DEMO_ORG: DEMO_INSTALLATION_ID},
        "runner_groups": DEMO_RUNNER_GROUPS,
        "job_duration_s": 60.0,
        "webhook_latency_s": 0.3,
    }
    return GitHubSimConfig(**(values | overrides))  # type: ignore[arg-type]


def demo_gitlab_config(**overrides: object) -> GitLabSimConfig:
    values: dict[str, object] = {
        "groups": (
            Group(200, "example-group", name="Example"),
            Group(DEMO_GITLAB_GROUP_ID, "platform", parent_id=200),
        ),
        "projects": (
            Project(DEMO_GITLAB_PROJECT_ID, "example-group/platform/deploy", DEMO_GITLAB_GROUP_ID),
            Project(DEMO_GITLAB_OTHER_PROJECT_ID, "example-group/website", 200),
        ),
        "users": (
            User(1, "root", "Administrator", "admin@example.com", admin=True),
            User(2, "deployer", "Deploy Bot", "deployer@example.com"),
            User(3, DEMO_GITLAB_USER, "runner-fleet service", "runner-fleet@example.com"),
        ),
        "members": (Member(DEMO_GITLAB_USER, "group", 200, OWNER),),
        "tokens": (
            ApiToken(
                DEMO_GITLAB_TOKEN, ("create_runner", "manage_runner", "read_api"), username=DEMO_GITLAB_USER
            ),
        ),
        "job_duration_s": 60.0,
        "webhook_latency_s": 0.3,
    }
    return GitLabSimConfig(**(values | overrides))  # type: ignore[arg-type]


@dataclass
class SimulatedCloud:
    loop: BackgroundLoop
    clock: SimClock
    arm: ArmSimulator
    github: GitHubSimulator
    gitlab: GitLabSimulator
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    gitlab_webhook_token: str = field(default_factory=lambda: secrets.token_hex(16))
    gitlab_signing_token: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    )

    @classmethod
    def start(
        cls,
        *,
        time_scale: float = 1.0,
        arm_config: ArmConfig | None = None,
        github_config: GitHubSimConfig | None = None,
        gitlab_config: GitLabSimConfig | None = None,
    ) -> SimulatedCloud:
        loop = BackgroundLoop()
        clock = SimClock(time_scale)
        try:
            arm = ArmSimulator(loop, clock=clock, config=arm_config or demo_arm_config())
            arm.start()
            github = GitHubSimulator(loop, clock=clock, config=github_config or demo_github_config())
            github.start()
            gitlab = GitLabSimulator(loop, clock=clock, config=gitlab_config or demo_gitlab_config())
            gitlab.start()
        except BaseException:
            loop.close()
            raise
        return cls(loop, clock, arm, github, gitlab)

    def service_environment(self) -> dict[str, str]:
        """Settings that point the service at the simulators (the environment may override them)."""
        return {
            "ARM_ENDPOINT": self.arm.base_url,
            "ARM_CA_BUNDLE": str(self.arm.ca_bundle),
            "GITHUB_API_URL": self.github.base_url,
            "GITHUB_APP_ID": str(self.github.app_id),
            "GITHUB_APP_PRIVATE_KEY": self.github.app_private_key_pem,
            "GITHUB_WEBHOOK_SECRET": self.webhook_secret,
            "GITLAB_URL": self.gitlab.base_url,
            "GITLAB_TOKEN": DEMO_GITLAB_TOKEN,
            "GITLAB_WEBHOOK_TOKEN": self.gitlab_webhook_token,
            "GITLAB_WEBHOOK_SIGNING_TOKEN": self.gitlab_signing_token,
        }

    def connect_webhooks(self, service_url: str, environment: dict[str, str]) -> None:
        """Point both forges' webhooks at the service, with the secrets the service was given."""
        self.github.add_webhook(f"{service_url}/api/github", environment["GITHUB_WEBHOOK_SECRET"])
        self.gitlab.add_webhook(
            f"{service_url}/api/gitlab",
            environment["GITLAB_WEBHOOK_TOKEN"],
            signing_token=environment.get("GITLAB_WEBHOOK_SIGNING_TOKEN") or None,
            scope=("group", 200),
        )

    def stop(self) -> None:
        try:
            self.gitlab.stop()
            self.github.stop()
            self.arm.stop()
        finally:
            self.loop.close()


def demo_arm_config() -> ArmConfig:
    """Azure-like timings in simulated seconds; the clock's time_scale makes them pass faster."""
    return ArmConfig(
        timing=Timing(
            latency_ms=(15.0, 60.0), provisioning_s=40.0, boot_s=25.0, delete_s=20.0, poll_interval_s=5.0
        )
    )
