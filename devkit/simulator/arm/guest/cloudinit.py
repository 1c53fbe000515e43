"""Reading the runner's files out of a VM's customData, the way cloud-init would write them."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from typing import Any

import yaml

from simulator.arm.guest.base import ApiServer, GuestError, RunnerFiles

RUNNER_JSON = "/etc/runner-fleet/runner.json"
RUNNER_SECRET = "/etc/runner-fleet/runner.secret"  # noqa: S105 - a path, not a credential
START_SCRIPT = "/opt/runner-fleet/start-runner.sh"


class UserDataError(GuestError):
    pass


def parse_user_data(custom_data: str | None) -> RunnerFiles:
    if not custom_data:
        raise UserDataError("no user data: the VM was created without customData")
    raw = base64.b64decode(custom_data)
    if raw[:2] == b"\x1f\x8b":  # cloud-init accepts gzip-compressed user data
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserDataError("user data is not UTF-8 text") from None
    if not text.startswith("#cloud-config"):
        first = text.splitlines()[0][:60] if text else ""
        raise UserDataError(f"user data is not #cloud-config (first line: {first!r}); nothing to run")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserDataError(f"cloud-config is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise UserDataError("cloud-config is empty or not a mapping; nothing to run")
    files = _written_files(document.get("write_files"))
    if START_SCRIPT not in files:
        raise UserDataError(f"write_files does not contain {START_SCRIPT}")
    if not _runcmd_starts(document.get("runcmd"), START_SCRIPT):
        raise UserDataError(f"runcmd does not start {START_SCRIPT}; the runner never starts")
    for path in (RUNNER_JSON, RUNNER_SECRET):
        if path not in files:
            raise UserDataError(f"{path} is missing from write_files")
    return _runner_files(files[RUNNER_JSON], files[RUNNER_SECRET])


def _written_files(entries: Any) -> dict[str, str]:
    if not isinstance(entries, list):
        raise UserDataError("cloud-config has no write_files list")
    files = {}
    for entry in entries:
        if not isinstance(entry, dict) or "path" not in entry:
            raise UserDataError("a write_files entry has no path")
        files[str(entry["path"])] = _content(entry)
    return files


def _content(entry: dict[str, Any]) -> str:
    content = entry.get("content", "")
    encoding = str(entry.get("encoding", "text/plain")).lower()
    try:
        if encoding in ("b64", "base64"):
            return base64.b64decode(str(content), validate=True).decode("utf-8")
        if encoding in ("gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
            return gzip.decompress(base64.b64decode(str(content), validate=True)).decode("utf-8")
    except (binascii.Error, ValueError, OSError) as exc:
        raise UserDataError(f"cannot decode {entry['path']} ({encoding}): {exc}") from None
    if encoding not in ("text/plain", "plain", ""):
        raise UserDataError(f"unknown write_files encoding {encoding!r} for {entry['path']}")
    return str(content)


def _runcmd_starts(runcmd: Any, script: str) -> bool:
    if not isinstance(runcmd, list):
        return False
    for command in runcmd:
        words = command if isinstance(command, list) else [command]
        if any(script in str(word) for word in words):
            return True
    return False


def _runner_files(runner_json: str, secret: str) -> RunnerFiles:
    try:
        config = json.loads(runner_json)
    except json.JSONDecodeError as exc:
        raise UserDataError(f"{RUNNER_JSON} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise UserDataError(f"{RUNNER_JSON} is not a JSON object")
    for key in ("forge", "runner_name"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise UserDataError(f"{RUNNER_JSON} has no {key}")
    api_server = None
    raw_api = config.get("api_server")
    if raw_api:
        if not isinstance(raw_api, dict) or not raw_api.get("fqdn"):
            raise UserDataError(f"{RUNNER_JSON} has an api_server without fqdn")
        api_server = ApiServer(str(raw_api["fqdn"]), int(raw_api.get("port", 443)))
    if not secret.strip():
        raise UserDataError(f"{RUNNER_SECRET} is empty")
    return RunnerFiles(
        forge=config["forge"],
        runner_name=config["runner_name"],
        pool=str(config.get("pool", "")),
        forge_url=str(config.get("forge_url", "")),
        api_server=api_server,
        secret=secret.strip(),
        runner_json=config,
    )
