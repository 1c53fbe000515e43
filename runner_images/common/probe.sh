#!/bin/bash
# The network probe `runner-fleet doctor --probe` boots in a pool's runner subnet: for every target of
# probe.json, resolve its name (getent ahostsv4, as the runner's tools would), connect to it on TCP and
# greet it with a TLS handshake carrying its name (SNI), report each outcome on the serial console,
# then power off. The VM holds no secret and runs no runner; values from probe.json are read by python3
# and only ever passed as quoted arguments, never evaluated.
#
# Console lines (stdout and the serial console), one JSON object each after the prefix:
#   runner-fleet-probe: start {"probe": "<id>", "targets": N}
#   runner-fleet-probe: result {"probe": "<id>", "target": ..., "fqdn": ..., "address": ..., ...}
#   runner-fleet-probe: done {"probe": "<id>"}
# The RF_* variables exist so the script can be exercised outside a VM; cloud-init sets none.
set -u

RF_PROBE_CONF=${RF_PROBE_CONF:-/etc/runner-fleet/probe.json}
RF_CONSOLES=${RF_CONSOLES:-/dev/ttyS0}
# Seconds allowed for each name lookup, each TCP connect and each TLS handshake.
RF_PROBE_STEP_S=${RF_PROBE_STEP_S:-10}

say() {
  local line device
  line="runner-fleet-probe: $*"
  echo "$line"
  for device in $RF_CONSOLES; do
    if [ -w "$device" ]; then echo "$line" >>"$device" || true; fi
  done
}

probe_py() {
  # One step of the probe in python3: `start`, `count`, `fqdn INDEX`, `result INDEX ADDRESS WHY`
  # or `finish`; each prints one line (`start`, `result` and `finish`: a console line's JSON).
  python3 - "$RF_PROBE_CONF" "$RF_PROBE_STEP_S" "$@" <<'PY'
import ipaddress, json, socket, ssl, sys, time

conf_path, step_s, command, *args = sys.argv[1:]
conf = json.load(open(conf_path, encoding="utf-8"))
probe = str(conf["probe"])
targets = conf["targets"]


def describe(exc):
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]


def result(target, address, resolve_error):
    fqdn, port = str(target["fqdn"]), int(target.get("port", 443))
    kind = str(target.get("target", ""))
    out = {
        "probe": probe, "target": kind, "name": str(target.get("name", fqdn)), "fqdn": fqdn,
        "port": port, "expect": str(target.get("expect", "any")), "address": None, "scope": None,
        "resolve_error": resolve_error or None, "connect_ms": None, "connect_error": None,
        "tls": None, "tls_detail": None,
    }
    if address:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            out["resolve_error"] = "not an IPv4 address: " + address[:60]
            return out
        out["address"], out["scope"] = address, "private" if ip.is_private else "public"
    if out["address"] is None:
        out["resolve_error"] = out["resolve_error"] or "no address"
        return out
    started = time.monotonic()
    try:
        sock = socket.create_connection((address, port), timeout=float(step_s))
    except OSError as exc:
        out["connect_error"] = describe(exc)
        return out
    out["connect_ms"] = round((time.monotonic() - started) * 1000, 1)
    context = ssl.create_default_context()
    verified = kind != "api-server"
    if not verified:
        # The API server's certificate is signed by the cluster's own CA, which no image trusts:
        # its handshake is made without verification. Every other target must present a
        # certificate the image trusts, as the runner and the job's tools will require.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=fqdn) as tls:
            checked = "certificate verified" if verified else "certificate not verified (cluster CA)"
            out["tls"], out["tls_detail"] = "ok", f"{tls.version()}, {checked}"
    except ssl.SSLCertVerificationError as exc:
        out["tls"], out["tls_detail"] = "failed", "certificate: " + describe(exc.verify_message or exc)
    except (ssl.SSLError, OSError) as exc:
        out["tls"], out["tls_detail"] = "failed", describe(exc)
    finally:
        sock.close()
    return out


if command == "start":
    print(json.dumps({"probe": probe, "targets": len(targets)}))
elif command == "count":
    print(len(targets))
elif command == "fqdn":
    print(str(targets[int(args[0])]["fqdn"]))
elif command == "result":
    print(json.dumps(result(targets[int(args[0])], args[1], args[2])))
elif command == "finish":
    print(json.dumps({"probe": probe}))
PY
}

resolve() {
  # The first IPv4 address of $1; on failure (exit 1), why it has none.
  local fqdn=$1 answer status
  answer=$(timeout "$RF_PROBE_STEP_S" getent ahostsv4 "$fqdn")
  status=$?
  case $status in
    0) echo "$answer" | awk 'NR==1 {print $1}' ;;
    2) echo "does not resolve (no such name, or no A record)"; return 1 ;;
    124) echo "name lookup timed out after ${RF_PROBE_STEP_S}s"; return 1 ;;
    *) echo "name lookup failed (getent exit $status)"; return 1 ;;
  esac
}

power_off() {
  shutdown -h now "runner-fleet: probe finished" || poweroff || true
}

main() {
  local start count index fqdn answer address why line
  if ! start=$(probe_py start); then
    say 'error {"error": "probe.json is missing or is not a probe configuration"}'
    power_off
    return 1
  fi
  say "start $start"
  count=$(probe_py count)
  for ((index = 0; index < count; index++)); do
    fqdn=$(probe_py fqdn "$index")
    if answer=$(resolve "$fqdn"); then
      address=$answer why=""
    else
      address="" why=$answer
    fi
    if line=$(probe_py result "$index" "$address" "$why"); then
      say "result $line"
    fi
  done
  say "done $(probe_py finish)"
  power_off
}

main "$@"
