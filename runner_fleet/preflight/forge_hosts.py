"""The Internet hosts a pool's runners must reach on TCP 443, by forge: what an egress path must allow.

GitHub.com: the hosts GitHub lists for self-hosted runners ("Communicating with self-hosted runners",
docs.github.com/actions/concepts/runners/communicating-with-self-hosted-runners): the three "needed
for essential operations", then those a job needs to download actions and upload its logs and
artifacts (without them a job starts and fails). The runner's own download is listed apart: a
prebaked image needs no such host. GitHub Enterprise Server: the instance's host only (its runners
talk to the instance). GitLab: the host of GITLAB_URL.

A name starting with "*." stands for any host under it (firewall rules must allow the wildcard or
the whole domain; one concrete name does not cover it). `probe_name` gives a concrete name a probe
VM can resolve and connect to for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings

Need = Literal["essential", "jobs", "runner-download"]

GITHUB_DOT_COM_API = "https://api.github.com"


@dataclass(frozen=True)
class ForgeHost:
    name: str  # a host name, or "*.domain" for any host under domain
    need: Need
    why: str

    @property
    def wildcard(self) -> bool:
        return self.name.startswith("*.")

    @property
    def probe_name(self) -> str:
        """A concrete host for a probe: the name itself, or a known host under a wildcard."""
        return _PROBE_NAMES.get(self.name, self.name)


GITHUB_HOSTS = (
    ForgeHost("github.com", "essential", "runner registration and git over HTTPS"),
    ForgeHost("api.github.com", "essential", "the runner's API calls"),
    ForgeHost("*.actions.githubusercontent.com", "essential", "job assignments, the broker, OIDC tokens"),
    ForgeHost("codeload.github.com", "jobs", "downloading actions"),
    ForgeHost("results-receiver.actions.githubusercontent.com", "jobs", "job logs, summaries, artifacts"),
    ForgeHost("*.blob.core.windows.net", "jobs", "job logs, artifacts and caches"),
    ForgeHost("objects.githubusercontent.com", "runner-download", "the runner release download"),
)

# Concrete names under the wildcards: the broker and pipelines hosts runners talk to.
_PROBE_NAMES = {
    "*.actions.githubusercontent.com": "broker.actions.githubusercontent.com",
    "*.blob.core.windows.net": "productionresultssa0.blob.core.windows.net",
}


def forge_hosts(pool: Pool, settings: ServiceSettings) -> tuple[ForgeHost, ...]:
    """The hosts the pool's runners need, most essential first."""
    if pool.forge == "gitlab":
        host = _host(settings.gitlab_url) or "gitlab.com"
        return (ForgeHost(host, "essential", "runner registration, job requests and logs"),)
    api = settings.github_api_url.rstrip("/")
    if api.lower() == GITHUB_DOT_COM_API:
        return GITHUB_HOSTS
    host = _host(api) or "github.com"
    return (ForgeHost(host, "essential", "GitHub Enterprise Server: registration, jobs, actions, logs"),)


def _host(url: str | None) -> str | None:
    if not url:
        return None
    return (urlsplit(url).hostname or "").lower() or None


def host_matches(pattern: str, host: str) -> bool:
    """Whether a firewall's FQDN pattern ("*", "*.domain", "name") covers a needed host or wildcard.

    A wildcard need ("*.domain") is covered only by a pattern covering every host under it: "*",
    the same wildcard, or a wildcard of a parent domain.
    """
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern == "*":
        return True
    if host.startswith("*."):
        if not pattern.startswith("*."):
            return False
        return host == pattern or host.endswith("." + pattern[2:])
    if pattern.startswith("*."):
        return host.endswith("." + pattern[2:])
    return host == pattern
