#!/usr/bin/env bash
# Serve this service on 127.0.0.1:PORT against database DB of the cluster in ENV_JSON.
# Usage: serve_geopera.sh ENV_JSON DB PORT   (prints the server pid to /tmp/gsbench/geopera-PORT.pid)
set -euo pipefail
ENV_JSON=$1 DB=$2 PORT=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=$ROOT/.venv/bin/python
eval "$($PY -c "import json,shlex,sys; e=json.load(open(sys.argv[1])); e=e.get('env', e); print(' '.join(f'export {k}={shlex.quote(v)}' for k,v in e.items() if k!='PGDATABASE'))" "$ENV_JSON")"
export GEOPERA_HOME=${GEOPERA_HOME:-/tmp/gsbench/svc}
PGDATABASE=$DB exec $ROOT/.venv/bin/geopera-stac serve --host 127.0.0.1 --port "$PORT"
