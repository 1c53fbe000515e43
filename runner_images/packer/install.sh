#!/bin/bash
# Install what a runner VM needs into the image, at the versions versions.json pins. Run by Packer
# as root on the build VM. Downloads are accepted only with their pinned SHA-256; apt packages come
# from their publishers' signed repositories at pinned versions.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

VERSIONS_FILE=${VERSIONS_FILE:-/tmp/runner-fleet-versions.json}

pin() {
  # A value of versions.json by its dotted path, e.g. `pin kubectl.x64.url`.
  python3 - "$VERSIONS_FILE" "$1" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    value = value[part]
print(value)
PY
}

fetch() {
  # Download the x64 build of tool $1 to $2, or fail the build on a checksum mismatch.
  curl -fsSL --retry 3 -o "$2" "$(pin "$1.x64.url")"
  echo "$(pin "$1.x64.sha256")  $2" | sha256sum -c -
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. /etc/os-release

echo "==> base packages"
apt-get update -q
apt-get install -y -q --no-install-recommends \
  ca-certificates curl git gnupg jq unzip zip tar python3 sudo
install -m 0755 -d /etc/apt/keyrings

echo "==> Docker $(pin docker.version)"
curl -fsSL "$(pin docker.apt_repository)/gpg" | gpg --dearmor -o /etc/apt/keyrings/docker.gpg
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] $(pin docker.apt_repository) $VERSION_CODENAME stable" \
  >/etc/apt/sources.list.d/docker.list

echo "==> Azure CLI $(pin azure_cli.version)"
curl -fsSL https://packages.microsoft.com/keys/microsoft.asc | gpg --dearmor -o /etc/apt/keyrings/microsoft.gpg
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/microsoft.gpg] $(pin azure_cli.apt_repository) $VERSION_CODENAME main" \
  >/etc/apt/sources.list.d/azure-cli.list

apt-get update -q
# containerd.io and the buildx plugin follow from Docker's repository at the version docker-ce accepts.
apt-get install -y -q --no-install-recommends \
  "docker-ce=$(pin docker.apt_version)" "docker-ce-cli=$(pin docker.apt_version)" \
  containerd.io docker-buildx-plugin \
  "azure-cli=$(pin azure_cli.apt_version)"
# A later `apt-get upgrade` in a job must not move what was pinned.
apt-mark hold docker-ce docker-ce-cli azure-cli
systemctl enable docker

echo "==> kubectl $(pin kubectl.version)"
fetch kubectl "$work/kubectl"
install -m 0755 "$work/kubectl" /usr/local/bin/kubectl

echo "==> kubelogin $(pin kubelogin.version)"
fetch kubelogin "$work/kubelogin.zip"
unzip -q "$work/kubelogin.zip" -d "$work/kubelogin"
install -m 0755 "$work/kubelogin/bin/linux_amd64/kubelogin" /usr/local/bin/kubelogin

echo "==> helm $(pin helm.version)"
fetch helm "$work/helm.tgz"
tar -xzf "$work/helm.tgz" -C "$work" linux-amd64/helm
install -m 0755 "$work/linux-amd64/helm" /usr/local/bin/helm

echo "==> GitHub Actions runner $(pin github_runner.version)"
runner_user=$(pin github_runner.job_user)
runner_dir=$(pin github_runner.install_dir)
id "$runner_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$runner_user"
fetch github_runner "$work/actions-runner.tgz"
mkdir -p "$runner_dir"
tar -xzf "$work/actions-runner.tgz" -C "$runner_dir"
"$runner_dir/bin/installdependencies.sh"
chown -R "$runner_user:$runner_user" "$runner_dir"

echo "==> gitlab-runner $(pin gitlab_runner.version)"
# gitlab-runner itself runs as root; GitLab jobs run as this user, which must never reach the
# runner's token: no docker group (root-equivalent), no sudo (the start script checks both).
job_user=$(pin gitlab_runner.job_user)
id "$job_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$job_user"
fetch gitlab_runner "$work/gitlab-runner"
install -m 0755 "$work/gitlab-runner" "$(pin gitlab_runner.install_path)"

# The GitHub runner's jobs expect Docker; membership is root-equivalent, and what root could read on
# a GitHub runner VM is only that runner's own JIT config (see runner-lib.sh). It gets no sudo.
usermod -aG docker "$runner_user"

echo "==> versions"
docker --version
az version --output tsv --query '"azure-cli"'
kubectl version --client
kubelogin --version
helm version --short
"$(pin gitlab_runner.install_path)" --version
test -x "$runner_dir/run.sh"

apt-get clean
rm -rf /var/lib/apt/lists/*
