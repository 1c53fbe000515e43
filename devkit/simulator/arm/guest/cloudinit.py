"""Reading the runner's files out of a VM's customData, the way cloud-init would write them: a
runner's runner.json and runner.secret, or a probe's probe.json (its presence makes the VM a probe:
no runner, no secret; see the probe contract in `simulator.arm.guest.probe`)."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from simulator.arm.guest.base import ApiServer, GuestError, RunnerFiles

RUNNER_JSON = "/etc/runner-fleet/runner.json"
RUNNER_SECRET = "/etc/runner-fleet/runner.secret"  # noqa: S105 - a path, not a credential
START_SCRIPT = "/opt/runner-fleet/start-runner.sh"
PROBE_JSON = "/etc/runner-fleet/probe.json"
PROBE_SCRIPT = "/opt/runner-fleet/probe.sh"
PROBE_TARGETS = ("api-server", "forge", "endpoint")
PROBE_EXPECTS = ("private", "any")

TargetKind = Literal["api-server", "forge", "endpoint"]


@dataclass(frozen=True)
class ProbeTarget:
    target: TargetKind
    name: str
    fqdn: str
    port: int
    expect: Literal["private", "any"]


@dataclass(frozen=True)
class ProbeFiles:
    probe: str
    targets: tuple[ProbeTarget, ...]


class UserDataError(GuestError):
    pass


def read_user_data(custom_data: str | None) -> RunnerFiles | ProbeFiles:
    """What cloud-init sets up: a probe when write_files holds probe.json, else a runner."""
    document = _cloud_config(custom_data)
    files = _written_files(document.get("write_files"))
    if PROBE_JSON in files:
        if PROBE_SCRIPT not in files:
            raise UserDataError(f"write_files does not contain {PROBE_SCRIPT}")
        if not _runcmd_starts(document.get("runcmd"), PROBE_SCRIPT):
            raise UserDataError(f"runcmd does not run {PROBE_SCRIPT}; the probe never runs")
        if RUNNER_SECRET in files:
            raise UserDataError(f"a probe carries no secret, but write_files holds {RUNNER_SECRET}")
        return _probe_files(files[PROBE_JSON])
    return _runner_files_of(document, files)


def parse_user_data(custom_data: str | None) -> RunnerFiles:
    document = _cloud_config(custom_data)
    return _runner_files_of(document, _written_files(document.get("write_files")))


def _cloud_config(custom_data: str | None) -> dict[str, Any]:
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
    return document


def _runner_files_of(document: dict[str, Any], files: dict[str, str]) -> RunnerFiles:
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


def endpoints_of(files: RunnerFiles) -> tuple[ApiServer, ...]:
    """runner.json's `endpoints`: [{"fqdn": ..., "port": 443}], the private endpoints a runner must
    reach before it registers (absent: none)."""
    raw = files.runner_json.get("endpoints") or []
    if not isinstance(raw, list):
        raise UserDataError(f"{RUNNER_JSON} endpoints is not a list")
    found = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("fqdn"), str) or not entry["fqdn"]:
            raise UserDataError(f"{RUNNER_JSON} has an endpoint without fqdn")
        found.append(ApiServer(entry["fqdn"], _port(entry.get("port", 443), RUNNER_JSON)))
    return tuple(found)


def _port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise UserDataError(f"{where}: port {value!r} is not a TCP port")
    return value


def _probe_files(text: str) -> ProbeFiles:
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserDataError(f"{PROBE_JSON} is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("probe"), str) or not config["probe"]:
        raise UserDataError(f"{PROBE_JSON} has no probe id")
    raw_targets = config.get("targets")
    if not isinstance(raw_targets, list):
        raise UserDataError(f"{PROBE_JSON} has no targets list")
    targets = []
    for raw in raw_targets:
        if not isinstance(raw, dict):
            raise UserDataError(f"{PROBE_JSON}: a target is not an object")
        kind, expect = raw.get("target"), raw.get("expect", "any")
        if kind not in PROBE_TARGETS:
            raise UserDataError(f"{PROBE_JSON}: target {kind!r} is not one of {', '.join(PROBE_TARGETS)}")
        if expect not in PROBE_EXPECTS:
            raise UserDataError(f"{PROBE_JSON}: expect {expect!r} is not one of {', '.join(PROBE_EXPECTS)}")
        fqdn = raw.get("fqdn")
        if not isinstance(fqdn, str) or not fqdn:
            raise UserDataError(f"{PROBE_JSON}: a {kind} target has no fqdn")
        label = raw.get("name", fqdn)
        targets.append(ProbeTarget(kind, str(label), fqdn, _port(raw.get("port", 443), PROBE_JSON), expect))
    return ProbeFiles(config["probe"], tuple(targets))
