"""Concurrent grants through two API processes' worth of apps: only the fitting number pass."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from conftest import serving
from download_helpers import local_item

from geopera_stac_ext.app import create_app


@pytest.fixture
def two_servers(settings, db_env, clock) -> Iterator[list[str]]:
    """Two independent apps (own pools, own processes' worth of state) on one database."""
    with ExitStack() as stack:
        yield [stack.enter_context(serving(create_app(settings, pg_env=db_env, clock=clock)))
               for _ in range(2)]


def hammer(urls: list[str], key: str, calls: list[tuple[str, str]]) -> Counter[int]:
    """Fire all calls at once (a barrier), alternating between the servers."""
    barrier = threading.Barrier(len(calls))

    def one(i: int) -> int:
        item_id, asset_id = calls[i]
        with httpx.Client(base_url=urls[i % len(urls)], timeout=60) as c:
            barrier.wait()
            r = c.post("/v1/op/items.asset.download", json={"item_id": item_id,
                                                             "asset_id": asset_id},
                       headers={"Authorization": f"Bearer {key}"})
            return r.status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        return Counter(pool.map(one, range(len(calls))))


def test_concurrent_grants_on_one_asset_pass_exactly_the_asset_limit(
        client, db, settings, world, two_servers):
    settings.asset_download_limit_free = 4
    item, aid, _ = local_item(client, db, settings, world["editor"], world.project_a1)
    statuses = hammer(two_servers, world["viewer"].key, [(item["id"], aid)] * 16)
    assert statuses == Counter({200: 4, 429: 12})
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.egress_ledger")) == 4


def test_concurrent_grants_pass_exactly_the_bandwidth_budget(
        client, db, settings, world, two_servers):
    settings.egress_budget_bytes_free = 5000
    scenes = [local_item(client, db, settings, world["editor"], world.project_a1,
                         data=b"x" * 1000) for _ in range(16)]
    statuses = hammer(two_servers, world["viewer"].key, [(i["id"], a) for i, a, _ in scenes])
    # NOTE: 1000-byte grants against a 5000-byte budget: the 5th reaches it, the 6th is refused.
    assert statuses == Counter({200: 5, 429: 11})
    total = db(lambda c: c.fetchval("SELECT sum(bytes) FROM geopera.egress_ledger"))
    assert total == 5000
