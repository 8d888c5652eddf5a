#!/bin/sh
# Create the first organization, project, owner user and API key; prints one JSON document.
#   bootstrap.sh --org "Acme Survey" --project "Field ops" --email admin@acme.example [--plan paid]
# Refuses (exit 2) when the email already has a user: run it once per deployment. The printed
# API key is shown once (kept only as a hash): store it in your secret manager.
set -eu

fail() { echo "geopera-bootstrap: error: $*" >&2; exit 2; }
org="" project="" email="" plan="free"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --org) org="${2:-}"; shift 2 ;;
    --project) project="${2:-}"; shift 2 ;;
    --email) email="${2:-}"; shift 2 ;;
    --plan) plan="${2:-}"; shift 2 ;;
    *) fail "unknown argument $1 (use --org, --project, --email, --plan)" ;;
  esac
done
[ -n "$org" ] && [ -n "$project" ] && [ -n "$email" ] || fail "--org, --project and --email are required"

field() { printf '%s' "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }

geopera-stac migrate >/dev/null || exit 2
# NOTE: each step's own one-line error is already on stderr when it fails; stop there. The user
# first: an existing email stops the bootstrap before anything is created.
user=$(geopera-stac admin create-user --email "$email") || exit 2
org=$(geopera-stac admin create-org --name "$org" --plan "$plan") || exit 2
project=$(geopera-stac admin create-project --name "$project" --org "$(field "$org" id)") || exit 2
geopera-stac admin grant --user "$(field "$user" id)" --org "$(field "$org" id)" --role owner \
  >/dev/null || exit 2
key=$(geopera-stac admin create-key --user "$(field "$user" id)") || exit 2
python3 -c 'import json, sys
org, project, user, key = (json.loads(a) for a in sys.argv[1:])
print(json.dumps({"org_id": org["id"], "project_id": project["id"], "user_id": user["id"],
                  "api_key": key["api_key"], "key_id": key["id"], "scopes": key["scopes"]}))' \
  "$org" "$project" "$user" "$key"
