#!/bin/bash
# Start a single-use GitHub Actions runner from the JIT config the service wrote, then power off.
set -euo pipefail
# shellcheck source=../common/runner-lib.sh
. /opt/runner-fleet/runner-lib.sh

RUNNER_USER=runner
RUNNER_DIR=/opt/actions-runner

if ! id "$RUNNER_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$RUNNER_USER"
fi

if [ ! -x "$RUNNER_DIR/run.sh" ]; then
  url=$(conf runner_download_url)
  sha=$(conf runner_download_sha256)
  if [ -z "$url" ] || [ -z "$sha" ]; then
    say "no prebaked runner in $RUNNER_DIR and no download URL with checksum configured"
    finish 1
    exit 1
  fi
  say "downloading the runner"
  mkdir -p "$RUNNER_DIR"
  curl -fsSL --retry 3 -o /tmp/runner.tgz "$url"
  echo "$sha  /tmp/runner.tgz" | sha256sum -c --status || { say "runner download checksum mismatch"; finish 1; exit 1; }
  tar -xzf /tmp/runner.tgz -C "$RUNNER_DIR"
  rm -f /tmp/runner.tgz
  chown -R "$RUNNER_USER:$RUNNER_USER" "$RUNNER_DIR"
fi

if ! api_server_reachable; then
  say "not registering: this runner could not deploy to the cluster"
  rm -f "$RF_SECRET"
  finish 1
  exit 1
fi

# The runner reads ACTIONS_RUNNER_INPUT_<ARG> from its environment, which keeps the JIT config
# out of the process list; the file is removed before any job can run.
jit=$(cat "$RF_SECRET")
rm -f "$RF_SECRET"
say "starting runner $(conf runner_name) for pool $(conf pool)"
status=0
sudo -u "$RUNNER_USER" --preserve-env=ACTIONS_RUNNER_INPUT_JITCONFIG \
  env ACTIONS_RUNNER_INPUT_JITCONFIG="$jit" "$RUNNER_DIR/run.sh" || status=$?
unset jit
finish "$status"
