"""The pieces of one simulated GitLab that its HTTP routes share."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.gitlab.auth import Authenticator
from simulator.gitlab.ci import CiService
from simulator.gitlab.config import GitLabSimConfig
from simulator.gitlab.directory import Directory
from simulator.gitlab.representations import Representer


@dataclass
class GitLabContext:
    config: GitLabSimConfig
    directory: Directory
    auth: Authenticator
    ci: CiService
    urls: Representer
