#!/usr/bin/env bash
# The README's first command: install everything, build, start berthd, make the
# default busybox:latest image and run a container that greets you.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
SOCK=/run/berth/berth.sock
export DOCKER_HOST=unix://$SOCK BERTH_HOST=unix://$SOCK
if ! node dist/src/cli/main.js version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup node dist/src/daemon/main.js >>/var/log/berthd.log 2>&1 &
  for _ in $(seq 1 100); do
    node dist/src/cli/main.js version >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
node dist/src/cli/main.js image make-busybox
node dist/src/cli/main.js run --rm busybox echo "Hello from a Berth container!"
