#!/bin/bash
# Shared helpers for the runner start scripts. Sourced, not executed.
#
# Everything written with `say` reaches the serial console, which Azure boot diagnostics keep:
# that is where an admin reads why a runner never came. Values from runner.json are read by python3
# and only ever used as quoted arguments, never evaluated, so a label or URL cannot become shell.
# The RF_* variables below (and RF_FORGE_PORT) exist so the scripts can be exercised outside a VM;
# cloud-init sets none.

RF_ETC=${RF_ETC:-/etc/runner-fleet}
RF_CONF=$RF_ETC/runner.json
RF_SECRET=$RF_ETC/runner.secret
RF_LOG_DIR=${RF_LOG_DIR:-/var/log/runner-fleet}
RF_CONSOLES=${RF_CONSOLES:-/dev/console /dev/ttyS0}
# Groups whose members are root in all but name (or can read the provisioning CD and raw disks).
RF_PRIVILEGED_GROUPS=${RF_PRIVILEGED_GROUPS:-root sudo admin wheel docker lxd disk cdrom adm shadow}
# cloud-init and the Azure agent keep copies of the user data, so of the secret: raw and processed
# user data, the merged cloud-config, the pickled datasource, the run-time JSON, the agent's copies.
# All are root-only (0600); they go before the runner starts so that no copy outlives its need. The
# provisioning CD (/dev/sr0, ovf-env.xml) stays: root:cdrom 0660, and job users are in neither
# group. Instance metadata (169.254.169.254) never serves customData.
RF_USER_DATA_COPIES=${RF_USER_DATA_COPIES:-/var/lib/cloud/instance/user-data.txt /var/lib/cloud/instance/user-data.txt.i /var/lib/cloud/instance/cloud-config.txt /var/lib/cloud/instance/obj.pkl /run/cloud-init/combined-cloud-config.json /run/cloud-init/instance-data-sensitive.json /var/lib/waagent/CustomData /var/lib/waagent/ovf-env.xml}

say() {
  local line device
  line="runner-fleet: $*"
  echo "$line"
  for device in $RF_CONSOLES; do
    if [ -w "$device" ]; then echo "$line" >>"$device" || true; fi
  done
}

conf() {
  # One top-level key of runner.json, or a key of a nested object as "outer.inner".
  python3 - "$RF_CONF" "$1" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    value = value.get(part) if isinstance(value, dict) else None
print("" if value is None else value)
PY
}

scrub_secrets() {
  # The runner has its secret in memory (or never needed it): no copy may outlive this point,
  # because the job that runs next is untrusted code on this machine.
  local copy
  rm -f "$RF_SECRET"
  for copy in $RF_USER_DATA_COPIES; do rm -f "$copy"; done
}

power_off() {
  trap - ERR
  scrub_secrets
  say "powering off"
  shutdown -h now "runner-fleet: runner finished" || poweroff || true
}

early_exit() {
  # Why this VM will never run a job, on the console, then off: the service deletes what is left.
  trap - ERR
  say "early exit: $*"
  say "result: no job was run"
  power_off
  exit 1
}

ensure_user() {
  # The unprivileged user jobs run as; nobody is put in the docker group here (see add_to_docker).
  local user=$1
  if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$user"
    say "created the unprivileged user $user"
  fi
}

add_to_docker() {
  # GitHub only. The docker group is root-equivalent, which on a GitHub runner VM gives a job
  # nothing it lacks: runner and job share one user, so the job can read the JIT config anyway,
  # worth one registration already running this job, deleted by GitHub when it ends. Every other
  # copy of the secret is gone before the runner starts, and the VM has no identity.
  if getent group docker >/dev/null 2>&1; then usermod -aG docker "$1"; fi
}

job_user_is_unprivileged() {
  # GitLab: the job must not become root by any route, or it could read the runner's token.
  local user=$1 group
  for group in $RF_PRIVILEGED_GROUPS; do
    if id -nG "$user" | tr ' ' '\n' | grep -qx "$group"; then
      say "job user $user is in group $group, which is root-equivalent"
      return 1
    fi
  done
  if command -v sudo >/dev/null 2>&1 && sudo -n -l -U "$user" 2>/dev/null | grep -q "may run"; then
    say "job user $user has sudo rights"
    return 1
  fi
}

fetch_verified() {
  # Download $1 to $3 and accept it only if its SHA-256 is $2.
  local url=$1 sha=$2 dest=$3
  if ! curl -fsSL --retry 3 --connect-timeout 10 -o "$dest" "$url"; then
    rm -f "$dest"
    say "download failed: $url"
    return 1
  fi
  if ! echo "$sha  $dest" | sha256sum -c --status; then
    rm -f "$dest"
    say "checksum mismatch for $url (expected sha256 $sha)"
    return 1
  fi
}

