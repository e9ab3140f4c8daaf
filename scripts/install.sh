#!/usr/bin/env bash
# Installs the built tree (npm run build first) as a system service:
#   $PREFIX/lib/berth/          package.json, dist/src, dist/berth-monitor, the runtime node_modules
#   $PREFIX/bin/berthd, berth   small wrappers (exec node on the installed tree)
#   $UNITDIR/berthd.{service,socket}   from contrib/systemd
#   $PREFIX/share/doc/berth/    README.md, operations.md, security.md
#   /etc/berth/daemon.json      a default configuration, only if there is none
# then creates group berth and runs `systemctl daemon-reload` when systemd runs.
# Idempotent: a second run replaces the tree (atomically, by renaming) and units,
# keeps the configuration. Running containers are not touched.
#
# Options: --prefix DIR (default /usr/local), --unitdir DIR (default /etc/systemd/system),
# --sysconfdir DIR (default /etc). DESTDIR=... stages everything below DIR; the
# paths written into the units and wrappers stay the final ones, and nothing is
# done to the host itself (no group, no systemctl).
set -euo pipefail

PREFIX=/usr/local
UNITDIR=/etc/systemd/system
SYSCONFDIR=/etc
DESTDIR=${DESTDIR:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --unitdir) UNITDIR=$2; shift 2 ;;
    --unitdir=*) UNITDIR=${1#*=}; shift ;;
    --sysconfdir) SYSCONFDIR=$2; shift 2 ;;
    --sysconfdir=*) SYSCONFDIR=${1#*=}; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
LIBDIR=$PREFIX/lib/berth
BINDIR=$PREFIX/bin
DOCDIR=$PREFIX/share/doc/berth
NODE=$(command -v node) || { echo "install.sh: node (>= 20) is not on PATH" >&2; exit 1; }

for f in dist/src/daemon/main.js dist/src/cli/main.js dist/berth-monitor; do
  [ -e "$SRC/$f" ] || { echo "install.sh: $SRC/$f is missing: run npm run build first" >&2; exit 1; }
done

# The tree: built next to the old one, then swapped in by two renames.
install -d -m 0755 "$DESTDIR$PREFIX/lib" "$DESTDIR$BINDIR" "$DESTDIR$UNITDIR" "$DESTDIR$DOCDIR"
STAGE=$DESTDIR$LIBDIR.new.$$
rm -rf "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
install -d -m 0755 "$STAGE/dist"
cp -a "$SRC/package.json" "$SRC/package-lock.json" "$STAGE/"
cp -a "$SRC/dist/src" "$SRC/dist/berth-monitor" "$STAGE/dist/"
find "$STAGE/dist/src" -name '*.test.js' -delete
# Only the runtime dependencies, as `npm ls --omit=dev` lists them (offline; node_modules
# may be a symlink, a git worktree's: the packages are copied, not the link).
npm ls --omit=dev --all --parseable --prefix "$SRC" 2>/dev/null | while read -r pkg; do
  rel=${pkg#"$SRC"/}
  [ "$rel" = "$pkg" ] && continue # the project itself
  [ -e "$STAGE/$rel" ] && continue # came with its parent
  mkdir -p "$STAGE/$(dirname "$rel")"
  cp -a "$pkg" "$STAGE/$rel"
done
[ -d "$STAGE/node_modules/commander" ] || { echo "install.sh: npm ls listed no dependencies (run npm ci first)" >&2; exit 1; }
if [ -d "$DESTDIR$LIBDIR" ]; then
  mv "$DESTDIR$LIBDIR" "$DESTDIR$LIBDIR.old.$$"
  mv "$STAGE" "$DESTDIR$LIBDIR"
  rm -rf "$DESTDIR$LIBDIR.old.$$"
else
  mv "$STAGE" "$DESTDIR$LIBDIR"
fi
trap - EXIT

wrapper() { # name script
  local tmp=$DESTDIR$BINDIR/.$1.$$
  printf '#!/bin/sh\n# Installed by berth scripts/install.sh\nexec %s %s "$@"\n' "$NODE" "$LIBDIR/$2" >"$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$DESTDIR$BINDIR/$1"
}
wrapper berthd dist/src/daemon/main.js
wrapper berth dist/src/cli/main.js

sed -e "s#@BINDIR@#$BINDIR#g" -e "s#@DOCDIR@#$DOCDIR#g" "$SRC/contrib/systemd/berthd.service" >"$DESTDIR$UNITDIR/.berthd.service.$$"
mv -f "$DESTDIR$UNITDIR/.berthd.service.$$" "$DESTDIR$UNITDIR/berthd.service"
install -m 0644 "$SRC/contrib/systemd/berthd.socket" "$DESTDIR$UNITDIR/berthd.socket"
chmod 0644 "$DESTDIR$UNITDIR/berthd.service"
install -m 0644 "$SRC/README.md" "$SRC/docs/operations.md" "$SRC/docs/security.md" "$DESTDIR$DOCDIR/"

install -d -m 0755 "$DESTDIR$SYSCONFDIR/berth"
if [ ! -e "$DESTDIR$SYSCONFDIR/berth/daemon.json" ]; then
  install -m 0644 "$SRC/contrib/daemon.json" "$DESTDIR$SYSCONFDIR/berth/daemon.json"
  echo "installed a default $SYSCONFDIR/berth/daemon.json"
else
  echo "kept the existing $SYSCONFDIR/berth/daemon.json"
fi

if [ -n "$DESTDIR" ]; then
  echo "staged in $DESTDIR (no group, no systemctl)"
  exit 0
fi
getent group berth >/dev/null || groupadd --system berth
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if systemctl is-active --quiet berthd.service; then
    echo "berthd is running the previous version: systemctl restart berthd (containers keep running)"
  else
    echo "start it: systemctl enable --now berthd.socket berthd.service"
  fi
else
  echo "systemd is not running here: start $BINDIR/berthd by other means"
fi
echo "installed berth in $LIBDIR ($BINDIR/berthd, $BINDIR/berth)"
