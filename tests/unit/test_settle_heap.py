"""A serving process freezes its start-up heap: full collections walk only what requests left."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
from geopera_stac_ext.app import create_app, settle_heap
from geopera_stac_ext.core.settings import Settings
app = create_app(Settings(home={home!r}), pg_env={{}})
assert gc.get_freeze_count() == 0
settle_heap()
print(gc.get_freeze_count(), gc.get_count()[2])
"""


def test_settle_heap_freezes_the_built_app_out_of_full_collections(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(home=str(tmp_path))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    frozen, oldest = map(int, out.stdout.split())
    # NOTE: the modules and the app (tens of thousands of objects) are frozen; nothing is left
    # waiting in the oldest generation for the next full collection to walk.
    assert frozen > 20_000
    assert oldest == 0