resolve_v4() {
  getent ahostsv4 "$1" | awk 'NR==1 {print $1}' || true
}

answers() {
  # The address and port are arguments of the inner shell, not part of its program.
  # shellcheck disable=SC2016
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

private_reachable() {
  # $1 $2 ("API server <fqdn>", "endpoint <fqdn>") must resolve to a private address that answers
  # on port $3; $4 names the zone whose link is missing when it does not resolve.
  local addr
  addr=$(resolve_v4 "$2")
  if [ -z "$addr" ]; then
    say "$1 $2 does not resolve: is $4 linked to the runner VNet?"
    return 1
  fi
  if ! python3 -c 'import ipaddress,sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]).is_private else 1)' "$addr"; then
    say "$1 $2 resolves to public address $addr, not its private endpoint"
    return 1
  fi
  if ! answers "$addr" "$3"; then
    say "$1 $2 ($addr:$3) does not answer: check peering, NSG and routes"
    return 1
  fi
  say "$1 $2 reachable at $addr:$3"
}

api_server_reachable() {
  # A runner that cannot reach the private API server must never take a job.
  local fqdn port
  fqdn=$(conf api_server.fqdn)
  port=$(conf api_server.port)
  if [ -z "$fqdn" ]; then
    say "no private API server configured for this pool; skipping the reachability check"
    return 0
  fi
  private_reachable "API server" "$fqdn" "${port:-443}" "the private DNS zone"
}

forge_reachable() {
  # The runner's first contact is its forge, through the subnet's way out (NAT gateway, firewall):
  # without one it never registers, so say so plainly rather than fail later.
  local found host port addr
  found=$(python3 - "$(conf forge_url)" <<'PY'
import sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
try:
    port = url.port or 443
except ValueError:
    port = 443
if url.hostname and url.hostname.isprintable() and " " not in url.hostname:
    print(url.hostname, port)
PY
  ) || found=""
  read -r host port <<<"$found"
  if [ -z "$host" ]; then
    say "no forge host in runner.json; skipping the forge reachability check"
    return 0
  fi
  port=${RF_FORGE_PORT:-$port}
  addr=$(resolve_v4 "$host")
  if [ -z "$addr" ]; then
    say "cannot reach $host:$port: it does not resolve"
    return 1
  fi
  if ! answers "$addr" "$port"; then
    say "cannot reach $host:$port: $addr does not answer: check the subnet's way out (NAT gateway, firewall rules)"
    return 1
  fi
  say "forge $host reachable at $addr:$port"
}

endpoints_reachable() {
  # The private endpoints the pool's jobs use, as the preflight found them: each must resolve to a
  # private address and answer. Every one is checked, so the console names all that fail.
  local list fqdn port failed=0
  # One "name<TAB>port" line each; a name with whitespace or control characters is no DNS name,
  # and a list that holds one is refused whole rather than read in pieces.
  if ! list=$(python3 - "$RF_CONF" <<'PY'
import json, sys
for entry in json.load(open(sys.argv[1])).get("endpoints") or []:
    name, port = str(entry.get("fqdn") or ""), int(entry.get("port") or 443)
    if not name or not name.isprintable() or any(c.isspace() for c in name) or not 0 < port < 65536:
        sys.exit(1)
    print(f"{name}\t{port}")
PY
  ); then
    say "runner.json lists an endpoint that is not a DNS name and port"
    return 1
  fi
  # Its own descriptor: nothing in the loop can take the list by reading stdin.
  while IFS=$'\t' read -r -u 9 fqdn port; do
    [ -n "$fqdn" ] || continue
    private_reachable endpoint "$fqdn" "$port" "its private DNS zone" || failed=1
  done 9<<<"$list"
  return "$failed"
}

take_secret_into() {
  # Read runner.secret into the variable named $1, then remove every copy of it from disk.
  local -n into=$1
  if [ ! -s "$RF_SECRET" ]; then early_exit "$RF_SECRET is missing or empty"; fi
  # A nameref: assigning it sets the caller's variable.
  # shellcheck disable=SC2034
  into=$(cat "$RF_SECRET")
  scrub_secrets
}

open_runner_log() {
  # The runner's own output can hold job details: keep it root-only on disk, off the console.
  mkdir -p "$RF_LOG_DIR"
  chmod 0700 "$RF_LOG_DIR"
  : >"$RF_LOG_DIR/runner.log"
  chmod 0600 "$RF_LOG_DIR/runner.log"
  echo "$RF_LOG_DIR/runner.log"
}
