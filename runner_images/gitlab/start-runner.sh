#!/bin/bash
# Run one GitLab CI job with `gitlab-runner run-single`, report its result on the serial console,
# then power off.
#
# The runner token (glrt-) must never be readable by the job: a job holding it could take any other
# pending job its tags fit, from any project of the group, with that job's CI variables, for as long
# as the runner is registered. So:
#   - gitlab-runner runs as root and reads the token from a root-only config file (0600, in a 0700
#     directory). The token is never in an environment (the shell executor hands the runner's own
#     environment to the job) nor on a command line (/proc/<pid>/cmdline is world-readable).
#   - The job runs through a custom executor (gitlab-executor.sh) as JOB_USER, an unprivileged user
#     in no root-equivalent group (docker, sudo, disk, ...), with a fresh environment and
#     no_new_privs: it cannot read root's files, root's /proc/<pid>/environ or memory, or regain
#     privileges through a setuid program.
#   - The service deletes the registration as soon as GitLab reports the job running; the job
#     itself needs only its own CI_JOB_TOKEN.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=../common/runner-lib.sh
. "${RF_LIB:-/opt/runner-fleet/runner-lib.sh}"
trap 'early_exit "the start script failed at line $LINENO"' ERR

JOB_USER=$(conf job_user)
JOB_USER=${JOB_USER:-gitlab-job}
RUNNER_BIN=$(conf runner_path)
RUNNER_BIN=${RUNNER_BIN:-/usr/local/bin/gitlab-runner}
EXECUTOR=${RF_EXECUTOR:-/opt/runner-fleet/gitlab-executor.sh}
RF_GITLAB_DIR=${RF_GITLAB_DIR:-/var/lib/runner-fleet/gitlab}

say "runner $(conf runner_name) of pool $(conf pool) is booting"
ensure_user "$JOB_USER"
if ! job_user_is_unprivileged "$JOB_USER"; then
  early_exit "the job user $JOB_USER could become root and read the runner token"
fi

# Before anything is downloaded from it: a subnet without a way out shows here, by name.
if ! forge_reachable; then
  early_exit "not taking a job: this runner cannot reach its forge"
fi

if [ -x "$RUNNER_BIN" ]; then
  say "using the prebaked gitlab-runner $RUNNER_BIN"
else
  url=$(conf runner_download_url)
  sha=$(conf runner_download_sha256)
  if [ -z "$url" ] || [ -z "$sha" ]; then
    early_exit "no prebaked gitlab-runner at $RUNNER_BIN and no download URL with a checksum in runner.json"
  fi
  say "no prebaked gitlab-runner; downloading version $(conf runner_version) from $url"
  binary=$(mktemp)
  fetch_verified "$url" "$sha" "$binary" || early_exit "could not get a verified gitlab-runner"
  install -m 0755 "$binary" "$RUNNER_BIN"
  rm -f "$binary"
fi

if ! api_server_reachable; then
  early_exit "not taking a job: this runner could not deploy to the cluster"
fi
if ! endpoints_reachable; then
  early_exit "not taking a job: this runner could not reach the private endpoints its jobs use"
fi

if [ ! -s "$RF_SECRET" ]; then early_exit "$RF_SECRET is missing or empty"; fi
install -d -m 0700 "$RF_GITLAB_DIR"
config="$RF_GITLAB_DIR/config.toml"
home=$(getent passwd "$JOB_USER" | cut -d: -f6)
# The token goes from one root-only file to another inside python: never through argv or a variable
# that a child could inherit. TOML basic strings accept JSON's escapes, so json.dumps quotes safely.
(
  umask 077
  python3 - "$RF_CONF" "$RF_SECRET" "$config" "$home" "$EXECUTOR" <<'PY'
import json, sys
conf_path, secret_path, config_path, home, executor = sys.argv[1:]
conf = json.load(open(conf_path))
token = open(secret_path).read().strip()
q = json.dumps
lines = [
    "concurrent = 1",
    "[[runners]]",
    f"name = {q(conf['runner_name'])}",
    f"url = {q(conf['forge_url'])}",
    f"token = {q(token)}",
    'executor = "custom"',
    'shell = "bash"',
    f"builds_dir = {q(home + '/builds')}",
    f"cache_dir = {q(home + '/cache')}",
    "[runners.custom]",
    f"prepare_exec = {q(executor)}",
    'prepare_args = ["prepare"]',
    f"run_exec = {q(executor)}",
    'run_args = ["run"]',
    f"cleanup_exec = {q(executor)}",
    'cleanup_args = ["cleanup"]',
]
with open(config_path, "w") as out:
    out.write("\n".join(lines) + "\n")
PY
)
scrub_secrets
wait_timeout=$(conf wait_timeout_s)
log=$(open_runner_log)
say "starting gitlab-runner run-single as root; jobs run as $JOB_USER (waits up to ${wait_timeout}s for a job)"
status=0
# A clean environment: whatever cloud-init's own environment held stays out of the runner's, and so
# out of what its executor sees. The log is root's on purpose: the job cannot read or rewrite it.
# shellcheck disable=SC2024
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root RF_JOB_USER="$JOB_USER" \
  "$RUNNER_BIN" run-single --config "$config" --runner "$(conf runner_name)" \
  --max-builds 1 --wait-timeout "$wait_timeout" >>"$log" 2>&1 || status=$?
rm -f "$config"

if grep 'Job succeeded' "$log" >/dev/null; then
  result="succeeded"
elif grep 'Job failed' "$log" >/dev/null; then
  result="failed"
else
  result="not run (none arrived within ${wait_timeout}s) or unknown"
fi
say "result: job $result (runner exit status $status)"
power_off
