"""Read and validate pool configuration, turning pydantic's errors into ones an admin can act on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from runner_fleet.settings.errors import SettingsError
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings

EXAMPLE_POOLS = "example-pools.yaml"


def load_service_settings(environ: Mapping[str, str] | None = None) -> ServiceSettings:
    import os

    source = dict(os.environ if environ is None else environ)
    try:
        return ServiceSettings.model_validate(source)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, prefix="setting")) from None


def load_pools(
    settings: ServiceSettings, *, use_example: bool = False, require_credentials: bool = True
) -> tuple[Pool, ...]:
    """The configured pools; the built-in example set when nothing is configured and `use_example`.

    With `require_credentials`, a pool whose forge has no credentials configured is an error.
    """
    if settings.runner_pools is not None and settings.runner_pools_file is not None:
        raise SettingsError("set RUNNER_POOLS or RUNNER_POOLS_FILE, not both")
    if settings.runner_pools is not None:
        raw = _parse(settings.runner_pools, "RUNNER_POOLS", allow_yaml=False)
    elif settings.runner_pools_file is not None:
        path = settings.runner_pools_file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"RUNNER_POOLS_FILE {str(path)!r} cannot be read: {exc.strerror}") from None
        raw = _parse(text, f"RUNNER_POOLS_FILE {str(path)!r}", allow_yaml=True)
    elif use_example:
        raw = _parse(example_pools_text(), "the built-in example pools", allow_yaml=True)
    else:
        raise SettingsError(
            "no pools configured: set RUNNER_POOLS (JSON) or RUNNER_POOLS_FILE (YAML or JSON)"
        )
    pools = parse_pools(raw)
    if require_credentials:
        check_credentials(settings, pools)
    return pools


def example_pools_text() -> str:
    return resources.files("runner_fleet.defaults").joinpath(EXAMPLE_POOLS).read_text(encoding="utf-8")


def _parse(text: str, origin: str, *, allow_yaml: bool) -> Any:
    try:
        return yaml.safe_load(text) if allow_yaml else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "YAML or JSON" if allow_yaml else "JSON"
        raise SettingsError(f"{origin} is not valid {kind}: {str(exc).splitlines()[0]}") from None


def parse_pools(raw: Any) -> tuple[Pool, ...]:
    entries = raw.get("pools") if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not entries:
        raise SettingsError("pools must be a non-empty list (or an object with a 'pools' list)")
    pools: list[Pool] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        label = _pool_label(entry, index)
        if not isinstance(entry, dict):
            problems.append(f"{label}: must be an object")
            continue
        try:
            pools.append(Pool.model_validate(entry))
        except ValidationError as exc:
            problems.append(_describe(exc, prefix=label))
    problems.extend(_duplicates(pools))
    if problems:
        raise SettingsError("invalid pool configuration:\n" + "\n".join(problems))
    return tuple(pools)


def check_credentials(settings: ServiceSettings, pools: Iterable[Pool]) -> None:
    problems: list[str] = []
    for pool in pools:
        if pool.forge == "github":
            if settings.github_webhook_secret is None:
                problems.append(f"pool {pool.name!r}: GITHUB_WEBHOOK_SECRET is not set")
            if not settings.github_uses_app and settings.github_token is None:
                problems.append(
                    f"pool {pool.name!r}: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY, or GITHUB_TOKEN"
                )
        else:
            missing = [
                name
                for name, value in (
                    ("GITLAB_URL", settings.gitlab_url),
                    ("GITLAB_TOKEN", settings.gitlab_token),
                    ("GITLAB_WEBHOOK_TOKEN", settings.gitlab_webhook_token),
                )
                if value is None
            ]
            if missing:
                problems.append(f"pool {pool.name!r}: {', '.join(missing)} not set")
    if problems:
        raise SettingsError("missing settings:\n" + "\n".join(sorted(set(problems))))


def _pool_label(entry: Any, index: int) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"pool {name!r} (#{index + 1})" if isinstance(name, str) else f"pool #{index + 1}"


def _describe(exc: ValidationError, *, prefix: str) -> str:
    # Deliberately leave out the offending input: it may be a secret or a private key.
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        field = _field_path(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{prefix}: field '{field}': {message}" if field else f"{prefix}: {message}")
    return "\n".join(lines)


def _field_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _duplicates(pools: Sequence[Pool]) -> list[str]:
    seen: set[str] = set()
    problems = []
    for pool in pools:
        if pool.name in seen:
            problems.append(f"pool {pool.name!r}: field 'name': used by more than one pool")
        seen.add(pool.name)
    return problems
