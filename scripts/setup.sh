#!/usr/bin/env bash
# Installs what the service and its tests need on Debian: PostgreSQL 15 + PostGIS (apt) and a
# virtualenv with the pinned Python packages. Idempotent; fast when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 \
   || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-15-postgis-3 >/dev/null
fi
# The cluster is run as the postgres system user when we are root (initdb refuses root).
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "setup: the postgres system user is missing (it comes with postgresql-common)" >&2; exit 1
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements.lock -nt .venv/.installed ] \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c requirements.lock -e '.[test]'
  touch .venv/.installed
fi

# The JS SDK (clients/js) and its tests: Node >= 18 with npm, headless Chromium for the browser
# check, and the SDK's pinned devDependencies.
APT_JS=()
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || APT_JS+=(nodejs npm)
[ -x /usr/bin/chromium ] || APT_JS+=(chromium)
if [ ${#APT_JS[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT_JS[@]}" >/dev/null
fi
if [ ! -f clients/js/node_modules/.package-lock.json ] \
   || [ clients/js/package-lock.json -nt clients/js/node_modules/.package-lock.json ]; then
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
fi
