#!/usr/bin/env bash
# Installs the Debian packages Berth needs (as root). Idempotent and quiet when
# everything is present already.
set -euo pipefail
# passwd (useradd, usermod: --userns-remap default) and util-linux (unshare, nsenter) are in every Debian, listed for clarity.
PKGS=(runc crun busybox-static tini iproute2 iptables aardvark-dns attr gcc libc6-dev tmux openssl curl skopeo docker-registry passwd util-linux)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v docker >/dev/null 2>&1; then missing+=(docker.io); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "Node.js 20 or newer is required (node not found)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi
