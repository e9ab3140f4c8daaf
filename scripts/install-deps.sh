#!/usr/bin/env bash
# Installs the Debian packages Berth needs (as root). Idempotent and quiet when
# everything is present already.
set -euo pipefail
# passwd (useradd, usermod: --userns-remap default) and util-linux (unshare, nsenter) are in every Debian, listed for clarity.
# systemd: systemd-socket-activate, systemd-notify (berthd notifies through it), journald and journalctl (log driver); gzip: rotated logs.
# chromium: the dashboard's browser tests (test/e2e/dashboard.test.ts, driven by playwright-core).
PKGS=(runc crun busybox-static tini iproute2 iptables aardvark-dns attr gcc libc6-dev tmux openssl curl skopeo docker-registry passwd util-linux systemd gzip python3 chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# dockerd is the conformance suite's reference (test/conformance): docker.io when it is missing, even if a docker CLI is there.
if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then missing+=(docker.io); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep docker.io's service from starting (it would take docker0 and the host's iptables).
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
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
