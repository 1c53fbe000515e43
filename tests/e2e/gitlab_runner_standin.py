#!/usr/bin/python3
"""A stand-in for `gitlab-runner run-single` with the custom executor, for the token-isolation test.

It does what gitlab-runner 19.4 does on the paths that matter for who can read the runner token,
read from its source (gitlabhq/gitlab-runner):
- commands/single.go: `--config FILE --runner NAME` loads the runner (token included) from the
  config file; the process environment never holds the token; `--max-builds 1` exits after one job;
  `--wait-timeout` ends the wait for a first job; a 403 on jobs/request only counts as unhealthy.
- network/gitlab.go: `POST /api/v4/jobs/request` with the token in the body, 201 = a job; job
  updates `PUT /api/v4/jobs/:id` with the job token.
- executors/custom: prepare_exec, then run_exec once per stage with the stage script written to a
  root-only temporary directory, then cleanup_exec; each gets the runner's own environment
  (os.Environ()) plus CUSTOM_ENV_<variable> for every job variable, BUILD_FAILURE_EXIT_CODE=1 and
  SYSTEM_FAILURE_EXIT_CODE=2; the stage scripts export the job's variables themselves.
- common/config.go: CI_RUNNER_SHORT_TOKEN (the token's first 9 characters after its prefix) is a
  job variable, and the builds directory is `<builds_dir>/<short token>/0/<project path>`.
It runs no git, caches or artifacts: those stages are plain scripts here. Standard library only,
because it runs with the system's python3 inside the test's sandbox.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BUILD_FAILURE_EXIT_CODE = 1
SYSTEM_FAILURE_EXIT_CODE = 2
POLL_S = 0.2


def _call(method: str, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    # Only ever the test's GitLab simulator on loopback (http://127.0.0.1:port).
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _short_token(token: str) -> str:
    return token.removeprefix("glrt-").removeprefix("t1_")[:9]


def _stage_script(variables: dict[str, str], workdir: str, commands: list[str]) -> str:
    lines = ["#!/usr/bin/env bash", "set -eo pipefail"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in variables.items()]
    lines += [f"mkdir -p {shlex.quote(workdir)}", f"cd {shlex.quote(workdir)}", *commands]
    return "\n".join(lines) + "\n"


def _execute(runner: dict[str, Any], job: dict[str, Any], variables: dict[str, str]) -> bool:
    custom = runner["custom"]
    env = dict(os.environ)
    env |= {f"CUSTOM_ENV_{key}": value for key, value in variables.items()}
    env |= {
        "BUILD_FAILURE_EXIT_CODE": str(BUILD_FAILURE_EXIT_CODE),
        "SYSTEM_FAILURE_EXIT_CODE": str(SYSTEM_FAILURE_EXIT_CODE),
    }

    def call(kind: str, *extra: str) -> int:
        command = [custom[f"{kind}_exec"], *custom.get(f"{kind}_args", []), *extra]
        return subprocess.run(command, env=env, check=False).returncode

    if call("prepare") != 0:
        return False
    workdir = (
        f"{runner['builds_dir']}/{_short_token(runner['token'])}/0/{variables.get('CI_PROJECT_PATH', 'p')}"
    )
    stages = [
        ("prepare_script", ["echo Running on $(hostname)"]),
        ("get_sources", ["echo Fetching changes"]),
        ("build_script", [line for step in job["steps"] for line in step["script"]]),
    ]
    ok = True
    with tempfile.TemporaryDirectory(prefix="custom-executor") as tmp:  # 0700, root's
        for stage, commands in stages:
            script = Path(tmp) / f"{stage}.sh"
            script.write_text(_stage_script(variables, workdir, commands))
            script.chmod(0o700)
            if call("run", str(script), stage) != 0:
                ok = False
                break
    call("cleanup")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(prog="gitlab-runner")
    parser.add_argument("command", choices=["run-single"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--runner", required=True)
    parser.add_argument("--max-builds", type=int, default=0)
    parser.add_argument("--wait-timeout", type=int, default=0)
    args = parser.parse_args()
    config = tomllib.loads(Path(args.config).read_text())
    runner = next(r for r in config["runners"] if r["name"] == args.runner)
    url = runner["url"].rstrip("/")
    print(f"Starting runner for {url} with token {_short_token(runner['token'])} ...", flush=True)
    started = time.monotonic()
    while time.monotonic() - started < args.wait_timeout:
        status, body = _call(
            "POST", f"{url}/api/v4/jobs/request", {"token": runner["token"], "info": {"name": runner["name"]}}
        )
        if status == 201:
            break
        if status == 403:
            print("Checking for jobs... forbidden", flush=True)
        time.sleep(POLL_S)
    else:
        print(f"This runner has not received a job in {args.wait_timeout} seconds, so now exiting")
        return 0
    job = json.loads(body)
    variables = {v["key"]: v["value"] for v in job["variables"]}
    variables["CI_RUNNER_SHORT_TOKEN"] = _short_token(runner["token"])
    job_url = f"{url}/api/v4/jobs/{job['id']}"
    print(f"Checking for jobs... received job={job['id']}", flush=True)
    _call("PUT", job_url, {"token": job["token"], "state": "running"})
    ok = _execute(runner, job, variables)
    _call("PUT", job_url, {"token": job["token"], "state": "success" if ok else "failed"})
    print("Job succeeded" if ok else "Job failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
