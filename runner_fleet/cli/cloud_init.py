"""`runner-fleet cloud-init --pool NAME`: a pool's user data as a VM would get it, secrets replaced.

For admins to read what a runner VM runs, and for CI to check every template with `cloud-init schema`.
The runner name and the secret are placeholders; the forge URL is the one the service would use.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from runner_fleet.cloudinit import RunnerBootConfig, render_user_data, to_custom_data
from runner_fleet.settings import Pool, ServiceSettings, load_pools, load_service_settings

PLACEHOLDER_SECRETS = {
    "github": "PLACEHOLDER-encoded-jit-config",
    "gitlab": "glrt-PLACEHOLDER-runner-authentication-token",
}
PLACEHOLDER_RUNNER_SUFFIX = "0000000000"


def forge_url(pool: Pool, settings: ServiceSettings) -> str:
    """The URL runner.json names, as the forge adapters compute it."""
    if pool.gitlab is not None:
        return settings.gitlab_url or "https://gitlab.com"
    assert pool.github is not None  # a pool has exactly one forge scope
    parts = urlsplit(settings.github_api_url)
    host = "https://github.com" if parts.netloc == "api.github.com" else f"{parts.scheme}://{parts.netloc}"
    return f"{host}/{pool.registration_repository or pool.github.org}"


def placeholder_user_data(pool: Pool, settings: ServiceSettings) -> str:
    config = RunnerBootConfig(
        forge=pool.forge,
        runner_name=f"rf-{pool.name}-{PLACEHOLDER_RUNNER_SUFFIX}",
        pool=pool,
        forge_url=forge_url(pool, settings),
        secret=PLACEHOLDER_SECRETS[pool.forge],
    )
    return render_user_data(config)


def run(args: argparse.Namespace) -> int:
    settings = load_service_settings()
    pools = load_pools(settings, use_example=args.example, require_credentials=False)
    chosen = next((pool for pool in pools if pool.name == args.pool), None)
    if chosen is None:
        names = ", ".join(pool.name for pool in pools)
        print(f"runner-fleet: no pool named {args.pool!r} (pools: {names})", file=sys.stderr)
        return 2
    user_data = placeholder_user_data(chosen, settings)
    if args.base64:
        print(to_custom_data(user_data))
    else:
        print(user_data, end="")
    print(
        f"runner-fleet: {len(user_data.encode())} bytes of user data; the secret in runner.secret "
        "is a placeholder",
        file=sys.stderr,
    )
    return 0
