"""Fail closed at start-up: without our STAC client the service must not serve (stock
CoreCrudClient would answer every tenant's items)."""

from __future__ import annotations

import subprocess
import sys

BLOCKED = """
import sys
sys.modules["geopera_stac_ext.api.stac_client"] = None  # an import that fails
from geopera_stac_ext.app import create_app
create_app()
print("started")
"""


def test_the_app_refuses_to_start_without_its_stac_client(tmp_path):
    run = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode != 0 and "started" not in run.stdout, run.stdout
    assert "ImportError" in run.stderr or "ModuleNotFoundError" in run.stderr, run.stderr[-500:]

