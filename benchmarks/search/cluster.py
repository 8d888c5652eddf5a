#!/usr/bin/env python3
"""Start (or reuse) a throwaway embedded cluster for the benchmark and write its PG* settings to DIR/env.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from geopera_stac_ext.db.embedded import EmbeddedCluster

if __name__ == "__main__":
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gsbench")
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # NOTE: the postgres system user must reach the data dir when run as root.
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    env = cluster.env("postgres")
    (work / "env.json").write_text(json.dumps(env))
    print(json.dumps({k: v for k, v in env.items() if k != "PGPASSWORD"}))
