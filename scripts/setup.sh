#!/usr/bin/env bash
# Installs what the service needs on Debian: PostgreSQL 15 + PostGIS (apt) and a virtualenv with
# the pinned Python packages; with --test (make test) also gdal-bin, chromium and node/npm (apt)
# and the JS SDK's npm packages. STAC Browser (npm) is built
# by tests/e2e/stac-browser/build.sh when its tests first run. Idempotent; fast when everything
# is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# NOTE: apt only for what is missing: PostGIS for the database, and for the imagery tests
# (tests/e2e) GDAL's command-line tools and Chromium (driven headless; never downloaded).
APT=()
if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 \
   || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  APT+=(postgresql-15-postgis-3)
fi
# NOTE: `--test` (make test) adds what only the tests need; `make run` stays PostGIS + venv.
TESTS=0; [ "${1:-}" = "--test" ] && TESTS=1
if [ "$TESTS" = 1 ]; then
  command -v gdalinfo >/dev/null 2>&1 || APT+=(gdal-bin)
  [ -x /usr/bin/chromium ] || APT+=(chromium)
  # Node >= 18 and npm for the JS SDK (clients/js) and its tests.
  { command -v node && command -v npm; } >/dev/null 2>&1 || APT+=(nodejs npm)
fi
if [ ${#APT[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT[@]}" >/dev/null
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

# The JS SDK's pinned devDependencies (clients/js: typescript, esbuild) for its tests.
if [ "$TESTS" = 1 ] && { [ ! -f clients/js/node_modules/.package-lock.json ] \
   || [ clients/js/package-lock.json -nt clients/js/node_modules/.package-lock.json ]; }; then
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
fi
