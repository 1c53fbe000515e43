#!/bin/bash
# Shared helpers for the runner start scripts. Sourced, not executed.
# Everything written with `say` reaches the serial console, which Azure boot diagnostics keep:
# that is where an admin reads why a runner never came.

RF_CONF=/etc/runner-fleet/runner.json
RF_SECRET=/etc/runner-fleet/runner.secret

say() {
  local line
  line="runner-fleet: $*"
  echo "$line"
  if [ -w /dev/console ]; then echo "$line" >/dev/console; fi
  if [ -w /dev/ttyS0 ]; then echo "$line" >/dev/ttyS0; fi
}

conf() {
  # Read one key of runner.json; python3 ships with every cloud-init image.
  python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' \
    "$RF_CONF" "$1"
}

api_server_reachable() {
  # A runner that cannot reach the private API server must never take a job.
  local fqdn port addr
  fqdn=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])).get("api_server") or {}; print(a.get("fqdn",""))' "$RF_CONF")
  port=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])).get("api_server") or {}; print(a.get("port",443))' "$RF_CONF")
  if [ -z "$fqdn" ]; then
    say "no private API server configured for this pool; skipping the reachability check"
    return 0
  fi
  addr=$(getent ahostsv4 "$fqdn" | awk 'NR==1 {print $1}')
  if [ -z "$addr" ]; then
    say "API server $fqdn does not resolve: is the private DNS zone linked to the runner VNet?"
    return 1
  fi
  if ! python3 -c 'import ipaddress,sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]).is_private else 1)' "$addr"; then
    say "API server $fqdn resolves to public address $addr, not its private endpoint"
    return 1
  fi
  if ! timeout 5 bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null; then
    say "API server $fqdn ($addr:$port) does not answer: check peering, NSG and routes"
    return 1
  fi
  say "API server $fqdn reachable at $addr:$port"
}

finish() {
  say "runner exited with status $1; powering off"
  shutdown -h now "runner-fleet: runner finished"
}
