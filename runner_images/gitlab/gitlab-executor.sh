#!/bin/bash
# gitlab-runner's custom executor driver: runs each stage of the job as RF_JOB_USER, never as root.
#
#   gitlab-executor.sh prepare                 the job's build and cache directories, owned by the job user
#   gitlab-executor.sh run SCRIPT STAGE        one stage script gitlab-runner wrote (root-only, 0700)
#   gitlab-executor.sh cleanup                 end whatever the job left running
#
# gitlab-runner calls this as root with its own environment plus CUSTOM_ENV_* copies of the job's
# variables (executors/custom in gitlab-runner). The stage script already exports the job's
# variables, so the job gets nothing of that environment: setpriv starts it with a reset one, as the
# job user, with its supplementary groups from /etc/group only and no_new_privs, so no setuid
# program (sudo, su, ...) can make it root again.
set -Eeuo pipefail

JOB_USER=${RF_JOB_USER:-gitlab-job}
# gitlab-runner tells us which exit codes mean "the job failed" and "the system failed".
BUILD_FAILURE=${BUILD_FAILURE_EXIT_CODE:-1}
SYSTEM_FAILURE=${SYSTEM_FAILURE_EXIT_CODE:-2}
trap 'exit "$SYSTEM_FAILURE"' ERR

home=$(getent passwd "$JOB_USER" | cut -d: -f6)
if [ -z "$home" ]; then
  echo "runner-fleet: the job user $JOB_USER does not exist" >&2
  exit "$SYSTEM_FAILURE"
fi

case "${1:-}" in
  prepare)
    install -d -m 0700 -o "$JOB_USER" -g "$JOB_USER" "$home/builds" "$home/cache"
    ;;
  run)
    script=$2
    # The stage script lives in gitlab-runner's root-only temporary directory: hand the job user
    # its own copy, in a directory only it can read.
    step=$(mktemp -d)
    chown "$JOB_USER:" "$step"
    install -m 0500 -o "$JOB_USER" -g "$JOB_USER" "$script" "$step/script"
    status=0
    (cd "$home" && setpriv --reuid="$JOB_USER" --regid="$JOB_USER" --init-groups --no-new-privs \
      --reset-env -- /bin/bash "$step/script") || status=$?
    rm -rf "$step"
    if [ "$status" -ne 0 ]; then exit "$BUILD_FAILURE"; fi
    ;;
  cleanup)
    pkill -KILL -u "$JOB_USER" || true
    ;;
  *)
    echo "usage: $0 prepare | run SCRIPT STAGE | cleanup" >&2
    exit "$SYSTEM_FAILURE"
    ;;
esac
