#!/bin/bash
# Run one GitLab CI job with `gitlab-runner run-single`, then power off.
set -euo pipefail
# shellcheck source=../common/runner-lib.sh
. /opt/runner-fleet/runner-lib.sh

RUNNER_USER=gitlab-runner

if ! command -v gitlab-runner >/dev/null 2>&1; then
  url=$(conf runner_download_url)
  sha=$(conf runner_download_sha256)
  if [ -z "$url" ] || [ -z "$sha" ]; then
    say "no prebaked gitlab-runner and no download URL with checksum configured"
    finish 1
    exit 1
  fi
  say "downloading gitlab-runner"
  curl -fsSL --retry 3 -o /usr/local/bin/gitlab-runner "$url"
  echo "$sha  /usr/local/bin/gitlab-runner" | sha256sum -c --status || { say "gitlab-runner checksum mismatch"; finish 1; exit 1; }
  chmod 0755 /usr/local/bin/gitlab-runner
fi
if ! id "$RUNNER_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$RUNNER_USER"
fi

if ! api_server_reachable; then
  say "not taking a job: this runner could not deploy to the cluster"
  rm -f "$RF_SECRET"
  finish 1
  exit 1
fi

# run-single reads CI_SERVER_URL / CI_SERVER_TOKEN from the environment, keeping the token off argv.
token=$(cat "$RF_SECRET")
rm -f "$RF_SECRET"
say "starting gitlab-runner for $(conf runner_name) in pool $(conf pool)"
status=0
sudo -u "$RUNNER_USER" --preserve-env=CI_SERVER_URL,CI_SERVER_TOKEN \
  env CI_SERVER_URL="$(conf forge_url)" CI_SERVER_TOKEN="$token" \
  gitlab-runner run-single --executor shell --max-builds 1 \
    --wait-timeout "$(conf wait_timeout_s)" --builds-dir "/home/$RUNNER_USER/builds" || status=$?
unset token
finish "$status"
