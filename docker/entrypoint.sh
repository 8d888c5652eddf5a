#!/bin/sh
# Entry point of the geopera-stac image: checks the required secrets, then runs one role.
#   serve [ARGS]      the API (0.0.0.0:8080 unless ARGS say otherwise)
#   migrate           apply migrations once (idempotent; safe for several replicas)
#   lifecycle         the lifecycle job: `geopera-stac lifecycle run` every
#                     GEOPERA_LIFECYCLE_EVERY_SECONDS (default 300)
#   bootstrap ARGS    create the first organization, project, owner and API key (bootstrap.sh)
#   anything else     passed to `geopera-stac` (e.g. `admin list-orgs`)
set -eu

fail() { echo "geopera-entrypoint: error: $*" >&2; exit 2; }

# NOTE: refuse to start without real secrets: no default database password or signing secret.
if [ -z "${DATABASE_URL:-}" ] && [ -z "${PGHOST:-}" ]; then
  fail "set DATABASE_URL (postgresql://user:password@host:5432/db) or the PG* variables"
fi
password="${PGPASSWORD:-}"
if [ -n "${DATABASE_URL:-}" ]; then
  password=$(python3 -c 'import os, urllib.parse as u
print(u.urlsplit(os.environ["DATABASE_URL"]).password or os.environ.get("PGPASSWORD", ""))') \
    || fail "DATABASE_URL is not a URL"
fi
[ -n "$password" ] || fail "the database password is not set (in DATABASE_URL or PGPASSWORD)"
secret="${GEOPERA_SIGNING_SECRET:-}"
[ -n "$secret" ] || fail "set GEOPERA_SIGNING_SECRET (32+ random characters, e.g. \`openssl rand -hex 32\`)"
[ "${#secret}" -ge 32 ] || fail "GEOPERA_SIGNING_SECRET must be at least 32 characters"

role="${1:-serve}"
[ "$#" -gt 0 ] && shift
case "$role" in
  serve)
    [ "$#" -gt 0 ] || set -- --host 0.0.0.0 --port 8080
    exec geopera-stac serve "$@" ;;
  migrate)
    exec geopera-stac migrate ;;
  lifecycle)
    every="${GEOPERA_LIFECYCLE_EVERY_SECONDS:-300}"
    # NOTE: as PID 1 a shell ignores SIGTERM unless trapped; sleeping in the background and
    # `wait`ing lets `docker stop` end the loop at once (a run in progress finishes first).
    trap 'exit 0' TERM INT
    while :; do
      geopera-stac lifecycle run || echo "geopera-entrypoint: lifecycle run failed; retrying" >&2
      sleep "$every" & wait $!
    done ;;
  bootstrap)
    # NOTE: installed as geopera-bootstrap in the image, docker/bootstrap.sh in the repository.
    here=$(dirname "$0")
    if [ -x "$here/geopera-bootstrap" ]; then exec "$here/geopera-bootstrap" "$@"; fi
    exec "$here/bootstrap.sh" "$@" ;;
  *)
    exec geopera-stac "$role" "$@" ;;
esac
