"""The simulated cloud the demo, `serve --simulate`, e2e tests and benchmarks run against.

One background loop hosts the ARM simulator (HTTPS) and the GitHub simulator; `service_environment`
gives the settings that point the service's real clients at them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from simulator.arm import ArmConfig, ArmSimulator, Timing
from simulator.clock import SimClock
from simulator.github import Account, GitHubSimConfig, GitHubSimulator, Repository
from simulator.server import BackgroundLoop

DEMO_ORG = "example-org"
DEMO_REPOSITORIES = ("platform-deploy", "payments-api")
DEMO_INSTALLATION_ID = 83000001


def demo_github_config(**overrides: object) -> GitHubSimConfig:
    """The GitHub the example pools expect: org `example-org` with the App installed."""
    values: dict[str, object] = {
        "accounts": (Account(DEMO_ORG, 81000001, "Organization"),),
        "repositories": tuple(
            Repository(DEMO_ORG, name, 82000001 + i) for i, name in enumerate(DEMO_REPOSITORIES)
        ),
        "installations": {DEMO_ORG: DEMO_INSTALLATION_ID},
        "job_duration_s": 60.0,
        "webhook_latency_s": 0.3,
    }
    return GitHubSimConfig(**(values | overrides))  # type: ignore[arg-type]


@dataclass
class SimulatedCloud:
    loop: BackgroundLoop
    clock: SimClock
    arm: ArmSimulator
    github: GitHubSimulator
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(16))

    @classmethod
    def start(
        cls,
        *,
        time_scale: float = 1.0,
        arm_config: ArmConfig | None = None,
        github_config: GitHubSimConfig | None = None,
    ) -> SimulatedCloud:
        loop = BackgroundLoop()
        clock = SimClock(time_scale)
        try:
            arm = ArmSimulator(loop, clock=clock, config=arm_config or demo_arm_config())
            arm.start()
            github = GitHubSimulator(loop, clock=clock, config=github_config or demo_github_config())
            github.start()
        except BaseException:
            loop.close()
            raise
        return cls(loop, clock, arm, github)

    def service_environment(self) -> dict[str, str]:
        """Settings that point the service at the simulators (the environment may override them)."""
        return {
            "ARM_ENDPOINT": self.arm.base_url,
            "ARM_CA_BUNDLE": str(self.arm.ca_bundle),
            "GITHUB_API_URL": self.github.base_url,
            "GITHUB_APP_ID": str(self.github.app_id),
            "GITHUB_APP_PRIVATE_KEY": self.github.app_private_key_pem,
            "GITHUB_WEBHOOK_SECRET": self.webhook_secret,
        }

    def stop(self) -> None:
        try:
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
