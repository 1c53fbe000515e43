#!/bin/bash
# Run one GitLab CI job with `gitlab-runner run-single`, report its result on the serial console,
# then power off.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=../common/runner-lib.sh
. "${RF_LIB:-/opt/runner-fleet/runner-lib.sh}"
trap 'early_exit "the start script failed at line $LINENO"' ERR

RUNNER_USER=$(conf runner_user)
RUNNER_USER=${RUNNER_USER:-gitlab-runner}
RUNNER_BIN=$(conf runner_path)
RUNNER_BIN=${RUNNER_BIN:-/usr/local/bin/gitlab-runner}

say "runner $(conf runner_name) of pool $(conf pool) is booting"
ensure_runner_user "$RUNNER_USER"

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

token=""
take_secret_into token
# run-single reads CI_SERVER_URL and CI_SERVER_TOKEN from its environment: exported, the glrt-
# token never appears on a command line that `ps` would show to the job.
CI_SERVER_URL=$(conf forge_url)
export CI_SERVER_URL
export CI_SERVER_TOKEN="$token"
unset token
wait_timeout=$(conf wait_timeout_s)
home=$(getent passwd "$RUNNER_USER" | cut -d: -f6)
log=$(open_runner_log)
say "starting gitlab-runner run-single as $RUNNER_USER (waits up to ${wait_timeout}s for a job)"
status=0
# The log is root's on purpose: the job cannot read or rewrite the runner's own record.
# shellcheck disable=SC2024
sudo -H -u "$RUNNER_USER" --preserve-env=CI_SERVER_URL,CI_SERVER_TOKEN -- \
  "$RUNNER_BIN" run-single --executor shell --max-builds 1 --wait-timeout "$wait_timeout" \
  --builds-dir "$home/builds" --cache-dir "$home/cache" >>"$log" 2>&1 || status=$?
unset CI_SERVER_TOKEN

if grep 'Job succeeded' "$log" >/dev/null; then
  result="succeeded"
elif grep 'Job failed' "$log" >/dev/null; then
  result="failed"
else
  result="not run (none arrived within ${wait_timeout}s) or unknown"
fi
say "result: job $result (runner exit status $status)"
power_off
