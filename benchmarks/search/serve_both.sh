#!/usr/bin/env bash
# Serve this service (gs DB) on :8081 and stock stac-fastapi-pgstac (stock DB) on :8082,
# both one uvicorn worker on loopback, against the same cluster. Usage: serve_both.sh ENV_JSON GS_DB STOCK_DB
set -euo pipefail
ENV_JSON=$1 GS_DB=$2 STOCK_DB=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
"$HERE/serve_geopera.sh" "$ENV_JSON" "$GS_DB" 8081 &
echo $! > /tmp/gsbench/geopera.pid
eval "$("$ROOT/.venv/bin/python" -c "import json,shlex,sys; e=json.load(open(sys.argv[1])); e=e.get('env', e); print(' '.join(f'export {k}={shlex.quote(v)}' for k,v in e.items() if k!='PGDATABASE'))" "$ENV_JSON")"
PGDATABASE=$STOCK_DB $ROOT/.venv/bin/uvicorn stac_fastapi.pgstac.app:create_app --factory \
    --host 127.0.0.1 --port 8082 --log-level warning &
echo $! > /tmp/gsbench/stock.pid
wait
