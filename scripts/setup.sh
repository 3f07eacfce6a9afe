#!/usr/bin/env bash
# Install everything sitesnap's demo and tests need, idempotently.
#   scripts/setup.sh core   -> the Python package in .venv (enough for the demo)
#   scripts/setup.sh dev    -> plus test tools, system packages and the console build
set -euo pipefail
cd "$(dirname "$0")/.."
level="${1:-dev}"
PY="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi

# pyfuse3 (the mount extra, in "dev") builds against libfuse 3: its
# headers and pkg-config must be there before pip runs.  fuse3 brings fusermount3.
if ! pkg-config --exists fuse3 2>/dev/null || ! command -v fusermount3 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing system packages: libfuse3-dev fuse3 pkg-config"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfuse3-dev fuse3 pkg-config >/dev/null
  else
    echo "warning: missing system packages (run as root to install): libfuse3-dev fuse3 pkg-config" >&2
  fi
fi

stamp=".venv/.installed-$level"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  if [ "$level" = core ]; then
    .venv/bin/pip install -q -e ".[all]"
  else
    .venv/bin/pip install -q -e ".[dev]"
  fi
  touch "$stamp"
fi

# Byte-compile the package, as installing a wheel does: the command line starts
# ~0.2 s sooner, which matters for every cron-started backup (and stays true
# where PYTHONDONTWRITEBYTECODE keeps Python from writing the cache itself).
.venv/bin/python -m compileall -q -j 0 src >/dev/null

# The admin console (Vue 3 + Vite), built into the package's static folder
# (git ignores it; wheels carry it, see setup.py).  An editable install has
# it only from here: without npm, `sitesnap serve` serves the API and a page
# saying how to build the console; the dev level needs it for the tests.
build_console() {
  if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules ]; then
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  fi
  (cd frontend && npm run build --silent)
}

if [ "$level" = core ]; then
  if [ -f frontend/package.json ] && command -v npm >/dev/null 2>&1; then
    build_console
  else
    echo "note: npm not found; the web console is not built (apt-get install -y npm, then scripts/setup.sh core)" >&2
  fi
  exit 0
fi

# System packages used by the tests: OpenSSH server (SFTP backend), database
# clients (dumps), Chromium (console tests), npm (the console build), systemd-analyze
# (checks deploy/ units), podman (the compose stack).  Installed only when missing.
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
command -v mariadb-dump >/dev/null 2>&1 || command -v mysqldump >/dev/null 2>&1 || need+=(mariadb-client)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -d /usr/share/fonts/truetype/wqy ] || need+=(fonts-wqy-microhei)
# The compose stack's test (tests/deploy): podman with runc and netavark, podman-compose, and
# debootstrap for the Debian base image (no container registry is needed).
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v podman-compose >/dev/null 2>&1 || need+=(podman-compose)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing system packages (run as root to install): ${need[*]}" >&2
  fi
fi

if [ -f frontend/package.json ]; then
  build_console
fi
