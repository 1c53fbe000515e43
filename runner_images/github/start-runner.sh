#!/bin/bash
# Start a single-use GitHub Actions runner from the JIT config the service wrote, report the job's
# result on the serial console, then power off.
#
# What the job can read of the JIT config: actions/runner runs its jobs as its own user, so a job
# can read the runner's environment (/proc/<pid>/environ of run.sh and the listener) and the
# .runner / .credentials files the listener writes from the JIT config (actions/runner 2.336,
# src/Runner.Listener/Runner.cs). That is worth one thing: this runner's own registration, which is
# just-in-time, already running this very job, and deleted by GitHub when the job ends. Every other
# copy of it (runner.secret, cloud-init's and the agent's copies of the user data) is deleted
# before the runner starts, and the VM has no managed identity.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=../common/runner-lib.sh
. "${RF_LIB:-/opt/runner-fleet/runner-lib.sh}"
trap 'early_exit "the start script failed at line $LINENO"' ERR

RUNNER_USER=$(conf job_user)
RUNNER_USER=${RUNNER_USER:-runner}
RUNNER_DIR=$(conf runner_path)
RUNNER_DIR=${RUNNER_DIR:-/opt/actions-runner}

say "runner $(conf runner_name) of pool $(conf pool) is booting"
ensure_user "$RUNNER_USER"
add_to_docker "$RUNNER_USER"

# Before anything is downloaded from it: a subnet without a way out shows here, by name.
if ! forge_reachable; then
  early_exit "not registering: this runner cannot reach its forge"
fi

if [ -x "$RUNNER_DIR/run.sh" ]; then
  say "using the prebaked runner in $RUNNER_DIR"
else
  url=$(conf runner_download_url)
  sha=$(conf runner_download_sha256)
  if [ -z "$url" ] || [ -z "$sha" ]; then
    early_exit "no prebaked runner in $RUNNER_DIR and no download URL with a checksum in runner.json"
  fi
  say "no prebaked runner; downloading version $(conf runner_version) from $url"
  archive=$(mktemp)
  fetch_verified "$url" "$sha" "$archive" || early_exit "could not get a verified runner"
  mkdir -p "$RUNNER_DIR"
  tar -xzf "$archive" -C "$RUNNER_DIR"
  rm -f "$archive"
  # The runner is a .NET program: without ICU it dies before it registers.
  if ! ldconfig -p | grep libicu >/dev/null; then
    "$RUNNER_DIR/bin/installdependencies.sh" >/dev/null || early_exit "the runner's dependencies could not be installed"
  fi
  chown -R "$RUNNER_USER:$RUNNER_USER" "$RUNNER_DIR"
fi

if ! api_server_reachable; then
  early_exit "not registering: this runner could not deploy to the cluster"
fi
if ! endpoints_reachable; then
  early_exit "not registering: this runner could not reach the private endpoints its jobs use"
fi

jit=""
take_secret_into jit
# The runner reads ACTIONS_RUNNER_INPUT_JITCONFIG from its environment: exported, the JIT config
# is not on any command line (world-readable in /proc); its environment is readable by the job
# (same user), as said at the top.
export ACTIONS_RUNNER_INPUT_JITCONFIG="$jit"
unset jit
log=$(open_runner_log)
say "starting the runner as $RUNNER_USER"
status=0
# The log is root's on purpose: the job cannot read or rewrite the runner's own record.
# shellcheck disable=SC2024
sudo -H -u "$RUNNER_USER" --preserve-env=ACTIONS_RUNNER_INPUT_JITCONFIG -- "$RUNNER_DIR/run.sh" >>"$log" 2>&1 || status=$?
unset ACTIONS_RUNNER_INPUT_JITCONFIG

result=$(sed -n 's/.*completed with result: \([A-Za-z]*\).*/\1/p' "$log" | tail -n 1)
say "result: job ${result:-not run or unknown} (runner exit status $status)"
power_off
